package mlp

import (
	"context"
	"errors"
	"fmt"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/ml"
)

// The names MLP models carry in the ml model envelope: a Softmax network is
// a classifier, an Identity network a regressor.
const (
	ClassifierAlgorithm = "mlp"
	RegressorAlgorithm  = "mlp-regressor"
)

func init() {
	ml.RegisterModel(ClassifierAlgorithm, func() ml.Model { return &Classifier{} })
	ml.RegisterModel(RegressorAlgorithm, func() ml.Model { return &Regressor{} })
}

// Classifier is a Softmax network as an ml.Classifier, so ml.Evaluate,
// cross-validation and the model store treat it like any other model. Its
// encoding is the ml envelope around the network's own encoding.
type Classifier struct{ Net *Model }

// Regressor is an Identity-output network as an ml.Model.
type Regressor struct{ Net *Model }

// AsModel wraps a trained network for the ml package.
func AsModel(m *Model) ml.Model {
	if m.Output == Identity {
		return &Regressor{Net: m}
	}
	return &Classifier{Net: m}
}

// Algorithm implements ml.Model.
func (*Classifier) Algorithm() string { return ClassifierAlgorithm }

// NumFeatures implements ml.Model.
func (c *Classifier) NumFeatures() int { return c.Net.Inputs() }

// NumClasses implements ml.Classifier.
func (c *Classifier) NumClasses() int { return c.Net.Outputs() }

// ProbaBatch implements ml.Classifier. It panics on a malformed network or
// wrongly sized slices, like the other models' PredictBatch.
func (c *Classifier) ProbaBatch(dst, x []float64, rows int) {
	if err := c.Net.PredictBatch(dst, x, rows); err != nil {
		panic(err)
	}
}

// PredictBatch implements ml.Model: the most probable class of each row.
func (c *Classifier) PredictBatch(dst, x []float64, rows int) {
	k := c.Net.Outputs()
	proba := make([]float64, rows*k)
	c.ProbaBatch(proba, x, rows)
	for i := 0; i < rows; i++ {
		dst[i] = float64(argmax(proba[i*k : (i+1)*k]))
	}
}

// MarshalBinary implements ml.Model.
func (c *Classifier) MarshalBinary() ([]byte, error) { return wrap(ClassifierAlgorithm, c.Net) }

// UnmarshalBinary implements ml.Model.
func (c *Classifier) UnmarshalBinary(data []byte) error {
	m, err := unwrap(ClassifierAlgorithm, data)
	if err != nil {
		return err
	}
	if m.Output != Softmax {
		return fmt.Errorf("%w: an %q model is not a classifier", ErrEncoding, m.Output)
	}
	c.Net = m
	return nil
}

// Algorithm implements ml.Model.
func (*Regressor) Algorithm() string { return RegressorAlgorithm }

// NumFeatures implements ml.Model.
func (r *Regressor) NumFeatures() int { return r.Net.Inputs() }

// PredictBatch implements ml.Model.
func (r *Regressor) PredictBatch(dst, x []float64, rows int) {
	if err := r.Net.PredictBatch(dst[:rows], x, rows); err != nil {
		panic(err)
	}
}

// MarshalBinary implements ml.Model.
func (r *Regressor) MarshalBinary() ([]byte, error) { return wrap(RegressorAlgorithm, r.Net) }

// UnmarshalBinary implements ml.Model.
func (r *Regressor) UnmarshalBinary(data []byte) error {
	m, err := unwrap(RegressorAlgorithm, data)
	if err != nil {
		return err
	}
	if m.Output != Identity {
		return fmt.Errorf("%w: a %q model is not a regressor", ErrEncoding, m.Output)
	}
	r.Net = m
	return nil
}

func wrap(algorithm string, m *Model) ([]byte, error) {
	if m == nil {
		return nil, errors.New("mlp: no network to encode")
	}
	b, err := m.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return ml.AppendModel(nil, algorithm, 1, b), nil
}

func unwrap(algorithm string, data []byte) (*Model, error) {
	h, payload, err := ml.ParseModel(data)
	if err != nil {
		return nil, err
	}
	if h.Algorithm != algorithm {
		return nil, fmt.Errorf("%w: encoded model is %q, not %q", ErrEncoding, h.Algorithm, algorithm)
	}
	if h.PayloadVersion != 1 {
		return nil, &ml.VersionError{What: algorithm + " model", Got: h.PayloadVersion, Want: 1}
	}
	m := new(Model)
	if err := m.UnmarshalBinary(payload); err != nil {
		return nil, err
	}
	return m, nil
}

// Estimator trains networks for ml's model selection (cross-validation,
// grid search).
type Estimator struct{ Config Config }

// FitModel implements ml.Estimator.
func (e Estimator) FitModel(ctx context.Context, x cluster.Executor, ds *cluster.Dataset) (ml.Model, error) {
	r, err := Train(ctx, x, ds, e.Config)
	if err != nil {
		return nil, err
	}
	return AsModel(r.Model), nil
}
