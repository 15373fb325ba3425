package ml

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/flintml/flint/ml/internal/mltest"
)

// sameResult fails unless the two results agree bit for bit.
func sameResult(t *testing.T, what string, got, want *Result) {
	t.Helper()
	switch {
	case !mltest.BitsEqual(got.X, want.X):
		t.Errorf("%s: X differs: %v, want %v", what, got.X, want.X)
	case math.Float64bits(got.F) != math.Float64bits(want.F) || math.Float64bits(got.GradNorm) != math.Float64bits(want.GradNorm):
		t.Errorf("%s: F, GradNorm = %v, %v, want %v, %v", what, got.F, got.GradNorm, want.F, want.GradNorm)
	case !mltest.BitsEqual(got.History, want.History):
		t.Errorf("%s: History differs:\n%v\nwant\n%v", what, got.History, want.History)
	case got.Iterations != want.Iterations || got.Evaluations != want.Evaluations || got.Status != want.Status:
		t.Errorf("%s: %d iterations, %d evaluations, %v; want %d, %d, %v", what,
			got.Iterations, got.Evaluations, got.Status, want.Iterations, want.Evaluations, want.Status)
	}
}

// sometimesEmpty is a quadratic whose mini-batches are noisy in a way that
// depends on the batch (so a resumed SGD must sample the same batches),
// and empty every fourth iteration (so it must skip the same ones).
type sometimesEmpty struct{ a []float64 }

func (o *sometimesEmpty) Dim() int { return len(o.a) }

func (o *sometimesEmpty) Eval(_ context.Context, grad, x []float64) (float64, error) {
	return o.batch(grad, x, 0), nil
}

func (o *sometimesEmpty) EvalBatch(_ context.Context, grad, x []float64, b Batch) (float64, error) {
	if b.Iter%4 == 2 {
		return 0, ErrEmptyBatch
	}
	return o.batch(grad, x, mixBits(b.Seed, uint64(b.Iter))), nil
}

func (o *sometimesEmpty) batch(grad, x []float64, h uint64) float64 {
	var f float64
	for j := range x {
		noise := float64(int64(h>>(j%8*8))&0xff-128) / 512
		d := x[j] - o.a[j] - noise
		f += 0.5 * d * d
		grad[j] = d
	}
	return f
}

func mixBits(a, b uint64) uint64 {
	z := a*0x9e3779b97f4a7c15 ^ b
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// exactCases are the methods whose resumed runs must be bit-identical.
var exactCases = []struct {
	name string
	obj  func() Objective
	l1   []float64
	s    Settings
}{
	{"gd/rosenbrock", func() Objective { return rosenbrock(4) }, nil, Settings{Method: GD, MaxIter: 40, Tol: -1}},
	{"gd/l1", func() Objective { return quadratic([]float64{3, -2, 0.5, -0.1}, []float64{1, 20, 1, 4}) },
		[]float64{1, 1, 0, 1}, Settings{Method: GD, MaxIter: 40, Tol: 1e-14}},
	{"sgd/empty-batches", func() Objective { return &sometimesEmpty{a: []float64{1, -2, 3}} }, nil,
		Settings{Method: SGD, MaxIter: 40, StepSize: 0.5, Seed: 7, Tol: -1}},
	{"sgd/l1", func() Objective { return &sometimesEmpty{a: []float64{1, -2, 0.01}} }, []float64{0.1, 0.1, 0.1},
		Settings{Method: SGD, MaxIter: 40, StepSize: 0.5, Seed: 9, Tol: 1e-9}},
	{"owlqn/rosenbrock", func() Objective { return rosenbrock(6) }, []float64{0.01, 0.01, 0.01, 0.01, 0.01, 0.01},
		Settings{MaxIter: 40, Memory: 4, Tol: -1}},
	{"owlqn/soft-threshold", func() Objective { return quadratic([]float64{3, -2, 0.5, -0.1, 1}, []float64{1, 2, 1, 4, 0.5}) },
		[]float64{1, 1, 1, 1, 0}, Settings{MaxIter: 40, Memory: 3, Tol: -1, GradTol: 1e-13}},
}

// TestResumeIsBitIdentical: a run resumed from any of its checkpoints, after
// an encode and decode, ends bit for bit where the uninterrupted run ends,
// for GD, SGD and OWL-QN, and checkpointing does not change the run.
func TestResumeIsBitIdentical(t *testing.T) {
	ctx := context.Background()
	for _, c := range exactCases {
		t.Run(c.name, func(t *testing.T) {
			x0 := make([]float64, c.obj().Dim())
			for j := range x0 {
				x0[j] = 0.5 - float64(j%3)
			}
			var fullIters []int
			fs := c.s
			fs.Progress = func(p Progress) bool { fullIters = append(fullIters, p.Iter); return false }
			full, err := Minimize(ctx, c.obj(), x0, c.l1, fs)
			if err != nil {
				t.Fatal(err)
			}
			if full.Iterations < 7 {
				t.Fatalf("the uninterrupted run took %d iterations (%v): too few to checkpoint", full.Iterations, full.Status)
			}

			var states []*State
			s := c.s
			s.CheckpointEvery = 3
			s.Checkpoint = func(st *State) error { states = append(states, st); return nil }
			withCP, err := Minimize(ctx, c.obj(), x0, c.l1, s)
			if err != nil {
				t.Fatal(err)
			}
			sameResult(t, "run with checkpoints", withCP, full)
			// Every third iteration, unless it ended the run.
			if n := len(states); n < (full.Iterations-1)/3 || n > full.Iterations/3 && c.s.Method != SGD {
				t.Errorf("%d checkpoints in %d iterations", len(states), full.Iterations)
			}
			for i, st := range states {
				if st.Iter != 3*(i+1) {
					t.Fatalf("checkpoint %d at iteration %d, want %d", i, st.Iter, 3*(i+1))
				}
			}

			for _, st := range states {
				t.Run(fmt.Sprintf("from=%d", st.Iter), func(t *testing.T) {
					rs := c.s
					rs.Resume = mltest.RoundTrip(t, st)
					var iters []int
					rs.Progress = func(p Progress) bool { iters = append(iters, p.Iter); return false }
					obj := c.obj()
					got, err := Minimize(ctx, obj, nil, c.l1, rs)
					if err != nil {
						t.Fatal(err)
					}
					sameResult(t, "resumed run", got, full)
					after := slices.DeleteFunc(slices.Clone(fullIters), func(i int) bool { return i <= st.Iter })
					if !slices.Equal(iters, after) {
						t.Errorf("the resumed run reported iterations %v, want %v", iters, after)
					}
					if fo, ok := obj.(*funcObjective); ok && got.Evaluations-st.Evaluations != fo.calls {
						t.Errorf("%d evaluations after the state's %d, but the objective was called %d times", got.Evaluations-st.Evaluations, st.Evaluations, fo.calls)
					}
				})
			}
		})
	}
}

// TestResumeLogisticRegression resumes fits through the estimator, on the
// engine: the checkpoint's X lives in the standardised space, and the
// resumed fit maps it back identically. SGD samples real mini-batches.
func TestResumeLogisticRegression(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, 2)
	bin := softmaxData(3, 3000, 6, []float64{0.8, -0.5, 0.3, 0, 1.2, -1}, []float64{-0.4}, 0.2, true).dense(t, e, 4)
	multi := softmaxData(4, 3000, 5, []float64{1, 0, -1, 0.5, 0, 0, 1, -1, 0, 0.5, -0.5, 0, 0, 1, 0}, []float64{0, 0.3, -0.3}, 0.2, false).dense(t, e, 3)
	cases := []struct {
		name   string
		multi  bool
		lr     LogisticRegression
		approx bool // gonum's L-BFGS: same minimum, not the same bits
	}{
		{"gd", false, LogisticRegression{RegParam: 0.01, Optimizer: Settings{Method: GD, MaxIter: 30, Tol: -1}}, false},
		{"sgd", false, LogisticRegression{RegParam: 0.01, Optimizer: Settings{Method: SGD, MaxIter: 30, MiniBatchFraction: 0.2, Seed: 5, Tol: -1}}, false},
		{"owlqn/l1", false, LogisticRegression{RegParam: 0.02, ElasticNetParam: 1, Optimizer: Settings{MaxIter: 30, Tol: 1e-12}}, false},
		{"owlqn/elastic-net", true, LogisticRegression{RegParam: 0.02, ElasticNetParam: 0.5, Optimizer: Settings{MaxIter: 30, Tol: 1e-12}}, false},
		{"lbfgs", true, LogisticRegression{RegParam: 0.01, Optimizer: Settings{MaxIter: 200, Tol: 1e-13}}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ds := bin
			if c.multi {
				ds = multi
			}
			full, err := c.lr.Fit(ctx, e, ds)
			if err != nil {
				t.Fatal(err)
			}
			var states []*State
			lr := c.lr
			lr.Optimizer.CheckpointEvery = 3
			lr.Optimizer.Checkpoint = func(st *State) error { states = append(states, st); return nil }
			if _, err := lr.Fit(ctx, e, ds); err != nil {
				t.Fatal(err)
			}
			if len(states) < 2 {
				t.Fatalf("%d checkpoints in %d iterations", len(states), full.Summary.Iterations)
			}
			for _, st := range []*State{states[0], states[len(states)/2], states[len(states)-1]} {
				lr := c.lr
				lr.Optimizer.Resume = mltest.RoundTrip(t, st)
				got, err := lr.Fit(ctx, e, ds)
				if err != nil {
					t.Fatal(err)
				}
				gs, fs := got.Summary, full.Summary
				if !mltest.BitsEqual(gs.History[:st.Iter+1], fs.History[:st.Iter+1]) {
					t.Errorf("from %d: the resumed history does not start with the checkpoint's", st.Iter)
				}
				if c.approx {
					if gs.Iterations <= st.Iter || len(gs.History) != gs.Iterations+1 {
						t.Errorf("from %d: %d iterations, %d history values", st.Iter, gs.Iterations, len(gs.History))
					}
					if d := math.Abs(gs.Loss-fs.Loss) / math.Abs(fs.Loss); d > 1e-8 {
						t.Errorf("from %d: loss %v, uninterrupted %v (relative difference %.2g)", st.Iter, gs.Loss, fs.Loss, d)
					}
					if d := maxAbsDiff(append(got.Coef, got.Intercept...), append(full.Coef, full.Intercept...)); d > 1e-5 {
						t.Errorf("from %d: coefficients differ by up to %.2g", st.Iter, d)
					}
					continue
				}
				if !mltest.BitsEqual(got.Coef, full.Coef) || !mltest.BitsEqual(got.Intercept, full.Intercept) || !mltest.BitsEqual(gs.History, fs.History) ||
					gs.Iterations != fs.Iterations || gs.Evaluations != fs.Evaluations || gs.Status != fs.Status ||
					math.Float64bits(gs.Loss) != math.Float64bits(fs.Loss) {
					t.Errorf("from %d: resumed fit (%d iterations, %d evaluations, %v, loss %v) differs from the uninterrupted one (%d, %d, %v, %v)",
						st.Iter, gs.Iterations, gs.Evaluations, gs.Status, gs.Loss, fs.Iterations, fs.Evaluations, fs.Status, fs.Loss)
				}
			}
		})
	}
}

// TestResumeLBFGS: gonum's L-BFGS cannot save its curvature pairs, so a
// resumed run is a new L-BFGS from the checkpoint; it must reach the same
// minimum, go on counting iterations from the checkpoint, and not evaluate
// the checkpoint's point again.
func TestResumeLBFGS(t *testing.T) {
	ctx := context.Background()
	x0 := []float64{-1.2, 1, -1.2, 1, -1.2, 1}
	s := Settings{MaxIter: 500, Tol: -1, GradTol: 1e-10}
	full, err := Minimize(ctx, rosenbrock(6), x0, nil, s)
	if err != nil {
		t.Fatal(err)
	}
	var states []*State
	cs := s
	cs.CheckpointEvery = 5
	cs.Checkpoint = func(st *State) error { states = append(states, st); return nil }
	withCP, err := Minimize(ctx, rosenbrock(6), x0, nil, cs)
	if err != nil {
		t.Fatal(err)
	}
	sameResult(t, "run with checkpoints", withCP, full)
	if len(states) < 3 {
		t.Fatalf("%d checkpoints in %d iterations", len(states), full.Iterations)
	}
	for _, st := range []*State{states[0], states[len(states)/2], states[len(states)-1]} {
		t.Run(fmt.Sprintf("from=%d", st.Iter), func(t *testing.T) {
			rs := s
			rs.Resume = mltest.RoundTrip(t, st)
			var iters []int
			rs.Progress = func(p Progress) bool { iters = append(iters, p.Iter); return false }
			obj := rosenbrock(6)
			got, err := Minimize(ctx, obj, nil, nil, rs)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != GradientConverged {
				t.Errorf("status %v after %d iterations", got.Status, got.Iterations)
			}
			if d := maxAbsDiff(got.X, full.X); d > 1e-5 {
				t.Errorf("minimum %v, uninterrupted %v", got.X, full.X)
			}
			if math.Abs(got.F-full.F) > 1e-8*math.Max(math.Abs(full.F), 1e-12) && got.F > 1e-18 {
				t.Errorf("F = %v, uninterrupted %v", got.F, full.F)
			}
			if !mltest.BitsEqual(got.History[:st.Iter+1], full.History[:st.Iter+1]) || len(got.History) != got.Iterations+1 {
				t.Errorf("history of %d values for %d iterations does not continue the checkpoint's", len(got.History), got.Iterations)
			}
			if len(iters) == 0 || iters[0] != st.Iter+1 || iters[len(iters)-1] != got.Iterations {
				t.Errorf("the resumed run reported iterations %v, want %d to %d", iters, st.Iter+1, got.Iterations)
			}
			if got.Evaluations-st.Evaluations != obj.calls {
				t.Errorf("%d evaluations after the state's %d, but the objective was called %d times", got.Evaluations-st.Evaluations, st.Evaluations, obj.calls)
			}
			for _, p := range obj.points {
				if mltest.BitsEqual(p, st.X) {
					t.Error("the resumed run evaluated the checkpoint's point again")
				}
			}
		})
	}
}

// stateOf runs a few iterations of a method and returns its first
// checkpoint.
func stateOf(t testing.TB, m Method, dim int, l1 []float64, memory int) *State {
	t.Helper()
	var st *State
	s := Settings{Method: m, MaxIter: 10, Tol: -1, Memory: memory, StepSize: 0.1,
		Checkpointing: Checkpointing[State]{CheckpointEvery: 2, Checkpoint: func(s *State) error {
			if st == nil {
				st = s
			}
			return nil
		}}}
	x0 := make([]float64, dim)
	for j := range x0 {
		x0[j] = float64(j) - 1
	}
	obj := Objective(rosenbrock(dim))
	if m == SGD {
		a := make([]float64, dim)
		for j := range a {
			a[j] = float64(j)
		}
		obj = &sometimesEmpty{a: a}
	}
	if _, err := Minimize(context.Background(), obj, x0, l1, s); err != nil {
		t.Fatal(err)
	}
	if st == nil {
		t.Fatalf("%v on %d parameters took no checkpoint", m, dim)
	}
	return st
}

func TestResumeRejectsMismatch(t *testing.T) {
	l1 := []float64{0.1, 0.1, 0.1, 0.1}
	gd, owlqn := stateOf(t, GD, 4, nil, 0), stateOf(t, LBFGS, 4, l1, 5)
	cases := []struct {
		name string
		st   *State
		l1   []float64
		dim  int
		s    Settings
		want string
	}{
		{"method", gd, nil, 4, Settings{Method: SGD}, "written by gd, this run uses sgd"},
		{"owlqn for lbfgs", owlqn, nil, 4, Settings{Memory: 5}, "written by owlqn, this run uses lbfgs"},
		{"dimension", gd, nil, 6, Settings{Method: GD}, "the state has 4 parameters, the objective 6"},
		{"l1 added", gd, l1, 4, Settings{Method: GD}, "this run has an L1 term and the state's run had none"},
		{"memory", owlqn, l1, 4, Settings{Memory: 7}, "keeps 5 correction pairs (Settings.Memory), this run 7"},
		{"max iter", gd, nil, 4, Settings{Method: GD, MaxIter: 1}, "at iteration 2, beyond Settings.MaxIter = 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.s.Resume = mltest.RoundTrip(t, c.st)
			ll := c.l1
			if ll != nil {
				ll = ll[:min(len(ll), c.dim)]
			}
			_, err := Minimize(context.Background(), rosenbrock(c.dim), nil, ll, c.s)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one saying %q", err, c.want)
			}
		})
	}
}

func TestStateDecodeErrors(t *testing.T) {
	good, err := stateOf(t, LBFGS, 4, []float64{0.1, 0.1, 0.1, 0.1}, 3).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	h, payload, err := ParseState(good)
	if err != nil || h.Algorithm != "owlqn" || h.PayloadVersion != stateVersion {
		t.Fatalf("header %+v, %v", h, err)
	}
	model, err := (&LinearModel{Coef: []float64{1}}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "bad magic"},
		{"a model", model, "not an encoded checkpoint state"},
		{"another algorithm", AppendState(nil, "kmeans", 1, payload), `of "kmeans", not of a Minimize method`},
		{"newer payload", AppendState(nil, "owlqn", 2, payload), "owlqn state encoding version 2 is unknown"},
		{"truncated", good[:len(good)-3], "truncated"},
		{"trailing byte", AppendState(nil, "owlqn", 1, append(slices.Clone(payload), 0)), "unexpected bytes"},
		{"l1 flag", AppendState(nil, "lbfgs", 1, payload), "l1 flag says owlqn"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var st State
			err := st.UnmarshalBinary(c.data)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one saying %q", err, c.want)
			}
		})
	}
	var ve *VersionError
	if err := new(State).UnmarshalBinary(AppendState(nil, "gd", 9, nil)); !errors.As(err, &ve) {
		t.Errorf("error %v for a newer payload, want a *VersionError", err)
	}
	if err := new(State).UnmarshalBinary(model); !errors.Is(err, ErrNotState) {
		t.Errorf("error %v for a model, want ErrNotState", err)
	}
	if _, err := (&State{Method: GD, X: []float64{1}}).MarshalBinary(); err == nil {
		t.Error("a GD state without its gradient encoded")
	}
}

func TestCheckpointErrorStopsTheRun(t *testing.T) {
	boom := errors.New("store is down")
	for _, c := range exactCases {
		t.Run(c.name, func(t *testing.T) {
			s := c.s
			calls := 0
			s.CheckpointEvery = 2
			s.Checkpoint = func(*State) error { calls++; return boom }
			obj := c.obj()
			res, err := Minimize(context.Background(), obj, make([]float64, obj.Dim()), c.l1, s)
			if !errors.Is(err, boom) || !strings.Contains(err.Error(), "checkpoint at iteration 2") {
				t.Fatalf("error %v, want the callback's, at iteration 2", err)
			}
			if calls != 1 || res == nil || (c.s.Method != SGD && res.Iterations != 2) {
				t.Errorf("%d calls, result %+v: want the run to stop at the first checkpoint", calls, res)
			}
		})
	}
	t.Run("lbfgs", func(t *testing.T) {
		s := Settings{MaxIter: 50, Checkpointing: Checkpointing[State]{CheckpointEvery: 2, Checkpoint: func(*State) error { return boom }}}
		_, err := Minimize(context.Background(), rosenbrock(4), []float64{-1.2, 1, -1.2, 1}, nil, s)
		if !errors.Is(err, boom) {
			t.Fatalf("error %v, want the callback's", err)
		}
	})
}

func TestCheckpointEveryZeroTakesNone(t *testing.T) {
	for _, m := range []Method{LBFGS, GD, SGD} {
		for _, l1 := range [][]float64{nil, {0.1, 0.1, 0.1, 0.1}} {
			s := Settings{Method: m, MaxIter: 20, Tol: -1, StepSize: 0.0001, Checkpointing: Checkpointing[State]{Checkpoint: func(*State) error {
				t.Errorf("%v: Checkpoint called with CheckpointEvery 0", m)
				return nil
			}}}
			if _, err := Minimize(context.Background(), rosenbrock(4), []float64{-1.2, 1, -1.2, 1}, l1, s); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range []struct {
		s    Settings
		want string
	}{
		{Settings{Checkpointing: Checkpointing[State]{CheckpointEvery: -1}}, "CheckpointEvery must be >= 0"},
		{Settings{Checkpointing: Checkpointing[State]{CheckpointEvery: 3}}, "Settings.Checkpoint is nil"},
	} {
		if err := c.s.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate: %v, want an error saying %q", err, c.want)
		}
	}
}

// FuzzStateUnmarshalBinary: decoding never panics, and a state that
// decodes encodes back to the same bytes.
func FuzzStateUnmarshalBinary(f *testing.F) {
	for _, st := range []*State{
		stateOf(f, GD, 3, nil, 0), stateOf(f, GD, 3, []float64{0.1, 0, 0.1}, 0), stateOf(f, SGD, 2, nil, 0),
		stateOf(f, LBFGS, 3, []float64{0.1, 0.1, 0.1}, 2), stateOf(f, LBFGS, 2, nil, 0),
	} {
		b, err := st.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte("FLST"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var st State
		if err := st.UnmarshalBinary(data); err != nil {
			return
		}
		again, err := st.MarshalBinary()
		if err != nil {
			t.Fatalf("a decoded state does not encode: %v", err)
		}
		if !slices.Equal(again, data) {
			t.Fatal("a decoded state encodes to other bytes")
		}
	})
}

// quietRosenbrock is the extended Rosenbrock function, allocating nothing.
type quietRosenbrock int

func (o quietRosenbrock) Dim() int { return int(o) }

func (quietRosenbrock) Eval(_ context.Context, grad, x []float64) (float64, error) {
	var f float64
	clear(grad)
	for i := 0; i+1 < len(x); i += 2 {
		a, b := 1-x[i], x[i+1]-x[i]*x[i]
		f += a*a + 100*b*b
		grad[i] += -2*a - 400*b*x[i]
		grad[i+1] += 200 * b
	}
	return f, nil
}

func (o quietRosenbrock) EvalBatch(ctx context.Context, grad, x []float64, _ Batch) (float64, error) {
	return o.Eval(ctx, grad, x)
}

// TestNoAllocationPerIterationWithoutCheckpoints: with CheckpointEvery 0,
// GD, SGD and OWL-QN allocate nothing per iteration beyond the growth of
// the history.
func TestNoAllocationPerIterationWithoutCheckpoints(t *testing.T) {
	l1 := []float64{1e-3, 1e-3, 1e-3, 1e-3}
	for _, c := range []struct {
		m  Method
		l1 []float64
	}{{GD, nil}, {GD, l1}, {SGD, nil}, {LBFGS, l1}} {
		t.Run(fmt.Sprintf("%s/l1=%v", methodName(c.m, c.l1 != nil), c.l1 != nil), func(t *testing.T) {
			run := func(iters int) (float64, int) {
				var res *Result
				allocs := testing.AllocsPerRun(5, func() {
					var err error
					s := Settings{Method: c.m, MaxIter: iters, Tol: -1, StepSize: 1e-4, Memory: 5}
					res, err = Minimize(context.Background(), quietRosenbrock(4), []float64{-1.2, 1, -1.2, 1}, c.l1, s)
					if err != nil {
						t.Fatal(err)
					}
				})
				return allocs, res.Iterations
			}
			a1, n1 := run(100)
			a2, n2 := run(1600)
			if n2-n1 < 200 {
				t.Fatalf("runs of %d and %d iterations: too close to compare", n1, n2)
			}
			if d := a2 - a1; d > 10 { // the history doubles 4 times from 100 to 1600 values
				t.Errorf("%v allocations for %d more iterations", d, n2-n1)
			}
		})
	}
}
