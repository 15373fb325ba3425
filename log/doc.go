// Package log is Flint's partitioned, append-only record log: the contract
// that every source of training data and every streaming consumer is written
// against.
//
// It models Kafka's semantics so that the embedded backend (log/disk, the
// default) and real Kafka (log/kafka) behave the same:
//
//   - A topic has a fixed number of partitions. Offsets are dense per
//     partition: the first record appended to a partition gets offset 0, the
//     next 1, and so on; retention may only remove whole prefixes.
//   - A keyed record goes to Partition(key, n), which is exactly Kafka's
//     default partitioner (murmur2 of the key, made positive, modulo the
//     partition count), so Flint and Java clients agree on where a key lives.
//     Unkeyed records are sticky per Append call: one call's unkeyed records
//     share a partition, and successive calls rotate through the partitions.
//   - Reads start at an offset, are bounded by records and bytes, and may
//     block up to ReadOptions.Wait for new records to arrive.
//   - A null (nil) key, value or header value and an empty one are
//     different things, as in Kafka, and read back as they were appended.
//   - Consumer groups divide a topic's partitions among their members; each
//     member's committed offsets survive restarts.
//
// # Delivery guarantees
//
// A Consumer never commits on its own. At-least-once delivery, the default
// way to use it, is: Poll, process the records, then Commit them; a crash
// between processing and committing redelivers those records to whichever
// member owns the partition next. At-most-once delivery is: Poll, Commit, then
// process; a crash after the commit loses the records being processed, never
// duplicates them.
//
// # Errors
//
// Backends map their own failures onto the sentinels of this package
// (ErrUnknownTopic, ErrOffsetOutOfRange, ...), so callers test with errors.Is
// and never import a backend's error types. A read below the first retained
// offset returns an *OffsetOutOfRangeError naming the earliest offset still
// available.
package log
