package ml

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/optimize"
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
	// the test.
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
	// caller's goroutine. Returning true stops the run with status Stopped.
	// LinearRegression's direct solve of the normal equations, which does
	// not iterate, reports its solution once, as iteration 1.
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
}

// Status says why a run stopped.
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
	// precision. The result is the best point found.
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
	Elapsed     time.Duration
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
		res, err = r.sgd(bo, x0)
	case s.Method == GD:
		res, err = r.gd(x0)
	case l1 != nil:
		res, err = r.owlqn(x0)
	default:
		res, err = r.lbfgs(x0)
	}
	if res != nil {
		res.Elapsed = time.Since(r.start)
		res.Evaluations = r.evals
	}
	return res, err
}

// runner holds what every method shares: the objective, the callback and
// the counters.
type runner struct {
	ctx   context.Context
	obj   Objective
	l1    []float64
	s     Settings
	start time.Time
	evals int
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

// report appends f to the history and calls the Progress callback.
func (r *runner) report(res *Result, iter int, f, gnorm float64) (stop bool) {
	res.History = append(res.History, f)
	if r.s.Progress == nil {
		return false
	}
	return r.s.Progress(Progress{Iter: iter, Loss: f, GradNorm: gnorm, Evals: r.evals, Elapsed: time.Since(r.start)})
}

// converged is the relative function test shared by L-BFGS, OWL-QN and GD.
func (r *runner) converged(prev, f float64) bool {
	if r.s.Tol < 0 {
		return false
	}
	return math.Abs(prev-f) <= r.s.Tol*math.Max(math.Abs(prev), math.Abs(f))
}

func l1Norm(x, l1 []float64) float64 {
	if l1 == nil {
		return 0
	}
	var s float64
	for j, c := range l1 {
		s += c * math.Abs(x[j])
	}
	return s
}

// lbfgs runs gonum's L-BFGS. gonum asks for Func and Grad separately at the
// same point; the cache makes that one pass over the data.
func (r *runner) lbfgs(x0 []float64) (*Result, error) {
	if st := r.s.Resume; st != nil {
		x0 = st.X
	}
	n := len(x0)
	c := &evalCache{x: make([]float64, n), g: make([]float64, n)}
	var mu sync.Mutex // guards evalErr: set on gonum's evaluation goroutine, read by Status
	var evalErr error
	get := func(x []float64) {
		if c.valid && floats.Equal(c.x, x) {
			return
		}
		copy(c.x, x)
		f, err := r.eval(c.g, c.x)
		c.f, c.valid = f, err == nil
		if err != nil {
			mu.Lock()
			evalErr = errors.Join(evalErr, err)
			mu.Unlock()
			c.f = math.NaN()
		}
	}
	p := optimize.Problem{
		Func: func(x []float64) float64 {
			get(x)
			return c.f
		},
		Grad: func(g, x []float64) {
			get(x)
			copy(g, c.g)
		},
		Status: func() (optimize.Status, error) {
			mu.Lock()
			err := evalErr
			mu.Unlock()
			if err == nil {
				err = r.ctx.Err()
			}
			if err != nil {
				return optimize.Failure, err
			}
			return optimize.NotTerminated, nil
		},
	}
	res := &Result{}
	rec := &recorder{r: r, res: res}
	settings := &optimize.Settings{
		MajorIterations:   r.s.MaxIter + 1, // gonum counts the starting point as an iteration
		Converger:         &relConverger{r: r},
		GradientThreshold: 0, // Euclidean test below, in the recorder
		Recorder:          rec,
	}
	if st := r.s.Resume; st != nil {
		// A new L-BFGS from the state's point, given its value and
		// gradient so that gonum does not evaluate it again; its starting
		// point is iteration st.Iter, already in the history.
		settings.InitValues = &optimize.Location{F: st.F, Gradient: slices.Clone(st.grad)}
		settings.MajorIterations = r.s.MaxIter + 1 - st.Iter
		rec.offset, rec.resumed = st.Iter, true
		res.History = slices.Clone(st.History)
	}
	method := &optimize.LBFGS{Store: r.s.Memory, GradStopThreshold: math.NaN()}
	if r.s.GradTol > 0 {
		rec.gradTol = r.s.GradTol
	}
	gres, err := optimize.Minimize(p, x0, settings, method)
	if gres == nil {
		return nil, err
	}
	res.X = gres.X
	res.F = gres.F
	res.GradNorm = floats.Norm(gres.Gradient, 2)
	res.Iterations = rec.offset + max(gres.MajorIterations-1, 0)
	if len(res.History) < res.Iterations+1 { // gonum does not record the final iteration
		rec.last(gres)
	}
	switch {
	case rec.stopped:
		res.Status = Stopped
		err = nil
	case rec.gradDone:
		res.Status = GradientConverged
		err = nil
	case gres.Status == optimize.FunctionConvergence:
		res.Status = Converged
	case gres.Status == optimize.IterationLimit:
		res.Status = IterationLimit
	case gres.Status == optimize.GradientThreshold:
		res.Status = GradientConverged
	case errors.Is(err, optimize.ErrLinesearcherFailure) || errors.Is(err, optimize.ErrNoProgress) ||
		errors.Is(err, optimize.ErrNonDescentDirection) || errors.Is(err, optimize.ErrLinesearcherBound):
		res.Status = LineSearchFailed
		err = nil
	}
	if err != nil {
		return res, fmt.Errorf("ml: L-BFGS stopped at iteration %d: %w", res.Iterations, err)
	}
	return res, nil
}

// evalCache holds the last point evaluated with its value and gradient.
// Only gonum's single evaluation goroutine uses it.
type evalCache struct {
	valid bool
	x, g  []float64
	f     float64
}

// relConverger is gonum's Converger for the relative function test.
type relConverger struct {
	r     *runner
	prev  float64
	first bool
}

func (c *relConverger) Init(int) { c.first = true }

func (c *relConverger) Converged(loc *optimize.Location) optimize.Status {
	f := loc.F
	if c.first {
		c.first, c.prev = false, f
		return optimize.NotTerminated
	}
	done := c.r.converged(c.prev, f)
	c.prev = f
	if done {
		return optimize.FunctionConvergence
	}
	return optimize.NotTerminated
}

var errStop = errors.New("ml: stopped by the progress callback")
var errGradDone = errors.New("ml: gradient converged")

// recorder forwards gonum's major iterations to the Progress callback,
// applies the Euclidean gradient test and takes the checkpoints.
type recorder struct {
	r        *runner
	res      *Result
	gradTol  float64
	offset   int  // iterations before gonum's starting point
	resumed  bool // the starting point is Settings.Resume's, already reported
	stopped  bool
	gradDone bool
}

func (rc *recorder) Init() error { return nil }

func (rc *recorder) Record(loc *optimize.Location, op optimize.Operation, st *optimize.Stats) error {
	if op != optimize.MajorIteration {
		return nil
	}
	if rc.resumed && st.MajorIterations == 1 {
		return nil // the resumed state's point, reported by the run that saved it
	}
	iter := rc.offset + st.MajorIterations - 1
	gnorm := floats.Norm(loc.Gradient, 2)
	if rc.r.report(rc.res, iter, loc.F, gnorm) {
		rc.stopped = true
		return errStop
	}
	if rc.gradTol > 0 && gnorm <= rc.gradTol {
		rc.gradDone = true
		return errGradDone
	}
	// gonum records only iterations that did not end the run.
	if rc.r.checkpointDue(iter) {
		cp := &State{Method: LBFGS, Iter: iter, Evaluations: rc.r.evals,
			X: slices.Clone(loc.X), F: loc.F, GradNorm: gnorm, History: slices.Clone(rc.res.History),
			grad: slices.Clone(loc.Gradient)}
		if err := rc.r.checkpoint(cp); err != nil {
			return err
		}
	}
	return nil
}

// last reports the final iteration, which gonum does not pass to the
// recorder when it ends the run.
func (rc *recorder) last(g *optimize.Result) {
	rc.r.report(rc.res, rc.offset+g.MajorIterations-1, g.F, floats.Norm(g.Gradient, 2))
}

// owlqn is Andrew and Gao's orthant-wise limited-memory quasi-Newton method
// for f(x) + Σ l1ⱼ|xⱼ|: L-BFGS on the pseudo-gradient, with steps kept in
// the orthant of the current point and a backtracking line search.
func (r *runner) owlqn(x0 []float64) (*Result, error) {
	res := &Result{}
	var x, g []float64
	var F float64
	first := 1
	if st := r.s.Resume; st != nil {
		x, g, F = slices.Clone(st.X), slices.Clone(st.grad), st.F
		res.History, res.Iterations = slices.Clone(st.History), st.Iter
		first = st.Iter + 1
	} else {
		x, g = slices.Clone(x0), make([]float64, len(x0))
		f, err := r.eval(g, x)
		if err != nil {
			return nil, err
		}
		F = f + l1Norm(x, r.l1)
	}
	n := len(x)
	pg := make([]float64, n)
	d := make([]float64, n)
	xn := make([]float64, n)
	gn := make([]float64, n)
	hist := newLBFGSHistory(r.s.Memory, n)
	if st := r.s.Resume; st != nil {
		hist.load(st.s, st.y, st.rho)
	}
	pseudoGradient(pg, x, g, r.l1)
	finish := func(st Status, err error) (*Result, error) {
		res.X, res.F, res.GradNorm, res.Status = x, F, floats.Norm(pg, 2), st
		return res, err
	}
	if r.s.Resume == nil && r.report(res, 0, F, floats.Norm(pg, 2)) {
		return finish(Stopped, nil)
	}
	for iter := first; iter <= r.s.MaxIter; iter++ {
		if gn := floats.Norm(pg, 2); gn == 0 || (r.s.GradTol > 0 && gn <= r.s.GradTol) {
			return finish(GradientConverged, nil)
		}
		// Direction: -H·pg, then zero the components that disagree in sign
		// with the steepest descent direction -pg.
		copy(d, pg)
		hist.apply(d)
		floats.Scale(-1, d)
		for j := range d {
			if r.l1[j] > 0 && d[j]*pg[j] >= 0 {
				d[j] = 0
			}
		}
		step := 1.0
		if hist.len == 0 {
			step = 1 / floats.Norm(d, 2)
		}
		accepted := false
		var Fn float64
		for trial := 0; trial < 40; trial++ {
			for j := range xn {
				v := x[j] + step*d[j]
				if c := r.l1[j]; c > 0 {
					orth := x[j]
					if orth == 0 {
						orth = -pg[j]
					}
					if v*orth <= 0 {
						v = 0
					}
				}
				xn[j] = v
			}
			fn, err := r.eval(gn, xn)
			if err != nil {
				return finish(0, fmt.Errorf("ml: OWL-QN stopped at iteration %d: %w", iter, err))
			}
			Fn = fn + l1Norm(xn, r.l1)
			var dec float64
			for j := range xn {
				dec += pg[j] * (xn[j] - x[j])
			}
			if Fn <= F+1e-4*dec {
				accepted = true
				break
			}
			step /= 2
		}
		if !accepted || Fn >= F {
			// No step decreases the objective: the optimum is reached to
			// rounding precision.
			return finish(LineSearchFailed, nil)
		}
		hist.push(xn, x, gn, g)
		x, xn = xn, x
		g, gn = gn, g
		prev := F
		F = Fn
		pseudoGradient(pg, x, g, r.l1)
		res.Iterations = iter
		if r.report(res, iter, F, floats.Norm(pg, 2)) {
			return finish(Stopped, nil)
		}
		if r.converged(prev, F) {
			return finish(Converged, nil)
		}
		if r.checkpointDue(iter) {
			st := &State{Method: LBFGS, L1: true, Iter: iter, Evaluations: r.evals,
				X: slices.Clone(x), F: F, GradNorm: floats.Norm(pg, 2), History: slices.Clone(res.History),
				grad: slices.Clone(g), memory: r.s.Memory}
			st.s, st.y, st.rho = hist.pairs()
			if err := r.checkpoint(st); err != nil {
				return finish(0, err)
			}
		}
	}
	return finish(IterationLimit, nil)
}

// pseudoGradient writes the minimum-norm subgradient of f + Σ l1ⱼ|xⱼ| into pg.
func pseudoGradient(pg, x, g, l1 []float64) {
	for j := range pg {
		c := 0.0
		if l1 != nil {
			c = l1[j]
		}
		switch {
		case c == 0:
			pg[j] = g[j]
		case x[j] > 0:
			pg[j] = g[j] + c
		case x[j] < 0:
			pg[j] = g[j] - c
		case g[j]+c < 0:
			pg[j] = g[j] + c
		case g[j]-c > 0:
			pg[j] = g[j] - c
		default:
			pg[j] = 0
		}
	}
}

// lbfgsHistory is the ring of correction pairs of OWL-QN.
type lbfgsHistory struct {
	s, y   [][]float64
	rho, a []float64
	next   int // slot the next pair goes to
	len    int
	ts, ty []float64 // a candidate pair, swapped into its slot when accepted
}

func newLBFGSHistory(m, n int) *lbfgsHistory {
	h := &lbfgsHistory{s: make([][]float64, m), y: make([][]float64, m), rho: make([]float64, m), a: make([]float64, m),
		ts: make([]float64, n), ty: make([]float64, n)}
	for i := range h.s {
		h.s[i] = make([]float64, n)
		h.y[i] = make([]float64, n)
	}
	return h
}

// push stores s = xn - x and y = gn - g, unless the curvature sᵀy is not
// positive (possible with a backtracking search), which would break the
// positive-definiteness of the approximation. A rejected pair leaves the
// history as it was (the slot it would take may hold the oldest pair).
func (h *lbfgsHistory) push(xn, x, gn, g []float64) {
	s, y := h.ts, h.ty
	floats.SubTo(s, xn, x)
	floats.SubTo(y, gn, g)
	sy := floats.Dot(s, y)
	if !(sy > 1e-10*floats.Dot(y, y)) {
		return
	}
	h.s[h.next], h.ts = s, h.s[h.next]
	h.y[h.next], h.ty = y, h.y[h.next]
	h.rho[h.next] = 1 / sy
	h.next = (h.next + 1) % len(h.s)
	h.len = min(h.len+1, len(h.s))
}

// apply overwrites d with H·d by the two-loop recursion.
func (h *lbfgsHistory) apply(d []float64) {
	m := len(h.s)
	for k := 0; k < h.len; k++ {
		i := (h.next - 1 - k + m) % m
		h.a[i] = h.rho[i] * floats.Dot(h.s[i], d)
		floats.AddScaled(d, -h.a[i], h.y[i])
	}
	if h.len > 0 {
		i := (h.next - 1 + m) % m
		floats.Scale(1/(h.rho[i]*floats.Dot(h.y[i], h.y[i])), d)
	}
	for k := h.len - 1; k >= 0; k-- {
		i := (h.next - 1 - k + m) % m
		b := h.rho[i] * floats.Dot(h.y[i], d)
		floats.AddScaled(d, h.a[i]-b, h.s[i])
	}
}

// softThreshold is the proximal map of t·Σ l1ⱼ|xⱼ|, applied in place.
func softThreshold(x, l1 []float64, t float64) {
	if l1 == nil {
		return
	}
	for j, c := range l1 {
		if c == 0 {
			continue
		}
		k := t * c
		switch v := x[j]; {
		case v > k:
			x[j] = v - k
		case v < -k:
			x[j] = v + k
		default:
			x[j] = 0
		}
	}
}

// gd is (proximal) gradient descent. The trial step is the Barzilai–Borwein
// step sᵀs/sᵀy of the last iteration (Settings.StepSize at first), halved
// until the sufficient-decrease condition of proximal gradient methods,
// f(x⁺) ≤ f(x) + ∇f(x)ᵀ(x⁺−x) + ‖x⁺−x‖²/(2t), holds.
func (r *runner) gd(x0 []float64) (*Result, error) {
	res := &Result{}
	var x, g []float64
	var f, F, t float64
	first := 1
	if st := r.s.Resume; st != nil {
		x, g = slices.Clone(st.X), slices.Clone(st.grad)
		f, F, t = st.f, st.F, st.step
		res.History, res.Iterations = slices.Clone(st.History), st.Iter
		first = st.Iter + 1
	} else {
		x, g = slices.Clone(x0), make([]float64, len(x0))
		var err error
		if f, err = r.eval(g, x); err != nil {
			return nil, err
		}
		F = f + l1Norm(x, r.l1)
		t = r.s.StepSize
	}
	n := len(x)
	xn := make([]float64, n)
	gn := make([]float64, n)
	diff := make([]float64, n)
	pg := make([]float64, n)
	pseudoGradient(pg, x, g, r.l1)
	finish := func(st Status, err error) (*Result, error) {
		res.X, res.F, res.GradNorm, res.Status = x, F, floats.Norm(pg, 2), st
		return res, err
	}
	if r.s.Resume == nil && r.report(res, 0, F, floats.Norm(pg, 2)) {
		return finish(Stopped, nil)
	}
	var err error
	for iter := first; iter <= r.s.MaxIter; iter++ {
		if gnorm := floats.Norm(pg, 2); gnorm == 0 || (r.s.GradTol > 0 && gnorm <= r.s.GradTol) {
			return finish(GradientConverged, nil)
		}
		accepted := false
		var fn float64
		for trial := 0; trial < 60; trial++ {
			copy(xn, x)
			floats.AddScaled(xn, -t, g)
			softThreshold(xn, r.l1, t)
			floats.SubTo(diff, xn, x)
			if floats.Norm(diff, math.Inf(1)) == 0 {
				break // the step underflowed: nothing left to gain
			}
			fn, err = r.eval(gn, xn)
			if err != nil {
				return finish(0, fmt.Errorf("ml: GD stopped at iteration %d: %w", iter, err))
			}
			if fn <= f+floats.Dot(g, diff)+floats.Dot(diff, diff)/(2*t) {
				accepted = true
				break
			}
			t /= 2
		}
		if !accepted || fn+l1Norm(xn, r.l1) >= F {
			return finish(LineSearchFailed, nil)
		}
		// Barzilai–Borwein step for the next trial.
		var sy, ss float64
		for j := range diff {
			y := gn[j] - g[j]
			sy += diff[j] * y
			ss += diff[j] * diff[j]
		}
		if sy > 0 {
			t = ss / sy
		}
		x, xn = xn, x
		g, gn = gn, g
		f = fn
		prev := F
		F = f + l1Norm(x, r.l1)
		pseudoGradient(pg, x, g, r.l1)
		res.Iterations = iter
		if r.report(res, iter, F, floats.Norm(pg, 2)) {
			return finish(Stopped, nil)
		}
		if r.converged(prev, F) {
			return finish(Converged, nil)
		}
		if r.checkpointDue(iter) {
			st := &State{Method: GD, L1: r.l1 != nil, Iter: iter, Evaluations: r.evals,
				X: slices.Clone(x), F: F, GradNorm: floats.Norm(pg, 2), History: slices.Clone(res.History),
				grad: slices.Clone(g), f: f, step: t}
			if err := r.checkpoint(st); err != nil {
				return finish(0, err)
			}
		}
	}
	return finish(IterationLimit, nil)
}

// sgd is MLlib's mini-batch gradient descent: x ← prox(x − η₀/√t · ∇f_B(x)),
// f_B the objective on iteration t's sampled batch.
func (r *runner) sgd(obj BatchObjective, x0 []float64) (*Result, error) {
	res := &Result{}
	x := slices.Clone(x0)
	var F, gnorm float64
	first := 1
	if st := r.s.Resume; st != nil {
		x = slices.Clone(st.X)
		F, gnorm = st.F, st.GradNorm
		res.History, res.Iterations = slices.Clone(st.History), st.iterations
		first = st.Iter + 1
	}
	n := len(x)
	prev := make([]float64, n)
	g := make([]float64, n)
	finish := func(st Status, err error) (*Result, error) {
		res.X, res.F, res.GradNorm, res.Status = x, F, gnorm, st
		return res, err
	}
	for iter := first; iter <= r.s.MaxIter; iter++ {
		if err := r.ctx.Err(); err != nil {
			return finish(0, fmt.Errorf("ml: SGD stopped at iteration %d: %w", iter, err))
		}
		r.evals++
		f, err := obj.EvalBatch(r.ctx, g, x, Batch{Seed: r.s.Seed, Iter: iter, Fraction: r.s.MiniBatchFraction})
		if !errors.Is(err, ErrEmptyBatch) { // an empty batch is skipped, as MLlib does
			if err == nil {
				err = finite(f, g)
			}
			if err != nil {
				return finish(0, fmt.Errorf("ml: SGD stopped at iteration %d: %w", iter, err))
			}
			F = f + l1Norm(x, r.l1)
			gnorm = floats.Norm(g, 2)
			eta := r.s.StepSize / math.Sqrt(float64(iter))
			copy(prev, x)
			floats.AddScaled(x, -eta, g)
			softThreshold(x, r.l1, eta)
			res.Iterations = iter
			if r.report(res, iter, F, gnorm) {
				return finish(Stopped, nil)
			}
			if r.s.Tol >= 0 && floats.Distance(x, prev, 2) < r.s.Tol*math.Max(floats.Norm(x, 2), 1) {
				return finish(Converged, nil)
			}
		}
		if r.checkpointDue(iter) {
			st := &State{Method: SGD, L1: r.l1 != nil, Iter: iter, Evaluations: r.evals,
				X: slices.Clone(x), F: F, GradNorm: gnorm, History: slices.Clone(res.History), iterations: res.Iterations}
			if err := r.checkpoint(st); err != nil {
				return finish(0, err)
			}
		}
	}
	return finish(IterationLimit, nil)
}
