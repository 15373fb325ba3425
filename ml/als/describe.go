package als

import (
	"math"

	"github.com/flintml/flint/ml"
)

var _ ml.Describer = (*Model)(nil)

// DescribeParams implements ml.Describer: the rank, the users and items,
// the mean norm of each side's factors, and, for a biased model, the
// global mean and the mean and standard deviation of each side's biases.
// names is unused.
func (m *Model) DescribeParams([]string) []ml.Param {
	implicit := 0.0
	if m.Implicit {
		implicit = 1
	}
	ps := []ml.Param{
		{Name: "rank", Values: []float64{float64(m.Rank)}},
		{Name: "users", Values: []float64{float64(len(m.UserIDs))}},
		{Name: "items", Values: []float64{float64(len(m.ItemIDs))}},
		{Name: "implicit", Values: []float64{implicit}},
		{Name: "user factor norm (mean)", Values: []float64{meanNorm(m.UserFactors, m.Rank)}},
		{Name: "item factor norm (mean)", Values: []float64{meanNorm(m.ItemFactors, m.Rank)}},
	}
	if m.HasRatingRange {
		ps = append(ps, ml.Param{Name: "rating range", Values: []float64{m.RatingMin, m.RatingMax}})
	}
	if m.Biased {
		ps = append(ps, ml.Param{Name: "global mean", Values: []float64{m.GlobalMean}},
			ml.Param{Name: "user bias (mean, sd)", Values: meanSD(m.UserBiases)},
			ml.Param{Name: "item bias (mean, sd)", Values: meanSD(m.ItemBiases)})
	}
	return ps
}

// meanNorm is the mean Euclidean norm of the rank-long rows of f.
func meanNorm(f []float64, rank int) float64 {
	if rank < 1 || len(f) < rank {
		return math.NaN()
	}
	n := len(f) / rank
	s := 0.0
	for p := range n {
		s += ml.Norm2(f[p*rank : (p+1)*rank])
	}
	return s / float64(n)
}

func meanSD(v []float64) []float64 {
	if len(v) == 0 {
		return []float64{math.NaN(), math.NaN()}
	}
	mean := 0.0
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	ss := 0.0
	for _, x := range v {
		ss += (x - mean) * (x - mean)
	}
	return []float64{mean, math.Sqrt(ss / float64(len(v)))}
}
