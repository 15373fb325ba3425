package cluster

import (
	"context"
	"fmt"
	"testing"

	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
)

// Caching a log source allocates per read, never per record: the block is
// sized from the offset range, reads go into pooled buffers and one
// records slice, and records are named for errors without a closure each.
func TestCachingAllocatesNothingPerRecord(t *testing.T) {
	ctx := context.Background()
	l, err := disk.Open(disk.Config{Dir: t.TempDir(), Sync: disk.SyncUnsafeNever})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.CreateTopic(ctx, "rows", log.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	const n = 40000
	for lo := 0; lo < n; lo += 1000 {
		recs := make([]log.Record, 1000)
		for i := range recs {
			recs[i] = log.Record{Value: fmt.Appendf(nil, "%d,%d,%d.5,%d", (lo+i)%2, lo+i, i, i%7)}
		}
		if err := l.Append(ctx, "rows", recs); err != nil {
			t.Fatal(err)
		}
	}
	src := Source{Kind: "log", Topic: "rows", LogPartition: 0, From: 0, To: n, Format: Format{Kind: "csv"}}
	allocs := testing.AllocsPerRun(3, func() {
		b, err := ReadSource(ctx, l, src)
		if err != nil {
			t.Fatal(err)
		}
		if b.Rows != n {
			t.Fatalf("cached %d rows, want %d", b.Rows, n)
		}
	})
	// Before the records were named by a reused position and read into
	// one reused slice, caching made more than one allocation per record.
	if per := allocs / n; per > 0.01 {
		t.Fatalf("caching %d records made %.0f allocations, %.3f per record: something allocates per record", n, allocs, per)
	}
	t.Logf("%.0f allocations for %d records", allocs, n)
}
