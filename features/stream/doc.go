// Package stream computes windowed aggregates over event streams, per key,
// by one definition and one piece of code for both serving and training:
// online, a processor applies each event to its key's State and reads the
// values; offline, AsOf replays the same events in log order through the
// same Apply and Value to answer training labels as of their times.
//
// # Definitions
//
// A definition (YAML, decoded by Parse, which reports every problem at once
// with file:line:column and the field's path) names a source topic, the
// schema of its events (number, string and timestamp fields), the key field
// and the event-time field (a timestamp field, or the record's own
// timestamp when omitted: whoever decodes records puts it in Event.Time),
// the allowed lateness, derived fields and the features:
//
//	name: card_activity
//	source:
//	  topic: transactions
//	  key: card
//	  time: at                # omit to use the record timestamp
//	  fields: {card: string, at: timestamp, amount: number, merchant: string}
//	lateness: 10m
//	derived:
//	  - {name: amount_eur, mul: [amount, 0.92]}   # add, sub, mul or div of two fields or numbers
//	features:
//	  - name: tx_1h
//	    aggregate: count
//	    window: {sliding: 1h, resolution: 1m}
//	  - name: merchants_30d
//	    aggregate: distinct_count
//	    field: merchant
//	    precision: 12
//	    window: {sliding: 30d, resolution: 1d}
//	  - name: spend_today
//	    aggregate: sum
//	    field: amount_eur
//	    window: {tumbling: 1d}
//	    where: [{field: amount, op: ">", value: 0}]
//
// Durations are Go durations (90s, 15m, 1h30m) or whole days (7d), in
// whole milliseconds. Times are milliseconds since the Unix epoch.
//
// # Tables
//
// A definition may enrich its events from keyed table topics (tables:), as
// Kafka Streams joins a KStream with a KTable:
//
//	tables:
//	  - {name: m, topic: merchants, key: merchant, fields: {category: string, risk: number}}
//
// Each event gets fields m_category and m_risk — usable by derived fields,
// filters and features like any other — from the merchants record keyed by
// the event's merchant value whose record time is the latest at or before
// the event's time (a temporal join: every version is kept, see Tables;
// null or an empty value deletes the key from its time on). The processor
// reads the tables to their ends before each batch, and a point-in-time
// join pins their ends, so both give an event the same version as long as
// a table record is in the log before the events of its time are
// processed; a record appended later with an earlier time changes the
// joins computed after it only. The processor keeps every version of every
// table key in memory, since an event of a quiet key may be old: tables
// are for reference data that changes now and then (merchants, products),
// not for a stream of updates.
//
// # Aggregates
//
// count, sum, mean, min, max, variance (population: Σ(x−mean)²/n, by
// Welford's update within a bucket and Chan et al.'s combination across
// buckets), last and first (the value at the latest, or earliest, event
// time; of equal times the last applied wins for last and the first applied
// for first), time_since_last (seconds from the latest event time in the
// window to the time asked), and distinct_count (a HyperLogLog of 2^p
// registers per bucket, p = precision from 4 to 16, default 10; standard
// relative error about 1.04/√(2^p), 3.25% at p = 10; rounded to a whole
// number). A NaN field value is missing: the event is not aggregated by
// the features of that field. count and time_since_last take no field and
// see every event that passes their filters. An empty window's count, sum
// and distinct_count are 0; every other aggregate is NaN.
// Derived fields are computed in order in IEEE 754 arithmetic (x/0 is ±Inf
// or NaN) before filtering and aggregation; a filter compares a field with
// a constant (strings with == and != only), and a feature aggregates only
// events that pass all its filters.
//
// # Windows
//
// Every window is kept as buckets of a width w: bucket b holds the events
// whose time t has ⌊t/w⌋ = b. The value at time T is exact over whole
// buckets, combined oldest first. With B = ⌊T/w⌋:
//
//   - sliding D with resolution R (w = R, D a multiple of R): buckets
//     B−D/R … B, that is every event with time in [(B−D/R)·R, T]. Every
//     event of the last D is included, and so are those of the oldest
//     bucket before T−D: the window spans from D to just under D+R.
//   - tumbling D (w = D): bucket B, the events in [B·D, T]: the calendar
//     window (aligned to the epoch) that holds T, so far.
//   - hopping D every S (w = S, D a multiple of S): buckets B−D/S … B−1,
//     the events in [(B−D/S)·S, B·S): the latest complete window of length
//     D among those starting at multiples of S. It changes when T crosses
//     a multiple of S, and when a late event within the lateness lands in
//     it.
//
// Reading a value walks the window's buckets (for distinct_count, their
// registers too); a key's state holds, per feature, D/w+1 buckets (one for
// tumbling) of 1 to 3 float64s, or of 2^p register bytes.
//
// # Stream time, lateness and "as of"
//
// Each key has a stream time: the latest event time applied to it. An
// event before the stream time by more than the lateness is dropped and
// counted (State.Counts); one within the lateness is applied and counted
// as late; it lands in its own bucket, so it changes the windows that
// include its time, if the state still keeps that bucket (a late event
// older than every window the state can still answer changes nothing).
// Value(T) is asked at or after the stream time: online, at the stream
// time after each event (or at the wall clock when serving); a time before
// the stream time is taken as the stream time, since applied events after
// it cannot be taken out.
//
// The value as of t, for a training label, uses exactly the key's events
// that a serving replica had applied when the key's stream time reached t
// and before it moved past t: replaying the key's events in log order, it
// is Value(t) just before the first event whose time is after t. So it
// never uses an event after t, nor an event at or before t that arrived
// after one later than t (at t, a replica had not seen it yet). Events of
// other keys never change it. The online value after an event equals the
// as-of value at the stream time it leaves whenever the key's next event
// moves the stream time on.
//
// Stream time is per key, not per partition, so values do not depend on
// how keys are spread over partitions or processed together.
//
// # State
//
// A State is flat: a few counters and two slabs (float64 cells and
// HyperLogLog register bytes) laid out by the Aggregator, with no pointers
// per bucket; Apply and Value allocate nothing. It encodes to a versioned
// binary form (Aggregator.AppendState, DecodeState) whose header carries a
// fingerprint of the layout, so a processor can keep states in a store and
// a changelog and never read one under a changed definition.
//
// # The processor
//
// A Processor (flint features run) is a definition's online side. It
// consumes the source topic in a consumer group, decodes each record into
// an Event through the features package (RecordDecoder: JSON objects, as
// flint ingest appends them; the record's timestamp is the event time when
// the definition names no time field), applies it to its key's State, and
// publishes two topics, both keyed by entity key:
//
//   - the feature table (default features.NAME.table): the key's values at
//     its stream time, encoded as TableValue documents, after every event
//     applied (EmitEvery; late ones included, dropped ones change no
//     value), or, by default (EmitLatest), once per poll for each key the
//     poll changed, after its last event in it, as Kafka Streams' record
//     caches forward a KTable's updates once per commit;
//   - the changelog (default features.NAME.changelog): every changed
//     state, once per poll, as AppendStored encodes it (the source
//     partition and offset of the key's last event, then the state), so a
//     compacted changelog keeps every key's newest state.
//
// Both carry a SourceHeader naming the source record they follow from.
// The source must be keyed by the definition's key field (flint ingest
// --key FIELD): each key's events then lie in one partition, in order, and
// values never depend on how partitions interleave. A record whose key
// field belongs in another partition stops the processor with an error.
//
// A source not keyed that way (source.repartition: true) is repartitioned
// first, as Kafka Streams does through an internal topic: a repartition
// stage (ProcessorConfig.Repartition; its own group and store) appends
// every source record that decodes, unchanged (value and timestamp), keyed
// by the key field, to the event topic features.NAME.repartition
// (Definition.EventTopic), exactly once by the means the feature table uses
// (source headers and marks); the aggregating processor and point-in-time
// joins read the event topic. flint features run runs both stages.
//
// The states live in a Store: Pebble, an LSM tree made for exactly this
// (small keyed writes, atomic synced batches behind a write-ahead log),
// used by CockroachDB, and pure Go: built with CGO_ENABLED=0 (or -tags
// pebblegozstd) flint stays one static binary; with cgo, Pebble links a C
// zstd for its compression.
//
// # Exactly once
//
// The log has no transactions, so the processor makes each step
// repeatable and each output idempotent. One poll is one batch: apply its
// records, append the feature-table records, append the changelog
// records, then commit in one synced Pebble batch the changed states, the
// next input offset of every partition in the batch, and, per output
// partition, the end of this batch's appends (a mark: every later append
// lands at or after it). Only then does it commit the group's offsets,
// which only a successor without this store reads.
//
// A process killed at any moment leaves the store at the end of some
// batch B; the outputs of B+1 may be in the log in part or in full. On
// restart, the processor resumes every partition at the store's offset
// (records the group delivers below it are skipped, and records it skips
// past are read from the log), re-derives B+1 with the same code, and
// reads each output partition from its mark to its end, noting the source
// positions already published: a feature-table record whose source
// position is there (EmitLatest: the key's last event in the re-derived
// poll; a record a crashed run published for an event in the middle of
// it stays, a correct value more than an uninterrupted run has), or a changelog record for a key with one as new or
// newer, is not appended again. So the outputs and the states end exactly
// as an uninterrupted run's: no double count, no gap.
//
// That holds across machine crashes when the log keeps what it
// acknowledges: Kafka, or the embedded log with disk.SyncEachAppend (flint
// features run opens it so). A processor that starts to find an output
// partition ending before its mark (the log lost acknowledged records)
// refuses to run rather than leave a gap.
//
// When the store is lost (a processor replaced on another machine), or
// holds a partition less far than the group's committed offset (the
// partition was processed elsewhere), the partition is restored: every
// key's newest state in the changelog (the highest source offset) goes
// into the store, and the partition resumes at the group's committed
// offset. A restored state may be ahead of that offset (the changelog was
// appended before the store's commit); each state records the source
// offset of its key's last event, and an event at or before it is skipped.
// Since another processor may have owned any partition meanwhile, outputs
// are also looked for from ProcessorConfig.RestoreSkew before the time of
// the first record to re-derive (writers' clocks may disagree by at most
// that much), and a changelog state there newer than the store's is taken
// in. The price: a processor far behind re-reads, when it starts, about
// what it published since it fell behind.
//
// Two processors in one group split the partitions; a partition that
// moves is restored from the changelog by its new owner, and a batch
// applied while a rebalance takes its partitions away is dropped
// unpublished. The log has no producer fencing, so what is not covered is
// a processor stalled (not dead) past its session timeout in the middle of
// publishing a batch: when it wakes it may finish publishing beside the new
// owner, the same values twice. A partition taken away and given back
// between two polls of one processor is not noticed either.
//
// A Processor's Metrics are Prometheus collectors: events by outcome
// (their rate is events per second; dropped counts late drops), records
// published, commits, new keys, lag and the store's size on disk.
package stream
