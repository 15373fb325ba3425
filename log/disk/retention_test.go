package disk

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flintml/flint/log"
)

func TestRetentionBytes(t *testing.T) {
	dir := t.TempDir()
	cfg, _ := testConfig(dir)
	l := mustOpen(t, cfg)
	defer func() { closeLog(t, l) }()
	ctx := context.Background()
	create(t, l, "t", log.TopicConfig{Partitions: 1, SegmentBytes: 4096, RetentionBytes: 10_000})
	want := appendBatches(t, l, "t", 0, 30, 5, 150) // ~850 bytes a batch, 4 a segment
	before := segments(t, dir, "t", 0)
	sizes := map[string]int64{}
	for _, s := range before {
		sizes[s] = fileSize(t, s)
	}
	if err := l.EnforceRetention(ctx); err != nil {
		t.Fatal(err)
	}
	after := segments(t, dir, "t", 0)
	var total int64
	for _, s := range after {
		total += fileSize(t, s)
	}
	removed := before[:len(before)-len(after)]
	if len(removed) == 0 || total > 10_000 {
		t.Fatalf("kept %d of %d segments, %d bytes; want at most 10000 bytes", len(after), len(before), total)
	}
	// Only whole, oldest segments went, with their indexes.
	for _, s := range removed {
		idx, tix := segmentIndexPaths(s)
		for _, p := range []string{s, idx, tix} {
			if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s: %v, want it removed", p, err)
			}
		}
	}
	if after[len(after)-1] != before[len(before)-1] {
		t.Fatal("the active segment was removed")
	}
	// Keeping the newest segment removed would pass the limit.
	if extra := sizes[before[len(removed)-1]]; total+extra <= 10_000 {
		t.Fatalf("removed %s although %d+%d bytes fit in 10000", removed[len(removed)-1], total, extra)
	}
	info, _ := l.Offsets(ctx, "t", 0)
	firstKept := want[len(want)-len(readAll(t, l, "t", 0))].Offset
	if info.Earliest != firstKept || filepath.Base(after[0]) != segmentName(info.Earliest) {
		t.Fatalf("earliest offset %d, first segment %s, first record kept %d", info.Earliest, filepath.Base(after[0]), firstKept)
	}
	checkRecords(t, readAll(t, l, "t", 0), want[info.Earliest:])
	_, err := l.Read(ctx, "t", 0, info.Earliest-1, log.ReadOptions{})
	var oor *log.OffsetOutOfRangeError
	if !errors.As(err, &oor) || oor.Earliest != info.Earliest || oor.Latest != int64(len(want)) {
		t.Fatalf("Read below the earliest offset = %v, want *OffsetOutOfRangeError with earliest %d", err, info.Earliest)
	}
	// Retention is durable: a reopen starts from the same place.
	closeLog(t, l)
	l = mustOpen(t, cfg)
	if info2, _ := l.Offsets(ctx, "t", 0); info2 != info {
		t.Fatalf("after reopen offsets %+v, want %+v", info2, info)
	}
}

func TestRetentionAge(t *testing.T) {
	ctx := context.Background()
	old := time.Now().Add(-2 * time.Hour)
	stamp := func(recs []log.Record, at time.Time) []log.Record {
		for i := range recs {
			recs[i].Time = at
		}
		return recs
	}
	appendAt := func(t *testing.T, l *Log, first, batches int, at time.Time) []log.Record {
		var all []log.Record
		for b := 0; b < batches; b++ {
			recs := make([]log.Record, 5)
			for i := range recs {
				recs[i] = testRecord(first+len(all)+i, 150)
			}
			if err := l.Append(ctx, "t", stamp(recs, at)); err != nil {
				t.Fatal(err)
			}
			all = append(all, recs...)
		}
		return all
	}

	t.Run("old segments go, new ones stay", func(t *testing.T) {
		dir := t.TempDir()
		cfg, _ := testConfig(dir)
		l := mustOpen(t, cfg)
		defer closeLog(t, l)
		create(t, l, "t", log.TopicConfig{Partitions: 1, SegmentBytes: 4096, RetentionAge: time.Hour})
		want := appendAt(t, l, 0, 12, old)
		want = append(want, appendAt(t, l, len(want), 12, time.Now())...)
		// An old record in a new segment keeps it: its newest record counts.
		want = append(want, appendAt(t, l, len(want), 1, old)...)
		if err := l.EnforceRetention(ctx); err != nil {
			t.Fatal(err)
		}
		info, _ := l.Offsets(ctx, "t", 0)
		// The first new record is at 60; its segment may hold old ones too.
		if info.Earliest == 0 || info.Earliest > 60 {
			t.Fatalf("earliest %d after age retention, want within (0, 60]", info.Earliest)
		}
		for _, r := range readAll(t, l, "t", 0)[:60-info.Earliest] {
			if r.Time.After(old.Add(time.Minute)) {
				t.Fatal("bug in the test")
			}
		}
		checkRecords(t, readAll(t, l, "t", 0), want[info.Earliest:])
	})

	t.Run("an expired active segment is rolled and removed", func(t *testing.T) {
		dir := t.TempDir()
		cfg, _ := testConfig(dir)
		l := mustOpen(t, cfg)
		defer closeLog(t, l)
		create(t, l, "t", log.TopicConfig{Partitions: 1, RetentionAge: time.Hour})
		appendAt(t, l, 0, 3, old)
		if err := l.EnforceRetention(ctx); err != nil {
			t.Fatal(err)
		}
		info, _ := l.Offsets(ctx, "t", 0)
		if info.Earliest != 15 || info.Latest != 15 {
			t.Fatalf("offsets %+v after every record expired, want 15..15", info)
		}
		segs := segments(t, dir, "t", 0)
		if len(segs) != 1 || filepath.Base(segs[0]) != segmentName(15) || fileSize(t, segs[0]) != 0 {
			t.Fatalf("segments %v, want one empty segment at 15", segs)
		}
		if recs, err := l.Read(ctx, "t", 0, 15, log.ReadOptions{}); err != nil || len(recs) != 0 {
			t.Fatalf("Read at the high watermark = %d records, %v", len(recs), err)
		}
		next := appendAt(t, l, 100, 1, time.Now())
		if next[0].Offset != 15 {
			t.Fatalf("next append got offset %d, want 15", next[0].Offset)
		}
	})

	t.Run("the background goroutine applies it", func(t *testing.T) {
		cfg, _ := testConfig(t.TempDir())
		cfg.RetentionCheck = 10 * time.Millisecond
		l := mustOpen(t, cfg)
		defer closeLog(t, l)
		create(t, l, "t", log.TopicConfig{Partitions: 1, SegmentBytes: 2048, RetentionAge: time.Hour})
		appendAt(t, l, 0, 10, old)
		appendAt(t, l, 50, 1, time.Now())
		deadline := time.Now().Add(10 * time.Second)
		for {
			info, _ := l.Offsets(ctx, "t", 0)
			if info.Earliest > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("background retention removed nothing in 10s")
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// A reader in the middle of a segment that retention removes finishes its
// read: the file stays open until the last reader lets go.
func TestRetentionDuringRead(t *testing.T) {
	cfg, _ := testConfig(t.TempDir())
	l := mustOpen(t, cfg)
	defer closeLog(t, l)
	ctx := context.Background()
	create(t, l, "t", log.TopicConfig{Partitions: 1, SegmentBytes: 4096, RetentionBytes: 1})
	want := appendBatches(t, l, "t", 0, 20, 5, 150)
	p, _ := l.partition("t", 0)
	v, err := p.view(0, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.EnforceRetention(ctx); err != nil {
		t.Fatal(err)
	}
	if info := p.info(); info.Earliest == 0 {
		t.Fatal("retention removed nothing")
	}
	got, err := p.readSegment(v, 0, log.ReadOptions{MaxRecords: 3}.WithDefaults())
	v.seg.release()
	if err != nil {
		t.Fatalf("read of a removed segment held by the reader: %v", err)
	}
	checkRecords(t, got, want[:3])
	if _, err := v.seg.f.Stat(); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("the removed segment's file is still open after its last reader (Stat: %v)", err)
	}
}
