package ml

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"
)

// runner holds what every method shares: the objective, the settings, the
// callback and the counters.
type runner struct {
	ctx   context.Context
	obj   Objective
	l1    []float64
	s     Settings
	start time.Time
	evals int
}

// A stepper is one iterative method — GD, SGD, OWL-QN — run by
// runner.drive. It owns its iterate and its scratch space; the driver owns
// the loop: cancellation, the reports, the stopping tests, the checkpoints
// and the Result. (gonum's L-BFGS owns its loop; lbfgs.go fits it into the
// same reports.)
type stepper interface {
	// kind says how the driver runs the method.
	kind() methodKind
	// init starts from x0, or from st when it is not nil (a resumed
	// run; x0 is then not used), and returns the starting point.
	init(x0 []float64, st *State) (iterate, error)
	// step runs iteration iter from the current point and returns the
	// point it ends at. An error ends the run; the current point is then
	// still the one before the step.
	step(iter int) (iterate, error)
	// state is the checkpoint after iteration iter; res holds the run's
	// History and Iterations so far.
	state(iter int, res *Result) *State
}

// methodKind describes a method to the driver.
type methodKind struct {
	name string // as errors name it: "GD", "SGD", "OWL-QN"
	// full: a full-batch method. Its starting point is evaluated and
	// reported as iteration 0, and its gradient is the objective's, so
	// Settings.GradTol (and a zero gradient) ends the run.
	full bool
}

// iterate is a method's current point as the driver sees it, with what
// the step that led there found.
type iterate struct {
	x        []float64 // the method's own slice: valid until its next step
	f, gnorm float64   // the objective (L1 term included) and the (pseudo-)gradient norm at x
	step     float64   // the step length taken to reach x (Progress.Step); 0 for none
	// skipped: the iteration's mini-batch was empty (SGD); x did not move
	// and the iteration is neither reported nor counted.
	skipped bool
	// stalled, when not empty, is why the line search found no decrease;
	// x did not move.
	stalled string
	// tol, when not empty, is the method's Settings.Tol test, passed.
	tol string
}

// drive runs m from x0 (or Settings.Resume) to the end of the run.
func (r *runner) drive(m stepper, x0 []float64) (*Result, error) {
	kind := m.kind()
	res := &Result{}
	cur, err := m.init(x0, r.s.Resume)
	if err != nil {
		return nil, err
	}
	first := 1
	if st := r.s.Resume; st != nil {
		res.History, res.Iterations, first = slices.Clone(st.History), st.completed(), st.Iter+1
		// The state's iteration did not end its run, but this run's
		// GradTol may be larger.
		if why := r.gradStop(kind, cur.gnorm); why != "" && first <= r.s.MaxIter {
			return r.finish(res, cur, GradientConverged, why, nil)
		}
	} else if kind.full {
		why := r.gradStop(kind, cur.gnorm)
		if r.report(res, 0, cur.f, cur.gnorm, 0, why) {
			return r.finish(res, cur, Stopped, stopByCallback, nil)
		}
		if why != "" {
			return r.finish(res, cur, GradientConverged, why, nil)
		}
	}
	for iter := first; iter <= r.s.MaxIter; iter++ {
		err := r.ctx.Err()
		var next iterate
		if err == nil {
			next, err = m.step(iter)
		}
		if err != nil {
			return r.finish(res, cur, 0, "", fmt.Errorf("ml: %s stopped at iteration %d: %w", kind.name, iter, err))
		}
		if !next.skipped {
			cur = next
			res.Iterations = iter
			status, why := r.verdict(kind, iter, cur)
			if r.report(res, iter, cur.f, cur.gnorm, cur.step, why) {
				return r.finish(res, cur, Stopped, stopByCallback, nil)
			}
			if status != 0 {
				return r.finish(res, cur, status, why, nil)
			}
		}
		if r.s.CheckpointDue(iter, iter >= r.s.MaxIter) {
			if err := r.s.SaveCheckpoint(iter, m.state(iter, res)); err != nil {
				return r.finish(res, cur, 0, "", fmt.Errorf("ml: %w", err))
			}
		}
	}
	// Only a resumed run at MaxIter, or an SGD run whose last batch was
	// empty, gets here.
	return r.finish(res, cur, IterationLimit, maxIterStop(r.s.MaxIter), nil)
}

// verdict applies the stopping tests to the point iteration iter reached,
// in the order that decides the Status when several pass.
func (r *runner) verdict(kind methodKind, iter int, at iterate) (Status, string) {
	switch {
	case at.stalled != "":
		return LineSearchFailed, "line search failed: " + at.stalled
	case at.tol != "":
		return Converged, at.tol
	case iter >= r.s.MaxIter:
		return IterationLimit, maxIterStop(r.s.MaxIter)
	}
	if why := r.gradStop(kind, at.gnorm); why != "" {
		return GradientConverged, why
	}
	return 0, ""
}

// finish fills the Result from the point the run ended at.
func (r *runner) finish(res *Result, at iterate, st Status, why string, err error) (*Result, error) {
	res.X, res.F, res.GradNorm, res.Status, res.Stop = at.x, at.f, at.gnorm, st, why
	return res, err
}

// eval is one pass: f(x) and ∇f(x), with non-finite values turned into an
// error that says where they came from.
func (r *runner) eval(grad, x []float64) (float64, error) {
	r.evals++
	f, err := r.obj.Eval(r.ctx, grad, x)
	if err != nil {
		return f, err
	}
	return f, finite(f, grad)
}

func finite(f float64, grad []float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("ml: the objective is %v (NaN or infinite features or labels, or a step too large)", f)
	}
	for j, g := range grad {
		if math.IsNaN(g) || math.IsInf(g, 0) {
			return fmt.Errorf("ml: gradient component %d is %v", j, g)
		}
	}
	return nil
}

// report appends f to the history and calls the Progress callback; step
// is the step length that led to iteration iter (0 for none), stop the
// reason the run ends here, "" if it goes on.
func (r *runner) report(res *Result, iter int, f, gnorm, step float64, stop string) (stopped bool) {
	res.History = append(res.History, f)
	if r.s.Progress == nil {
		return false
	}
	return r.s.Progress(Progress{Iter: iter, Loss: f, GradNorm: gnorm, Evals: r.evals, Elapsed: time.Since(r.start), Step: step, Stop: stop})
}

// The stop reasons. Each is formatted only when its test passes, so a run
// allocates nothing for them per iteration.

const stopByCallback = "stopped by the progress callback"

func maxIterStop(n int) string { return fmt.Sprintf("max_iter %d reached", n) }

// relStop is the relative function test of L-BFGS, OWL-QN and GD:
// |prev − f| ≤ tol·max(|prev|, |f|). It returns why it passed, or "".
func relStop(tol, prev, f float64) string {
	if tol < 0 {
		return ""
	}
	d, m := math.Abs(prev-f), math.Max(math.Abs(prev), math.Abs(f))
	if !(d <= tol*m) {
		return ""
	}
	rel := 0.0
	if m > 0 {
		rel = d / m
	}
	return fmt.Sprintf("converged: relative loss change %.2g <= tol %g", rel, tol)
}

// gradStop is the gradient test of the full-batch methods: a zero
// gradient, or one whose norm is at most Settings.GradTol. It returns why
// it passed, or "".
func (r *runner) gradStop(kind methodKind, gnorm float64) string {
	switch {
	case !kind.full:
		return ""
	case gnorm == 0:
		return "converged: the gradient is zero"
	case r.s.GradTol > 0 && gnorm <= r.s.GradTol:
		return gradTolStop(gnorm, r.s.GradTol)
	}
	return ""
}

func gradTolStop(gnorm, tol float64) string {
	return fmt.Sprintf("converged: gradient norm %.2g <= tol %g", gnorm, tol)
}
