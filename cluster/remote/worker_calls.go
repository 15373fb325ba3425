package remote

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/cluster/remote/remotepb"
	"github.com/flintml/flint/internal/logspec"
)

func (w *Worker) closeLogs() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range w.closers {
		c()
	}
}

// openLog returns the log a spec names, opening it once per worker.
func (w *Worker) openLog(ctx context.Context, spec string) (cluster.LogReader, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if l, ok := w.logs[spec]; ok {
		return l, nil
	}
	// A dir: log is read read-only, beside the driver (or flint ingest)
	// that writes it; Kafka credentials come from this process's
	// environment, never from the driver.
	l, err := logspec.Open(ctx, spec, logspec.Options{ReadOnly: true, Logger: w.cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("log %q: %w", spec, err)
	}
	w.logs[spec], w.closers = l, append(w.closers, l.Close)
	return l, nil
}

// Load implements remotepb.WorkerServer. With a memory limit, the read
// stops as soon as the partition's rows would not fit in what is free.
func (w *Worker) Load(ctx context.Context, req *remotepb.LoadRequest) (*remotepb.LoadReply, error) {
	var src cluster.Source
	if err := gob.NewDecoder(bytes.NewReader(req.Source)).Decode(&src); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "worker %s: partition %d: decode source: %v", w.cfg.Name, req.Partition, err)
	}
	var b *cluster.Block
	var err error
	if req.Block != nil {
		b, err = cluster.DecodeBlock(req.Block)
	} else {
		var l cluster.LogReader
		if src.Kind == "log" {
			if l, err = w.openLog(ctx, req.Log); err != nil {
				return nil, w.failure(fmt.Errorf("partition %d (%s): %w", req.Partition, src, err))
			}
		}
		b, err = w.read(ctx, l, src)
	}
	var over *cluster.ErrOverBudget
	if errors.As(err, &over) {
		w.mu.Lock()
		defer w.mu.Unlock()
		return nil, w.refuse(fmt.Sprintf("partition %d of dataset %d (%s)", req.Partition, req.Dataset, src), over.Bytes, true)
	}
	if err == nil {
		err = b.Validate()
	}
	for _, st := range req.Steps {
		if err != nil {
			break
		}
		conform(b, int(st.Cols), st.Sparse)
		b, err = cluster.ApplyTransformEncoded(ctx, st.Transform, cluster.Part{Index: int(req.Partition), Block: b}, st.Arg)
	}
	if err == nil {
		b, err = asOwnRows(b, req.Steps)
	}
	if err != nil {
		return nil, w.failure(fmt.Errorf("partition %d (%s): %w", req.Partition, src, err))
	}
	if err := w.cache(req.Dataset, []*cluster.Block{b}, []int{int(req.Partition)}); err != nil {
		return nil, err
	}
	reply := loadReply(b)
	w.mu.Lock()
	reply.CachedBytes = w.cached
	w.mu.Unlock()
	return reply, nil
}

// read reads a source, within the memory free under the limit, if any.
func (w *Worker) read(ctx context.Context, l cluster.LogReader, src cluster.Source) (*cluster.Block, error) {
	if w.cfg.MemoryLimit <= 0 {
		return cluster.ReadSource(ctx, l, src)
	}
	w.mu.Lock()
	free := max(w.cfg.MemoryLimit-w.cached, 0)
	w.mu.Unlock()
	return cluster.ReadSourceWithin(ctx, l, src, free)
}

// failure is the status of a call that failed with err: codes.Aborted for a
// transient failure (err wraps cluster.ErrUnavailable), which the driver
// reports wrapping cluster.ErrUnavailable again, and codes.Unknown for an
// error of the task or the data.
func (w *Worker) failure(err error) error {
	code := codes.Unknown
	if errors.Is(err, cluster.ErrUnavailable) {
		code = codes.Aborted
	}
	return status.Errorf(code, "worker %s: %v", w.cfg.Name, err)
}

// refuse is the status of a refusal for memory: codes.ResourceExhausted
// with a remotepb.MemoryRefusal detail. need is a lower bound when partial.
// w.mu is held.
func (w *Worker) refuse(what string, need int64, partial bool) error {
	at := ""
	if partial {
		at = "more than "
	}
	st := status.Newf(codes.ResourceExhausted, "worker %s: caching %s needs %s%d bytes, but %d of its %d-byte memory limit are in use; raise --memory-limit or add workers",
		w.cfg.Name, what, at, need, w.cached, w.cfg.MemoryLimit)
	det, err := st.WithDetails(&remotepb.MemoryRefusal{Need: need, Partial: partial, Cached: w.cached, Limit: w.cfg.MemoryLimit})
	if err != nil {
		return st.Err()
	}
	return det.Err()
}

func loadReply(b *cluster.Block) *remotepb.LoadReply {
	return &remotepb.LoadReply{Rows: int64(b.Rows), Skipped: int64(b.Skipped), Bytes: b.Bytes(), Cols: int32(b.Cols), Sparse: b.Sparse()}
}

// cache keeps blocks as the given partitions of a dataset, replacing what
// was there, or caches none of them if that would exceed the memory limit.
func (w *Worker) cache(dataset uint64, bs []*cluster.Block, idx []int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	parts := w.datasets[dataset]
	delta := int64(0)
	for k, i := range idx {
		delta += bs[k].Bytes()
		if old := parts[i]; old != nil {
			delta -= w.releasable(partKey{dataset, i}, old)
		}
	}
	if limit := w.cfg.MemoryLimit; limit > 0 && delta > 0 && w.cached+delta > limit {
		return w.refuse(fmt.Sprintf("partitions %v of dataset %d", idx, dataset), delta, false)
	}
	if parts == nil {
		parts = map[int]*cluster.Block{}
		w.datasets[dataset] = parts
	}
	before := w.cached
	for k, i := range idx {
		if old := parts[i]; old != nil {
			w.cached -= w.release(partKey{dataset, i}, old)
		}
		parts[i] = bs[k]
		w.cached += bs[k].Bytes()
	}
	delta = w.cached - before
	w.pace(delta)
	return nil
}

// Derive implements remotepb.WorkerServer.
func (w *Worker) Derive(ctx context.Context, req *remotepb.DeriveRequest) (*remotepb.DeriveReply, error) {
	if req.Step == nil {
		return nil, status.Errorf(codes.InvalidArgument, "worker %s: derive without a step", w.cfg.Name)
	}
	arrangement, view, err := cluster.TransformView(req.Step.Transform, req.Step.Arg)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "worker %s: %v", w.cfg.Name, err)
	}
	if view {
		return w.deriveViews(ctx, req, arrangement)
	}
	_, out, err := w.applyStep(ctx, req)
	if err != nil {
		return nil, err
	}
	idx := make([]int, len(req.Partitions))
	for k, i := range req.Partitions {
		idx[k] = int(i)
	}
	if err := w.cache(req.Dataset, out, idx); err != nil {
		return nil, err
	}
	reply := &remotepb.DeriveReply{}
	for _, b := range out {
		reply.Partitions = append(reply.Partitions, loadReply(b))
	}
	return reply, nil
}

// applyStep applies req's step to each of its parent partitions, on all
// cores, and returns the parents and what the step made of them.
func (w *Worker) applyStep(ctx context.Context, req *remotepb.DeriveRequest) (parents, out []*cluster.Block, err error) {
	parents, err = w.blocks(&remotepb.RunRequest{Dataset: req.Parent, Partitions: req.Partitions, Cols: req.Step.Cols, Sparse: req.Step.Sparse})
	if err != nil {
		return nil, nil, err
	}
	out = make([]*cluster.Block, len(parents))
	err = w.eachPartition(ctx, req.Partitions, "transform "+req.Step.Transform, func(ctx context.Context, k, i int) (err error) {
		out[k], err = cluster.ApplyTransformEncoded(ctx, req.Step.Transform, cluster.Part{Index: i, Block: parents[k]}, req.Step.Arg)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return parents, out, nil
}

// Drop implements remotepb.WorkerServer.
func (w *Worker) Drop(_ context.Context, req *remotepb.DropRequest) (*remotepb.DropReply, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	parts := w.datasets[req.Dataset]
	before := w.cached
	defer func() { w.pace(w.cached - before) }()
	if len(req.Partitions) > 0 {
		for _, i := range req.Partitions {
			if b := parts[int(i)]; b != nil {
				w.cached -= w.release(partKey{req.Dataset, int(i)}, b)
				delete(parts, int(i))
			}
		}
		return &remotepb.DropReply{CachedBytes: w.cached}, nil
	}
	for i, b := range parts {
		w.cached -= w.release(partKey{req.Dataset, i}, b)
	}
	delete(w.datasets, req.Dataset)
	if w.cached == 0 && len(parts) > 0 {
		w.releaseMemory()
	}
	return &remotepb.DropReply{CachedBytes: w.cached}, nil
}

// releaseMemory returns the memory of dropped partitions to the system once
// nothing is cached any more (a job ended): without it the Go heap would
// keep the pages until a later collection, and a long-lived worker's RSS
// would stay at its largest job's. It runs in the background, one at a
// time; requests made meanwhile are coalesced.
func (w *Worker) releaseMemory() {
	if !w.releasing.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer w.releasing.Store(false)
		debug.FreeOSMemory()
	}()
}

// blocks returns the requested partitions, conformed to the dataset's
// unified width and layout as the in-process engine does after a load.
func (w *Worker) blocks(req *remotepb.RunRequest) ([]*cluster.Block, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	parts := w.datasets[req.Dataset]
	out := make([]*cluster.Block, len(req.Partitions))
	for k, i := range req.Partitions {
		b := parts[int(i)]
		if b == nil {
			return nil, status.Errorf(codes.NotFound, "worker %s: partition %d of dataset %d is not cached here", w.cfg.Name, i, req.Dataset)
		}
		conform(b, int(req.Cols), req.Sparse)
		out[k] = b
	}
	return out, nil
}

// conform gives an empty block the dataset's layout and a sparse block the
// dataset's width (cluster.Engine's unifyColumns, applied per partition).
// It writes only what differs, so conforming a block again while tasks read
// it is not a data race.
func conform(b *cluster.Block, cols int, sparse bool) {
	if b.Rows == 0 {
		if b.Cols != cols {
			b.Cols = cols
		}
		if sparse && b.Ptr == nil {
			b.Ptr, b.X = []int{0}, nil
		}
		if !sparse && b.Ptr != nil {
			b.Ptr = nil
		}
		return
	}
	if sparse && b.Cols != cols {
		b.Cols = cols
	}
}

// Run implements remotepb.WorkerServer.
func (w *Worker) Run(ctx context.Context, req *remotepb.RunRequest) (*remotepb.RunReply, error) {
	blocks, err := w.blocks(req)
	if err != nil {
		return nil, err
	}
	b, err := cluster.DecodeBroadcast(req.Task, req.Broadcast)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "worker %s: %v", w.cfg.Name, err)
	}
	out := make([][]byte, len(blocks))
	err = w.eachPartition(ctx, req.Partitions, "task "+req.Task, func(ctx context.Context, k, i int) (err error) {
		if out[k], err = cluster.RunTaskEncoded(ctx, req.Task, cluster.Part{Index: i, Block: blocks[k]}, b); err != nil {
			return fmt.Errorf("task %s on partition %d: %w", req.Task, i, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &remotepb.RunReply{Partials: out}, nil
}

// eachPartition runs fn for every partition of parts at once, at most
// WorkerConfig.Parallelism at a time (k is the position in parts, i the
// partition). The first error or panic cancels the others. It returns the
// errors that are not cancellations, as the call's failure, or a Canceled
// status when only the call's own context ended.
func (w *Worker) eachPartition(ctx context.Context, parts []int32, what string, fn func(ctx context.Context, k, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(parts))
	sem := make(chan struct{}, w.cfg.Parallelism)
	var wg sync.WaitGroup
	for k := range parts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			i := int(parts[k])
			defer func() {
				if r := recover(); r != nil {
					errs[k] = fmt.Errorf("%s panicked on partition %d: %v\n%s", what, i, r, debug.Stack())
					cancel()
				}
			}()
			if errs[k] = fn(ctx, k, i); errs[k] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	if real := nonCanceled(errs); len(real) > 0 {
		return w.failure(errors.Join(real...))
	}
	if err := ctx.Err(); err != nil {
		return status.Errorf(codes.Canceled, "worker %s: %v", w.cfg.Name, err)
	}
	return nil
}

func nonCanceled(errs []error) []error {
	var out []error
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			out = append(out, err)
		}
	}
	return out
}

// Scan implements remotepb.WorkerServer.
func (w *Worker) Scan(ctx context.Context, req *remotepb.ScanRequest) (*remotepb.RunReply, error) {
	if len(req.Indexes) != len(req.Sources) {
		return nil, status.Errorf(codes.InvalidArgument, "worker %s: %d sources with %d indexes", w.cfg.Name, len(req.Sources), len(req.Indexes))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := make([][]byte, len(req.Sources))
	errs := make([]error, len(req.Sources))
	sem := make(chan struct{}, w.cfg.Parallelism)
	var wg sync.WaitGroup
	for k := range req.Sources {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			i := req.Indexes[k]
			defer func() {
				if r := recover(); r != nil {
					errs[k] = fmt.Errorf("scan %s panicked on source %d: %v\n%s", req.Task, i, r, debug.Stack())
					cancel()
				}
			}()
			var src cluster.Source
			if err := gob.NewDecoder(bytes.NewReader(req.Sources[k])).Decode(&src); err != nil {
				errs[k] = fmt.Errorf("source %d: decode: %w", i, err)
				cancel()
				return
			}
			var l cluster.LogReader
			if src.Kind == "log" {
				var err error
				if l, err = w.openLog(ctx, req.Log); err != nil {
					errs[k] = fmt.Errorf("source %d (%s): %w", i, src, err)
					cancel()
					return
				}
			}
			if out[k], errs[k] = cluster.ScanEncoded(ctx, req.Task, l, src, req.Arg); errs[k] != nil {
				errs[k] = fmt.Errorf("scan %s of source %d (%s): %w", req.Task, i, src, errs[k])
				cancel()
			}
		}()
	}
	wg.Wait()
	if real := nonCanceled(errs); len(real) > 0 {
		return nil, w.failure(errors.Join(real...))
	}
	if err := ctx.Err(); err != nil {
		return nil, status.Errorf(codes.Canceled, "worker %s: %v", w.cfg.Name, err)
	}
	return &remotepb.RunReply{Partials: out}, nil
}
