package disk

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/logtest"
)

// splitLog is a writer and a read-only Log of one directory, seen as one
// log.Log: calls that change the log go to the writer (the embedded *Log),
// calls that read it to the reader, so the conformance suite checks what
// the read-only Log sees of what the writer does.
type splitLog struct {
	*Log
	r *Log
}

func (s *splitLog) Topics(ctx context.Context) ([]string, error) { return s.r.Topics(ctx) }

func (s *splitLog) Describe(ctx context.Context, topic string) (log.TopicInfo, error) {
	return s.r.Describe(ctx, topic)
}

func (s *splitLog) Read(ctx context.Context, topic string, p int, off int64, opt log.ReadOptions) ([]log.Record, error) {
	return s.r.Read(ctx, topic, p, off, opt)
}

func (s *splitLog) Offsets(ctx context.Context, topic string, p int) (log.PartitionInfo, error) {
	return s.r.Offsets(ctx, topic, p)
}

func (s *splitLog) OffsetForTime(ctx context.Context, topic string, p int, at time.Time) (int64, error) {
	return s.r.OffsetForTime(ctx, topic, p, at)
}

func (s *splitLog) Committed(ctx context.Context, group, topic string) (map[int]int64, error) {
	return s.r.Committed(ctx, group, topic)
}

func (s *splitLog) Groups(ctx context.Context) ([]string, error) { return s.r.Groups(ctx) }

func (s *splitLog) PartitionSizes(ctx context.Context, topic string) ([]int64, error) {
	return s.r.PartitionSizes(ctx, topic)
}

func (s *splitLog) Close() error { return errors.Join(s.r.Close(), s.Log.Close()) }

func openSplit(t *testing.T, dir string) *splitLog {
	t.Helper()
	w := mustOpen(t, Config{Dir: dir})
	r, err := Open(Config{Dir: dir, ReadOnly: true})
	if err != nil {
		w.Close()
		t.Fatalf("Open(%s, read-only): %v", dir, err)
	}
	return &splitLog{Log: w, r: r}
}

// TestConformanceReadOnlyView runs the conformance suite with every read
// going to a read-only Log of the directory the writer changes.
func TestConformanceReadOnlyView(t *testing.T) {
	logtest.Run(t, logtest.Harness{
		Open: func(t *testing.T) log.Log { return openSplit(t, t.TempDir()) },
		Reopen: func(t *testing.T, l log.Log) log.Log {
			s := l.(*splitLog)
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return openSplit(t, s.Log.cfg.Dir)
		},
		EnforceRetention: func(t *testing.T, l log.Log) {
			if err := l.(*splitLog).Log.EnforceRetention(context.Background()); err != nil {
				t.Fatalf("EnforceRetention: %v", err)
			}
		},
	})
}

func openRO(t testing.TB, dir string) *Log {
	t.Helper()
	cfg, _ := testConfig(dir)
	cfg.ReadOnly = true
	l, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open(%s, read-only): %v", dir, err)
	}
	return l
}

// sameRecords fails unless got and want are the same records, byte for
// byte: topic, partition, offset, time, key, value and headers.
func sameRecords(t testing.TB, what string, got, want []log.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d records, want %d", what, len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Topic != w.Topic || g.Partition != w.Partition || g.Offset != w.Offset || !g.Time.Equal(w.Time) ||
			!bytes.Equal(g.Key, w.Key) || (g.Key == nil) != (w.Key == nil) ||
			!bytes.Equal(g.Value, w.Value) || (g.Value == nil) != (w.Value == nil) ||
			!slices.EqualFunc(g.Headers, w.Headers, func(a, b log.Header) bool { return a.Key == b.Key && bytes.Equal(a.Value, b.Value) }) {
			t.Fatalf("%s: record %d is %s/%d@%d %v key %q value %q headers %v, want %s/%d@%d %v key %q value %q headers %v", what, i,
				g.Topic, g.Partition, g.Offset, g.Time, g.Key, g.Value, g.Headers, w.Topic, w.Partition, w.Offset, w.Time, w.Key, w.Value, w.Headers)
		}
	}
}

// sameView fails unless the reader sees every topic of the writer as the
// writer does: topic list, configuration, offsets, records, and the
// answers of OffsetForTime.
func sameView(t *testing.T, w, r *Log) {
	t.Helper()
	ctx := context.Background()
	wt, err := w.Topics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := r.Topics(ctx)
	if err != nil {
		t.Fatalf("read-only Topics: %v", err)
	}
	if !slices.Equal(rt, wt) {
		t.Fatalf("read-only Topics = %v, writer's %v", rt, wt)
	}
	for _, topic := range wt {
		wi, err := w.Describe(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		ri, err := r.Describe(ctx, topic)
		if err != nil {
			t.Fatalf("read-only Describe(%s): %v", topic, err)
		}
		if fmt.Sprint(ri) != fmt.Sprint(wi) {
			t.Fatalf("read-only Describe(%s) = %+v, writer's %+v", topic, ri, wi)
		}
		for p := range wi.Partitions {
			want := readAll(t, w, topic, p)
			sameRecords(t, fmt.Sprintf("read-only %s/%d", topic, p), readAll(t, r, topic, p), want)
			times := []time.Time{{}, time.Unix(0, math.MaxInt64)}
			for _, rec := range want {
				times = append(times, rec.Time, rec.Time.Add(-time.Nanosecond), rec.Time.Add(time.Nanosecond))
			}
			for _, at := range times {
				wo, err := w.OffsetForTime(ctx, topic, p, at)
				if err != nil {
					t.Fatal(err)
				}
				ro, err := r.OffsetForTime(ctx, topic, p, at)
				if err != nil || ro != wo {
					t.Fatalf("read-only OffsetForTime(%s/%d, %v) = %d, %v; writer's %d", topic, p, at, ro, err, wo)
				}
			}
		}
	}
}

// TestReadOnlyFollowsWriter opens a read-only Log beside a writer and checks
// after each step that it sees what the writer does: new batches, segment
// rolls (tiny segments), a topic created after it opened, headers, nil
// keys and values, and a topic with a time range for OffsetForTime.
func TestReadOnlyFollowsWriter(t *testing.T) {
	dir := t.TempDir()
	cfg, _ := testConfig(dir)
	cfg.SegmentBytes = 2048
	w := mustOpen(t, cfg)
	defer closeLog(t, w)
	ctx := context.Background()
	create(t, w, "a", log.TopicConfig{Partitions: 1})
	appendBatches(t, w, "a", 0, 3, 5, 40)

	// With the writer's SegmentBytes, which Describe reports for topics
	// created without one.
	rcfg := cfg
	rcfg.ReadOnly = true
	r := mustOpen(t, rcfg)
	defer closeLog(t, r)
	n := 100
	steps := []struct {
		name string
		do   func(t *testing.T)
	}{
		{"opened", func(t *testing.T) {}},
		{"append to the active segment", func(t *testing.T) { appendBatches(t, w, "a", 15, 1, 2, 10) }},
		{"append across many segments", func(t *testing.T) { appendBatches(t, w, "a", 17, 40, 7, 90) }},
		{"create a topic", func(t *testing.T) { create(t, w, "b", log.TopicConfig{Partitions: 3, SegmentBytes: 1024}) }},
		{"append to the new topic", func(t *testing.T) {
			for i := 0; i < 20; i++ {
				recs := make([]log.Record, 1+i%4)
				for j := range recs {
					n++
					recs[j] = testRecord(n, 20+n%200)
					switch n % 5 {
					case 0:
						recs[j].Key = nil
					case 1:
						recs[j].Value = nil
					case 2:
						recs[j].Headers = []log.Header{{Key: "h", Value: []byte{byte(n)}}, {Key: "nil"}}
					}
				}
				if err := w.Append(ctx, "b", recs); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"auto-created topic", func(t *testing.T) { appendBatches(t, w, "c", 0, 2, 3, 10) }},
		{"one record more", func(t *testing.T) { appendBatches(t, w, "a", 1000, 1, 1, 1) }},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.do(t)
			sameView(t, w, r)
		})
	}
	if segs := segments(t, dir, "a", 0); len(segs) < 5 {
		t.Fatalf("topic a has %d segments; the test wants rolls", len(segs))
	}
}

// fileState is what a test compares to see that nothing was written.
type fileState struct {
	size  int64
	mtime time.Time
	mode  fs.FileMode
	hash  string // the content, for files
}

// snapshot records every file and directory under dir.
func snapshot(t testing.TB, dir string) map[string]fileState {
	t.Helper()
	m := map[string]fileState{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := fileState{size: fi.Size(), mtime: fi.ModTime(), mode: fi.Mode()}
		if !d.IsDir() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			st.hash = string(b)
		}
		m[path] = st
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sameSnapshot(t testing.TB, before, after map[string]fileState) {
	t.Helper()
	for path, b := range before {
		a, ok := after[path]
		switch {
		case !ok:
			t.Errorf("%s was removed", path)
		case a.size != b.size || !a.mtime.Equal(b.mtime) || a.mode != b.mode:
			t.Errorf("%s changed: size %d → %d, mtime %v → %v, mode %v → %v", path, b.size, a.size, b.mtime, a.mtime, b.mode, a.mode)
		case a.hash != b.hash:
			t.Errorf("%s: content changed", path)
		}
	}
	for path := range after {
		if _, ok := before[path]; !ok {
			t.Errorf("%s was created", path)
		}
	}
}

// TestReadOnlyWritesNothing opens read-only a directory that a writable
// Open would change in every way it can (missing and wrong index files,
// leftovers of interrupted operations, a torn tail, a group's offsets file
// with a torn tail, no lock file, no __groups directory, a topic without
// segments), uses every call, and checks that no file changed.
func TestReadOnlyWritesNothing(t *testing.T) {
	dir := t.TempDir()
	cfg, _ := testConfig(dir)
	cfg.SegmentBytes = 4096
	w := mustOpen(t, cfg)
	create(t, w, "t", log.TopicConfig{Partitions: 2})
	want := appendBatches(t, w, "t", 0, 30, 4, 100)
	create(t, w, "empty", log.TopicConfig{Partitions: 1})
	c := join(t, w, "g", log.StartEarliest, "t")
	recs, err := c.Poll(context.Background(), log.ReadOptions{MaxRecords: 3})
	if err != nil || len(recs) == 0 {
		t.Fatalf("Poll: %d records, %v", len(recs), err)
	}
	if err := c.Commit(context.Background(), recs...); err != nil {
		t.Fatal(err)
	}
	closeLog(t, w)

	p0 := filepath.Join(dir, "t", "0")
	segs := segments(t, dir, "t", 0)
	idx, tix := segmentIndexPaths(segs[0])
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Remove(idx))
	must(os.WriteFile(tix, []byte("wrong"), 0o644))
	must(os.WriteFile(filepath.Join(p0, "00000000000000000000.idx.tmp"), nil, 0o644))
	must(os.WriteFile(filepath.Join(p0, segmentName(1 << 40)[:20]+idxExt), nil, 0o644)) // an index without its segment
	last := segs[len(segs)-1]
	appendTo(t, last, []byte("torn tail"))
	appendTo(t, filepath.Join(dir, groupsName, "g"+offsetsExt), []byte{9, 9})
	must(os.Remove(filepath.Join(dir, lockName)))
	must(os.Remove(filepath.Join(dir, "empty", "0", segmentName(0))))
	groupFile := filepath.Join(dir, groupsName, "g"+offsetsExt)
	must(os.Rename(groupFile, filepath.Join(dir, "g.offsets.saved")))
	must(os.Remove(filepath.Join(dir, groupsName)))

	before := snapshot(t, dir)
	r := openRO(t, dir)
	ctx := context.Background()
	if got, err := r.Groups(ctx); err != nil || len(got) != 0 {
		t.Fatalf("Groups without a __groups directory = %v, %v; want none", got, err)
	}
	var got []log.Record
	for p := 0; p < 2; p++ {
		got = append(got, readAll(t, r, "t", p)...)
	}
	if len(got) != len(want) {
		t.Fatalf("read %d records, want %d", len(got), len(want))
	}
	if info, err := r.Describe(ctx, "empty"); err != nil || info.Partitions[0] != (log.PartitionInfo{}) {
		t.Fatalf("Describe(a topic without segments) = %+v, %v; want an empty partition", info, err)
	}
	if got, err := r.Read(ctx, "empty", 0, 0, log.ReadOptions{Wait: 20 * time.Millisecond}); err != nil || len(got) != 0 {
		t.Fatalf("Read(empty) = %v, %v", got, err)
	}
	r.OffsetForTime(ctx, "t", 0, time.Unix(1_700_000_010, 0))
	r.Topics(ctx)
	r.Append(ctx, "t", []log.Record{{Value: []byte("x")}})
	r.CreateTopic(ctx, "new", log.TopicConfig{})
	r.JoinGroup(ctx, log.GroupConfig{Group: "g2", Topics: []string{"t"}})
	r.EnforceRetention(ctx)
	if len(r.Recovery()) != 0 {
		t.Errorf("read-only Recovery = %v, want none", r.Recovery())
	}
	closeLog(t, r)
	sameSnapshot(t, before, snapshot(t, dir))

	// The offsets file, with its torn tail, back in place.
	must(os.Mkdir(filepath.Join(dir, groupsName), 0o755))
	must(os.Rename(filepath.Join(dir, "g.offsets.saved"), groupFile))
	before = snapshot(t, dir)
	r = openRO(t, dir)
	if got, err := r.Groups(ctx); err != nil || !slices.Equal(got, []string{"g"}) {
		t.Fatalf("Groups = %v, %v; want [g]", got, err)
	}
	committed, err := r.Committed(ctx, "g", "t")
	if wantOff := recs[len(recs)-1].Offset + 1; err != nil || committed[recs[0].Partition] != wantOff {
		t.Fatalf("Committed = %v, %v; want partition %d at %d", committed, err, recs[0].Partition, wantOff)
	}
	closeLog(t, r)
	sameSnapshot(t, before, snapshot(t, dir))
}

func appendTo(t testing.TB, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// encodedBatch returns the bytes of the batch the writer would append at
// offset base for recs.
func encodedBatch(t testing.TB, base int64, recs []log.Record) []byte {
	t.Helper()
	b, err := encodeBatches(nil, base, recs, nil, "t", 0)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReadOnlyTornTail damages the end of the last segment as a writer
// killed mid-write (or still writing) leaves it, and checks that a
// read-only Log sees exactly the whole batches before it, leaves the file
// as it is, and sees a batch once its writing completes.
func TestReadOnlyTornTail(t *testing.T) {
	next := appendedRecords(0, 3) // the batch a writer would append next
	whole := encodedBatch(t, 30, next)
	cases := []struct {
		name string
		tail []byte
	}{
		{"header cut", whole[:batchHeaderSize-5]},
		{"batch cut", whole[:len(whole)-7]},
		{"bad CRC", append(whole[:len(whole)-1:len(whole)-1], whole[len(whole)-1]^0xff)},
		{"zeros", make([]byte, len(whole))},
		{"garbage", bytes.Repeat([]byte("garbage!"), 100)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg, _ := testConfig(dir)
			w := mustOpen(t, cfg)
			create(t, w, "t", log.TopicConfig{Partitions: 1})
			want := appendBatches(t, w, "t", 0, 10, 3, 50)
			closeLog(t, w)
			seg := segments(t, dir, "t", 0)[0]
			appendTo(t, seg, c.tail)
			before := snapshot(t, dir)

			r := openRO(t, dir)
			sameRecords(t, "read-only", readAll(t, r, "t", 0), want)
			ctx := context.Background()
			got, err := r.Read(ctx, "t", 0, 30, log.ReadOptions{Wait: 30 * time.Millisecond})
			if err != nil || len(got) != 0 {
				t.Fatalf("Read at the high watermark before a torn tail = %d records, %v; want none", len(got), err)
			}
			if _, err := r.Read(ctx, "t", 0, 31, log.ReadOptions{}); !errors.Is(err, log.ErrOffsetOutOfRange) {
				t.Fatalf("Read past the high watermark = %v, want ErrOffsetOutOfRange", err)
			}
			closeLog(t, r)
			sameSnapshot(t, before, snapshot(t, dir))
		})
	}

	// A batch written in two halves, as a reader may see a pwrite in
	// progress: invisible after the first, whole after the second.
	t.Run("completed later", func(t *testing.T) {
		dir := t.TempDir()
		cfg, _ := testConfig(dir)
		w := mustOpen(t, cfg)
		create(t, w, "t", log.TopicConfig{Partitions: 1})
		want := appendBatches(t, w, "t", 0, 10, 3, 50)
		closeLog(t, w)
		seg := segments(t, dir, "t", 0)[0]
		r := openRO(t, dir)
		defer closeLog(t, r)
		ctx := context.Background()
		end := fileSize(t, seg)
		half := len(whole) / 2
		for _, step := range []struct {
			what string
			at   int
			b    []byte
			hw   int64
		}{
			{"first half", 0, whole[:half], 30},
			{"second half as zeros (a bad CRC)", half, make([]byte, len(whole)-half), 30},
			{"second half", half, whole[half:], 33},
		} {
			f, err := os.OpenFile(seg, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(step.b, end+int64(step.at)); err != nil {
				t.Fatal(err)
			}
			f.Close()
			info, err := r.Offsets(ctx, "t", 0)
			if err != nil || info.Latest != step.hw {
				t.Fatalf("after writing the %s of a batch: Offsets = %+v, %v; want the high watermark at %d", step.what, info, err, step.hw)
			}
		}
		for i := range next {
			next[i].Topic = "t"
		}
		sameRecords(t, "read-only", readAll(t, r, "t", 0), append(want, next...))
	})
}

// appendedRecords returns n records as Append would have set them, from
// offset first on.
func appendedRecords(first, n int) []log.Record {
	recs := make([]log.Record, n)
	for i := range recs {
		recs[i] = testRecord(1000+first+i, 50)
	}
	return recs
}

// TestReadOnlyOpen opens read-only while the writer holds the lock, after
// it closed, and where there is no log, and checks that a writer can open
// the directory while a reader has it open.
func TestReadOnlyOpen(t *testing.T) {
	ctx := context.Background()
	t.Run("missing directory", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "nolog")
		_, err := Open(Config{Dir: dir, ReadOnly: true})
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Open(missing, read-only) = %v, want fs.ErrNotExist", err)
		}
		mustContain(t, "the error", err.Error(), dir, "does not exist")
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Open(read-only) created %s", dir)
		}
	})
	t.Run("not a directory", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Open(Config{Dir: path, ReadOnly: true})
		if err == nil {
			t.Fatal("Open(a file, read-only) succeeded")
		}
		mustContain(t, "the error", err.Error(), path, "not a directory")
	})
	t.Run("beside the writer, then after it", func(t *testing.T) {
		dir := t.TempDir()
		cfg, _ := testConfig(dir)
		w := mustOpen(t, cfg)
		create(t, w, "t", log.TopicConfig{Partitions: 1})
		want := appendBatches(t, w, "t", 0, 5, 2, 10)
		r1 := openRO(t, dir) // the writer holds the lock
		r2 := openRO(t, dir) // and so does nothing else
		sameRecords(t, "reader 1", readAll(t, r1, "t", 0), want)
		closeLog(t, w)
		sameRecords(t, "reader 2 after the writer closed", readAll(t, r2, "t", 0), want)
		r3 := openRO(t, dir)
		sameRecords(t, "reader opened after the writer closed", readAll(t, r3, "t", 0), want)
		// A writer opens while readers are open: they hold no lock.
		w = mustOpen(t, cfg)
		want = append(want, appendBatches(t, w, "t", 10, 1, 1, 10)...)
		for i, r := range []*Log{r1, r2, r3} {
			sameRecords(t, fmt.Sprintf("reader %d after the writer reopened", i+1), readAll(t, r, "t", 0), want)
			closeLog(t, r)
			if _, err := r.Topics(ctx); !errors.Is(err, log.ErrClosed) {
				t.Fatalf("Topics after Close = %v, want log.ErrClosed", err)
			}
		}
		closeLog(t, w)
	})
}

// TestReadOnlyRefusesWrites checks that each call that would change the
// log fails with ErrReadOnly, naming the operation and its topic or group.
func TestReadOnlyRefusesWrites(t *testing.T) {
	dir := t.TempDir()
	cfg, _ := testConfig(dir)
	w := mustOpen(t, cfg)
	create(t, w, "t", log.TopicConfig{Partitions: 1})
	closeLog(t, w)
	r := openRO(t, dir)
	defer closeLog(t, r)
	ctx := context.Background()
	for _, c := range []struct {
		op   string
		call func() error
		want []string
	}{
		{"CreateTopic", func() error { return r.CreateTopic(ctx, "new", log.TopicConfig{}) }, []string{"create topic", `"new"`}},
		{"CreateTopic of an existing topic", func() error { return r.CreateTopic(ctx, "t", log.TopicConfig{}) }, []string{"create topic", `"t"`}},
		{"Append", func() error { return r.Append(ctx, "t", []log.Record{{Value: []byte("v")}}) }, []string{"append to topic", `"t"`}},
		{"Append to a missing topic", func() error { return r.Append(ctx, "nope", []log.Record{{}}) }, []string{"append to topic", `"nope"`}},
		{"Append of nothing", func() error { return r.Append(ctx, "t", nil) }, []string{"append to topic"}},
		{"JoinGroup", func() error {
			_, err := r.JoinGroup(ctx, log.GroupConfig{Group: "g", Topics: []string{"t"}})
			return err
		}, []string{"join group", `"g"`}},
		{"EnforceRetention", func() error { return r.EnforceRetention(ctx) }, []string{"enforce retention"}},
	} {
		err := c.call()
		if !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s on a read-only log = %v, want ErrReadOnly", c.op, err)
			continue
		}
		mustContain(t, c.op+"'s error", err.Error(), append(c.want, "read-only")...)
	}
	if names, _ := r.Topics(ctx); !slices.Equal(names, []string{"t"}) {
		t.Fatalf("Topics after refused calls = %v, want [t]", names)
	}
}

// TestReadOnlyRetention removes segments with the writer's retention under
// a reader that has them open, and checks that the reader then answers as
// the writer does: reads of the removed range fail with an
// *OffsetOutOfRangeError naming the new earliest offset.
func TestReadOnlyRetention(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  log.TopicConfig
	}{
		{"bytes", log.TopicConfig{Partitions: 1, SegmentBytes: 4096, RetentionBytes: 10000}},
		// testRecord's times are from 2023: every segment expires, the
		// active one rolled first.
		{"age, every segment", log.TopicConfig{Partitions: 1, SegmentBytes: 4096, RetentionAge: time.Hour}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg, _ := testConfig(dir)
			w := mustOpen(t, cfg)
			defer closeLog(t, w)
			create(t, w, "t", c.cfg)
			ctx := context.Background()
			appendBatches(t, w, "t", 0, 40, 3, 100)
			r := openRO(t, dir)
			defer closeLog(t, r)
			sameRecords(t, "before retention", readAll(t, r, "t", 0), readAll(t, w, "t", 0))
			if err := w.EnforceRetention(ctx); err != nil {
				t.Fatal(err)
			}
			winfo, _ := w.Offsets(ctx, "t", 0)
			if winfo.Earliest == 0 {
				t.Fatal("retention removed nothing")
			}
			// A read of the removed range, before anything else told the
			// reader: it has those segments open.
			_, err := r.Read(ctx, "t", 0, 0, log.ReadOptions{})
			var oor *log.OffsetOutOfRangeError
			if !errors.As(err, &oor) || oor.Earliest != winfo.Earliest || oor.Latest != winfo.Latest {
				t.Fatalf("read-only Read of a removed offset = %v, want an *OffsetOutOfRangeError with earliest %d, latest %d", err, winfo.Earliest, winfo.Latest)
			}
			if _, err := r.Read(ctx, "t", 0, winfo.Earliest-1, log.ReadOptions{}); !errors.Is(err, log.ErrOffsetOutOfRange) {
				t.Fatalf("read-only Read just below the earliest offset = %v, want ErrOffsetOutOfRange", err)
			}
			sameView(t, w, r)
			// And it goes on following the writer.
			appendBatches(t, w, "t", 1000, 5, 3, 100)
			sameView(t, w, r)
		})
	}
}

// TestReadOnlyDamage checks that damage a writer is done with is a
// *CorruptionError naming the file and byte position, not a tail to wait
// on: in a segment before the last, in the last at once when an intact
// batch follows it, and otherwise once the file grew past it or a newer
// segment appeared.
func TestReadOnlyDamage(t *testing.T) {
	ctx := context.Background()
	// flip damages the CRC of the second batch of path, returning where.
	flip := func(t *testing.T, path string) int64 {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		h, err := parseHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		pos := int64(h.size)
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteAt([]byte{b[pos+batchHeaderSize] ^ 0xff}, pos+batchHeaderSize); err != nil {
			t.Fatal(err)
		}
		return pos
	}
	checkCorrupt := func(t *testing.T, err error, path string, pos int64) {
		t.Helper()
		var ce *CorruptionError
		if !errors.As(err, &ce) || ce.Segment != path || ce.Offset != pos || !errors.Is(err, ErrChecksum) {
			t.Fatalf("got %v, want a *CorruptionError for %s at byte %d", err, path, pos)
		}
	}
	t.Run("earlier segment", func(t *testing.T) {
		dir := t.TempDir()
		cfg, _ := testConfig(dir)
		cfg.SegmentBytes = 4096
		w := mustOpen(t, cfg)
		create(t, w, "t", log.TopicConfig{Partitions: 1})
		appendBatches(t, w, "t", 0, 30, 3, 100)
		closeLog(t, w)
		seg := segments(t, dir, "t", 0)[0]
		pos := flip(t, seg)
		forgetRecoveryPoints(t, dir) // else Open trusts the damaged segment
		r, err := Open(Config{Dir: dir, ReadOnly: true, Logger: cfg.Logger})
		if err != nil {
			t.Fatalf("read-only Open = %v, want the damage confined to its partition", err)
		}
		defer closeLog(t, r)
		_, err = r.Offsets(ctx, "t", 0)
		checkCorrupt(t, err, seg, pos)
	})
	t.Run("last segment, an intact batch after it", func(t *testing.T) {
		dir := t.TempDir()
		cfg, _ := testConfig(dir)
		w := mustOpen(t, cfg)
		defer closeLog(t, w)
		create(t, w, "t", log.TopicConfig{Partitions: 1})
		appendBatches(t, w, "t", 0, 5, 3, 100)
		seg := segments(t, dir, "t", 0)[0]
		pos := flip(t, seg)
		r := openRO(t, dir)
		defer closeLog(t, r)
		_, err := r.Offsets(ctx, "t", 0)
		checkCorrupt(t, err, seg, pos)
	})
	// The damaged batch is the last of the two written, so the reader
	// cannot tell it from one being written (a bad batch with an intact one
	// after it is damage at once). Batches of 3 records of 100 bytes take
	// about 400 bytes; one of 3 records of 1200 bytes no longer fits the
	// 4 KiB segment after them and goes to a new one.
	for _, c := range []struct {
		then      string
		valueSize int
	}{{"grows", 100}, {"rolls", 1200}} {
		t.Run("last segment, then the writer "+c.then, func(t *testing.T) {
			dir := t.TempDir()
			cfg, _ := testConfig(dir)
			w := mustOpen(t, cfg)
			defer closeLog(t, w)
			create(t, w, "t", log.TopicConfig{Partitions: 1, SegmentBytes: 4096})
			appendBatches(t, w, "t", 0, 2, 3, 100)
			seg := segments(t, dir, "t", 0)[0]
			pos := flip(t, seg) // under the writer, which does not look
			size := fileSize(t, seg)
			r := openRO(t, dir)
			defer closeLog(t, r)
			if info, err := r.Offsets(ctx, "t", 0); err != nil || info.Latest != 3 {
				t.Fatalf("Offsets before the damage is known = %+v, %v; want the high watermark at 3", info, err)
			}
			appendBatches(t, w, "t", 100, 1, 3, c.valueSize)
			rolled := len(segments(t, dir, "t", 0)) == 2
			if grew := fileSize(t, seg) > size; rolled == grew || rolled != (c.then == "rolls") {
				t.Fatalf("the writer's append rolled: %v, grew the segment: %v; the test wants it to %s", rolled, grew, c.then)
			}
			_, err := r.Offsets(ctx, "t", 0)
			checkCorrupt(t, err, seg, pos)
			_, err = r.Read(ctx, "t", 0, 3, log.ReadOptions{})
			checkCorrupt(t, err, seg, pos)
		})
	}
}

// The read-only test below runs TestCrashChild as a writer that appends
// until its stdin is closed, and reads what it writes meanwhile.

// TestReadOnlyWhileWriterAppends runs a writer process that appends to
// four partitions from three goroutines, with segments rolling every
// 16 KiB, while this process reads every partition read-only with blocking
// reads. Every record read must be one the writer acknowledged at that
// partition and offset, read in offset order with no gap, and by the end
// the reader must have seen every acknowledged record.
func TestReadOnlyWhileWriterAppends(t *testing.T) {
	if os.Getenv(crashDirEnv) != "" {
		t.Skip("in the crash child")
	}
	dir := t.TempDir()
	r := openRO(t, dir) // before the writer has created anything
	defer closeLog(t, r)
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashIterEnv+"=0", crashSegmentEnv+"=16384", crashStopEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	var (
		mu    sync.Mutex
		acked = map[ack]string{} // key by partition and offset
		bad   []string
	)
	acksDone := make(chan struct{})
	go func() {
		defer close(acksDone)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var a ack
			var key string
			if _, err := fmt.Sscanf(sc.Text(), "ack %d %d %s", &a.partition, &a.offset, &key); err != nil {
				mu.Lock()
				bad = append(bad, sc.Text())
				mu.Unlock()
				continue
			}
			mu.Lock()
			acked[a] = key
			mu.Unlock()
		}
	}()

	// Readers: one per partition, from offset 0, until told to stop and
	// caught up with the reader's high watermark.
	ctx := context.Background()
	stopReading := make(chan struct{})
	seen := make([][]log.Record, crashParts)
	errs := make(chan error, crashParts)
	var wg sync.WaitGroup
	for p := 0; p < crashParts; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var next int64
			for {
				recs, err := r.Read(ctx, crashTopic, p, next, log.ReadOptions{Wait: 20 * time.Millisecond, MaxRecords: 500})
				if errors.Is(err, log.ErrUnknownTopic) {
					time.Sleep(5 * time.Millisecond) // not created yet
					continue
				}
				if err != nil {
					errs <- fmt.Errorf("Read(%d @%d): %w", p, next, err)
					return
				}
				for _, rec := range recs {
					if rec.Offset != next {
						errs <- fmt.Errorf("partition %d: read offset %d where %d was due", p, rec.Offset, next)
						return
					}
					if !bytes.Equal(rec.Value, crashValue(string(rec.Key))) {
						errs <- fmt.Errorf("partition %d offset %d: key %q with a wrong value", p, rec.Offset, rec.Key)
						return
					}
					next++
				}
				seen[p] = append(seen[p], recs...)
				if len(recs) == 0 {
					select {
					case <-stopReading:
						if info, err := r.Offsets(ctx, crashTopic, p); err == nil && next == info.Latest {
							return
						}
					default:
					}
				}
			}
		}()
	}
	// The writer runs until it has acknowledged enough records to roll
	// partition 0's segments a few times and the reader has seen some of
	// them, however slowly the machine runs it.
	want := 4000
	if testing.Short() {
		want = 1500
	}
	var during, seenDuring int
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		during = len(acked)
		mu.Unlock()
		seenDuring = 0
		for p := range seen {
			if info, err := r.Offsets(ctx, crashTopic, p); err == nil {
				seenDuring += int(info.Latest)
			} else if !errors.Is(err, log.ErrUnknownTopic) {
				t.Fatal(err)
			}
		}
		if during >= want && seenDuring > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("in 2 minutes the writer acknowledged %d records and the reader saw %d", during, seenDuring)
		}
	}
	stdin.Close() // the writer finishes its appends, acknowledges them and exits
	<-acksDone
	if err := cmd.Wait(); err != nil {
		t.Fatalf("writer: %v (stderr: %s)", err, stderr.String())
	}
	close(stopReading)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(bad) > 0 {
		t.Fatalf("writer wrote %q", bad)
	}
	if t.Failed() {
		return
	}
	total := 0
	for p, recs := range seen {
		for _, rec := range recs {
			if key, ok := acked[ack{p, rec.Offset}]; !ok || key != string(rec.Key) {
				t.Fatalf("read %s at %d/%d, which the writer acknowledged as %q (%v)", rec.Key, p, rec.Offset, key, ok)
			}
		}
		total += len(recs)
	}
	if total != len(acked) {
		t.Fatalf("read %d records, the writer acknowledged %d", total, len(acked))
	}
	rolled := len(segments(t, dir, crashTopic, 0))
	if during == 0 || seenDuring == 0 || rolled < 2 {
		t.Fatalf("the test did not test: %d acknowledged and %d visible while the writer ran, %d segments", during, seenDuring, rolled)
	}
	t.Logf("%d records read, %d of them while the writer ran; partition 0 has %d segments", total, seenDuring, rolled)
}
