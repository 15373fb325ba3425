package remote

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flintml/flint/cluster"
)

// flakyArgs make flakyTask fail on one partition, transiently or not.
type flakyArgs struct {
	Part      int
	Transient bool
}

var flakyTask = cluster.Register(&cluster.Task[flakyArgs, sumP]{
	Name: "remote_test.flaky",
	New:  func(*flakyArgs) *sumP { return &sumP{} },
	Map: func(_ context.Context, p cluster.Part, b *flakyArgs, acc *sumP) error {
		if p.Index != b.Part {
			acc.Rows += p.Block.Rows
			return nil
		}
		if b.Transient {
			return fmt.Errorf("the log did not answer in time: %w", cluster.ErrUnavailable)
		}
		return errors.New("bad row")
	},
	Combine: func(dst, src *sumP) { dst.Rows += src.Rows },
})

var flakyScan = cluster.RegisterScan(&cluster.ScanTask[struct{}, labelP]{
	Name: "remote_test.flaky_scan",
	New:  func(*struct{}) *labelP { return &labelP{} },
	Value: func(_ *struct{}, _ *labelP, _ []byte, where func() string) error {
		return fmt.Errorf("%s: broker unreachable: %w", where(), cluster.ErrUnavailable)
	},
	Combine: func(dst, src *labelP) { dst.N += src.N },
})

// unreachableDecoder fails every row as a log whose broker went away would.
type unreachableDecoder struct{}

func (unreachableDecoder) Decode(*cluster.Builder, []byte) error {
	return fmt.Errorf("broker unreachable: %w", cluster.ErrUnavailable)
}
func (unreachableDecoder) Layout() (bool, int) { return false, 0 }

func init() {
	cluster.RegisterDecoder("remote_test.unreachable", func([]byte) (cluster.RowDecoder, error) { return unreachableDecoder{}, nil })
}

// A transient failure on a worker — in a task, a scan or a load — reaches
// the driver's caller wrapping cluster.ErrUnavailable, naming the worker
// and the partition; an error of the data does not wrap it.
func TestTransientErrorsWrapUnavailable(t *testing.T) {
	d := newDriver(t, Config{HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: 5 * time.Second})
	goWorkers(t, d, 2, "")
	ctx := context.Background()
	sources := fileSources(t, 500, 4)
	ds, err := d.Load(ctx, sources, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = cluster.Aggregate(ctx, d, ds, flakyTask, &flakyArgs{Part: 1, Transient: true})
	if !errors.Is(err, cluster.ErrUnavailable) || !strings.Contains(err.Error(), "partition 1") || !strings.Contains(err.Error(), "worker w2") {
		t.Fatalf("a transient task failure: %v", err)
	}
	_, err = cluster.Aggregate(ctx, d, ds, flakyTask, &flakyArgs{Part: 1})
	if err == nil || errors.Is(err, cluster.ErrUnavailable) || !strings.Contains(err.Error(), "bad row") {
		t.Fatalf("an error of the data: %v", err)
	}
	_, err = cluster.Scan(ctx, d, nil, sources, flakyScan, &struct{}{})
	if !errors.Is(err, cluster.ErrUnavailable) || !strings.Contains(err.Error(), "broker unreachable") {
		t.Fatalf("a transient scan failure: %v", err)
	}
	bad := append([]cluster.Source(nil), sources...)
	bad[2].Format = cluster.Format{Kind: "custom", Decoder: "remote_test.unreachable"}
	_, err = d.Load(ctx, bad, "")
	if !errors.Is(err, cluster.ErrUnavailable) || !strings.Contains(err.Error(), "partition 2") {
		t.Fatalf("a transient load failure: %v", err)
	}
	if got := metricValue(t, d, "flint_cluster_tasks_total", map[string]string{"task": flakyTask.Name, "outcome": "unavailable"}); got != 1 {
		t.Fatalf("tasks_total{outcome=unavailable} = %v, want 1", got)
	}
	if got := metricValue(t, d, "flint_cluster_tasks_total", map[string]string{"task": flakyTask.Name, "outcome": "error"}); got != 1 {
		t.Fatalf("tasks_total{outcome=error} = %v, want 1", got)
	}
}

// A task running past Config.CallTimeout fails, naming the worker and the
// timeout, and the worker stays live. The timeout is long enough for the
// load before it to fit in one call on a loaded machine (300 ms did not).
func TestCallTimeout(t *testing.T) {
	d := newDriver(t, Config{HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: 5 * time.Second, CallTimeout: 3 * time.Second})
	goWorkers(t, d, 2, "")
	ctx := context.Background()
	ds, err := d.Load(ctx, fileSources(t, 500, 4), "")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = cluster.Aggregate(ctx, d, ds, sumTask, &sumArgs{Sleep: time.Minute, FailPart: -1})
	if err == nil || !strings.Contains(err.Error(), "did not finish within Config.CallTimeout (3s)") || !strings.Contains(err.Error(), "worker w1") {
		t.Fatalf("a task past the call timeout: %v", err)
	}
	if took := time.Since(start); took > time.Minute/2 {
		t.Fatalf("a task past a 3s call timeout failed after %v", took)
	}
	if n := d.Workers(); n != 2 {
		t.Fatalf("%d workers live after a call timed out, want 2", n)
	}
	if _, err := cluster.Aggregate(ctx, d, ds, sumTask, &sumArgs{FailPart: -1}); err != nil {
		t.Fatal(err)
	}
}

// metricValue gathers d's collector and returns the value of the series
// of name with the given labels (all of them), failing if there is none.
func metricValue(t *testing.T, d *Driver, name string, labels map[string]string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	if err := reg.Register(d.Collector()); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
		}
	}
	t.Fatalf("no series %s%v gathered", name, labels)
	return 0
}

// The collector reports membership, each worker's cached bytes and limit,
// tasks by outcome, retries and losses.
func TestCollector(t *testing.T) {
	d := newDriver(t, Config{HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: 5 * time.Second})
	cmds := startWorkers(t, d, 2, "")
	ctx := context.Background()
	ds, err := d.Load(ctx, fileSources(t, 1000, 4), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.Aggregate(ctx, d, ds, sumTask, &sumArgs{FailPart: -1}); err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.Aggregate(ctx, d, ds, sumTask, &sumArgs{FailPart: 0}); err == nil {
		t.Fatal("a failing task did not fail")
	}
	waitFor(t, 10*time.Second, "the workers report the dataset's bytes", func() bool {
		return metricValue(t, d, "flint_cluster_worker_cached_bytes", map[string]string{"worker": "w1"})+
			metricValue(t, d, "flint_cluster_worker_cached_bytes", map[string]string{"worker": "w2"}) == float64(ds.Bytes())
	})
	// A worker process's live heap is reported, and is a plausible size.
	if h := metricValue(t, d, "flint_cluster_worker_heap_live_bytes", map[string]string{"worker": "w1"}); h < 64<<10 || h > 1<<30 {
		t.Fatalf("flint_cluster_worker_heap_live_bytes of w1 = %v", h)
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"flint_cluster_workers", map[string]string{"state": "live"}, 2},
		{"flint_cluster_workers", map[string]string{"state": "dead"}, 0},
		{"flint_cluster_worker_memory_limit_bytes", map[string]string{"worker": "w1"}, 0},
		{"flint_cluster_tasks_total", map[string]string{"task": sumTask.Name, "outcome": "ok"}, 1},
		{"flint_cluster_tasks_total", map[string]string{"task": sumTask.Name, "outcome": "error"}, 1},
		{"flint_cluster_partition_retries_total", nil, 0},
		{"flint_cluster_worker_losses_total", map[string]string{"reason": "connection"}, 0},
		{"flint_cluster_auth_refused_total", nil, 0},
	} {
		if got := metricValue(t, d, c.name, c.labels); got != c.want {
			t.Fatalf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	cmds[0].Process.Kill()
	cmds[0].Wait()
	if _, err := cluster.Aggregate(ctx, d, ds, sumTask, &sumArgs{FailPart: -1}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"flint_cluster_workers", map[string]string{"state": "live"}, 1},
		{"flint_cluster_workers", map[string]string{"state": "dead"}, 1},
		{"flint_cluster_worker_cached_bytes", map[string]string{"worker": "w1"}, 0},
		{"flint_cluster_worker_heap_live_bytes", map[string]string{"worker": "w1"}, 0},
		{"flint_cluster_partition_retries_total", nil, 2}, // w1's partitions 0 and 2
		{"flint_cluster_worker_losses_total", map[string]string{"reason": "connection"}, 1},
		{"flint_cluster_tasks_total", map[string]string{"task": sumTask.Name, "outcome": "ok"}, 2},
	} {
		if got := metricValue(t, d, c.name, c.labels); got != c.want {
			t.Fatalf("after w1 was killed: %s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}
