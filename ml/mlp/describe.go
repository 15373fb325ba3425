package mlp

import (
	"strconv"

	"github.com/flintml/flint/ml"
)

var (
	_ ml.Describer = (*Classifier)(nil)
	_ ml.Describer = (*Regressor)(nil)
)

// DescribeParams implements ml.Describer for the network.
func (c *Classifier) DescribeParams(names []string) []ml.Param { return c.Net.DescribeParams(names) }

// DescribeParams implements ml.Describer for the network.
func (r *Regressor) DescribeParams(names []string) []ml.Param { return r.Net.DescribeParams(names) }

// DescribeParams lists the layer sizes, the activation and output, each
// layer's weight and bias norms, and the norm of each input feature's
// weights into the first hidden layer (how much the network uses it).
func (m *Model) DescribeParams(names []string) []ml.Param {
	sizes := make([]float64, len(m.Sizes))
	for i, s := range m.Sizes {
		sizes[i] = float64(s)
	}
	ps := []ml.Param{
		{Name: "layer sizes", Values: sizes},
		{Name: "activation", Text: string(m.Activation)},
		{Name: "output", Text: string(m.Output)},
	}
	off := 0
	for l := 0; l+1 < len(m.Sizes); l++ {
		in, out := m.Sizes[l], m.Sizes[l+1]
		if off+(in+1)*out > len(m.Params) {
			break // a malformed network: no more layers to show
		}
		w, b := m.Params[off:off+in*out], m.Params[off+in*out:off+(in+1)*out]
		name := "layer " + strconv.Itoa(l+1)
		ps = append(ps, ml.Param{Name: name + " weight norm", Values: []float64{ml.Norm2(w)}},
			ml.Param{Name: name + " bias norm", Values: []float64{ml.Norm2(b)}})
		off += (in + 1) * out
	}
	if len(m.Sizes) > 1 && m.Sizes[0]*m.Sizes[1] <= len(m.Params) {
		in, out := m.Sizes[0], m.Sizes[1]
		for i := range in {
			ps = append(ps, ml.Param{Name: "input weight norm " + ml.FeatureName(names, in, i), Values: []float64{ml.Norm2(m.Params[i*out : (i+1)*out])}})
		}
	}
	return ps
}
