// Package trainer runs Flint's training jobs: a YAML spec (Spec, ParseSpec)
// names a source, a schema, feature transforms, an algorithm and its
// evaluation, and Run reads the source, fits the transforms, caches the
// feature rows on a cluster.Cluster, trains (with a grid search when the
// spec has one), evaluates and publishes the model to a models.Registry.
// Plan describes what Run would do, for --dry-run.
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
// # Progress
//
// Every fit reports its iterations to the Options.Observer: the
// optimisers, k-means (its cost as the loss), ALS (no loss), the MLP, a
// linear regression's direct solve (one iteration), and the fits of each
// grid point (as trial i > 0).
//
// # The job manager and its API
//
// A Manager runs jobs submitted to a long-running driver, one record per
// job in a models.Store (jobs/<id>.json) beside the optimiser checkpoints,
// so a restarted driver resumes the jobs it was running. An attempt that
// fails for a transient reason (an error wrapping cluster.ErrUnavailable,
// or an expired deadline of a log read) is started again from the job's
// newest checkpoint, with backoff, up to ManagerConfig.Retries times within
// RetryFor; other errors fail the job at once, and a canceled job is never
// retried. Manager.Collector exposes its Prometheus metrics.
//
// API serves a Manager over HTTP (docs/driver.md): submitting, listing,
// following and canceling jobs, the cluster's workers, and /metrics, behind
// a bearer token; refused tokens are counted and logged at most once a
// minute per client address.
package trainer
