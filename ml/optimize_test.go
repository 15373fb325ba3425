package ml

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/optimize/functions"
)

// funcObjective adapts a plain function and gradient, counting the
// evaluations and remembering the points.
type funcObjective struct {
	dim    int
	f      func(grad, x []float64) float64
	calls  int
	points [][]float64
}

func (o *funcObjective) Dim() int { return o.dim }

func (o *funcObjective) Eval(ctx context.Context, grad, x []float64) (float64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	o.calls++
	o.points = append(o.points, append([]float64(nil), x...))
	return o.f(grad, x), nil
}

// EvalBatch evaluates the full function: a batch of everything.
func (o *funcObjective) EvalBatch(ctx context.Context, grad, x []float64, _ Batch) (float64, error) {
	return o.Eval(ctx, grad, x)
}

func rosenbrock(dim int) *funcObjective {
	return &funcObjective{dim: dim, f: func(grad, x []float64) float64 {
		functions.ExtendedRosenbrock{}.Grad(grad, x)
		return functions.ExtendedRosenbrock{}.Func(x)
	}}
}

// quadratic is ½Σ cⱼ(xⱼ − aⱼ)².
func quadratic(a, c []float64) *funcObjective {
	return &funcObjective{dim: len(a), f: func(grad, x []float64) float64 {
		var f float64
		for j := range x {
			d := x[j] - a[j]
			f += 0.5 * c[j] * d * d
			grad[j] = c[j] * d
		}
		return f
	}}
}

func TestMinimizeRosenbrock(t *testing.T) {
	for _, method := range []Method{LBFGS, GD} {
		t.Run(method.String(), func(t *testing.T) {
			obj := rosenbrock(4)
			maxIter := 200
			if method == GD {
				maxIter = 20000
			}
			res, err := Minimize(context.Background(), obj, []float64{-1.2, 1, -1.2, 1}, nil, Settings{Method: method, MaxIter: maxIter, Tol: -1, GradTol: 1e-8})
			if err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiff(res.X, []float64{1, 1, 1, 1}); d > 1e-6 {
				t.Fatalf("minimum at %v (%v after %d iterations), want all ones", res.X, res.Status, res.Iterations)
			}
			if res.Status != GradientConverged && res.Status != LineSearchFailed {
				t.Errorf("status %v", res.Status)
			}
			if res.Evaluations != obj.calls {
				t.Errorf("Result.Evaluations %d, objective called %d times", res.Evaluations, obj.calls)
			}
		})
	}
}

// TestLBFGSEvaluatesEachPointOnce: gonum asks for the function and the
// gradient separately; each point must still cost one pass.
func TestLBFGSEvaluatesEachPointOnce(t *testing.T) {
	obj := rosenbrock(6)
	res, err := Minimize(context.Background(), obj, []float64{-1.2, 1, -1.2, 1, -1.2, 1}, nil, Settings{MaxIter: 100})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for i, p := range obj.points {
		key := fmt.Sprint(p)
		if j, dup := seen[key]; dup {
			t.Fatalf("evaluation %d repeats the point of evaluation %d", i, j)
		}
		seen[key] = i
	}
	if res.Evaluations > 2*res.Iterations+2 {
		t.Errorf("%d evaluations for %d iterations", res.Evaluations, res.Iterations)
	}
}

// TestOWLQNSoftThreshold: ½Σcⱼ(xⱼ−aⱼ)² + Σλⱼ|xⱼ| is minimised by
// xⱼ = sign(aⱼ)·max(|aⱼ| − λⱼ/cⱼ, 0).
func TestOWLQNSoftThreshold(t *testing.T) {
	a := []float64{3, -2, 0.5, -0.1, 1, 0}
	c := []float64{1, 2, 1, 4, 0.5, 1}
	l1 := []float64{1, 1, 1, 1, 0, 1}
	want := make([]float64, len(a))
	for j := range a {
		want[j] = math.Copysign(math.Max(math.Abs(a[j])-l1[j]/c[j], 0), a[j])
	}
	for _, method := range []Method{LBFGS, GD, SGD} {
		t.Run(method.String(), func(t *testing.T) {
			s := Settings{Method: method, MaxIter: 500, Tol: -1, GradTol: 1e-12}
			if method == SGD {
				s = Settings{Method: SGD, MaxIter: 5000, StepSize: 0.2, Tol: 1e-12}
			}
			res, err := Minimize(context.Background(), quadratic(a, c), make([]float64, len(a)), l1, s)
			if err != nil {
				t.Fatal(err)
			}
			tol := 1e-9
			if method == SGD {
				tol = 1e-3
			}
			if d := maxAbsDiff(res.X, want); d > tol {
				t.Fatalf("minimum %v (%v after %d iterations), want %v", res.X, res.Status, res.Iterations, want)
			}
			if method != SGD {
				for j := range want {
					if (want[j] == 0) != (res.X[j] == 0) {
						t.Errorf("x[%d] = %g, want %g: L1 must give exact zeros", j, res.X[j], want[j])
					}
				}
			}
		})
	}
}

func TestProgressCallbackAndStop(t *testing.T) {
	for _, method := range []Method{LBFGS, GD, SGD} {
		t.Run(method.String(), func(t *testing.T) {
			var iters []int
			s := Settings{Method: method, MaxIter: 50, Tol: -1, StepSize: 0.001, Progress: func(p Progress) bool {
				iters = append(iters, p.Iter)
				if p.Evals < 1 || p.Elapsed <= 0 || math.IsNaN(p.Loss) || p.GradNorm < 0 {
					t.Errorf("progress %+v", p)
				}
				return p.Iter == 4
			}}
			res, err := Minimize(context.Background(), rosenbrock(2), []float64{-1.2, 1}, nil, s)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != Stopped || res.Iterations != 4 {
				t.Fatalf("status %v after %d iterations, want stopped after 4", res.Status, res.Iterations)
			}
			first := 0
			if method == SGD {
				first = 1 // SGD does not evaluate its starting point
			}
			for i, it := range iters {
				if it != first+i {
					t.Fatalf("callback saw iterations %v", iters)
				}
			}
			if len(res.History) != len(iters) {
				t.Errorf("history %v for iterations %v", res.History, iters)
			}
		})
	}
}

func TestIterationLimitAndConvergence(t *testing.T) {
	res, err := Minimize(context.Background(), rosenbrock(2), []float64{-1.2, 1}, nil, Settings{MaxIter: 3, Tol: -1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != IterationLimit || res.Iterations != 3 || len(res.History) != 4 {
		t.Fatalf("status %v, %d iterations, history %v", res.Status, res.Iterations, res.History)
	}
	res, err = Minimize(context.Background(), quadratic([]float64{1, 2}, []float64{1, 10}), []float64{0, 0}, nil, Settings{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != Converged && res.Status != GradientConverged && res.Status != LineSearchFailed {
		t.Fatalf("status %v after %d iterations", res.Status, res.Iterations)
	}
	if d := maxAbsDiff(res.X, []float64{1, 2}); d > 1e-5 {
		t.Fatalf("minimum %v", res.X)
	}
}

// TestCancelStopsEveryMethod: cancelling the context from the callback
// stops the run at the next pass, with an error that wraps
// context.Canceled, through gonum's Problem.Status for L-BFGS.
func TestCancelStopsEveryMethod(t *testing.T) {
	s := softmaxData(4, 2000, 5, []float64{1, -1, 0.5, 0, 0.2}, []float64{0}, 0, false)
	e := newEngine(t, 2)
	ds := s.dense(t, e, 4)
	for _, c := range []struct {
		method Method
		l1     float64
	}{{LBFGS, 0}, {LBFGS, 1}, {GD, 0}, {SGD, 0}} {
		t.Run(fmt.Sprintf("%v/l1=%v", c.method, c.l1), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			last := 0
			lr := LogisticRegression{RegParam: 0.01, ElasticNetParam: c.l1, Optimizer: Settings{Method: c.method, MaxIter: 100, Tol: -1,
				Progress: func(p Progress) bool {
					last = p.Iter
					if p.Iter == 2 {
						cancel()
					}
					return false
				}}}
			_, err := lr.Fit(ctx, e, ds)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("error %v, want one wrapping context.Canceled", err)
			}
			if last > 3 {
				t.Errorf("ran to iteration %d after the cancel at 2", last)
			}
		})
	}
}

// TestEvaluationErrorStopsLBFGS: an error in a pass (here a bad label)
// reaches the caller through gonum's Status, naming where it was.
func TestEvaluationErrorStopsLBFGS(t *testing.T) {
	obj := &failing{n: 3, failAt: 4}
	_, err := Minimize(context.Background(), obj, []float64{1, 2, 3}, nil, Settings{})
	if err == nil || !strings.Contains(err.Error(), "worker 3 is gone") {
		t.Fatalf("error %v", err)
	}
}

type failing struct{ n, calls, failAt int }

func (f *failing) Dim() int { return f.n }
func (f *failing) Eval(_ context.Context, grad, x []float64) (float64, error) {
	f.calls++
	if f.calls == f.failAt {
		return 0, errors.New("worker 3 is gone")
	}
	copy(grad, x)
	return 0.5 * floats.Dot(x, x), nil
}

func TestSettingsValidate(t *testing.T) {
	for _, c := range []struct {
		s    Settings
		want string
	}{
		{Settings{MaxIter: -1}, "MaxIter must be >= 0, got -1"},
		{Settings{Method: SGD + 1}, "Method 3"},
		{Settings{GradTol: -1}, "GradTol must be >= 0"},
		{Settings{Memory: -2}, "Memory must be >= 0"},
		{Settings{StepSize: math.Inf(1)}, "StepSize must be a finite number"},
		{Settings{MiniBatchFraction: 1.5}, "MiniBatchFraction must be in (0, 1]"},
		{Settings{Tol: math.NaN()}, "Tol is NaN"},
	} {
		if err := c.s.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error containing %q", c.s, err, c.want)
		}
	}
	if _, err := Minimize(context.Background(), quadratic([]float64{1}, []float64{1}), []float64{0, 0}, nil, Settings{}); err == nil {
		t.Error("x0 of the wrong length: no error")
	}
	if _, err := Minimize(context.Background(), quadratic([]float64{1}, []float64{1}), []float64{0}, []float64{-1}, Settings{}); err == nil {
		t.Error("negative L1 weight: no error")
	}
	if _, err := ParseMethod("newton"); err == nil {
		t.Error(`ParseMethod("newton"): no error`)
	}
	for _, m := range []Method{LBFGS, GD, SGD} {
		if got, err := ParseMethod(m.String()); err != nil || got != m {
			t.Errorf("ParseMethod(%q) = %v, %v", m.String(), got, err)
		}
	}
}

// A correction pair that fails the curvature test leaves a full history as
// it was: the slot it would have taken holds the oldest pair, still in use.
func TestLBFGSHistoryRejectedPairKeepsOldest(t *testing.T) {
	h := newLBFGSHistory(2, 2)
	zero := []float64{0, 0}
	h.push([]float64{1, 0}, zero, []float64{2, 0}, zero) // s=(1,0) y=(2,0)
	h.push([]float64{0, 1}, zero, []float64{0, 3}, zero) // s=(0,1) y=(0,3)
	d := []float64{1, 1}
	h.apply(d)
	want := append([]float64(nil), d...)
	h.push([]float64{1, 0}, zero, []float64{-1, 0}, zero) // sᵀy < 0: rejected
	if h.len != 2 {
		t.Fatalf("history holds %d pairs, want 2", h.len)
	}
	d = []float64{1, 1}
	h.apply(d)
	if d[0] != want[0] || d[1] != want[1] {
		t.Fatalf("after a rejected pair H·d = %v, before %v", d, want)
	}
}

// Progress.Step is the step length each iteration took: 0 at the starting
// point, and ‖x_k − x_{k−1}‖ / ‖g_{k−1}‖ where the direction is the
// negative gradient (every GD and SGD iteration without L1, L-BFGS's
// first). x_k is the result of the same run stopped at k iterations.
func TestProgressStep(t *testing.T) {
	x0 := []float64{-1.2, 1}
	g0 := make([]float64, 2)
	rosenbrock(2).f(g0, x0)
	for _, tc := range []struct {
		name    string
		method  Method
		l1      bool // LBFGS with an L1 term runs OWL-QN
		checked int  // iterations whose move is checked against the step
	}{{"L-BFGS", LBFGS, false, 1}, {"GD", GD, false, 6}, {"SGD", SGD, false, 6}, {"OWL-QN", LBFGS, true, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			run := func(maxIter int) ([]Progress, []float64) {
				var ps []Progress
				var l1 []float64
				if tc.l1 {
					l1 = []float64{0.01, 0.01}
				}
				s := Settings{Method: tc.method, MaxIter: maxIter, Tol: -1, StepSize: 0.001, MiniBatchFraction: 1,
					Progress: func(p Progress) bool { ps = append(ps, p); return false }}
				res, err := Minimize(context.Background(), rosenbrock(2), x0, l1, s)
				if err != nil {
					t.Fatal(err)
				}
				return ps, res.X
			}
			ps, _ := run(6)
			gnorm := map[int]float64{0: floats.Norm(g0, 2)}
			for _, p := range ps {
				gnorm[p.Iter] = p.GradNorm
				switch {
				case p.Iter == 0 && p.Step != 0:
					t.Errorf("iteration 0 has step %v, want 0", p.Step)
				case p.Iter > 0 && !(p.Step > 0 && !math.IsInf(p.Step, 0)):
					t.Errorf("iteration %d has step %v, want a positive length", p.Iter, p.Step)
				}
			}
			if len(ps) == 0 || ps[len(ps)-1].Iter != 6 {
				t.Fatalf("reports %+v, want iterations up to 6", ps)
			}
			prev := x0
			for k := 1; k <= tc.checked; k++ {
				_, xk := run(k)
				p := ps[k-ps[0].Iter]
				g := gnorm[k-1]
				if tc.method == SGD {
					g = p.GradNorm // SGD reports the gradient of the batch it stepped along
				}
				if got, want := floats.Distance(xk, prev, 2), p.Step*g; math.Abs(got-want) > 1e-9*math.Max(1, want) {
					t.Errorf("iteration %d moved %v, step %v × gradient norm %v = %v", k, got, p.Step, g, want)
				}
				prev = xk
			}
		})
	}
}
