// Package join joins the prediction log (package predlog) with labels
// that arrive later, by request id, into a training topic: the records a
// job spec trains the next round on. flint predictions join runs it.
//
// # Labels
//
// A label event is one JSON object in the labels topic:
//
//	{"id": "6f1c0d2a9b3e4f57-1a", "row": 0, "label": "yes"}
//
// id is the request id the server answered in X-Request-Id; row the row
// of the request (default 0); label any JSON value but null. Keying label
// records by the request id is not required.
//
// # Predictions
//
// The prediction log's records are split into rows with
// predlog.DecodeRows: a record of format 2 (one request) gives each of its
// rows, one of format 1 (written by earlier versions) its one row; a
// prediction row waits in the store in format 1.
//
// # Output
//
// Each prediction row whose label arrives within Config.Window of it (in
// either order) becomes one record of the out topic: the row's fields as
// the client sent them, with the label added under Config.LabelField:
//
//	{"age": 30, "plan": "pro", "label": "yes"}
//
// so a job spec whose schema has the raw fields and the label reads it as
// it reads any topic. The record's key is the request id, its time the
// prediction's, and its headers carry what the schema need not:
// flint-join (request id, '/', row), flint-model, flint-version and
// flint-prediction (the prediction's JSON).
//
// A prediction with no label within the window is dropped and counted
// (flint_join_records_total{result="expired_prediction"}), and so is a
// label with no prediction within the window ("unmatched_label"): a label
// for a request the server did not sample, or that came too late. Time is
// the records' log time: the window closes on the newest record time the
// joiner has read, not on its clock, so a joiner that was stopped for a
// day does not expire everything when it catches up.
//
// # Exactly once
//
// The joiner keeps its waiting predictions and labels, the next offset of
// every input partition and, per out partition, a mark (every record it
// appended after its last commit lies at or after it) in a Pebble store
// (Config.StateDir), committed in one synced batch after each batch's
// appends — the pattern of features/stream. On restart it reads each out
// partition from its mark and notes the joins already published there;
// re-deriving the batch that was under way, it does not append those
// again. Records the group redelivers below the store's offsets are
// skipped. So every joined row is appended once, as long as the store
// survives: delete it and the joiner starts again from the group's
// committed offsets (committed after the store), with no waiting rows.
//
// One caveat at the window's edge: a batch re-derived after a crash may
// be read in other portions than the first time, and a row whose label
// arrives just as the window closes can then expire where it joined
// before (its record stays published once). Joins well inside the window
// are unaffected.
//
// The state is one process's: run one joiner per consumer group (a second
// member would take half the partitions of each topic, with state of its
// own, and miss the joins that straddle them).
package join
