package kafka

import (
	"context"
	"fmt"
	"testing"

	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/kafka/kafkatest"
)

// These benchmarks measure Flint's Kafka backend and kafka-go against the
// in-process fake broker (franz-go's kfake) on loopback, or the broker in
// FLINT_TEST_KAFKA when set. Against kfake they show the client's cost and
// catch regressions in it; they say nothing about a real Kafka cluster's
// throughput, which is bound by its disks, replication and network.
//
//	go test ./log/kafka -run '^$' -bench . -count 6 | tee new.txt; benchstat old.txt new.txt

const benchRecordSize = 100

func benchRecords(n int, keyed bool) []log.Record {
	recs := make([]log.Record, n)
	for i := range recs {
		recs[i].Value = make([]byte, benchRecordSize)
		if keyed {
			recs[i].Key = fmt.Appendf(nil, "key-%d", i%1000)
		}
	}
	return recs
}

// BenchmarkAppend appends batches of 1000 records of 100 bytes. Unkeyed,
// a batch is one produce request; keyed, it spreads over the 4 partitions
// and goes in 4 parallel requests.
func BenchmarkAppend(b *testing.B) {
	for _, keyed := range []bool{false, true} {
		b.Run(fmt.Sprintf("keyed=%v/batch=1000", keyed), func(b *testing.B) {
			l := openTest(b, testConfig(kafkatest.Brokers(b)))
			ctx := context.Background()
			topic := topicName(b, "bench")
			if err := l.CreateTopic(ctx, topic, log.TopicConfig{Partitions: 4}); err != nil {
				b.Fatal(err)
			}
			recs := benchRecords(1000, keyed)
			b.SetBytes(int64(len(recs) * benchRecordSize))
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				if err := l.Append(ctx, topic, recs); err != nil {
					b.Fatal(err)
				}
				n += len(recs)
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkRead reads 1000 records of 100 bytes per call from a partition
// holding 100,000, going round it: with fresh memory each read, and with
// the same ReadOptions.Buffer and Records passed again each read, as the
// cluster's loads do (reused=true).
func BenchmarkRead(b *testing.B) {
	const total, perRead = 100_000, 1000
	l := openTest(b, testConfig(kafkatest.Brokers(b)))
	ctx := context.Background()
	topic := topicName(b, "bench")
	if err := l.CreateTopic(ctx, topic, log.TopicConfig{Partitions: 1}); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < total; i += perRead {
		if err := l.Append(ctx, topic, benchRecords(perRead, false)); err != nil {
			b.Fatal(err)
		}
	}
	for _, reused := range []bool{false, true} {
		b.Run(fmt.Sprintf("reused=%v", reused), func(b *testing.B) {
			var buf []byte
			var recs []log.Record
			if reused {
				buf, recs = make([]byte, 0, 4<<20), make([]log.Record, 0, perRead)
			}
			b.SetBytes(perRead * benchRecordSize)
			b.ReportAllocs()
			n := 0
			var off int64
			for b.Loop() {
				got, err := l.Read(ctx, topic, 0, off, log.ReadOptions{MaxRecords: perRead, Buffer: buf, Records: recs})
				if err != nil {
					b.Fatal(err)
				}
				if len(got) != perRead {
					b.Fatalf("Read at %d returned %d records, want %d", off, len(got), perRead)
				}
				n += len(got)
				off = (off + perRead) % total
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
