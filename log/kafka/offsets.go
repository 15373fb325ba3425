package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flintml/flint/log"
	kafkago "github.com/segmentio/kafka-go"
)

// Offsets returns the first offset still retained and the high watermark of
// a partition (ListOffsets with the earliest and latest timestamps).
func (l *Log) Offsets(ctx context.Context, topic string, partition int) (log.PartitionInfo, error) {
	if err := l.check(ctx); err != nil {
		return log.PartitionInfo{}, err
	}
	if _, err := l.partitionMeta(ctx, topic, partition); err != nil {
		return log.PartitionInfo{}, err
	}
	ctx, stop := l.bound(ctx, l.cfg.RequestTimeout)
	defer stop()
	r, err := l.offsetRanges(ctx, topic, []int{partition})
	if err != nil {
		return log.PartitionInfo{}, err
	}
	return r[0], nil
}

// offsetRanges looks up the earliest and latest offsets of the partitions
// ids of topic, in the order given.
func (l *Log) offsetRanges(ctx context.Context, topic string, ids []int) ([]log.PartitionInfo, error) {
	reqs := make([]kafkago.OffsetRequest, 0, 2*len(ids))
	for _, id := range ids {
		reqs = append(reqs, kafkago.FirstOffsetOf(id), kafkago.LastOffsetOf(id))
	}
	res, err := l.client.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("kafka: list offsets of %q: %w", topic, ctxErr(ctx, err))
	}
	byID := map[int]kafkago.PartitionOffsets{}
	for _, p := range res.Topics[topic] {
		byID[p.Partition] = p
	}
	out := make([]log.PartitionInfo, len(ids))
	for i, id := range ids {
		p, ok := byID[id]
		switch {
		case !ok:
			return nil, fmt.Errorf("kafka: list offsets of %s/%d: no answer from the broker", topic, id)
		case p.Error != nil:
			return nil, fmt.Errorf("kafka: list offsets of %s/%d: %w", topic, id, mapPartitionErr(p.Error))
		}
		out[i] = log.PartitionInfo{ID: id, Earliest: p.FirstOffset, Latest: p.LastOffset}
	}
	return out, nil
}

// OffsetForTime returns the first offset of partition whose record time is
// at or after t (ListOffsets by timestamp), or the high watermark if there
// is none.
func (l *Log) OffsetForTime(ctx context.Context, topic string, partition int, t time.Time) (int64, error) {
	if err := l.check(ctx); err != nil {
		return 0, err
	}
	if _, err := l.partitionMeta(ctx, topic, partition); err != nil {
		return 0, err
	}
	ctx, stop := l.bound(ctx, l.cfg.RequestTimeout)
	defer stop()
	// Kafka reads negative timestamps as "earliest" and "latest"; any time
	// before 1970 finds the first record anyway.
	ms := max(t.UnixMilli(), 0)
	res, err := l.client.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{topic: {
		{Partition: partition, Timestamp: ms},
		kafkago.LastOffsetOf(partition),
	}}})
	if err != nil {
		return 0, fmt.Errorf("kafka: offset of %s/%d at %v: %w", topic, partition, t, ctxErr(ctx, err))
	}
	for _, p := range res.Topics[topic] {
		if p.Partition != partition {
			continue
		}
		if p.Error != nil {
			return 0, fmt.Errorf("kafka: offset of %s/%d at %v: %w", topic, partition, t, mapPartitionErr(p.Error))
		}
		for off := range p.Offsets {
			if off >= 0 {
				return off, nil
			}
		}
		return p.LastOffset, nil
	}
	return 0, fmt.Errorf("kafka: offset of %s/%d at %v: no answer from the broker", topic, partition, t)
}

// outOfRange builds the error for a read of offset outside the partition,
// looking up the offsets that are available.
func (l *Log) outOfRange(ctx context.Context, topic string, partition int, offset int64) error {
	r, err := l.offsetRanges(ctx, topic, []int{partition})
	if err != nil {
		return fmt.Errorf("kafka: %s/%d: offset %d is out of range (%w); looking up the available range: %w", topic, partition, offset, log.ErrOffsetOutOfRange, err)
	}
	return &log.OffsetOutOfRangeError{Topic: topic, Partition: partition, Offset: offset, Earliest: r[0].Earliest, Latest: r[0].Latest}
}

// mapPartitionErr turns the error Kafka gave for one partition into the log
// sentinel it means, keeping Kafka's error in the message.
func mapPartitionErr(err error) error {
	switch {
	case errors.Is(err, kafkago.UnknownTopicOrPartition):
		return fmt.Errorf("%w (%v)", log.ErrUnknownPartition, err)
	case errors.Is(err, kafkago.OffsetOutOfRange):
		return fmt.Errorf("%w (%v)", log.ErrOffsetOutOfRange, err)
	}
	return err
}
