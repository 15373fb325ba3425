// Package online runs a streaming algorithm (package ml/streaming) on a
// log topic and publishes its model to the registry as it learns: the
// runner behind `flint online -f spec.yaml`.
//
// # What a run does
//
// The runner joins the spec's consumer group on the source topic, decodes
// each record with the schema and the fitted feature pipeline (package
// features, exactly as the batch trainer and the server decode), and
// folds mini-batches of batch_records rows into the model; a batch that
// is not full is applied when the topic has nothing more for a poll. Every
// publish.every_records records or publish.every, whichever comes first,
// it publishes the model as the next version of output.model: the
// artefact the batch trainer writes for k-means, linear or logistic
// regression (Algorithm "kmeans", "linear" or "logistic", the same
// parameter encodings and pipeline), so `flint serve` serves it with no
// change. Its lineage is, per partition, the offset ranges [from, to)
// learnt since the model's first version: one range, or more when a run
// began past where the version ended (the group's offsets were moved on,
// or retention removed records), so a gap shows records never learnt. Its
// "online" section holds what a restart needs (the algorithm, counters,
// k-means weights, the ranges).
//
// Transforms that learn parameters (scalers, encoders, ...) are fitted
// once, at the first start, on the first fit_records records (read again
// from the log by their offset ranges, as the batch trainer fits), and are
// then frozen: every version carries the same pipeline. A restart whose
// spec has another schema or other transforms than the version's pipeline
// is refused, as is one with another algorithm or topic.
//
// # Restarts and the offset guarantee
//
// A run resumes from the latest version of the model: its parameters,
// pipeline and offsets. Offsets are committed to the group only after the
// version holding them is published, so a committed record is always in
// a published version. A crash between the publish and the commit leaves
// the group behind the version; the next run reads those records again
// and drops every record below the version's offsets, so no record is
// learnt twice and none is lost. Records read after the
// last version are learnt again by the next run (they were in no
// version). A run stopped by its context publishes nothing more. A
// publish the store refuses is retried with backoff (0.1 s doubling to
// 30 s) until it succeeds: an outage stalls the run, commits nothing, and
// ends only with the context.
//
// One runner per model: two runners in one group would each publish their
// own versions of the partitions they were given.
//
// # Determinism
//
// Given the records in the same order, a run gives the same versions bit
// for bit: batches are cut by count, the fit and the models are
// deterministic. A batch cut early because a poll came back empty, and a
// version published by publish.every, depend on when records arrived.
package online
