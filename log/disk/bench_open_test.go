package disk

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/flintml/flint/log"
)

// BenchmarkOpen measures Open of a log of about 2 GB (FLINT_BENCH_OPEN_MB
// sets another size, in MB) in 4 partitions of 64 MiB segments:
//
//		go test ./log/disk -run '^$' -bench BenchmarkOpen -benchtime 5x
//
//	  - clean: after a Close, which set every recovery point at the end;
//	  - kill: after a crash (no Close) that followed a recovery point by
//	    tail MB of appends, the most a crash leaves to check when appends
//	    run at tail MB per Config.RecoveryPointEvery;
//	  - full: without recovery points, as before they existed, and as Verify
//	    checks.
//
// MB-verified/op is what Open CRC-checked. The segments are in the page
// cache (they were just written), so the figures are the CPU's cost, not
// the disk's.
func BenchmarkOpen(b *testing.B) {
	total := int64(2 << 30)
	if mb, err := strconv.Atoi(os.Getenv("FLINT_BENCH_OPEN_MB")); err == nil && mb > 0 {
		total = int64(mb) << 20
	}
	const tail = 64 << 20
	cfg, _ := testConfig(b.TempDir())
	l := mustOpen(b, cfg)
	create(b, l, "b", log.TopicConfig{Partitions: 4})
	recs := benchRecords(1024)
	fill := func(bytes int64) {
		for n := int64(0); n < bytes; n += int64(len(recs)) * 1024 {
			for i := range recs {
				recs[i].Time = time.Time{}
			}
			if err := l.Append(b.Context(), "b", recs); err != nil {
				b.Fatal(err)
			}
		}
	}
	fill(total - tail)
	closeLog(b, l) // sets the recovery points
	l = mustOpen(b, cfg)
	fill(tail)
	crash(b, l)
	settle()

	run := func(b *testing.B, before func()) {
		var verified int64
		for b.Loop() {
			b.StopTimer()
			before()
			b.StartTimer()
			o := mustOpen(b, cfg)
			b.StopTimer()
			verified = o.verified.Load()
			crash(b, o) // leaves the state as it was for the next round
			b.StartTimer()
		}
		b.ReportMetric(float64(verified)/1e6, "MB-verified/op")
		b.ReportMetric(float64(total)/1e6, "MB-stored")
	}
	b.Run("kill", func(b *testing.B) { run(b, func() {}) })
	b.Run("full", func(b *testing.B) {
		points := filepath.Join(cfg.Dir, recoveryPointsName)
		saved, err := os.ReadFile(points)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.WriteFile(points, saved, 0o644) })
		run(b, func() { os.Remove(points) })
	})
	b.Run("clean", func(b *testing.B) {
		closeLog(b, mustOpen(b, cfg)) // verifies the tail and sets the points at the end
		run(b, func() {})
	})
}
