package ml

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// Method is an optimisation method.
type Method int

const (
	// LBFGS is limited-memory BFGS, the default. With an L1 term it becomes
	// OWL-QN (orthant-wise L-BFGS); without one it runs gonum's optimize.LBFGS.
	LBFGS Method = iota
	// GD is full-batch gradient descent with a backtracking line search from
	// a Barzilai–Borwein trial step; with an L1 term it takes proximal
	// (soft-threshold) steps.
	GD
	// SGD is mini-batch stochastic gradient descent as MLlib runs it: each
	// iteration samples Settings.MiniBatchFraction of the rows and steps by
	// StepSize/√t; an L1 term is applied by soft-thresholding.
	SGD
)

func (m Method) String() string {
	switch m {
	case LBFGS:
		return "lbfgs"
	case GD:
		return "gd"
	case SGD:
		return "sgd"
	}
	return fmt.Sprintf("Method(%d)", int(m))
}

// ParseMethod maps "lbfgs", "gd" and "sgd" to their Method.
func ParseMethod(s string) (Method, error) {
	switch s {
	case "lbfgs", "l-bfgs", "":
		return LBFGS, nil
	case "gd":
		return GD, nil
	case "sgd":
		return SGD, nil
	}
	return 0, fmt.Errorf("ml: optimisation method %q: want lbfgs, gd or sgd", s)
}

// Settings configures Minimize. The zero value runs L-BFGS with MLlib's
// defaults (100 iterations, tolerance 1e-6).
type Settings struct {
	// Method is the optimiser; the zero value is LBFGS.
	Method Method
	// MaxIter bounds the iterations. 0 means 100.
	MaxIter int
	// Tol stops the run when an iteration changes the objective by no more
	// than Tol·max(|f|, |f_prev|) (LBFGS and GD), or, for SGD, when a step
	// moves the parameters by less than Tol·max(‖x‖, 1), as MLlib does.
	// 0 means 1e-6; a negative value disables the test.
	Tol float64
	// GradTol stops the run when the Euclidean norm of the gradient (the
	// pseudo-gradient with an L1 term) falls to GradTol or below. 0 disables
	// the test. SGD, whose gradients are of mini-batches, does not apply it.
	GradTol float64
	// Memory is the number of correction pairs L-BFGS keeps. 0 means 10.
	Memory int
	// StepSize is SGD's initial step η₀ (the step at iteration t is η₀/√t)
	// and GD's first trial step. 0 means 1, MLlib's default.
	StepSize float64
	// MiniBatchFraction is the fraction of rows SGD samples per iteration,
	// in (0, 1]. 0 means 1. A row is in iteration t's batch when a hash of
	// (Seed, t, partition, row) falls below the fraction, so the batches
	// are the same for any number of workers.
	MiniBatchFraction float64
	// Seed seeds SGD's sampling.
	Seed uint64
	// Progress, if not nil, is called after each iteration (iteration 0 is
	// the starting point), one call at a time but not necessarily on the
	// caller's goroutine, and once per iteration: the last call of a run
	// that ends without an error says why in Progress.Stop. Returning true
	// stops the run with status Stopped. LinearRegression's direct solve
	// of the normal equations, which does not iterate, reports its
	// solution once, as iteration 1.
	Progress func(Progress) (stop bool)

	// Checkpointing (CheckpointEvery, Checkpoint, Resume) hands the
	// optimiser's State out every CheckpointEvery iterations (iterations
	// below MaxIter that do not end the run), and continues a run from
	// one. With Resume, x0 may be nil. The method, the presence of an L1
	// term, the number of parameters and, for OWL-QN, Memory must be those
	// of the run that wrote the state, and MaxIter no less than the
	// state's iteration; otherwise Minimize fails with an error naming the
	// mismatch. The starting point is not reported again: History,
	// Progress and Evaluations continue from the state.
	//
	// For GD, SGD and OWL-QN (LBFGS with an L1 term) the resumed run ends
	// bit for bit where the uninterrupted run would have: same X, F,
	// History, Iterations, Evaluations, Status and Stop. For LBFGS without
	// an L1 term, which runs gonum's optimize.LBFGS, whose curvature pairs
	// are not exported, the resumed run is a new L-BFGS started at the
	// state's X (with its objective and gradient, so no extra pass) for
	// the remaining MaxIter − Iter iterations. It is not bit-identical:
	// the curvature pairs are rebuilt, so the iterates differ, but it
	// converges to the same minimiser.
	Checkpointing[State]
}

func (s Settings) withDefaults() Settings {
	if s.MaxIter == 0 {
		s.MaxIter = 100
	}
	if s.Tol == 0 {
		s.Tol = 1e-6
	}
	if s.Memory == 0 {
		s.Memory = 10
	}
	if s.StepSize == 0 {
		s.StepSize = 1
	}
	if s.MiniBatchFraction == 0 {
		s.MiniBatchFraction = 1
	}
	return s
}

// Validate reports the first setting that is out of range.
func (s Settings) Validate() error {
	switch {
	case s.Method < LBFGS || s.Method > SGD:
		return fmt.Errorf("ml: Settings.Method %d is not LBFGS, GD or SGD", int(s.Method))
	case s.MaxIter < 0:
		return fmt.Errorf("ml: Settings.MaxIter must be >= 0, got %d", s.MaxIter)
	case math.IsNaN(s.Tol):
		return errors.New("ml: Settings.Tol is NaN")
	case s.GradTol < 0 || math.IsNaN(s.GradTol):
		return fmt.Errorf("ml: Settings.GradTol must be >= 0, got %v", s.GradTol)
	case s.Memory < 0:
		return fmt.Errorf("ml: Settings.Memory must be >= 0, got %d", s.Memory)
	case s.StepSize < 0 || math.IsNaN(s.StepSize) || math.IsInf(s.StepSize, 0):
		return fmt.Errorf("ml: Settings.StepSize must be a finite number >= 0, got %v", s.StepSize)
	case s.MiniBatchFraction < 0 || s.MiniBatchFraction > 1 || math.IsNaN(s.MiniBatchFraction):
		return fmt.Errorf("ml: Settings.MiniBatchFraction must be in (0, 1], got %v", s.MiniBatchFraction)
	}
	if err := s.ValidateCheckpointing("Settings"); err != nil {
		return fmt.Errorf("ml: %w", err)
	}
	return nil
}

// Progress is what the per-iteration callback sees.
type Progress struct {
	Iter     int           // 0 is the starting point
	Loss     float64       // objective (SGD: on the iteration's mini-batch)
	GradNorm float64       // Euclidean norm of the (pseudo-)gradient
	Evals    int           // passes over the data so far
	Elapsed  time.Duration // since Minimize started
	// Step is the step length the iteration took along its search
	// direction: the step the line search accepted (L-BFGS, OWL-QN, GD)
	// or the learning rate (SGD: StepSize/√iter). It is 0 where no step
	// was taken: the starting point (iteration 0), an iteration whose line
	// search failed, and fits with no step (closed-form solutions).
	Step float64
	// Stop is empty on every report but the last of a run, where it says
	// in one phrase why the run stopped, as Result.Stop does: for example
	// "converged: relative loss change 3.2e-07 <= tol 1e-06" or
	// "max_iter 100 reached". Three runs end on a report without one: a
	// run the callback stops (it knows), a run that ends with an error
	// (the error says why) and an SGD run whose last iterations drew empty
	// mini-batches (such iterations are not reported).
	Stop string
}

// Status says why a run stopped; Result.Stop says it in a phrase, with
// the numbers.
type Status int

const (
	// Converged: the objective (or, for SGD, the parameters) changed by
	// less than Settings.Tol.
	Converged Status = iota + 1
	// GradientConverged: the gradient norm fell to Settings.GradTol.
	GradientConverged
	// IterationLimit: Settings.MaxIter iterations ran.
	IterationLimit
	// Stopped: the Progress callback asked to stop.
	Stopped
	// LineSearchFailed: no step along the search direction decreased the
	// objective, which happens when the optimum is reached to rounding
	// precision. The result is the best point found. The iteration whose
	// line search failed is counted and reported, at the point it started
	// from (its loss repeats the one before).
	LineSearchFailed
)

func (s Status) String() string {
	switch s {
	case Converged:
		return "converged"
	case GradientConverged:
		return "gradient converged"
	case IterationLimit:
		return "iteration limit"
	case Stopped:
		return "stopped"
	case LineSearchFailed:
		return "line search failed"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Result is the outcome of Minimize.
type Result struct {
	X           []float64 // the minimiser found
	F           float64   // objective at X, the L1 term included
	GradNorm    float64   // Euclidean norm of the (pseudo-)gradient at X
	Iterations  int
	Evaluations int // passes over the data
	Status      Status
	// Stop says why the run stopped in one phrase, with the numbers of the
	// test that ended it: "converged: gradient norm 8.1e-09 <= tol 1e-08",
	// "line search failed: the step underflowed", "stopped by the
	// progress callback", ... It is the Stop of the run's last Progress
	// report where that report has one.
	Stop    string
	Elapsed time.Duration
	// History is the objective after each iteration, History[0] being the
	// starting point (SGD: mini-batch objectives).
	History []float64
}

// Objective is a differentiable function, evaluated with its gradient in
// one pass over the data.
type Objective interface {
	// Dim is the number of parameters.
	Dim() int
	// Eval returns f(x) and writes ∇f(x) into grad. It must not modify x.
	Eval(ctx context.Context, grad, x []float64) (float64, error)
}

// Batch selects the rows of a mini-batch: those whose hash of (Seed, Iter,
// partition, row) falls below Fraction.
type Batch struct {
	Seed     uint64
	Iter     int
	Fraction float64
}

// BatchObjective is an Objective that can also be evaluated on a sampled
// mini-batch; SGD needs it.
type BatchObjective interface {
	Objective
	// EvalBatch is Eval on the rows b selects, the loss averaged over them.
	// It returns ErrEmptyBatch when b selects no rows.
	EvalBatch(ctx context.Context, grad, x []float64, b Batch) (float64, error)
}

// ErrEmptyBatch is returned by EvalBatch for a batch without rows; SGD skips
// such an iteration, as MLlib does.
var ErrEmptyBatch = errors.New("ml: the mini-batch selected no rows")

// Minimize minimises obj(x) + Σⱼ l1[j]·|xⱼ| from x0. l1 may be nil (no L1
// term) or hold one non-negative weight per parameter. x0 is not modified,
// and not used when Settings.Resume continues an earlier run.
//
// Cancelling ctx stops the run within one pass over the data; the error
// then wraps ctx.Err() and the Result holds the last iterate. An error from
// an evaluation (a bad label, a lost worker) ends the run the same way.
func Minimize(ctx context.Context, obj Objective, x0, l1 []float64, s Settings) (*Result, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	s = s.withDefaults()
	n := obj.Dim()
	if len(x0) != n && (x0 != nil || s.Resume == nil) {
		return nil, fmt.Errorf("ml: Minimize: x0 has %d values for a %d-parameter objective", len(x0), n)
	}
	if n == 0 {
		return nil, errors.New("ml: Minimize: the objective has no parameters")
	}
	if l1 != nil {
		if len(l1) != n {
			return nil, fmt.Errorf("ml: Minimize: %d L1 weights for %d parameters", len(l1), n)
		}
		nonzero := false
		for j, c := range l1 {
			if c < 0 || math.IsNaN(c) || math.IsInf(c, 0) {
				return nil, fmt.Errorf("ml: Minimize: L1 weight %v of parameter %d is not a finite number >= 0", c, j)
			}
			nonzero = nonzero || c > 0
		}
		if !nonzero {
			l1 = nil
		}
	}
	r := &runner{ctx: ctx, obj: obj, l1: l1, s: s, start: time.Now()}
	if st := s.Resume; st != nil {
		if err := st.resumable(n, l1 != nil, s); err != nil {
			return nil, err
		}
		r.evals = st.Evaluations
	}
	var res *Result
	var err error
	switch {
	case s.Method == SGD:
		bo, ok := obj.(BatchObjective)
		if !ok {
			return nil, fmt.Errorf("ml: Minimize: SGD needs a BatchObjective, and %T is not one", obj)
		}
		res, err = r.drive(&sgd{r: r, obj: bo}, x0)
	case s.Method == GD:
		res, err = r.drive(&gd{r: r}, x0)
	case l1 != nil:
		res, err = r.drive(&owlqn{r: r}, x0)
	default:
		res, err = r.lbfgs(x0)
	}
	if res != nil {
		res.Elapsed = time.Since(r.start)
		res.Evaluations = r.evals
	}
	return res, err
}
