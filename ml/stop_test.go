package ml

import (
	"context"
	"math"
	"strings"
	"testing"
)

// plusOne is an objective shifted up by 1, so that its minimum is not 0
// and the relative function test can pass.
type plusOne struct{ *funcObjective }

func (o plusOne) Eval(ctx context.Context, grad, x []float64) (float64, error) {
	f, err := o.funcObjective.Eval(ctx, grad, x)
	return f + 1, err
}

func (o plusOne) EvalBatch(ctx context.Context, grad, x []float64, _ Batch) (float64, error) {
	return o.Eval(ctx, grad, x)
}

// TestStopReasons: every method says why it stopped, in Result.Stop and in
// the Stop of its last Progress report (empty on every other report), and
// reports each iteration exactly once, the failed one of a line search
// included.
func TestStopReasons(t *testing.T) {
	l1 := []float64{0.01, 0.01, 0.01, 0.01}
	rosen := func() Objective { return rosenbrock(4) }
	shifted := func() Objective { return plusOne{rosenbrock(4)} }
	quad := func() Objective { return quadratic([]float64{1, 2, 3, 4}, []float64{1, 10, 3, 7}) }
	cases := []struct {
		name   string
		obj    func() Objective
		l1     []float64
		s      Settings
		status Status
		stop   string // the start of Result.Stop
	}{
		{"lbfgs/max-iter", rosen, nil, Settings{MaxIter: 5, Tol: -1}, IterationLimit, "max_iter 5 reached"},
		{"lbfgs/converged", shifted, nil, Settings{}, Converged, "converged: relative loss change "},
		{"lbfgs/gradient", quad, nil, Settings{Tol: -1, GradTol: 1e-6}, GradientConverged, "converged: gradient norm "},
		{"lbfgs/line-search", rosen, nil, Settings{MaxIter: 1000, Tol: -1}, LineSearchFailed, "line search failed: "},
		{"owlqn/max-iter", rosen, l1, Settings{MaxIter: 5, Tol: -1}, IterationLimit, "max_iter 5 reached"},
		{"owlqn/converged", rosen, l1, Settings{MaxIter: 1000}, Converged, "converged: relative loss change "},
		{"owlqn/gradient", quad, l1, Settings{Tol: -1, GradTol: 1e-6}, GradientConverged, "converged: gradient norm "},
		{"gd/max-iter", rosen, nil, Settings{Method: GD, MaxIter: 5, Tol: -1}, IterationLimit, "max_iter 5 reached"},
		{"gd/converged", shifted, nil, Settings{Method: GD, MaxIter: 10000}, Converged, "converged: relative loss change "},
		{"gd/gradient", quad, nil, Settings{Method: GD, Tol: -1, GradTol: 1e-6}, GradientConverged, "converged: gradient norm "},
		{"gd/zero-gradient", quad, nil, Settings{Method: GD, MaxIter: 1000, Tol: -1}, GradientConverged, "converged: the gradient is zero"},
		{"gd/line-search", rosen, l1, Settings{Method: GD, MaxIter: 100000, Tol: -1}, LineSearchFailed, "line search failed: "},
		{"sgd/max-iter", rosen, nil, Settings{Method: SGD, MaxIter: 5, StepSize: 1e-3, Tol: -1}, IterationLimit, "max_iter 5 reached"},
		{"sgd/converged", quad, nil, Settings{Method: SGD, MaxIter: 10000, StepSize: 0.05, Tol: 1e-4}, Converged, "converged: relative parameter change "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var reports []Progress
			s := c.s
			s.Progress = func(p Progress) bool { reports = append(reports, p); return false }
			res, err := Minimize(context.Background(), c.obj(), []float64{-1.2, 1, -1.2, 1}, c.l1, s)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != c.status || !strings.HasPrefix(res.Stop, c.stop) {
				t.Fatalf("%v, %q after %d iterations; want %v, %q...", res.Status, res.Stop, res.Iterations, c.status, c.stop)
			}
			first := 0
			if c.s.Method == SGD {
				first = 1
			}
			checkReports(t, reports, res, first)
			if c.status == LineSearchFailed {
				if h := res.History; h[len(h)-1] != h[len(h)-2] {
					t.Errorf("the failed iteration reports loss %v, the one before %v: want the same point", h[len(h)-1], h[len(h)-2])
				}
			}
		})
	}
}

// checkReports fails unless the reports number the iterations first,
// first+1, ... Result.Iterations once each, match the history, and only
// the last has a Stop, Result's.
func checkReports(t *testing.T, reports []Progress, res *Result, first int) {
	t.Helper()
	if len(reports) == 0 {
		t.Fatal("no reports")
	}
	for i, p := range reports {
		if p.Iter != first+i {
			t.Fatalf("report %d is of iteration %d, want %d", i, p.Iter, first+i)
		}
		if p.Stop != "" && i < len(reports)-1 {
			t.Errorf("report of iteration %d (not the last) has Stop %q", p.Iter, p.Stop)
		}
		if i < len(res.History) && math.Float64bits(res.History[i]) != math.Float64bits(p.Loss) {
			t.Errorf("report of iteration %d has loss %v, History %v", p.Iter, p.Loss, res.History[i])
		}
	}
	last := reports[len(reports)-1]
	if last.Iter != res.Iterations || len(res.History) != len(reports) {
		t.Errorf("last report of iteration %d, %d reports; Result: %d iterations, %d history values", last.Iter, len(reports), res.Iterations, len(res.History))
	}
	if last.Stop != res.Stop {
		t.Errorf("last report's Stop %q, Result.Stop %q", last.Stop, res.Stop)
	}
}

// TestStopByCallback: a run the callback stops says so in Result.Stop; the
// report the callback stopped at is the last, without a Stop of its own.
func TestStopByCallback(t *testing.T) {
	for _, m := range []Method{LBFGS, GD, SGD} {
		t.Run(m.String(), func(t *testing.T) {
			var reports []Progress
			s := Settings{Method: m, MaxIter: 50, Tol: -1, StepSize: 1e-3, Progress: func(p Progress) bool {
				reports = append(reports, p)
				return p.Iter == 3
			}}
			res, err := Minimize(context.Background(), rosenbrock(2), []float64{-1.2, 1}, nil, s)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != Stopped || res.Stop != "stopped by the progress callback" {
				t.Fatalf("%v, %q", res.Status, res.Stop)
			}
			if last := reports[len(reports)-1]; last.Iter != 3 || last.Stop != "" {
				t.Errorf("last report %+v", last)
			}
		})
	}
}

// TestStopOnResume: a resumed run ends with the same stop reason as the
// uninterrupted one (GD, bit for bit, so the same numbers too).
func TestStopOnResume(t *testing.T) {
	var states []*State
	s := Settings{Method: GD, MaxIter: 10000, Checkpointing: Checkpointing[State]{CheckpointEvery: 5,
		Checkpoint: func(st *State) error { states = append(states, st); return nil }}}
	full, err := Minimize(context.Background(), plusOne{rosenbrock(4)}, []float64{-1.2, 1, -1.2, 1}, nil, s)
	if err != nil || len(states) == 0 {
		t.Fatalf("%v, %d checkpoints", err, len(states))
	}
	rs := Settings{Method: GD, MaxIter: 10000, Checkpointing: Checkpointing[State]{Resume: states[len(states)/2]}}
	got, err := Minimize(context.Background(), plusOne{rosenbrock(4)}, nil, nil, rs)
	if err != nil {
		t.Fatal(err)
	}
	if got.Stop != full.Stop || full.Stop == "" {
		t.Errorf("resumed run stopped with %q, the uninterrupted one with %q", got.Stop, full.Stop)
	}
}

// TestStopNormalEquations: the direct solve's one report says how it
// ended.
func TestStopNormalEquations(t *testing.T) {
	e := newEngine(t, 2)
	lin, _, _ := linearData(5, 200, 3, 0.1, false)
	var stops []string
	m, err := LinearRegression{Optimizer: Settings{Progress: func(p Progress) bool { stops = append(stops, p.Stop); return false }}}.Fit(context.Background(), e, lin.dense(t, e, 2))
	if err != nil {
		t.Fatal(err)
	}
	if len(stops) != 1 || stops[0] != "solved the normal equations" || m.Summary.Stop != stops[0] {
		t.Errorf("reports' Stop %q, Summary.Stop %q", stops, m.Summary.Stop)
	}
}
