package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/kafka"
	"github.com/flintml/flint/log/kafka/kafkatest"
	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/ml/kmeans"
)

// envWorker makes the test binary a worker process of the driver it names.
const envWorker = "FLINT_REMOTE_TEST_DRIVER"

func TestMain(m *testing.M) {
	if addr := os.Getenv(envWorker); addr != "" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
		err := RunWorker(ctx, WorkerConfig{Driver: addr, Secret: os.Getenv("FLINT_REMOTE_TEST_SECRET"), Logger: logger})
		if err != nil && ctx.Err() == nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// sumArgs makes sumTask sleep per partition, so a test can act mid-task.
type sumArgs struct {
	Sleep    time.Duration
	FailPart int // fail on this partition (-1: none)
}

type sumP struct {
	Sum  float64
	Rows int
}

var sumTask = cluster.Register(&cluster.Task[sumArgs, sumP]{
	Name: "remote_test.sum",
	New:  func(*sumArgs) *sumP { return &sumP{} },
	Map: func(ctx context.Context, p cluster.Part, b *sumArgs, acc *sumP) error {
		if p.Index == b.FailPart {
			return fmt.Errorf("refusing partition %d", p.Index)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(b.Sleep):
		}
		for i := 0; i < p.Block.Rows; i++ {
			for _, v := range p.Block.Row(i) {
				acc.Sum += v * p.Block.Y[i]
			}
		}
		acc.Rows += p.Block.Rows
		return nil
	},
	Combine: func(dst, src *sumP) { dst.Sum += src.Sum; dst.Rows += src.Rows },
})

// labelScan sums the first CSV field (the label) of every value.
type labelP struct {
	N   int
	Sum float64
}

var labelScan = cluster.RegisterScan(&cluster.ScanTask[struct{}, labelP]{
	Name: "remote_test.labels",
	New:  func(*struct{}) *labelP { return &labelP{} },
	Value: func(_ *struct{}, acc *labelP, v []byte, where func() string) error {
		a, _, _ := strings.Cut(string(v), ",")
		x, err := strconv.ParseFloat(a, 64)
		if err != nil {
			return fmt.Errorf("%s: %v", where(), err)
		}
		acc.N++
		acc.Sum += x
		return nil
	},
	Combine: func(dst, src *labelP) { dst.N += src.N; dst.Sum += src.Sum },
})

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newDriver(t *testing.T, cfg Config) *Driver {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet()
	}
	d, err := NewDriver(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// startWorkers runs n worker processes (this test binary) for d and waits
// until they have registered.
func startWorkers(t *testing.T, d *Driver, n int, secret string) []*exec.Cmd {
	t.Helper()
	return startWorkersB(t, d, n, secret)
}

func startWorkersB(t testing.TB, d *Driver, n int, secret string) []*exec.Cmd {
	t.Helper()
	cmds := make([]*exec.Cmd, n)
	for i := range cmds {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envWorker+"="+d.Addr(), "FLINT_REMOTE_TEST_SECRET="+secret)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGCONT)
			cmd.Process.Kill()
			cmd.Wait()
		})
		// Register one at a time so that worker i is w<i+1>.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := d.WaitWorkers(ctx, i+1)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	return cmds
}

// writeCSV writes rows of label,x1..x5 with a linear boundary and returns the path.
func writeCSV(t *testing.T, rows int, seed uint64) string {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	var b strings.Builder
	for i := 0; i < rows; i++ {
		x := make([]float64, 5)
		m := 0.0
		for j := range x {
			x[j] = r.NormFloat64() * float64(j+1)
			m += x[j] * float64(j%3-1)
		}
		y := 0
		if m+r.NormFloat64() > 0 {
			y = 1
		}
		fmt.Fprintf(&b, "%d", y)
		for _, v := range x {
			fmt.Fprintf(&b, ",%.17g", v)
		}
		b.WriteByte('\n')
	}
	path := filepath.Join(t.TempDir(), "data.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func fileSources(t *testing.T, rows, parts int) []cluster.Source {
	t.Helper()
	src, err := cluster.PlanFiles([]string{writeCSV(t, rows, 1)}, cluster.FileOptions{Format: cluster.Format{Kind: "csv"}, Partitions: parts})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func engineDataset(t *testing.T, l cluster.LogReader, sources []cluster.Source) (*cluster.Engine, *cluster.Dataset) {
	t.Helper()
	e := cluster.NewEngine(cluster.Config{Workers: 2, Logger: quiet()})
	t.Cleanup(func() { e.Close() })
	ds, err := e.LoadSources(context.Background(), l, "ref", sources)
	if err != nil {
		t.Fatal(err)
	}
	return e, ds
}

func sameBits(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			t.Fatalf("%s[%d] = %v, want %v (bit for bit)", what, i, got[i], want[i])
		}
	}
}

func fitLR(t *testing.T, x cluster.Executor, ds *cluster.Dataset) *ml.LogisticModel {
	t.Helper()
	m, err := ml.LogisticRegression{RegParam: 0.01}.Fit(context.Background(), x, ds)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sameLR(t *testing.T, got, want *ml.LogisticModel) {
	t.Helper()
	sameBits(t, "coef", got.Coef, want.Coef)
	sameBits(t, "intercept", got.Intercept, want.Intercept)
}

// Three worker processes reading byte ranges of a shared file give the
// in-process engine's logistic regression and k-means bit for bit.
func TestFilesEqualEngine(t *testing.T) {
	sources := fileSources(t, 6000, 7)
	e, ref := engineDataset(t, nil, sources)
	d := newDriver(t, Config{HeartbeatInterval: 100 * time.Millisecond, HeartbeatTimeout: 5 * time.Second})
	startWorkers(t, d, 3, "")
	ctx := context.Background()
	ds, err := d.Load(ctx, sources, "")
	if err != nil {
		t.Fatal(err)
	}
	if ds.Rows() != ref.Rows() || ds.Cols() != ref.Cols() || ds.NumPartitions() != ref.NumPartitions() {
		t.Fatalf("remote dataset %d rows × %d cols in %d partitions, engine %d × %d in %d",
			ds.Rows(), ds.Cols(), ds.NumPartitions(), ref.Rows(), ref.Cols(), ref.NumPartitions())
	}
	if got, want := strings.Join(d.Placement(ds), " "), "w1 w2 w3 w1 w2 w3 w1"; got != want {
		t.Fatalf("placement %s, want %s", got, want)
	}
	sameLR(t, fitLR(t, d, ds), fitLR(t, e, ref))

	cfg := kmeans.Config{K: 4, Seed: 3, SilhouetteSample: -1}
	km, err := kmeans.Fit(ctx, d, ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	kmRef, err := kmeans.Fit(ctx, e, ref, cfg)
	if err != nil {
		t.Fatal(err)
	}
	sameBits(t, "centres", km.Centres, kmRef.Centres)
	sameBits(t, "inertia", []float64{km.Inertia}, []float64{kmRef.Inertia})

	var cached int64
	deadline := time.Now().Add(5 * time.Second)
	for cached < ds.Bytes() && time.Now().Before(deadline) {
		cached = 0
		for _, w := range d.Members() {
			cached += w.CachedBytes
		}
		time.Sleep(20 * time.Millisecond)
	}
	if cached != ds.Bytes() {
		t.Fatalf("workers report %d cached bytes, dataset has %d", cached, ds.Bytes())
	}
	d.Drop(ds)
	if _, err := d.MapPartitions(ctx, ds, sumTask.Name, &sumArgs{FailPart: -1}); err == nil {
		t.Fatal("MapPartitions on a dropped dataset: no error")
	}
}

// Workers read their partitions' offset ranges straight from a
// Kafka-protocol broker over TCP.
func TestKafkaEqualsEngine(t *testing.T) {
	ctx := context.Background()
	brokers := kafkatest.Brokers(t)
	l, err := kafka.New(ctx, kafka.Config{Brokers: brokers, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const topic = "remote-lr"
	if err := l.CreateTopic(ctx, topic, log.TopicConfig{Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	lines, err := os.ReadFile(writeCSV(t, 3000, 5))
	if err != nil {
		t.Fatal(err)
	}
	var recs []log.Record
	for i, line := range strings.Split(strings.TrimSpace(string(lines)), "\n") {
		recs = append(recs, log.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(line)})
	}
	if err := l.Append(ctx, topic, recs); err != nil {
		t.Fatal(err)
	}
	sources, err := cluster.PlanLog(ctx, l, topic, cluster.LogOptions{Format: cluster.Format{Kind: "csv"}, Split: 2})
	if err != nil {
		t.Fatal(err)
	}
	e, ref := engineDataset(t, l, sources)
	d := newDriver(t, Config{HeartbeatInterval: 100 * time.Millisecond, HeartbeatTimeout: 5 * time.Second, Log: "kafka:" + strings.Join(brokers, ",")})
	startWorkers(t, d, 3, "")
	ds, err := d.Load(ctx, sources, "")
	if err != nil {
		t.Fatal(err)
	}
	scan, err := cluster.Scan(ctx, d, nil, sources, labelScan, &struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	scanRef, err := cluster.Scan(ctx, e, l, sources, labelScan, &struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	if *scan != *scanRef || scan.N != 3000 {
		t.Fatalf("scan on the workers %+v, on the engine %+v", *scan, *scanRef)
	}
	if ds.Rows() != 3000 || ds.NumPartitions() != 6 {
		t.Fatalf("%d rows in %d partitions, want 3000 in 6", ds.Rows(), ds.NumPartitions())
	}
	sameLR(t, fitLR(t, d, ds), fitLR(t, e, ref))

	if _, err := d.Load(ctx, sources, "dir:/nowhere"); err == nil || !strings.Contains(err.Error(), "/nowhere") {
		t.Fatalf("load from a dir: log that does not exist: %v", err)
	}
}

// A worker killed with SIGKILL in the middle of a fit loses its partitions
// to the survivors, which re-read them from their sources; the model is the
// one a run without failure gives.
func TestSIGKILLMidJobGivesIdenticalModel(t *testing.T) {
	sources := fileSources(t, 6000, 6)
	e, ref := engineDataset(t, nil, sources)
	want := fitLR(t, e, ref)

	d := newDriver(t, Config{HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: 2 * time.Second})
	cmds := startWorkers(t, d, 3, "")
	ds, err := d.Load(context.Background(), sources, "")
	if err != nil {
		t.Fatal(err)
	}
	x := &killCluster{Driver: d, n: 3, kill: func() { cmds[1].Process.Kill() }}
	got := fitLR(t, x, ds)
	sameLR(t, got, want)
	if x.calls.Load() < 4 {
		t.Fatalf("the fit made %d passes; the kill came after it", x.calls.Load())
	}
	for _, w := range d.Members() {
		if (w.ID == "w2") == w.Alive {
			t.Fatalf("worker %s alive=%v after w2 was killed", w.ID, w.Alive)
		}
	}
	for i, id := range d.Placement(ds) {
		if id == "w2" {
			t.Fatalf("partition %d is still placed on the killed worker", i)
		}
	}

	// A kill while every worker is inside a slow task: the task is retried.
	sum, err := cluster.Aggregate(context.Background(), d, ds, sumTask, &sumArgs{Sleep: 300 * time.Millisecond, FailPart: -1})
	if err != nil {
		t.Fatal(err)
	}
	go func() { time.Sleep(100 * time.Millisecond); cmds[0].Process.Kill() }()
	sum2, err := cluster.Aggregate(context.Background(), d, ds, sumTask, &sumArgs{Sleep: 300 * time.Millisecond, FailPart: -1})
	if err != nil {
		t.Fatal(err)
	}
	if math.Float64bits(sum.Sum) != math.Float64bits(sum2.Sum) || sum2.Rows != 6000 {
		t.Fatalf("after the second kill: sum %v over %d rows, want %v over 6000", sum2.Sum, sum2.Rows, sum.Sum)
	}
	if got := strings.Join(d.Placement(ds), " "); got != "w3 w3 w3 w3 w3 w3" {
		t.Fatalf("placement after losing w1 and w2: %s", got)
	}
}

// A worker stopped with SIGSTOP stops sending heartbeats; it is declared dead
// within the heartbeat timeout and its share of a task runs elsewhere.
func TestSIGSTOPDetectedWithinTimeout(t *testing.T) {
	sources := fileSources(t, 3000, 6)
	const timeout = time.Second
	d := newDriver(t, Config{HeartbeatInterval: 100 * time.Millisecond, HeartbeatTimeout: timeout})
	cmds := startWorkers(t, d, 3, "")
	ctx := context.Background()
	ds, err := d.Load(ctx, sources, "")
	if err != nil {
		t.Fatal(err)
	}
	args := &sumArgs{Sleep: 50 * time.Millisecond, FailPart: -1}
	want, err := cluster.Aggregate(ctx, d, ds, sumTask, args)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmds[2].Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got, err := cluster.Aggregate(ctx, d, ds, sumTask, args)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if math.Float64bits(got.Sum) != math.Float64bits(want.Sum) {
		t.Fatalf("sum %v after the stall, want %v", got.Sum, want.Sum)
	}
	// Detection within the timeout plus one monitor tick, then the re-read
	// and the rerun (a few 50 ms partitions) on top, with room for a loaded
	// test machine.
	if took > timeout+2*time.Second {
		t.Fatalf("the stalled task took %v with a %v heartbeat timeout", took, timeout)
	}
	t.Logf("task with a stalled worker finished in %v (heartbeat timeout %v)", took, timeout)
	// (By process, not id: on a loaded machine a slow worker may have been
	// dropped and registered again under a new id before the stop.)
	stopped := fmt.Sprintf("/%d", cmds[2].Process.Pid)
	for _, w := range d.Members() {
		if strings.HasSuffix(w.Name, stopped) && w.Alive {
			t.Fatalf("the stopped worker %s (%s) is still alive", w.ID, w.Name)
		}
	}
	// Resumed, it learns it was dropped and registers again as a new worker.
	cmds[2].Process.Signal(syscall.SIGCONT)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := d.WaitWorkers(wctx, 3); err != nil {
		t.Fatal(err)
	}
}

// In-process workers (RunWorker in goroutines) for the quick tests.
func goWorkers(t *testing.T, d *Driver, n int, secret string) {
	t.Helper()
	goWorkersWith(t, d, n, WorkerConfig{Secret: secret})
}

// goWorkersWith starts n more in-process workers configured as cfg (and
// quiet, unless cfg has a logger) and waits until they are live.
func goWorkersWith(t *testing.T, d *Driver, n int, cfg WorkerConfig) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, n)
	t.Cleanup(func() {
		cancel()
		for range n {
			<-done
		}
	})
	want := d.Workers() + n
	for i := range n {
		go func() {
			defer func() { done <- struct{}{} }()
			c := cfg
			c.Driver, c.Name = d.Addr(), fmt.Sprintf("go%d", i)
			if c.Logger == nil {
				c.Logger = quiet()
			}
			RunWorker(ctx, c)
		}()
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := d.WaitWorkers(wctx, want); err != nil {
		t.Fatal(err)
	}
}

func TestSharedSecret(t *testing.T) {
	d := newDriver(t, Config{HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: 5 * time.Second, Secret: "s3cret"})
	err := RunWorker(context.Background(), WorkerConfig{Driver: d.Addr(), Secret: "wrong", Logger: quiet()})
	if err == nil || !strings.Contains(err.Error(), "shared secret") {
		t.Fatalf("worker with the wrong secret: %v", err)
	}
	goWorkers(t, d, 2, "s3cret")
	ds, err := d.Load(context.Background(), fileSources(t, 500, 4), "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := cluster.Aggregate(context.Background(), d, ds, sumTask, &sumArgs{FailPart: -1})
	if err != nil || p.Rows != 500 {
		t.Fatalf("aggregate with the secret: %v rows, %v", p, err)
	}
}

func TestErrorsNameWorkerAndPartition(t *testing.T) {
	d := newDriver(t, Config{HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: 5 * time.Second, WorkerWait: 100 * time.Millisecond})
	if _, err := d.Load(context.Background(), fileSources(t, 100, 2), ""); !errors.Is(err, ErrNoWorkers) || !strings.Contains(err.Error(), "none joined within 100ms") {
		t.Fatalf("load without workers: %v", err)
	}
	goWorkers(t, d, 2, "")
	ctx := context.Background()
	ds, err := d.Load(ctx, fileSources(t, 500, 4), "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = cluster.Aggregate(ctx, d, ds, sumTask, &sumArgs{FailPart: 2})
	if err == nil || !strings.Contains(err.Error(), "partition 2") || !strings.Contains(err.Error(), "worker w1 (go") {
		t.Fatalf("failing task: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err = cluster.Aggregate(cctx, d, ds, sumTask, &sumArgs{Sleep: time.Minute, FailPart: -1})
	if err != context.Canceled || time.Since(start) > 5*time.Second {
		t.Fatalf("cancelled task: %v after %v", err, time.Since(start))
	}
	if _, err := d.Load(ctx, []cluster.Source{{Kind: "file", Path: "/no/such/file", To: -1, Format: cluster.Format{Kind: "csv"}}}, ""); err == nil ||
		!strings.Contains(err.Error(), "partition 0") || !strings.Contains(err.Error(), "worker w1") {
		t.Fatalf("load of a missing file: %v", err)
	}
}

// Derived datasets (random splits, cross-validation folds) are transformed
// by the workers that hold their parents, give the engine's results, and are
// rebuilt from source plus transforms when their worker is lost.
func TestDeriveEqualsEngine(t *testing.T) {
	sources := fileSources(t, 4000, 6)
	e, ref := engineDataset(t, nil, sources)
	d := newDriver(t, Config{HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: 2 * time.Second})
	cmds := startWorkers(t, d, 3, "")
	ctx := context.Background()
	ds, err := d.Load(ctx, sources, "")
	if err != nil {
		t.Fatal(err)
	}

	cv, err := ml.CrossValidate(ctx, d, ds, ml.LogisticRegression{RegParam: 0.01}, 3, 7, "auc")
	if err != nil {
		t.Fatal(err)
	}
	cvRef, err := ml.CrossValidate(ctx, e, ref, ml.LogisticRegression{RegParam: 0.01}, 3, 7, "auc")
	if err != nil {
		t.Fatal(err)
	}
	sameBits(t, "fold AUCs", cv.Folds, cvRef.Folds)

	a, b, err := cluster.RandomSplit(ctx, d, ds, 0.7, 11)
	if err != nil {
		t.Fatal(err)
	}
	aRef, bRef, err := cluster.RandomSplit(ctx, e, ref, 0.7, 11)
	if err != nil {
		t.Fatal(err)
	}
	if a.Rows() != aRef.Rows() || b.Rows() != bRef.Rows() {
		t.Fatalf("split %d + %d rows, engine %d + %d", a.Rows(), b.Rows(), aRef.Rows(), bRef.Rows())
	}
	if got, want := strings.Join(d.Placement(a), " "), strings.Join(d.Placement(ds), " "); got != want {
		t.Fatalf("derived placement %s, parent %s", got, want)
	}
	sameLR(t, fitLR(t, d, a), fitLR(t, e, aRef))

	// Lose a worker: its partitions of b are rebuilt from the file plus the split.
	cmds[0].Process.Kill()
	sameLR(t, fitLR(t, d, b), fitLR(t, e, bRef))
	for i, id := range d.Placement(b) {
		if id == "w1" {
			t.Fatalf("partition %d of the derived dataset is still on the lost worker", i)
		}
	}
	// A split of a dataset whose worker was lost rebuilds the parent first.
	c, _, err := cluster.RandomSplit(ctx, d, ds, 0.5, 3)
	if err != nil {
		t.Fatal(err)
	}
	cRef, _, err := cluster.RandomSplit(ctx, e, ref, 0.5, 3)
	if err != nil {
		t.Fatal(err)
	}
	sameLR(t, fitLR(t, d, c), fitLR(t, e, cRef))
}

// A consuming split (views of the parent's rows) on workers gives the
// copying split's rows, and a side whose worker is lost is rebuilt from the
// source plus the split.
func TestSplitConsumingEqualsEngine(t *testing.T) {
	sources := fileSources(t, 4000, 6)
	e, ref := engineDataset(t, nil, sources)
	d := newDriver(t, Config{HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: 2 * time.Second})
	cmds := startWorkers(t, d, 3, "")
	ctx := context.Background()
	ds, err := d.Load(ctx, sources, "")
	if err != nil {
		t.Fatal(err)
	}
	a, b, err := cluster.SplitConsuming(ctx, d, ds, 0.7, 11)
	if err != nil {
		t.Fatal(err)
	}
	aRef, bRef, err := cluster.RandomSplit(ctx, e, ref, 0.7, 11)
	if err != nil {
		t.Fatal(err)
	}
	if a.Rows() != aRef.Rows() || b.Rows() != bRef.Rows() {
		t.Fatalf("split %d + %d rows, engine %d + %d", a.Rows(), b.Rows(), aRef.Rows(), bRef.Rows())
	}
	sameLR(t, fitLR(t, d, a), fitLR(t, e, aRef))
	cmds[0].Process.Kill()
	sameLR(t, fitLR(t, d, b), fitLR(t, e, bRef))
	sameLR(t, fitLR(t, d, a), fitLR(t, e, aRef))
}
