package remote

import (
	"context"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/flintml/flint/cluster"
)

// gcPercent reads the collector's percent.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// A worker with PaceGC paces the collector by the heap that is not cached
// while it caches partitions, and gives GOGC back when they are dropped.
func TestWorkerPacesGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	d := newDriver(t, Config{HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: 5 * time.Second})
	goWorkersWith(t, d, 1, WorkerConfig{PaceGC: true})
	ctx := context.Background()
	blocks := make([]*cluster.Block, 8) // 32 MiB
	for i := range blocks {
		blocks[i] = &cluster.Block{Rows: 512, Cols: 1024, X: make([]float64, 512*1024), Y: make([]float64, 512)}
	}
	ds, err := d.FromBlocks(ctx, "paced", blocks)
	if err != nil {
		t.Fatal(err)
	}
	blocks = nil
	runtime.GC()
	runtime.GC() // the pacing hook runs after a collection
	if p := gcPercent(); p >= 100 {
		t.Fatalf("the worker caches 32 MiB with PaceGC and the percent is %d, want below GOGC's 100", p)
	}
	d.Drop(ds)
	deadline := time.Now().Add(30 * time.Second)
	for gcPercent() != 100 {
		if time.Now().After(deadline) {
			t.Fatalf("the dataset was dropped and the percent is still %d, want GOGC's 100 back", gcPercent())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
