package disk

import (
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultSlowSync is the default of Config.SlowSync: etcd's threshold for
// its "slow fdatasync" warning.
const DefaultSlowSync = time.Second

// SyncStats sums up the fsyncs of a log's data files (segments, their
// index files and groups' offsets files) since Open.
type SyncStats struct {
	Count int64         // fsyncs done
	Total time.Duration // their total duration
	Max   time.Duration // the longest
	Slow  int64         // those that took Config.SlowSync or longer
}

// syncTimer times fsyncs: the totals of SyncStats, a Prometheus histogram,
// and a warning for each slow one.
type syncTimer struct {
	mu    sync.Mutex
	stats SyncStats
	hist  prometheus.Histogram
}

func newSyncTimer() *syncTimer {
	return &syncTimer{hist: prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "flint_log_disk_fsync_duration_seconds",
		Help: "Duration of the fdatasync calls of the embedded log's segments, index files and group offsets files.",
		// As etcd's wal_fsync_duration_seconds: 1ms to about 8s.
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	})}
}

// fsync fdatasyncs f, recording how long it took, and warns when that was
// Config.SlowSync or more.
func (l *Log) fsync(f *os.File) error {
	start := time.Now()
	err := fdatasync(f)
	d := time.Since(start)
	t := l.syncs
	t.hist.Observe(d.Seconds())
	slow := d >= l.cfg.SlowSync
	t.mu.Lock()
	t.stats.Count++
	t.stats.Total += d
	t.stats.Max = max(t.stats.Max, d)
	if slow {
		t.stats.Slow++
	}
	t.mu.Unlock()
	if slow {
		l.logger.Warn("disk: slow fdatasync", "file", f.Name(), "took", d, "expected_under", l.cfg.SlowSync)
	}
	return err
}

// SyncStats returns the totals of the log's fsyncs since Open.
func (l *Log) SyncStats() SyncStats {
	l.syncs.mu.Lock()
	defer l.syncs.mu.Unlock()
	return l.syncs.stats
}

// SyncDurations is a Prometheus histogram of the durations of the log's
// fsyncs, flint_log_disk_fsync_duration_seconds, for the caller to
// register (it is registered nowhere by the package).
func (l *Log) SyncDurations() prometheus.Collector { return l.syncs.hist }
