package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flintml/flint/log"
	kafkago "github.com/segmentio/kafka-go"
)

// keyBalancer places keyed records. kafka-go's Murmur2Balancer is Kafka's
// Java default partitioner (toPositive(murmur2(key)) % n); log.Partition is
// Flint's own copy of it, and the tests check that the two agree.
var keyBalancer = kafkago.Murmur2Balancer{}

// Append writes recs to topic: keyed records to the partition Kafka's
// default partitioner picks, unkeyed ones all to one partition that rotates
// from call to call. Each partition's records go in one produce request that
// waits for every in-sync replica (acks=all); the partitions are written in
// parallel. The offsets come from each produce response's base offset, so
// they are exact even when other writers append concurrently.
//
// If some partitions fail, Append returns their errors joined and the
// records of the other partitions are written (their fields are set).
func (l *Log) Append(ctx context.Context, topic string, recs []log.Record) error {
	if err := l.check(ctx); err != nil {
		return err
	}
	if err := log.ValidTopicName(topic); err != nil {
		return err
	}
	if len(recs) == 0 {
		return nil
	}
	for i := range recs {
		recs[i].Topic = "" // set again as each partition's records are acknowledged
	}
	t, err := l.ensureTopic(ctx, topic)
	if err != nil {
		return fmt.Errorf("kafka: append to %q: %w", topic, err)
	}
	n := len(t.Partitions)
	ids := make([]int, n)
	for i := range ids {
		ids[i] = i
	}

	// Place the records, and group their indexes by partition in order.
	byPart := map[int][]int{}
	sticky := -1
	for i := range recs {
		var p int
		if recs[i].Key != nil {
			p = keyBalancer.Balance(kafkago.Message{Key: recs[i].Key}, ids...)
		} else {
			if sticky < 0 {
				sticky = int((l.rotation(topic).Add(1) - 1) % uint32(n))
			}
			p = sticky
		}
		byPart[p] = append(byPart[p], i)
	}

	now := time.Now()
	if len(byPart) == 1 {
		for p, idx := range byPart {
			return l.produce(ctx, topic, p, recs, idx, now)
		}
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for p, idx := range byPart {
		wg.Go(func() {
			if err := l.produce(ctx, topic, p, recs, idx, now); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// rotation returns the counter that picks the partition of the next
// Append's unkeyed records in topic.
func (l *Log) rotation(topic string) *atomic.Uint32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.sticky[topic]
	if r == nil {
		r = new(atomic.Uint32)
		l.sticky[topic] = r
	}
	return r
}

// produce writes recs[i] for each i in idx to one partition in one request,
// and on success sets their Topic, Partition, Offset and Time. A zero Time
// becomes now; every time is cut to Kafka's millisecond precision, so the
// caller's records read back equal.
func (l *Log) produce(ctx context.Context, topic string, partition int, recs []log.Record, idx []int, now time.Time) error {
	times := make([]time.Time, len(idx))
	for j, i := range idx {
		ts := recs[i].Time
		if ts.IsZero() {
			ts = now
		}
		times[j] = msTime(ts)
	}
	// A batch's Bytes are readers that sending consumes, so each attempt
	// builds its own.
	batch := func() kafkago.RecordReader {
		b := make([]kafkago.Record, len(idx))
		for j, i := range idx {
			r := &recs[i]
			b[j] = kafkago.Record{Time: times[j], Key: bytesOrNil(r.Key), Value: bytesOrNil(r.Value)}
			if len(r.Headers) > 0 {
				hs := make([]kafkago.Header, len(r.Headers))
				for k, h := range r.Headers {
					hs[k] = kafkago.Header{Key: h.Key, Value: h.Value}
				}
				b[j].Headers = hs
			}
		}
		return kafkago.NewRecordReader(b...)
	}

	ctx, stop := l.bound(ctx, l.cfg.RequestTimeout)
	defer stop()
	backoff := retryBackoff
	for {
		sent := time.Now()
		res, err := l.client.Produce(ctx, &kafkago.ProduceRequest{
			Topic:        topic,
			Partition:    partition,
			RequiredAcks: kafkago.RequireAll,
			Records:      batch(),
		})
		if err == nil {
			err = res.Error
		}
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return fmt.Errorf("kafka: append %d records to %s/%d: %w", len(idx), topic, partition, ctxErr(ctx, err))
		case staleMetadata(err) || errors.Is(err, kafkago.NotEnoughReplicas) || errors.Is(err, kafkago.UnknownTopicOrPartition):
			// Refused before writing anything: safe to send again.
			l.logger.Debug("retrying produce", "topic", topic, "partition", partition, "err", err)
			l.refresh(sent)
			if err := pause(ctx, &backoff); err != nil {
				return fmt.Errorf("kafka: append %d records to %s/%d: %w", len(idx), topic, partition, err)
			}
			continue
		default:
			return fmt.Errorf("kafka: append %d records to %s/%d: %w", len(idx), topic, partition, err)
		}
		if len(res.RecordErrors) > 0 {
			return fmt.Errorf("kafka: append %d records to %s/%d: broker rejected records: %v", len(idx), topic, partition, res.RecordErrors)
		}
		appendTime := time.Time{}
		if !res.LogAppendTime.IsZero() {
			// The topic stamps records with the broker's clock
			// (message.timestamp.type=LogAppendTime).
			appendTime = msTime(res.LogAppendTime)
		}
		for j, i := range idx {
			r := &recs[i]
			r.Topic, r.Partition, r.Offset, r.Time = topic, partition, res.BaseOffset+int64(j), times[j]
			if !appendTime.IsZero() {
				r.Time = appendTime
			}
		}
		return nil
	}
}

// bytesOrNil wraps b for kafka-go, keeping nil (a null key or value)
// distinct from empty.
func bytesOrNil(b []byte) kafkago.Bytes {
	if b == nil {
		return nil
	}
	return kafkago.NewBytes(b)
}
