package remote

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flintml/flint/cluster"
)

// A worker with a small memory limit refuses the partitions that do not
// fit, and the driver places them on workers with room: the dataset loads
// and trains as on the in-process engine. A dataset larger than every
// worker's free memory together is refused, naming the dataset and each
// worker's free memory, and leaves nothing cached.
func TestPlacementByCapacity(t *testing.T) {
	sources := fileSources(t, 6000, 6) // 6 partitions of 1000 rows × 6 values: 48000 bytes each
	e, ref := engineDataset(t, nil, sources)
	const small, large = 20_000, 400_000
	d := newDriver(t, Config{HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: 5 * time.Second})
	goWorkersWith(t, d, 1, WorkerConfig{MemoryLimit: small})
	goWorkersWith(t, d, 2, WorkerConfig{MemoryLimit: large})
	ctx := context.Background()
	ds, err := d.Load(ctx, sources, "")
	if err != nil {
		t.Fatal(err)
	}
	place := d.Placement(ds)
	if slices.Contains(place, "w1") || len(place) != 6 {
		t.Fatalf("placement %v: w1 (a %d-byte limit) cannot hold a 48000-byte partition", place, small)
	}
	for i, id := range place {
		if i%3 != 0 && id != []string{"w1", "w2", "w3"}[i%3] {
			t.Fatalf("placement %v: partition %d moved though its worker had room", place, i)
		}
	}

	// Three times the sources: 864000 bytes, where about 530000 are free.
	big := slices.Concat(sources, sources, sources)
	_, err = d.Load(ctx, big, "")
	if err == nil {
		t.Fatal("a dataset larger than the workers' free memory was loaded")
	}
	t.Logf("the refusal: %v", err)
	msg := err.Error()
	for _, want := range []string{`dataset "` + sources[0].Path + `" does not fit in the workers' memory`,
		"w1 has ", "of its 20000-byte memory limit", "w2 has ", "w3 has ", "of its 400000-byte memory limit"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("the refusal does not say %q: %v", want, err)
		}
	}
	// Blocks built by the driver have a known size: refused before any is sent.
	blocks := make([]*cluster.Block, 12)
	for i := range blocks {
		blocks[i] = &cluster.Block{Rows: 1000, Cols: 5, X: make([]float64, 5000), Y: make([]float64, 1000)}
	}
	_, err = d.FromBlocks(ctx, "ratings", blocks)
	if err == nil || !strings.Contains(err.Error(), `dataset "ratings" needs 576000 bytes, more than the`) || !strings.Contains(err.Error(), "w3 has ") {
		t.Fatalf("blocks larger than the workers' free memory: %v", err)
	}
	waitFor(t, 10*time.Second, "the workers hold only the first dataset", func() bool {
		var cached int64
		for _, w := range d.Members() {
			cached += w.CachedBytes
		}
		return cached == ds.Bytes()
	})
	for _, w := range d.Members() {
		if w.CachedBytes > w.MemoryLimit {
			t.Fatalf("worker %s holds %d bytes over its %d-byte limit", w.ID, w.CachedBytes, w.MemoryLimit)
		}
	}
	sameLR(t, fitLR(t, d, ds), fitLR(t, e, ref))
}

// A worker that joins while a dataset is cached takes its share of the
// dataset's partitions from the next task on (reading them from their
// sources; the old owners drop their copies), with the same results, and
// its share of every dataset loaded later.
func TestJoiningWorkerUsedFromNextIteration(t *testing.T) {
	sources := fileSources(t, 1200, 6)
	d := newDriver(t, Config{HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: 5 * time.Second})
	startWorkers(t, d, 2, "")
	ctx := context.Background()
	first, err := d.Load(ctx, sources, "")
	if err != nil {
		t.Fatal(err)
	}
	before, err := cluster.Aggregate(ctx, d, first, sumTask, &sumArgs{FailPart: -1})
	if err != nil {
		t.Fatal(err)
	}
	startWorkersB(t, d, 1, "")
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := d.WaitWorkers(wctx, 3); err != nil { // w3
		t.Fatal(err)
	}
	if got, want := strings.Join(d.Placement(first), " "), "w1 w2 w1 w2 w1 w2"; got != want {
		t.Fatalf("placement before the next task: %s, want %s", got, want)
	}
	after, err := cluster.Aggregate(ctx, d, first, sumTask, &sumArgs{FailPart: -1})
	if err != nil {
		t.Fatal(err)
	}
	if math.Float64bits(after.Sum) != math.Float64bits(before.Sum) || after.Rows != before.Rows {
		t.Fatalf("after the join: sum %v over %d rows, before %v over %d", after.Sum, after.Rows, before.Sum, before.Rows)
	}
	if got, want := strings.Join(d.Placement(first), " "), "w1 w2 w1 w2 w3 w3"; got != want {
		t.Fatalf("placement after the next task: %s, want %s", got, want)
	}
	// The old owners dropped their copies: the workers hold the dataset once.
	var cached int64
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		cached = 0
		for _, w := range d.Members() {
			cached += w.CachedBytes
		}
		if cached == first.Bytes() {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if cached != first.Bytes() {
		t.Fatalf("workers report %d cached bytes for a %d-byte dataset", cached, first.Bytes())
	}
	next, err := d.Load(ctx, sources, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(d.Placement(next), " "), "w1 w2 w3 w1 w2 w3"; got != want {
		t.Fatalf("placement of the next dataset: %s, want %s", got, want)
	}
}

// A worker with a memory limit refuses to cache past it: the load fails
// with an error naming the worker, the partitions and the limit, and the
// worker holds nothing of the failed dataset.
func TestWorkerMemoryLimit(t *testing.T) {
	sources := fileSources(t, 3000, 4)
	d := newDriver(t, Config{HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: 5 * time.Second})
	goWorkersWith(t, d, 2, WorkerConfig{MemoryLimit: 100 << 10})
	ctx := context.Background()
	small, err := d.Load(ctx, sources[:2], "") // one ~36 KB partition per worker
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Load(ctx, append(append([]cluster.Source(nil), sources...), sources...), "")
	if err == nil || !strings.Contains(err.Error(), "memory limit") || !strings.Contains(err.Error(), "102400-byte") {
		t.Fatalf("a load past the workers' memory limit: %v", err)
	}
	if _, err := cluster.Aggregate(ctx, d, small, sumTask, &sumArgs{FailPart: -1}); err != nil {
		t.Fatalf("the dataset cached before the refused load: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var cached int64
		for _, w := range d.Members() {
			cached += w.CachedBytes
		}
		if cached == small.Bytes() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("workers hold %d bytes after the refused load; the first dataset has %d", cached, small.Bytes())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
