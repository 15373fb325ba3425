package disk

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/logtest"
)

func TestConformance(t *testing.T) {
	logtest.Run(t, logtest.Harness{
		Open: func(t *testing.T) log.Log {
			return mustOpen(t, Config{Dir: t.TempDir()})
		},
		Reopen: func(t *testing.T, l log.Log) log.Log {
			dl := l.(*Log)
			if err := dl.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			return mustOpen(t, dl.cfg)
		},
		EnforceRetention: func(t *testing.T, l log.Log) {
			if err := l.(*Log).EnforceRetention(context.Background()); err != nil {
				t.Fatalf("EnforceRetention: %v", err)
			}
		},
	})
}

// mustOpen opens a log; the caller (or the conformance suite) closes it.
func mustOpen(t testing.TB, cfg Config) *Log {
	t.Helper()
	l, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open(%s): %v", cfg.Dir, err)
	}
	return l
}

func TestLockFile(t *testing.T) {
	dir := t.TempDir()
	cfg, _ := testConfig(dir)
	l := mustOpen(t, cfg)
	_, err := Open(cfg)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open of %s = %v, want ErrLocked", dir, err)
	}
	mustContain(t, "the error", err.Error(), dir, fmt.Sprint(os.Getpid()), "held by")
	closeLog(t, l)
	l = mustOpen(t, cfg) // released by Close
	closeLog(t, l)
}

func TestOperationsAfterClose(t *testing.T) {
	cfg, _ := testConfig(t.TempDir())
	l := mustOpen(t, cfg)
	create(t, l, "t", log.TopicConfig{Partitions: 1})
	c := join(t, l, "g", log.StartEarliest, "t")
	closeLog(t, l)
	ctx := context.Background()
	ops := map[string]func() error{
		"CreateTopic":   func() error { return l.CreateTopic(ctx, "u", log.TopicConfig{}) },
		"Topics":        func() error { _, err := l.Topics(ctx); return err },
		"Describe":      func() error { _, err := l.Describe(ctx, "t"); return err },
		"Append":        func() error { return l.Append(ctx, "t", []log.Record{{}}) },
		"Read":          func() error { _, err := l.Read(ctx, "t", 0, 0, log.ReadOptions{}); return err },
		"Offsets":       func() error { _, err := l.Offsets(ctx, "t", 0); return err },
		"OffsetForTime": func() error { _, err := l.OffsetForTime(ctx, "t", 0, time.Now()); return err },
		"JoinGroup": func() error {
			_, err := l.JoinGroup(ctx, log.GroupConfig{Group: "g", Topics: []string{"t"}})
			return err
		},
		"Committed":        func() error { _, err := l.Committed(ctx, "g", "t"); return err },
		"Groups":           func() error { _, err := l.Groups(ctx); return err },
		"EnforceRetention": func() error { return l.EnforceRetention(ctx) },
		"Close":            l.Close,
		"Consumer.Poll":    func() error { _, err := c.Poll(ctx, log.ReadOptions{}); return err },
		"Consumer.Commit":  func() error { return c.Commit(ctx, log.Record{Topic: "t"}) },
	}
	for name, op := range ops {
		if err := op(); !errors.Is(err, log.ErrClosed) {
			t.Errorf("%s after Close = %v, want log.ErrClosed", name, err)
		}
	}
	if c.Assignment() != nil {
		t.Error("Assignment after Close is not empty")
	}
	if err := c.Close(); err != nil {
		t.Errorf("Consumer.Close after the log's Close = %v", err)
	}
}

func TestCloseWakesBlockedReads(t *testing.T) {
	cfg, _ := testConfig(t.TempDir())
	l := mustOpen(t, cfg)
	create(t, l, "t", log.TopicConfig{Partitions: 1})
	c := join(t, l, "g", log.StartEarliest, "t")
	errs := make(chan error, 2)
	go func() {
		_, err := l.Read(context.Background(), "t", 0, 0, log.ReadOptions{Wait: time.Minute})
		errs <- err
	}()
	go func() {
		_, err := c.Poll(context.Background(), log.ReadOptions{Wait: time.Minute})
		errs <- err
	}()
	time.Sleep(50 * time.Millisecond)
	done := make(chan struct{})
	go func() { closeLog(t, l); close(done) }()
	for i := 0; i < 2; i++ {
		select {
		case err := <-errs:
			if !errors.Is(err, log.ErrClosed) {
				t.Errorf("blocked read ended by Close with %v, want log.ErrClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Close did not wake a blocked read")
		}
	}
	<-done
}

func TestConfigAndTopicValidation(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "Dir"},
		{Config{Dir: dir, DefaultPartitions: -1}, "DefaultPartitions"},
		{Config{Dir: dir, SegmentBytes: 2 << 30}, "SegmentBytes"},
		{Config{Dir: dir, Sync: 7}, "Sync"},
		{Config{Dir: dir, SyncEvery: -time.Second}, "SyncEvery"},
		{Config{Dir: dir, SyncBytes: -1}, "SyncBytes"},
		{Config{Dir: dir, RetentionCheck: -time.Second}, "RetentionCheck"},
	} {
		if _, err := Open(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%+v) = %v, want an error naming %s", c.cfg, err, c.want)
		}
	}
	cfg, _ := testConfig(dir)
	l := mustOpen(t, cfg)
	defer closeLog(t, l)
	ctx := context.Background()
	for _, c := range []struct {
		name string
		cfg  log.TopicConfig
		want error
		msg  string
	}{
		{"", log.TopicConfig{}, log.ErrInvalidTopicName, ""},
		{"a/b", log.TopicConfig{}, log.ErrInvalidTopicName, ""},
		{"..", log.TopicConfig{}, log.ErrInvalidTopicName, ""},
		{"__groups", log.TopicConfig{}, log.ErrInvalidTopicName, "reserved"},
		{".lock", log.TopicConfig{}, log.ErrInvalidTopicName, "reserved"},
		{"neg", log.TopicConfig{Partitions: -2}, nil, "Partitions must be >= 1, got -2"},
		{"seg", log.TopicConfig{SegmentBytes: 4 << 30}, nil, "SegmentBytes"},
		{"age", log.TopicConfig{RetentionAge: -1}, nil, "RetentionAge"},
		{"bytes", log.TopicConfig{RetentionBytes: -1}, nil, "RetentionBytes"},
	} {
		err := l.CreateTopic(ctx, c.name, c.cfg)
		if err == nil || (c.want != nil && !errors.Is(err, c.want)) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("CreateTopic(%q, %+v) = %v, want %v mentioning %q", c.name, c.cfg, err, c.want, c.msg)
		}
	}
	create(t, l, "ok", log.TopicConfig{})
	if err := l.CreateTopic(ctx, "ok", log.TopicConfig{}); !errors.Is(err, log.ErrTopicExists) {
		t.Fatalf("CreateTopic twice = %v, want ErrTopicExists", err)
	}
	info, _ := l.Describe(ctx, "ok")
	if info.Config.Partitions != DefaultPartitions || info.Config.SegmentBytes != DefaultSegmentBytes {
		t.Fatalf("Describe = %+v, want the default partition count and segment size", info.Config)
	}
}

func TestAutoCreate(t *testing.T) {
	ctx := context.Background()
	cfg, _ := testConfig(t.TempDir())
	cfg.DefaultPartitions = 3
	l := mustOpen(t, cfg)
	if err := l.Append(ctx, "new", []log.Record{{Value: []byte("v")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.JoinGroup(ctx, log.GroupConfig{Group: "g", Topics: []string{"newer"}}); err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"new", "newer"} {
		if info, err := l.Describe(ctx, topic); err != nil || len(info.Partitions) != 3 {
			t.Fatalf("auto-created %s: %+v, %v; want 3 partitions", topic, info, err)
		}
	}
	if _, err := l.Read(ctx, "never", 0, 0, log.ReadOptions{}); !errors.Is(err, log.ErrUnknownTopic) {
		t.Fatalf("Read of a missing topic = %v, want ErrUnknownTopic", err)
	}
	closeLog(t, l)

	cfg.NoAutoCreate = true
	l = mustOpen(t, cfg)
	defer closeLog(t, l)
	if err := l.Append(ctx, "other", []log.Record{{}}); !errors.Is(err, log.ErrUnknownTopic) {
		t.Fatalf("Append with NoAutoCreate = %v, want ErrUnknownTopic", err)
	}
	if _, err := l.JoinGroup(ctx, log.GroupConfig{Group: "g", Topics: []string{"other"}}); !errors.Is(err, log.ErrUnknownTopic) {
		t.Fatalf("JoinGroup with NoAutoCreate = %v, want ErrUnknownTopic", err)
	}
	if topics, _ := l.Topics(ctx); !slices.Equal(topics, []string{"new", "newer"}) {
		t.Fatalf("Topics() = %v", topics)
	}
}

func TestAppendFillsRecords(t *testing.T) {
	cfg, _ := testConfig(t.TempDir())
	l := mustOpen(t, cfg)
	defer closeLog(t, l)
	ctx := context.Background()
	create(t, l, "t", log.TopicConfig{Partitions: 1})
	at := time.Date(2024, 2, 29, 12, 0, 0, 123456789, time.UTC)
	recs := []log.Record{
		{Key: nil, Value: nil},
		{Key: []byte{}, Value: []byte{}, Time: at},
		{Key: []byte("k"), Value: []byte("v"), Headers: []log.Header{{Key: "h", Value: nil}, {Key: "", Value: []byte("x")}}},
	}
	before := time.Now()
	if err := l.Append(ctx, "t", recs); err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		if r.Topic != "t" || r.Partition != 0 || r.Offset != int64(i) {
			t.Fatalf("record %d filled as %s/%d@%d", i, r.Topic, r.Partition, r.Offset)
		}
	}
	if recs[0].Time.Before(before.Add(-time.Second)) || recs[0].Time.After(time.Now()) || !recs[1].Time.Equal(at) {
		t.Fatalf("times %v, %v", recs[0].Time, recs[1].Time)
	}
	got, err := l.Read(ctx, "t", 0, 0, log.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Key != nil || got[0].Value != nil || got[1].Key == nil || got[1].Value == nil {
		t.Fatalf("nil and empty keys and values not kept apart: %#v %#v / %#v %#v", got[0].Key, got[0].Value, got[1].Key, got[1].Value)
	}
	if got[0].Time != recs[0].Time {
		t.Fatalf("Read time %#v differs from the one Append set, %#v", got[0].Time, recs[0].Time)
	}
	if !got[1].Time.Equal(at) {
		t.Fatalf("time %v, want %v (nanoseconds kept)", got[1].Time, at)
	}
	h := got[2].Headers
	if len(h) != 2 || h[0].Key != "h" || h[0].Value != nil || h[1].Key != "" || string(h[1].Value) != "x" {
		t.Fatalf("headers %q", h)
	}
}

// Reads at every offset of a partition of several segments, with limits of
// every kind, return what was appended there.
func TestReadEveryOffset(t *testing.T) {
	cfg, _ := testConfig(t.TempDir())
	l := mustOpen(t, cfg)
	defer closeLog(t, l)
	ctx := context.Background()
	create(t, l, "t", log.TopicConfig{Partitions: 1, SegmentBytes: 16 << 10})
	var want []log.Record
	for i := 0; len(want) < 600; i++ {
		want = append(want, appendBatches(t, l, "t", len(want), 1, 1+i*7%40, 10+i*31%300)...)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for off := range want {
		opt := log.ReadOptions{MaxRecords: 1 + rng.IntN(60), MaxBytes: 1 + rng.IntN(8000)}
		got, err := l.Read(ctx, "t", 0, int64(off), opt)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 || len(got) > opt.MaxRecords {
			t.Fatalf("Read(@%d, %+v) returned %d records", off, opt, len(got))
		}
		size := 0
		for _, r := range got {
			size += r.Size()
		}
		if len(got) > 1 && size > opt.MaxBytes {
			t.Fatalf("Read(@%d, %+v) returned %d bytes", off, opt, size)
		}
		// Not stopping short without reason, within a segment.
		if next := off + len(got); len(got) < opt.MaxRecords && next < len(want) && size+want[next].Size() <= opt.MaxBytes {
			p, _ := l.partition("t", 0)
			v, _ := p.view(int64(off), false)
			sameSeg := int64(next) < v.seg.next
			v.seg.release()
			if sameSeg {
				t.Fatalf("Read(@%d, %+v) stopped after %d records (%d bytes) though record %d fits", off, opt, len(got), size, next)
			}
		}
		checkRecords(t, got, want[off:off+len(got)])
	}
}

func TestReadAllocations(t *testing.T) {
	cfg, _ := testConfig(t.TempDir())
	l := mustOpen(t, cfg)
	defer closeLog(t, l)
	ctx := context.Background()
	create(t, l, "t", log.TopicConfig{Partitions: 1})
	appendBatches(t, l, "t", 0, 10, 500, 100)
	var n int
	allocs := testing.AllocsPerRun(20, func() {
		recs, err := l.Read(ctx, "t", 0, 1234, log.ReadOptions{MaxRecords: 1000})
		if err != nil {
			t.Fatal(err)
		}
		n = len(recs)
	})
	if n != 1000 {
		t.Fatalf("read %d records, want 1000", n)
	}
	// The result slice and the read buffers: nothing per record.
	if allocs > 8 {
		t.Fatalf("Read of 1000 records made %v allocations", allocs)
	}
}

func TestAppendAllocations(t *testing.T) {
	for _, keyed := range []bool{false, true} {
		t.Run(fmt.Sprintf("keyed=%v", keyed), func(t *testing.T) {
			cfg, _ := testConfig(t.TempDir())
			cfg.Sync = SyncUnsafeNever
			l := mustOpen(t, cfg)
			defer closeLog(t, l)
			ctx := context.Background()
			create(t, l, "t", log.TopicConfig{Partitions: 4})
			recs := make([]log.Record, 1000)
			for i := range recs {
				recs[i] = testRecord(i, 100)
				if !keyed {
					recs[i].Key = nil
				}
			}
			l.Append(ctx, "t", recs) // grow the buffers
			allocs := testing.AllocsPerRun(20, func() {
				for i := range recs {
					recs[i].Time = time.Time{}
				}
				if err := l.Append(ctx, "t", recs); err != nil {
					t.Fatal(err)
				}
			})
			if allocs > 8 {
				t.Fatalf("Append of 1000 records made %v allocations", allocs)
			}
		})
	}
}

func TestOffsetForTimeAgainstScan(t *testing.T) {
	cfg, _ := testConfig(t.TempDir())
	l := mustOpen(t, cfg)
	defer closeLog(t, l)
	ctx := context.Background()
	create(t, l, "t", log.TopicConfig{Partitions: 1, SegmentBytes: 8 << 10})
	rng := rand.New(rand.NewPCG(5, 6))
	t0 := time.Unix(1_700_000_000, 0)
	var all []log.Record
	for b := 0; b < 120; b++ {
		recs := make([]log.Record, 1+rng.IntN(10))
		for i := range recs {
			recs[i] = testRecord(len(all)+i, 50+rng.IntN(200))
			// Mostly increasing, with some records out of order.
			recs[i].Time = t0.Add(time.Duration(len(all)+i-rng.IntN(30)) * time.Second)
		}
		if err := l.Append(ctx, "t", recs); err != nil {
			t.Fatal(err)
		}
		all = append(all, recs...)
	}
	for s := -40; s < len(all)+10; s++ {
		at := t0.Add(time.Duration(s)*time.Second + time.Duration(rng.IntN(2))*time.Millisecond)
		want := int64(len(all))
		for _, r := range all {
			if !r.Time.Before(at) {
				want = r.Offset
				break
			}
		}
		got, err := l.OffsetForTime(ctx, "t", 0, at)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("OffsetForTime(t0%+ds) = %d, want %d", s, got, want)
		}
	}
}

// Many producers, tailing readers, a consumer group, background fsync and
// retention at once; run it with -race.
func TestConcurrentUse(t *testing.T) {
	cfg, _ := testConfig(t.TempDir())
	cfg.SyncEvery = 2 * time.Millisecond
	cfg.SyncBytes = 16 << 10
	cfg.RetentionCheck = 3 * time.Millisecond
	l := mustOpen(t, cfg)
	defer closeLog(t, l)
	create(t, l, "t", log.TopicConfig{Partitions: 3, SegmentBytes: 8 << 10, RetentionBytes: 64 << 10})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const producers, perProducer = 4, 150
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := 0; w < producers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perProducer; i++ {
				recs := make([]log.Record, 1+i%8)
				for j := range recs {
					recs[j] = testRecord(w*100000+i*10+j, 100)
				}
				if err := l.Append(ctx, "t", recs); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for p := 0; p < 3; p++ {
		readers.Add(1)
		go func() { // a tailing reader: dense offsets, or a jump past retention
			defer readers.Done()
			var off int64
			for {
				select {
				case <-stop:
					return
				default:
				}
				recs, err := l.Read(ctx, "t", p, off, log.ReadOptions{Wait: 5 * time.Millisecond, MaxRecords: 50})
				var oor *log.OffsetOutOfRangeError
				if errors.As(err, &oor) && off < oor.Earliest {
					off = oor.Earliest
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				for _, r := range recs {
					if r.Offset != off || string(r.Value) != string(valueFor(string(r.Key), 100)) {
						errs <- fmt.Errorf("%d: read offset %d key %q, want offset %d", p, r.Offset, r.Key, off)
						return
					}
					off++
				}
			}
		}()
	}
	readers.Add(1)
	go func() { // a group member, joined and left by another
		defer readers.Done()
		c, err := l.JoinGroup(ctx, log.GroupConfig{Group: "g", Topics: []string{"t"}})
		if err != nil {
			errs <- err
			return
		}
		defer c.Close()
		for {
			select {
			case <-stop:
				return
			default:
			}
			recs, err := c.Poll(ctx, log.ReadOptions{Wait: 5 * time.Millisecond})
			if err != nil {
				errs <- err
				return
			}
			if err := c.Commit(ctx, recs...); err != nil {
				errs <- err
				return
			}
			if len(recs)%3 == 1 {
				c2, err := l.JoinGroup(ctx, log.GroupConfig{Group: "g", Topics: []string{"t"}})
				if err != nil {
					errs <- err
					return
				}
				c2.Poll(ctx, log.ReadOptions{})
				c2.Close()
			}
		}
	}()
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var total int64
	for p := 0; p < 3; p++ {
		info, _ := l.Offsets(ctx, "t", p)
		total += info.Latest
		readFollowingRetention(t, l, "t", p, info)
	}
	want := int64(0)
	for i := 0; i < perProducer; i++ {
		want += int64(producers * (1 + i%8))
	}
	if total != want {
		t.Fatalf("high watermarks add up to %d, want %d", total, want)
	}
}

// readFollowingRetention reads partition p from info.Earliest to
// info.Latest and checks every record is the one written at its offset,
// with dense offsets. Retention may still be removing segments (it checks
// every few milliseconds, and goes on for a moment after the writers
// stop), so a read below the new earliest offset moves on to it, as a
// tailing reader does.
func readFollowingRetention(t *testing.T, l *Log, topic string, p int, info log.PartitionInfo) {
	t.Helper()
	ctx := context.Background()
	for off := info.Earliest; off < info.Latest; {
		recs, err := l.Read(ctx, topic, p, off, log.ReadOptions{})
		var oor *log.OffsetOutOfRangeError
		if errors.As(err, &oor) && off < oor.Earliest {
			off = oor.Earliest
			continue
		}
		if err != nil {
			t.Fatalf("Read(%s/%d @%d): %v", topic, p, off, err)
		}
		if len(recs) == 0 {
			t.Fatalf("Read(%s/%d @%d) returned nothing below the high watermark %d", topic, p, off, info.Latest)
		}
		for _, r := range recs {
			if r.Offset != off || string(r.Value) != string(valueFor(string(r.Key), 100)) {
				t.Fatalf("%s/%d: read offset %d key %q, want offset %d", topic, p, r.Offset, r.Key, off)
			}
			off++
		}
	}
}

func TestSyncBytesAndInterval(t *testing.T) {
	cfg, _ := testConfig(t.TempDir())
	cfg.SyncBytes = 4096
	cfg.SyncEvery = time.Hour
	l := mustOpen(t, cfg)
	defer closeLog(t, l)
	create(t, l, "t", log.TopicConfig{Partitions: 1})
	p, _ := l.partition("t", 0)
	unsynced := func() int64 { p.mu.Lock(); defer p.mu.Unlock(); return p.unsynced }
	appendBatches(t, l, "t", 0, 1, 5, 100)
	if u := unsynced(); u == 0 || u >= 4096 {
		t.Fatalf("%d bytes unsynced after a small append", u)
	}
	appendBatches(t, l, "t", 5, 1, 40, 100)
	if u := unsynced(); u != 0 {
		t.Fatalf("%d bytes unsynced after passing SyncBytes", u)
	}

	cfg2, _ := testConfig(t.TempDir())
	cfg2.SyncEvery = 5 * time.Millisecond
	l2 := mustOpen(t, cfg2)
	defer closeLog(t, l2)
	create(t, l2, "t", log.TopicConfig{Partitions: 1})
	appendBatches(t, l2, "t", 0, 1, 5, 100)
	p2, _ := l2.partition("t", 0)
	deadline := time.Now().Add(10 * time.Second)
	for p2.dirty.Load() || func() bool { p2.mu.Lock(); defer p2.mu.Unlock(); return p2.unsynced != 0 }() {
		if time.Now().After(deadline) {
			t.Fatal("the background fsync did not run")
		}
		time.Sleep(time.Millisecond)
	}
}

// Many readers wait at the high watermark of one partition at once; each
// append wakes them all.
func TestManyWaitingReaders(t *testing.T) {
	cfg, _ := testConfig(t.TempDir())
	l := mustOpen(t, cfg)
	defer closeLog(t, l)
	create(t, l, "t", log.TopicConfig{Partitions: 1})
	const readers, appends = 8, 100
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for r := 0; r < readers; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for off := int64(0); off < appends; {
				recs, err := l.Read(ctx, "t", 0, off, log.ReadOptions{Wait: 10 * time.Second})
				if err != nil || len(recs) == 0 {
					errs <- fmt.Errorf("reader at %d: %d records, %v", off, len(recs), err)
					return
				}
				off += int64(len(recs))
			}
		}()
	}
	for i := 0; i < appends; i++ {
		if err := l.Append(ctx, "t", []log.Record{testRecord(i, 10)}); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
