package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/flintml/flint/models"
	"github.com/flintml/flint/trainer"
)

// Submit validates a job spec (file names it in error positions) and queues
// the job. A spec with problems returns SpecErrors, every problem at once,
// and queues nothing.
//
// A spec with a trigger is a triggered job: it runs at once (the run is
// the Job returned), and again each time its trigger fires, until
// StopTrigger; the trigger is kept in the store (triggers/<name>.json), so
// a driver restarted on the store goes on with it. Submitting a triggered
// job of the same name again replaces its spec.
func (m *Manager) Submit(ctx context.Context, file string, spec []byte) (Job, error) {
	if file == "" {
		file = "job.yaml"
	}
	s, err := m.check(file, spec)
	if err != nil {
		return Job{}, err
	}
	if s.Trigger != nil {
		return m.submitTriggered(ctx, file, spec, s)
	}
	return m.enqueue(ctx, Job{Name: s.Name, File: file, Spec: string(spec)})
}

// check parses a spec and checks that this manager can run it.
func (m *Manager) check(file string, spec []byte) (*trainer.Spec, error) {
	s, err := trainer.ParseSpec(file, spec)
	if err != nil {
		return nil, err
	}
	if m.cfg.Log != nil && m.cfg.LogReadOnly && s.DeadLetter != "" {
		return nil, trainer.SpecErrors{{File: file, Path: "dead_letter_topic",
			Msg: fmt.Sprintf("this driver reads its log read-only and cannot write dead letters to topic %q (use --log kafka:HOST:PORT, or on_bad_record: skip)", s.DeadLetter)}}
	}
	if m.cfg.Log == nil {
		var errs trainer.SpecErrors
		if s.Source.Topic != "" {
			errs = append(errs, trainer.SpecError{File: file, Path: "source.topic",
				Msg: fmt.Sprintf("this driver has no log its workers can read topic %q from (start it with --log kafka:HOST:PORT); use source.files", s.Source.Topic)})
		}
		if s.DeadLetter != "" {
			errs = append(errs, trainer.SpecError{File: file, Path: "dead_letter_topic",
				Msg: fmt.Sprintf("this driver has no log to write dead letters to topic %q (start it with --log kafka:HOST:PORT)", s.DeadLetter)})
		}
		if len(errs) > 0 {
			return nil, errs
		}
	}
	return s, nil
}

// enqueue records a job (j's name, file, spec and trigger fields) under a
// fresh id and queues it.
func (m *Manager) enqueue(ctx context.Context, j Job) (Job, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return Job{}, ErrClosed
	}
	m.wg.Add(1)
	m.mu.Unlock()
	defer m.wg.Done()

	now := time.Now().UTC()
	j.State, j.Submitted = Queued, now
	// Claim an id no other job has: the record is created only if its key
	// is free, which also holds against another process sharing the store.
	for range 100 {
		m.mu.Lock()
		j.ID = m.nextID(now)
		m.mu.Unlock()
		data, err := json.Marshal(j)
		if err != nil {
			return Job{}, err
		}
		_, err = m.cfg.Store.PutIf(ctx, jobKey(j.ID), data, "")
		if errors.Is(err, models.ErrConflict) {
			continue
		}
		if err != nil {
			return Job{}, fmt.Errorf("jobs: write job record %s: %w", jobKey(j.ID), err)
		}
		e := &entry{job: j, changed: make(chan struct{})}
		m.mu.Lock()
		m.jobs[j.ID] = e
		m.queue = append(m.queue, e)
		m.schedule()
		j = e.job
		m.mu.Unlock()
		m.log.Info("jobs: job submitted", "job", j.ID, "name", j.Name, "trigger", j.Trigger)
		return j, nil
	}
	return Job{}, fmt.Errorf("jobs: no free job id after 100 tries (last %s)", j.ID)
}
