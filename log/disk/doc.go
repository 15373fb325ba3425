// Package disk is the embedded, file-backed implementation of log.Log: the
// default log of a Flint cluster, kept in one directory of the local file
// system and needing no server. It follows Kafka's semantics as package log
// describes them; this documentation covers what is particular to disk.
//
//	l, err := disk.Open(disk.Config{Dir: "/var/lib/flint/log"})
//	...
//	defer l.Close()
//
// # Layout
//
//	<Dir>/.lock                                 flock'ed by the open Log; holds its PID
//	<Dir>/.recovery-points                      each partition's recovery point; written atomically
//	<Dir>/<topic>/topic.json                    partition count and retention; written atomically
//	<Dir>/<topic>/<partition>/<base>.seg        record batches, appended to
//	<Dir>/<topic>/<partition>/<base>.idx        sparse offset index of the segment
//	<Dir>/<topic>/<partition>/<base>.tix        sparse time index of the segment
//	<Dir>/__groups/<group>.offsets              a consumer group's committed offsets
//
// <base> is the offset of the segment's first record, zero-padded to 20
// digits, so lexical order is offset order. The names "__groups", ".lock"
// and ".recovery-points" cannot be topics. A partition's last segment is its active one; when an
// append would take it past the topic's SegmentBytes (Config.SegmentBytes by
// default, 64 MiB), the next one is created at the high watermark, and the
// old one is sealed: its data and index files fdatasynced, then the
// directory fsynced (under SyncEachAppend before the append returns; under
// SyncInterval in the background, see Durability). topic.json is written to
// topic.json.tmp, fsynced, renamed and the directory fsynced; it is written
// last, so a topic exists once and only once it is complete.
//
// # Record batches
//
// Each Append writes, per partition, one batch (several only when its
// records for that partition encode to more than 8 MiB) and writes all of
// them with one write call. Integers in the header are little-endian:
//
//	 0      4      8     9        12      16           24        32        40
//	+------+------+-----+--------+-------+------------+---------+---------+-----------
//	|length| crc  |magic|reserved| count | baseOffset | minTime | maxTime | records...
//	+------+------+-----+--------+-------+------------+---------+---------+-----------
//	 uint32 uint32  =1   3 × 0    uint32    int64       int64     int64
//
// length counts the bytes after the length field; crc is the CRC-32C
// (Castagnoli) of every byte after the crc field, from magic to the end of
// the last record; count is the number of records (at least 1), whose
// offsets are baseOffset, baseOffset+1, ...; times are Unix nanoseconds.
// Each record is:
//
//	uvarint timeDelta      record time - minTime
//	varint  keyLength      zigzag; -1 for a nil key
//	        key
//	varint  valueLength    zigzag; -1 for a nil value
//	        value
//	uvarint headerCount
//	headerCount × ( uvarint keyLength | key | varint valueLength (-1: nil) | value )
//
// Record times are stored as Unix nanoseconds, so they must lie between the
// years 1678 and 2262.
//
// # Indexes
//
// A batch that starts at least 4 KiB after the last indexed batch of its
// segment (and the first of each segment) gets an entry in the segment's
// indexes:
//
//	.idx entry: relOffset uint32 | position uint32
//	.tix entry: maxTimeBefore int64 | relOffset uint32
//
// relOffset is the batch's first offset minus the segment's base; position
// its byte position in the segment; maxTimeBefore the greatest record time of
// the segment's batches before it (math.MinInt64 for the first), which never
// decreases, so OffsetForTime finds by binary search the last entry before
// which every record is older than the time asked for and scans from there.
// The indexes are kept in memory (16 bytes per 4 KiB of records) and written
// lazily; they are fsynced when their segment is rolled, at Close, and
// before a recovery point covers them. Open reads the index files of what a
// recovery point covers, once their CRC-32C matches the one the point
// recorded, and rebuilds the rest from the segments it verifies, rewriting
// any file that differs from the rebuild.
//
// # Reading
//
// Read finds the batch holding the offset asked for through the sparse
// index, then reads with one pread (usually) enough bytes for the limits of
// ReadOptions into a fresh buffer. It verifies the CRC of each batch it
// decodes, and the Key, Value and header values of the records it returns
// alias that buffer: nothing is copied per record (only a record with
// headers costs an allocation, for its []Header and their string keys).
// Reads run without the
// partition's append lock, on a snapshot of the segment list and the high
// watermark; a read at the high watermark waits on a channel that the next
// append to the partition closes.
//
// # Durability
//
// What an acknowledged Append (one that returned nil) survives:
//
//   - SyncInterval (the default): its batch was written into the segment
//     file with write(2), so it survives the process crashing or being
//     killed (SIGKILL included), since the data is in the kernel's page
//     cache. A background goroutine fdatasyncs every partition appended to,
//     every Config.SyncEvery (1s by default), and when Config.SyncBytes is
//     set the Append that brings a partition to SyncBytes unsynced bytes
//     fsyncs it before returning. The Append that brings a partition to a
//     quarter of its segment size (at most 8 MiB) unsynced asks that
//     goroutine to fdatasync it at once, and returns without waiting; so
//     does the Append that rolls a segment, which leaves the sealing of the
//     old segment to that goroutine and waits for no fsync (unless the
//     segment before it is still not sealed, a whole segment later). No
//     segment is fsynced before the one before it is sealed. A power
//     failure or kernel crash loses at most the appends of the last
//     SyncEvery (or SyncBytes) per partition, and of the segment being
//     sealed, always a suffix: recovery never leaves a hole.
//   - SyncEachAppend: the batch was also fdatasynced before Append
//     returned, so it survives power failure too (on a disk that honours
//     flushes).
//   - SyncUnsafeNever: like SyncInterval for a process crash, but nothing
//     is ever fsynced, so a power failure may lose any amount. For
//     benchmarks and throwaway data only.
//
// Except under SyncUnsafeNever, segment rolls, topic creation and retention
// fsync the directories they change, committed group offsets are fsynced
// before Commit returns, and Close seals and fsyncs every segment not yet
// synced. Since at most one segment, the one before the last, waits to be
// sealed, only the last two segments of a partition can have a torn tail
// after a power failure. When the one before the last does, and no
// recovery point covers it (a sealed segment's would, once set), Open
// truncates it there and removes the last segment, whose records follow
// the hole, reporting both in (*Log).Recovery. Damage anywhere else, or
// with intact batches after it, is a *CorruptionError (under
// SyncUnsafeNever torn tails further back can occur, and are reported so).
// Every fdatasync of a segment, index file or group offsets file is timed:
// (*Log).SyncStats sums them up, (*Log).SyncDurations is a Prometheus
// histogram of them (flint_log_disk_fsync_duration_seconds) for the caller
// to register, and one that takes Config.SlowSync (1s) or longer is logged
// as a warning naming the file, as etcd's WAL warns of slow fdatasyncs: a
// disk that slow stalls the appends waiting on it.
// An Append whose write or fsync fails returns the error and the partition
// refuses further appends until the log is reopened, since after a failed
// fsync the kernel's view of the file cannot be trusted.
//
// # Recovery
//
// Open takes an exclusive flock on <Dir>/.lock (a second Open of the same
// directory, from this process or another, fails with an error wrapping
// ErrLocked that names the holder's PID), then reads every segment of every
// partition and verifies every batch: its header, its CRC, its records'
// structure and that offsets continue densely from the file name's offset
// and from segment to segment. In a partition's last segment, an incomplete
// or bad batch with nothing intact after it is the torn tail a crash leaves
// behind: Open truncates it, fsyncs, logs a warning naming the file, the
// byte position and the bytes dropped, and reports it in (*Log).Recovery.
// Anything else is damage, not what a crash produces: a bad batch in any
// other segment, a segment that does not continue its predecessor, or a
// bad batch followed by an intact one (appends write whole batches at the
// end of the file, so a crash cannot leave valid batches after a bad one).
// Open drops nothing then. It isolates the partition instead: Open
// succeeds, logs an error, and every operation on that partition (Read,
// Offsets, OffsetForTime, Append of records that go to it, Describe of its
// topic, a group member's Poll) returns an error wrapping a
// *CorruptionError that names the file and byte position, while the other
// partitions and topics work. Nothing is changed on disk: Verify checks
// every batch of a log and reports each partition's damage (file, byte
// position, and the Loss a repair implies), and Repair, on request and
// under the lock, truncates each damaged partition at its damage, removing
// the segments after it (flint log verify and flint log repair --yes).
// Partitions are verified in parallel.
//
// # Recovery points
//
// As Kafka's recovery-point-offset-checkpoint, <Dir>/.recovery-points keeps
// per partition the place (segment, byte position, offset) up to which its
// segments are known to be on stable storage and clean, and for each
// segment up to there its size, next offset and newest record time and the
// count and CRC-32C of its index entries. Close moves every partition's
// point to its end (after fsyncing its active segment and index files);
// under SyncInterval and SyncEachAppend a background goroutine does the
// same every Config.RecoveryPointEvery (10s) for the partitions appended
// to. The file is text: the line "flint-recovery-points 1", per partition
// "TOPIC PARTITION BASE POS NEXT K" followed by K lines "SEGMENT_BASE
// ENTRIES CRC SIZE NEXT MAXTIME", and last "crc32c HEX", the CRC-32C of all
// before it; it is written to a temporary file, fsynced, renamed and the
// directory fsynced. A damaged file is ignored (with a warning), and Open
// then checks everything.
//
// Open trusts what lies before a partition's recovery point: it takes up
// each segment there as the point recorded it, reading only its index
// files (whose entries must match the recorded count and CRC), and
// verifies only the bytes after the point. So a clean Open verifies no
// batch, and one after a crash what was written since the last point,
// rather than time in proportion to the data stored. A segment that is not
// what the point recorded (another size, index files that changed, a first
// batch after the point that does not continue it) is verified whole.
// Damage before the point is not looked for by Open: a Read that meets it
// fails with a *CorruptionError (every batch read is CRC-checked), and
// Verify, which ignores recovery points, finds it. Repair forgets the
// recovery point of each partition it truncates. Under SyncUnsafeNever no
// recovery point is written.
//
// # Read-only logs
//
// Config.ReadOnly opens a log for reading beside the one process that has
// it open for writing (or with none), as the workers of a multi-process
// cluster read the partitions a driver appends to. A read-only Log takes no
// lock and never creates, writes, truncates, renames or removes a file: it
// rebuilds the indexes in memory only, leaves torn tails as they are, and
// runs no background goroutine. CreateTopic, Append, JoinGroup (groups are
// coordinated in the writer's process) and EnforceRetention fail with an
// error wrapping ErrReadOnly that names the operation.
//
// Open verifies the segments as a writable Open does (what lies after the
// recovery points), and isolates a damaged partition likewise, except that an
// incomplete or bad batch at the end of a partition's last segment is taken
// for one the writer is still writing: the reader's high watermark stops
// before it. From then on the reader only looks at what changed, and only
// when it must: a Read at or past its high watermark (or below its earliest
// offset), Offsets, Describe and OffsetForTime first fstat the partition's
// first and last segments and stat the file a roll would create next (the
// name of the last segment's end offset); when the last segment grew, they
// verify and index just the new bytes; when a newer segment exists or the
// first was unlinked by retention, they list the directory, verify the rest
// of the segment that is no longer last, open the new ones and drop the
// removed ones. A Read below the high watermark costs one more fstat, to
// see whether retention unlinked the segment it reads: it then fails with
// a *log.OffsetOutOfRangeError, as it would on the writer. A Read that waits
// at the high watermark (ReadOptions.Wait) polls every 10ms. Topics lists
// Dir, and naming an unknown topic looks for it, so topics created after
// Open appear. Committed reads the group's offsets file at each call;
// Groups lists those files, so it misses groups joined but never committed
// to in the writer's process.
//
// A bad batch in the last segment becomes a *CorruptionError once the
// writer is known to be past it: when a newer segment exists, when the
// same batch is still bad after the file grew, or, at Open, when it is
// still bad read a second time with an intact batch after it. Damage in an earlier segment
// is a *CorruptionError at once, naming the file and byte position.
// Readers rely on a write being visible to other processes once it
// returns, and on files growing only at their end: a local file system,
// not a network one.
//
// # Consumer groups
//
// Groups are coordinated in process. Members get IDs "<group>-<n>" in join
// order, and Kafka's range assignor divides each topic's partitions among
// the members subscribed to it: in member order, contiguous ranges, the
// first members taking one more when the count does not divide. Every join
// and leave (Consumer.Close) starts a new generation; a member takes up its
// new assignment at its next Poll or Assignment, continuing the partitions
// it kept where it was and starting each new one at the group's committed
// offset or, if the group never committed one, at the earliest offset
// (StartEarliest) or at the high watermark when it was assigned
// (StartLatest). Poll reads the member's partitions in turn and waits (up to
// ReadOptions.Wait) for an append to any of them, a rebalance, cancellation
// or Close. A position that retention overtook moves to the earliest offset.
//
// Commit appends one entry (length uint32, CRC-32C uint32 of the payload,
// then the payload: a count and, per topic-partition, the topic, the
// partition and the offset, as uvarints) to <Dir>/__groups/<group>.offsets
// and fdatasyncs it before returning; Open reads the file, truncates a torn tail
// as for segments, and compacts it to one entry (tmp file, fsync, rename,
// fsync of the directory), as Commit also does when the file grows past
// 64 KiB. Group names are escaped into file names (bytes other than letters,
// digits, '_' and '-' become %XX).
//
// # Retention
//
// A background goroutine applies each topic's retention every
// Config.RetentionCheck (1 minute by default); (*Log).EnforceRetention
// applies it at once. Only whole segments are removed, oldest first, and
// only a prefix of a partition, so offsets stay dense: a segment goes while
// its newest record is older than RetentionAge, or while the partition holds
// more than RetentionBytes. The active segment is never removed as such, but
// when RetentionAge applies and every one of its records has expired, it is
// rolled first so that it can go; the partition is then empty, with its
// earliest offset equal to its high watermark. The earliest offset of a
// partition is the base offset of its oldest segment; reading below it fails
// with a *log.OffsetOutOfRangeError naming it.
//
// # Concurrency
//
// A Log is safe for use by many goroutines. Appends to one partition are
// serialized by a per-partition mutex, held for the encoding and the write
// (and under SyncEachAppend the fdatasync) of the batch; appends to
// different partitions run in parallel. Readers take the partition's state
// lock only to take a snapshot, and hold a reference on the segment they
// read, so retention never closes a file under them. Close waits for
// operations in flight, wakes blocked reads and polls (they return
// log.ErrClosed), stops the background goroutines and waits for them.
//
// The package needs a Unix system (flock); fdatasync is used on Linux and
// fsync elsewhere.
package disk
