package kafka

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/kafka/kafkatest"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// topicName returns a topic or group name unique to the test.
func topicName(t testing.TB, suffix string) string {
	name := []byte(fmt.Sprintf("%s.%s.%d", t.Name(), suffix, time.Now().UnixNano()%1e9))
	for i, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			name[i] = '_'
		}
	}
	return string(name)
}

// kgoClient is an independent Kafka client, franz-go's, for checking that
// what Flint writes and reads is plain Kafka.
func kgoClient(t testing.TB, brokers []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestMurmur2BalancerAgreesWithPartition checks log.Partition against two
// implementations of Kafka's default partitioner that no one here wrote:
// kafka-go's Murmur2Balancer (what Append uses) and franz-go's sticky-key
// partitioner.
func TestMurmur2BalancerAgreesWithPartition(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	keys := [][]byte{{}, []byte("foobar"), []byte("a"), []byte("ab"), []byte("abc"), []byte("abcd"), {0xff, 0xfe, 0x80}}
	for range 5000 {
		k := make([]byte, rng.IntN(64))
		for i := range k {
			k[i] = byte(rng.UintN(256))
		}
		keys = append(keys, k)
	}
	for i := range 1000 {
		keys = append(keys, fmt.Appendf(nil, "user-%d", i))
	}
	counts := []int{1, 2, 3, 4, 5, 7, 8, 10, 12, 16, 31, 32, 64, 100, 255, 1000, 12345}
	franz := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	for _, n := range counts {
		ids := make([]int, n)
		for i := range ids {
			ids[i] = i
		}
		for _, k := range keys {
			want := log.Partition(k, n)
			if got := (kafkago.Murmur2Balancer{}).Balance(kafkago.Message{Key: k}, ids...); got != want {
				t.Fatalf("key %x, %d partitions: kafka-go's Murmur2Balancer says %d, log.Partition %d", k, n, got, want)
			}
			if got := franz.Partition(&kgo.Record{Key: k}, n); got != want {
				t.Fatalf("key %x, %d partitions: franz-go's partitioner says %d, log.Partition %d", k, n, got, want)
			}
		}
	}
}

// TestFlintToKgo appends with Flint and consumes with franz-go: every
// record is where Flint said, with its key, value, headers and time.
func TestFlintToKgo(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	l := openTest(t, testConfig(brokers))
	ctx := ctxFor(t)
	topic := topicName(t, "t")
	if err := l.CreateTopic(ctx, topic, log.TopicConfig{Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	var recs []log.Record
	for i := range 60 {
		r := log.Record{Value: fmt.Appendf(nil, "v%d", i), Time: base.Add(time.Duration(i) * time.Millisecond)}
		if i%6 != 0 {
			r.Key = fmt.Appendf(nil, "k%d", i%9)
			r.Headers = []log.Header{{Key: "i", Value: fmt.Appendf(nil, "%d", i)}, {Key: "nil", Value: nil}}
		}
		recs = append(recs, r)
	}
	recs = append(recs, log.Record{Key: []byte{}, Value: []byte{}}) // empty, not null
	for i := 0; i < len(recs); i += 20 {
		if err := l.Append(ctx, topic, recs[i:min(i+20, len(recs))]); err != nil {
			t.Fatal(err)
		}
	}
	want := map[[2]int64]log.Record{}
	for _, r := range recs {
		want[[2]int64{int64(r.Partition), r.Offset}] = r
	}

	cl := kgoClient(t, brokers, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := 0
	for got < len(recs) {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("franz-go consumed %d of %d records: %v", got, len(recs), err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("franz-go fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(kr *kgo.Record) {
			got++
			w, ok := want[[2]int64{int64(kr.Partition), kr.Offset}]
			if !ok {
				t.Fatalf("franz-go read %s/%d@%d, which Flint never reported", kr.Topic, kr.Partition, kr.Offset)
			}
			if !bytes.Equal(kr.Key, w.Key) || (kr.Key == nil) != (w.Key == nil) || !bytes.Equal(kr.Value, w.Value) {
				t.Fatalf("%d@%d: franz-go read key %q value %q, Flint wrote %q %q", kr.Partition, kr.Offset, kr.Key, kr.Value, w.Key, w.Value)
			}
			if !kr.Timestamp.Equal(w.Time) {
				t.Fatalf("%d@%d: franz-go read time %v, Flint set %v", kr.Partition, kr.Offset, kr.Timestamp, w.Time)
			}
			if len(kr.Headers) != len(w.Headers) {
				t.Fatalf("%d@%d: franz-go read %d headers, Flint wrote %d", kr.Partition, kr.Offset, len(kr.Headers), len(w.Headers))
			}
			for i, h := range kr.Headers {
				if h.Key != w.Headers[i].Key || !bytes.Equal(h.Value, w.Headers[i].Value) || (h.Value == nil) != (w.Headers[i].Value == nil) {
					t.Fatalf("%d@%d: header %d = %q:%q, Flint wrote %q:%q", kr.Partition, kr.Offset, i, h.Key, h.Value, w.Headers[i].Key, w.Headers[i].Value)
				}
			}
			if w.Key != nil && int(kr.Partition) != log.Partition(w.Key, 3) {
				t.Fatalf("key %q in partition %d, Kafka's partitioner says %d", w.Key, kr.Partition, log.Partition(w.Key, 3))
			}
		})
	}
}

// TestKgoToFlint produces with franz-go, into a topic franz-go created, and
// reads with Flint: the topic is found at once, keyed records sit where
// log.Partition says, and offsets, headers and times match.
func TestKgoToFlint(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	l := openTest(t, testConfig(brokers)) // its metadata cache predates the topic
	ctx := ctxFor(t)
	topic := topicName(t, "t")

	cl := kgoClient(t, brokers, kgo.DefaultProduceTopic(topic))
	ct := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, 5, 1
	ct.Topics = append(ct.Topics, rt)
	cres, err := ct.RequestWith(ctx, cl)
	if err != nil || cres.Topics[0].ErrorCode != 0 {
		t.Fatalf("franz-go CreateTopics: %v, %+v", err, cres)
	}

	info, err := l.Describe(ctx, topic)
	if err != nil {
		t.Fatalf("Describe of a topic another client just created: %v", err)
	}
	if len(info.Partitions) != 5 {
		t.Fatalf("Describe = %+v, want 5 partitions", info)
	}

	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var krs []*kgo.Record
	for i := range 50 {
		krs = append(krs, &kgo.Record{
			Key:       fmt.Appendf(nil, "user-%d", i%13),
			Value:     fmt.Appendf(nil, "v%d", i),
			Headers:   []kgo.RecordHeader{{Key: "h", Value: fmt.Appendf(nil, "%d", i)}},
			Timestamp: base.Add(time.Duration(i) * time.Second),
		})
	}
	if err := cl.ProduceSync(ctx, krs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	byPos := map[[2]int64]*kgo.Record{}
	for _, kr := range krs {
		if int(kr.Partition) != log.Partition(kr.Key, 5) {
			t.Fatalf("franz-go put key %q in partition %d, log.Partition says %d", kr.Key, kr.Partition, log.Partition(kr.Key, 5))
		}
		byPos[[2]int64{int64(kr.Partition), kr.Offset}] = kr
	}
	n := 0
	for p := range 5 {
		recs, err := l.Read(ctx, topic, p, 0, log.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range recs {
			kr := byPos[[2]int64{int64(p), r.Offset}]
			switch {
			case r.Offset != int64(i):
				t.Fatalf("partition %d: offset %d at position %d", p, r.Offset, i)
			case kr == nil:
				t.Fatalf("Flint read %d@%d, which franz-go never produced", p, r.Offset)
			case r.Topic != topic || r.Partition != p:
				t.Fatalf("record says %s/%d, read from %s/%d", r.Topic, r.Partition, topic, p)
			case !bytes.Equal(r.Key, kr.Key) || !bytes.Equal(r.Value, kr.Value):
				t.Fatalf("%d@%d: Flint read %q=%q, franz-go wrote %q=%q", p, r.Offset, r.Key, r.Value, kr.Key, kr.Value)
			case !r.Time.Equal(kr.Timestamp):
				t.Fatalf("%d@%d: Flint read time %v, franz-go wrote %v", p, r.Offset, r.Time, kr.Timestamp)
			case len(r.Headers) != 1 || r.Headers[0].Key != "h" || !bytes.Equal(r.Headers[0].Value, kr.Headers[0].Value):
				t.Fatalf("%d@%d: Flint read headers %v, franz-go wrote %v", p, r.Offset, r.Headers, kr.Headers)
			}
			n++
		}
	}
	if n != len(krs) {
		t.Fatalf("Flint read %d records, franz-go produced %d", n, len(krs))
	}
}

// TestGroupInterop commits with a Flint consumer group and reads the
// offsets back with franz-go's OffsetFetch, and the other way round.
func TestGroupInterop(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	l := openTest(t, testConfig(brokers))
	ctx := ctxFor(t)
	topic, group := topicName(t, "t"), topicName(t, "g")
	if err := l.CreateTopic(ctx, topic, log.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	recs := make([]log.Record, 10)
	for i := range recs {
		recs[i] = log.Record{Key: fmt.Appendf(nil, "k%d", i), Value: []byte("v")}
	}
	if err := l.Append(ctx, topic, recs); err != nil {
		t.Fatal(err)
	}
	c, err := l.JoinGroup(ctx, log.GroupConfig{Group: group, Topics: []string{topic}})
	if err != nil {
		t.Fatal(err)
	}
	var got []log.Record
	for len(got) < len(recs) {
		rs, err := c.Poll(ctx, log.ReadOptions{Wait: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, rs...)
	}
	if err := c.Commit(ctx, got...); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	for _, r := range recs {
		want[int32(r.Partition)] = max(want[int32(r.Partition)], r.Offset+1)
	}

	// Kafka 3.x wire versions: later ones address topics by ID.
	cl := kgoClient(t, brokers, kgo.MaxVersions(kversion.V3_9_0()))
	of := kmsg.NewPtrOffsetFetchRequest()
	of.Group = group
	ot := kmsg.NewOffsetFetchRequestTopic()
	ot.Topic, ot.Partitions = topic, []int32{0, 1}
	of.Topics = append(of.Topics, ot)
	ores, err := of.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range ores.Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != 0 || rp.Offset != want[rp.Partition] {
				t.Fatalf("franz-go OffsetFetch %s/%d = %d (error %d), want %d", rt.Topic, rp.Partition, rp.Offset, rp.ErrorCode, want[rp.Partition])
			}
		}
	}

	// And what another client commits, Committed reports.
	oc := kmsg.NewPtrOffsetCommitRequest()
	oc.Group, oc.Generation = group, -1
	ct := kmsg.NewOffsetCommitRequestTopic()
	ct.Topic = topic
	cp := kmsg.NewOffsetCommitRequestTopicPartition()
	cp.Partition, cp.Offset = 1, 1
	ct.Partitions = append(ct.Partitions, cp)
	oc.Topics = append(oc.Topics, ct)
	cres, err := oc.RequestWith(ctx, cl)
	if err != nil || cres.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("franz-go OffsetCommit: %v %+v", err, cres)
	}
	committed, err := l.Committed(ctx, group, topic)
	if err != nil {
		t.Fatal(err)
	}
	if committed[0] != want[0] || committed[1] != 1 {
		t.Fatalf("Committed = %v, want partition 0 at %d and 1 at 1", committed, want[0])
	}
}

func TestNewUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := New(ctx, Config{Brokers: []string{addr}})
	if err == nil {
		l.Close()
		t.Fatalf("New(%s) with nothing listening succeeded", addr)
	}
	if !strings.Contains(err.Error(), addr) {
		t.Fatalf("New error %q does not name the address %s", err, addr)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("New took %v to report a refused connection", d)
	}
	t.Logf("New: %v", err)

	if _, err := New(ctx, Config{}); err == nil || !strings.Contains(err.Error(), "Brokers") {
		t.Fatalf("New without brokers = %v, want an error naming Brokers", err)
	}
	if _, err := New(ctx, Config{Brokers: []string{"no-port"}}); err == nil || !strings.Contains(err.Error(), "Brokers[0]") {
		t.Fatalf("New with a bad address = %v, want an error naming Brokers[0]", err)
	}
}

// readBelow checks that reading below earliest fails naming it, and that
// reading from earliest returns the rest.
func readBelow(t *testing.T, l *Log, topic string, earliest, latest int64) {
	t.Helper()
	ctx := ctxFor(t)
	info, err := l.Offsets(ctx, topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	if info.Earliest != earliest || info.Latest != latest {
		t.Fatalf("Offsets = %+v, want %d..%d", info, earliest, latest)
	}
	_, err = l.Read(ctx, topic, 0, earliest-1, log.ReadOptions{})
	var oor *log.OffsetOutOfRangeError
	if !errors.As(err, &oor) || !errors.Is(err, log.ErrOffsetOutOfRange) {
		t.Fatalf("Read below the earliest offset = %v, want *OffsetOutOfRangeError", err)
	}
	if oor.Earliest != earliest || oor.Latest != latest || oor.Offset != earliest-1 {
		t.Fatalf("OffsetOutOfRangeError = %+v, want offset %d, range %d..%d", *oor, earliest-1, earliest, latest)
	}
	if !strings.Contains(err.Error(), fmt.Sprint(earliest)) {
		t.Fatalf("error %q does not name the earliest offset %d", err, earliest)
	}
	recs, err := l.Read(ctx, topic, 0, earliest, log.ReadOptions{})
	if err != nil || len(recs) != int(latest-earliest) || recs[0].Offset != earliest {
		t.Fatalf("Read from the earliest offset = %d records from %v, %v; want %d from %d", len(recs), offsetsOf(recs), err, latest-earliest, earliest)
	}
}

func offsetsOf(recs []log.Record) []int64 {
	o := make([]int64, len(recs))
	for i, r := range recs {
		o[i] = r.Offset
	}
	return o
}

func TestReadBelowEarliestAfterDeleteRecords(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	l := openTest(t, testConfig(brokers))
	ctx := ctxFor(t)
	topic := topicName(t, "t")
	if err := l.CreateTopic(ctx, topic, log.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := l.Append(ctx, topic, []log.Record{{Value: fmt.Appendf(nil, "%d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	// kafka-go's Client has no DeleteRecords; franz-go sends it.
	req := kmsg.NewPtrDeleteRecordsRequest()
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Partition, rp.Offset = 0, 4
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics, req.TimeoutMillis = append(req.Topics, rt), 5000
	res, err := req.RequestWith(ctx, kgoClient(t, brokers))
	if err != nil || res.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("DeleteRecords: %v %+v", err, res)
	}
	readBelow(t, l, topic, 4, 10)
}

func TestReadBelowEarliestAfterRetention(t *testing.T) {
	cluster := kafkatest.Start(t)
	if !cluster.ApplyRetention() {
		t.Skip("retention cannot be forced on an external broker")
	}
	l := openTest(t, testConfig(cluster.Addrs))
	ctx := ctxFor(t)
	topic := topicName(t, "t")
	if err := l.CreateTopic(ctx, topic, log.TopicConfig{Partitions: 1, RetentionAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	for i := range 6 {
		r := log.Record{Value: fmt.Appendf(nil, "%d", i)}
		if i < 3 {
			r.Time = old
		}
		if err := l.Append(ctx, topic, []log.Record{r}); err != nil {
			t.Fatal(err)
		}
	}
	cluster.ApplyRetention()
	readBelow(t, l, topic, 3, 6)
}

func TestDescribeConfig(t *testing.T) {
	l := openTest(t, testConfig(kafkatest.Brokers(t)))
	ctx := ctxFor(t)
	for _, cfg := range []log.TopicConfig{
		{Partitions: 2, RetentionAge: 90 * time.Minute, RetentionBytes: 1 << 30, SegmentBytes: 16 << 20},
		{Partitions: 1}, // keep forever, unbounded
	} {
		topic := topicName(t, "t")
		if err := l.CreateTopic(ctx, topic, cfg); err != nil {
			t.Fatal(err)
		}
		info, err := l.Describe(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		got := info.Config
		if cfg.SegmentBytes == 0 {
			got.SegmentBytes = 0 // the broker's default, whatever it is
		}
		if got != cfg {
			t.Fatalf("Describe(%s).Config = %+v, created with %+v", topic, info.Config, cfg)
		}
	}
}

func TestAutoCreate(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	ctx := ctxFor(t)
	cfg := testConfig(brokers)
	cfg.DefaultPartitions = 3
	l := openTest(t, cfg)
	topic := topicName(t, "auto")
	recs := []log.Record{{Key: []byte("k"), Value: []byte("v")}}
	if err := l.Append(ctx, topic, recs); err != nil {
		t.Fatalf("Append to a missing topic: %v", err)
	}
	if info, err := l.Describe(ctx, topic); err != nil || len(info.Partitions) != 3 {
		t.Fatalf("auto-created topic = %+v, %v; want 3 partitions", info, err)
	}
	if recs[0].Partition != log.Partition([]byte("k"), 3) || recs[0].Offset != 0 {
		t.Fatalf("record landed at %d@%d", recs[0].Partition, recs[0].Offset)
	}

	cfg.NoAutoCreate = true
	strict := openTest(t, cfg)
	missing := topicName(t, "missing")
	if err := strict.Append(ctx, missing, recs); !errors.Is(err, log.ErrUnknownTopic) {
		t.Fatalf("Append with NoAutoCreate = %v, want ErrUnknownTopic", err)
	}
	if _, err := strict.JoinGroup(ctx, log.GroupConfig{Group: topicName(t, "g"), Topics: []string{missing}}); !errors.Is(err, log.ErrUnknownTopic) {
		t.Fatalf("JoinGroup with NoAutoCreate = %v, want ErrUnknownTopic", err)
	}
	if topics, err := strict.Topics(ctx); err != nil || slices.Contains(topics, missing) {
		t.Fatalf("Topics = %v, %v; %s must not exist", topics, err, missing)
	}
	if err := l.Append(ctx, "bad name", recs); !errors.Is(err, log.ErrInvalidTopicName) {
		t.Fatalf("Append to %q = %v, want ErrInvalidTopicName", "bad name", err)
	}
}

func TestTopicsHidesInternal(t *testing.T) {
	if kafkatest.External() {
		t.Skip("marks a topic internal the way only the fake broker allows")
	}
	brokers := kafkatest.Brokers(t)
	l := openTest(t, testConfig(brokers))
	ctx := ctxFor(t)
	topic, internal := topicName(t, "t"), topicName(t, "internal")
	if err := l.CreateTopic(ctx, topic, log.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	// kfake keeps group offsets in memory, with no __consumer_offsets
	// topic; it reports a topic internal when its config says so.
	ct := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = internal, 1, 1
	cfg := kmsg.NewCreateTopicsRequestTopicConfig()
	cfg.Name, cfg.Value = "kfake.is_internal", kmsg.StringPtr("true")
	rt.Configs = append(rt.Configs, cfg)
	ct.Topics = append(ct.Topics, rt)
	if res, err := ct.RequestWith(ctx, kgoClient(t, brokers)); err != nil || res.Topics[0].ErrorCode != 0 {
		t.Fatalf("CreateTopics of an internal topic: %v %+v", err, res)
	}
	topics, err := l.Topics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(topics, internal) || !slices.Contains(topics, topic) {
		t.Fatalf("Topics() = %v, want %s and not the internal %s", topics, topic, internal)
	}
}

// TestCommitAfterRebalance commits records polled before a rebalance: the
// partitions the member kept are committed, the others named in an error
// and left alone.
func TestCommitAfterRebalance(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	l := openTest(t, testConfig(brokers))
	ctx := ctxFor(t)
	topic, group := topicName(t, "t"), topicName(t, "g")
	if err := l.CreateTopic(ctx, topic, log.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	recs := make([]log.Record, 20)
	for i := range recs {
		recs[i] = log.Record{Key: fmt.Appendf(nil, "k%d", i), Value: []byte("v")}
	}
	if err := l.Append(ctx, topic, recs); err != nil {
		t.Fatal(err)
	}
	a, err := l.JoinGroup(ctx, log.GroupConfig{Group: group, Topics: []string{topic}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var polled []log.Record
	for len(polled) < len(recs) {
		rs, err := a.Poll(ctx, log.ReadOptions{Wait: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		polled = append(polled, rs...)
	}
	b, err := l.JoinGroup(ctx, log.GroupConfig{Group: group, Topics: []string{topic}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for len(a.Assignment()) != 1 || len(b.Assignment()) != 1 {
		if ctx.Err() != nil {
			t.Fatalf("no split: a %v, b %v", a.Assignment(), b.Assignment())
		}
		time.Sleep(20 * time.Millisecond)
	}
	kept, lost := a.Assignment()[0], b.Assignment()[0]
	err = a.Commit(ctx, polled...)
	if err == nil || !strings.Contains(err.Error(), lost.String()) {
		t.Fatalf("Commit of records from a partition given away = %v, want an error naming %s", err, lost)
	}
	committed, err := l.Committed(ctx, group, topic)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := committed[lost.Partition]; ok {
		t.Fatalf("committed %v: partition %d belongs to the other member", committed, lost.Partition)
	}
	var want int64
	for _, r := range recs {
		if r.Partition == kept.Partition {
			want = r.Offset + 1
		}
	}
	if committed[kept.Partition] != want {
		t.Fatalf("committed %v, want partition %d at %d", committed, kept.Partition, want)
	}
}

func TestClosed(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	l := openTest(t, testConfig(brokers))
	ctx := ctxFor(t)
	topic, group := topicName(t, "t"), topicName(t, "g")
	if err := l.Append(ctx, topic, []log.Record{{Value: []byte("v")}}); err != nil {
		t.Fatal(err)
	}
	c, err := l.JoinGroup(ctx, log.GroupConfig{Group: group, Topics: []string{topic}})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Poll(ctx, log.ReadOptions{}); !errors.Is(err, log.ErrGroupMemberClosed) {
		t.Fatalf("Poll of a consumer of a closed log = %v, want ErrGroupMemberClosed", err)
	}
	checks := map[string]error{
		"Append":      l.Append(ctx, topic, []log.Record{{Value: []byte("v")}}),
		"CreateTopic": l.CreateTopic(ctx, topic+"x", log.TopicConfig{}),
		"Close":       l.Close(),
	}
	_, checks["Read"] = l.Read(ctx, topic, 0, 0, log.ReadOptions{})
	_, checks["Offsets"] = l.Offsets(ctx, topic, 0)
	_, checks["Topics"] = l.Topics(ctx)
	_, checks["JoinGroup"] = l.JoinGroup(ctx, log.GroupConfig{Group: group, Topics: []string{topic}})
	for op, err := range checks {
		if !errors.Is(err, log.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", op, err)
		}
	}
}

// TestCloseEndsGoroutines checks that a log that did everything, groups
// included, leaves no goroutine behind once closed.
func TestCloseEndsGoroutines(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	ctx := ctxFor(t)
	before := runtime.NumGoroutine()
	l, err := New(ctx, testConfig(brokers))
	if err != nil {
		t.Fatal(err)
	}
	topic, group := topicName(t, "t"), topicName(t, "g")
	if err := l.Append(ctx, topic, []log.Record{{Value: []byte("v")}, {Key: []byte("k")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Read(ctx, topic, 0, 5, log.ReadOptions{Wait: 50 * time.Millisecond}); err == nil {
		t.Fatal("Read past the end succeeded")
	}
	if _, err := l.Topics(ctx); err != nil { // replaces the transport
		t.Fatal(err)
	}
	c, err := l.JoinGroup(ctx, log.GroupConfig{Group: group, Topics: []string{topic}})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := c.Poll(ctx, log.ReadOptions{Wait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Commit(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Poll(ctx, log.ReadOptions{Wait: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before New, %d after Close:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// secureCluster starts a fake cluster with the given options (TLS, SASL)
// for tests of the connection settings; the FLINT_TEST_KAFKA broker cannot
// be assumed to have them.
func secureCluster(t *testing.T, opts ...kfake.Opt) []string {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// exercise appends, reads and commits through a group: every kind of
// connection the log makes.
func exercise(t *testing.T, l *Log) {
	t.Helper()
	ctx := ctxFor(t)
	topic, group := topicName(t, "t"), topicName(t, "g")
	recs := []log.Record{{Key: []byte("k"), Value: []byte("v")}}
	if err := l.Append(ctx, topic, recs); err != nil {
		t.Fatal(err)
	}
	got, err := l.Read(ctx, topic, recs[0].Partition, 0, log.ReadOptions{})
	if err != nil || len(got) != 1 {
		t.Fatalf("Read = %d records, %v", len(got), err)
	}
	c, err := l.JoinGroup(ctx, log.GroupConfig{Group: group, Topics: []string{topic}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	polled, err := c.Poll(ctx, log.ReadOptions{Wait: 5 * time.Second})
	if err != nil || len(polled) != 1 {
		t.Fatalf("Poll = %d records, %v", len(polled), err)
	}
	if err := c.Commit(ctx, polled...); err != nil {
		t.Fatal(err)
	}
}

func TestSASL(t *testing.T) {
	brokers := secureCluster(t, kfake.EnableSASL(), kfake.Superuser("PLAIN", "flint", "s3cret"))
	cfg := testConfig(brokers)
	cfg.SASL = plain.Mechanism{Username: "flint", Password: "s3cret"}
	exercise(t, openTest(t, cfg))

	cfg.SASL = plain.Mechanism{Username: "flint", Password: "wrong"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if l, err := New(ctx, cfg); err == nil {
		l.Close()
		t.Fatal("New with a wrong password succeeded")
	} else {
		t.Logf("wrong password: %v", err)
	}
}

func TestTLS(t *testing.T) {
	serverTLS, clientTLS := selfSigned(t)
	brokers := secureCluster(t, kfake.TLS(serverTLS))
	cfg := testConfig(brokers)
	cfg.TLS = clientTLS
	exercise(t, openTest(t, cfg))

	cfg.TLS = nil // plaintext against a TLS listener
	cfg.DialTimeout = 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if l, err := New(ctx, cfg); err == nil {
		l.Close()
		t.Fatal("New without TLS against a TLS broker succeeded")
	}
}

// selfSigned returns a server configuration with a certificate for
// 127.0.0.1 and a client configuration that trusts it.
func selfSigned(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kfake"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(crand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	client = &tls.Config{RootCAs: pool}
	return server, client
}
