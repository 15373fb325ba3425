package remote

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
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
	msg := err.Error()
	for _, want := range []string{`dataset "` + sources[0].Path + `" does not fit in the workers' memory`,
		"w1 has ", "of its 20000-byte memory limit", "w2 has ", "w3 has ", "of its 400000-byte memory limit"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("the refusal does not say %q: %v", want, err)
		}
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
