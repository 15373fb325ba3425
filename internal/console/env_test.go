package console

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/flintml/flint/internal/bearer"
	"github.com/flintml/flint/internal/trainertest"
	flog "github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/models"
	"github.com/flintml/flint/models/local"
	"github.com/flintml/flint/trainer"
	"github.com/flintml/flint/trainer/jobs"
)

const (
	readToken  = "console-read-token"
	adminToken = "console-admin-token"
)

// env is a console over a real job manager, model store and embedded log,
// served on loopback.
type env struct {
	url    string // the console's root, e.g. http://127.0.0.1:1234/console
	m      *jobs.Manager
	reg    *models.Registry
	log    *disk.Log
	curves *Curves
	hook   *iterHook
}

func newEnv(t testing.TB) *env {
	t.Helper()
	st, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{reg: models.NewRegistry(st), curves: NewCurves(), hook: &iterHook{counts: map[string]int{}}}
	e.m, err = jobs.NewManager(context.Background(), jobs.ManagerConfig{Store: st, Registry: e.reg, Logger: trainertest.QuietLogger(),
		FlintVersion: "test", Observe: func(id string) trainer.Observer {
			return observers{e.curves.Observe(id), e.hook.observer(id)}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.m.Close() })
	if e.log, err = disk.Open(disk.Config{Dir: t.TempDir(), Sync: disk.SyncUnsafeNever}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.log.Close() })
	var ts bearer.Tokens[Scope]
	ts.Add(readToken, ScopeRead)
	ts.Add(adminToken, ScopeAdmin)
	con, err := New(Config{Jobs: e.m, Curves: e.curves, Models: e.reg, Log: e.log, Tokens: &ts, Poll: 50 * time.Millisecond,
		Logger: trainertest.QuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	e.url = serve(t, con)
	return e
}

// serve serves con on loopback and returns its URL.
func serve(tb testing.TB, con *Console) string {
	mux := http.NewServeMux()
	mux.Handle("/console/", con)
	srv := httptest.NewServer(mux)
	tb.Cleanup(srv.Close)
	tb.Cleanup(func() { con.Close() }) // first: ends the live streams Close would wait for
	return srv.URL + "/console"
}

// observers passes each report to every observer.
type observers []trainer.Observer

func (os observers) Phase(name string) {
	for _, o := range os {
		o.Phase(name)
	}
}

func (os observers) Iteration(trial int, p ml.Progress, maxIter int) {
	for _, o := range os {
		o.Iteration(trial, p, maxIter)
	}
}

// iterHook counts the final fit's iterations of each job, and can hold a
// job at one iteration until released.
type iterHook struct {
	mu      sync.Mutex
	counts  map[string]int
	holdAt  int           // iteration to hold at; 0: none
	release chan struct{} // closed to let the held job go on
	held    chan int      // gets the iteration a job is held at
}

// hold holds the next job to reach iteration iter there, and lets go a
// job held before.
func (h *iterHook) hold(iter int) {
	h.mu.Lock()
	old := h.release
	h.holdAt, h.release = iter, make(chan struct{})
	if h.held == nil {
		h.held = make(chan int, 16)
	}
	h.mu.Unlock()
	if old != nil {
		close(old)
	}
}

func (h *iterHook) let() {
	h.mu.Lock()
	if h.release != nil {
		close(h.release)
	}
	h.holdAt, h.release = 0, nil
	h.mu.Unlock()
}

func (h *iterHook) count(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts[id]
}

type hookObserver struct {
	h  *iterHook
	id string
}

func (h *iterHook) observer(id string) trainer.Observer { return hookObserver{h, id} }

func (o hookObserver) Phase(string) {}

func (o hookObserver) Iteration(trial int, p ml.Progress, _ int) {
	if trial != 0 {
		return
	}
	o.h.mu.Lock()
	o.h.counts[o.id]++
	hold, release, held := o.h.holdAt, o.h.release, o.h.held
	o.h.mu.Unlock()
	if hold > 0 && p.Iter == hold {
		held <- p.Iter
		select {
		case <-release:
		case <-time.After(2 * time.Minute): // a guard against hanging only
		}
	}
}

// submit submits the logistic regression job as model name.
func (e *env) submit(t testing.TB, name string) jobs.Job {
	t.Helper()
	j, err := e.m.Submit(context.Background(), "job.yaml", []byte(trainertest.JobSpec(name, trainertest.ClicksCSV(t))))
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// publish publishes n versions of model name, with an auc growing by version.
func (e *env) publish(t testing.TB, name string, n int) {
	t.Helper()
	for i := range n {
		a := &models.Artifact{Algorithm: "logreg", Metrics: map[string]float64{"auc": 0.7 + float64(i)/float64(10*n), "logloss": 0.5 - float64(i)/float64(10*n)},
			Spec:    "name: " + name + "\nalgorithm: {logistic_regression: {max_iter: " + itoa(100+i) + "}}\n",
			Lineage: []models.Source{{Kind: "log", Topic: "clicks", Partition: 0, From: 0, To: int64(100 * (i + 1))}}}
		if _, err := e.reg.Publish(context.Background(), name, a); err != nil {
			t.Fatal(err)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// fillLog appends records to topic (4 partitions) and has group consume
// and commit the first n of partition 0 and 1.
func (e *env) fillLog(t testing.TB, topic, group string, records int, n int) {
	t.Helper()
	ctx := context.Background()
	if err := e.log.CreateTopic(ctx, topic, flog.TopicConfig{Partitions: 4, RetentionAge: 48 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	recs := make([]flog.Record, records)
	for i := range recs {
		recs[i] = flog.Record{Key: []byte("user-" + itoa(i%13)), Value: []byte(`{"x1": ` + itoa(i) + `, "y": 1}`)}
	}
	if err := e.log.Append(ctx, topic, recs); err != nil {
		t.Fatal(err)
	}
	c, err := e.log.JoinGroup(ctx, flog.GroupConfig{Group: group, Topics: []string{topic}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var commit []flog.Record
	for _, p := range []int{0, 1} {
		rs, err := e.log.Read(ctx, topic, p, 0, flog.ReadOptions{MaxRecords: n})
		if err != nil {
			t.Fatal(err)
		}
		commit = append(commit, rs...)
	}
	if err := c.Commit(ctx, commit...); err != nil {
		t.Fatal(err)
	}
}
