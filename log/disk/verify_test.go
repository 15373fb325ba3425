package disk

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/flintml/flint/log"
)

// TestVerifyAndRepair damages three partitions differently: the middle of
// a last segment, an earlier segment, and a torn tail; Verify reports each
// with its file and byte, Repair truncates exactly the damage, and the log
// then opens whole, appending at the first offset lost.
func TestVerifyAndRepair(t *testing.T) {
	ctx := context.Background()
	cfg, _ := testConfig(t.TempDir())
	mid, midPos, early, earlyPos, torn := damageThree(t, cfg)

	checks, err := Verify(ctx, cfg.Dir)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !Damaged(checks) || len(checks) != 5 {
		t.Fatalf("Verify = %d checks, damaged %v; want 5 partitions, damage found", len(checks), Damaged(checks))
	}
	by := map[string]PartitionCheck{}
	for _, c := range checks {
		by[c.Topic] = c
	}
	c := by["mid"]
	if c.Damage == nil || c.Damage.Segment != mid || c.Damage.Offset != midPos[5] || !errors.Is(c.Damage, ErrChecksum) {
		t.Fatalf("mid: Damage = %v, want a checksum error in %s at byte %d", c.Damage, mid, midPos[5])
	}
	size := fileSize(t, mid)
	if want := (Loss{Truncate: mid, At: midPos[5], Bytes: size - midPos[5], FirstOffset: 25, EndOffset: 500}); c.Loss == nil ||
		c.Loss.Truncate != want.Truncate || c.Loss.At != want.At || c.Loss.Bytes != want.Bytes ||
		c.Loss.FirstOffset != want.FirstOffset || c.Loss.EndOffset != want.EndOffset || len(c.Loss.Removed) != 0 {
		t.Fatalf("mid: Loss = %+v, want %+v", c.Loss, want)
	}
	c = by["early"]
	if c.Damage == nil || c.Damage.Segment != early[1] || c.Damage.Offset != earlyPos[2] {
		t.Fatalf("early: Damage = %v, want %s at byte %d", c.Damage, early[1], earlyPos[2])
	}
	if c.Loss == nil || len(c.Loss.Removed) != len(early)-2 || c.Loss.EndOffset != 400 || c.Loss.FirstOffset != c.Next {
		t.Fatalf("early: Loss = %+v, want the segments after %s removed and offsets up to 400 lost", c.Loss, early[1])
	}
	c = by["torn"]
	if c.Damage != nil || c.TornTail == nil || c.TornTail.Segment != torn || c.Next != 45 {
		t.Fatalf("torn: %+v, want a torn tail in %s and no damage", c, torn)
	}
	if c := by["ok"]; c.Damage != nil || c.TornTail != nil {
		t.Fatalf("ok: %+v, want no damage", c)
	}

	// Repair refuses while the log is open for writing.
	l := mustOpen(t, cfg)
	if _, err := Repair(ctx, cfg.Dir); !errors.Is(err, ErrLocked) {
		t.Fatalf("Repair beside an open writer = %v, want ErrLocked", err)
	}
	closeLog(t, l)

	if _, err := Repair(ctx, cfg.Dir); err != nil {
		t.Fatalf("Repair: %v", err)
	}
	if checks, err := Verify(ctx, cfg.Dir); err != nil || Damaged(checks) {
		t.Fatalf("Verify after Repair = %+v, %v; want no damage", checks, err)
	}
	if got := fileSize(t, mid); got != midPos[5] {
		t.Fatalf("mid segment is %d bytes after Repair, want %d", got, midPos[5])
	}
	l = mustOpen(t, cfg)
	defer closeLog(t, l)
	for topic, n := range map[string]int{"mid": 25, "early": int(by["early"].Loss.FirstOffset), "torn": 45} {
		if got := len(readAll(t, l, topic, 0)); got != n {
			t.Fatalf("%s: %d records after Repair, want %d", topic, got, n)
		}
		more := appendBatches(t, l, topic, 1000, 1, 1, 10)
		if more[0].Offset != int64(n) {
			t.Fatalf("%s: first append after Repair got offset %d, want %d", topic, more[0].Offset, n)
		}
	}
}

func TestVerifyMissingDirectory(t *testing.T) {
	dir := t.TempDir() + "/nope"
	if _, err := Verify(context.Background(), dir); err == nil {
		t.Fatal("Verify of a missing directory succeeded")
	}
	if _, err := Repair(context.Background(), dir); err == nil {
		t.Fatal("Repair of a missing directory succeeded")
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Verify or Repair created %s", dir)
	}
}

// damageThree fills topics "mid", "early", "torn" and "ok" and damages the
// first three: a batch in the middle of mid's only segment, one in the
// second of early's segments, and the end of torn's segment. It returns the
// files and the batch positions of the damaged segments.
func damageThree(t *testing.T, cfg Config) (mid string, midPos []int64, early []string, earlyPos []int64, torn string) {
	t.Helper()
	l := mustOpen(t, cfg)
	create(t, l, "mid", log.TopicConfig{Partitions: 1})
	appendBatches(t, l, "mid", 0, 100, 5, 50)
	create(t, l, "early", log.TopicConfig{Partitions: 1, SegmentBytes: 8 << 10})
	appendBatches(t, l, "early", 0, 40, 10, 60)
	create(t, l, "torn", log.TopicConfig{Partitions: 1})
	appendBatches(t, l, "torn", 0, 10, 5, 50)
	create(t, l, "ok", log.TopicConfig{Partitions: 2})
	appendBatches(t, l, "ok", 0, 10, 5, 50)
	closeLog(t, l)

	mid = segments(t, cfg.Dir, "mid", 0)[0]
	midPos = batchPositions(t, mid)
	flipByte(t, mid, midPos[5]+batchHeaderSize+3)
	early = segments(t, cfg.Dir, "early", 0)
	earlyPos = batchPositions(t, early[1])
	flipByte(t, early[1], earlyPos[2]+batchHeaderSize+3)
	torn = segments(t, cfg.Dir, "torn", 0)[0]
	if err := os.Truncate(torn, fileSize(t, torn)-7); err != nil {
		t.Fatal(err)
	}
	return mid, midPos, early, earlyPos, torn
}
