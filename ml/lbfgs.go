package ml

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/optimize"
)

// lbfgs runs gonum's L-BFGS. gonum owns the loop, so this is not a stepper;
// its Recorder (the recorder below) and Converger (relConverger) give it
// the driver's reports, stopping tests, stop reasons and checkpoints, as
// far as gonum allows: gonum does not pass the iteration that ends its run
// to the Recorder, so that one is reported when Minimize returns.
func (r *runner) lbfgs(x0 []float64) (*Result, error) {
	if st := r.s.Resume; st != nil {
		x0 = st.X
	}
	p := r.problem(len(x0))
	res := &Result{}
	conv := &relConverger{tol: r.s.Tol}
	search := &stepSearch{Linesearcher: &optimize.Bisection{}} // gonum's default for L-BFGS
	rec := &recorder{r: r, res: res, gradTol: r.s.GradTol, search: search}
	settings := &optimize.Settings{
		MajorIterations:   r.s.MaxIter + 1, // gonum counts the starting point as an iteration
		Converger:         conv,
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
	method := &optimize.LBFGS{Store: r.s.Memory, GradStopThreshold: math.NaN(), Linesearcher: search}
	gres, err := optimize.Minimize(p, x0, settings, method)
	if gres == nil {
		return nil, err
	}
	return rec.result(gres, conv, err)
}

// problem is obj as gonum sees it. gonum asks for Func and Grad separately
// at the same point; the cache makes that one pass over the data. Status
// ends the run on an evaluation error or a cancelled context.
func (r *runner) problem(n int) optimize.Problem {
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
	return optimize.Problem{
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
}

// evalCache holds the last point evaluated with its value and gradient.
// Only gonum's single evaluation goroutine uses it.
type evalCache struct {
	valid bool
	x, g  []float64
	f     float64
}

// relConverger is gonum's Converger for the relative function test; why
// says why it stopped the run.
type relConverger struct {
	tol   float64
	prev  float64
	first bool
	why   string
}

func (c *relConverger) Init(int) { c.first = true }

func (c *relConverger) Converged(loc *optimize.Location) optimize.Status {
	f := loc.F
	if c.first {
		c.first, c.prev = false, f
		return optimize.NotTerminated
	}
	c.why = relStop(c.tol, c.prev, f)
	c.prev = f
	if c.why != "" {
		return optimize.FunctionConvergence
	}
	return optimize.NotTerminated
}

var errStop = errors.New("ml: stopped by the progress callback")
var errGradDone = errors.New("ml: gradient converged")

// stepSearch is a gonum line search that keeps the step length it last
// accepted, for Progress.Step. gonum calls it on its method's goroutine and
// the Recorder on its own after a channel exchange, so the Recorder reads
// accepted after the line search wrote it.
type stepSearch struct {
	optimize.Linesearcher
	trial    float64 // the step of the last evaluation asked for
	accepted float64 // the step of the last line search that ended; 0 before the first
}

func (s *stepSearch) Init(value, derivative, step float64) optimize.Operation {
	s.trial = step
	return s.Linesearcher.Init(value, derivative, step)
}

func (s *stepSearch) Iterate(value, derivative float64) (optimize.Operation, float64, error) {
	op, step, err := s.Linesearcher.Iterate(value, derivative)
	switch {
	case err != nil:
	case op == optimize.MajorIteration: // the last step evaluated is the one taken
		s.accepted = s.trial
	default:
		s.trial = step
	}
	return op, step, err
}

// recorder forwards gonum's major iterations to the Progress callback,
// applies the Euclidean gradient test and takes the checkpoints.
type recorder struct {
	r        *runner
	res      *Result
	gradTol  float64
	offset   int  // iterations before gonum's starting point
	resumed  bool // the starting point is Settings.Resume's, already reported
	stopped  bool
	gradDone string // why the gradient test ended the run
	search   *stepSearch
}

func (rc *recorder) Init() error { return nil }

// Record sees every major iteration that does not end gonum's run.
func (rc *recorder) Record(loc *optimize.Location, op optimize.Operation, st *optimize.Stats) error {
	if op != optimize.MajorIteration {
		return nil
	}
	if rc.resumed && st.MajorIterations == 1 {
		return nil // the resumed state's point, reported by the run that saved it
	}
	iter := rc.offset + st.MajorIterations - 1
	gnorm := floats.Norm(loc.Gradient, 2)
	why := ""
	if rc.gradTol > 0 && gnorm <= rc.gradTol {
		why = gradTolStop(gnorm, rc.gradTol)
	}
	step := rc.search.accepted
	if iter == rc.offset {
		step = 0 // the starting point
	}
	if rc.r.report(rc.res, iter, loc.F, gnorm, step, why) {
		rc.stopped = true
		return errStop
	}
	if why != "" {
		rc.gradDone = why
		return errGradDone
	}
	if s := rc.r.s; s.CheckpointDue(iter, iter >= s.MaxIter) {
		cp := &State{Method: LBFGS, Iter: iter, Evaluations: rc.r.evals,
			X: slices.Clone(loc.X), F: loc.F, GradNorm: gnorm, History: slices.Clone(rc.res.History),
			grad: slices.Clone(loc.Gradient)}
		if err := s.SaveCheckpoint(iter, cp); err != nil {
			return fmt.Errorf("ml: %w", err)
		}
	}
	return nil
}

// result maps gonum's result and error to the Result, reporting the
// iteration that ended the run where the recorder did not see it: the
// last (converged or at MaxIter), or the one whose line search failed
// (at the point it started from).
func (rc *recorder) result(g *optimize.Result, conv *relConverger, err error) (*Result, error) {
	res := rc.res
	res.X, res.F, res.GradNorm = g.X, g.F, floats.Norm(g.Gradient, 2)
	res.Iterations = rc.offset + max(g.MajorIterations-1, 0)
	unseen := len(res.History) < res.Iterations+1 // gonum did not record the final iteration
	step := rc.search.accepted                    // of the final iteration, when it moved
	if res.Iterations == rc.offset {
		step = 0
	}
	switch {
	case rc.stopped:
		res.Status, res.Stop, err = Stopped, stopByCallback, nil
	case rc.gradDone != "":
		res.Status, res.Stop, err = GradientConverged, rc.gradDone, nil
	case g.Status == optimize.FunctionConvergence:
		res.Status, res.Stop = Converged, conv.why
	case g.Status == optimize.IterationLimit:
		res.Status, res.Stop = IterationLimit, maxIterStop(rc.r.s.MaxIter)
	case g.Status == optimize.GradientThreshold:
		res.Status, res.Stop = GradientConverged, gradTolStop(res.GradNorm, rc.gradTol)
	case errors.Is(err, optimize.ErrLinesearcherFailure) || errors.Is(err, optimize.ErrNoProgress) ||
		errors.Is(err, optimize.ErrNonDescentDirection) || errors.Is(err, optimize.ErrLinesearcherBound):
		res.Status, res.Stop = LineSearchFailed, "line search failed: "+strings.TrimPrefix(err.Error(), "linesearch: ")
		err = nil
		if !unseen {
			res.Iterations++ // the failed iteration, at the point it started from
			unseen = true
		}
		step = 0
	case err == nil:
		res.Stop = "gonum: " + g.Status.String()
	}
	if unseen {
		rc.r.report(res, res.Iterations, res.F, res.GradNorm, step, res.Stop)
	}
	if err != nil {
		res.Stop = ""
		return res, fmt.Errorf("ml: L-BFGS stopped at iteration %d: %w", res.Iterations, err)
	}
	return res, nil
}
