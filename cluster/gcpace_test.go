package cluster

import (
	"context"
	"runtime"
	"runtime/debug"
	"testing"
)

// An engine with PaceGC lowers the collector's percent while it caches a
// dataset big against the rest of the heap, recomputes it after
// collections, and puts GOGC back when the dataset is dropped; an engine
// without it leaves the collector alone.
func TestPaceGCWhileCached(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	ctx := context.Background()
	const rows, cols = 4096, 1024 // 32 MiB of float64
	blocks := func() []*Block {
		bs := make([]*Block, 2)
		for i := range bs {
			bs[i] = &Block{Rows: rows / 2, Cols: cols, X: make([]float64, rows/2*cols), Y: make([]float64, rows/2)}
		}
		return bs
	}

	plain := NewEngine(Config{Workers: 2})
	defer plain.Close()
	ds, err := plain.FromBlocks(ctx, "plain", blocks())
	if err != nil {
		t.Fatal(err)
	}
	if on, _ := pacedPercent(); on {
		t.Fatal("an engine without PaceGC paces the collector")
	}
	plain.Drop(ds)

	e := NewEngine(Config{Workers: 2, PaceGC: true})
	defer e.Close()
	ds, err = e.FromBlocks(ctx, "paced", blocks())
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.GC() // the hook runs after the collection that finds its sentinel unreachable
	on, p := pacedPercent()
	if !on || p >= 100 {
		t.Fatalf("caching 32 MiB with PaceGC: pacing %v at %d%%, want a percent below GOGC's 100", on, p)
	}
	e.Drop(ds)
	if on, _ := pacedPercent(); on {
		t.Fatal("pacing went on after the dataset was dropped")
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("after the drop the percent is %d, want GOGC's 100 back", got)
	}
	runtime.KeepAlive(ds)
}
