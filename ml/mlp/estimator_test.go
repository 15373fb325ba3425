package mlp

import (
	"context"
	"math"
	"testing"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/internal/datasets"
	"github.com/flintml/flint/ml"
)

// An MLP goes through ml's envelope and evaluation like the built-in models.
func TestClassifierThroughML(t *testing.T) {
	s, err := datasets.Sklearn("iris")
	if err != nil {
		t.Fatal(err)
	}
	for i := range s.X { // iris features are in centimetres; scale them down
		s.X[i] /= 8
	}
	e := cluster.NewEngine(cluster.Config{Workers: 2})
	defer e.Close()
	ds, err := e.FromDense(context.Background(), "iris", s.X, s.Rows, s.Cols, s.Y, nil, 3)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Estimator{Config: Config{Hidden: []int{16}, Epochs: 300, BatchSize: 50, LearningRate: 0.01, Seed: 3}}.FitModel(context.Background(), e, ds)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ml.UnmarshalModel(enc)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := back.(ml.Classifier)
	if !ok || back.Algorithm() != "mlp" || c.NumClasses() != 3 || back.NumFeatures() != 4 {
		t.Fatalf("decoded %T %q", back, back.Algorithm())
	}
	ev, err := ml.Evaluate(context.Background(), e, ds, back)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Accuracy < 0.9 || math.IsNaN(ev.LogLoss) {
		t.Fatalf("iris training accuracy %.3f, log-loss %v; want ≥ 0.9", ev.Accuracy, ev.LogLoss)
	}
	if err := (&Regressor{}).UnmarshalBinary(enc); err == nil {
		t.Fatal("a classifier decoded as a regressor")
	}
}
