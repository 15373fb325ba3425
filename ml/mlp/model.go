package mlp

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// Model is a trained network: a plain value that predicts with a forward
// pass in Go over its flat weights, with no graph and no engine. Its
// methods only read it, so one Model is safe for concurrent use as long as
// nobody modifies its fields.
type Model struct {
	// Sizes is the number of units in every layer: the inputs, each hidden
	// layer, then the outputs (the number of classes for Softmax, 1 for
	// Identity).
	Sizes []int
	// Activation of the hidden layers.
	Activation Activation
	// Output layer: Softmax probabilities or Identity.
	Output Output
	// Params holds every layer's weights in order. Layer l (from Sizes[l]
	// units to Sizes[l+1] units) is its weight matrix W, Sizes[l]×Sizes[l+1]
	// row-major (W[i*Sizes[l+1]+j] connects input i to unit j), followed by
	// its Sizes[l+1] biases.
	Params []float64
}

// numParams is the length of the flat parameter vector of a network.
func numParams(sizes []int) int {
	n := 0
	for l := 0; l+1 < len(sizes); l++ {
		n += (sizes[l] + 1) * sizes[l+1]
	}
	return n
}

// layerOffsets returns, for each layer, where its weights and its biases
// start in the flat parameter vector.
func layerOffsets(sizes []int) (w, b []int) {
	off := 0
	for l := 0; l+1 < len(sizes); l++ {
		w = append(w, off)
		off += sizes[l] * sizes[l+1]
		b = append(b, off)
		off += sizes[l+1]
	}
	return w, b
}

// Inputs is the number of features a row must have.
func (m *Model) Inputs() int { return m.Sizes[0] }

// Outputs is the number of values Predict writes per row: the number of
// classes for Softmax, 1 for Identity.
func (m *Model) Outputs() int { return m.Sizes[len(m.Sizes)-1] }

// Bounds that keep a decoded model's arithmetic far from overflow.
const (
	maxUnits  = 1 << 30
	maxParams = 1 << 40
)

// ErrModel reports a Model whose fields are inconsistent.
var ErrModel = errors.New("mlp: malformed model")

// Validate checks that the model's fields are consistent: at least an input
// and an output layer, positive sizes, a known activation and output, and
// as many parameters as the sizes need.
func (m *Model) Validate() error {
	if len(m.Sizes) < 2 {
		return fmt.Errorf("%w: %d layer sizes, need at least inputs and outputs", ErrModel, len(m.Sizes))
	}
	total := 0
	for i, s := range m.Sizes {
		if s <= 0 || s > maxUnits {
			return fmt.Errorf("%w: layer %d has %d units", ErrModel, i, s)
		}
		if i > 0 {
			if total += (m.Sizes[i-1] + 1) * s; total > maxParams {
				return fmt.Errorf("%w: layer sizes %v need more than %d parameters", ErrModel, m.Sizes, maxParams)
			}
		}
	}
	if !m.Activation.valid() {
		return fmt.Errorf("%w: unknown activation %q", ErrModel, m.Activation)
	}
	switch m.Output {
	case Softmax:
		if m.Outputs() < 2 {
			return fmt.Errorf("%w: softmax output over %d classes", ErrModel, m.Outputs())
		}
	case Identity:
		if m.Outputs() != 1 {
			return fmt.Errorf("%w: identity output with %d units, want 1", ErrModel, m.Outputs())
		}
	default:
		return fmt.Errorf("%w: unknown output %q", ErrModel, m.Output)
	}
	if want := numParams(m.Sizes); len(m.Params) != want {
		return fmt.Errorf("%w: %d parameters, layer sizes %v need %d", ErrModel, len(m.Params), m.Sizes, want)
	}
	return nil
}

// Predict runs one row x through the network. It writes Outputs() values
// into dst (class probabilities for Softmax, the prediction for Identity)
// and returns the most probable class (0 for Identity).
func (m *Model) Predict(dst, x []float64) (class int, err error) {
	if err := m.PredictBatch(dst, x, 1); err != nil {
		return 0, err
	}
	if m.Output != Softmax {
		return 0, nil
	}
	return argmax(dst[:m.Outputs()]), nil
}

// PredictBatch runs rows rows of x (row-major, rows×Inputs()) through the
// network and writes rows×Outputs() values into dst, row-major: class
// probabilities for Softmax, predictions for Identity. x is not modified.
func (m *Model) PredictBatch(dst, x []float64, rows int) error {
	if err := m.Validate(); err != nil {
		return err
	}
	in, out := m.Inputs(), m.Outputs()
	if rows < 0 || len(x) != rows*in {
		return fmt.Errorf("mlp: predict: %d values for %d rows of %d features", len(x), rows, in)
	}
	if len(dst) < rows*out {
		return fmt.Errorf("mlp: predict: dst holds %d values, %d rows of %d outputs need %d", len(dst), rows, out, rows*out)
	}
	widest := 0
	for _, s := range m.Sizes[1 : len(m.Sizes)-1] {
		widest = max(widest, s)
	}
	chunk := min(rows, predictChunk)
	buf := getScratch(2 * chunk * widest)
	defer putScratch(buf)
	for lo := 0; lo < rows; lo += chunk {
		hi := min(lo+chunk, rows)
		m.forward(dst[lo*out:hi*out], x[lo*in:hi*in], hi-lo, (*buf)[:chunk*widest], (*buf)[chunk*widest:])
	}
	return nil
}

// Classify writes the most probable class of each of rows rows of x into
// dst. It needs a Softmax model.
func (m *Model) Classify(dst []int, x []float64, rows int) error {
	if m.Output != Softmax {
		return fmt.Errorf("mlp: classify: model output is %q, not %q", m.Output, Softmax)
	}
	if len(dst) < rows {
		return fmt.Errorf("mlp: classify: dst holds %d classes for %d rows", len(dst), rows)
	}
	in, out := m.Inputs(), m.Outputs()
	if rows < 0 || len(x) != rows*in {
		return fmt.Errorf("mlp: classify: %d values for %d rows of %d features", len(x), rows, in)
	}
	probs := make([]float64, min(rows, predictChunk)*out)
	for lo := 0; lo < rows; lo += predictChunk {
		hi := min(lo+predictChunk, rows)
		if err := m.PredictBatch(probs[:(hi-lo)*out], x[lo*in:hi*in], hi-lo); err != nil {
			return err
		}
		for i := lo; i < hi; i++ {
			dst[i] = argmax(probs[(i-lo)*out : (i-lo+1)*out])
		}
	}
	return nil
}

// predictChunk is how many rows go through the layers together: enough for
// matrix-matrix products, few enough that the activations stay in cache.
const predictChunk = 128

// forward computes rows rows of x into dst, using a and b (each at least
// rows×widest hidden layer) for the hidden activations.
func (m *Model) forward(dst, x []float64, rows int, a, b []float64) {
	wOff, bOff := layerOffsets(m.Sizes)
	cur := x
	last := len(m.Sizes) - 2
	for l := 0; l <= last; l++ {
		in, out := m.Sizes[l], m.Sizes[l+1]
		next := dst
		if l < last {
			next = a[:rows*out]
			a, b = b, a
		}
		bias := m.Params[bOff[l] : bOff[l]+out]
		for i := 0; i < rows; i++ {
			copy(next[i*out:(i+1)*out], bias)
		}
		blas64.Gemm(blas.NoTrans, blas.NoTrans, 1,
			blas64.General{Rows: rows, Cols: in, Stride: in, Data: cur[:rows*in]},
			blas64.General{Rows: in, Cols: out, Stride: out, Data: m.Params[wOff[l] : wOff[l]+in*out]},
			1, blas64.General{Rows: rows, Cols: out, Stride: out, Data: next})
		if l < last {
			activate(m.Activation, next)
		}
		cur = next
	}
	if m.Output == Softmax {
		k := m.Outputs()
		for i := 0; i < rows; i++ {
			softmax(dst[i*k : (i+1)*k])
		}
	}
}

func activate(a Activation, v []float64) {
	switch a {
	case ReLU:
		for i, x := range v {
			if x < 0 {
				v[i] = 0
			}
		}
	case Tanh:
		for i, x := range v {
			v[i] = math.Tanh(x)
		}
	case Sigmoid:
		for i, x := range v {
			v[i] = 1 / (1 + math.Exp(-x))
		}
	}
}

// softmax replaces z with exp(z)/Σexp(z), shifting by the maximum first so
// that no exponential overflows.
func softmax(z []float64) {
	m := math.Inf(-1)
	for _, v := range z {
		m = max(m, v)
	}
	s := 0.0
	for i, v := range z {
		z[i] = math.Exp(v - m)
		s += z[i]
	}
	for i := range z {
		z[i] /= s
	}
}

func argmax(v []float64) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// scratch recycles forward-pass buffers between predictions.
var scratch sync.Pool

func getScratch(n int) *[]float64 {
	if p, ok := scratch.Get().(*[]float64); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	s := make([]float64, n)
	return &s
}

func putScratch(p *[]float64) { scratch.Put(p) }
