package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync"
)

// Config configures an Engine. Zero fields take the defaults given.
type Config struct {
	// Workers is the number of worker goroutines. 0 means one per core
	// (runtime.GOMAXPROCS).
	Workers int
	// MemoryLimit bounds the bytes of all cached partitions together. A load
	// that would exceed it fails with an *ErrMemoryLimit, and what it had
	// cached is released. 0 means no limit.
	MemoryLimit int64
	// Logger receives load and task events. nil means slog.Default().
	Logger *slog.Logger
	// PaceGC paces the process's garbage collector by the heap that is not
	// cached while the engine caches partitions: collections come after
	// GOGC percent of the rest of the heap instead of GOGC percent of the
	// cache too (see gcpace.go). The setting is the process's, shared by
	// the engines that pace; false leaves the collector alone.
	PaceGC bool
}

func (c Config) withDefaults() Config {
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// ErrMemoryLimit reports a load that would have exceeded Config.MemoryLimit.
type ErrMemoryLimit struct {
	Dataset   string
	Partition int
	Need      int64 // bytes the partition needs
	Cached    int64 // bytes already cached by the engine
	Limit     int64
}

func (e *ErrMemoryLimit) Error() string {
	return fmt.Sprintf("cluster: caching partition %d of dataset %q needs %d bytes, but %d of the %d-byte memory limit are in use; raise the limit, use more workers' memory, or load fewer rows",
		e.Partition, e.Dataset, e.Need, e.Cached, e.Limit)
}

// ErrClosed is returned by an Engine used after Close.
var ErrClosed = errors.New("cluster: engine closed")

// Engine is the in-process executor: a pool of worker goroutines, each
// owning the partitions pinned to it. It is safe for concurrent use.
type Engine struct {
	cfg Config

	mu     sync.Mutex // guards the fields below
	cached int64
	blocks map[uint64][]*Block // dataset id → block per partition
	views  map[uint64]uint64   // fold view dataset id → the id of the dataset it views
	// foldUsers counts the live fold views of a dataset by its id.
	foldUsers map[uint64]foldUse
	closed    bool
	inflight  sync.WaitGroup // running MapPartitions/loads; Close waits for them

	workers []chan func() // one job queue per worker goroutine
	done    sync.WaitGroup
}

// NewEngine starts an engine's workers. Close stops them.
func NewEngine(cfg Config) *Engine {
	cfg = cfg.withDefaults()
	e := &Engine{cfg: cfg, blocks: map[uint64][]*Block{}, views: map[uint64]uint64{}, foldUsers: map[uint64]foldUse{}}
	e.workers = make([]chan func(), cfg.Workers)
	for i := range e.workers {
		ch := make(chan func())
		e.workers[i] = ch
		e.done.Add(1)
		go func() {
			defer e.done.Done()
			for job := range ch {
				job()
			}
		}()
	}
	return e
}

// Workers is the number of workers.
func (e *Engine) Workers() int { return len(e.workers) }

// Cached is the number of bytes all cached partitions hold.
func (e *Engine) Cached() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cached
}

// Close waits for running tasks, drops every dataset and stops the workers.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.mu.Unlock()
	e.inflight.Wait()
	for _, ch := range e.workers {
		close(ch)
	}
	e.done.Wait()
	e.mu.Lock()
	if e.cfg.PaceGC {
		PaceCached(-e.cached)
	}
	e.blocks, e.cached = map[uint64][]*Block{}, 0
	e.views, e.foldUsers = map[uint64]uint64{}, map[uint64]foldUse{}
	e.mu.Unlock()
	return nil
}

// begin registers a running operation; it fails once Close has started.
func (e *Engine) begin() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	e.inflight.Add(1)
	return nil
}

// worker returns the worker partition i is pinned to.
func (e *Engine) worker(i int) int { return i % len(e.workers) }

// runOnWorkers runs fn(i) for every partition index i in [0, n) on the
// partition's worker, the partitions of one worker one after another. A
// panic becomes an error naming what and which partition. The first error
// cancels the rest; all errors are returned joined, in partition order.
func (e *Engine) runOnWorkers(ctx context.Context, n int, what string, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for w := range e.workers {
		if w >= n {
			break
		}
		wg.Add(1)
		job := func() {
			defer wg.Done()
			for i := w; i < n; i += len(e.workers) {
				if err := ctx.Err(); err != nil {
					errs[i] = err
					return
				}
				errs[i] = safeRun(ctx, i, what, fn)
				if errs[i] != nil {
					cancel()
				}
			}
		}
		select {
		case e.workers[w] <- job:
		case <-ctx.Done():
			wg.Done()
		}
	}
	wg.Wait()
	// Report the root causes, not the cancellations they caused.
	var real []error
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			real = append(real, err)
		}
	}
	if len(real) > 0 {
		return errors.Join(real...)
	}
	return ctx.Err()
}

func safeRun(ctx context.Context, i int, what string, fn func(ctx context.Context, i int) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cluster: %s panicked on partition %d: %v\n%s", what, i, r, debug.Stack())
		}
	}()
	return fn(ctx, i)
}

// MapPartitions implements Executor.
func (e *Engine) MapPartitions(ctx context.Context, ds *Dataset, task string, b any) ([]any, error) {
	t, err := lookupTask(task)
	if err != nil {
		return nil, err
	}
	if err := e.begin(); err != nil {
		return nil, err
	}
	defer e.inflight.Done()
	blocks, err := e.datasetBlocks(ds)
	if err != nil {
		return nil, err
	}
	out := make([]any, len(blocks))
	err = e.runOnWorkers(ctx, len(blocks), "task "+task+" on dataset "+ds.name, func(ctx context.Context, i int) error {
		p, err := t.run(ctx, Part{Index: i, Block: blocks[i]}, b)
		if err != nil {
			return fmt.Errorf("task %s on partition %d of dataset %q: %w", task, i, ds.name, err)
		}
		out[i] = p
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (e *Engine) datasetBlocks(ds *Dataset) ([]*Block, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	blocks, ok := e.blocks[ds.id]
	if !ok {
		return nil, fmt.Errorf("cluster: dataset %q is not cached by this engine (dropped, or loaded by another)", ds.name)
	}
	return blocks, nil
}

// Block returns the cached block of partition i, for inspection and tests.
// The block must not be modified.
func (e *Engine) Block(ds *Dataset, i int) (*Block, error) {
	blocks, err := e.datasetBlocks(ds)
	if err != nil {
		return nil, err
	}
	if i < 0 || i >= len(blocks) {
		return nil, fmt.Errorf("cluster: dataset %q has no partition %d", ds.name, i)
	}
	return blocks[i], nil
}

// Drop releases a dataset's cached partitions. Dropping a view (Folds)
// releases only its metadata.
func (e *Engine) Drop(ds *Dataset) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.views[ds.id]; ok {
		e.dropView(ds.id)
		delete(e.blocks, ds.id)
		return
	}
	var freed int64
	for _, b := range e.blocks[ds.id] {
		freed += b.Bytes()
	}
	e.cached -= freed
	if e.cfg.PaceGC {
		PaceCached(-freed)
	}
	delete(e.blocks, ds.id)
}

// reserve accounts for a block about to be cached, or fails with
// *ErrMemoryLimit.
func (e *Engine) reserve(name string, i int, n int64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cfg.MemoryLimit > 0 && e.cached+n > e.cfg.MemoryLimit {
		return &ErrMemoryLimit{Dataset: name, Partition: i, Need: n, Cached: e.cached, Limit: e.cfg.MemoryLimit}
	}
	e.cached += n
	if e.cfg.PaceGC {
		PaceCached(n)
	}
	return nil
}

func (e *Engine) release(n int64) {
	e.mu.Lock()
	e.cached -= n
	e.mu.Unlock()
	if e.cfg.PaceGC {
		PaceCached(-n)
	}
}

// build runs load(i) for every partition on its worker, accounts for the
// memory, and registers the dataset. On error it releases what was built.
func (e *Engine) build(ctx context.Context, name string, sources []Source, load func(ctx context.Context, i int) (*Block, error)) (*Dataset, error) {
	if err := e.begin(); err != nil {
		return nil, err
	}
	defer e.inflight.Done()
	n := len(sources)
	blocks := make([]*Block, n)
	err := e.runOnWorkers(ctx, n, "load of dataset "+name, func(ctx context.Context, i int) error {
		b, err := load(ctx, i)
		if err != nil {
			return err
		}
		if err := b.Validate(); err != nil {
			return fmt.Errorf("dataset %q partition %d (%s): %w", name, i, sources[i], err)
		}
		if err := e.reserve(name, i, b.Bytes()); err != nil {
			return err
		}
		blocks[i] = b
		return nil
	})
	if err == nil {
		err = unifyColumns(name, blocks, sources)
	}
	if err != nil {
		for _, b := range blocks {
			if b != nil {
				e.release(b.Bytes())
			}
		}
		return nil, err
	}
	ds := &Dataset{id: datasetIDs.Add(1), name: name, parts: make([]PartitionStats, n)}
	for i, b := range blocks {
		ds.parts[i] = PartitionStats{Index: i, Worker: e.worker(i), Rows: b.Rows, Skipped: b.Skipped, Bytes: b.Bytes(), Source: sources[i]}
	}
	if n > 0 {
		ds.cols, ds.sparse = blocks[0].Cols, blocks[0].Sparse()
	}
	e.mu.Lock()
	e.blocks[ds.id] = blocks
	e.mu.Unlock()
	e.cfg.Logger.Debug("cluster: cached dataset", "dataset", name, "partitions", n, "rows", ds.Rows(), "bytes", ds.Bytes())
	return ds, nil
}

// unifyColumns checks that every partition has the same layout and width.
// Sparse partitions take the widest width; an empty partition takes the
// others' layout.
func unifyColumns(name string, blocks []*Block, sources []Source) error {
	cols, sparse, first := 0, false, -1
	for i, b := range blocks {
		if b.Rows == 0 {
			continue
		}
		if first < 0 {
			cols, sparse, first = b.Cols, b.Sparse(), i
			continue
		}
		if b.Sparse() != sparse {
			return fmt.Errorf("cluster: dataset %q mixes dense and sparse partitions (%d and %d)", name, first, i)
		}
		if sparse {
			cols = max(cols, b.Cols)
		} else if b.Cols != cols {
			return fmt.Errorf("cluster: dataset %q: partition %d (%s) has %d features but partition %d (%s) has %d",
				name, i, sources[i], b.Cols, first, sources[first], cols)
		}
	}
	for _, b := range blocks {
		if b.Rows == 0 {
			b.Cols = cols
			if sparse && b.Ptr == nil {
				b.Ptr, b.X = []int{0}, nil
			}
			if !sparse {
				b.Ptr = nil
			}
			continue
		}
		if sparse {
			b.Cols = cols
		}
	}
	return nil
}

// FromBlocks caches the given blocks as a dataset, one partition each. The
// engine takes ownership of the blocks.
func (e *Engine) FromBlocks(ctx context.Context, name string, blocks []*Block) (*Dataset, error) {
	sources := make([]Source, len(blocks))
	var row int64
	for i, b := range blocks {
		sources[i] = Source{Kind: "memory", From: row, To: row + int64(b.Rows)}
		row += int64(b.Rows)
	}
	return e.build(ctx, name, sources, func(_ context.Context, i int) (*Block, error) { return blocks[i], nil })
}

// FromDense caches rows×cols row-major x with labels y (and weights w, or
// nil) as a dataset of parts partitions of contiguous rows (0 means one per
// worker). The slices are shared, not copied, and must not be modified
// (Folds reorders their rows in place).
func (e *Engine) FromDense(ctx context.Context, name string, x []float64, rows, cols int, y, w []float64, parts int) (*Dataset, error) {
	if len(x) != rows*cols || len(y) != rows || (w != nil && len(w) != rows) {
		return nil, fmt.Errorf("cluster: FromDense(%q): %d values, %d labels, %d weights for %d×%d", name, len(x), len(y), len(w), rows, cols)
	}
	if parts <= 0 {
		parts = e.Workers()
	}
	parts = max(1, min(parts, rows))
	whole := &Block{Rows: rows, Cols: cols, X: x, Y: y, W: w}
	blocks := make([]*Block, parts)
	for i := range blocks {
		lo, hi := i*rows/parts, (i+1)*rows/parts
		blocks[i] = whole.Slice(lo, hi)
	}
	return e.FromBlocks(ctx, name, blocks)
}
