package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flintml/flint/log"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
)

// Config configures a Log. Zero fields take the defaults given; the
// configuration must not be changed after New.
type Config struct {
	// Brokers are bootstrap addresses, host:port. Required. The rest of the
	// cluster is discovered from them.
	Brokers []string
	// ClientID is sent to the brokers with every request. "" means "flint".
	ClientID string
	// TLS, when set, encrypts every connection with this configuration. An
	// empty ServerName is filled in from each broker's host name.
	TLS *tls.Config
	// SASL, when set, authenticates every connection, e.g.
	// plain.Mechanism{Username: ..., Password: ...} or a mechanism from
	// github.com/segmentio/kafka-go/sasl/scram.
	SASL sasl.Mechanism

	// DefaultPartitions is the partition count of topics created with
	// TopicConfig.Partitions 0, or created by Append on first use. 0 means 4.
	DefaultPartitions int
	// ReplicationFactor of the topics this log creates. 0 means 1; a
	// production cluster wants 3.
	ReplicationFactor int
	// NoAutoCreate makes Append and JoinGroup fail with log.ErrUnknownTopic
	// on a missing topic instead of creating it with DefaultPartitions.
	NoAutoCreate bool

	// DialTimeout bounds opening a connection, TLS and SASL included.
	// 0 means 10s.
	DialTimeout time.Duration
	// RequestTimeout bounds each request that does not wait on purpose:
	// admin requests, produce (which waits for all in-sync replicas),
	// offset lookups and commits. 0 means 30s.
	RequestTimeout time.Duration

	// HeartbeatInterval is how often a group member tells the coordinator
	// it is alive, and so how soon it notices a rebalance. 0 means 1s.
	HeartbeatInterval time.Duration
	// SessionTimeout is how long the coordinator waits for a heartbeat
	// before it drops a member and rebalances. Kafka accepts 6s to 30min
	// by default (group.min/max.session.timeout.ms). 0 means 10s.
	SessionTimeout time.Duration
	// RebalanceTimeout is how long the coordinator waits for the members to
	// rejoin during a rebalance. 0 means 10s.
	RebalanceTimeout time.Duration
	// JoinGroupBackoff is the pause before a member retries joining after
	// an error. 0 means 500ms.
	JoinGroupBackoff time.Duration

	// Logger receives the client's diagnostics. nil means slog.Default().
	Logger *slog.Logger
}

// withDefaults returns c with zero fields replaced by their defaults.
func (c Config) withDefaults() Config {
	if c.ClientID == "" {
		c.ClientID = "flint"
	}
	if c.DefaultPartitions == 0 {
		c.DefaultPartitions = 4
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = 1
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 10 * time.Second
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = time.Second
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = 10 * time.Second
	}
	if c.RebalanceTimeout == 0 {
		c.RebalanceTimeout = 10 * time.Second
	}
	if c.JoinGroupBackoff == 0 {
		c.JoinGroupBackoff = 500 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// validate reports the first problem with c, naming the field.
func (c Config) validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("kafka: config: Brokers is empty; want at least one host:port")
	}
	for i, b := range c.Brokers {
		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			return fmt.Errorf("kafka: config: Brokers[%d] = %q: want host:port", i, b)
		}
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"DefaultPartitions", c.DefaultPartitions}, {"ReplicationFactor", c.ReplicationFactor}} {
		if f.v < 0 {
			return fmt.Errorf("kafka: config: %s must be >= 0, got %d", f.name, f.v)
		}
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{
		{"DialTimeout", c.DialTimeout}, {"RequestTimeout", c.RequestTimeout},
		{"HeartbeatInterval", c.HeartbeatInterval}, {"SessionTimeout", c.SessionTimeout},
		{"RebalanceTimeout", c.RebalanceTimeout}, {"JoinGroupBackoff", c.JoinGroupBackoff},
	} {
		if f.d < 0 {
			return fmt.Errorf("kafka: config: %s must be >= 0, got %v", f.name, f.d)
		}
	}
	if c.HeartbeatInterval >= c.SessionTimeout && c.SessionTimeout > 0 {
		return fmt.Errorf("kafka: config: HeartbeatInterval (%v) must be shorter than SessionTimeout (%v)", c.HeartbeatInterval, c.SessionTimeout)
	}
	return nil
}

// Log is log.Log on a Kafka cluster. It is safe for concurrent use.
type Log struct {
	cfg    Config
	logger *slog.Logger
	addr   net.Addr        // every bootstrap broker, for kafka-go's Transport
	dialer *kafkago.Dialer // connections of consumer groups
	// client sends every request through the current transport.
	client *kafkago.Client

	// ctx is canceled by Close; it ends the goroutines of every transport.
	ctx    context.Context
	cancel context.CancelFunc
	closed atomic.Bool

	// cur is the transport requests go through. refresh replaces it (under
	// refreshMu) when its cached view of the cluster is out of date.
	cur       atomic.Pointer[conns]
	refreshMu sync.Mutex

	// recordSize is a running average of the payload size of records
	// read, for sizing fetches.
	recordSize atomic.Int64

	mu        sync.Mutex // guards consumers and sticky
	consumers map[*consumer]struct{}
	sticky    map[string]*atomic.Uint32 // per topic: the next partition for unkeyed records
}

var _ log.Log = (*Log)(nil)

// conns is one kafka-go Transport: a connection pool with a cached view of
// the cluster's metadata, which it refreshes every few seconds on its own.
// A transport is retired when a newer one replaces it; it closes once the
// requests already running on it finish, and takes no new ones, so it
// cannot open connections again after it closed.
type conns struct {
	transport *kafkago.Transport
	born      time.Time
	meta      *kafkago.Client // metadata lookups pinned to this transport

	mu       sync.Mutex // guards inflight and retired
	inflight int
	retired  bool
}

// errRetired is returned by a retired transport; callers move to the
// current one.
var errRetired = errors.New("kafka: transport retired")

func (c *conns) acquire() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.retired {
		return false
	}
	c.inflight++
	return true
}

func (c *conns) release() {
	c.mu.Lock()
	c.inflight--
	last := c.retired && c.inflight == 0
	c.mu.Unlock()
	if last {
		c.transport.CloseIdleConnections()
	}
}

func (c *conns) retire() {
	c.mu.Lock()
	c.retired = true
	idle := c.inflight == 0
	c.mu.Unlock()
	if idle {
		c.transport.CloseIdleConnections()
	}
}

// RoundTrip implements kafkago.RoundTripper for conns: it sends through
// this transport unless it was retired.
func (c *conns) RoundTrip(ctx context.Context, addr net.Addr, req kafkago.Request) (kafkago.Response, error) {
	if !c.acquire() {
		return nil, errRetired
	}
	defer c.release()
	return c.transport.RoundTrip(ctx, addr, req)
}

// current is the kafkago.RoundTripper of Log.client: it sends each request
// through the transport current at the time.
type current struct{ l *Log }

func (t current) RoundTrip(ctx context.Context, addr net.Addr, req kafkago.Request) (kafkago.Response, error) {
	l := t.l
	for {
		if l.closed.Load() {
			return nil, log.ErrClosed
		}
		c := l.cur.Load()
		if c.acquire() {
			defer c.release()
			return c.transport.RoundTrip(ctx, addr, req)
		}
	}
}

// New connects to the brokers in cfg and checks that they answer a metadata
// request, so a wrong address fails here and not on first use.
func New(ctx context.Context, cfg Config) (*Log, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	lctx, cancel := context.WithCancel(context.Background())
	l := &Log{
		cfg:    cfg,
		logger: cfg.Logger.With("log", "kafka"),
		addr:   kafkago.TCP(cfg.Brokers...),
		dialer: &kafkago.Dialer{
			ClientID:      cfg.ClientID,
			Timeout:       cfg.DialTimeout,
			DualStack:     true,
			TLS:           cfg.TLS,
			SASLMechanism: cfg.SASL,
		},
		ctx:       lctx,
		cancel:    cancel,
		consumers: map[*consumer]struct{}{},
		sticky:    map[string]*atomic.Uint32{},
	}
	// The client's Timeout bounds each request, and half of it is what
	// the brokers are told to wait for replicas (produce) or for a topic's
	// creation.
	l.client = &kafkago.Client{Addr: l.addr, Transport: current{l}, Timeout: cfg.RequestTimeout}
	l.cur.Store(l.newConns())
	l.recordSize.Store(512)

	cctx, stop := l.bound(ctx, cfg.DialTimeout+cfg.RequestTimeout)
	defer stop()
	if _, err := l.client.Metadata(cctx, &kafkago.MetadataRequest{Topics: []string{}}); err != nil {
		l.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("kafka: connect to %s: %w", strings.Join(cfg.Brokers, ","), ctx.Err())
		}
		return nil, &connectError{brokers: strings.Join(cfg.Brokers, ","), dial: cfg.DialTimeout, request: cfg.RequestTimeout, err: err}
	}
	return l, nil
}

func (l *Log) newConns() *conns {
	c := &conns{
		transport: &kafkago.Transport{
			Dial:        (&net.Dialer{Timeout: l.cfg.DialTimeout}).DialContext,
			DialTimeout: l.cfg.DialTimeout,
			ClientID:    l.cfg.ClientID,
			TLS:         l.cfg.TLS,
			SASL:        l.cfg.SASL,
			Context:     l.ctx,
		},
		born: time.Now(),
	}
	c.meta = &kafkago.Client{Addr: l.addr, Transport: c, Timeout: l.cfg.RequestTimeout}
	return c
}

// refresh makes requests go through a new transport, whose first request
// fetches the cluster's metadata afresh, unless the current one was made
// after since: then it already reflects the cluster as of since. Callers
// pass the time they started the request that found the view stale, so
// many callers meeting one stale view replace it once.
func (l *Log) refresh(since time.Time) *conns {
	l.refreshMu.Lock()
	defer l.refreshMu.Unlock()
	cur := l.cur.Load()
	if cur.born.After(since) || l.closed.Load() {
		return cur
	}
	n := l.newConns()
	l.cur.Store(n)
	cur.retire()
	return n
}

// Close releases the connections and leaves the groups of consumers still
// open. Later calls fail with log.ErrClosed.
func (l *Log) Close() error {
	if l.closed.Swap(true) {
		return log.ErrClosed
	}
	l.mu.Lock()
	open := make([]*consumer, 0, len(l.consumers))
	for c := range l.consumers {
		open = append(open, c)
	}
	l.mu.Unlock()
	for _, c := range open {
		c.Close()
	}
	l.refreshMu.Lock()
	l.cur.Load().retire()
	l.refreshMu.Unlock()
	l.cancel()
	return nil
}

// check returns the error an operation should fail with before it starts.
func (l *Log) check(ctx context.Context) error {
	if l.closed.Load() {
		return log.ErrClosed
	}
	return ctx.Err()
}

// bound returns ctx limited to d from now, unless ctx ends sooner.
func (l *Log) bound(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// topicMeta returns the metadata of topic: its partitions and their
// leaders. It answers from the transport's cache and asks the brokers again
// before it concludes that the topic does not exist, so a topic another
// client created a moment ago is found.
func (l *Log) topicMeta(ctx context.Context, topic string) (kafkago.Topic, error) {
	for attempt := 0; ; attempt++ {
		if l.closed.Load() {
			return kafkago.Topic{}, log.ErrClosed
		}
		asked := time.Now()
		res, err := l.cur.Load().meta.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{topic}})
		if errors.Is(err, errRetired) {
			continue
		}
		if err != nil {
			return kafkago.Topic{}, fmt.Errorf("kafka: metadata of topic %q: %w", topic, ctxErr(ctx, err))
		}
		var t kafkago.Topic
		for _, rt := range res.Topics {
			if rt.Name == topic {
				t = rt
			}
		}
		if t.Error == nil && len(t.Partitions) > 0 {
			slices.SortFunc(t.Partitions, func(a, b kafkago.Partition) int { return a.ID - b.ID })
			return t, nil
		}
		if attempt > 0 {
			if t.Error == nil || errors.Is(t.Error, kafkago.UnknownTopicOrPartition) {
				return kafkago.Topic{}, fmt.Errorf("kafka: topic %q: %w", topic, log.ErrUnknownTopic)
			}
			return kafkago.Topic{}, fmt.Errorf("kafka: metadata of topic %q: %w", topic, t.Error)
		}
		l.refresh(asked)
	}
}

// partitionMeta checks that topic has the partition and returns the
// topic's metadata.
func (l *Log) partitionMeta(ctx context.Context, topic string, partition int) (kafkago.Topic, error) {
	t, err := l.topicMeta(ctx, topic)
	if err != nil {
		return t, err
	}
	if partition < 0 || partition >= len(t.Partitions) {
		return t, fmt.Errorf("kafka: %s/%d: topic has %d partitions: %w", topic, partition, len(t.Partitions), log.ErrUnknownPartition)
	}
	return t, nil
}

// CreateTopic creates topic with cfg's partition count and retention.
// RetentionAge and RetentionBytes become the topic configs retention.ms and
// retention.bytes (0, "keep forever", becomes -1), and SegmentBytes becomes
// segment.bytes when set.
func (l *Log) CreateTopic(ctx context.Context, topic string, cfg log.TopicConfig) error {
	if err := l.check(ctx); err != nil {
		return err
	}
	if err := log.ValidTopicName(topic); err != nil {
		return err
	}
	parts := cfg.Partitions
	if parts == 0 {
		parts = l.cfg.DefaultPartitions
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"Partitions", int64(parts)}, {"RetentionAge", int64(cfg.RetentionAge)},
		{"RetentionBytes", cfg.RetentionBytes}, {"SegmentBytes", cfg.SegmentBytes},
	} {
		if f.v < 0 {
			return fmt.Errorf("kafka: create topic %q: %s must be >= 0, got %d", topic, f.name, f.v)
		}
	}
	retMs, retBytes := int64(-1), int64(-1)
	if cfg.RetentionAge > 0 {
		retMs = max(cfg.RetentionAge.Milliseconds(), 1)
	}
	if cfg.RetentionBytes > 0 {
		retBytes = cfg.RetentionBytes
	}
	entries := []kafkago.ConfigEntry{
		{ConfigName: "retention.ms", ConfigValue: strconv.FormatInt(retMs, 10)},
		{ConfigName: "retention.bytes", ConfigValue: strconv.FormatInt(retBytes, 10)},
	}
	if cfg.SegmentBytes > 0 {
		entries = append(entries, kafkago.ConfigEntry{ConfigName: "segment.bytes", ConfigValue: strconv.FormatInt(cfg.SegmentBytes, 10)})
	}
	ctx, stop := l.bound(ctx, l.cfg.RequestTimeout)
	defer stop()
	res, err := l.client.CreateTopics(ctx, &kafkago.CreateTopicsRequest{
		Topics: []kafkago.TopicConfig{{
			Topic:             topic,
			NumPartitions:     parts,
			ReplicationFactor: l.cfg.ReplicationFactor,
			ConfigEntries:     entries,
		}},
	})
	if err != nil {
		return fmt.Errorf("kafka: create topic %q: %w", topic, ctxErr(ctx, err))
	}
	switch err := res.Errors[topic]; {
	case err == nil:
		l.logger.Debug("created topic", "topic", topic, "partitions", parts)
		return nil
	case errors.Is(err, kafkago.TopicAlreadyExists):
		return fmt.Errorf("kafka: create topic %q: %w", topic, log.ErrTopicExists)
	case errors.Is(err, kafkago.InvalidTopic):
		return fmt.Errorf("kafka: create topic %q: %w: %v", topic, log.ErrInvalidTopicName, err)
	default:
		return fmt.Errorf("kafka: create topic %q: %w", topic, err)
	}
}

// ensureTopic returns topic's metadata, creating the topic with the
// default partition count if it is missing and auto-creation is on.
func (l *Log) ensureTopic(ctx context.Context, topic string) (kafkago.Topic, error) {
	t, err := l.topicMeta(ctx, topic)
	if !errors.Is(err, log.ErrUnknownTopic) || l.cfg.NoAutoCreate {
		return t, err
	}
	if err := l.CreateTopic(ctx, topic, log.TopicConfig{}); err != nil && !errors.Is(err, log.ErrTopicExists) {
		return t, err
	}
	return l.topicMeta(ctx, topic)
}

// Topics lists the topics of the cluster, sorted, without those the broker
// marks internal (__consumer_offsets, __transaction_state). It asks the
// brokers, not the cache, so a topic another client just created is
// listed.
func (l *Log) Topics(ctx context.Context) ([]string, error) {
	if err := l.check(ctx); err != nil {
		return nil, err
	}
	// The transport's cache may be seconds old; a listing should show
	// what exists now.
	l.refresh(time.Now())
	res, err := l.client.Metadata(ctx, &kafkago.MetadataRequest{})
	if err != nil {
		return nil, fmt.Errorf("kafka: list topics: %w", ctxErr(ctx, err))
	}
	var names []string
	for _, t := range res.Topics {
		if t.Internal || t.Error != nil {
			continue
		}
		names = append(names, t.Name)
	}
	slices.Sort(names)
	return names, nil
}

// Describe returns topic's retention settings (from DescribeConfigs) and
// the offset range of each partition (from ListOffsets).
func (l *Log) Describe(ctx context.Context, topic string) (log.TopicInfo, error) {
	if err := l.check(ctx); err != nil {
		return log.TopicInfo{}, err
	}
	t, err := l.topicMeta(ctx, topic)
	if err != nil {
		return log.TopicInfo{}, err
	}
	ctx, stop := l.bound(ctx, l.cfg.RequestTimeout)
	defer stop()
	info := log.TopicInfo{Name: topic, Config: log.TopicConfig{Partitions: len(t.Partitions)}}
	if err := l.describeConfig(ctx, topic, &info.Config); err != nil {
		return log.TopicInfo{}, err
	}
	ids := make([]int, len(t.Partitions))
	for i, p := range t.Partitions {
		ids[i] = p.ID
	}
	ranges, err := l.offsetRanges(ctx, topic, ids)
	if err != nil {
		return log.TopicInfo{}, err
	}
	info.Partitions = ranges
	return info, nil
}

// describeConfig fills cfg's retention and segment settings from the
// broker's effective topic configuration. Unlimited (-1) reads as 0.
func (l *Log) describeConfig(ctx context.Context, topic string, cfg *log.TopicConfig) error {
	res, err := l.client.DescribeConfigs(ctx, &kafkago.DescribeConfigsRequest{
		Resources: []kafkago.DescribeConfigRequestResource{{
			ResourceType: kafkago.ResourceTypeTopic,
			ResourceName: topic,
			ConfigNames:  []string{"retention.ms", "retention.bytes", "segment.bytes"},
		}},
	})
	if err != nil {
		return fmt.Errorf("kafka: describe configs of topic %q: %w", topic, ctxErr(ctx, err))
	}
	for _, r := range res.Resources {
		if r.Error != nil {
			if errors.Is(r.Error, kafkago.UnknownTopicOrPartition) {
				return fmt.Errorf("kafka: topic %q: %w", topic, log.ErrUnknownTopic)
			}
			return fmt.Errorf("kafka: describe configs of topic %q: %w", topic, r.Error)
		}
		for _, e := range r.ConfigEntries {
			v, err := strconv.ParseInt(e.ConfigValue, 10, 64)
			if err != nil || v < 0 {
				continue
			}
			switch e.ConfigName {
			case "retention.ms":
				cfg.RetentionAge = time.Duration(v) * time.Millisecond
			case "retention.bytes":
				cfg.RetentionBytes = v
			case "segment.bytes":
				cfg.SegmentBytes = v
			}
		}
	}
	return nil
}

// Groups lists the consumer groups the brokers know, sorted.
func (l *Log) Groups(ctx context.Context) ([]string, error) {
	if err := l.check(ctx); err != nil {
		return nil, err
	}
	ctx, stop := l.bound(ctx, l.cfg.RequestTimeout)
	defer stop()
	res, err := l.client.ListGroups(ctx, &kafkago.ListGroupsRequest{})
	if err == nil {
		err = res.Error
	}
	if err != nil {
		return nil, fmt.Errorf("kafka: list groups: %w", ctxErr(ctx, err))
	}
	names := make([]string, 0, len(res.Groups))
	for _, g := range res.Groups {
		names = append(names, g.GroupID)
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// Committed returns group's committed offsets for topic (OffsetFetch).
func (l *Log) Committed(ctx context.Context, group, topic string) (map[int]int64, error) {
	if err := l.check(ctx); err != nil {
		return nil, err
	}
	t, err := l.topicMeta(ctx, topic)
	if err != nil {
		return nil, err
	}
	ids := make([]int, len(t.Partitions))
	for i, p := range t.Partitions {
		ids[i] = p.ID
	}
	ctx, stop := l.bound(ctx, l.cfg.RequestTimeout)
	defer stop()
	res, err := l.client.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ids}})
	if err == nil {
		err = res.Error
	}
	if err != nil {
		return nil, fmt.Errorf("kafka: committed offsets of group %q on %q: %w", group, topic, ctxErr(ctx, err))
	}
	out := map[int]int64{}
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("kafka: committed offset of group %q on %s/%d: %w", group, topic, p.Partition, p.Error)
		}
		if p.CommittedOffset >= 0 {
			out[p.Partition] = p.CommittedOffset
		}
	}
	return out, nil
}

// ctxErr prefers the context's error to err when the context has ended, so
// callers can test for context.Canceled and context.DeadlineExceeded.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	return err
}

// connectError says that no bootstrap broker answered, with the timeouts
// that applied and the network's own reason, without kafka-go's internal
// call names.
type connectError struct {
	brokers       string
	dial, request time.Duration
	err           error
}

func (e *connectError) Error() string {
	why := e.err.Error()
	if _, after, ok := strings.Cut(why, ").Metadata: "); ok {
		why = after
	}
	return fmt.Sprintf("kafka: no broker answered at %s (dial timeout %v, request timeout %v): %s", e.brokers, e.dial, e.request, why)
}

func (e *connectError) Unwrap() error { return e.err }
