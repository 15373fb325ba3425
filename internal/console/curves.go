package console

import (
	"sync"
	"time"

	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/trainer"
)

// Point is one optimiser iteration as the console charts it.
type Point struct {
	Iter     int
	Loss     float64
	GradNorm float64
	Step     float64 // the step length taken (ml.Progress.Step); 0 for none
	Elapsed  time.Duration
	Stop     string // the last report of a fit says why it stopped
}

// Curves records every iteration the jobs of a Manager report, per job and
// trial, for the loss, gradient-norm and step-size charts: the Manager keeps only a
// job's latest iteration. Wire Observe into jobs.ManagerConfig.Observe.
// Curves is safe for concurrent use; the optimiser's goroutine pays one
// mutex-guarded append per iteration.
//
// It keeps the curves of the newest MaxJobs jobs, up to MaxPoints points a
// fit (beyond that every other point is dropped, so a long fit keeps its
// shape at half the resolution).
type Curves struct {
	mu     sync.Mutex
	jobs   map[string]*jobCurves
	order  []string // job ids, oldest first, for eviction
	maxJob int
	maxPt  int
}

// Bounds of a Curves.
const (
	MaxJobs   = 200
	MaxPoints = 4096
)

type jobCurves struct {
	trials  map[int][]Point
	changed chan struct{} // closed and replaced on every new point
}

// NewCurves returns an empty recorder.
func NewCurves() *Curves {
	return &Curves{jobs: map[string]*jobCurves{}, maxJob: MaxJobs, maxPt: MaxPoints}
}

// Observe returns the observer of one run of job id: pass it as
// jobs.ManagerConfig.Observe.
func (c *Curves) Observe(id string) trainer.Observer { return observer{c: c, id: id} }

type observer struct {
	c  *Curves
	id string
}

func (o observer) Phase(string) {}

func (o observer) Iteration(trial int, p ml.Progress, _ int) {
	o.c.add(o.id, trial, Point{Iter: p.Iter, Loss: p.Loss, GradNorm: p.GradNorm, Step: p.Step, Elapsed: p.Elapsed, Stop: p.Stop})
}

func (c *Curves) add(id string, trial int, p Point) {
	c.mu.Lock()
	defer c.mu.Unlock()
	jc := c.entry(id)
	pts := jc.trials[trial]
	// A retried or resumed attempt starts again from a checkpoint: the
	// points from there on are replaced.
	for len(pts) > 0 && pts[len(pts)-1].Iter >= p.Iter {
		pts = pts[:len(pts)-1]
	}
	if len(pts) >= c.maxPt {
		half := pts[:0]
		for i := 0; i < len(pts); i += 2 {
			half = append(half, pts[i])
		}
		pts = half
	}
	jc.trials[trial] = append(pts, p)
	close(jc.changed)
	jc.changed = make(chan struct{})
}

// Get returns copies of job id's curves by trial, and a channel closed at
// its next point. A job with no point recorded gets an empty map and a nil
// channel (Get records nothing, so looking at old jobs evicts no curve).
func (c *Curves) Get(id string) (map[int][]Point, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	jc := c.jobs[id]
	if jc == nil {
		return map[int][]Point{}, nil
	}
	out := make(map[int][]Point, len(jc.trials))
	for t, pts := range jc.trials {
		out[t] = append([]Point(nil), pts...)
	}
	return out, jc.changed
}

// entry returns job id's curves, made (and the oldest job's dropped past
// maxJob) when there are none. Called with c.mu held.
func (c *Curves) entry(id string) *jobCurves {
	jc := c.jobs[id]
	if jc == nil {
		jc = &jobCurves{trials: map[int][]Point{}, changed: make(chan struct{})}
		c.jobs[id] = jc
		c.order = append(c.order, id)
		if len(c.order) > c.maxJob {
			delete(c.jobs, c.order[0])
			c.order = c.order[1:]
		}
	}
	return jc
}
