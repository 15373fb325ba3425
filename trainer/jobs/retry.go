package jobs

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/flintml/flint/cluster"
)

// maxRetryBackoff caps the wait between two attempts of a job.
const maxRetryBackoff = 30 * time.Second

// transient reports whether an attempt that ended with err, its context
// not canceled, may succeed if started again: the cluster or the log was
// unavailable, or a deadline inside the attempt (a log read's) expired.
func transient(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	return errors.Is(err, cluster.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}

// retrier decides, attempt after attempt of one run of a job, whether to
// start it again.
type retrier struct {
	since time.Time     // when the first transient failure came
	wait  time.Duration // before the next retry; 0 before the first
}

// retry reports whether the job's attempt that ended with err is to be
// started again. If so it has waited for the backoff, and the job's record
// says so meanwhile; it returns false, leaving err to end the job, when
// err is not transient, the job is out of retries or time, or ctx ends
// while it waits.
func (r *retrier) retry(ctx context.Context, m *Manager, e *entry, err error, logger *slog.Logger) bool {
	if !transient(ctx, err) {
		return false
	}
	now := time.Now()
	if r.since.IsZero() {
		r.since = now
	}
	r.wait = min(max(2*r.wait, m.cfg.RetryBackoff), max(maxRetryBackoff, m.cfg.RetryBackoff))
	m.mu.Lock()
	retries := e.job.Retries
	m.mu.Unlock()
	next := now.Add(r.wait)
	if retries >= m.cfg.Retries || next.Sub(r.since) > m.cfg.RetryFor {
		logger.Warn("jobs: job failed for a transient reason; out of retries", "retries", retries,
			"max_retries", max(m.cfg.Retries, 0), "failing_for", now.Sub(r.since).Round(time.Second), "retry_for", m.cfg.RetryFor, "err", err)
		return false
	}
	// Stored before anyone sees it (Get and Watch read the entry), as the
	// final states are: the record is written from a copy, then the entry
	// takes it.
	m.mu.Lock()
	waiting := e.job
	m.mu.Unlock()
	waiting.LastError, waiting.NextAttempt = err.Error(), next.UTC()
	waiting.Phase, waiting.Progress = "waiting to retry after a transient failure", nil
	attempt := waiting.Attempts
	if serr := m.save(e, &waiting); serr != nil {
		logger.Warn("jobs: record job retry", "err", serr)
	}
	m.mu.Lock()
	e.job.LastError, e.job.NextAttempt = waiting.LastError, waiting.NextAttempt
	e.job.Phase, e.job.Progress = waiting.Phase, nil
	m.changedLocked(e)
	m.mu.Unlock()
	logger.Warn("jobs: job attempt failed for a transient reason; retrying from its newest checkpoint",
		"attempt", attempt, "retry", retries+1, "max_retries", m.cfg.Retries, "in", r.wait, "err", err)
	t := time.NewTimer(r.wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	}
	m.mu.Lock()
	e.job.Attempts++
	e.job.Retries++
	m.metrics.attempts.Inc()
	m.metrics.retries.Inc()
	e.job.Started, e.job.NextAttempt = time.Now().UTC(), time.Time{}
	e.job.Phase = ""
	m.changedLocked(e)
	m.mu.Unlock()

	return true
}
