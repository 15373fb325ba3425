package cluster

import (
	"context"
	"errors"
)

// Cluster is everything a training job needs of an execution engine:
// caching datasets from their sources (or from blocks the driver built),
// running tasks and scans over them, deriving datasets, and dropping them.
// The in-process *Engine implements it, and so does the driver of remote
// worker processes (cluster/remote), so jobs are written once and run on
// either.
type Cluster interface {
	Deriver
	Scanner
	// LoadSources caches the rows of the sources as a dataset named name,
	// one partition per source. l is the log for log sources; a remote
	// cluster's workers read from their own connection to the same log.
	LoadSources(ctx context.Context, l LogReader, name string, sources []Source) (*Dataset, error)
	// FromBlocks caches blocks built by the caller as a dataset, one
	// partition per block.
	FromBlocks(ctx context.Context, name string, blocks []*Block) (*Dataset, error)
	// Drop releases a dataset's partitions.
	Drop(ds *Dataset)
	// Workers is the number of workers tasks run on now.
	Workers() int
}

var _ Cluster = (*Engine)(nil)

// ErrUnavailable marks a failure as transient: the cluster could not run a
// step now (no live worker, a log that did not answer in time), but the
// same step may succeed later. Errors that wrap it are worth retrying from
// the job's last checkpoint; errors of the data or the spec are not.
var ErrUnavailable = errors.New("cluster: temporarily unavailable")
