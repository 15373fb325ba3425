// Package trainer runs Flint's training jobs: a YAML spec (Spec, ParseSpec)
// names a source, a schema, feature transforms, an algorithm and its
// evaluation, and Run trains the model and publishes it to a
// models.Registry. Plan describes what Run would do, for --dry-run.
//
// # Files
//
// The package has three concerns, each in its own files:
//
//   - the spec: its types (spec.go), the strict YAML decoder that reports
//     every problem at once with file:line:column (spec_decode.go,
//     spec_syntax.go), the JSON Schema and reference generated from the
//     types (spec_schema.go), the --dry-run plan (spec_plan.go) and the
//     check that its files and topics exist (spec_sources.go);
//   - the algorithms: the contract (algorithm.go) and one file per
//     algorithm (algo_*.go);
//   - the run: Run and its one flow (run.go, flow.go), turning records into
//     data (prepare.go, data.go), selection (select.go), scoring
//     (evaluate.go), checkpoints (checkpoint.go) and dead letters
//     (deadletter.go);
//   - continuous training: the trigger, source.window, warm_start and
//     promote sections (spec_loop.go), windows and the held-out recent
//     records planned as offsets (loop_plan.go), the warm start from the
//     previous version and its training section (warmstart.go), and the
//     champion/challenger promotion (promote.go). The trigger itself is
//     followed by package trainer/jobs.
//
// Jobs submitted to a long-running driver — the persistent queue, retries,
// the HTTP API and its Go client — are package trainer/jobs.
//
// # Algorithms
//
// Every algorithm is one field of Algorithm, pointing to the type of its
// spec section, which implements the unexported algo contract: its checks,
// its grid parameters, its metrics and the one it chooses by, what its
// records become (feature rows, or ALS's ratings), and its fit, whose
// result scores itself on data and encodes itself for the artefact. The
// field is the whole registration: the spec's decoder, validation, JSON
// Schema, reference documentation, plan and run find the algorithm
// through it.
//
// # The flow
//
// Every algorithm, supervised or not, goes through one flow: plan the
// sources and pin them (in the checkpoint, when the job has one) →
// fit the feature transforms on the training records → cache the rows →
// hold out the rows the metrics are reported on → select (a grid, scored
// by cross-validation of the training rows or on a validation share of
// them; or cross-validate the algorithm without a grid) → fit the
// published model (again on all the training rows after a grid, unless
// evaluation.refit is false) → evaluate → publish, moving the alias when
// the metric thresholds hold (with promote: when the new version also
// beats the version behind the alias on the held-out recent records).
//
// Evaluation is honest by construction: the rows the metrics are reported
// on (a held-out share, evaluation.test's records, or with
// test_fraction: 0 the training rows, as Result.EvaluatedOn says) are
// never those a grid point is chosen by; a grid point that fails is
// skipped and recorded (Result.Trials); a NaN metric is an error naming
// its cause; and the result says how many iterations the published fit
// ran and why it stopped.
//
// # Datasets
//
// Every dataset a run caches — its rows, their train and test splits,
// cross-validation folds, ALS rating blocks — belongs to the run: Run
// wraps the cluster in a cluster.Scope and closes it however the run ends
// (success, failure, cancellation, panic), so no job leaves partitions
// cached on the workers. Intermediates are dropped as soon as the run no
// longer needs them.
//
// # The data path: parse once, split without copying
//
// A job's records are decoded once when its pipeline allows
// (features.Pipeline.CachedFit: every field numeric or a vector and
// required, no weight field, transforms only min-max and standard scalers
// of fields and an assembler): the rows are cached as the fields' raw
// numbers (Pipeline.RawFormat), the transforms are fitted from the cached
// floats by a task over the partitions (Pipeline.FitCached, bit for bit
// what the scan over the records learns), and each cached row is replaced
// by its feature vector in the same memory (Pipeline.TransformCached); the
// raw dataset is then dropped. Any other pipeline (imputers, encoders with
// vocabularies, discretisers, text) keeps the two passes: Pipeline.Fit
// scans the records, and the rows are decoded again through the fitted
// pipeline. evaluation.test's records always take the second way, through
// the pipeline fitted on the job's records. On the parse-once way a bad
// record is named (source and offset) when it is cached; a row whose
// features are not finite is named by partition and row.
//
// The held-out split (evaluation.test_fraction) takes views, not copies:
// cluster.SplitConsuming rearranges each partition's rows in place (the
// training rows first, each side in its original order, so the sides are
// the rows a copying split gives, in the same order) and drops the unsplit
// dataset. Cross-validation folds (evaluation.folds) are views too:
// cluster.Folds groups each partition of the training rows by fold in
// place, once, and each fold's test and training sets are row ranges of
// that memory, so k folds cache no more bytes than the training rows. The
// training rows stay cached, in fold order, for the refit. On remote
// workers cross-validation takes the folds one at a time (foldSet),
// fitting every grid point on a fold before the next is made, and
// cluster.Fold makes each as views too: every worker rearranges the rows
// it holds for fold i in turn, so the workers cache no more bytes than the
// training rows. A cluster that makes no views copies each fold then, and
// holds one fold's copies, not k. A grid's validation share still copies
// (its parent stays in use).
//
// # Progress
//
// Every fit reports its iterations to the Options.Observer: the
// optimisers, k-means (its cost as the loss), ALS (its objective as the
// loss with algorithm.als.tol, else none), the MLP, a
// linear regression's direct solve and naive Bayes's one pass (one
// iteration each), and the fits of each grid point and fold (as trial
// i > 0). The last report of a fit says why it stopped (ml.Progress.Stop).
package trainer
