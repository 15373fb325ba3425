package kmeans

import (
	"strconv"

	"github.com/flintml/flint/ml"
)

var _ ml.Describer = (*Model)(nil)

// DescribeParams implements ml.Describer: K, the inertia, the silhouette
// when computed, the iterations, and each centre's norm and training rows.
// The centres' coordinates are left out (Dim values each); names is unused.
func (m *Model) DescribeParams([]string) []ml.Param {
	conv := 0.0
	if m.Converged {
		conv = 1
	}
	ps := []ml.Param{
		{Name: "k", Values: []float64{float64(m.K)}},
		{Name: "dim", Values: []float64{float64(m.Dim)}},
		{Name: "inertia", Values: []float64{m.Inertia}},
		{Name: "silhouette", Values: []float64{m.Silhouette}},
		{Name: "iterations", Values: []float64{float64(m.Iterations)}},
		{Name: "converged", Values: []float64{conv}},
	}
	for j := 0; j < m.K && (j+1)*m.Dim <= len(m.Centres); j++ {
		c := "centre " + strconv.Itoa(j)
		ps = append(ps, ml.Param{Name: c + " norm", Values: []float64{ml.Norm2(m.Centres[j*m.Dim : (j+1)*m.Dim])}})
		if j < len(m.Sizes) {
			ps = append(ps, ml.Param{Name: c + " rows", Values: []float64{float64(m.Sizes[j])}})
		}
	}
	return ps
}
