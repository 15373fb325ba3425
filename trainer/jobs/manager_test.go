package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flintml/flint/internal/trainertest"
	"github.com/flintml/flint/log/disk"
	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/models"
	"github.com/flintml/flint/models/local"
	"github.com/flintml/flint/trainer"
)

// newJobStore is a model store in a temporary directory.
func newJobStore(t testing.TB) models.Store {
	t.Helper()
	st, err := local.New(filepath.Join(t.TempDir(), "models"))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// The shared fixtures (internal/trainertest).
var (
	clicksCSV      = trainertest.ClicksCSV
	jobSpec        = trainertest.JobSpec
	quietLogger    = trainertest.QuietLogger
	algorithmSpecs = trainertest.AlgorithmSpecs
)

func newManager(t *testing.T, cfg ManagerConfig) *Manager {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	cfg.FlintVersion = "test"
	m, err := NewManager(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func submit(t *testing.T, m *Manager, spec string) Job {
	t.Helper()
	j, err := m.Submit(context.Background(), "job.yaml", []byte(spec))
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	return j
}

func waitJob(t *testing.T, m *Manager, id string) Job {
	t.Helper()
	j, err := m.Wait(context.Background(), id)
	if err != nil {
		t.Fatalf("wait for %s: %v", id, err)
	}
	return j
}

// record reads a job's record from the store.
func record(t *testing.T, st models.Store, id string) Job {
	t.Helper()
	data, _, err := st.Load(context.Background(), jobKey(id))
	if err != nil {
		t.Fatal(err)
	}
	var j Job
	if err := json.Unmarshal(data, &j); err != nil {
		t.Fatalf("record %s: %v\n%s", id, err, data)
	}
	return j
}

// iterHook is an Observer that calls fn on every iteration.
type iterHook func(trial int, p ml.Progress)

func (iterHook) Phase(string)                                {}
func (h iterHook) Iteration(trial int, p ml.Progress, _ int) { h(trial, p) }

// waitCancelRequested blocks until job id has been asked to stop.
func waitCancelRequested(m *Manager, id string) {
	for {
		j, changed, err := m.Watch(id)
		if err != nil || j.CancelRequested {
			return
		}
		<-changed
	}
}

func TestManagerRunsAJob(t *testing.T) {
	st := newJobStore(t)
	m := newManager(t, ManagerConfig{Store: st})
	csv := clicksCSV(t)
	j := submit(t, m, jobSpec("clicks", csv))
	if j.State != Queued && j.State != Running || j.Name != "clicks" || j.Spec == "" || j.Submitted.IsZero() {
		t.Fatalf("submitted job %+v", j)
	}
	j = waitJob(t, m, j.ID)
	if j.State != Succeeded || j.Attempts != 1 || j.Result == nil || j.Result.Version != 1 || j.Result.Model != "clicks" {
		t.Fatalf("job ended %+v (result %+v)", j, j.Result)
	}
	if acc := float64(j.Result.Metrics["accuracy"]); !(acc > 0.8) {
		t.Fatalf("accuracy %v", acc)
	}
	if j.Progress == nil || j.Progress.Iter == 0 || j.Finished.Before(j.Started) || j.Started.Before(j.Submitted) {
		t.Fatalf("progress %+v, submitted %v started %v finished %v", j.Progress, j.Submitted, j.Started, j.Finished)
	}
	art, vi, err := models.NewRegistry(st).Latest(context.Background(), "clicks")
	if err != nil || vi.Version != 1 || art.FlintVersion != "test" || !strings.Contains(art.Spec, "logistic_regression") {
		t.Fatalf("published model: %v, version %d", err, vi.Version)
	}
	if rec := record(t, st, j.ID); rec.State != Succeeded || rec.Result == nil || rec.Result.Version != 1 {
		t.Fatalf("stored record %+v", rec)
	}
}

func TestSubmitRejectsBadSpecsAndQueuesNothing(t *testing.T) {
	st := newJobStore(t)
	m := newManager(t, ManagerConfig{Store: st})
	bad := "name: x\nsource: {topic: t}\nschema: {fields: [{name: a, type: numeric}]}\nalgorithm:\n  foo: {}\n"
	_, err := m.Submit(context.Background(), "bad.yaml", []byte(bad))
	var se trainer.SpecErrors
	if !errors.As(err, &se) {
		t.Fatalf("bad spec: %v, want SpecErrors", err)
	}
	if !strings.Contains(err.Error(), "bad.yaml:5:3: algorithm.foo") {
		t.Fatalf("the problems do not name bad.yaml:5:3 and algorithm.foo:\n%v", err)
	}
	// A topic source needs a log, and this manager has none.
	_, err = m.Submit(context.Background(), "topic.yaml", []byte(strings.Replace(jobSpec("t", "x.csv"), `{files: ["x.csv"], header: true}`, "{topic: clicks}", 1)))
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "topic.yaml: source.topic: this driver has no log") {
		t.Fatalf("topic job without a log: %v", err)
	}
	if jobs := m.List(""); len(jobs) != 0 {
		t.Fatalf("rejected specs were queued: %+v", jobs)
	}
	if es, _ := st.List(context.Background(), jobsPrefix); len(es) != 0 {
		t.Fatalf("rejected specs left records: %+v", es)
	}

	// A driver reading the embedded log read-only cannot write dead letters.
	l, err := disk.Open(disk.Config{Dir: filepath.Join(t.TempDir(), "log")})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ro := newManager(t, ManagerConfig{Store: newJobStore(t), Log: l, LogReadOnly: true})
	dl := strings.Replace(jobSpec("t", "x.csv"), "algorithm:", "on_bad_record: dead_letter\ndead_letter_topic: bad\nalgorithm:", 1)
	_, err = ro.Submit(context.Background(), "dl.yaml", []byte(dl))
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "dl.yaml: dead_letter_topic: this driver reads its log read-only") {
		t.Fatalf("dead-letter job on a read-only log: %v", err)
	}
}

// Jobs run one at a time, in submission order; a queued job can be canceled
// before it starts, and then never runs.
func TestQueueAndCancelQueued(t *testing.T) {
	st := newJobStore(t)
	reached, release := make(chan string, 1), make(chan struct{})
	var once sync.Once
	m := newManager(t, ManagerConfig{Store: st, Observe: func(id string) trainer.Observer {
		return iterHook(func(_ int, p ml.Progress) {
			if p.Iter == 1 {
				once.Do(func() { reached <- id; <-release })
			}
		})
	}})
	csv := clicksCSV(t)
	a := submit(t, m, jobSpec("a", csv))
	b := submit(t, m, jobSpec("b", csv))
	if got := <-reached; got != a.ID {
		t.Fatalf("job %s ran first, want %s (submitted first)", got, a.ID)
	}
	if a.ID >= b.ID {
		t.Fatalf("ids %s then %s do not sort in submission order", a.ID, b.ID)
	}
	if j, _ := m.Get(b.ID); j.State != Queued {
		t.Fatalf("b is %s while a runs, want queued", j.State)
	}
	// Checkpoints of b, as if an earlier attempt had left some.
	ck := trainer.CheckpointPrefix(b.ID) + "/000001"
	if err := st.Put(context.Background(), ck, strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	j, err := m.Cancel(context.Background(), b.ID)
	if err != nil || j.State != Canceled {
		t.Fatalf("cancel queued b: %+v, %v", j, err)
	}
	if _, err := m.Cancel(context.Background(), b.ID); !errors.Is(err, ErrFinished) {
		t.Fatalf("second cancel: %v, want ErrFinished", err)
	}
	if _, err := m.Cancel(context.Background(), "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("cancel of an unknown job: %v, want ErrNotFound", err)
	}
	close(release)
	if j := waitJob(t, m, a.ID); j.State != Succeeded {
		t.Fatalf("a: %+v", j)
	}
	if j := waitJob(t, m, b.ID); j.State != Canceled || j.Attempts != 0 {
		t.Fatalf("b: %+v, want canceled without an attempt", j)
	}
	if rec := record(t, st, b.ID); rec.State != Canceled {
		t.Fatalf("b's record is %s", rec.State)
	}
	if es, _ := st.List(context.Background(), trainer.CheckpointPrefix(b.ID)); len(es) != 0 {
		t.Fatalf("the canceled job's checkpoints were kept: %+v", es)
	}
	jobs := m.List("")
	if len(jobs) != 2 || jobs[0].ID != b.ID || jobs[1].ID != a.ID || jobs[0].Spec != "" {
		t.Fatalf("list, newest first without specs: %+v", jobs)
	}
	if jobs := m.List(Canceled); len(jobs) != 1 || jobs[0].ID != b.ID {
		t.Fatalf("list canceled: %+v", jobs)
	}
}

func TestCancelRunningPublishesNothing(t *testing.T) {
	st := newJobStore(t)
	var m *Manager
	m = newManager(t, ManagerConfig{Store: st, Observe: func(id string) trainer.Observer {
		return iterHook(func(_ int, p ml.Progress) {
			if p.Iter == 2 {
				waitCancelRequested(m, id)
			}
		})
	}})
	j := submit(t, m, jobSpec("stopped", clicksCSV(t)))
	for { // until it runs
		cur, changed, _ := m.Watch(j.ID)
		if cur.Progress != nil {
			break
		}
		<-changed
	}
	if _, err := m.Cancel(context.Background(), j.ID); err != nil {
		t.Fatal(err)
	}
	j = waitJob(t, m, j.ID)
	if j.State != Canceled || !j.CancelRequested || j.Result != nil || !strings.Contains(j.Error, "canceled") {
		t.Fatalf("canceled job: %+v", j)
	}
	if _, err := models.NewRegistry(st).Describe(context.Background(), "stopped"); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("a canceled job published a model: %v", err)
	}
}

// Progress reaches the job's record in the store while the job runs.
func TestProgressIsRecorded(t *testing.T) {
	st := newJobStore(t)
	var j Job
	m := newManager(t, ManagerConfig{Store: st, Observe: func(id string) trainer.Observer {
		return iterHook(func(_ int, p ml.Progress) {
			if p.Iter != 2 {
				return
			}
			// Hold the fit until the record shows this iteration.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a guard against hanging only
			defer cancel()
			for ctx.Err() == nil {
				data, _, err := st.Load(ctx, jobKey(id))
				var rec Job
				if err == nil && json.Unmarshal(data, &rec) == nil && rec.Progress != nil && rec.Progress.Iter == 2 {
					return
				}
				time.Sleep(time.Millisecond)
			}
			t.Errorf("the record of job %s never showed iteration 2", id)
		})
	}})
	m.saveEvery = time.Millisecond
	j = submit(t, m, jobSpec("progress", clicksCSV(t)))
	if j = waitJob(t, m, j.ID); j.State != Succeeded {
		t.Fatalf("job %+v", j)
	}
}

// A driver that stops mid-fit leaves its job running in the store; the next
// manager on the store resumes it (one more attempt) and lists every job
// the last one knew.
func TestRestartResumesInterruptedJob(t *testing.T) {
	st := newJobStore(t)
	csv := clicksCSV(t)
	var armed atomic.Bool
	var m1 *Manager
	var once sync.Once
	interrupted := make(chan struct{})
	m1 = newManager(t, ManagerConfig{Store: st, CheckpointEvery: 1, Observe: func(id string) trainer.Observer {
		return iterHook(func(_ int, p ml.Progress) {
			if !armed.Load() || p.Iter != 3 {
				return
			}
			once.Do(func() {
				go func() { m1.Close(); close(interrupted) }()
				<-m1.closing
				m1.Watch(id) // Close has canceled the runs once it lets go of the lock
			})
		})
	}})
	done := waitJob(t, m1, submit(t, m1, jobSpec("first", csv)).ID)
	if done.State != Succeeded {
		t.Fatalf("first job: %+v", done)
	}
	armed.Store(true)
	j := submit(t, m1, jobSpec("resumed", csv))
	<-interrupted

	rec := record(t, st, j.ID)
	if rec.State != Running || rec.Attempts != 1 {
		t.Fatalf("after the driver stopped, the record is %s with %d attempts; want running, 1", rec.State, rec.Attempts)
	}
	reg := models.NewRegistry(st)
	if _, err := reg.Describe(context.Background(), "resumed"); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("the interrupted job published: %v", err)
	}
	if _, _, err := st.Load(context.Background(), trainer.CheckpointPrefix(j.ID)+"/state"); err != nil {
		t.Fatalf("the interrupted run left no optimiser state under %s: %v", trainer.CheckpointPrefix(j.ID), err)
	}

	logger, logs := newLogBuffer()
	var first atomic.Int64 // the first iteration the resumed fit reports
	first.Store(-1)
	m2 := newManager(t, ManagerConfig{Store: st, CheckpointEvery: 1, Logger: logger, Observe: func(string) trainer.Observer {
		return iterHook(func(_ int, p ml.Progress) { first.CompareAndSwap(-1, int64(p.Iter)) })
	}})
	got := waitJob(t, m2, j.ID)
	if got.State != Succeeded || got.Attempts != 2 || got.Result == nil || got.Result.Version != 1 {
		t.Fatalf("resumed job: %+v (result %+v)", got, got.Result)
	}
	if !strings.Contains(logs.String(), "resuming job") || !strings.Contains(logs.String(), "attempt=2") {
		t.Fatalf("no log line says the job resumed:\n%s", logs.String())
	}
	// The second attempt resumed from the first one's optimiser state.
	if it := first.Load(); it < 1 {
		t.Fatalf("the resumed fit reported iteration %d first; want the checkpoint's (> 0)", it)
	}
	if !strings.Contains(logs.String(), "resuming from checkpoint") || strings.Contains(logs.String(), "state_bytes=0") {
		t.Fatalf("the resumed run did not start from the checkpoint:\n%s", logs.String())
	}
	if es, _ := st.List(context.Background(), trainer.CheckpointPrefix(j.ID)); len(es) != 0 {
		t.Fatalf("checkpoints of the succeeded job were kept: %+v", es)
	}
	jobs := m2.List("")
	if len(jobs) != 2 || jobs[0].ID != j.ID || jobs[1].ID != done.ID || jobs[1].State != Succeeded || jobs[1].Result == nil {
		t.Fatalf("jobs after the restart: %+v", jobs)
	}
	// New ids keep sorting after the old ones.
	if k := submit(t, m2, jobSpec("later", csv)); k.ID <= j.ID {
		t.Fatalf("id %s after a restart sorts before %s", k.ID, j.ID)
	}
}

// syncWriter serialises writes (a slog handler may be used from several
// goroutines) and reads.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

func newLogBuffer() (*slog.Logger, *syncWriter) {
	w := &syncWriter{w: &bytes.Buffer{}}
	return slog.New(slog.NewTextHandler(w, nil)), w
}

func TestRecoverRules(t *testing.T) {
	st := newJobStore(t)
	ctx := context.Background()
	put := func(key string, v any) {
		t.Helper()
		data, _ := json.Marshal(v)
		if s, ok := v.(string); ok {
			data = []byte(s)
		}
		if err := st.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
	}
	spec := jobSpec("r", clicksCSV(t))
	now := time.Now().UTC()
	// Interrupted as often as allowed: failed, not resumed.
	put(jobKey("20250101-000000-0001"), Job{ID: "20250101-000000-0001", Name: "r", File: "job.yaml", Spec: spec, State: Running, Submitted: now, Attempts: 3})
	// Asked to stop before the last driver went away: canceled.
	put(jobKey("20250101-000000-0002"), Job{ID: "20250101-000000-0002", Name: "r", File: "job.yaml", Spec: spec, State: Running, Submitted: now, Attempts: 1, CancelRequested: true})
	// Not a job record: skipped with a warning.
	put(jobKey("20250101-000000-0003"), "{not json")
	// A finished job stays as it is.
	put(jobKey("20250101-000000-0004"), Job{ID: "20250101-000000-0004", Name: "r", State: Failed, Error: "boom", Submitted: now, Attempts: 1})
	logger, logs := newLogBuffer()
	m := newManager(t, ManagerConfig{Store: st, Logger: logger})
	if j, _ := m.Get("20250101-000000-0001"); j.State != Failed || !strings.Contains(j.Error, "3 times") {
		t.Fatalf("job interrupted 3 times: %+v", j)
	}
	if j, _ := m.Get("20250101-000000-0002"); j.State != Canceled {
		t.Fatalf("job with a cancel request: %+v", j)
	}
	if _, err := m.Get("20250101-000000-0003"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an undecodable record was loaded: %v", err)
	}
	if !strings.Contains(logs.String(), "jobs/20250101-000000-0003.json") {
		t.Fatalf("the undecodable record is not named in the log:\n%s", logs.String())
	}
	if j, _ := m.Get("20250101-000000-0004"); j.State != Failed || j.Error != "boom" {
		t.Fatalf("finished job: %+v", j)
	}
	if rec := record(t, st, "20250101-000000-0001"); rec.State != Failed {
		t.Fatalf("stored: %s", rec.State)
	}
}

func TestJobIDs(t *testing.T) {
	m := &Manager{}
	at := time.Date(2026, 4, 12, 15, 30, 12, 500, time.UTC)
	var ids []string
	for range 3 {
		ids = append(ids, m.nextID(at))
	}
	ids = append(ids, m.nextID(at.Add(-time.Hour))) // the clock went back
	ids = append(ids, m.nextID(at.Add(time.Second)))
	want := []string{"20260412-153012-0001", "20260412-153012-0002", "20260412-153012-0003", "20260412-153012-0004", "20260412-153013-0001"}
	if strings.Join(ids, " ") != strings.Join(want, " ") {
		t.Fatalf("ids %v, want %v", ids, want)
	}
	m.lastID = "20260412-153012-9999"
	if id := m.nextID(at); id != "20260412-153013-0001" {
		t.Fatalf("after 9999 ids in a second: %s", id)
	}
	// An id already in the store (another process took it) is skipped.
	st := newJobStore(t)
	mm := newManager(t, ManagerConfig{Store: st})
	future := time.Now().UTC().Add(time.Hour).Format(idTimeLayout)
	mm.mu.Lock()
	mm.lastID = future + "-0001"
	mm.mu.Unlock()
	if _, err := st.PutIf(context.Background(), jobKey(future+"-0002"), []byte("{}"), ""); err != nil {
		t.Fatal(err)
	}
	j, err := mm.Submit(context.Background(), "job.yaml", []byte(jobSpec("x", "no-such.csv")))
	if err != nil {
		t.Fatal(err)
	}
	if j.ID != future+"-0003" {
		t.Fatalf("submit took id %s, want %s-0003 (0002 was taken)", j.ID, future)
	}
	if j = waitJob(t, mm, j.ID); j.State != Failed || !strings.Contains(j.Error, "no-such.csv") {
		t.Fatalf("a job reading a missing file: %+v", j)
	}
}

func TestFloatJSON(t *testing.T) {
	b, err := json.Marshal(Progress{Iter: 1, Loss: Float(math.NaN()), GradNorm: Float(math.Inf(1))})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"loss":null`) || !strings.Contains(string(b), `"grad_norm":null`) {
		t.Fatalf("%s", b)
	}
	var p Progress
	if err := json.Unmarshal([]byte(`{"iter":2,"loss":0.25,"grad_norm":null}`), &p); err != nil {
		t.Fatal(err)
	}
	if p.Loss != 0.25 || !math.IsNaN(float64(p.GradNorm)) {
		t.Fatalf("%+v", p)
	}
}

func TestManagerConfigErrors(t *testing.T) {
	_, err := NewManager(context.Background(), ManagerConfig{CheckpointEvery: -1, MaxConcurrent: -2})
	for _, want := range []string{"Store is required", "CheckpointEvery must be >= 0, got -1", "MaxConcurrent must be >= 0, got -2"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NewManager: %v, want an error containing %q", err, want)
		}
	}
}

func TestClosedManagerRefusesJobs(t *testing.T) {
	m := newManager(t, ManagerConfig{Store: newJobStore(t)})
	m.Close()
	if _, err := m.Submit(context.Background(), "job.yaml", []byte(jobSpec("x", "x.csv"))); !errors.Is(err, ErrClosed) {
		t.Fatalf("submit after Close: %v", err)
	}
}
