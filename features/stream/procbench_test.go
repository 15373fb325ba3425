package stream

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
)

// BenchmarkProcessor runs the processor over 100,000 events of 1,000 keys
// in the embedded log, polls of benchPoll records, from start until the
// group has committed everything: events/s is end-to-end, start-up
// included, with every output appended and every batch synced to the
// store; the log fsyncs in the background (interval) or before every
// append returns (each, as flint features run opens it).
func BenchmarkProcessor(b *testing.B) {
	for _, sync := range []disk.SyncPolicy{disk.SyncInterval, disk.SyncEachAppend} {
		b.Run("sync="+sync.String(), func(b *testing.B) { benchProcessor(b, sync) })
	}
}

func benchProcessor(b *testing.B, sync disk.SyncPolicy) {
	const n = 100000
	def := procDef(b)
	events := makeEvents(7, n, 1000, time.UnixMilli(1_700_000_000_000))
	var total time.Duration
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		l, err := disk.Open(disk.Config{Dir: filepath.Join(dir, "log"), Sync: sync, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		if err := l.CreateTopic(context.Background(), "tx", log.TopicConfig{Partitions: 4}); err != nil {
			b.Fatal(err)
		}
		appendEvents(b, l, events)
		p, err := NewProcessor(context.Background(), ProcessorConfig{Log: l, Definition: def, Dir: filepath.Join(dir, "state"),
			PollWait: 10 * time.Millisecond, Logger: quiet, MaxRecords: benchPoll})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		start := time.Now()
		b.StartTimer()
		go func() { done <- p.Run(ctx) }()
		waitFor(b, 5*time.Minute, func() (bool, string) { return committedAll(b, l) })
		b.StopTimer()
		total += time.Since(start)
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		p.Close()
		l.Close()
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "events/s")
}

// BenchmarkLogRead reads the same 100,000 events as BenchmarkProcessor from
// the embedded log, polls of 1,000 records, decoding nothing: the log's own
// read rate, the floor the processor's events/s is a share of.
func BenchmarkLogRead(b *testing.B) {
	const n = 100000
	l, err := disk.Open(disk.Config{Dir: filepath.Join(b.TempDir(), "log"), Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	if err := l.CreateTopic(ctx, "tx", log.TopicConfig{Partitions: 4}); err != nil {
		b.Fatal(err)
	}
	appendEvents(b, l, makeEvents(7, n, 1000, time.UnixMilli(1_700_000_000_000)))
	b.ResetTimer()
	read := 0
	for range b.N {
		for p := 0; p < 4; p++ {
			for off := int64(0); ; {
				recs, err := l.Read(ctx, "tx", p, off, log.ReadOptions{MaxRecords: 1000})
				if err != nil {
					b.Fatal(err)
				}
				if len(recs) == 0 {
					break
				}
				read += len(recs)
				off = recs[len(recs)-1].Offset + 1
			}
		}
	}
	if read != n*b.N {
		b.Fatalf("read %d records, want %d", read, n*b.N)
	}
	b.ReportMetric(float64(read)/b.Elapsed().Seconds(), "events/s")
}

// benchPoll is the poll size (ProcessorConfig.MaxRecords) of the
// benchmark: larger polls commit less often (default 1000).
var benchPoll = 5000
