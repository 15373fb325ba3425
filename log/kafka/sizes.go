package kafka

import (
	"context"
	"fmt"

	"github.com/flintml/flint/log"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
)

// kafka-go has no DescribeLogDirs call (API key 35), so the request and
// response are declared here with kafka-go's protocol tags (versions 0 and
// 1, the ones without tagged fields; brokers from Kafka 1.0 answer them)
// and registered with its codec, as its own protocol packages do.
func init() { protocol.Register(&logDirsRequest{}, &logDirsResponse{}) }

type logDirsRequest struct {
	Topics []logDirsRequestTopic `kafka:"min=v0,max=v1"`

	broker int32 // where to send it
}

type logDirsRequestTopic struct {
	Topic      string  `kafka:"min=v0,max=v1"`
	Partitions []int32 `kafka:"min=v0,max=v1"`
}

func (r *logDirsRequest) ApiKey() protocol.ApiKey { return protocol.DescribeLogDirs }

// Broker sends the request to the broker whose replicas it asks about.
func (r *logDirsRequest) Broker(c protocol.Cluster) (protocol.Broker, error) {
	b, ok := c.Brokers[r.broker]
	if !ok {
		return protocol.Broker{}, fmt.Errorf("broker %d is not in the cluster's metadata", r.broker)
	}
	return b, nil
}

type logDirsResponse struct {
	ThrottleTimeMs int32              `kafka:"min=v0,max=v1"`
	Results        []logDirsResultDir `kafka:"min=v0,max=v1"`
}

type logDirsResultDir struct {
	ErrorCode int16                `kafka:"min=v0,max=v1"`
	LogDir    string               `kafka:"min=v0,max=v1"`
	Topics    []logDirsResultTopic `kafka:"min=v0,max=v1"`
}

type logDirsResultTopic struct {
	Name       string                   `kafka:"min=v0,max=v1"`
	Partitions []logDirsResultPartition `kafka:"min=v0,max=v1"`
}

type logDirsResultPartition struct {
	PartitionIndex int32 `kafka:"min=v0,max=v1"`
	PartitionSize  int64 `kafka:"min=v0,max=v1"`
	OffsetLag      int64 `kafka:"min=v0,max=v1"`
	IsFutureKey    bool  `kafka:"min=v0,max=v1"`
}

func (r *logDirsResponse) ApiKey() protocol.ApiKey { return protocol.DescribeLogDirs }

var _ log.Sizer = (*Log)(nil)

// PartitionSizes asks each partition's leader for the size of its replica
// (DescribeLogDirs). A partition the leader does not list, or lists only in
// a log directory that answered with an error, is -1: unknown. A leader
// that cannot be asked at all fails the call.
func (l *Log) PartitionSizes(ctx context.Context, topic string) ([]int64, error) {
	if err := l.check(ctx); err != nil {
		return nil, err
	}
	t, err := l.topicMeta(ctx, topic)
	if err != nil {
		return nil, err
	}
	ctx, stop := l.bound(ctx, l.cfg.RequestTimeout)
	defer stop()
	byLeader := map[int32][]int32{}
	n := 0
	for _, p := range t.Partitions {
		byLeader[int32(p.Leader.ID)] = append(byLeader[int32(p.Leader.ID)], int32(p.ID))
		n = max(n, p.ID+1)
	}
	sizes := make([]int64, n)
	for i := range sizes {
		sizes[i] = -1
	}
	for leader, ids := range byLeader {
		req := &logDirsRequest{broker: leader, Topics: []logDirsRequestTopic{{Topic: topic, Partitions: ids}}}
		m, err := l.client.Transport.RoundTrip(ctx, l.addr, req)
		if err != nil {
			return nil, fmt.Errorf("kafka: size of topic %q: describe log dirs of broker %d: %w", topic, leader, ctxErr(ctx, err))
		}
		res, ok := m.(*logDirsResponse)
		if !ok {
			return nil, fmt.Errorf("kafka: size of topic %q: describe log dirs of broker %d: unexpected response %T", topic, leader, m)
		}
		mine := map[int32]bool{}
		for _, id := range ids {
			mine[id] = true
		}
		for _, d := range res.Results {
			if d.ErrorCode != 0 {
				l.logger.Warn("kafka: a log directory did not give its size", "broker", leader, "dir", d.LogDir, "err", kafkago.Error(d.ErrorCode))
				continue
			}
			for _, rt := range d.Topics {
				if rt.Name != topic {
					continue
				}
				for _, rp := range rt.Partitions {
					if rp.IsFutureKey || !mine[rp.PartitionIndex] || int(rp.PartitionIndex) >= n {
						continue
					}
					sizes[rp.PartitionIndex] = max(sizes[rp.PartitionIndex], 0) + rp.PartitionSize
				}
			}
		}
	}
	return sizes, nil
}
