// Package kafka implements log.Log on a Kafka cluster, through
// github.com/segmentio/kafka-go. It is the backend for deployments that
// already run Kafka, or that need the log shared by many machines; the
// embedded log/disk is the default.
//
// # Configuration
//
//	l, err := kafka.New(ctx, kafka.Config{
//		Brokers: []string{"kafka-1:9092", "kafka-2:9092"},
//		TLS:     &tls.Config{},                                  // optional
//		SASL:    plain.Mechanism{Username: "u", Password: "p"}, // optional; or scram.Mechanism(...)
//		ReplicationFactor: 3,
//	})
//
// Brokers are bootstrap addresses; the rest of the cluster is discovered
// from them. New sends a metadata request and fails, naming the addresses,
// if no broker answers. TLS and SASL apply to every connection: the pooled
// ones of requests and the ones of consumer groups. Topics are created
// with Config.DefaultPartitions (4) partitions when TopicConfig.Partitions is
// 0 or when Append or JoinGroup meet a missing topic, unless
// Config.NoAutoCreate is set. Every zero field of Config has a documented
// default.
//
// # How the log maps onto Kafka
//
// Topics and partitions are Kafka's. TopicConfig.RetentionAge,
// RetentionBytes and SegmentBytes become the topic configs retention.ms,
// retention.bytes and segment.bytes; 0 retention ("keep forever") is sent
// as -1, so the broker's default does not apply. Describe reads them back
// with DescribeConfigs (the effective values, -1 read as 0) and the offset
// range of each partition with ListOffsets. PartitionSizes (log.Sizer)
// asks each partition's leader for the size of its replica with
// DescribeLogDirs, declared in sizes.go since kafka-go has no call for it.
//
// Append places keyed records with kafka-go's Murmur2Balancer, which is
// Kafka's Java default partitioner and so equals log.Partition; unkeyed
// records of one call share a partition, and the partition rotates from call
// to call per topic. Each partition's records of a call go in one produce
// request with acks=all, and their offsets come from the response's base
// offset, so they are exact under concurrent writers. Record times are
// Kafka's, in milliseconds: Append sets each record's Time to what a read
// returns. Headers, null keys and values, and empty ones round-trip.
//
// Read is a Fetch of one partition. At the high watermark the broker parks
// the fetch until records arrive or ReadOptions.Wait passes (in waits of at
// most 5s, so a canceled read frees its connection soon). MaxRecords and
// MaxBytes are applied to the decoded records (the first always returned),
// fetching again when one response held too few. The records' keys, values
// and headers are copied out of the response into a few large buffers per
// read, the first of them ReadOptions.Buffer when given, and the records
// are appended to ReadOptions.Records when given. OFFSET_OUT_OF_RANGE
// becomes a *log.OffsetOutOfRangeError whose Earliest and Latest come from
// ListOffsets. OffsetForTime is ListOffsets by timestamp. Reads read
// uncommitted data and do not drop the control records of transactions:
// Flint never writes transactionally, but a topic that a transactional
// producer wrote shows its commit markers as records.
//
// # Consumer groups
//
// JoinGroup uses Kafka's classic group protocol through kafka-go's
// ConsumerGroup: the members agree on an assignment (range, else
// round-robin) in generations, and a member heartbeats every
// Config.HeartbeatInterval, which is also how soon it notices a rebalance.
// A goroutine per consumer installs each new generation; Assignment is the
// current generation's partitions (none while a rebalance is in progress),
// and Poll fetches from them at positions that start, in every generation,
// at the group's committed offsets (OffsetFetch), or for partitions never
// committed at the earliest or latest offset per GroupConfig.StartAt. So a
// rebalance redelivers what was polled but not committed: at-least-once.
// Commit is a synchronous OffsetCommit of offset+1 of the highest record per
// partition, in the member's current generation, for the partitions it owns;
// see Consumer.Commit for a rebalance in between. Close leaves the group, so
// the other members take its partitions at once instead of after
// Config.SessionTimeout. Committed is OffsetFetch and Groups is ListGroups.
//
// # Metadata and retries
//
// kafka-go's Transport routes requests from a cached view of the cluster,
// refreshed every few seconds. When that view lacks a topic, or a broker
// says it is not a partition's leader, the log replaces the transport by a
// fresh one (whose first request fetches metadata) before concluding, so a
// topic another client created a moment ago is found at once. Reads are
// retried after such errors and after a lost connection; a produce only
// after errors that mean the broker wrote nothing (not the leader, not
// enough replicas), since the producer is not idempotent and a resent
// batch could be written twice.
//
// # Testing
//
// Tests run against the broker named by FLINT_TEST_KAFKA, or an in-process
// fake from github.com/twmb/franz-go/pkg/kfake (see log/kafka/kafkatest).
// What the fake does differently from Kafka, as far as this package sees:
//
//   - Retention removes whole produce batches (one per partition per
//     Append), not segments: segment.bytes is accepted and reported, but
//     does not set the granularity, and the newest batch can go too, where
//     Kafka always keeps the active segment. Retention runs on a timer set
//     by the broker config log.cleaner.backoff.ms (default 1h; it has no
//     log.retention.check.interval.ms); kafkatest leaves that alone and
//     tests call ApplyRetention.
//   - It accepts any segment.bytes; Kafka 4 refuses values under 1 MiB.
//   - It accepts group session timeouts down to what GroupMinSessionTimeout
//     says (100ms in kafkatest); Kafka's default floor is 6s.
//   - There is no DeleteRecords in kafka-go's Client; tests issue it with
//     franz-go.
package kafka
