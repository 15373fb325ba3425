package disk

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// SyncPolicy says when appended data is fsynced. doc.go describes what an
// acknowledged Append survives under each.
type SyncPolicy int

const (
	// SyncInterval, the default, acknowledges an Append once its batch is
	// written into the segment file, and fsyncs every Config.SyncEvery (and
	// after Config.SyncBytes, when set) in the background.
	SyncInterval SyncPolicy = iota
	// SyncEachAppend acknowledges an Append after fdatasync of its batch.
	SyncEachAppend
	// SyncUnsafeNever never fsyncs, not even at Close or when a segment is
	// rolled. For benchmarks and throwaway data only.
	SyncUnsafeNever
)

func (s SyncPolicy) String() string {
	switch s {
	case SyncInterval:
		return "interval"
	case SyncEachAppend:
		return "each"
	case SyncUnsafeNever:
		return "never"
	}
	return fmt.Sprintf("SyncPolicy(%d)", int(s))
}

// Defaults of Config.
const (
	DefaultPartitions     = 4
	DefaultSegmentBytes   = 64 << 20
	DefaultSyncEvery      = time.Second
	DefaultRetentionCheck = time.Minute
	// DefaultRecoveryPointEvery is the default of Config.RecoveryPointEvery.
	DefaultRecoveryPointEvery = 10 * time.Second
	// MaxSegmentBytes bounds Config.SegmentBytes and TopicConfig.SegmentBytes,
	// so byte positions in a segment fit the 32-bit index entries.
	MaxSegmentBytes = 1 << 30
)

// Config configures Open. Zero fields take the default given; the Config is
// copied by Open and may be reused.
type Config struct {
	// Dir holds the log. Required; created if missing.
	Dir string
	// DefaultPartitions is the partition count of topics created without
	// one, or created by Append or JoinGroup. 0 means 4.
	DefaultPartitions int
	// NoAutoCreate makes Append and JoinGroup on an unknown topic fail with
	// log.ErrUnknownTopic. By default (false) they create the topic with
	// DefaultPartitions partitions. Read never creates a topic.
	NoAutoCreate bool
	// SegmentBytes is the size at which a partition rolls to a new segment
	// file, unless its topic says otherwise. 0 means 64 MiB; at most 1 GiB.
	SegmentBytes int64
	// Sync is the fsync policy. The zero value is SyncInterval.
	Sync SyncPolicy
	// SyncEvery is the period of the background fsync under SyncInterval.
	// 0 means 1s.
	SyncEvery time.Duration
	// SyncBytes, under SyncInterval, makes the Append that brings a
	// partition's bytes written since its last fsync to at least SyncBytes
	// fsync before it returns. 0 disables it.
	SyncBytes int64
	// RetentionCheck is the period at which a background goroutine applies
	// the topics' retention. 0 means 1 minute. (*Log).EnforceRetention
	// applies it at once.
	RetentionCheck time.Duration
	// RecoveryPointEvery is the period at which a background goroutine
	// fsyncs each partition appended to and moves its recovery point (see
	// doc.go) to the end of what it synced, so that Open after a crash
	// checks only what was written since. 0 means 10s. Close moves every
	// recovery point to the end. Under SyncUnsafeNever there are none.
	RecoveryPointEvery time.Duration
	// SlowSync is the fsync duration from which each fsync of a data file
	// is logged as a warning ("disk: slow fdatasync", as etcd's WAL does):
	// a disk that slow stalls appends. 0 means 1s. (*Log).SyncStats and
	// SyncDurations report every fsync's duration.
	SlowSync time.Duration
	// Logger receives warnings (torn tails truncated, indexes rebuilt,
	// background fsync failures). nil means slog.Default().
	Logger *slog.Logger
	// ReadOnly opens the log for reading only, alongside the process that
	// has it open for writing, or with none: Open takes no lock and never
	// creates, writes, truncates, renames or removes a file, Dir must
	// exist, and every call that would change the log (CreateTopic,
	// Append, JoinGroup, EnforceRetention) fails with an error wrapping
	// ErrReadOnly. Reads see what the writer appends after Open, without
	// what it is still writing; doc.go's "Read-only logs" says how. The
	// fields about writing (DefaultPartitions, NoAutoCreate, Sync,
	// SyncEvery, SyncBytes, RetentionCheck) are ignored; SegmentBytes only
	// fills in what Describe reports for topics created without one.
	ReadOnly bool
}

func (c Config) withDefaults() Config {
	if c.DefaultPartitions == 0 {
		c.DefaultPartitions = DefaultPartitions
	}
	if c.SegmentBytes == 0 {
		c.SegmentBytes = DefaultSegmentBytes
	}
	if c.SyncEvery == 0 {
		c.SyncEvery = DefaultSyncEvery
	}
	if c.RetentionCheck == 0 {
		c.RetentionCheck = DefaultRetentionCheck
	}
	if c.RecoveryPointEvery == 0 {
		c.RecoveryPointEvery = DefaultRecoveryPointEvery
	}
	if c.SlowSync == 0 {
		c.SlowSync = DefaultSlowSync
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Dir == "":
		return errors.New("disk: Config.Dir is empty")
	case c.DefaultPartitions < 0:
		return fmt.Errorf("disk: Config.DefaultPartitions must be >= 0, got %d", c.DefaultPartitions)
	case c.SegmentBytes < 0 || c.SegmentBytes > MaxSegmentBytes:
		return fmt.Errorf("disk: Config.SegmentBytes must be 0 to %d, got %d", MaxSegmentBytes, c.SegmentBytes)
	case c.Sync < SyncInterval || c.Sync > SyncUnsafeNever:
		return fmt.Errorf("disk: Config.Sync: unknown policy %d", int(c.Sync))
	case c.SyncEvery < 0:
		return fmt.Errorf("disk: Config.SyncEvery must be >= 0, got %v", c.SyncEvery)
	case c.SyncBytes < 0:
		return fmt.Errorf("disk: Config.SyncBytes must be >= 0, got %d", c.SyncBytes)
	case c.RecoveryPointEvery < 0:
		return fmt.Errorf("disk: Config.RecoveryPointEvery must be >= 0, got %v", c.RecoveryPointEvery)
	case c.SlowSync < 0:
		return fmt.Errorf("disk: Config.SlowSync must be >= 0, got %v", c.SlowSync)
	case c.RetentionCheck < 0:
		return fmt.Errorf("disk: Config.RetentionCheck must be >= 0, got %v", c.RetentionCheck)
	}
	return nil
}
