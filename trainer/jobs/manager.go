package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/log"
	"github.com/flintml/flint/models"
	"github.com/flintml/flint/trainer"
)

// Errors of the job manager; callers test with errors.Is.
var (
	// ErrNotFound: no job has that id.
	ErrNotFound = errors.New("jobs: no such job")
	// ErrFinished: the job has already succeeded, failed or been
	// canceled, so it cannot be canceled.
	ErrFinished = errors.New("jobs: job already finished")
	// ErrClosed: the manager is shutting down (or shut down) and
	// takes no more jobs.
	ErrClosed = errors.New("jobs: job manager closed")
)

// State is where a job is in its life: queued → running → succeeded,
// failed or canceled.
type State string

// The states of a job. Succeeded, failed and canceled are final.
const (
	Queued    State = "queued"
	Running   State = "running"
	Succeeded State = "succeeded"
	Failed    State = "failed"
	Canceled  State = "canceled"
)

// Final reports whether a job in state s will never change again.
func (s State) Final() bool { return s == Succeeded || s == Failed || s == Canceled }

// ParseState checks a state name, e.g. from a query parameter.
func ParseState(s string) (State, error) {
	switch st := State(s); st {
	case Queued, Running, Succeeded, Failed, Canceled:
		return st, nil
	}
	return "", fmt.Errorf("unknown job state %q (want queued, running, succeeded, failed or canceled)", s)
}

// ManagerConfig configures a Manager. Zero fields take the defaults given.
type ManagerConfig struct {
	// Store keeps the job records (jobs/<id>.json) and the optimiser
	// checkpoints (jobs/<id>/checkpoint...). Required; usually the model
	// store.
	Store models.Store
	// Registry receives the models. nil means models.NewRegistry(Store).
	Registry *models.Registry
	// Log is the log that topic sources are read from and dead letters
	// written to. nil means Submit refuses jobs that need one.
	Log log.Log
	// LogReadOnly says Log is open for reading only (the embedded log read
	// beside flint ingest): Submit refuses jobs with a dead-letter topic.
	LogReadOnly bool
	// Cluster runs the jobs (e.g. the driver of remote workers). nil means
	// each job runs on an in-process engine sized by its spec.
	Cluster cluster.Cluster
	// Ready, when set, is called before every run and must return once the
	// cluster can take the job, e.g. when enough workers have registered.
	// The job shows the phase "waiting for the cluster" meanwhile.
	Ready func(ctx context.Context) error
	// Observe, when set, returns an extra observer for each run of the job
	// with this id (each attempt calls it again).
	Observe func(id string) trainer.Observer
	// Logger receives the manager's events; nil means slog.Default().
	Logger *slog.Logger
	// FlintVersion is stored with the models.
	FlintVersion string
	// CheckpointEvery is the number of iterations between optimiser
	// checkpoints; 0 means the default of Checkpoints.Every.
	CheckpointEvery int
	// MaxConcurrent is how many jobs run at once; the rest wait in
	// submission order. 0 means 1: jobs share the cluster.
	MaxConcurrent int
	// MaxAttempts bounds how often a job is started: a job interrupted by
	// that many driver restarts is marked failed instead of being resumed
	// again (a job that crashes its driver must not crash every next one).
	// 0 means 3. Retries are not counted.
	MaxAttempts int
	// Retries bounds how often a job whose attempt failed for a transient
	// reason — an error wrapping cluster.ErrUnavailable (no live worker, a
	// log that could not be reached), or a deadline that expired inside
	// the attempt (a log read that timed out) — is started again, from its
	// newest checkpoint. Other errors fail the job at once, and a canceled
	// job is never retried. 0 means 5; negative means no retries.
	Retries int
	// RetryFor bounds how long after an attempt first failed for a
	// transient reason the job is retried: an attempt that would start
	// later is not. 0 means 10 minutes.
	RetryFor time.Duration
	// RetryBackoff is the wait before the first retry, doubled for every
	// next one up to maxRetryBackoff (30 s). 0 means 3 s: the five default
	// retries then wait 75 s together, so an outage of a minute is survived
	// even when every attempt fails at once.
	RetryBackoff time.Duration
	// Clock is the time triggered jobs read; nil means the real clock.
	Clock Clock
	// TriggerPoll is how often a triggered job checks its trigger: the
	// interval since its last run and the records appended to its source
	// topic. 0 means 1 s.
	TriggerPoll time.Duration
}

func (c ManagerConfig) withDefaults() ManagerConfig {
	if c.Registry == nil && c.Store != nil {
		c.Registry = models.NewRegistry(c.Store)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = 1
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 3
	}
	if c.Retries == 0 {
		c.Retries = 5
	}
	if c.RetryFor == 0 {
		c.RetryFor = 10 * time.Minute
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = 3 * time.Second
	}
	if c.Clock == nil {
		c.Clock = realClock{}
	}
	if c.TriggerPoll == 0 {
		c.TriggerPoll = defaultTriggerPoll
	}
	return c
}

func (c ManagerConfig) validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("ManagerConfig.Store is required (it keeps the job records)"))
	}
	if c.CheckpointEvery < 0 {
		errs = append(errs, fmt.Errorf("ManagerConfig.CheckpointEvery must be >= 0, got %d", c.CheckpointEvery))
	}
	if c.MaxConcurrent < 0 {
		errs = append(errs, fmt.Errorf("ManagerConfig.MaxConcurrent must be >= 0, got %d", c.MaxConcurrent))
	}
	if c.MaxAttempts < 0 {
		errs = append(errs, fmt.Errorf("ManagerConfig.MaxAttempts must be >= 0, got %d", c.MaxAttempts))
	}
	if c.TriggerPoll < 0 {
		errs = append(errs, fmt.Errorf("ManagerConfig.TriggerPoll must be >= 0, got %v", c.TriggerPoll))
	}
	if c.RetryFor < 0 || c.RetryBackoff < 0 {
		errs = append(errs, fmt.Errorf("ManagerConfig.RetryFor and RetryBackoff must be >= 0, got %v and %v", c.RetryFor, c.RetryBackoff))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("jobs: %w", err)
	}
	return nil
}

// Manager runs training jobs submitted to a long-running driver. It keeps a
// record of every job in the store, so a driver that restarts (a new
// Manager on the same store) lists the jobs of the last one and resumes the
// jobs it left queued or running, from their optimiser checkpoints.
//
// One Manager per store: two managers sharing one would both resume the
// same jobs. A Manager is safe for concurrent use.
type Manager struct {
	cfg     ManagerConfig
	log     *slog.Logger
	closing chan struct{} // closed when Close starts
	// saveEvery is how often saveProgress looks for progress to write:
	// progressEvery, shorter in tests.
	saveEvery time.Duration
	metrics   *managerMetrics

	mu      sync.Mutex // guards the fields below and every entry's job, cancel and changed
	jobs    map[string]*entry
	queue   []*entry // queued jobs, in submission order
	running int
	lastID  string
	closed  bool
	// triggers are the triggered jobs followed, by name.
	triggers map[string]*trigger
	wg       sync.WaitGroup // job goroutines, and Submit and Cancel while they write
}

type entry struct {
	job     Job                     // guarded by Manager.mu
	cancel  context.CancelCauseFunc // guarded by Manager.mu; set while running
	changed chan struct{}           // guarded by Manager.mu; closed and replaced on every change
	resumed bool                    // guarded by Manager.mu; queued again by NewManager
	readTo  map[int]int64           // guarded by Manager.mu; a succeeded run's offsets read up to, per partition

	saveMu sync.Mutex  // serialises writes of the record, so the last write has the latest state
	dirty  atomic.Bool // progress changed since the record was last written
}

// Causes of a running job's cancellation.
var (
	errCanceledByUser = errors.New("canceled by request")
	errClosing        = errors.New("the driver is shutting down")
)

const (
	jobsPrefix = "jobs/"
	jobSuffix  = ".json"
	// progressEvery bounds how often progress alone is written to the store.
	progressEvery = time.Second
	// storeTimeout bounds one write of a job record.
	storeTimeout = 30 * time.Second
)

func jobKey(id string) string { return jobsPrefix + id + jobSuffix }

// NewManager reads the job records in cfg.Store, resumes the jobs a previous
// driver left queued or running (each run again from its newest checkpoint,
// one more attempt), and starts taking jobs. ctx bounds only the reading.
// Close stops it.
func NewManager(ctx context.Context, cfg ManagerConfig) (*Manager, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m := &Manager{cfg: cfg, log: cfg.Logger, closing: make(chan struct{}), saveEvery: progressEvery, jobs: map[string]*entry{},
		metrics: newManagerMetrics(), triggers: map[string]*trigger{}}
	resume, err := m.load(ctx)
	if err != nil {
		return nil, err
	}
	for _, e := range resume {
		if e.job.CancelRequested { // the last driver stopped before the job did
			e.job.State, e.job.Finished = Canceled, time.Now().UTC()
			e.job.Error = "canceled by request; nothing was published"
			if err := m.save(e, nil); err != nil {
				return nil, err
			}
			m.dropCheckpoints(e.job.ID)
			continue
		}
		if e.job.Attempts-e.job.Retries >= cfg.MaxAttempts {
			e.job.State, e.job.Finished = Failed, time.Now().UTC()
			e.job.Error = fmt.Sprintf("interrupted by driver restarts %d times; not resumed again (submit it again to retry)", e.job.Attempts-e.job.Retries)
			m.log.Warn("jobs: not resuming job", "job", e.job.ID, "attempts", e.job.Attempts)
			if err := m.save(e, nil); err != nil {
				return nil, err
			}
			m.dropCheckpoints(e.job.ID)
			continue
		}
		e.resumed = e.job.Attempts > 0
		e.job.State = Queued
		m.queue = append(m.queue, e)
	}
	m.mu.Lock()
	m.schedule()
	m.mu.Unlock()
	if err := m.loadTriggers(ctx); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// load reads the job records in the store into m.jobs and returns the jobs
// that had not finished: those that were running first (they were started
// first), then the queued ones, each in submission order.
func (m *Manager) load(ctx context.Context) ([]*entry, error) {
	entries, err := m.cfg.Store.List(ctx, jobsPrefix)
	if err != nil {
		return nil, fmt.Errorf("jobs: list job records: %w", err)
	}
	var resume []*entry
	for _, en := range entries {
		id, ok := strings.CutSuffix(strings.TrimPrefix(en.Key, jobsPrefix), jobSuffix)
		if !ok || strings.Contains(id, "/") {
			continue // a checkpoint, or something else
		}
		data, _, err := m.cfg.Store.Load(ctx, en.Key)
		if errors.Is(err, models.ErrNotFound) {
			continue // deleted since the listing
		}
		if err != nil {
			return nil, fmt.Errorf("jobs: read job record %s: %w", en.Key, err)
		}
		var j Job
		if err := json.Unmarshal(data, &j); err != nil || j.ID != id {
			if err == nil {
				err = fmt.Errorf("it holds job %q", j.ID)
			}
			m.log.Warn("jobs: skipping a job record that does not decode", "key", en.Key, "err", err)
			continue
		}
		e := &entry{job: j, changed: make(chan struct{})}
		m.jobs[id] = e
		if _, _, ok := parseJobID(id); ok {
			m.lastID = max(m.lastID, id)
		}
		if !j.State.Final() {
			resume = append(resume, e)
		}
	}
	slices.SortFunc(resume, func(a, b *entry) int {
		if ra, rb := a.job.State == Running, b.job.State == Running; ra != rb {
			if ra {
				return -1
			}
			return 1
		}
		return strings.Compare(a.job.ID, b.job.ID)
	})
	return resume, nil
}

// schedule starts queued jobs while fewer than MaxConcurrent run. Called
// with m.mu held.
func (m *Manager) schedule() {
	for !m.closed && m.running < m.cfg.MaxConcurrent && len(m.queue) > 0 {
		e := m.queue[0]
		m.queue = m.queue[1:]
		ctx, cancel := context.WithCancelCause(context.Background())
		e.cancel = cancel
		e.job.State = Running
		e.job.Attempts++
		m.metrics.attempts.Inc()
		e.job.Started = time.Now().UTC()
		e.job.Phase, e.job.Progress, e.job.Error, e.job.NextAttempt = "", nil, "", time.Time{}
		m.changedLocked(e)
		if e.resumed {
			m.log.Info("jobs: resuming job interrupted by a driver restart", "job", e.job.ID, "name", e.job.Name, "attempt", e.job.Attempts)
		}
		m.running++
		m.wg.Add(1)
		go m.run(ctx, e)
	}
}

// changedLocked wakes everyone watching e. Called with m.mu held.
func (m *Manager) changedLocked(e *entry) {
	close(e.changed)
	e.changed = make(chan struct{})
}

// save writes j, or e's current record when j is nil, to the store.
func (m *Manager) save(e *entry, j *Job) error {
	e.saveMu.Lock()
	defer e.saveMu.Unlock()
	if j == nil {
		e.dirty.Store(false) // before the snapshot: later progress marks it again
	}
	m.mu.Lock()
	if j == nil {
		j = &e.job
	}
	data, err := json.Marshal(j)
	id := j.ID
	m.mu.Unlock()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := m.cfg.Store.Put(ctx, jobKey(id), bytes.NewReader(data), int64(len(data))); err != nil {
		return fmt.Errorf("jobs: write job record %s: %w", jobKey(id), err)
	}
	return nil
}

// dropCheckpoints deletes a finished job's checkpoints: it will never
// resume.
func (m *Manager) dropCheckpoints(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	prefix := trainer.CheckpointPrefix(id)
	es, err := m.cfg.Store.List(ctx, prefix)
	if err == nil {
		for _, en := range es {
			if err = m.cfg.Store.Delete(ctx, en.Key); err != nil {
				break
			}
		}
	}
	if err != nil {
		m.log.Warn("jobs: delete the checkpoints of a finished job", "job", id, "prefix", prefix, "err", err)
	}
}

// Get returns the job with this id.
func (m *Manager) Get(id string) (Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.jobs[id]
	if !ok {
		return Job{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return e.job, nil
}

// List returns the jobs, newest first; state "" means all of them, else
// only those in that state. The jobs' Spec is left out.
func (m *Manager) List(state State) []Job {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Job, 0, len(m.jobs))
	for _, e := range m.jobs {
		if state == "" || e.job.State == state {
			j := e.job
			j.Spec = ""
			out = append(out, j)
		}
	}
	slices.SortFunc(out, func(a, b Job) int { return strings.Compare(b.ID, a.ID) })
	return out
}

// Watch returns the job as it is now, and a channel that is closed at its
// next change (a state, phase or progress change). Changes in between two
// calls are coalesced: a watcher sees the latest state, not every
// iteration.
func (m *Manager) Watch(id string) (Job, <-chan struct{}, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.jobs[id]
	if !ok {
		return Job{}, nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return e.job, e.changed, nil
}

// Wait returns the job once it has finished (succeeded, failed or been
// canceled). If ctx ends first it returns the job as it is and ctx's
// error; if the manager closes first, ErrClosed.
func (m *Manager) Wait(ctx context.Context, id string) (Job, error) {
	for {
		j, changed, err := m.Watch(id)
		if err != nil || j.State.Final() {
			return j, err
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return j, ctx.Err()
		case <-m.closing:
			return j, ErrClosed
		}
	}
}

// Cancel cancels a job. A queued job is canceled at once; a running one is
// asked to stop and becomes canceled when its run returns, shortly after
// (Wait for it): nothing is published, unless the job was already
// publishing when the cancel came, in which case it succeeds. A finished
// job gives ErrFinished. Cancel returns the job as it is after the
// request.
func (m *Manager) Cancel(ctx context.Context, id string) (Job, error) {
	m.mu.Lock()
	e, ok := m.jobs[id]
	switch {
	case !ok:
		m.mu.Unlock()
		return Job{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	case e.job.State.Final():
		j := e.job
		m.mu.Unlock()
		return j, fmt.Errorf("%w: job %s %s", ErrFinished, id, j.State)
	case m.closed:
		m.mu.Unlock()
		return Job{}, ErrClosed
	case e.job.State == Running:
		if e.cancel != nil {
			e.cancel(errCanceledByUser)
		}
		e.job.CancelRequested = true
		m.changedLocked(e)
		j := e.job
		m.mu.Unlock()
		m.log.Info("jobs: canceling job", "job", id)
		return j, nil
	}
	// Queued.
	m.queue = slices.DeleteFunc(m.queue, func(q *entry) bool { return q == e })
	e.job.State, e.job.Finished = Canceled, time.Now().UTC()
	e.job.Error = "canceled by request before it started"
	m.changedLocked(e)
	j := e.job
	m.wg.Add(1)
	m.mu.Unlock()
	defer m.wg.Done()
	m.log.Info("jobs: job canceled before it started", "job", id)
	if err := m.save(e, nil); err != nil {
		return j, err
	}
	m.dropCheckpoints(id) // a resumed job that was queued again has some
	return j, nil
}

// Close stops the manager: it takes no more jobs, stops the running ones
// and waits for them. It does not mark them failed or canceled: they stay
// "running" (and queued jobs "queued") in the store, so the next Manager on
// the same store — the restarted driver — resumes them from their newest
// checkpoints. Cancel a job to stop it for good.
func (m *Manager) Close() error {
	m.mu.Lock()
	if !m.closed {
		m.closed = true
		close(m.closing)
		for _, e := range m.jobs {
			if e.cancel != nil {
				e.cancel(errClosing)
			}
		}
		for _, t := range m.triggers {
			t.stop()
		}
	}
	m.mu.Unlock()
	m.wg.Wait()
	return nil
}
