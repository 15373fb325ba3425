package disk

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flintml/flint/log"
)

// TestCleanOpenTrustsTheRecoveryPoints: after a clean Close, Open verifies
// no batch, yet reads, appends and OffsetForTime work as after a full
// check; damage before the recovery point is then found by the Read that
// meets it, and by Verify.
func TestCleanOpenTrustsTheRecoveryPoints(t *testing.T) {
	ctx := context.Background()
	cfg, _ := testConfig(t.TempDir())
	l := mustOpen(t, cfg)
	create(t, l, "t", log.TopicConfig{Partitions: 1, SegmentBytes: 16 << 10})
	create(t, l, "u", log.TopicConfig{Partitions: 3})
	want := appendBatches(t, l, "t", 0, 100, 7, 150)
	appendBatches(t, l, "u", 0, 20, 10, 50)
	closeLog(t, l)
	segs := len(segments(t, cfg.Dir, "t", 0))
	if segs < 3 {
		t.Fatalf("%d segments, want several", segs)
	}

	l = mustOpen(t, cfg)
	if n := l.verified.Load(); n != 0 {
		t.Fatalf("a clean Open verified %d bytes, want none", n)
	}
	checkRecords(t, readAll(t, l, "t", 0), want)
	for i := 0; i < len(want); i += 37 {
		off, err := l.OffsetForTime(ctx, "t", 0, want[i].Time)
		if err != nil || off != int64(i) {
			t.Fatalf("OffsetForTime(record %d's time) = %d, %v", i, off, err)
		}
	}
	more := appendBatches(t, l, "t", len(want), 3, 5, 150)
	if more[0].Offset != int64(len(want)) {
		t.Fatalf("first append after a clean Open got offset %d, want %d", more[0].Offset, len(want))
	}
	closeLog(t, l)

	seg := segments(t, cfg.Dir, "t", 0)[0]
	pos := batchPositions(t, seg)
	flipByte(t, seg, pos[2]+batchHeaderSize+5)
	l = mustOpen(t, cfg)
	defer closeLog(t, l)
	if _, err := l.Offsets(ctx, "t", 0); err != nil {
		t.Fatalf("Offsets: %v (the damage lies before the recovery point, which Open trusts)", err)
	}
	_, err := l.Read(ctx, "t", 0, 0, log.ReadOptions{})
	var ce *CorruptionError
	if !errors.As(err, &ce) || ce.Segment != seg || ce.Offset != pos[2] {
		t.Fatalf("Read over the damage = %v, want a *CorruptionError in %s at byte %d", err, seg, pos[2])
	}
	checks, err := Verify(ctx, cfg.Dir)
	if err != nil || !Damaged(checks) {
		t.Fatalf("Verify = %v, %v; want the damage found", checks, err)
	}
}

// TestCrashOpenChecksOnlyAfterTheRecoveryPoint: after a crash, Open verifies
// exactly what was written since the last recovery point, not the whole
// log.
func TestCrashOpenChecksOnlyAfterTheRecoveryPoint(t *testing.T) {
	cfg, _ := testConfig(t.TempDir())
	cfg.RecoveryPointEvery = 10 * time.Millisecond
	l := mustOpen(t, cfg)
	create(t, l, "t", log.TopicConfig{Partitions: 1})
	want := appendBatches(t, l, "t", 0, 200, 10, 100)
	p, _ := l.partition("t", 0)
	size := func() int64 {
		p.smu.RLock()
		defer p.smu.RUnlock()
		return p.active().size
	}
	synced := size()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(cfg.Dir, recoveryPointsName))
		if err == nil {
			if points, err := parseRecoveryPoints(b); err == nil && points[log.TopicPartition{Topic: "t"}].pos == synced {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery point at byte %d written in 30s", synced)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// No recovery point after this one: stop the background loops.
	l.stop()
	l.wg.Wait()
	want = append(want, appendBatches(t, l, "t", len(want), 50, 10, 100)...)
	after := size() - synced
	crash(t, l)

	l = mustOpen(t, cfg)
	defer closeLog(t, l)
	if n := l.verified.Load(); n != after {
		t.Fatalf("Open after a crash verified %d bytes; %d were written after the recovery point", n, after)
	}
	checkRecords(t, readAll(t, l, "t", 0), want)
}

func TestBadRecoveryPointsAreIgnored(t *testing.T) {
	for name, content := range map[string]string{
		"garbage":      "not a checkpoint\n",
		"bad checksum": recoveryPointsHeader + "\nt 0 0 999999 5 0\ncrc32c 00000000\n",
		"empty":        "",
	} {
		t.Run(name, func(t *testing.T) {
			cfg, lb := testConfig(t.TempDir())
			l := mustOpen(t, cfg)
			create(t, l, "t", log.TopicConfig{Partitions: 1})
			want := appendBatches(t, l, "t", 0, 20, 5, 50)
			closeLog(t, l)
			if err := os.WriteFile(filepath.Join(cfg.Dir, recoveryPointsName), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			l = mustOpen(t, cfg)
			defer closeLog(t, l)
			if l.verified.Load() == 0 {
				t.Fatal("Open trusted a bad recovery points file")
			}
			mustContain(t, "the log", lb.String(), "ignoring the recovery points")
			checkRecords(t, readAll(t, l, "t", 0), want)
		})
	}
}
