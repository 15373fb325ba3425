// Package drift measures how far the feature vectors a model sees in
// service have moved from those it was trained on.
//
// At training time, Build takes a Profile of the training rows' feature
// vectors (the fitted pipeline's output, so serving's rows compare in the
// same space): per column, up to nine cut points at the deciles of the
// rows, and the fraction of training rows in each bin (ties make fewer,
// uneven bins: a one-hot column has two). The profile is stored with the
// model.
//
// In service, a Window counts each column's values into the profile's
// bins, and PSI compares those counts with the training fractions by the
// population stability index, Σ (o − e)·ln(o / e) over the bins, with o
// and e the observed and expected fractions (each at least 1e-4, so an
// empty bin counts as rare, not impossible). The customary reading: below
// 0.1 no real change, 0.1 to 0.25 a moderate one, above 0.25 a shift worth
// retraining for.
package drift

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Column is one feature column's training distribution: the upper bounds
// of its bins but the last (a value v is in the first bin whose cut is
// ≥ v) and the fraction of the training rows in each of len(Cuts)+1 bins.
type Column struct {
	Name string    `json:"name"`
	Cuts []float64 `json:"cuts"`
	Frac []float64 `json:"frac"`
}

// Profile is the training distribution of every column of the feature
// vectors, from Rows training rows.
type Profile struct {
	Rows    int      `json:"rows"`
	Columns []Column `json:"columns"`
}

// MaxRows bounds the rows Build reads: a deterministic, evenly spaced
// sample of the training rows when there are more.
const MaxRows = 20000

// Build profiles rows, a flat row-major matrix of width columns named by
// names. NaN values (missing) are left out of a column's distribution.
func Build(rows []float64, width int, names []string) (*Profile, error) {
	return BuildParts([][]float64{rows}, width, names)
}

// BuildParts is Build on the rows of parts one after another, each a flat
// row-major matrix of width columns (the samples of a dataset's
// partitions, say), without joining them into one.
func BuildParts(parts [][]float64, width int, names []string) (*Profile, error) {
	n := 0
	for _, rows := range parts {
		if width <= 0 || len(rows)%width != 0 {
			return nil, fmt.Errorf("drift: %d values are not rows of %d columns", len(rows), width)
		}
		n += len(rows) / width
	}
	if len(names) != width {
		return nil, fmt.Errorf("drift: %d column names for %d columns", len(names), width)
	}
	if n == 0 {
		return nil, errors.New("drift: no training rows to profile")
	}
	step := max(1, (n+MaxRows-1)/MaxRows)
	p := &Profile{Columns: make([]Column, width)}
	col := make([]float64, 0, n/step+1)
	for j := range width {
		col = col[:0]
		skip := 0 // rows of the parts before to skip, to keep taking every step-th row
		for _, rows := range parts {
			m := len(rows) / width
			i := skip
			for ; i < m; i += step {
				if v := rows[i*width+j]; !math.IsNaN(v) {
					col = append(col, v)
				}
			}
			skip = i - m
		}
		p.Rows = max(p.Rows, len(col))
		p.Columns[j] = profileColumn(names[j], col)
	}
	return p, nil
}

// profileColumn cuts a column's values at its deciles and counts them.
func profileColumn(name string, vals []float64) Column {
	c := Column{Name: name}
	if len(vals) == 0 {
		c.Frac = []float64{1}
		return c
	}
	slices.Sort(vals)
	for q := 1; q < 10; q++ {
		v := vals[min(len(vals)-1, q*len(vals)/10)]
		if len(c.Cuts) == 0 || v > c.Cuts[len(c.Cuts)-1] {
			c.Cuts = append(c.Cuts, v)
		}
	}
	if c.Cuts[len(c.Cuts)-1] >= vals[len(vals)-1] && len(c.Cuts) > 1 {
		// The top cut holds the maximum: nothing falls beyond it, so the
		// last bin would be empty in training. Drop the cut instead.
		c.Cuts = c.Cuts[:len(c.Cuts)-1]
	}
	counts := make([]int, len(c.Cuts)+1)
	for _, v := range vals {
		counts[c.bin(v)]++
	}
	c.Frac = make([]float64, len(counts))
	for i, k := range counts {
		c.Frac[i] = float64(k) / float64(len(vals))
	}
	return c
}

// bin returns the bin of v: the first whose cut is ≥ v, or the last.
func (c *Column) bin(v float64) int {
	i, _ := slices.BinarySearch(c.Cuts, v)
	return i
}

// minFrac is the least fraction PSI gives a bin, so an empty bin is rare
// rather than impossible (ln 0).
const minFrac = 1e-4

// PSI is the population stability index of observed bin counts against a
// column's training fractions; 0 with no observations.
func (c *Column) PSI(counts []int64) float64 {
	total := int64(0)
	for _, k := range counts {
		total += k
	}
	if total == 0 {
		return 0
	}
	psi := 0.0
	for i, e := range c.Frac {
		o := max(float64(counts[i])/float64(total), minFrac)
		e = max(e, minFrac)
		psi += (o - e) * math.Log(o/e)
	}
	return psi
}

// Window counts the values of served feature vectors into a profile's
// bins. It is not safe for concurrent use.
type Window struct {
	p      *Profile
	counts [][]int64
	rows   int64
}

// NewWindow returns an empty window over p's bins.
func NewWindow(p *Profile) *Window {
	w := &Window{p: p, counts: make([][]int64, len(p.Columns))}
	for j := range p.Columns {
		w.counts[j] = make([]int64, len(p.Columns[j].Frac))
	}
	return w
}

// Add counts one feature vector; NaN values are left out. It fails when
// the vector's width is not the profile's.
func (w *Window) Add(x []float64) error {
	if len(x) != len(w.p.Columns) {
		return fmt.Errorf("drift: a feature vector of %d values; the profile has %d columns", len(x), len(w.p.Columns))
	}
	for j, v := range x {
		if !math.IsNaN(v) {
			w.counts[j][w.p.Columns[j].bin(v)]++
		}
	}
	w.rows++
	return nil
}

// Rows returns how many vectors the window holds.
func (w *Window) Rows() int64 { return w.rows }

// PSI returns every column's index, in profile order.
func (w *Window) PSI() []float64 {
	out := make([]float64, len(w.p.Columns))
	for j := range w.p.Columns {
		out[j] = w.p.Columns[j].PSI(w.counts[j])
	}
	return out
}

// Reset empties the window.
func (w *Window) Reset() {
	for _, c := range w.counts {
		clear(c)
	}
	w.rows = 0
}
