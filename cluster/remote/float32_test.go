package remote

import (
	"context"
	"testing"
	"time"

	"github.com/flintml/flint/cluster"
)

// Float32 partitions on worker processes: read from files with
// Format.Float32 (the flag travels with the sources) and sent as encoded
// blocks (the codec's float32 form), they give the in-process engine's
// logistic regression bit for bit, and count 4 bytes a value.
func TestFloat32EqualsEngine(t *testing.T) {
	sources := fileSources(t, 3000, 5)
	for i := range sources {
		sources[i].Format.Float32 = true
	}
	e, ref := engineDataset(t, nil, sources)
	d := newDriver(t, Config{HeartbeatInterval: 100 * time.Millisecond, HeartbeatTimeout: 5 * time.Second})
	startWorkers(t, d, 2, "")
	ctx := context.Background()
	ds, err := d.Load(ctx, sources, "")
	if err != nil {
		t.Fatal(err)
	}
	if ds.Bytes() != ref.Bytes() {
		t.Fatalf("remote dataset holds %d bytes, engine %d", ds.Bytes(), ref.Bytes())
	}
	want := fitLR(t, e, ref)
	sameLR(t, fitLR(t, d, ds), want)

	blocks := make([]*cluster.Block, ref.NumPartitions())
	for i := range blocks {
		if blocks[i], err = e.Block(ref, i); err != nil {
			t.Fatal(err)
		}
		if blocks[i].Rows > 0 && !blocks[i].Float32() {
			t.Fatalf("partition %d is not float32", i)
		}
	}
	sent, err := d.FromBlocks(ctx, "sent", blocks)
	if err != nil {
		t.Fatal(err)
	}
	sameLR(t, fitLR(t, d, sent), want)
}
