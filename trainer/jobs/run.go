package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"time"

	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/trainer"
)

// run runs a job's attempts, another after each that failed for a
// transient reason while retries are left, and records how the job ended
// (or leaves it running for the next driver when the manager closes). A
// final state is written to the store, and the checkpoints deleted, before
// watchers see it: a client that sees "succeeded" can rely on the record.
func (m *Manager) run(ctx context.Context, e *entry) {
	defer m.wg.Done()
	m.mu.Lock()
	j := e.job
	m.mu.Unlock()
	logger := m.log.With("job", j.ID)
	var res *trainer.Result
	var err error
	var r retrier
	for {
		res, err = m.attempt(ctx, e, logger)
		if !r.retry(ctx, m, e, err, logger) {
			break
		}
	}
	cause := context.Cause(ctx)

	m.mu.Lock()
	next := e.job
	m.mu.Unlock()
	switch {
	case err != nil && errors.Is(cause, errClosing):
		// Left running in the store for the next driver to resume.
		logger.Info("jobs: job interrupted; the next driver on this store resumes it", "attempt", next.Attempts)
	case err == nil:
		next.State, next.Result = Succeeded, newResult(res)
	case errors.Is(cause, errCanceledByUser):
		next.State, next.Error = Canceled, "canceled by request; nothing was published"
	default:
		next.State, next.Error = Failed, err.Error()
	}
	if next.State.Final() {
		next.Finished, next.NextAttempt = time.Now().UTC(), time.Time{}
		m.metrics.duration.WithLabelValues(string(next.State)).Observe(next.Finished.Sub(next.Submitted).Seconds())
		if err := m.save(e, &next); err != nil {
			logger.Error("jobs: record job end", "state", next.State, "err", err)
		}
		m.dropCheckpoints(j.ID)
	}

	m.mu.Lock()
	e.cancel(nil)
	e.cancel = nil
	if next.State.Final() {
		next.CancelRequested = next.CancelRequested || e.job.CancelRequested
		if res != nil && err == nil {
			e.readTo = readTo(res)
		}
		e.job = next
		m.changedLocked(e)
	}
	m.running--
	m.schedule()
	m.mu.Unlock()
	switch next.State {
	case Succeeded:
		logger.Info("jobs: job succeeded", "model", res.Model, "version", res.Version)
	case Failed:
		logger.Warn("jobs: job failed", "err", err)
	case Canceled:
		logger.Info("jobs: job canceled")
	}
}

// readTo is the offset a run read up to in each partition of its source
// topic, training and held-out records together.
func readTo(res *trainer.Result) map[int]int64 {
	out := map[int]int64{}
	for _, s := range append(slices.Clone(res.Lineage), res.Holdout...) {
		if s.Kind == "log" {
			out[s.Partition] = max(out[s.Partition], s.To)
		}
	}
	return out
}

// attempt runs one attempt of a job, recording its start and progress.
func (m *Manager) attempt(ctx context.Context, e *entry, logger *slog.Logger) (*trainer.Result, error) {
	if err := m.save(e, nil); err != nil {
		logger.Error("jobs: record job start", "err", err)
	}
	m.mu.Lock()
	j := e.job
	m.mu.Unlock()
	stop, stopped := make(chan struct{}), make(chan struct{})
	go m.saveProgress(e, logger, stop, stopped)
	res, err := m.runJob(ctx, e, j, logger)
	close(stop)
	<-stopped
	return res, err
}

// saveProgress writes e's record every saveEvery while its progress
// changes, off the optimiser's goroutine, until stop is closed; then it
// closes stopped.
func (m *Manager) saveProgress(e *entry, logger *slog.Logger, stop <-chan struct{}, stopped chan<- struct{}) {
	defer close(stopped)
	t := time.NewTicker(m.saveEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if e.dirty.Swap(false) {
				if err := m.save(e, nil); err != nil {
					logger.Warn("jobs: record job progress", "err", err)
				}
			}
		}
	}
}

// runJob parses the job's spec and runs it; a panic becomes an error with
// the stack, so one job cannot take the driver down.
func (m *Manager) runJob(ctx context.Context, e *entry, j Job, logger *slog.Logger) (res *trainer.Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("jobs: job panicked: %v\n%s", p, debug.Stack())
		}
	}()
	spec, err := trainer.ParseSpec(j.File, []byte(j.Spec))
	if err != nil {
		return nil, err
	}
	obs := &jobObserver{m: m, e: e, id: j.ID}
	if m.cfg.Observe != nil {
		obs.extra = m.cfg.Observe(j.ID)
	}
	if m.cfg.Ready != nil {
		obs.Phase("waiting for the cluster")
		if err := m.cfg.Ready(ctx); err != nil {
			return nil, err
		}
	}
	return trainer.Run(ctx, spec, trainer.Options{
		Log: m.cfg.Log, Registry: m.cfg.Registry, SpecText: j.Spec, FlintVersion: m.cfg.FlintVersion,
		Observer: obs, Logger: logger, Cluster: m.cfg.Cluster,
		Checkpoints: &trainer.Checkpoints{Store: m.cfg.Store, Prefix: trainer.CheckpointPrefix(j.ID), Every: m.cfg.CheckpointEvery},
	})
}

// jobObserver keeps a running job's phase and progress. A phase change is
// written to the store at once; progress by saveProgress.
type jobObserver struct {
	m     *Manager
	e     *entry
	id    string
	extra trainer.Observer // may be nil
}

func (o *jobObserver) Phase(name string) {
	o.m.mu.Lock()
	o.e.job.Phase = name
	o.m.changedLocked(o.e)
	o.m.mu.Unlock()
	if err := o.m.save(o.e, nil); err != nil {
		o.m.log.Warn("jobs: record job phase", "job", o.id, "err", err)
	}
	if o.extra != nil {
		o.extra.Phase(name)
	}
}

func (o *jobObserver) Iteration(trial int, p ml.Progress, maxIter int) {
	o.m.metrics.iterations.Inc()
	o.m.mu.Lock()
	o.e.job.Progress = &Progress{Trial: trial, Iter: p.Iter, MaxIter: maxIter, Loss: Float(p.Loss),
		GradNorm: Float(p.GradNorm), Step: Float(p.Step), ElapsedSec: p.Elapsed.Seconds()}
	o.m.changedLocked(o.e)
	o.m.mu.Unlock()
	o.e.dirty.Store(true)
	if o.extra != nil {
		o.extra.Iteration(trial, p, maxIter)
	}
}
