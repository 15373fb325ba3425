package disk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flintml/flint/log"
)

// damage changes a file in place.
type damage func(t *testing.T, path string, lastBatch int64)

func truncateBy(n int64) damage {
	return func(t *testing.T, path string, _ int64) {
		if err := os.Truncate(path, fileSize(t, path)-n); err != nil {
			t.Fatal(err)
		}
	}
}

// truncateInto keeps n bytes of the last batch.
func truncateInto(n int64) damage {
	return func(t *testing.T, path string, lastBatch int64) {
		if err := os.Truncate(path, lastBatch+n); err != nil {
			t.Fatal(err)
		}
	}
}

func appendGarbage(b []byte) damage {
	return func(t *testing.T, path string, _ int64) {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.Write(b); err != nil {
			t.Fatal(err)
		}
	}
}

// flipAt flips the bits of one byte, at position at from the start of the
// last batch.
func flipAt(at int64) damage {
	return func(t *testing.T, path string, lastBatch int64) {
		flipByte(t, path, lastBatch+at)
	}
}

func flipByte(t testing.TB, path string, pos int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, pos); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, pos); err != nil {
		t.Fatal(err)
	}
}

func TestOpenTruncatesTornTail(t *testing.T) {
	const batches, per, valueSize = 10, 5, 50
	garbage := make([]byte, 300)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range garbage {
		garbage[i] = byte(r.Uint32())
	}
	// A header that claims more bytes than the file has.
	long := make([]byte, batchHeaderSize)
	long[0], long[1], long[8] = 0xff, 0x0f, batchMagic
	cases := []struct {
		name    string
		damage  damage
		keep    int   // whole batches left
		dropped int64 // bytes dropped; -1: the last batch's size minus the bytes left of it
	}{
		{"cut 1 byte", truncateBy(1), batches - 1, -1},
		{"cut 3 bytes", truncateBy(3), batches - 1, -1},
		{"cut mid-header", truncateInto(batchHeaderSize / 2), batches - 1, batchHeaderSize / 2},
		{"cut after the length field", truncateInto(4), batches - 1, 4},
		{"cut mid-record", truncateInto(batchHeaderSize + 30), batches - 1, batchHeaderSize + 30},
		{"bad crc in the last batch", flipAt(batchHeaderSize + 7), batches - 1, -1},
		{"garbage appended", appendGarbage(garbage), batches, int64(len(garbage))},
		{"zeros appended", appendGarbage(make([]byte, 4096)), batches, 4096},
		{"a few zeros appended", appendGarbage(make([]byte, 3)), batches, 3},
		{"header claiming too much appended", appendGarbage(long), batches, batchHeaderSize},
		{"no damage", func(*testing.T, string, int64) {}, batches, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg, lb := testConfig(dir)
			l := mustOpen(t, cfg)
			create(t, l, "t", log.TopicConfig{Partitions: 1})
			want := appendBatches(t, l, "t", 0, batches-1, per, valueSize)
			seg := segments(t, dir, "t", 0)[0]
			lastBatch := fileSize(t, seg)
			want = append(want, appendBatches(t, l, "t", len(want), 1, per, valueSize)...)
			full := fileSize(t, seg)
			closeLog(t, l)

			// A torn tail is what a crash leaves after the last recovery
			// point; without recovery points the whole log is after it.
			forgetRecoveryPoints(t, dir)
			c.damage(t, seg, lastBatch)
			damaged := fileSize(t, seg)

			l = mustOpen(t, cfg)
			defer closeLog(t, l)
			want = want[:c.keep*per]
			checkRecords(t, readAll(t, l, "t", 0), want)

			keptBytes := lastBatch
			if c.keep == batches {
				keptBytes = full
			}
			dropped := c.dropped
			if dropped == -1 {
				dropped = damaged - lastBatch
			}
			rec := l.Recovery()
			if dropped == 0 {
				if len(rec) != 0 {
					t.Fatalf("Recovery() = %v after a clean close", rec)
				}
			} else {
				if len(rec) != 1 {
					t.Fatalf("Recovery() = %v, want one truncation", rec)
				}
				if rec[0].Segment != seg || rec[0].TruncatedAt != keptBytes || rec[0].BytesDropped != dropped {
					t.Fatalf("Recovery() = %+v, want %s truncated at %d, %d bytes dropped", rec[0], seg, keptBytes, dropped)
				}
				mustContain(t, "the warning", lb.String(), "torn tail", seg, fmt.Sprintf("at_byte=%d", keptBytes), fmt.Sprintf("bytes_dropped=%d", dropped))
			}
			if got := fileSize(t, seg); got != keptBytes {
				t.Fatalf("segment is %d bytes after recovery, want %d", got, keptBytes)
			}

			// Appends continue at the next offset.
			more := appendBatches(t, l, "t", 1000, 1, 3, valueSize)
			if more[0].Offset != int64(len(want)) {
				t.Fatalf("first append after recovery got offset %d, want %d", more[0].Offset, len(want))
			}
			checkRecords(t, readAll(t, l, "t", 0), append(want, more...))
		})
	}
}

// multiSegment fills a one-partition topic with 3 or more segments and
// returns the records and the segment files.
func multiSegment(t *testing.T, cfg Config) ([]log.Record, []string) {
	t.Helper()
	l := mustOpen(t, cfg)
	create(t, l, "t", log.TopicConfig{Partitions: 1, SegmentBytes: 8 << 10})
	want := appendBatches(t, l, "t", 0, 40, 10, 60) // ~850 bytes a batch
	closeLog(t, l)
	segs := segments(t, cfg.Dir, "t", 0)
	if len(segs) < 3 {
		t.Fatalf("%d segments, want several", len(segs))
	}
	return want, segs
}

// damagedOpen opens cfg, whose topic "t" has a damaged partition 0 and
// whose topic "ok" is intact, checks that Open succeeded and that "ok"
// works, and returns the error every operation on t/0 gives.
//
// It removes the recovery points first: Open trusts what lies before them
// and so finds damage there only when a Read meets it (TestDamageBelowThe
// RecoveryPoint); these tests are about what Open finds.
func damagedOpen(t *testing.T, cfg Config) (*Log, error) {
	t.Helper()
	forgetRecoveryPoints(t, cfg.Dir)
	l, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open = %v, want the damage confined to its partition", err)
	}
	t.Cleanup(func() { l.Close() })
	ctx := context.Background()
	if err := l.Append(ctx, "ok", []log.Record{{Value: []byte("still works")}}); err != nil {
		t.Fatalf("Append to an intact topic beside a damaged partition: %v", err)
	}
	if recs := readAll(t, l, "ok", 0); len(recs) != 2 {
		t.Fatalf("intact topic: read %d records, want 2", len(recs))
	}
	_, rerr := l.Read(ctx, "t", 0, 0, log.ReadOptions{})
	for what, err := range map[string]error{
		"Offsets":       func() error { _, err := l.Offsets(ctx, "t", 0); return err }(),
		"Describe":      func() error { _, err := l.Describe(ctx, "t"); return err }(),
		"Append":        l.Append(ctx, "t", []log.Record{{Value: []byte("x")}}),
		"OffsetForTime": func() error { _, err := l.OffsetForTime(ctx, "t", 0, time.Now()); return err }(),
	} {
		var ce *CorruptionError
		if !errors.As(err, &ce) || err.Error() != rerr.Error() {
			t.Errorf("%s on the damaged partition = %v, want the error Read gives: %v", what, err, rerr)
		}
	}
	return l, rerr
}

// withIntactTopic adds a topic "ok" with one record to the log of cfg.
func withIntactTopic(t *testing.T, cfg Config) {
	t.Helper()
	l := mustOpen(t, cfg)
	create(t, l, "ok", log.TopicConfig{Partitions: 1})
	appendBatches(t, l, "ok", 0, 1, 1, 10)
	closeLog(t, l)
}

func TestCorruptionBeforeTheLastSegmentIsolatesThePartition(t *testing.T) {
	cases := []struct {
		name    string
		segment int   // which segment to damage
		batch   int   // damage the batch at this index within it
		at      int64 // this byte of the batch
		cause   error
	}{
		{"flipped record byte in the first segment", 0, 3, batchHeaderSize + 20, ErrChecksum},
		{"flipped length in the first segment", 0, 0, 1, nil},
		{"flipped base offset in the second segment", 1, 2, 17, ErrChecksum},
		{"flipped magic in the second segment", 1, 0, 8, ErrMalformed},
		{"flipped crc in the last batch of the first segment", 0, -1, 5, ErrChecksum},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, _ := testConfig(t.TempDir())
			_, segs := multiSegment(t, cfg)
			withIntactTopic(t, cfg)
			seg := segs[c.segment]
			pos := batchPositions(t, seg)
			b := c.batch
			if b < 0 {
				b += len(pos)
			}
			flipByte(t, seg, pos[b]+c.at)
			size := fileSize(t, seg)

			l, err := damagedOpen(t, cfg)
			var ce *CorruptionError
			if !errors.As(err, &ce) {
				t.Fatalf("Read = %v, want a *CorruptionError", err)
			}
			if ce.Segment != seg || ce.Offset != pos[b] {
				t.Fatalf("CorruptionError names %s at byte %d, want %s at byte %d", ce.Segment, ce.Offset, seg, pos[b])
			}
			if c.cause != nil && !errors.Is(err, c.cause) {
				t.Fatalf("Read = %v, want it to wrap %v", err, c.cause)
			}
			mustContain(t, "the error", err.Error(), seg, fmt.Sprintf("at byte %d", pos[b]), "t/0")
			closeLog(t, l)
			// The directory was left as it was.
			if got := fileSize(t, seg); got != size {
				t.Fatalf("the damaged segment is %d bytes, was %d", got, size)
			}
		})
	}
}

func TestTruncatedEarlierSegmentIsolatesThePartition(t *testing.T) {
	cfg, _ := testConfig(t.TempDir())
	_, segs := multiSegment(t, cfg)
	withIntactTopic(t, cfg)
	size := fileSize(t, segs[0])
	if err := os.Truncate(segs[0], size-1); err != nil {
		t.Fatal(err)
	}
	_, err := damagedOpen(t, cfg)
	var ce *CorruptionError
	if !errors.As(err, &ce) || ce.Segment != segs[0] || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Read = %v, want a *CorruptionError in %s wrapping io.ErrUnexpectedEOF", err, segs[0])
	}
}

func TestMissingSegmentIsolatesThePartition(t *testing.T) {
	cfg, _ := testConfig(t.TempDir())
	_, segs := multiSegment(t, cfg)
	withIntactTopic(t, cfg)
	if err := os.Remove(segs[1]); err != nil {
		t.Fatal(err)
	}
	_, err := damagedOpen(t, cfg)
	var ce *CorruptionError
	if !errors.As(err, &ce) || ce.Segment != segs[2] {
		t.Fatalf("Read = %v, want a *CorruptionError naming %s, which no longer follows its predecessor", err, segs[2])
	}
}

// A bad batch in the middle of the last segment, with intact batches after
// it, is damage, not a torn tail: Open must not truncate the valid records
// after it.
func TestDamageMidLastSegmentIsNotATornTail(t *testing.T) {
	for _, c := range []struct {
		name string
		at   int64 // byte of the damaged batch to flip
	}{
		{"record byte", batchHeaderSize + 20},
		{"length field", 1},
		{"magic", 8},
		{"base offset", 17},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, lb := testConfig(t.TempDir())
			l := mustOpen(t, cfg)
			create(t, l, "t", log.TopicConfig{Partitions: 1})
			appendBatches(t, l, "t", 0, 100, 5, 50)
			closeLog(t, l)
			withIntactTopic(t, cfg)
			seg := segments(t, cfg.Dir, "t", 0)[0]
			pos := batchPositions(t, seg)
			flipByte(t, seg, pos[5]+c.at)
			size := fileSize(t, seg)

			l, err := damagedOpen(t, cfg)
			var ce *CorruptionError
			if !errors.As(err, &ce) || ce.Segment != seg || ce.Offset != pos[5] {
				t.Fatalf("Read = %v, want a *CorruptionError in %s at byte %d", err, seg, pos[5])
			}
			mustContain(t, "the error", err.Error(), "intact batch follows")
			if rec := l.Recovery(); len(rec) != 0 {
				t.Fatalf("Recovery() = %v, want nothing truncated", rec)
			}
			closeLog(t, l)
			if got := fileSize(t, seg); got != size {
				t.Fatalf("segment is %d bytes after Open, was %d: valid records were dropped", got, size)
			}
			mustContain(t, "the log", lb.String(), "damaged partition isolated")
		})
	}
}

// batchPositions lists the byte positions of the batches of a segment.
func batchPositions(t testing.TB, path string) []int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var pos []int64
	for off := 0; off < len(b); {
		h, err := parseHeader(b[off:])
		if err != nil {
			t.Fatalf("%s at %d: %v", path, off, err)
		}
		pos = append(pos, int64(off))
		off += h.size
	}
	return pos
}

func TestIndexFilesRebuilt(t *testing.T) {
	type damageIndex func(t *testing.T, idx, tix string)
	cases := []struct {
		name   string
		damage damageIndex
	}{
		{"idx missing", func(t *testing.T, idx, _ string) { os.Remove(idx) }},
		{"tix missing", func(t *testing.T, _, tix string) { os.Remove(tix) }},
		{"both missing", func(t *testing.T, idx, tix string) { os.Remove(idx); os.Remove(tix) }},
		{"idx byte flipped", func(t *testing.T, idx, _ string) { flipByte(t, idx, idxEntrySize+4) }},
		{"tix byte flipped", func(t *testing.T, _, tix string) { flipByte(t, tix, tixEntrySize+2) }},
		{"idx truncated", func(t *testing.T, idx, _ string) { os.Truncate(idx, fileSize(t, idx)-3) }},
		{"tix emptied", func(t *testing.T, _, tix string) { os.Truncate(tix, 0) }},
		{"idx with garbage appended", func(t *testing.T, idx, _ string) { appendGarbage([]byte("garbage!"))(t, idx, 0) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg, lb := testConfig(dir)
			l := mustOpen(t, cfg)
			create(t, l, "t", log.TopicConfig{Partitions: 1, SegmentBytes: 64 << 10})
			var want []log.Record
			for i := 0; i < 60; i++ {
				// Batches of varied sizes, so that some get index entries
				// and some do not.
				want = append(want, appendBatches(t, l, "t", len(want), 1, 1+i%7, 100+i*13%400)...)
			}
			closeLog(t, l)
			segs := segments(t, dir, "t", 0)
			if len(segs) < 2 {
				t.Fatalf("%d segments, want 2 or more", len(segs))
			}
			clean := map[string][]byte{}
			for _, s := range segs {
				idx, tix := segmentIndexPaths(s)
				for _, p := range []string{idx, tix} {
					b, err := os.ReadFile(p)
					if err != nil {
						t.Fatalf("after Close: %v", err)
					}
					clean[p] = b
				}
			}
			// A clean reopen rewrites nothing.
			l = mustOpen(t, cfg)
			closeLog(t, l)
			if strings.Contains(lb.String(), "rebuilt index") {
				t.Fatalf("a clean reopen rebuilt index files:\n%s", lb)
			}
			idx, tix := segmentIndexPaths(segs[0])
			if n := fileSize(t, idx) / idxEntrySize; n < 3 {
				t.Fatalf("first segment's index has %d entries; the test wants several", n)
			}
			c.damage(t, idx, tix)

			l = mustOpen(t, cfg)
			defer closeLog(t, l)
			mustContain(t, "the log", lb.String(), "rebuilt index", segs[0])
			for p, b := range clean {
				got, err := os.ReadFile(p)
				if err != nil || !bytes.Equal(got, b) {
					t.Fatalf("%s was not rebuilt as it was (err %v)", p, err)
				}
			}
			// Reads at every offset find their record.
			ctx := context.Background()
			for off := range want {
				got, err := l.Read(ctx, "t", 0, int64(off), log.ReadOptions{MaxRecords: 1})
				if err != nil {
					t.Fatal(err)
				}
				checkRecords(t, got, want[off:off+1])
			}
		})
	}
}

func TestSegmentRollBySize(t *testing.T) {
	dir := t.TempDir()
	cfg, _ := testConfig(dir)
	cfg.SegmentBytes = 4096
	l := mustOpen(t, cfg)
	create(t, l, "t", log.TopicConfig{Partitions: 1})
	want := appendBatches(t, l, "t", 0, 30, 4, 200) // ~900 bytes a batch
	big := appendBatches(t, l, "t", len(want), 1, 30, 200)
	want = append(want, big...) // one batch bigger than a segment
	want = append(want, appendBatches(t, l, "t", len(want), 3, 4, 200)...)
	segs := segments(t, dir, "t", 0)
	var base int64
	for i, s := range segs {
		if filepath.Base(s) != segmentName(base) {
			t.Fatalf("segment %d is %s, want %s", i, filepath.Base(s), segmentName(base))
		}
		size := fileSize(t, s)
		pos := batchPositions(t, s)
		if size > cfg.SegmentBytes && len(pos) > 1 {
			t.Fatalf("%s is %d bytes with %d batches, over SegmentBytes %d", s, size, len(pos), cfg.SegmentBytes)
		}
		// The next segment starts where this one ends.
		b, _ := os.ReadFile(s)
		for _, p := range pos {
			h, _ := parseHeader(b[p:])
			base = h.next()
		}
	}
	if len(segs) < 8 {
		t.Fatalf("%d segments for ~35 KB at 4 KiB each", len(segs))
	}
	checkRecords(t, readAll(t, l, "t", 0), want)
	closeLog(t, l)
	l = mustOpen(t, cfg)
	defer closeLog(t, l)
	checkRecords(t, readAll(t, l, "t", 0), want)
	if got := len(segments(t, dir, "t", 0)); got != len(segs) {
		t.Fatalf("reopen changed the segment count from %d to %d", len(segs), got)
	}
}

// TestAppendBesideADamagedPartition: an Append whose records go to an
// intact and a damaged partition appends the first's, with their fields
// set, and fails for the second's, whose Topic it leaves empty.
func TestAppendBesideADamagedPartition(t *testing.T) {
	cfg, _ := testConfig(t.TempDir())
	l := mustOpen(t, cfg)
	create(t, l, "t", log.TopicConfig{Partitions: 2})
	var recs []log.Record
	for i := range 200 {
		recs = append(recs, testRecord(i, 40))
	}
	for _, half := range [][]log.Record{recs[:100], recs[100:]} { // two batches a partition
		if err := l.Append(context.Background(), "t", half); err != nil {
			t.Fatal(err)
		}
	}
	before, err := l.Offsets(context.Background(), "t", 0)
	if err != nil {
		t.Fatal(err)
	}
	closeLog(t, l)
	seg := segments(t, cfg.Dir, "t", 1)[0]
	flipByte(t, seg, batchPositions(t, seg)[0]+batchHeaderSize+3)
	forgetRecoveryPoints(t, cfg.Dir)

	l = mustOpen(t, cfg)
	defer closeLog(t, l)
	more := make([]log.Record, 20)
	for i := range more {
		more[i] = testRecord(1000+i, 10)
		more[i].Topic = "stale" // what a caller may leave there
	}
	err = l.Append(context.Background(), "t", more)
	var ce *CorruptionError
	if !errors.As(err, &ce) || ce.Segment != seg {
		t.Fatalf("Append = %v, want the damage of %s", err, seg)
	}
	n := 0
	for _, r := range more {
		switch {
		case r.Partition == 1 && r.Topic != "":
			t.Fatalf("record %q for the damaged partition has Topic %q, want it empty", r.Key, r.Topic)
		case r.Partition == 0 && (r.Topic != "t" || r.Offset < before.Latest):
			t.Fatalf("record %q appended to t/0 has Topic %q, offset %d", r.Key, r.Topic, r.Offset)
		case r.Partition == 0:
			n++
		}
	}
	if got := len(readAll(t, l, "t", 0)); n == 0 || int64(got) != before.Latest+int64(n) {
		t.Fatalf("t/0 holds %d records after %d more were appended to %d", got, n, before.Latest)
	}
}
