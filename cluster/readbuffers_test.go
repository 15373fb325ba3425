package cluster

import (
	"context"
	"fmt"
	"testing"

	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
)

// The log read buffers are shared between sources read while others are
// being read, and let go when the last reader ends, so an idle worker
// holds none of them (the faults test checks workers' live heap between
// jobs).
func TestReadBuffersLetGoWhenIdle(t *testing.T) {
	var p readBufferPool
	a, b := p.get(), p.get()
	if a != nil || b != nil {
		t.Fatal("an empty pool handed out a buffer")
	}
	one := make([]byte, 0, 8)
	p.put(&one) // b's reader is still reading: kept for the next source
	if p.held() != 1 {
		t.Fatalf("held %d buffers while a reader runs, want 1", p.held())
	}
	if got := p.get(); got != &one {
		t.Fatal("the next reader did not get the kept buffer")
	}
	p.put(&one)
	p.put(nil) // the last reader ends
	if p.held() != 0 || p.active != 0 {
		t.Fatalf("idle pool holds %d buffers, %d readers", p.held(), p.active)
	}

	// A load of a log topic leaves none behind.
	ctx := context.Background()
	l, err := disk.Open(disk.Config{Dir: t.TempDir(), Sync: disk.SyncUnsafeNever})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.CreateTopic(ctx, "pts", log.TopicConfig{Partitions: 4}); err != nil {
		t.Fatal(err)
	}
	recs := make([]log.Record, 4000)
	for i := range recs {
		recs[i] = log.Record{Key: []byte(fmt.Sprint(i)), Value: fmt.Appendf(nil, "%d,%d", i, i%2)}
	}
	if err := l.Append(ctx, "pts", recs); err != nil {
		t.Fatal(err)
	}
	sources, err := PlanLog(ctx, l, "pts", LogOptions{Format: Format{Kind: "csv"}, Split: 4})
	if err != nil {
		t.Fatal(err)
	}
	e := NewEngine(Config{Workers: 2})
	defer e.Close()
	ds, err := e.LoadSources(ctx, l, "pts", sources)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Rows() != 4000 {
		t.Fatalf("loaded %d rows, want 4000", ds.Rows())
	}
	if n := readBuffers.held(); n != 0 {
		t.Fatalf("after the load the pool holds %d read buffers", n)
	}
}

// A load keeps a read buffer between its sources only while it has
// sources left to start: the buffers of its last sources go as they end,
// not beside the whole cache at the end of the load.
func TestReadBuffersKeptOnlyForSourcesLeft(t *testing.T) {
	var p readBufferPool
	h := p.hold(2)
	h.start()
	if p.get() != nil {
		t.Fatal("an empty pool handed out a buffer")
	}
	one := make([]byte, 0, 8)
	p.put(&one) // a source is left to start: kept for it
	if p.held() != 1 {
		t.Fatalf("held %d buffers with a source left to start, want 1", p.held())
	}
	h.start()
	got := p.get()
	if got != &one {
		t.Fatal("the last source did not get the kept buffer")
	}
	p.put(got) // no source left to start: let go, though the load runs on
	if p.held() != 0 {
		t.Fatalf("held %d buffers with no source left to start, want 0", p.held())
	}
	h.release()
	if p.active != 0 || p.holds != 0 || p.toStart != 0 {
		t.Fatalf("after the load: %d readers, %d holds, %d sources to start", p.active, p.holds, p.toStart)
	}
}
