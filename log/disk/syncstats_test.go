package disk

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flintml/flint/log"
)

// TestSyncStats checks that every fsync of an append under SyncEachAppend
// is counted, observed by the histogram, and, over Config.SlowSync, logged
// as a warning naming the file.
func TestSyncStats(t *testing.T) {
	cfg, lb := testConfig(t.TempDir())
	cfg.Sync = SyncEachAppend
	cfg.SlowSync = time.Nanosecond // every fsync is slow
	l := mustOpen(t, cfg)
	defer closeLog(t, l)
	create(t, l, "t", log.TopicConfig{Partitions: 1})
	before := l.SyncStats()
	appendBatches(t, l, "t", 0, 5, 2, 10)
	st := l.SyncStats()
	if n := st.Count - before.Count; n < 5 {
		t.Fatalf("SyncStats counted %d fsyncs for 5 appends under SyncEachAppend", n)
	}
	if st.Total <= 0 || st.Max <= 0 || st.Max > st.Total || st.Slow != st.Count {
		t.Fatalf("SyncStats = %+v: want durations, every one slow", st)
	}
	mustContain(t, "the log", lb.String(), "slow fdatasync", segments(t, cfg.Dir, "t", 0)[0])

	reg := prometheus.NewRegistry()
	reg.MustRegister(l.SyncDurations())
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || mfs[0].GetName() != "flint_log_disk_fsync_duration_seconds" {
		t.Fatalf("Gather = %v, %v", mfs, err)
	}
	if got := mfs[0].GetMetric()[0].GetHistogram().GetSampleCount(); got != uint64(st.Count) {
		t.Fatalf("histogram has %d samples, SyncStats %d fsyncs", got, st.Count)
	}
}

// TestSyncAhead checks that under SyncInterval an append that brings a
// partition to syncAheadBytes unsynced gets it fsynced in the background
// at once, without waiting for Config.SyncEvery, and that a roll gets the
// segment it leaves behind sealed in the background at once too.
func TestSyncAhead(t *testing.T) {
	cfg, _ := testConfig(t.TempDir())
	cfg.SyncEvery = time.Hour // only a sync ahead can run
	cfg.SegmentBytes = 64 << 10
	l := mustOpen(t, cfg)
	defer closeLog(t, l)
	create(t, l, "t", log.TopicConfig{Partitions: 1})
	p := l.topics["t"].parts[0]
	if got := p.syncAheadBytes(); got != cfg.SegmentBytes/4 {
		t.Fatalf("syncAheadBytes = %d, want %d", got, cfg.SegmentBytes/4)
	}
	before := l.SyncStats().Count
	appendBatches(t, l, "t", 0, 1, 10, 3<<10) // 30 KiB: past a quarter, no roll
	deadline := time.Now().Add(10 * time.Second)
	for l.SyncStats().Count == before {
		if time.Now().After(deadline) {
			t.Fatal("no fsync ahead of the interval after 10s")
		}
		time.Sleep(time.Millisecond)
	}
	if n := len(segments(t, cfg.Dir, "t", 0)); n != 1 {
		t.Fatalf("%d segments, want 1", n)
	}

	// A roll leaves the old segment to the background syncer, which seals
	// it (index files and data fdatasynced, directory fsynced) without
	// waiting for SyncEvery.
	before = l.SyncStats().Count
	appendBatches(t, l, "t", 10, 1, 12, 3<<10) // 36 KiB more: rolls
	if n := len(segments(t, cfg.Dir, "t", 0)); n != 2 {
		t.Fatalf("%d segments, want 2", n)
	}
	deadline = time.Now().Add(10 * time.Second)
	for p.sealing.Load() != nil {
		if time.Now().After(deadline) {
			t.Fatal("the rolled segment was not sealed in 10s")
		}
		time.Sleep(time.Millisecond)
	}
	if n := l.SyncStats().Count - before; n < 3 {
		t.Fatalf("sealing the rolled segment counted %d fsyncs, want its index files and its data", n)
	}
}

// TestNoSyncAheadUnlessInterval checks that only SyncInterval asks for
// syncs ahead: SyncUnsafeNever never fsyncs.
func TestNoSyncAheadUnlessInterval(t *testing.T) {
	cfg, _ := testConfig(t.TempDir())
	cfg.Sync = SyncUnsafeNever
	cfg.SegmentBytes = 64 << 10
	l := mustOpen(t, cfg)
	defer closeLog(t, l)
	create(t, l, "t", log.TopicConfig{Partitions: 1})
	appendBatches(t, l, "t", 0, 4, 10, 3<<10)
	time.Sleep(50 * time.Millisecond)
	if st := l.SyncStats(); st.Count != 0 {
		t.Fatalf("SyncUnsafeNever did %d fsyncs", st.Count)
	}
}
