package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/flintml/flint/models"
	"github.com/flintml/flint/trainer"
)

// Clock is the time a Manager's triggers read: the real clock by default;
// tests move a fake one by hand.
type Clock interface {
	Now() time.Time
	// After is time.After.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

const (
	triggersPrefix = "triggers/"
	// defaultTriggerPoll is how often a trigger checks its source and
	// interval by default.
	defaultTriggerPoll = time.Second
)

func triggerKey(name string) string { return triggersPrefix + name + jobSuffix }

// triggerRecord is a triggered job as the store keeps it
// (triggers/<name>.json).
type triggerRecord struct {
	Name string `json:"name"`
	File string `json:"file"`
	Spec string `json:"spec"`
}

// TriggerStatus is a triggered job as its Manager follows it.
type TriggerStatus struct {
	Name string `json:"name"`
	// Every and Records are the spec's trigger.
	Every   string `json:"every,omitempty"`
	Records int64  `json:"records,omitempty"`
	// Runs counts the runs this manager started; Coalesced the runs in
	// progress during which the trigger fired again (each is followed by
	// at most one run, if the trigger is still due when it ends).
	Runs      int `json:"runs"`
	Coalesced int `json:"coalesced"`
	// Running is the id of the run in progress; LastRun of the latest
	// run started, and LastReason why it started.
	Running    string `json:"running,omitempty"`
	LastRun    string `json:"last_run,omitempty"`
	LastReason string `json:"last_reason,omitempty"`
	// NewRecords is the records appended to the source after the offsets
	// the last run read up to, when last counted.
	NewRecords int64 `json:"new_records"`
}

// trigger is one triggered job followed by a goroutine of its Manager.
type trigger struct {
	rec    triggerRecord
	spec   *trainer.Spec
	stop   context.CancelFunc
	done   chan struct{} // closed when the loop returns
	fire   chan string   // a firing from outside (Fire), with its reason
	status TriggerStatus // guarded by Manager.mu
}

// triggerState is what a trigger's loop knows of its job's runs.
type triggerState struct {
	lastStart time.Time       // when the last run started; zero: never
	readTo    map[int]int64   // per partition, the offset the last run read up to
	running   string          // the run in progress
	ended     <-chan struct{} // closed when it has finished
	coalesced bool            // the trigger fired during the run in progress
	fired     string          // why Fire asked for a run, not yet started
}

// submitTriggered registers (or replaces) a triggered job, keeps it in the
// store, and starts a run at once unless one of the job is in progress.
func (m *Manager) submitTriggered(ctx context.Context, file string, spec []byte, s *trainer.Spec) (Job, error) {
	rec := triggerRecord{Name: s.Name, File: file, Spec: string(spec)}
	data, err := json.Marshal(rec)
	if err != nil {
		return Job{}, err
	}
	if err := m.cfg.Store.Put(ctx, triggerKey(s.Name), bytes.NewReader(data), int64(len(data))); err != nil {
		return Job{}, fmt.Errorf("jobs: write trigger record %s: %w", triggerKey(s.Name), err)
	}
	j, err := m.runNow(ctx, rec, "submitted")
	if err != nil {
		return Job{}, err
	}
	if err := m.startTrigger(rec, s, nil); err != nil {
		return Job{}, err
	}
	return j, nil
}

// runNow returns the run of a triggered job in progress, or starts one.
func (m *Manager) runNow(ctx context.Context, rec triggerRecord, why string) (Job, error) {
	if id := m.inFlight(rec.Name); id != "" {
		return m.Get(id)
	}
	return m.enqueue(ctx, Job{Name: rec.Name, File: rec.File, Spec: rec.Spec, Trigger: why})
}

// inFlight returns the id of a queued or running run of the triggered job
// name, or "".
func (m *Manager) inFlight(name string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, e := range m.jobs {
		if e.job.Trigger != "" && e.job.Name == name && !e.job.State.Final() {
			return id
		}
	}
	return ""
}

// startTrigger starts following a triggered job, replacing the loop of an
// earlier spec of the same name. each, when set, is called with every run
// that ends.
func (m *Manager) startTrigger(rec triggerRecord, s *trainer.Spec, each func(Job)) error {
	ctx, cancel := context.WithCancel(context.Background())
	t := &trigger{rec: rec, spec: s, stop: cancel, done: make(chan struct{}), fire: make(chan string, 1)}
	t.status = TriggerStatus{Name: rec.Name, Records: s.Trigger.Records}
	if s.Trigger.Every > 0 {
		t.status.Every = s.Trigger.Every.String()
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		cancel()
		return ErrClosed
	}
	old := m.triggers[rec.Name]
	m.triggers[rec.Name] = t
	m.wg.Add(1)
	m.mu.Unlock()
	if old != nil {
		old.stop()
		<-old.done
	}
	go func() {
		defer m.wg.Done()
		defer close(t.done)
		m.follow(ctx, t, each)
	}()
	return nil
}

// StopTrigger stops following the triggered job name and deletes its
// record from the store; a run in progress goes on to its end.
func (m *Manager) StopTrigger(ctx context.Context, name string) error {
	m.mu.Lock()
	t, ok := m.triggers[name]
	delete(m.triggers, name)
	m.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: no triggered job %q", ErrNotFound, name)
	}
	t.stop()
	<-t.done
	if err := m.cfg.Store.Delete(ctx, triggerKey(name)); err != nil {
		return fmt.Errorf("jobs: delete trigger record %s: %w", triggerKey(name), err)
	}
	return nil
}

// Triggers lists the triggered jobs the manager follows, by name.
func (m *Manager) Triggers() []TriggerStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]TriggerStatus, 0, len(m.triggers))
	for _, t := range m.triggers {
		out = append(out, t.status)
	}
	slices.SortFunc(out, func(a, b TriggerStatus) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// loadTriggers starts following the triggered jobs kept in the store.
func (m *Manager) loadTriggers(ctx context.Context) error {
	entries, err := m.cfg.Store.List(ctx, triggersPrefix)
	if err != nil {
		return fmt.Errorf("jobs: list trigger records: %w", err)
	}
	for _, en := range entries {
		data, _, err := m.cfg.Store.Load(ctx, en.Key)
		if errors.Is(err, models.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("jobs: read trigger record %s: %w", en.Key, err)
		}
		var rec triggerRecord
		if err := json.Unmarshal(data, &rec); err != nil {
			m.log.Warn("jobs: skipping a trigger record that does not decode", "key", en.Key, "err", err)
			continue
		}
		s, err := m.check(rec.File, []byte(rec.Spec))
		if err == nil && s.Trigger == nil {
			err = errors.New("the spec has no trigger")
		}
		if err != nil {
			m.log.Warn("jobs: not following a triggered job whose spec this driver cannot run", "key", en.Key, "err", err)
			continue
		}
		if err := m.startTrigger(rec, s, nil); err != nil {
			return err
		}
	}
	return nil
}

// Follow runs a triggered job in the foreground (flint train --follow):
// once at once, then each time its trigger fires, calling each with every
// run that ends, until ctx ends; a run in progress then is canceled. The
// trigger is not kept in the store.
func (m *Manager) Follow(ctx context.Context, file string, spec []byte, each func(Job)) error {
	s, err := m.check(file, spec)
	if err != nil {
		return err
	}
	if s.Trigger == nil {
		return trainer.SpecErrors{{File: file, Path: "trigger", Msg: "following a job needs a trigger: every (an interval), records (a count of new records) or both"}}
	}
	rec := triggerRecord{Name: s.Name, File: file, Spec: string(spec)}
	if _, err := m.runNow(ctx, rec, "started"); err != nil {
		return err
	}
	if err := m.startTrigger(rec, s, each); err != nil {
		return err
	}
	<-ctx.Done()
	m.mu.Lock()
	t := m.triggers[s.Name]
	delete(m.triggers, s.Name)
	m.mu.Unlock()
	if t != nil {
		t.stop()
		<-t.done
	}
	if id := m.inFlight(s.Name); id != "" {
		if _, err := m.Cancel(context.Background(), id); err == nil {
			j, _ := m.Wait(context.Background(), id)
			if each != nil {
				each(j)
			}
		}
	}
	return ctx.Err()
}

// follow is a triggered job's loop: it checks the trigger every
// TriggerPoll and when a run ends, starts a run when the trigger is due
// and none is in progress, and coalesces firings during a run.
func (m *Manager) follow(ctx context.Context, t *trigger, each func(Job)) {
	st := m.baseline(ctx, t)
	if id := m.inFlight(t.rec.Name); id != "" {
		// A run submitted with the trigger, or resumed by a restarted
		// driver: the interval counts from now.
		st.running, st.ended, st.lastStart = id, m.ended(ctx, id), m.clock().Now()
		m.setStatus(t, func(s *TriggerStatus) { s.Running, s.LastRun = id, id })
	}
	// poll is the pending wait for the next check: kept across wake-ups
	// by a run's end or a firing, so the loop waits on one timer at a time
	// and a check comes every TriggerPoll whatever else woke it.
	var poll <-chan time.Time
	for {
		if st.running != "" {
			select {
			case <-st.ended:
				j, err := m.Get(st.running)
				if err == nil {
					m.ran(ctx, t, j, &st)
					if each != nil {
						each(j)
					}
				}
				st.running, st.ended, st.coalesced = "", nil, false
				m.setStatus(t, func(s *TriggerStatus) { s.Running = "" })
			default:
			}
		}
		why := m.due(ctx, t, &st)
		if why == "" {
			why = st.fired
		}
		st.fired = "" // a firing during a run is absorbed by it
		if why != "" {
			switch {
			case st.running == "":
				j, err := m.enqueue(ctx, Job{Name: t.rec.Name, File: t.rec.File, Spec: t.rec.Spec, Trigger: why})
				if err != nil {
					if ctx.Err() != nil || errors.Is(err, ErrClosed) {
						return
					}
					m.log.Warn("jobs: start a triggered run", "job", t.rec.Name, "err", err)
					break
				}
				st.running, st.ended, st.lastStart = j.ID, m.ended(ctx, j.ID), m.clock().Now()
				m.setStatus(t, func(s *TriggerStatus) { s.Runs++; s.Running, s.LastRun, s.LastReason = j.ID, j.ID, why })
				m.log.Info("jobs: trigger fired", "job", t.rec.Name, "run", j.ID, "why", why)
			case !st.coalesced:
				st.coalesced = true
				m.setStatus(t, func(s *TriggerStatus) { s.Coalesced++ })
				m.log.Info("jobs: trigger fired during a run; coalesced", "job", t.rec.Name, "run", st.running, "why", why)
			}
		}
		if poll == nil {
			poll = m.clock().After(m.cfg.TriggerPoll)
		}
		select {
		case <-ctx.Done():
			return
		case <-st.ended:
		case st.fired = <-t.fire:
		case <-poll:
			poll = nil
		}
	}
}

// Fire asks the triggered job name for a run now, whatever its trigger
// says (a monitor that saw the served data drift calls it): the run starts
// unless one is in progress, which then stands for it. why is recorded as
// the run's trigger.
func (m *Manager) Fire(name, why string) error {
	m.mu.Lock()
	t, ok := m.triggers[name]
	m.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: no triggered job %q", ErrNotFound, name)
	}
	select {
	case t.fire <- why:
	default: // a firing is already waiting for the loop
	}
	return nil
}

func (m *Manager) clock() Clock { return m.cfg.Clock }

func (m *Manager) setStatus(t *trigger, fn func(*TriggerStatus)) {
	m.mu.Lock()
	fn(&t.status)
	m.mu.Unlock()
}

// ended returns a channel closed when job id has finished (or ctx ended,
// or the manager closed).
func (m *Manager) ended(ctx context.Context, id string) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		_, _ = m.Wait(ctx, id)
	}()
	return ch
}

// baseline is what the store says of the job's last run: the offsets its
// latest model version read up to (training and holdout records), and
// when it was created. A job with no version is due at once.
func (m *Manager) baseline(ctx context.Context, t *trigger) triggerState {
	st := triggerState{readTo: map[int]int64{}}
	model := t.spec.Output.Model
	if model == "" {
		model = t.spec.Name
	}
	art, _, err := m.cfg.Registry.Latest(ctx, model)
	if err != nil {
		if !errors.Is(err, models.ErrNotFound) {
			m.log.Warn("jobs: read the latest version of a triggered job's model; counting from now", "job", t.rec.Name, "err", err)
			st.lastStart = m.clock().Now()
			m.readLatest(ctx, t, &st)
		}
		return st
	}
	st.lastStart = art.Created
	for _, s := range trainer.ReadOffsets(art) {
		if s.Kind == "log" && s.Topic == t.spec.Source.Topic {
			st.readTo[s.Partition] = max(st.readTo[s.Partition], s.To)
		}
	}
	return st
}

// readLatest sets st.readTo to the source topic's high watermarks.
func (m *Manager) readLatest(ctx context.Context, t *trigger, st *triggerState) {
	if t.spec.Source.Topic == "" || m.cfg.Log == nil {
		return
	}
	info, err := m.cfg.Log.Describe(ctx, t.spec.Source.Topic)
	if err != nil {
		m.log.Warn("jobs: describe a triggered job's source topic", "job", t.rec.Name, "topic", t.spec.Source.Topic, "err", err)
		return
	}
	for _, p := range info.Partitions {
		st.readTo[p.ID] = p.Latest
	}
}

// ran updates st after run j ended: the offsets a succeeded run read up
// to; after a failed or canceled run, the source's offsets now, so that a
// records trigger waits for as many new records again instead of
// starting the failing job over and over.
func (m *Manager) ran(ctx context.Context, t *trigger, j Job, st *triggerState) {
	if j.State == Succeeded {
		m.mu.Lock()
		readTo := m.jobs[j.ID].readTo
		m.mu.Unlock()
		if readTo != nil {
			st.readTo = readTo
			return
		}
	}
	m.readLatest(ctx, t, st)
}

// due says why the job should run now ("" when it should not): it never
// ran, its interval passed since the last run started, or enough records
// arrived after those the last run read.
func (m *Manager) due(ctx context.Context, t *trigger, st *triggerState) string {
	tr := t.spec.Trigger
	now := m.clock().Now()
	if st.lastStart.IsZero() {
		return "no version yet"
	}
	if tr.Every > 0 && now.Sub(st.lastStart) >= tr.Every {
		return fmt.Sprintf("%v since the last run", tr.Every)
	}
	if tr.Records > 0 && m.cfg.Log != nil {
		info, err := m.cfg.Log.Describe(ctx, t.spec.Source.Topic)
		if err != nil {
			if ctx.Err() == nil {
				m.log.Warn("jobs: describe a triggered job's source topic", "job", t.rec.Name, "topic", t.spec.Source.Topic, "err", err)
			}
			return ""
		}
		var n int64
		for _, p := range info.Partitions {
			from, ok := st.readTo[p.ID]
			if !ok {
				from = p.Earliest
			}
			n += max(p.Latest-max(from, p.Earliest), 0)
		}
		m.setStatus(t, func(s *TriggerStatus) { s.NewRecords = n })
		if n >= tr.Records {
			return fmt.Sprintf("%d new records (trigger %d)", n, tr.Records)
		}
	}
	return ""
}
