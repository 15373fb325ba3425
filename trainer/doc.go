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
// # Jobs on a driver
//
// Package trainer/jobs runs specs submitted to a long-running driver: a
// queue of jobs kept in a models.Store with their checkpoints
// (CheckpointPrefix), resumed by the next driver and retried after
// transient failures, its HTTP API, and the API's Go client.
package trainer
