package stream

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
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
// append returns (each, as flint features run opens it); the feature table
// gets each changed key's newest values once per poll (latest, the
// default) or the values after every event (every).
func BenchmarkProcessor(b *testing.B) {
	for _, emit := range []Emit{EmitLatest, EmitEvery} {
		for _, sync := range []disk.SyncPolicy{disk.SyncInterval, disk.SyncEachAppend} {
			name := fmt.Sprintf("emit=%s/sync=%s", [...]string{EmitLatest: "latest", EmitEvery: "every"}[emit], sync)
			b.Run(name, func(b *testing.B) { benchProcessor(b, sync, emit) })
		}
	}
}

func benchProcessor(b *testing.B, sync disk.SyncPolicy, emit Emit) {
	const n = 100000
	def := procDef(b)
	events := makeEvents(7, n, 1000, time.UnixMilli(1_700_000_000_000))
	var total, cpu time.Duration
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
			PollWait: 10 * time.Millisecond, Logger: quiet, MaxRecords: benchPoll, Emit: emit})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		start, cpu0 := time.Now(), cpuTime(b)
		b.StartTimer()
		go func() { done <- p.Run(ctx) }()
		waitFor(b, 5*time.Minute, func() (bool, string) { return committedAll(b, l) })
		b.StopTimer()
		total += time.Since(start)
		cpu += cpuTime(b) - cpu0
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		p.Close()
		l.Close()
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "events/s")
	b.ReportMetric(float64(n*b.N)/cpu.Seconds(), "events/cpu-s")
}

// cpuTime is the CPU time (user and system) this process has used: events
// per CPU second is events/s per core, whatever the waits for fsyncs and
// however many goroutines (the GC's, Pebble's) did the work.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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
	cpu0 := cpuTime(b)
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
	b.ReportMetric(float64(read)/(cpuTime(b)-cpu0).Seconds(), "events/cpu-s")
}

// benchPoll is the poll size (ProcessorConfig.MaxRecords) of the
// benchmark: larger polls commit less often (default 1000).
var benchPoll = 5000
