package disk

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flintml/flint/log"
)

// logBuffer collects what a Log logs, for tests that check warnings.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

// testConfig is a Config on dir that logs into a buffer instead of stderr.
func testConfig(dir string) (Config, *logBuffer) {
	lb := &logBuffer{}
	return Config{Dir: dir, Logger: lb.logger()}, lb
}

func closeLog(t testing.TB, l *Log) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func create(t testing.TB, l *Log, topic string, cfg log.TopicConfig) {
	t.Helper()
	if err := l.CreateTopic(context.Background(), topic, cfg); err != nil {
		t.Fatalf("CreateTopic(%s): %v", topic, err)
	}
}

// testRecord is the i-th record tests append: its value is derived from its
// key, so any record read back can be checked on its own.
func testRecord(i int, valueSize int) log.Record {
	k := fmt.Sprintf("key-%06d", i)
	return log.Record{Key: []byte(k), Value: valueFor(k, valueSize), Time: time.Unix(1_700_000_000+int64(i), 0)}
}

func valueFor(key string, n int) []byte {
	v := bytes.Repeat([]byte(key+"|"), n/(len(key)+1)+1)
	return v[:n]
}

// appendBatches appends batches Append calls of per records each to a
// one-partition topic, numbering records from first, and returns the
// segment file's size after each call (when it has one segment).
func appendBatches(t testing.TB, l *Log, topic string, first, batches, per, valueSize int) []log.Record {
	t.Helper()
	var all []log.Record
	for b := 0; b < batches; b++ {
		recs := make([]log.Record, per)
		for i := range recs {
			recs[i] = testRecord(first+b*per+i, valueSize)
		}
		if err := l.Append(context.Background(), topic, recs); err != nil {
			t.Fatalf("Append: %v", err)
		}
		all = append(all, recs...)
	}
	return all
}

// readAll reads a partition from its earliest offset to its high watermark.
func readAll(t testing.TB, l *Log, topic string, p int) []log.Record {
	t.Helper()
	ctx := context.Background()
	info, err := l.Offsets(ctx, topic, p)
	if err != nil {
		t.Fatalf("Offsets: %v", err)
	}
	var out []log.Record
	for off := info.Earliest; off < info.Latest; {
		recs, err := l.Read(ctx, topic, p, off, log.ReadOptions{})
		if err != nil {
			t.Fatalf("Read(%s/%d @%d): %v", topic, p, off, err)
		}
		if len(recs) == 0 {
			t.Fatalf("Read(%s/%d @%d) returned nothing below the high watermark %d", topic, p, off, info.Latest)
		}
		out = append(out, recs...)
		off = recs[len(recs)-1].Offset + 1
	}
	return out
}

// checkRecords compares records read with those appended.
func checkRecords(t testing.TB, got, want []log.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("read %d records, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Offset != w.Offset || g.Partition != w.Partition || g.Topic != w.Topic ||
			!bytes.Equal(g.Key, w.Key) || !bytes.Equal(g.Value, w.Value) || !g.Time.Equal(w.Time) {
			t.Fatalf("record %d: read %s/%d@%d key %q time %v, want %s/%d@%d key %q time %v",
				i, g.Topic, g.Partition, g.Offset, g.Key, g.Time, w.Topic, w.Partition, w.Offset, w.Key, w.Time)
		}
	}
}

// segments returns the segment files of a partition, oldest first.
func segments(t testing.TB, dir, topic string, p int) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, topic, fmt.Sprint(p), "*"+segExt))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m)
	return m
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func mustContain(t testing.TB, what, s string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(s, p) {
			t.Errorf("%s %q does not mention %q", what, s, p)
		}
	}
}

// crash abandons l as a killed process would: no sync, no recovery points
// written, the lock released by closing its file.
func crash(t testing.TB, l *Log) {
	t.Helper()
	if !l.closeOnce.CompareAndSwap(false, true) {
		t.Fatal("crash: the log is closed")
	}
	close(l.closing)
	l.stop()
	l.wg.Wait()
	l.closeMu.Lock()
	l.closed = true
	l.closeMu.Unlock()
	for _, p := range l.allPartitions() {
		if s := p.sealing.Swap(nil); s != nil {
			for _, f := range []*os.File{s.idxFile, s.tixFile} {
				if f != nil {
					f.Close()
				}
			}
			s.release() // the reference the seal held
		}
		for _, s := range p.segs {
			for _, f := range []*os.File{s.idxFile, s.tixFile} {
				if f != nil {
					f.Close() // what was pending in memory is lost
				}
			}
			s.release()
		}
		p.segs = nil
	}
	if l.groups != nil {
		l.groups.close()
	}
	unlockDir(l.lock)
}

// forgetRecoveryPoints removes the recovery points of the log in dir, so
// that the next Open verifies every batch.
func forgetRecoveryPoints(t testing.TB, dir string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, recoveryPointsName)); err != nil {
		t.Fatalf("remove the recovery points: %v", err)
	}
}
