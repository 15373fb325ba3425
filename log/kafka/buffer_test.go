package kafka

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"unsafe"

	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/kafka/kafkatest"
)

// TestReadIntoBufferAndRecords: a read given ReadOptions.Buffer and
// Records returns the same records as one without, with their values in
// the buffer when it is big enough (in memory of its own when it is not)
// and the records in Records' memory, over reads across several record
// batches; so a reader that passes both again, as the cluster's loads do,
// allocates neither per read.
func TestReadIntoBufferAndRecords(t *testing.T) {
	l := openTest(t, testConfig(kafkatest.Brokers(t)))
	ctx := context.Background()
	topic := topicName(t, "buffer")
	if err := l.CreateTopic(ctx, topic, log.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	const n = 300
	for lo := 0; lo < n; lo += 50 { // batches of 50: a read spans several
		var recs []log.Record
		for i := lo; i < lo+50; i++ {
			recs = append(recs, log.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("value %d of the buffered read", i))})
		}
		if err := l.Append(ctx, topic, recs); err != nil {
			t.Fatal(err)
		}
	}
	within := func(b, buf []byte) bool {
		p, lo := uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(unsafe.Pointer(unsafe.SliceData(buf[:1])))
		return p >= lo && p < lo+uintptr(cap(buf))
	}
	for _, c := range []struct {
		name   string
		size   int
		inside bool
	}{{"big enough", 1 << 20, true}, {"too small", 16, false}} {
		buf, records := make([]byte, 0, c.size), make([]log.Record, 0, 200)
		for off := int64(0); off < n; {
			plain, err := l.Read(ctx, topic, 0, off, log.ReadOptions{MaxRecords: 120})
			if err != nil {
				t.Fatal(err)
			}
			got, err := l.Read(ctx, topic, 0, off, log.ReadOptions{MaxRecords: 120, Buffer: buf, Records: records})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 || len(got) != len(plain) {
				t.Fatalf("%s: %d records at offset %d, %d without the buffer", c.name, len(got), off, len(plain))
			}
			if &got[0] != &records[:1][0] {
				t.Fatalf("%s: the records at offset %d are not in ReadOptions.Records' memory", c.name, off)
			}
			for i, r := range got {
				want := fmt.Sprintf("value %d of the buffered read", r.Offset)
				if r.Offset != plain[i].Offset || string(r.Value) != want || string(r.Key) != fmt.Sprint(r.Offset) {
					t.Fatalf("%s: record %d at offset %d holds %q %q, want offset %d, %q", c.name, i, r.Offset, r.Key, r.Value, plain[i].Offset, want)
				}
				if within(r.Value, buf) != c.inside {
					t.Fatalf("%s: the value at offset %d is in the buffer: %v, want %v", c.name, r.Offset, !c.inside, c.inside)
				}
			}
			off = got[len(got)-1].Offset + 1
		}
	}
}

// TestReadIntoBufferAcrossFetches: a read that takes several fetches (a
// fresh Log guesses small records, so its first fetches hold three of
// these 20 KB values each) appends each fetch's records after the ones
// before in Records, whatever Records' and Buffer's sizes, and returns the
// records a plain read does.
func TestReadIntoBufferAcrossFetches(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	ctx := context.Background()
	topic := topicName(t, "fetches")
	w := openTest(t, testConfig(brokers))
	if err := w.CreateTopic(ctx, topic, log.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	value := func(i int64) string { return fmt.Sprintf("%06d%s", i, strings.Repeat("v", 20<<10)) }
	const n = 60
	for lo := int64(0); lo < n; lo += 10 { // under the broker's largest message
		var recs []log.Record
		for i := lo; i < lo+10; i++ {
			recs = append(recs, log.Record{Value: []byte(value(i))})
		}
		if err := w.Append(ctx, topic, recs); err != nil {
			t.Fatal(err)
		}
	}
	const want = 40
	for _, records := range []int{0, 1, 7, 50} {
		for _, buffer := range []int{0, 100, 1 << 20} {
			l := openTest(t, testConfig(brokers)) // a fresh size estimate
			o := log.ReadOptions{MaxRecords: want, MaxBytes: 4 << 20}
			if records > 0 {
				o.Records = make([]log.Record, 0, records)
			}
			if buffer > 0 {
				o.Buffer = make([]byte, 0, buffer)
			}
			got, err := l.Read(ctx, topic, 0, 0, o)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != want {
				t.Fatalf("Records cap %d, Buffer cap %d: %d records, want %d", records, buffer, len(got), want)
			}
			for i, r := range got {
				if r.Offset != int64(i) || string(r.Value) != value(int64(i)) {
					t.Fatalf("Records cap %d, Buffer cap %d: record %d is offset %d with value %.10q…", records, buffer, i, r.Offset, r.Value)
				}
			}
		}
	}
}
