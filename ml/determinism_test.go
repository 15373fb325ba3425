package ml

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/flintml/flint/cluster"
)

// TestSameSeedSameBitsForAnyWorkerCount: with the data cut into the same
// partitions, a fit gives bit-identical coefficients on 1, 2 and 8
// workers, for every optimiser, loss and layout.
func TestSameSeedSameBitsForAnyWorkerCount(t *testing.T) {
	coef := []float64{0.5, -1, 0.25, 0, 0.8, -0.3, 0.1, 0.9, -0.6, 0.2, 0.4, -0.7}
	lin, _, _ := linearData(21, 3000, 6, 0.5, true)
	bin := softmaxData(22, 3000, 6, coef[:6], []float64{0.1}, 0.4, true)
	multi := softmaxData(23, 3000, 4, coef, []float64{0, 0.2, -0.2}, 0.4, false)
	type fitter func(ctx context.Context, e *testEngine) ([]float64, error)
	cases := map[string]fitter{}
	for _, method := range []Method{LBFGS, GD, SGD} {
		opt := Settings{Method: method, MaxIter: 25, Tol: -1, MiniBatchFraction: 0.3, Seed: 99, StepSize: 0.5}
		for _, sparse := range []bool{false, true} {
			name := fmt.Sprintf("method=%v/sparse=%v", method, sparse)
			cases[name+"/loss=squared"] = func(ctx context.Context, e *testEngine) ([]float64, error) {
				m, err := LinearRegression{RegParam: 0.01, ElasticNetParam: 0.3, Solver: "iterative", Optimizer: opt}.Fit(ctx, e.Engine, e.load(lin, sparse))
				if err != nil {
					return nil, err
				}
				return append(m.Coef, m.Intercept), nil
			}
			cases[name+"/loss=logistic"] = func(ctx context.Context, e *testEngine) ([]float64, error) {
				m, err := LogisticRegression{RegParam: 0.01, Optimizer: opt}.Fit(ctx, e.Engine, e.load(bin, sparse))
				if err != nil {
					return nil, err
				}
				return append(m.Coef, m.Intercept...), nil
			}
			cases[name+"/loss=softmax"] = func(ctx context.Context, e *testEngine) ([]float64, error) {
				m, err := LogisticRegression{RegParam: 0.01, ElasticNetParam: 0.5, Optimizer: opt}.Fit(ctx, e.Engine, e.load(multi, sparse))
				if err != nil {
					return nil, err
				}
				return append(m.Coef, m.Intercept...), nil
			}
		}
	}
	for name, fit := range cases {
		t.Run(name, func(t *testing.T) {
			var first []float64
			for _, workers := range []int{1, 2, 8} {
				e := &testEngine{t: t, Engine: newEngine(t, workers)}
				got, err := fit(context.Background(), e)
				if err != nil {
					t.Fatal(err)
				}
				if first == nil {
					first = got
					continue
				}
				for j := range got {
					if math.Float64bits(got[j]) != math.Float64bits(first[j]) {
						t.Fatalf("%d workers: parameter %d is %v, with 1 worker %v", workers, j, got[j], first[j])
					}
				}
			}
		})
	}
}

// TestSGDBatchesDependOnSeed: a different seed samples different batches,
// so the fit differs; the same seed reproduces it.
func TestSGDBatchesDependOnSeed(t *testing.T) {
	s, _, _ := linearData(5, 2000, 4, 0.5, false)
	e := newEngine(t, 2)
	ds := s.dense(t, e, 4)
	fit := func(seed uint64) []float64 {
		m, err := LinearRegression{Solver: "iterative", Optimizer: Settings{Method: SGD, MaxIter: 30, MiniBatchFraction: 0.2, Seed: seed, StepSize: 0.5}}.Fit(context.Background(), e, ds)
		if err != nil {
			t.Fatal(err)
		}
		return append(m.Coef, m.Intercept)
	}
	a, b, c := fit(1), fit(1), fit(2)
	if maxAbsDiff(a, b) != 0 {
		t.Fatalf("the same seed gave different fits: %v and %v", a, b)
	}
	if maxAbsDiff(a, c) == 0 {
		t.Fatalf("seeds 1 and 2 gave the same fit %v", a)
	}
}

// testEngine loads synthetic data with the same 6 partitions on any engine.
type testEngine struct {
	t *testing.T
	*cluster.Engine
}

func (e *testEngine) load(s synth, sparse bool) *cluster.Dataset {
	if sparse {
		return s.sparse(e.t, e.Engine, 6)
	}
	return s.dense(e.t, e.Engine, 6)
}
