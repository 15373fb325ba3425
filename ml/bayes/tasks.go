package bayes

import (
	"context"
	"fmt"
	"math"

	"gonum.org/v1/gonum/floats"

	"github.com/flintml/flint/cluster"
)

// The one pass of a fit: a registered cluster task that folds each
// partition into per-class sufficient statistics, combined by the
// cluster's tree aggregation. Broadcast and partial are gob-encodable, so
// remote workers run it too.

// kind is a model type as the task sees it.
type kind int

const (
	multinomialKind kind = iota
	bernoulliKind
	gaussianKind
)

func (k kind) String() string { return [...]string{Multinomial, Bernoulli, Gaussian}[k] }

// fitArg is the broadcast of the fit pass.
type fitArg struct {
	Kind    kind
	D       int  // features
	Classes int  // labels must be class indices below it
	Given   bool // Classes is Config.Classes (not the default bound), for errors
}

// fitPartial holds the statistics of the rows of one or more partitions,
// per class up to the largest label seen. Multinomial and Bernoulli keep
// Sum; Gaussian keeps Mean and M2, which combine exactly in any tree (Chan
// et al.'s pairwise update), so that large offsets lose no precision.
type fitPartial struct {
	Rows  int64
	D     int       // features
	Gauss bool      // Mean and M2 are kept, not Sum
	Count []float64 // per class: Σ wᵢ
	Sum   []float64 // classes×D: Σ wᵢxᵢⱼ
	Mean  []float64 // classes×D: the weighted mean of the class's rows
	M2    []float64 // classes×D: Σ wᵢ(xᵢⱼ − meanⱼ)²
}

var fitTask = cluster.Register(&cluster.Task[fitArg, fitPartial]{
	Name:    "ml.bayes.fit",
	New:     func(*fitArg) *fitPartial { return &fitPartial{} },
	Map:     fitMap,
	Combine: combineFit,
})

// grow extends p's per-class slices to k classes of d features.
func (p *fitPartial) grow(gauss bool, k, d int) {
	if len(p.Count) >= k {
		return
	}
	add := k - len(p.Count)
	p.Count = append(p.Count, make([]float64, add)...)
	if gauss {
		p.Mean = append(p.Mean, make([]float64, add*d)...)
		p.M2 = append(p.M2, make([]float64, add*d)...)
		return
	}
	p.Sum = append(p.Sum, make([]float64, add*d)...)
}

// partScan is the state of the pass over one partition.
type partScan struct {
	a    *fitArg
	b    *cluster.Block
	part int
	acc  *fitPartial
}

func fitMap(ctx context.Context, p cluster.Part, a *fitArg, acc *fitPartial) error {
	b := p.Block
	if b.Cols != a.D {
		return fmt.Errorf("bayes: partition %d has %d features, the dataset %d", p.Index, b.Cols, a.D)
	}
	if b.Float32() {
		return fmt.Errorf("bayes: partition %d holds float32 rows; naive Bayes reads float64 rows only", p.Index)
	}
	acc.Rows, acc.D, acc.Gauss = int64(b.Rows), a.D, a.Kind == gaussianKind
	s := &partScan{a: a, b: b, part: p.Index, acc: acc}
	switch {
	case a.Kind == gaussianKind && b.Sparse():
		return s.gaussSparse(ctx)
	case a.Kind == gaussianKind:
		return s.gaussDense(ctx)
	case b.Sparse():
		return s.countSparse(ctx)
	default:
		return s.countDense(ctx)
	}
}

// row checks row i's label and weight, grows the partial to its class, and
// returns them. Every 1024 rows it also checks ctx.
func (s *partScan) row(ctx context.Context, i int) (int, float64, error) {
	if i%1024 == 1023 {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
	}
	y, w := s.b.Y[i], s.b.Weight(i)
	if !(y >= 0 && y < float64(s.a.Classes) && y == math.Trunc(y)) {
		limit := fmt.Sprintf("[0, %d)", s.a.Classes)
		if s.a.Given {
			limit += " (Config.Classes)"
		}
		return 0, 0, fmt.Errorf("bayes: label %v of row %d in partition %d is not a class index in %s", y, i, s.part, limit)
	}
	if !(w >= 0 && w <= math.MaxFloat64) {
		return 0, 0, fmt.Errorf("bayes: weight %v of row %d in partition %d is not a finite number >= 0", w, i, s.part)
	}
	c := int(y)
	if c >= len(s.acc.Count) && (c+1)*s.a.D > MaxParams {
		return 0, 0, fmt.Errorf("bayes: label %v of row %d in partition %d makes %d classes of %d features, more than %d parameters (MaxParams)", y, i, s.part, c+1, s.a.D, MaxParams)
	}
	s.acc.grow(s.a.Kind == gaussianKind, c+1, s.a.D)
	return c, w, nil
}

// firstBad returns the position of the first value in x the model type
// does not accept, or -1. A branch-free scan of the row decides whether
// any is bad; only then does a second scan find it. (A test per value
// costs a branch, which random bits mispredict half the time.)
func firstBad(k kind, x []float64) int {
	if rowOK(k, x) {
		return -1
	}
	for t, v := range x {
		var ok bool
		switch k {
		case multinomialKind:
			ok = v >= 0 && v <= math.MaxFloat64
		case bernoulliKind:
			ok = v == 0 || v == 1
		default:
			ok = v >= -math.MaxFloat64 && v <= math.MaxFloat64
		}
		if !ok {
			return t
		}
	}
	return -1
}

// rowOK reports whether every value of x is acceptable: v·0 is 0 for
// finite v and NaN otherwise; v(v − 1) is 0 for v ∈ {0, 1} only; the sign
// bits OR'ed together catch negative values (−0 too, which firstBad's
// second scan then accepts). Two sums halve the chain of dependent
// additions.
func rowOK(k kind, x []float64) bool {
	var s0, s1 float64
	n := len(x) &^ 1
	switch k {
	case multinomialKind:
		var sign uint64
		for i := 0; i < n; i += 2 {
			a, b := x[i], x[i+1]
			sign |= math.Float64bits(a) | math.Float64bits(b)
			s0 += a * 0
			s1 += b * 0
		}
		for _, v := range x[n:] {
			sign |= math.Float64bits(v)
			s0 += v * 0
		}
		return s0+s1 == 0 && sign>>63 == 0
	case bernoulliKind:
		for i := 0; i < n; i += 2 {
			a, b := x[i], x[i+1]
			s0 += math.Abs(a * (a - 1))
			s1 += math.Abs(b * (b - 1))
		}
		for _, v := range x[n:] {
			s0 += math.Abs(v * (v - 1))
		}
	default:
		for i := 0; i < n; i += 2 {
			s0 += x[i] * 0
			s1 += x[i+1] * 0
		}
		for _, v := range x[n:] {
			s0 += v * 0
		}
	}
	return s0+s1 == 0
}

// badValue is the error for value v of feature j in row i.
func (s *partScan) badValue(i, j int, v float64) error {
	var want string
	switch s.a.Kind {
	case multinomialKind:
		want = "multinomial naive Bayes needs finite counts >= 0"
	case bernoulliKind:
		want = "Bernoulli naive Bayes needs binary features, 0 or 1 (binarise them first, e.g. x > threshold)"
	default:
		want = "Gaussian naive Bayes needs finite values"
	}
	return fmt.Errorf("bayes: %s: feature %d of row %d in partition %d is %v; %s", s.a.Kind, j, i, s.part, v, want)
}

// countDense sums the dense rows of each class (multinomial, Bernoulli).
func (s *partScan) countDense(ctx context.Context) error {
	b, d, acc := s.b, s.a.D, s.acc
	for i := 0; i < b.Rows; i++ {
		c, w, err := s.row(ctx, i)
		if err != nil {
			return err
		}
		x := b.Row(i)
		if j := firstBad(s.a.Kind, x); j >= 0 {
			return s.badValue(i, j, x[j])
		}
		acc.Count[c] += w
		switch w {
		case 0:
		case 1:
			floats.Add(acc.Sum[c*d:(c+1)*d], x)
		default:
			floats.AddScaled(acc.Sum[c*d:(c+1)*d], w, x)
		}
	}
	return nil
}

// countSparse sums the CSR rows of each class over their non-zeros.
func (s *partScan) countSparse(ctx context.Context) error {
	b, d, acc := s.b, s.a.D, s.acc
	for i := 0; i < b.Rows; i++ {
		c, w, err := s.row(ctx, i)
		if err != nil {
			return err
		}
		ind, val := b.SparseRow(i)
		if t := firstBad(s.a.Kind, val); t >= 0 {
			return s.badValue(i, int(ind[t]), val[t])
		}
		acc.Count[c] += w
		sum := acc.Sum[c*d : (c+1)*d]
		for t, j := range ind {
			sum[j] += w * val[t]
		}
	}
	return nil
}

// gaussDense computes each class's weighted mean and sum of squared
// deviations in two passes over the partition's dense rows.
func (s *partScan) gaussDense(ctx context.Context) error {
	b, d, acc := s.b, s.a.D, s.acc
	for i := 0; i < b.Rows; i++ {
		c, w, err := s.row(ctx, i)
		if err != nil {
			return err
		}
		x := b.Row(i)
		if j := firstBad(gaussianKind, x); j >= 0 {
			return s.badValue(i, j, x[j])
		}
		acc.Count[c] += w
		if w != 0 {
			floats.AddScaled(acc.Mean[c*d:(c+1)*d], w, x)
		}
	}
	s.toMeans()
	if err := ctx.Err(); err != nil {
		return err
	}
	diff := make([]float64, d)
	for i := 0; i < b.Rows; i++ {
		w := b.Weight(i)
		if w == 0 {
			continue
		}
		c := int(b.Y[i])
		floats.SubTo(diff, b.Row(i), acc.Mean[c*d:(c+1)*d])
		floats.Mul(diff, diff)
		floats.AddScaled(acc.M2[c*d:(c+1)*d], w, diff)
	}
	return nil
}

// toMeans divides the per-class sums held in Mean by the class weights.
func (s *partScan) toMeans() {
	d, acc := s.a.D, s.acc
	for c, w := range acc.Count {
		if w > 0 {
			floats.Scale(1/w, acc.Mean[c*d:(c+1)*d])
		}
	}
}

// gaussSparse is gaussDense over CSR rows without densifying them: the
// deviations of a class's implicit zeros, (0 − mean)² each, are added
// with the weight of the class's rows that leave the feature out.
func (s *partScan) gaussSparse(ctx context.Context) error {
	b, d, acc := s.b, s.a.D, s.acc
	var present []float64 // classes×D: weight of the rows that store feature j
	for i := 0; i < b.Rows; i++ {
		c, w, err := s.row(ctx, i)
		if err != nil {
			return err
		}
		ind, val := b.SparseRow(i)
		if t := firstBad(gaussianKind, val); t >= 0 {
			return s.badValue(i, int(ind[t]), val[t])
		}
		if need := (c + 1) * d; len(present) < need {
			present = append(present, make([]float64, need-len(present))...)
		}
		acc.Count[c] += w
		mean, pres := acc.Mean[c*d:(c+1)*d], present[c*d:(c+1)*d]
		for t, j := range ind {
			mean[j] += w * val[t]
			pres[j] += w
		}
	}
	s.toMeans()
	for i := 0; i < b.Rows; i++ {
		w := b.Weight(i)
		if w == 0 {
			continue
		}
		c := int(b.Y[i])
		ind, val := b.SparseRow(i)
		mean, m2 := acc.Mean[c*d:(c+1)*d], acc.M2[c*d:(c+1)*d]
		for t, j := range ind {
			dv := val[t] - mean[j]
			m2[j] += w * dv * dv
		}
	}
	for c, w := range acc.Count {
		mean, m2, pres := acc.Mean[c*d:(c+1)*d], acc.M2[c*d:(c+1)*d], present[c*d:(c+1)*d]
		for j, mu := range mean {
			if rest := w - pres[j]; rest > 0 {
				m2[j] += rest * mu * mu
			}
		}
	}
	return nil
}

// combineFit adds src into dst: sums add, and the Gaussian moments merge by
// Chan et al.'s formula, class by class.
func combineFit(dst, src *fitPartial) {
	dst.Rows += src.Rows
	k := len(src.Count)
	if k == 0 {
		return
	}
	gauss, d := src.Gauss, src.D
	dst.D, dst.Gauss = d, gauss
	dst.grow(gauss, k, d)
	if !gauss {
		floats.Add(dst.Count[:k], src.Count)
		floats.Add(dst.Sum[:k*d], src.Sum)
		return
	}
	for c, wb := range src.Count {
		wa := dst.Count[c]
		if wb == 0 {
			continue
		}
		ma, mb := dst.Mean[c*d:(c+1)*d], src.Mean[c*d:(c+1)*d]
		qa, qb := dst.M2[c*d:(c+1)*d], src.M2[c*d:(c+1)*d]
		if wa == 0 {
			copy(ma, mb)
			copy(qa, qb)
			dst.Count[c] = wb
			continue
		}
		w := wa + wb
		f, g := wa*wb/w, wb/w
		for j := range ma {
			delta := mb[j] - ma[j]
			ma[j] += delta * g
			qa[j] += qb[j] + delta*delta*f
		}
		dst.Count[c] = w
	}
}
