package mlp

import (
	"context"
	"strings"
	"testing"

	"github.com/flintml/flint/cluster"
)

// A network started from an earlier network's weights (trained on other
// rows of the same problem) stops, by the loss test, in fewer iterations
// than one started from the seeded draw; weights of the wrong length are
// an error naming both lengths.
func TestInitialParams(t *testing.T) {
	s := digits(t)
	e := newEngine(t, 2)
	ds, err := e.FromDense(context.Background(), "digits", s.X, s.Rows, s.Cols, s.Y, nil, 4)
	if err != nil {
		t.Fatal(err)
	}
	older, newer, err := cluster.RandomSplit(context.Background(), e, ds, 0.5, 3)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Hidden: []int{32}, BatchSize: 64, Epochs: 500, LearningRate: 3e-3, Tol: 1e-3, Seed: 1}
	prev, err := Train(context.Background(), e, older, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cold, err := Train(context.Background(), e, newer, cfg)
	if err != nil {
		t.Fatal(err)
	}
	wcfg := cfg
	wcfg.InitialParams = prev.Model.Params
	warm, err := Train(context.Background(), e, newer, wcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cold %d iterations (loss %.4f), warm %d (loss %.4f)", cold.Iterations, cold.Loss, warm.Iterations, warm.Loss)
	if warm.Iterations >= cold.Iterations {
		t.Errorf("warm start ran %d iterations, cold %d", warm.Iterations, cold.Iterations)
	}
	bad := cfg
	bad.InitialParams = []float64{1, 2, 3}
	if _, err := Train(context.Background(), e, newer, bad); err == nil || !strings.Contains(err.Error(), "InitialParams has 3 values; a network of layer sizes [64 32 10] has 2410") {
		t.Fatalf("weights of the wrong length: %v", err)
	}
}
