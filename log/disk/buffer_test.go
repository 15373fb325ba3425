package disk

import (
	"context"
	"fmt"
	"testing"
	"unsafe"

	"github.com/flintml/flint/log"
)

// TestReadIntoBuffer: a read given a big enough ReadOptions.Buffer returns
// the same records, their values in the buffer; a read given one too small
// returns them too, in memory of its own.
func TestReadIntoBuffer(t *testing.T) {
	cfg, _ := testConfig(t.TempDir())
	l := mustOpen(t, cfg)
	defer closeLog(t, l)
	create(t, l, "t", log.TopicConfig{Partitions: 1})
	ctx := context.Background()
	var recs []log.Record
	for i := range 300 {
		recs = append(recs, log.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("value %d of the buffered read", i))})
	}
	if err := l.Append(ctx, "t", recs); err != nil {
		t.Fatal(err)
	}
	within := func(b, buf []byte) bool {
		p, lo := uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(unsafe.Pointer(unsafe.SliceData(buf[:1])))
		return p >= lo && p < lo+uintptr(cap(buf))
	}
	for _, c := range []struct {
		name   string
		size   int
		inside bool
	}{{"big enough", 1 << 20, true}, {"too small", 16, false}} {
		buf := make([]byte, 0, c.size)
		for off := int64(0); off < 300; {
			got, err := l.Read(ctx, "t", 0, off, log.ReadOptions{MaxRecords: 70, Buffer: buf})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 {
				t.Fatalf("%s: no records at offset %d", c.name, off)
			}
			for _, r := range got {
				if want := fmt.Sprintf("value %d of the buffered read", r.Offset); string(r.Value) != want {
					t.Fatalf("%s: offset %d holds %q, want %q", c.name, r.Offset, r.Value, want)
				}
				if within(r.Value, buf) != c.inside {
					t.Fatalf("%s: the value at offset %d is in the buffer: %v, want %v", c.name, r.Offset, !c.inside, c.inside)
				}
			}
			off = got[len(got)-1].Offset + 1
		}
	}
}

// TestReadSeveralBatchesIntoBuffer: a read that needs more than one pread
// (its first stops inside a batch) puts every pread into the buffer while
// it fits, after the bytes the records before alias, and appends the
// records to ReadOptions.Records: a reader that passes both again reads a
// partition without allocating per read (the cluster's loads do).
func TestReadSeveralBatchesIntoBuffer(t *testing.T) {
	cfg, _ := testConfig(t.TempDir())
	l := mustOpen(t, cfg)
	defer closeLog(t, l)
	create(t, l, "t", log.TopicConfig{Partitions: 1})
	ctx := context.Background()
	const batches, perBatch = 12, 200
	value := func(off int64) string { return fmt.Sprintf("%-100s", fmt.Sprintf("value %d of a batch", off)) }
	for b := range batches {
		var recs []log.Record
		for i := range perBatch {
			recs = append(recs, log.Record{Key: []byte("k"), Value: []byte(value(int64(b*perBatch + i)))})
		}
		if err := l.Append(ctx, "t", recs); err != nil {
			t.Fatal(err)
		}
	}
	within := func(b, buf []byte) bool {
		p, lo := uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(unsafe.Pointer(unsafe.SliceData(buf[:1])))
		return p >= lo && p < lo+uintptr(cap(buf))
	}
	for _, maxBytes := range []int{50000, 60000, 90000} {
		buf := make([]byte, 0, 1<<20)
		var records []log.Record
		reads := 0
		for off := int64(0); off < batches*perBatch; reads++ {
			got, err := l.Read(ctx, "t", 0, off, log.ReadOptions{MaxRecords: 1000, MaxBytes: maxBytes, Buffer: buf, Records: records[:0]})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 {
				t.Fatalf("MaxBytes %d: no records at offset %d", maxBytes, off)
			}
			if records != nil && unsafe.SliceData(got) != unsafe.SliceData(records) {
				t.Fatalf("MaxBytes %d: the records of the read at offset %d are not in ReadOptions.Records", maxBytes, off)
			}
			for _, r := range got {
				if r.Offset != off || string(r.Value) != value(off) {
					t.Fatalf("MaxBytes %d: got offset %d %q, want offset %d %q", maxBytes, r.Offset, r.Value, off, value(off))
				}
				if !within(r.Value, buf) {
					t.Fatalf("MaxBytes %d: the value at offset %d is not in the buffer", maxBytes, r.Offset)
				}
				off++
			}
			records = got
		}
		if reads < 3 {
			t.Fatalf("MaxBytes %d: %d reads, want several", maxBytes, reads)
		}
	}
}
