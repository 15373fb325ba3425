package log

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Header is a key/value pair carried with a record, as in Kafka.
type Header struct {
	Key   string
	Value []byte
}

// Record is one entry of a partition.
//
// On Append, the caller sets Key, Value, Headers and optionally Time (the zero
// Time means "now"); the log fills in Topic, Partition, Offset and Time. On
// Read and Poll, every field is set. Byte slices returned by Read may share a
// buffer with other records of the same call; they are never modified by the
// log afterwards.
//
// A nil Key, Value or header Value is null (Kafka's -1 length); an empty,
// non-nil one is empty. Every backend keeps the two apart: what was
// appended as empty reads back as empty and non-nil, wherever it falls in a
// read.
type Record struct {
	Topic     string
	Partition int
	Offset    int64
	Time      time.Time
	Key       []byte
	Value     []byte
	Headers   []Header
}

// Size is the number of payload bytes a record carries (key, value and
// headers), the unit ReadOptions.MaxBytes is counted in.
func (r *Record) Size() int {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// TopicConfig describes a topic. Zero fields mean the backend's default.
type TopicConfig struct {
	// Partitions is fixed at creation. 0 means the log's default partition count.
	Partitions int
	// RetentionAge removes whole segments whose newest record is older than
	// this. 0 keeps records forever.
	RetentionAge time.Duration
	// RetentionBytes bounds each partition's size; the oldest whole segments
	// are removed beyond it. 0 means unbounded.
	RetentionBytes int64
	// SegmentBytes is the size at which a partition rolls to a new segment
	// (and so the granularity of retention). 0 means the backend's default.
	SegmentBytes int64
}

// PartitionInfo is the offset range of one partition.
type PartitionInfo struct {
	ID       int
	Earliest int64 // first offset still available
	Latest   int64 // offset the next appended record will get (the high watermark)
}

// TopicInfo describes a topic and its partitions.
type TopicInfo struct {
	Name       string
	Config     TopicConfig
	Partitions []PartitionInfo
}

// ReadOptions bounds a read. Zero fields take the defaults given.
type ReadOptions struct {
	// MaxRecords is the most records returned. 0 means 1000.
	MaxRecords int
	// MaxBytes bounds the payload bytes returned (Record.Size), except that
	// the first record is always returned whatever its size, so a reader can
	// make progress. 0 means 1 MiB.
	MaxBytes int
	// Wait is how long a read at the end of a partition blocks for new
	// records. 0 returns at once; a read that times out returns no records
	// and a nil error.
	Wait time.Duration
	// Buffer is memory a backend may read the records into instead of
	// allocating, when its capacity is enough (log/disk uses it for the
	// read's preads, log/kafka for the records' bytes; others ignore it). The keys and values returned
	// may then alias it, so they are valid only until the caller reuses
	// it: a reader that hands each value on and forgets it reads a whole
	// partition with one buffer instead of leaving one behind per read.
	Buffer []byte
	// Records is a slice a backend may append the records it returns to,
	// from length 0, instead of allocating one per read (log/disk and
	// log/kafka use it; others ignore it). The records returned may then share its memory,
	// so a caller passes it again only once it is done with them.
	Records []Record
}

// Defaults for ReadOptions.
const (
	DefaultMaxRecords = 1000
	DefaultMaxBytes   = 1 << 20
)

// WithDefaults returns o with zero fields replaced by their defaults.
func (o ReadOptions) WithDefaults() ReadOptions {
	if o.MaxRecords <= 0 {
		o.MaxRecords = DefaultMaxRecords
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	return o
}

// StartAt says where a group member begins reading a partition that its
// group has never committed an offset for.
type StartAt int

const (
	// StartEarliest reads from the first retained offset (the default).
	StartEarliest StartAt = iota
	// StartLatest reads only records appended after the member joined.
	StartLatest
)

func (s StartAt) String() string {
	switch s {
	case StartEarliest:
		return "earliest"
	case StartLatest:
		return "latest"
	}
	return fmt.Sprintf("StartAt(%d)", int(s))
}

// GroupConfig configures a consumer group member.
type GroupConfig struct {
	// Group names the consumer group. Required.
	Group string
	// Topics the member consumes. Required.
	Topics []string
	// StartAt applies to partitions without a committed offset.
	StartAt StartAt
}

// Validate reports the first problem with c.
func (c GroupConfig) Validate() error {
	if c.Group == "" {
		return errors.New("log: group config: group name is empty")
	}
	if len(c.Topics) == 0 {
		return fmt.Errorf("log: group %q: no topics", c.Group)
	}
	for i, t := range c.Topics {
		if err := ValidTopicName(t); err != nil {
			return fmt.Errorf("log: group %q: topics[%d]: %w", c.Group, i, err)
		}
	}
	return nil
}

// TopicPartition names one partition of a topic.
type TopicPartition struct {
	Topic     string
	Partition int
}

func (tp TopicPartition) String() string { return fmt.Sprintf("%s/%d", tp.Topic, tp.Partition) }

// Log is a partitioned, append-only log. log/disk and log/kafka implement
// it; both are safe for concurrent use by many goroutines.
type Log interface {
	// CreateTopic creates a topic. It returns an error wrapping
	// ErrTopicExists if the topic is already there.
	CreateTopic(ctx context.Context, topic string, cfg TopicConfig) error
	// Topics lists topic names in lexical order.
	Topics(ctx context.Context) ([]string, error)
	// Describe returns the configuration and offset ranges of a topic.
	Describe(ctx context.Context, topic string) (TopicInfo, error)

	// Append adds records to a topic, choosing each record's partition as the
	// package documentation describes, and returns once they are
	// acknowledged (durable according to the backend's policy). On success
	// it has set Topic, Partition, Offset and Time of every element of recs.
	// When it fails, the records it did append (those of partitions that
	// succeeded) have these fields set, and the others an empty Topic, so
	// that a caller that retries sends only those again.
	// Appending to a missing topic creates it when the backend is configured
	// to, and otherwise fails with ErrUnknownTopic.
	Append(ctx context.Context, topic string, recs []Record) error

	// Read returns records of one partition from offset on. Reading at the
	// high watermark waits up to opt.Wait for records and then returns none;
	// reading below the first retained offset or above the high watermark
	// fails with an *OffsetOutOfRangeError.
	Read(ctx context.Context, topic string, partition int, offset int64, opt ReadOptions) ([]Record, error)
	// Offsets returns the earliest and latest offsets of a partition.
	Offsets(ctx context.Context, topic string, partition int) (PartitionInfo, error)
	// OffsetForTime returns the first offset whose record time is at or after
	// t, or the high watermark if there is none.
	OffsetForTime(ctx context.Context, topic string, partition int, t time.Time) (int64, error)

	// JoinGroup makes the caller a member of a consumer group.
	JoinGroup(ctx context.Context, cfg GroupConfig) (Consumer, error)
	// Committed returns a group's committed offsets for a topic, by
	// partition; partitions it never committed are absent.
	Committed(ctx context.Context, group, topic string) (map[int]int64, error)
	// Groups lists the consumer groups known to the log.
	Groups(ctx context.Context) ([]string, error)

	// Close releases the log. Consumers should be closed first.
	Close() error
}

// Sizer is an optional ability of a Log: telling how many bytes each
// partition of a topic takes in storage. Callers check for it with a type
// assertion; log/disk and log/kafka implement it.
type Sizer interface {
	// PartitionSizes returns the bytes each partition of topic takes,
	// indexed by partition ID. A partition whose size the backend could not
	// learn (a broker that did not say) is -1, never 0. A missing topic
	// fails with ErrUnknownTopic.
	PartitionSizes(ctx context.Context, topic string) ([]int64, error)
}

// Consumer is one member of a consumer group. It is safe for use by one
// goroutine at a time; Close may be called from any goroutine.
type Consumer interface {
	// Poll returns records from the partitions currently assigned to this
	// member, waiting up to opt.Wait when none are ready. After a
	// rebalance, each newly assigned partition resumes at the group's
	// committed offset, so records polled but not committed are delivered
	// again (at-least-once).
	Poll(ctx context.Context, opt ReadOptions) ([]Record, error)
	// Assignment returns the partitions this member owns now, sorted.
	Assignment() []TopicPartition
	// Commit records, for each topic-partition among recs, the offset after
	// the highest offset seen there: the group's position to resume from.
	Commit(ctx context.Context, recs ...Record) error
	// Close leaves the group, so its partitions go to the other members.
	Close() error
}

// Errors shared by every backend. Test for them with errors.Is.
var (
	ErrUnknownTopic      = errors.New("log: unknown topic")
	ErrTopicExists       = errors.New("log: topic already exists")
	ErrUnknownPartition  = errors.New("log: unknown partition")
	ErrOffsetOutOfRange  = errors.New("log: offset out of range")
	ErrClosed            = errors.New("log: closed")
	ErrInvalidTopicName  = errors.New("log: invalid topic name")
	ErrGroupMemberClosed = errors.New("log: consumer closed")
	// ErrNotAssigned is returned by Commit for records of partitions a
	// rebalance moved to another member: their offsets are not committed and
	// the new owner reads them again.
	ErrNotAssigned = errors.New("log: partition not assigned to this member")
)

// OffsetOutOfRangeError reports a read outside the available offsets. It
// matches ErrOffsetOutOfRange with errors.Is.
type OffsetOutOfRangeError struct {
	Topic     string
	Partition int
	Offset    int64 // what was asked for
	Earliest  int64 // first offset still available
	Latest    int64 // the high watermark
}

func (e *OffsetOutOfRangeError) Error() string {
	if e.Offset < e.Earliest {
		return fmt.Sprintf("log: %s/%d: offset %d is below the earliest available offset %d (older records were removed by retention)",
			e.Topic, e.Partition, e.Offset, e.Earliest)
	}
	return fmt.Sprintf("log: %s/%d: offset %d is beyond the end of the partition (available: %d to %d)",
		e.Topic, e.Partition, e.Offset, e.Earliest, e.Latest)
}

// Is makes errors.Is(err, ErrOffsetOutOfRange) true.
func (e *OffsetOutOfRangeError) Is(target error) bool { return target == ErrOffsetOutOfRange }

// ValidTopicName reports whether name is a legal topic name. The rules are
// Kafka's: 1 to 249 characters of ASCII letters, digits, '.', '_' and '-',
// and not "." or "..". Backends that store topics as directories rely on it.
func ValidTopicName(name string) error {
	if name == "" || len(name) > 249 || name == "." || name == ".." {
		return fmt.Errorf("%w %q: must be 1 to 249 characters and not \".\" or \"..\"", ErrInvalidTopicName, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w %q: character %q at position %d; use letters, digits, '.', '_' and '-'", ErrInvalidTopicName, name, c, i)
		}
	}
	return nil
}
