package ml

import (
	"context"
	"fmt"
	"math"

	"gonum.org/v1/gonum/floats"

	"github.com/flintml/flint/cluster"
)

// A dataset's summary — feature means and variances, label statistics,
// class weights — computed in one engine aggregation. Fitting uses it to
// standardise features inside the optimiser, as MLlib does, and to start
// the intercepts at their optimum for zero coefficients.

// summaryArg says how to read the labels.
type summaryArg struct {
	// Classes > 0 checks that every label is a class index below it and
	// counts the weight of each class; 0 reads real-valued labels.
	Classes int
	// What names the algorithm in errors, e.g. "logistic".
	What string
}

// summaryPartial holds weighted moments that combine exactly in any tree
// (Chan et al.'s pairwise update of means and sums of squared deviations).
type summaryPartial struct {
	Rows   int64
	Weight float64   // Σ wᵢ
	W2     float64   // Σ wᵢ²
	Mean   []float64 // per feature, weighted
	M2     []float64 // per feature, Σ wᵢ(xᵢⱼ − meanⱼ)²
	YMean  float64
	YM2    float64
	Class  []float64 // weight per class up to the largest seen (Classes > 0)
}

var summaryTask = cluster.Register(&cluster.Task[summaryArg, summaryPartial]{
	Name:    "ml.summary",
	New:     func(*summaryArg) *summaryPartial { return &summaryPartial{} },
	Map:     summaryMap,
	Combine: combineSummary,
})

func summaryMap(ctx context.Context, p cluster.Part, a *summaryArg, acc *summaryPartial) error {
	b := p.Block
	d := b.Cols
	acc.Mean = make([]float64, d)
	acc.M2 = make([]float64, d)
	if b.Rows == 0 {
		return nil
	}
	// Labels and weights.
	var wsum, w2, ysum float64
	for i := 0; i < b.Rows; i++ {
		w := b.Weight(i)
		if !(w >= 0) || math.IsInf(w, 0) {
			return fmt.Errorf("ml: %s: weight %v at row %d of partition %d is not a finite number >= 0", a.What, w, i, p.Index)
		}
		y := b.Y[i]
		if math.IsNaN(y) || math.IsInf(y, 0) {
			return fmt.Errorf("ml: %s: label %v at row %d of partition %d is not a finite number", a.What, y, i, p.Index)
		}
		if a.Classes > 0 {
			c := int(y)
			if float64(c) != y || c < 0 || c >= a.Classes {
				return fmt.Errorf("ml: %s: label %v at row %d of partition %d is not a class index in [0, %d)", a.What, y, i, p.Index, a.Classes)
			}
			if c >= len(acc.Class) {
				acc.Class = append(acc.Class, make([]float64, c+1-len(acc.Class))...)
			}
			acc.Class[c] += w
		}
		wsum += w
		w2 += w * w
		ysum += w * y
	}
	acc.Rows, acc.Weight, acc.W2 = int64(b.Rows), wsum, w2
	if wsum == 0 {
		return nil
	}
	acc.YMean = ysum / wsum
	for i := 0; i < b.Rows; i++ {
		dy := b.Y[i] - acc.YMean
		acc.YM2 += b.Weight(i) * dy * dy
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Features: two passes over the cached rows (exact); for CSR, sums of
	// values and squares over the non-zeros.
	if b.Sparse() {
		sq := acc.M2
		for i := 0; i < b.Rows; i++ {
			w := b.Weight(i)
			ind, val := b.SparseRow(i)
			for t, j := range ind {
				v := val[t]
				acc.Mean[j] += w * v
				sq[j] += w * v * v
			}
		}
		for j := range acc.Mean {
			m := acc.Mean[j] / wsum
			acc.Mean[j] = m
			sq[j] = math.Max(sq[j]-wsum*m*m, 0)
		}
		return nil
	}
	row := make([]float64, d) // a float32 row, widened
	for i := 0; i < b.Rows; i++ {
		floats.AddScaled(acc.Mean, b.Weight(i), b.DenseRow(i, row))
	}
	floats.Scale(1/wsum, acc.Mean)
	diff := make([]float64, d)
	for i := 0; i < b.Rows; i++ {
		w := b.Weight(i)
		if w == 0 {
			continue
		}
		floats.SubTo(diff, b.DenseRow(i, row), acc.Mean)
		floats.Mul(diff, diff)
		floats.AddScaled(acc.M2, w, diff)
	}
	return nil
}

func combineSummary(dst, src *summaryPartial) {
	if len(dst.Mean) == 0 && len(src.Mean) > 0 {
		dst.Mean = make([]float64, len(src.Mean))
		dst.M2 = make([]float64, len(src.M2))
	}
	wa, wb := dst.Weight, src.Weight
	w := wa + wb
	dst.Rows += src.Rows
	dst.W2 += src.W2
	if len(src.Class) > len(dst.Class) {
		dst.Class = append(dst.Class, make([]float64, len(src.Class)-len(dst.Class))...)
	}
	floats.Add(dst.Class[:len(src.Class)], src.Class)
	if wb == 0 {
		return
	}
	if wa == 0 {
		dst.Weight = wb
		copy(dst.Mean, src.Mean)
		copy(dst.M2, src.M2)
		dst.YMean, dst.YM2 = src.YMean, src.YM2
		return
	}
	f := wa * wb / w
	for j := range dst.Mean {
		delta := src.Mean[j] - dst.Mean[j]
		dst.Mean[j] += delta * wb / w
		dst.M2[j] += src.M2[j] + delta*delta*f
	}
	dy := src.YMean - dst.YMean
	dst.YMean += dy * wb / w
	dst.YM2 += src.YM2 + dy*dy*f
	dst.Weight = w
}

// summary is a dataset's summary with derived standard deviations.
type summary struct {
	summaryPartial
	Std  []float64 // unbiased weighted standard deviation per feature
	YStd float64
}

// summarize runs the summary aggregation and checks the data is usable.
func summarize(ctx context.Context, x cluster.Executor, ds *cluster.Dataset, a summaryArg) (*summary, error) {
	p, err := cluster.Aggregate(ctx, x, ds, summaryTask, &a)
	if err != nil {
		return nil, err
	}
	if p.Rows == 0 {
		return nil, fmt.Errorf("ml: %s: dataset %q has no rows", a.What, ds.Name())
	}
	if p.Weight <= 0 {
		return nil, fmt.Errorf("ml: %s: the weights of dataset %q sum to %v; want > 0", a.What, ds.Name(), p.Weight)
	}
	if len(p.Mean) != ds.Cols() {
		p.Mean = make([]float64, ds.Cols())
		p.M2 = make([]float64, ds.Cols())
	}
	s := &summary{summaryPartial: *p, Std: make([]float64, len(p.Mean))}
	// Reliability-weight correction: n−1 for unit weights.
	den := p.Weight - p.W2/p.Weight
	for j, m2 := range p.M2 {
		if math.IsNaN(p.Mean[j]) || math.IsInf(p.Mean[j], 0) || math.IsNaN(m2) || math.IsInf(m2, 0) {
			return nil, fmt.Errorf("ml: %s: feature %d of dataset %q has NaN or infinite values", a.What, j, ds.Name())
		}
		if den > 0 {
			s.Std[j] = math.Sqrt(m2 / den)
		}
	}
	if den > 0 {
		s.YStd = math.Sqrt(p.YM2 / den)
	}
	return s, nil
}
