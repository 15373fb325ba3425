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
