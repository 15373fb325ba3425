package remote

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/trainer"
)

// cachedRecorder records, whenever a task runs, the bytes the live
// workers hold cached as the driver knows them (from heartbeats and the
// replies of loads and drops): at the first task on a fold and the most
// at any task on one.
type cachedRecorder struct {
	d           *Driver
	mu          sync.Mutex
	first, peak int64
	foldTasks   int
}

func (r *cachedRecorder) sample(ds *cluster.Dataset) {
	if !strings.Contains(ds.Name(), "[fold ") {
		return
	}
	var total int64
	for _, w := range r.d.Members() {
		if w.Alive {
			total += w.CachedBytes
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.foldTasks == 0 {
		r.first = total
	}
	r.foldTasks++
	r.peak = max(r.peak, total)
}

// viewsRecorded is the Driver, fold views and all, with a recorder.
type viewsRecorded struct {
	*Driver
	rec *cachedRecorder
}

func (v *viewsRecorded) MapPartitions(ctx context.Context, ds *cluster.Dataset, task string, b any) ([]any, error) {
	v.rec.sample(ds)
	return v.Driver.MapPartitions(ctx, ds, task, b)
}

// copiesRecorded is the Driver seen as a plain cluster.Cluster, which
// makes its folds as copies (cluster.FoldCopy), with a recorder.
type copiesRecorded struct {
	cluster.Cluster
	rec *cachedRecorder
}

func (c *copiesRecorded) MapPartitions(ctx context.Context, ds *cluster.Dataset, task string, b any) ([]any, error) {
	c.rec.sample(ds)
	return c.Cluster.MapPartitions(ctx, ds, task, b)
}

// sameCV checks that a cross-validated job on the workers scored every
// fold of every grid point, and the held-out metrics, within 1e-9 of the
// in-process job, and chose the same grid point.
func sameCV(t *testing.T, what string, got, want *trainer.Result) {
	t.Helper()
	close := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }
	if fmt.Sprint(got.Best) != fmt.Sprint(want.Best) || len(got.Trials) != 2 || len(want.Trials) != 2 {
		t.Fatalf("%s: workers chose %v of %d trials, in-process %v of %d", what, got.Best, len(got.Trials), want.Best, len(want.Trials))
	}
	for i := range got.Trials {
		g, w := got.Trials[i], want.Trials[i]
		if g.Err != "" || len(g.Folds) != 3 || len(w.Folds) != 3 {
			t.Fatalf("%s: trial %d on workers: folds %v, error %q; in-process folds %v", what, i, g.Folds, g.Err, w.Folds)
		}
		for f := range g.Folds {
			if !close(g.Folds[f], w.Folds[f]) {
				t.Errorf("%s: trial %d fold %d: %v on workers, %v in-process", what, i, f, g.Folds[f], w.Folds[f])
			}
		}
	}
	for name, w := range want.Metrics {
		if g, ok := got.Metrics[name]; !ok || !close(g, w) {
			t.Errorf("%s: held-out %s: %v on workers, %v in-process", what, name, g, w)
		}
	}
}

// Cross-validation on worker processes makes each fold as views of the
// cached rows: every fold scores within 1e-9 of the in-process job's, the
// same grid point wins, and the workers' cached bytes do not grow while
// the folds are fitted. The same job with copied folds (the driver seen
// as a plain cluster.Cluster) scores the same but holds a fold's copies
// besides the rows, which the bound on the views' bytes would catch.
func TestCrossValidatedJobOnWorkers(t *testing.T) {
	l, spec := diskJobLog(t)
	jobData(t, l)
	d := newDriver(t, Config{HeartbeatInterval: 20 * time.Millisecond, HeartbeatTimeout: 5 * time.Second, Log: spec})
	startWorkers(t, d, 3, "")
	_, want := runJob(t, l, cvSpec, nil, nil)

	views := &viewsRecorded{Driver: d, rec: &cachedRecorder{d: d}}
	_, got := runJob(t, l, cvSpec, views, nil)
	sameCV(t, "views", got, want)

	copies := &copiesRecorded{Cluster: d, rec: &cachedRecorder{d: d}}
	_, gotCopies := runJob(t, l, cvSpec, copies, nil)
	sameCV(t, "copies", gotCopies, want)

	v, c := views.rec, copies.rec
	t.Logf("cached bytes during cross-validation: views %d at the first fold task, %d at most (%d tasks); copies %d, %d at most (%d tasks)",
		v.first, v.peak, v.foldTasks, c.first, c.peak, c.foldTasks)
	if v.foldTasks == 0 || c.foldTasks == 0 {
		t.Fatalf("no task ran on a fold: %d with views, %d with copies", v.foldTasks, c.foldTasks)
	}
	// The rows cached when the folds are made: the copies' first fold task
	// sees them plus fold 1's copies, the views' first fold task only them.
	rows := v.first
	within := func(peak int64) bool { return peak <= rows+rows/20 }
	if !within(v.peak) {
		t.Errorf("with fold views the workers cached %d bytes at most; the rows are %d bytes", v.peak, rows)
	}
	if within(c.peak) {
		t.Errorf("with copied folds the workers cached %d bytes at most, within the views' bound of %d: the bound catches nothing", c.peak, rows+rows/20)
	}
}

// killOnFold runs kill concurrently with the n-th task on a fold's
// training rows.
type killOnFold struct {
	*Driver
	fold  string
	n     int64
	calls atomic.Int64
	kill  func()
}

func (k *killOnFold) MapPartitions(ctx context.Context, ds *cluster.Dataset, task string, b any) ([]any, error) {
	if strings.Contains(ds.Name(), k.fold) && k.calls.Add(1) == k.n {
		go k.kill()
	}
	return k.Driver.MapPartitions(ctx, ds, task, b)
}

// A worker killed with SIGKILL while a fold's views are fitted: the
// survivors rebuild its partitions of the views from their lineage (the
// log, the held-out split, then the fold's arrangement) and of the parent,
// and the cross-validation scores and chooses as the in-process job does.
func TestWorkerKilledDuringCrossValidation(t *testing.T) {
	l, spec := diskJobLog(t)
	jobData(t, l)
	_, want := runJob(t, l, cvSpec, nil, nil)
	d := newDriver(t, Config{HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: 2 * time.Second, Log: spec})
	cmds := startWorkers(t, d, 3, "")
	x := &killOnFold{Driver: d, fold: "[fold 2/3 train]", n: 3, kill: func() { cmds[1].Process.Kill() }}
	_, got := runJob(t, l, cvSpec, x, nil)
	if x.calls.Load() <= x.n {
		t.Fatalf("%d tasks ran on fold 2's training rows; the kill came after them", x.calls.Load())
	}
	sameCV(t, "after a SIGKILL", got, want)
	waitFor(t, 5*time.Second, "the driver to count 2 live workers", func() bool { return d.Workers() == 2 })
}

// Fold views on workers (in-process, so the race detector sees the
// workers' side): a fold's views hold no bytes and give the copies' sums;
// another fold waits until they are released; a view's folds are copies
// and it cannot be split consuming; a parent dropped before its views
// stays cached, and counted, until they are released.
func TestFoldViewsOnWorkers(t *testing.T) {
	d := newDriver(t, Config{HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: 5 * time.Second})
	goWorkers(t, d, 2, "")
	ctx := context.Background()
	ds, err := d.Load(ctx, fileSources(t, 3000, 6), "")
	if err != nil {
		t.Fatal(err)
	}
	cached := func() int64 { // as the workers' last replies (or heartbeats) said
		var n int64
		for _, w := range d.Members() {
			n += w.CachedBytes
		}
		return n
	}
	rows := ds.Bytes()
	waitFor(t, 10*time.Second, fmt.Sprintf("the workers to report the rows' %d bytes cached", rows), func() bool { return rows > 0 && cached() == rows })
	grad := func(x cluster.Cluster, ds *cluster.Dataset) *gradP {
		t.Helper()
		p, err := cluster.Aggregate(ctx, x, ds, gradTask, &gradArgs{W: []float64{0.1, -0.2, 0.3, 0, 0.05}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	same := func(what string, got, want *gradP) {
		t.Helper()
		close := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }
		ok := close(got.Loss, want.Loss)
		for j := range want.Grad {
			ok = ok && close(got.Grad[j], want.Grad[j])
		}
		if !ok {
			t.Fatalf("%s: views sum to %v %v, copies to %v %v", what, got.Loss, got.Grad, want.Loss, want.Grad)
		}
	}
	if !cluster.FoldIsView(d, ds) {
		t.Fatal("FoldIsView: the driver makes no fold views of a loaded dataset")
	}
	const k, seed = 4, 9
	for i := range k {
		train, test, release, err := cluster.Fold(ctx, d, ds, i, k, seed)
		if err != nil {
			t.Fatal(err)
		}
		if train.Bytes() != 0 || test.Bytes() != 0 || train.Rows()+test.Rows() != ds.Rows() {
			t.Fatalf("fold %d: views of %d and %d bytes, %d+%d rows of %d", i, train.Bytes(), test.Bytes(), train.Rows(), test.Rows(), ds.Rows())
		}
		ctrain, ctest, err := cluster.FoldCopy(ctx, d, ds, i, k, seed)
		if err != nil {
			t.Fatal(err)
		}
		same(fmt.Sprintf("fold %d training rows", i), grad(d, train), grad(d, ctrain))
		same(fmt.Sprintf("fold %d test rows", i), grad(d, test), grad(d, ctest))
		d.Drop(ctrain)
		d.Drop(ctest)
		if i == 1 {
			other := (i + 1) % k
			if _, _, _, err := cluster.Fold(ctx, d, ds, other, k, seed); err == nil || !strings.Contains(err.Error(), "drop them") {
				t.Fatalf("fold %d made while fold %d's views are alive: %v", other, i, err)
			}
			if d.DerivesViews(train) || cluster.FoldIsView(d, train) {
				t.Fatal("a fold view's folds would be views")
			}
			if _, _, err := cluster.SplitConsuming(ctx, d, test, 0.5, 1); err == nil {
				t.Fatal("a fold view split consuming")
			}
		}
		if i == k-1 {
			// The parent dropped first: its memory stays counted while its
			// views use it.
			d.Drop(ds) // its workers' replies say what they count now
			if cached() != rows {
				t.Fatalf("with the parent dropped and its views alive the workers count %d bytes, want the rows' %d", cached(), rows)
			}
			same("the training view of a dropped parent", grad(d, train), grad(d, train))
		}
		release()
	}
	waitFor(t, 10*time.Second, "the workers to count no bytes once the parent and every view are dropped", func() bool { return cached() == 0 })
}
