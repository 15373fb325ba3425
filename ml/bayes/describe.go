package bayes

import (
	"math"

	"github.com/flintml/flint/ml"
)

var _ ml.Describer = (*Model)(nil)

// DescribeParams implements ml.Describer: the type, the classes, each
// class's prior, the smoothing (or, Gaussian, epsilon), and per feature
// one value per class: log θ (multinomial, Bernoulli) or the mean and the
// variance (Gaussian).
func (m *Model) DescribeParams(names []string) []ml.Param {
	prior := make([]float64, len(m.ClassLogPrior))
	for c, lp := range m.ClassLogPrior {
		prior[c] = math.Exp(lp)
	}
	ps := []ml.Param{
		{Name: "type", Text: m.Type},
		{Name: "classes", Values: []float64{float64(m.Classes)}},
		{Name: "class prior", Values: prior},
	}
	perClass := func(name string, v []float64) {
		for j := range m.Features {
			col := make([]float64, m.Classes)
			for c := range m.Classes {
				if i := c*m.Features + j; i < len(v) {
					col[c] = v[i]
				}
			}
			ps = append(ps, ml.Param{Name: name + " " + ml.FeatureName(names, m.Features, j), Values: col})
		}
	}
	if m.Type == Gaussian {
		ps = append(ps, ml.Param{Name: "epsilon", Values: []float64{m.Epsilon}})
		perClass("mean", m.Theta)
		perClass("var", m.Var)
		return ps
	}
	ps = append(ps, ml.Param{Name: "smoothing", Values: []float64{m.Smoothing}})
	perClass("log θ", m.FeatureLogProb)
	return ps
}
