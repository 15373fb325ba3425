package disk

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/flintml/flint/log"
)

// The benchmarks, and the disk's own floor to compare them with:
//
//	go test ./log/disk -run '^$' -bench . -benchtime 2s
//
// and, to compare two versions, add -count 6 and run benchstat on the two
// outputs. Figures are per record batch of benchBatch records.

const benchBatch = 1000

// settle flushes the writeback that earlier benchmarks left behind, so that
// it does not slow the one about to start (it runs before b.Loop starts the
// timer). Without it, results depend on the order benchmarks run in.
func settle() { syscall.Sync() }

func benchRecords(size int) []log.Record {
	recs := make([]log.Record, benchBatch)
	for i := range recs {
		recs[i].Value = make([]byte, size)
		for j := range recs[i].Value {
			recs[i].Value[j] = byte(i + j)
		}
	}
	return recs
}

func benchLog(b *testing.B, sync SyncPolicy) *Log {
	b.Helper()
	cfg, _ := testConfig(b.TempDir())
	cfg.Sync = sync
	l := mustOpen(b, cfg)
	b.Cleanup(func() { l.Close() })
	create(b, l, "b", log.TopicConfig{Partitions: 1})
	return l
}

// BenchmarkAppend appends batches of 1000 unkeyed records of size bytes (the
// value; no key) to a one-partition topic; MB/s counts record bytes.
// sync=never isolates the cost of the log itself from that of fsync; compare
// it with BenchmarkDiskFloor's fsync=none.
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{100, 1024} {
		for _, sync := range []SyncPolicy{SyncInterval, SyncEachAppend, SyncUnsafeNever} {
			b.Run(fmt.Sprintf("size=%d/sync=%v", size, sync), func(b *testing.B) {
				l := benchLog(b, sync)
				recs := benchRecords(size)
				ctx := context.Background()
				b.SetBytes(int64(benchBatch * size))
				b.ReportAllocs()
				settle()
				n := 0
				for b.Loop() {
					for i := range recs {
						recs[i].Time = time.Time{}
					}
					if err := l.Append(ctx, "b", recs); err != nil {
						b.Fatal(err)
					}
					n++
				}
				b.ReportMetric(float64(n*benchBatch)/b.Elapsed().Seconds(), "records/s")
			})
		}
	}
}

// BenchmarkRead reads a pre-filled partition sequentially, 1000 records a
// Read, starting over at the end.
func BenchmarkRead(b *testing.B) {
	for _, size := range []int{100, 1024} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) { benchRead(b, size, false) })
	}
}

// BenchmarkReadReadOnly is BenchmarkRead through a read-only Log of the
// directory, opened beside the writer after it filled the partition: the
// cost of the check for segments removed by retention.
func BenchmarkReadReadOnly(b *testing.B) {
	for _, size := range []int{100, 1024} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) { benchRead(b, size, true) })
	}
}

func benchRead(b *testing.B, size int, readOnly bool) {
	l := benchLog(b, SyncUnsafeNever)
	recs := benchRecords(size)
	ctx := context.Background()
	total := int64(64<<20) / int64(size) / benchBatch * benchBatch // about 64 MiB
	for i := int64(0); i < total; i += benchBatch {
		if err := l.Append(ctx, "b", recs); err != nil {
			b.Fatal(err)
		}
	}
	if readOnly {
		cfg := l.cfg
		cfg.ReadOnly = true
		l = mustOpen(b, cfg)
		b.Cleanup(func() { l.Close() })
	}
	b.SetBytes(int64(benchBatch * size))
	b.ReportAllocs()
	settle()
	var off int64
	n := 0
	for b.Loop() {
		got, err := l.Read(ctx, "b", 0, off, log.ReadOptions{MaxRecords: benchBatch, MaxBytes: 4 << 20})
		if err != nil {
			b.Fatal(err)
		}
		if len(got) != benchBatch {
			b.Fatalf("read %d records at %d", len(got), off)
		}
		n += len(got)
		if off += int64(len(got)); off >= total {
			off = 0
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkDiskFloor writes a plain file sequentially in chunks the size of
// one batch of BenchmarkAppend, fsyncing once at the end (fsync=end) or
// never (fsync=none: the page cache's speed), and reads such a file
// sequentially with pread: the MB/s that bound BenchmarkAppend and
// BenchmarkRead on the same disk.
func BenchmarkDiskFloor(b *testing.B) {
	for _, chunk := range []int{100 * benchBatch, 1024 * benchBatch} {
		buf := make([]byte, chunk)
		for i := range buf {
			buf[i] = byte(i)
		}
		for _, fsync := range []string{"end", "none"} {
			b.Run(fmt.Sprintf("op=write/chunk=%d/fsync=%s", chunk, fsync), func(b *testing.B) {
				f, err := os.Create(filepath.Join(b.TempDir(), "floor"))
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				b.SetBytes(int64(chunk))
				settle()
				for b.Loop() {
					if _, err := f.Write(buf); err != nil {
						b.Fatal(err)
					}
				}
				if fsync == "end" {
					// Timed too: b.Elapsed covers it, which is what MB/s uses.
					b.StartTimer()
					if err := fdatasync(f); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		b.Run(fmt.Sprintf("op=read/chunk=%d", chunk), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "floor")
			f, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			size := int64(64<<20) / int64(chunk) * int64(chunk)
			for off := int64(0); off < size; off += int64(chunk) {
				if _, err := f.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(chunk))
			settle()
			var off int64
			for b.Loop() {
				rb := make([]byte, chunk) // a fresh buffer, as Read allocates one
				if _, err := f.ReadAt(rb, off); err != nil {
					b.Fatal(err)
				}
				if off += int64(chunk); off >= size {
					off = 0
				}
			}
		})
	}
}

// BenchmarkAppendSyncRatio appends batches of 1000 100-byte records to two
// logs in the same run, one under SyncInterval and one under
// SyncUnsafeNever, in alternating rounds of appendRatioRound batches (the
// order flips every round), and reports both rates and their ratio
// (interval/never): the cost of interval fsync on the append path, with the
// machine's load the same for both (rounds alternate because a shared
// machine's speed drifts more than the difference measured):
//
//	go test ./log/disk -run '^$' -bench AppendSyncRatio -benchtime 80x -count 5
func BenchmarkAppendSyncRatio(b *testing.B) {
	logs := [2]*Log{benchLog(b, SyncInterval), benchLog(b, SyncUnsafeNever)}
	recs := benchRecords(100)
	ctx := context.Background()
	var elapsed [2]time.Duration
	var batches [2]int
	b.ReportAllocs()
	settle()
	round := 0
	for b.Loop() {
		for k := range 2 {
			i := (k + round) % 2
			start := time.Now()
			for range appendRatioRound {
				for j := range recs {
					recs[j].Time = time.Time{}
				}
				if err := logs[i].Append(ctx, "b", recs); err != nil {
					b.Fatal(err)
				}
			}
			elapsed[i] += time.Since(start)
			batches[i] += appendRatioRound
		}
		round++
	}
	rate := func(i int) float64 { return float64(batches[i]*benchBatch) / elapsed[i].Seconds() }
	b.ReportMetric(rate(0), "interval-records/s")
	b.ReportMetric(rate(1), "never-records/s")
	b.ReportMetric(rate(0)/rate(1), "interval/never")
}

// appendRatioRound is the number of batches BenchmarkAppendSyncRatio
// appends to one log before it turns to the other: about 10 MB.
const appendRatioRound = 100
