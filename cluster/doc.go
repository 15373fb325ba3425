// Package cluster is Flint's execution engine: datasets cached in memory as
// partitions, workers that own them, and named tasks that run on every
// partition and come back through a tree aggregation.
//
// # Datasets and partitions
//
// A Dataset is a list of partitions, each a Block of rows held once in memory
// as flat slices: dense row-major []float64 (or []float32 with
// Format.Float32: half the memory), or sparse CSR, with labels and
// optional sample weights. Datasets are built from the log (one partition per
// log partition, or several per log partition when re-split), from CSV, JSON
// lines or LIBSVM files, or from in-memory slices. Every partition remembers
// its Source (topic, partition and offset range, or file and byte range):
// that is its lineage, and re-reading the source rebuilds it exactly.
//
// # Workers and tasks
//
// An Engine runs one worker per core by default. Each partition is pinned to
// one worker for the life of the dataset, so its cache stays hot on that
// worker. A Task has a name, a broadcast value in and a partial result out;
// Aggregate runs it on every partition and combines the per-partition
// partials in a fixed binary tree over partition order. The result is
// therefore bit-for-bit the same whatever the number of workers.
//
// Algorithms (package ml) are written against Executor and Task only: they
// cannot tell whether the workers are goroutines of this process (Engine) or
// worker processes on other machines. Tasks register by name at init time so
// that a worker process can find the same code; broadcast values and partials
// must be encodable with encoding/gob for that reason, though the in-process
// Engine passes them as they are.
//
// # Ownership
//
// A Scope wraps a Cluster and drops, when closed, every dataset created
// through it (loaded, built from blocks or derived, as RandomSplit and
// Select do): a training job makes one per run, so what it cached is
// released however it ends.
//
// # Splits without copies
//
// RandomSplit and Select copy the rows they keep. SplitConsuming splits a
// dataset the job is done with into the same two sides without copying:
// each partition's rows are rearranged in place (one side's rows first,
// each side in its original order, one row of scratch space for a dense
// partition), both sides are views of that memory, and the parent is
// dropped. A remote worker does the same to the partitions it holds, and a
// lost side is rebuilt from its sources plus the split like any derived
// dataset.
//
// Folds makes the k train/test pairs of cross-validation the same way,
// keeping the parent: each partition's rows are grouped by fold once (in
// place, one row of scratch space for dense blocks), fold i's test set is
// one row range of every partition and its training set the ranges before
// and after it, as two partitions. The views hold no bytes of their own
// (Engine.Cached does not grow) and dropping them frees only metadata.
// Fold makes one fold at a time, for callers that use them in turn: on a
// remote cluster each worker rearranges the partitions it holds for fold i
// (the other folds' rows first, fold i's last), the fold's training and
// test sets are one row range each of every partition, and the workers'
// cached bytes do not grow; a lost view is rebuilt from its lineage.
//
// # Transient failures
//
// ErrUnavailable marks a failure that may not happen again: no live worker,
// a log that could not be reached or did not answer in time. Log reads that
// fail that way wrap it (LogUnavailable); a load or scan on the Engine in
// which several such reads failed returns one error naming the partitions,
// and logs once which reads an unresponsive log leaves waiting.
//
// # Resources
//
// Contexts cancel running tasks between partitions and inside long maps that
// check ctx. A panic inside a task becomes an error naming the task and the
// partition. The bytes each cached partition holds are reported (Dataset.Stats);
// Config.MemoryLimit turns a load that would exceed it into a clear error before
// the machine runs out of memory. With Config.PaceGC the garbage collector is
// paced by the heap that is not cached while partitions are: cached blocks
// make no garbage and hold no pointers, so they earn no room for garbage
// (GOGC's percent of them would let garbage grow to the cache's size).
package cluster
