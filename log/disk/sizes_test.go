package disk

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/flintml/flint/log"
)

// segFileBytes adds up the sizes of the .seg files of one partition.
func segFileBytes(t *testing.T, dir, topic string, p int) int64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, topic, strconv.Itoa(p), "*"+segExt))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

// TestPartitionSizesAreSegmentFiles checks that PartitionSizes is the
// bytes of the segment files, across rolls, for the writer and for a
// read-only view of the same directory.
func TestPartitionSizesAreSegmentFiles(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, Config{Dir: dir})
	defer l.Close()
	ctx := context.Background()
	if err := l.CreateTopic(ctx, "s", log.TopicConfig{Partitions: 3, SegmentBytes: 4096}); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		recs := []log.Record{{Key: []byte(strconv.Itoa(i)), Value: bytes.Repeat([]byte("v"), i)}}
		if err := l.Append(ctx, "s", recs); err != nil {
			t.Fatal(err)
		}
	}
	ro := openRO(t, dir)
	defer ro.Close()
	for _, tc := range []struct {
		name string
		l    *Log
	}{{"writer", l}, {"read-only", ro}} {
		sizes, err := tc.l.PartitionSizes(ctx, "s")
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for p, got := range sizes {
			if want := segFileBytes(t, dir, "s", p); got != want || got == 0 {
				t.Errorf("%s: PartitionSizes()[%d] = %d, the .seg files hold %d bytes", tc.name, p, got, want)
			}
		}
	}
}
