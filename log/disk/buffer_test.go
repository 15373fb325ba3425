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
