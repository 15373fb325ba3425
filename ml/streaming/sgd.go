package streaming

import (
	"fmt"
	"math"

	"github.com/flintml/flint/ml"
)

// SGDConfig configures streaming linear and logistic regression. Zero
// fields take the defaults given, which are MLlib's.
type SGDConfig struct {
	// Dim is the number of features of a row, at least 1. Required.
	Dim int
	// StepSize is the size of the first step of each batch; step i has
	// StepSize/√i. 0 means 0.1.
	StepSize float64
	// Iterations is the number of gradient steps per batch. 0 means 50.
	Iterations int
	// MiniBatchFraction is the share of a batch's rows each step samples,
	// in (0, 1]. 0 means 1 (every row).
	MiniBatchFraction float64
	// RegParam is the L2 penalty, λ/2·‖w‖² (the intercept excluded). 0
	// means none.
	RegParam float64
	// NoIntercept fits no intercept.
	NoIntercept bool
	// ConvergenceTol stops a batch's steps when the weights move less than
	// ConvergenceTol·max(‖w‖, 1). 0 means 0.001; negative never stops
	// early.
	ConvergenceTol float64
	// Seed seeds the sampling of MiniBatchFraction < 1. 0 means 1.
	Seed uint64
}

func (c SGDConfig) withDefaults() SGDConfig {
	if c.StepSize == 0 {
		c.StepSize = 0.1
	}
	if c.Iterations == 0 {
		c.Iterations = 50
	}
	if c.MiniBatchFraction == 0 {
		c.MiniBatchFraction = 1
	}
	if c.ConvergenceTol == 0 {
		c.ConvergenceTol = 0.001
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	return c
}

func (c SGDConfig) validate(what string) error {
	switch {
	case c.Dim < 1:
		return fmt.Errorf("streaming: %s: Dim must be at least 1, got %d", what, c.Dim)
	case !(c.StepSize > 0) || math.IsInf(c.StepSize, 0):
		return fmt.Errorf("streaming: %s: StepSize must be a positive number, got %v", what, c.StepSize)
	case c.Iterations < 1:
		return fmt.Errorf("streaming: %s: Iterations must be at least 1, got %d", what, c.Iterations)
	case !(c.MiniBatchFraction > 0 && c.MiniBatchFraction <= 1):
		return fmt.Errorf("streaming: %s: MiniBatchFraction must be in (0, 1], got %v", what, c.MiniBatchFraction)
	case !(c.RegParam >= 0) || math.IsInf(c.RegParam, 0):
		return fmt.Errorf("streaming: %s: RegParam must be a finite number >= 0, got %v", what, c.RegParam)
	case math.IsNaN(c.ConvergenceTol):
		return fmt.Errorf("streaming: %s: ConvergenceTol is NaN", what)
	}
	return nil
}

// loss is the per-row derivative of the loss by the margin.
type loss func(margin, y float64) float64

func squaredLoss(margin, y float64) float64 { return margin - y }

func logisticLoss(margin, y float64) float64 { return sigmoid(margin) - y }

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// sgd is the mini-batch gradient descent both regressions share.
type sgd struct {
	cfg  SGDConfig
	dim  int
	loss loss
	coef []float64 // dim coefficients, then the intercept
	grad []float64 // scratch, dim+1
	prev []float64 // scratch, dim+1

	// Batches and Rows count what Update has seen; Steps the gradient
	// steps taken (fewer than Iterations per batch when a batch converges).
	Batches, Rows, Steps int64
}

func newSGD(cfg SGDConfig, what string, l loss) (*sgd, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(what); err != nil {
		return nil, err
	}
	return &sgd{cfg: cfg, dim: cfg.Dim, loss: l, coef: make([]float64, cfg.Dim+1),
		grad: make([]float64, cfg.Dim+1), prev: make([]float64, cfg.Dim+1)}, nil
}

// Dim is the number of features.
func (s *sgd) Dim() int { return s.dim }

// Coef returns the coefficients; the slice is the model's own.
func (s *sgd) Coef() []float64 { return s.coef[:s.dim] }

// Intercept returns the intercept (0 with NoIntercept).
func (s *sgd) Intercept() float64 { return s.coef[s.dim] }

// SetWeights sets the coefficients and intercept, e.g. those of a model
// published earlier, to resume from.
func (s *sgd) SetWeights(coef []float64, intercept float64) error {
	if len(coef) != s.dim {
		return fmt.Errorf("streaming: %d coefficients for %d features", len(coef), s.dim)
	}
	copy(s.coef, coef)
	s.coef[s.dim] = intercept
	if s.cfg.NoIntercept {
		s.coef[s.dim] = 0
	}
	return nil
}

func (s *sgd) margin(row []float64) float64 {
	m := s.coef[s.dim]
	for t, v := range row {
		m += s.coef[t] * v
	}
	return m
}

// sampled reports whether step it takes row i of batch b.
func (s *sgd) sampled(b int64, it, i int) bool {
	if s.cfg.MiniBatchFraction >= 1 {
		return true
	}
	h := mix(s.cfg.Seed ^ uint64(b)*0x9e3779b97f4a7c15 ^ uint64(it)<<40 ^ uint64(i))
	return float64(h>>11)/(1<<53) < s.cfg.MiniBatchFraction
}

// mix is SplitMix64's finaliser.
func mix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// update runs the batch's gradient steps. It panics if the shapes disagree.
func (s *sgd) update(x, y, w []float64, what string) {
	d := s.dim
	rows := len(y)
	if len(x) != rows*d || (w != nil && len(w) != rows) {
		panic(fmt.Sprintf("streaming: %s.Update: %d values, %d labels and %d weights for rows of %d features", what, len(x), len(y), len(w), d))
	}
	b := s.Batches
	s.Batches++
	s.Rows += int64(rows)
	if rows == 0 {
		return
	}
	cfg := s.cfg
	for it := 1; it <= cfg.Iterations; it++ {
		clear(s.grad)
		var n float64
		for i := 0; i < rows; i++ {
			if !s.sampled(b, it, i) {
				continue
			}
			row := x[i*d : (i+1)*d]
			wi := 1.0
			if w != nil {
				wi = w[i]
			}
			g := wi * s.loss(s.margin(row), y[i])
			for t, v := range row {
				s.grad[t] += g * v
			}
			s.grad[d] += g
			n += wi
		}
		if n == 0 {
			continue
		}
		copy(s.prev, s.coef)
		step := cfg.StepSize / math.Sqrt(float64(it))
		shrink := 1 - step*cfg.RegParam
		for t := 0; t < d; t++ {
			s.coef[t] = s.coef[t]*shrink - step*s.grad[t]/n
		}
		if !cfg.NoIntercept {
			s.coef[d] -= step * s.grad[d] / n
		}
		s.Steps++
		if cfg.ConvergenceTol > 0 && it > 1 && s.converged() {
			break
		}
	}
}

// converged is MLlib's test: ‖w − w_prev‖ < tol·max(‖w‖, 1).
func (s *sgd) converged() bool {
	var diff, norm float64
	for t, v := range s.coef {
		e := v - s.prev[t]
		diff += e * e
		norm += v * v
	}
	return math.Sqrt(diff) < s.cfg.ConvergenceTol*math.Max(math.Sqrt(norm), 1)
}

// Linear is streaming least-squares regression. It is not safe for
// concurrent use.
type Linear struct{ *sgd }

// NewLinear returns a model with zero weights.
func NewLinear(cfg SGDConfig) (*Linear, error) {
	s, err := newSGD(cfg, "linear regression", squaredLoss)
	if err != nil {
		return nil, err
	}
	return &Linear{s}, nil
}

// Update runs the gradient steps of one mini-batch: x is len(y)×Dim,
// row-major, y the labels and w the rows' weights (nil: 1 each).
func (m *Linear) Update(x, y, w []float64) { m.update(x, y, w, "Linear") }

// PredictBatch writes the prediction of each row of x into dst.
func (m *Linear) PredictBatch(dst, x []float64) {
	for i := range dst {
		dst[i] = m.margin(x[i*m.dim : (i+1)*m.dim])
	}
}

// Model returns a snapshot as an ml.LinearModel.
func (m *Linear) Model() *ml.LinearModel {
	return &ml.LinearModel{Coef: append([]float64(nil), m.Coef()...), Intercept: m.Intercept()}
}

// Logistic is streaming binary logistic regression: labels are 0 or 1.
// It is not safe for concurrent use.
type Logistic struct{ *sgd }

// NewLogistic returns a model with zero weights.
func NewLogistic(cfg SGDConfig) (*Logistic, error) {
	s, err := newSGD(cfg, "logistic regression", logisticLoss)
	if err != nil {
		return nil, err
	}
	return &Logistic{s}, nil
}

// Update runs the gradient steps of one mini-batch: x is len(y)×Dim,
// row-major, y the labels (0 or 1) and w the rows' weights (nil: 1 each).
func (m *Logistic) Update(x, y, w []float64) { m.update(x, y, w, "Logistic") }

// PredictBatch writes the class (0 or 1: P(y=1) > 0.5) of each row of x
// into dst.
func (m *Logistic) PredictBatch(dst, x []float64) {
	for i := range dst {
		if sigmoid(m.margin(x[i*m.dim:(i+1)*m.dim])) > 0.5 {
			dst[i] = 1
		} else {
			dst[i] = 0
		}
	}
}

// ProbaBatch writes P(y=1) of each row of x into dst.
func (m *Logistic) ProbaBatch(dst, x []float64) {
	for i := range dst {
		dst[i] = sigmoid(m.margin(x[i*m.dim : (i+1)*m.dim]))
	}
}

// Model returns a snapshot as a binomial ml.LogisticModel (threshold 0.5).
func (m *Logistic) Model() *ml.LogisticModel {
	return &ml.LogisticModel{Classes: 2, Coef: append([]float64(nil), m.Coef()...),
		Intercept: []float64{m.Intercept()}, Threshold: 0.5}
}
