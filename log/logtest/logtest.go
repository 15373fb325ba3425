// Package logtest is the conformance suite for implementations of log.Log.
// Every backend runs the same tests, so the embedded log and Kafka are held
// to one behaviour: ordering within a partition, Kafka's key → partition
// mapping, dense offsets, bounded and blocking reads, consumer-group
// division and resumption from committed offsets, retention, and the
// partition sizes of backends that implement log.Sizer.
//
// A backend's test calls Run with a Harness:
//
//	func TestConformance(t *testing.T) {
//		logtest.Run(t, logtest.Harness{Open: func(t *testing.T) log.Log { ... }})
//	}
package logtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flintml/flint/log"
)

// Harness tells the suite how to reach a backend.
type Harness struct {
	// Open returns a log for one test. Tests name their own topics and
	// groups uniquely, so Open may return clients of one shared store.
	// The suite closes what Open returns unless it was passed to Reopen.
	Open func(t *testing.T) log.Log
	// Reopen closes l and opens the same storage again, as a process
	// restart would. Required.
	Reopen func(t *testing.T, l log.Log) log.Log
	// EnforceRetention makes the backend apply retention now. Nil means the
	// backend cannot be made to (tests of retention are then skipped, saying
	// why).
	EnforceRetention func(t *testing.T, l log.Log)
	// NoRetentionReason is printed when EnforceRetention is nil.
	NoRetentionReason string
}

// Run runs the whole suite as subtests of t.
func Run(t *testing.T, h Harness) {
	if h.Open == nil || h.Reopen == nil {
		t.Fatal("logtest: Harness.Open and Harness.Reopen are required")
	}
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"Topics", testTopics},
		{"AppendThenReadInOrder", testAppendThenRead},
		{"EmptyIsNotNull", testEmptyIsNotNull},
		{"SameKeySamePartition", testSameKeySamePartition},
		{"UnkeyedStickyPerAppend", testUnkeyedSticky},
		{"ReadBounds", testReadBounds},
		{"ReadOutOfRange", testReadOutOfRange},
		{"BlockingRead", testBlockingRead},
		{"OffsetForTime", testOffsetForTime},
		{"ConcurrentAppends", testConcurrentAppends},
		{"CanceledContext", testCanceledContext},
		{"SurvivesReopen", testSurvivesReopen},
		{"GroupDivision", testGroupDivision},
		{"GroupResumeFromCommitted", testGroupResume},
		{"GroupRedeliversUncommitted", testGroupRedelivers},
		{"GroupStartLatest", testGroupStartLatest},
		{"RetentionBytes", testRetentionBytes},
		{"RetentionAge", testRetentionAge},
		{"PartitionSizes", testPartitionSizes},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, h) })
	}
}

// open returns a log that is closed when the test ends.
func open(t *testing.T, h Harness) *holder {
	t.Helper()
	hl := &holder{l: h.Open(t)}
	t.Cleanup(func() {
		if err := hl.l.Close(); err != nil && !errors.Is(err, log.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return hl
}

// holder keeps the current log across a Reopen.
type holder struct{ l log.Log }

func (hl *holder) reopen(t *testing.T, h Harness) { hl.l = h.Reopen(t, hl.l) }

// name returns a topic or group name unique to the test.
func name(t *testing.T, suffix string) string {
	n := strings.NewReplacer("/", ".", " ", "_", "#", "_").Replace(t.Name())
	n = fmt.Sprintf("%s.%s.%d", n, suffix, time.Now().UnixNano()%1e9)
	if len(n) > 200 {
		n = n[len(n)-200:]
	}
	return n
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustCreate(t *testing.T, l log.Log, topic string, cfg log.TopicConfig) {
	t.Helper()
	if err := l.CreateTopic(ctxT(t), topic, cfg); err != nil {
		t.Fatalf("CreateTopic(%s): %v", topic, err)
	}
}

func mustAppend(t *testing.T, l log.Log, topic string, recs []log.Record) {
	t.Helper()
	if err := l.Append(ctxT(t), topic, recs); err != nil {
		t.Fatalf("Append(%s, %d records): %v", topic, len(recs), err)
	}
}

// readAll reads a partition from offset to its high watermark.
func readAll(t *testing.T, l log.Log, topic string, p int, from int64) []log.Record {
	t.Helper()
	ctx := ctxT(t)
	info, err := l.Offsets(ctx, topic, p)
	if err != nil {
		t.Fatalf("Offsets(%s/%d): %v", topic, p, err)
	}
	var out []log.Record
	for off := from; off < info.Latest; {
		recs, err := l.Read(ctx, topic, p, off, log.ReadOptions{Wait: time.Second})
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

func keyed(prefix string, n int, valueSize int) []log.Record {
	recs := make([]log.Record, n)
	for i := range recs {
		v := bytes.Repeat([]byte{byte('a' + i%26)}, valueSize)
		copy(v, fmt.Sprintf("%s-%d", prefix, i))
		recs[i] = log.Record{Key: []byte(fmt.Sprintf("%s-key-%d", prefix, i%37)), Value: v}
	}
	return recs
}

func testTopics(t *testing.T, h Harness) {
	l := open(t, h).l
	ctx := ctxT(t)
	topic := name(t, "t")
	mustCreate(t, l, topic, log.TopicConfig{Partitions: 3})
	if err := l.CreateTopic(ctx, topic, log.TopicConfig{Partitions: 3}); !errors.Is(err, log.ErrTopicExists) {
		t.Fatalf("second CreateTopic(%s) = %v, want ErrTopicExists", topic, err)
	}
	if err := l.CreateTopic(ctx, "bad/name", log.TopicConfig{Partitions: 1}); err == nil {
		t.Fatal("CreateTopic(bad/name) succeeded")
	}
	topics, err := l.Topics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(topics, topic) {
		t.Fatalf("Topics() = %v, missing %s", topics, topic)
	}
	if !slices.IsSorted(topics) {
		t.Fatalf("Topics() not sorted: %v", topics)
	}
	info, err := l.Describe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != topic || len(info.Partitions) != 3 {
		t.Fatalf("Describe = %+v, want 3 partitions of %s", info, topic)
	}
	for i, p := range info.Partitions {
		if p.ID != i || p.Earliest != 0 || p.Latest != 0 {
			t.Fatalf("new topic partition %d = %+v, want id %d offsets 0..0", i, p, i)
		}
	}
	if _, err := l.Describe(ctx, name(t, "missing")); !errors.Is(err, log.ErrUnknownTopic) {
		t.Fatalf("Describe(missing) = %v, want ErrUnknownTopic", err)
	}
	if _, err := l.Read(ctx, name(t, "missing"), 0, 0, log.ReadOptions{}); !errors.Is(err, log.ErrUnknownTopic) {
		t.Fatalf("Read(missing topic) = %v, want ErrUnknownTopic", err)
	}
	if _, err := l.Read(ctx, topic, 7, 0, log.ReadOptions{}); !errors.Is(err, log.ErrUnknownPartition) {
		t.Fatalf("Read(partition 7 of 3) = %v, want ErrUnknownPartition", err)
	}
}

func testAppendThenRead(t *testing.T, h Harness) {
	l := open(t, h).l
	topic := name(t, "t")
	const parts = 4
	mustCreate(t, l, topic, log.TopicConfig{Partitions: parts})
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var all []log.Record
	for batch := 0; batch < 5; batch++ {
		recs := keyed(fmt.Sprintf("b%d", batch), 200, 40)
		for i := range recs {
			recs[i].Time = base.Add(time.Duration(batch*1000+i) * time.Millisecond)
			recs[i].Headers = []log.Header{{Key: "batch", Value: []byte{byte(batch)}}, {Key: "i", Value: []byte(fmt.Sprint(i))}}
		}
		mustAppend(t, l, topic, recs)
		all = append(all, recs...)
	}
	// Offsets are dense per partition, in append order.
	next := make([]int64, parts)
	want := make([][]log.Record, parts)
	for _, r := range all {
		if r.Topic != topic {
			t.Fatalf("Append set Topic %q, want %q", r.Topic, topic)
		}
		if r.Offset != next[r.Partition] {
			t.Fatalf("record %q got %s/%d offset %d, want %d (offsets must be dense, in append order)", r.Value, topic, r.Partition, r.Offset, next[r.Partition])
		}
		next[r.Partition]++
		want[r.Partition] = append(want[r.Partition], r)
	}
	for p := 0; p < parts; p++ {
		got := readAll(t, l, topic, p, 0)
		if len(got) != len(want[p]) {
			t.Fatalf("partition %d: read %d records, appended %d", p, len(got), len(want[p]))
		}
		for i := range got {
			equalRecord(t, got[i], want[p][i])
		}
	}
}

// testEmptyIsNotNull appends keys, values and header values that are
// empty and others that are null (nil), and reads each back at every
// position of a read, the first bytes of a read included: empty stays empty
// and non-nil, null stays nil.
func testEmptyIsNotNull(t *testing.T, h Harness) {
	l := open(t, h).l
	topic := name(t, "t")
	mustCreate(t, l, topic, log.TopicConfig{Partitions: 1})
	empty := []byte{}
	recs := []log.Record{
		{Key: nil, Value: empty},
		{Key: empty, Value: []byte("x")},
		{Key: []byte("k"), Value: nil},
		{Key: empty, Value: empty, Headers: []log.Header{{Key: "e", Value: empty}, {Key: "n", Value: nil}, {Key: "", Value: []byte("v")}}},
		{Key: nil, Value: nil, Headers: []log.Header{{Key: "n", Value: nil}, {Key: "e", Value: empty}}},
	}
	want := slices.Clone(recs)
	mustAppend(t, l, topic, recs)
	nullness := func(b []byte) string {
		if b == nil {
			return "null"
		}
		return fmt.Sprintf("%q", b)
	}
	check := func(got log.Record, want log.Record) {
		t.Helper()
		if nullness(got.Key) != nullness(want.Key) || nullness(got.Value) != nullness(want.Value) {
			t.Fatalf("offset %d: read key %s value %s, want key %s value %s",
				got.Offset, nullness(got.Key), nullness(got.Value), nullness(want.Key), nullness(want.Value))
		}
		if len(got.Headers) != len(want.Headers) {
			t.Fatalf("offset %d: read %d headers, want %d", got.Offset, len(got.Headers), len(want.Headers))
		}
		for i := range got.Headers {
			g, w := got.Headers[i], want.Headers[i]
			if g.Key != w.Key || nullness(g.Value) != nullness(w.Value) {
				t.Fatalf("offset %d: header %d = %q:%s, want %q:%s", got.Offset, i, g.Key, nullness(g.Value), w.Key, nullness(w.Value))
			}
		}
	}
	// Each record first in its own read, then all in one read.
	for from := int64(0); from < int64(len(want)); from++ {
		got := readAll(t, l, topic, 0, from)
		if len(got) != len(want)-int(from) {
			t.Fatalf("read from %d: %d records, want %d", from, len(got), len(want)-int(from))
		}
		for i := range got {
			check(got[i], want[int(from)+i])
		}
		one, err := l.Read(ctxT(t), topic, 0, from, log.ReadOptions{MaxRecords: 1})
		if err != nil || len(one) != 1 {
			t.Fatalf("Read(%s/0 @%d, 1 record) = %d records, %v", topic, from, len(one), err)
		}
		check(one[0], want[from])
	}
}

func equalRecord(t *testing.T, got, want log.Record) {
	t.Helper()
	if got.Topic != want.Topic || got.Partition != want.Partition || got.Offset != want.Offset {
		t.Fatalf("read %s/%d@%d, want %s/%d@%d", got.Topic, got.Partition, got.Offset, want.Topic, want.Partition, want.Offset)
	}
	if !bytes.Equal(got.Key, want.Key) || !bytes.Equal(got.Value, want.Value) {
		t.Fatalf("%s/%d@%d: read key %q value %q, want %q %q", got.Topic, got.Partition, got.Offset, got.Key, got.Value, want.Key, want.Value)
	}
	if !got.Time.Equal(want.Time) {
		t.Fatalf("%s/%d@%d: read time %v, want %v", got.Topic, got.Partition, got.Offset, got.Time, want.Time)
	}
	if len(got.Headers) != len(want.Headers) {
		t.Fatalf("%s/%d@%d: read %d headers, want %d", got.Topic, got.Partition, got.Offset, len(got.Headers), len(want.Headers))
	}
	for i := range got.Headers {
		if got.Headers[i].Key != want.Headers[i].Key || !bytes.Equal(got.Headers[i].Value, want.Headers[i].Value) {
			t.Fatalf("%s/%d@%d: header %d = %q:%q, want %q:%q", got.Topic, got.Partition, got.Offset, i,
				got.Headers[i].Key, got.Headers[i].Value, want.Headers[i].Key, want.Headers[i].Value)
		}
	}
}

func testSameKeySamePartition(t *testing.T, h Harness) {
	l := open(t, h).l
	for _, parts := range []int{1, 3, 8} {
		topic := name(t, fmt.Sprintf("p%d", parts))
		mustCreate(t, l, topic, log.TopicConfig{Partitions: parts})
		recs := make([]log.Record, 300)
		for i := range recs {
			recs[i] = log.Record{Key: []byte(fmt.Sprintf("user-%d", i%60)), Value: []byte(fmt.Sprint(i))}
		}
		// Include Kafka's own test vectors among the keys.
		recs = append(recs, log.Record{Key: []byte("foobar"), Value: []byte("v")}, log.Record{Key: []byte{}, Value: []byte("empty key")})
		mustAppend(t, l, topic, recs)
		for _, r := range recs {
			if want := log.Partition(r.Key, parts); r.Partition != want {
				t.Fatalf("%d partitions: key %q went to partition %d, Kafka's partitioner says %d", parts, r.Key, r.Partition, want)
			}
		}
		// And what was read back sits there too.
		for p := 0; p < parts; p++ {
			for _, r := range readAll(t, l, topic, p, 0) {
				if want := log.Partition(r.Key, parts); p != want {
					t.Fatalf("key %q read from partition %d, want %d", r.Key, p, want)
				}
			}
		}
	}
}

func testUnkeyedSticky(t *testing.T, h Harness) {
	l := open(t, h).l
	topic := name(t, "t")
	mustCreate(t, l, topic, log.TopicConfig{Partitions: 4})
	used := map[int]bool{}
	for call := 0; call < 8; call++ {
		recs := make([]log.Record, 10)
		for i := range recs {
			recs[i].Value = []byte(fmt.Sprintf("call %d rec %d", call, i))
		}
		mustAppend(t, l, topic, recs)
		for _, r := range recs[1:] {
			if r.Partition != recs[0].Partition {
				t.Fatalf("unkeyed records of one Append went to partitions %d and %d", recs[0].Partition, r.Partition)
			}
		}
		used[recs[0].Partition] = true
	}
	if len(used) < 2 {
		t.Fatalf("8 Append calls of unkeyed records all went to partition(s) %v; they should rotate", used)
	}
}

func testReadBounds(t *testing.T, h Harness) {
	l := open(t, h).l
	ctx := ctxT(t)
	topic := name(t, "t")
	mustCreate(t, l, topic, log.TopicConfig{Partitions: 1})
	recs := make([]log.Record, 50)
	for i := range recs {
		recs[i].Value = bytes.Repeat([]byte{'x'}, 100)
	}
	recs[0].Value = bytes.Repeat([]byte{'B'}, 5000) // bigger than the byte bound below
	mustAppend(t, l, topic, recs)

	got, err := l.Read(ctx, topic, 0, 10, log.ReadOptions{MaxRecords: 7})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 7 || got[0].Offset != 10 || got[6].Offset != 16 {
		t.Fatalf("Read(@10, MaxRecords 7) = %d records from %v, want offsets 10..16", len(got), offsets(got))
	}
	got, err = l.Read(ctx, topic, 0, 0, log.ReadOptions{MaxBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Offset != 0 || len(got[0].Value) != 5000 {
		t.Fatalf("Read(@0, MaxBytes 1000) with a 5000-byte first record = offsets %v, want just offset 0 (the first record is always returned)", offsets(got))
	}
	got, err = l.Read(ctx, topic, 0, 1, log.ReadOptions{MaxBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, r := range got {
		total += r.Size()
	}
	if len(got) == 0 || total > 1000 || got[0].Offset != 1 {
		t.Fatalf("Read(@1, MaxBytes 1000) = %d records, %d bytes from %v; want 1..10 records of at most 1000 bytes from offset 1", len(got), total, offsets(got))
	}
	// Records are contiguous.
	for i := range got {
		if got[i].Offset != int64(1+i) {
			t.Fatalf("Read returned offsets %v, want contiguous from 1", offsets(got))
		}
	}
}

func offsets(recs []log.Record) []int64 {
	o := make([]int64, len(recs))
	for i, r := range recs {
		o[i] = r.Offset
	}
	return o
}

func testReadOutOfRange(t *testing.T, h Harness) {
	l := open(t, h).l
	ctx := ctxT(t)
	topic := name(t, "t")
	mustCreate(t, l, topic, log.TopicConfig{Partitions: 1})
	mustAppend(t, l, topic, keyed("r", 5, 10))
	_, err := l.Read(ctx, topic, 0, 6, log.ReadOptions{})
	var oor *log.OffsetOutOfRangeError
	if !errors.Is(err, log.ErrOffsetOutOfRange) || !errors.As(err, &oor) {
		t.Fatalf("Read past the end = %v, want *OffsetOutOfRangeError", err)
	}
	if oor.Latest != 5 || oor.Earliest != 0 || oor.Offset != 6 {
		t.Fatalf("OffsetOutOfRangeError = %+v, want offset 6, earliest 0, latest 5", *oor)
	}
	start := time.Now()
	got, err := l.Read(ctx, topic, 0, 5, log.ReadOptions{})
	if err != nil || len(got) != 0 {
		t.Fatalf("Read at the high watermark without Wait = %d records, %v; want none, nil", len(got), err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Read at the high watermark without Wait blocked for %v", d)
	}
	if _, err := l.Read(ctx, topic, 0, -1, log.ReadOptions{}); !errors.Is(err, log.ErrOffsetOutOfRange) {
		t.Fatalf("Read(@-1) = %v, want ErrOffsetOutOfRange", err)
	}
}

func testBlockingRead(t *testing.T, h Harness) {
	l := open(t, h).l
	ctx := ctxT(t)
	topic := name(t, "t")
	mustCreate(t, l, topic, log.TopicConfig{Partitions: 1})

	// Times out with nothing.
	const wait = 300 * time.Millisecond
	start := time.Now()
	got, err := l.Read(ctx, topic, 0, 0, log.ReadOptions{Wait: wait})
	if err != nil || len(got) != 0 {
		t.Fatalf("blocking Read on an empty partition = %d records, %v; want none, nil", len(got), err)
	}
	if d := time.Since(start); d < wait/2 {
		t.Fatalf("blocking Read with Wait %v returned after %v: it did not wait", wait, d)
	}

	// Wakes up for an append.
	type result struct {
		recs []log.Record
		err  error
	}
	done := make(chan result, 1)
	go func() {
		recs, err := l.Read(ctx, topic, 0, 0, log.ReadOptions{Wait: 30 * time.Second})
		done <- result{recs, err}
	}()
	time.Sleep(100 * time.Millisecond)
	mustAppend(t, l, topic, []log.Record{{Value: []byte("wake up")}})
	select {
	case r := <-done:
		if r.err != nil || len(r.recs) != 1 || string(r.recs[0].Value) != "wake up" {
			t.Fatalf("blocking Read woke with %d records, %v", len(r.recs), r.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("blocking Read did not return after an append")
	}
}

func testOffsetForTime(t *testing.T, h Harness) {
	l := open(t, h).l
	ctx := ctxT(t)
	topic := name(t, "t")
	mustCreate(t, l, topic, log.TopicConfig{Partitions: 1})
	t0 := time.Now().Add(-24 * time.Hour).Truncate(time.Millisecond)
	recs := make([]log.Record, 20)
	for i := range recs {
		recs[i] = log.Record{Value: []byte(fmt.Sprint(i)), Time: t0.Add(time.Duration(i) * time.Second)}
	}
	mustAppend(t, l, topic, recs[:10])
	mustAppend(t, l, topic, recs[10:])
	cases := []struct {
		at   time.Time
		want int64
	}{
		{t0.Add(-time.Hour), 0},
		{t0, 0},
		{t0.Add(5500 * time.Millisecond), 6},
		{t0.Add(12 * time.Second), 12},
		{t0.Add(19 * time.Second), 19},
		{t0.Add(time.Minute), 20},
	}
	for _, c := range cases {
		got, err := l.OffsetForTime(ctx, topic, 0, c.at)
		if err != nil {
			t.Fatalf("OffsetForTime(%v): %v", c.at.Sub(t0), err)
		}
		if got != c.want {
			t.Errorf("OffsetForTime(t0+%v) = %d, want %d", c.at.Sub(t0), got, c.want)
		}
	}
}

func testConcurrentAppends(t *testing.T, h Harness) {
	l := open(t, h).l
	topic := name(t, "t")
	const parts, writers, perWriter, batch = 3, 6, 200, 20
	mustCreate(t, l, topic, log.TopicConfig{Partitions: parts})
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWriter; i += batch {
				recs := make([]log.Record, batch)
				for j := range recs {
					recs[j] = log.Record{Key: []byte(fmt.Sprintf("w%d-%d", w, (i+j)%5)), Value: []byte(fmt.Sprintf("w%d-%d", w, i+j))}
				}
				if err := l.Append(context.Background(), topic, recs); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Append: %v", err)
	}
	seen := map[string]bool{}
	lastPerWriterKey := map[string]int{}
	for p := 0; p < parts; p++ {
		for i, r := range readAll(t, l, topic, p, 0) {
			if r.Offset != int64(i) {
				t.Fatalf("partition %d: offset %d at position %d; offsets must be dense", p, r.Offset, i)
			}
			v := string(r.Value)
			if seen[v] {
				t.Fatalf("record %q appears twice", v)
			}
			seen[v] = true
			// Within one writer and key, append order is preserved.
			var w, n int
			fmt.Sscanf(v, "w%d-%d", &w, &n)
			k := string(r.Key)
			if last, ok := lastPerWriterKey[k]; ok && n <= last {
				t.Fatalf("key %s: record %d read after %d; order within a partition was lost", k, n, last)
			}
			lastPerWriterKey[k] = n
		}
	}
	if len(seen) != writers*perWriter {
		t.Fatalf("read %d distinct records, appended %d", len(seen), writers*perWriter)
	}
}

func testCanceledContext(t *testing.T, h Harness) {
	l := open(t, h).l
	topic := name(t, "t")
	mustCreate(t, l, topic, log.TopicConfig{Partitions: 1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := l.Read(ctx, topic, 0, 0, log.ReadOptions{Wait: time.Minute})
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("blocking Read after cancel = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("blocking Read ignored its context's cancellation")
	}
	if err := l.Append(ctx, topic, []log.Record{{Value: []byte("x")}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Append with a canceled context = %v, want context.Canceled", err)
	}
}

func testSurvivesReopen(t *testing.T, h Harness) {
	hl := open(t, h)
	topic := name(t, "t")
	mustCreate(t, hl.l, topic, log.TopicConfig{Partitions: 2})
	recs := keyed("s", 100, 30)
	mustAppend(t, hl.l, topic, recs)
	hl.reopen(t, h)
	info, err := hl.l.Describe(ctxT(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Partitions) != 2 {
		t.Fatalf("after reopen %s has %d partitions, want 2", topic, len(info.Partitions))
	}
	n := 0
	for p := 0; p < 2; p++ {
		n += len(readAll(t, hl.l, topic, p, 0))
	}
	if n != 100 {
		t.Fatalf("after reopen read %d records, want 100", n)
	}
	more := keyed("s2", 10, 30)
	mustAppend(t, hl.l, topic, more)
	for _, r := range more {
		if r.Offset < 1 {
			t.Fatalf("append after reopen reused offset %d", r.Offset)
		}
	}
}

// --- consumer groups ---

func join(t *testing.T, l log.Log, group string, start log.StartAt, topics ...string) log.Consumer {
	t.Helper()
	c, err := l.JoinGroup(ctxT(t), log.GroupConfig{Group: group, Topics: topics, StartAt: start})
	if err != nil {
		t.Fatalf("JoinGroup(%s): %v", group, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// pollUntil polls every consumer until cond holds, failing after a timeout.
// Records polled are handed to each consumer's collector.
func pollUntil(t *testing.T, what string, cs []log.Consumer, got [][]log.Record, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			as := make([][]log.TopicPartition, len(cs))
			for i, c := range cs {
				as[i] = c.Assignment()
			}
			t.Fatalf("timed out waiting for %s; assignments %v", what, as)
		}
		for i, c := range cs {
			recs, err := c.Poll(ctxT(t), log.ReadOptions{Wait: 50 * time.Millisecond})
			if err != nil {
				t.Fatalf("Poll: %v", err)
			}
			if got != nil {
				got[i] = append(got[i], recs...)
			}
		}
	}
}

func testGroupDivision(t *testing.T, h Harness) {
	l := open(t, h).l
	topic := name(t, "t")
	group := name(t, "g")
	mustCreate(t, l, topic, log.TopicConfig{Partitions: 4})
	a := join(t, l, group, log.StartEarliest, topic)
	pollUntil(t, "the only member to own all 4 partitions", []log.Consumer{a}, nil, func() bool { return len(a.Assignment()) == 4 })

	b := join(t, l, group, log.StartEarliest, topic)
	pollUntil(t, "two members to split 4 partitions", []log.Consumer{a, b}, nil, func() bool {
		pa, pb := a.Assignment(), b.Assignment()
		if len(pa) == 0 || len(pb) == 0 || len(pa)+len(pb) != 4 {
			return false
		}
		all := map[log.TopicPartition]bool{}
		for _, p := range append(pa, pb...) {
			all[p] = true
		}
		return len(all) == 4
	})
	pa, pb := a.Assignment(), b.Assignment()
	if len(pa) != 2 || len(pb) != 2 {
		t.Errorf("4 partitions over 2 members split %d/%d, want 2/2", len(pa), len(pb))
	}
	// A commit for a partition the rebalance gave away is refused, so the
	// new owner's position never moves.
	stale := log.Record{Topic: pb[0].Topic, Partition: pb[0].Partition, Offset: 41}
	if err := a.Commit(ctxT(t), stale); !errors.Is(err, log.ErrNotAssigned) {
		t.Fatalf("commit of %v by a member that lost it = %v, want ErrNotAssigned", pb[0], err)
	}
	if c, _ := l.Committed(ctxT(t), group, topic); c[pb[0].Partition] == 42 {
		t.Fatalf("a stale member's commit moved %v to 42", pb[0])
	}

	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	pollUntil(t, "the remaining member to take all 4 partitions back", []log.Consumer{a}, nil, func() bool { return len(a.Assignment()) == 4 })
	if _, err := b.Poll(ctxT(t), log.ReadOptions{}); err == nil {
		t.Fatal("Poll on a closed consumer succeeded")
	}
}

func consumeN(t *testing.T, c log.Consumer, n int) []log.Record {
	t.Helper()
	got := make([][]log.Record, 1)
	pollUntil(t, fmt.Sprintf("%d records", n), []log.Consumer{c}, got, func() bool { return len(got[0]) >= n })
	return got[0]
}

func testGroupResume(t *testing.T, h Harness) {
	hl := open(t, h)
	ctx := ctxT(t)
	topic := name(t, "t")
	group := name(t, "g")
	mustCreate(t, hl.l, topic, log.TopicConfig{Partitions: 3})
	first := keyed("first", 90, 20)
	mustAppend(t, hl.l, topic, first)

	c := join(t, hl.l, group, log.StartEarliest, topic)
	got := consumeN(t, c, 90)
	if len(got) != 90 {
		t.Fatalf("consumed %d records, want 90", len(got))
	}
	if err := c.Commit(ctx, got...); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	// Committed offsets survive a restart of the log.
	hl.reopen(t, h)
	committed, err := hl.l.Committed(ctx, group, topic)
	if err != nil {
		t.Fatal(err)
	}
	for p := 0; p < 3; p++ {
		info, err := hl.l.Offsets(ctx, topic, p)
		if err != nil {
			t.Fatal(err)
		}
		if committed[p] != info.Latest {
			t.Fatalf("after reopen, committed offset of partition %d = %d (map %v), want %d", p, committed[p], committed, info.Latest)
		}
	}
	groups, err := hl.l.Groups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(groups, group) {
		t.Fatalf("Groups() = %v, missing %s", groups, group)
	}

	second := keyed("second", 30, 20)
	mustAppend(t, hl.l, topic, second)
	c2 := join(t, hl.l, group, log.StartEarliest, topic)
	got2 := consumeN(t, c2, 30)
	// Give a straggler a chance to show up: nothing from the first batch may.
	extra, err := c2.Poll(ctx, log.ReadOptions{Wait: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	got2 = append(got2, extra...)
	if len(got2) != 30 {
		t.Fatalf("resumed member got %d records, want exactly the 30 appended after the commit", len(got2))
	}
	for _, r := range got2 {
		if !bytes.HasPrefix(r.Value, []byte("second")) {
			t.Fatalf("resumed member got %q, committed before the restart", r.Value)
		}
	}
}

func testGroupRedelivers(t *testing.T, h Harness) {
	l := open(t, h).l
	topic := name(t, "t")
	group := name(t, "g")
	mustCreate(t, l, topic, log.TopicConfig{Partitions: 2})
	mustAppend(t, l, topic, keyed("r", 40, 10))
	c := join(t, l, group, log.StartEarliest, topic)
	got := consumeN(t, c, 40)
	// Commit only the first half of each partition.
	byPart := map[int][]log.Record{}
	for _, r := range got {
		byPart[r.Partition] = append(byPart[r.Partition], r)
	}
	var commit []log.Record
	uncommitted := 0
	for _, rs := range byPart {
		commit = append(commit, rs[:len(rs)/2]...)
		uncommitted += len(rs) - len(rs)/2
	}
	if err := c.Commit(ctxT(t), commit...); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c2 := join(t, l, group, log.StartEarliest, topic)
	again := consumeN(t, c2, uncommitted)
	if len(again) != uncommitted {
		t.Fatalf("new member got %d records, want the %d that were never committed", len(again), uncommitted)
	}
	for p, rs := range byPart {
		want := rs[len(rs)/2:]
		var have []log.Record
		for _, r := range again {
			if r.Partition == p {
				have = append(have, r)
			}
		}
		if len(have) != len(want) || (len(want) > 0 && have[0].Offset != want[0].Offset) {
			t.Fatalf("partition %d redelivered offsets %v, want %v", p, offsets(have), offsets(want))
		}
	}
}

func testGroupStartLatest(t *testing.T, h Harness) {
	l := open(t, h).l
	topic := name(t, "t")
	group := name(t, "g")
	mustCreate(t, l, topic, log.TopicConfig{Partitions: 2})
	mustAppend(t, l, topic, keyed("old", 20, 10))
	c := join(t, l, group, log.StartLatest, topic)
	got := make([][]log.Record, 1)
	pollUntil(t, "an assignment", []log.Consumer{c}, got, func() bool { return len(c.Assignment()) == 2 })
	// One more poll so each partition's start position is resolved.
	if recs, err := c.Poll(ctxT(t), log.ReadOptions{Wait: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	} else {
		got[0] = append(got[0], recs...)
	}
	mustAppend(t, l, topic, keyed("new", 10, 10))
	pollUntil(t, "10 new records", []log.Consumer{c}, got, func() bool { return len(got[0]) >= 10 })
	for _, r := range got[0] {
		if !bytes.HasPrefix(r.Value, []byte("new")) {
			t.Fatalf("a StartLatest member received %q, appended before it joined", r.Value)
		}
	}
}

// --- retention ---

func retentionReady(t *testing.T, h Harness) {
	if h.EnforceRetention == nil {
		t.Skipf("retention cannot be forced on this backend: %s", h.NoRetentionReason)
	}
}

func checkRetained(t *testing.T, l log.Log, topic string, total int64) log.PartitionInfo {
	t.Helper()
	ctx := ctxT(t)
	info, err := l.Offsets(ctx, topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	if info.Latest != total {
		t.Fatalf("retention changed the high watermark to %d, want %d", info.Latest, total)
	}
	if info.Earliest <= 0 {
		t.Fatalf("retention removed nothing: earliest offset still %d", info.Earliest)
	}
	_, err = l.Read(ctx, topic, 0, 0, log.ReadOptions{})
	var oor *log.OffsetOutOfRangeError
	if !errors.As(err, &oor) {
		t.Fatalf("Read below the earliest offset = %v, want *OffsetOutOfRangeError", err)
	}
	if oor.Earliest != info.Earliest || !strings.Contains(err.Error(), fmt.Sprint(info.Earliest)) {
		t.Fatalf("error %q should name the earliest available offset %d", err, info.Earliest)
	}
	// Everything from the earliest offset on is intact.
	rest := readAll(t, l, topic, 0, info.Earliest)
	if int64(len(rest)) != total-info.Earliest || rest[0].Offset != info.Earliest {
		t.Fatalf("after retention read %d records from %d, want %d", len(rest), info.Earliest, total-info.Earliest)
	}
	return info
}

func testRetentionBytes(t *testing.T, h Harness) {
	retentionReady(t, h)
	l := open(t, h).l
	topic := name(t, "t")
	mustCreate(t, l, topic, log.TopicConfig{Partitions: 1, SegmentBytes: 4096, RetentionBytes: 16384})
	for i := 0; i < 20; i++ {
		mustAppend(t, l, topic, keyed(fmt.Sprintf("b%d", i), 20, 100)) // ~2.5 KB a call
	}
	h.EnforceRetention(t, l)
	info := checkRetained(t, l, topic, 400)
	// About 16 KB of 100-byte records must remain: not everything was dropped.
	if kept := info.Latest - info.Earliest; kept < 80 {
		t.Fatalf("retention of 16384 bytes kept only %d records of ~120 bytes", kept)
	}
}

func testRetentionAge(t *testing.T, h Harness) {
	retentionReady(t, h)
	l := open(t, h).l
	topic := name(t, "t")
	mustCreate(t, l, topic, log.TopicConfig{Partitions: 1, SegmentBytes: 4096, RetentionAge: time.Hour})
	old := time.Now().Add(-3 * time.Hour)
	for i := 0; i < 10; i++ {
		recs := keyed(fmt.Sprintf("old%d", i), 20, 100)
		for j := range recs {
			recs[j].Time = old
		}
		mustAppend(t, l, topic, recs)
	}
	for i := 0; i < 5; i++ {
		mustAppend(t, l, topic, keyed(fmt.Sprintf("new%d", i), 20, 100))
	}
	h.EnforceRetention(t, l)
	info := checkRetained(t, l, topic, 300)
	if info.Earliest > 200 {
		t.Fatalf("age retention of 1h removed records up to %d, but records from 200 on are new", info.Earliest)
	}
}
