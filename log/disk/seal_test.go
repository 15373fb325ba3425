package disk

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/flintml/flint/log"
)

// zeroTail overwrites the last n bytes of the file at path with zeros, as
// a file system that allocated the blocks of a write but never wrote them
// leaves it.
func zeroTail(n int64) damage {
	return func(t *testing.T, path string, _ int64) {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteAt(make([]byte, n), fileSize(t, path)-n); err != nil {
			t.Fatal(err)
		}
	}
}

// truncateTo cuts the file at path just before its last batch.
func truncateTo() damage {
	return func(t *testing.T, path string, lastBatch int64) {
		if err := os.Truncate(path, lastBatch); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOpenAfterPowerLossDuringASeal sets up what a power failure can leave
// when it comes after a roll under SyncInterval and before the background
// fsync of the rolled segment (partition.sealRolled): the segment before
// the last one lost its tail while the last one reached the disk. Open
// truncates the torn segment, removes the last one, and so keeps a prefix
// of the partition; the same state in a segment a recovery point covers,
// or damage with intact batches after it, is corruption as before.
func TestOpenAfterPowerLossDuringASeal(t *testing.T) {
	cases := []struct {
		name string
		// damage is done to the segment before the last.
		damage damage
		// keepPoints keeps the recovery points Close wrote, which cover
		// every segment.
		keepPoints bool
		// truncated says Open truncates the torn segment (a Recovery for
		// it besides the one for the removed last segment).
		truncated bool
		corrupt   bool // Open isolates the partition instead
	}{
		{name: "cut mid-batch", damage: truncateInto(batchHeaderSize + 30), truncated: true},
		{name: "cut 1 byte", damage: truncateBy(1), truncated: true},
		{name: "cut at a batch boundary", damage: truncateTo()},
		{name: "zeros where the last batch was", damage: zeroTail(200), truncated: true},
		{name: "covered by a recovery point", damage: truncateInto(batchHeaderSize + 30), keepPoints: true, corrupt: true},
		{name: "intact batches after the bad one", damage: func(t *testing.T, path string, _ int64) {
			flipByte(t, path, batchHeaderSize+20) // in the first batch
		}, corrupt: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, _ := testConfig(t.TempDir())
			want, segs := multiSegment(t, cfg)
			pen, last := segs[len(segs)-2], segs[len(segs)-1]
			pos := batchPositions(t, pen)
			lastBatch := pos[len(pos)-1]
			c.damage(t, pen, lastBatch)
			if !c.keepPoints {
				forgetRecoveryPoints(t, cfg.Dir)
			}
			lastSize := fileSize(t, last)

			l := mustOpen(t, cfg)
			defer closeLog(t, l)
			ctx := context.Background()
			if c.corrupt {
				_, err := l.Read(ctx, "t", 0, 0, log.ReadOptions{})
				var ce *CorruptionError
				if !errors.As(err, &ce) || ce.Segment != pen {
					t.Fatalf("Read = %v, want a *CorruptionError in %s", err, pen)
				}
				if got := fileSize(t, last); got != lastSize {
					t.Fatalf("the last segment is %d bytes, was %d: Open changed a damaged partition", got, lastSize)
				}
				return
			}
			rec := l.Recovery()
			wantRecs := 1
			if c.truncated {
				wantRecs = 2
				if rec[0].Segment != pen || rec[0].TruncatedAt != lastBatch {
					t.Fatalf("Recovery()[0] = %v, want %s truncated at byte %d", rec[0], pen, lastBatch)
				}
			}
			if len(rec) != wantRecs {
				t.Fatalf("Recovery() = %v, want %d entries", rec, wantRecs)
			}
			if r := rec[len(rec)-1]; r.Segment != last || r.TruncatedAt != 0 || r.BytesDropped != lastSize {
				t.Fatalf("Recovery() ends with %v, want %s dropped whole (%d bytes)", r, last, lastSize)
			}
			if _, err := os.Stat(last); !os.IsNotExist(err) {
				t.Fatalf("the segment after the torn one is still there (%v)", err)
			}
			// The partition keeps the records before the lost batch (10 a
			// batch, see multiSegment), and appends go on from there.
			base, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(pen), segExt), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			kept := int(base) + 10*(len(pos)-1)
			checkRecords(t, readAll(t, l, "t", 0), want[:kept])
			more := appendBatches(t, l, "t", kept, 2, 10, 60)
			checkRecords(t, readAll(t, l, "t", 0), append(want[:kept:kept], more...))
		})
	}
}
