package remote

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"sort"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/cluster/remote/remotepb"
)

// unit is one call of a fan-out: a worker and the partitions (or sources)
// the call is about.
type unit struct {
	w   *worker
	idx []int
}

func unitsOf(groups map[*worker][]int) []unit {
	units := make([]unit, 0, len(groups))
	for w, idx := range groups {
		units = append(units, unit{w: w, idx: idx})
	}
	return units
}

// fanOut makes every unit's call at once, each with a context that also
// ends with its worker's life and after Config.CallTimeout. A call writes
// its own results, for its own indexes, so concurrent calls write distinct
// elements. It returns, sorted, the indexes of the units whose worker was
// lost — to run again on the survivors — and the other failures joined,
// each described by what (see callError).
func (d *Driver) fanOut(ctx context.Context, units []unit, fn func(ctx context.Context, u unit) error, what func(u unit) string) ([]int, error) {
	var (
		mu    sync.Mutex
		retry []int
		errs  []error
		wg    sync.WaitGroup
	)
	for _, u := range units {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.taskStarted(u.w)
			err := d.call(ctx, u.w, func(ctx context.Context) error { return fn(ctx, u) })
			d.taskEnded(u.w, err == nil)
			if err == nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case ctx.Err() != nil:
			case d.failed(u.w, err):
				retry = append(retry, u.idx...)
			default:
				err := d.callError(what(u), u.w, err)
				d.taskFailed(u.w, err)
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sort.Ints(retry)
	return retry, nil
}

// callError describes the failure of a call to a live worker. A transient
// failure on the worker (codes.Aborted) wraps cluster.ErrUnavailable, as
// the worker's error did.
func (d *Driver) callError(what string, w *worker, err error) error {
	st := status.Convert(err)
	switch st.Code() {
	case codes.Aborted:
		return &transientError{fmt.Sprintf("remote: %s on %s: %s", what, w, st.Message())}
	case codes.DeadlineExceeded:
		return fmt.Errorf("remote: %s on %s did not finish within Config.CallTimeout (%v)", what, w, d.cfg.CallTimeout)
	}
	return fmt.Errorf("remote: %s on %s: %s", what, w, st.Message())
}

// transientError is a worker's transient failure, as the worker described
// it (its message already says cluster.ErrUnavailable's text).
type transientError struct{ msg string }

func (e *transientError) Error() string { return e.msg }
func (e *transientError) Unwrap() error { return cluster.ErrUnavailable }

// retried counts n partitions (or sources) run again after a worker was lost.
func (d *Driver) retried(n int) {
	if n > 0 {
		d.metrics.retries.Add(float64(n))
	}
}

// MapPartitions implements cluster.Executor: it runs the task on every
// worker's partitions at once and returns the decoded partials in partition
// order. Partitions of a worker lost during the call move to the survivors
// and run again there.
func (d *Driver) MapPartitions(ctx context.Context, h *cluster.Dataset, task string, b any) ([]any, error) {
	out, err := d.mapPartitions(ctx, h, task, b)
	d.metrics.task(task, err)
	return out, err
}

func (d *Driver) mapPartitions(ctx context.Context, h *cluster.Dataset, task string, b any) ([]any, error) {
	d.mu.Lock()
	ds, ok := d.datasets[h]
	d.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("remote: dataset %q is not cached by this driver (dropped, or loaded by another executor)", h.Name())
	}
	bc, err := cluster.EncodeBroadcast(task, b)
	if err != nil {
		return nil, err
	}
	if err := d.spread(ctx, ds); err != nil {
		return nil, err
	}
	ds.gate.RLock()
	defer ds.gate.RUnlock()
	n := len(ds.sources)
	raw := make([][]byte, n)
	pending := make([]int, n)
	for i := range pending {
		pending[i] = i
	}
	for len(pending) > 0 {
		if err := d.relocate(ctx, ds, pending); err != nil {
			return nil, err
		}
		if err := d.awaitLive(ctx); err != nil {
			return nil, err
		}
		groups, lost := d.held(ds, pending)
		if lost {
			continue // an owner died since relocate: its partitions are loaded again first
		}
		retry, err := d.fanOut(ctx, unitsOf(groups), func(ctx context.Context, u unit) error {
			req := &remotepb.RunRequest{Dataset: ds.id, Task: task, Broadcast: bc, Cols: int32(ds.cols), Sparse: ds.sparse}
			for _, i := range u.idx {
				req.Partitions = append(req.Partitions, int32(i))
			}
			r, err := u.w.client.Run(ctx, req)
			if err != nil {
				return err
			}
			if len(r.Partials) != len(u.idx) {
				return status.Errorf(codes.Internal, "returned %d partials for %d partitions", len(r.Partials), len(u.idx))
			}
			for k, i := range u.idx {
				raw[i] = r.Partials[k]
			}
			return nil
		}, func(u unit) string {
			return fmt.Sprintf("task %s on partitions %v of dataset %q", task, u.idx, ds.name)
		})
		if err != nil {
			return nil, err
		}
		if len(retry) > 0 {
			d.retried(len(retry))
			d.cfg.Logger.Warn("remote: retrying partitions of lost workers", "task", task, "dataset", ds.name, "partitions", retry)
		}
		pending = retry
	}
	out := make([]any, n)
	for i, data := range raw {
		p, err := cluster.DecodePartial(task, data)
		if err != nil {
			return nil, fmt.Errorf("remote: partition %d of dataset %q: %w", i, ds.name, err)
		}
		out[i] = p
	}
	return out, nil
}

var (
	_ cluster.Executor = (*Driver)(nil)
	_ cluster.Scanner  = (*Driver)(nil)
	_ cluster.Deriver  = (*Driver)(nil)

	_ cluster.ViewDeriver = (*Driver)(nil)
)

// DerivePartitions implements cluster.Deriver: each worker applies the
// transform to its partitions of ds, so the derived dataset keeps ds's
// placement. Its lineage is ds's sources plus the transforms, from which a
// survivor rebuilds a partition whose worker is lost.
func (d *Driver) DerivePartitions(ctx context.Context, h *cluster.Dataset, name, transform string, arg any) (*cluster.Dataset, error) {
	d.mu.Lock()
	parent, ok := d.datasets[h]
	d.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("remote: dataset %q is not cached by this driver (dropped, or loaded by another executor)", h.Name())
	}
	enc, err := cluster.EncodeTransformArg(transform, arg)
	if err != nil {
		return nil, err
	}
	view, unlock, err := gateForDerive(parent, transform, enc, arg)
	if err != nil {
		return nil, err
	}
	defer unlock()
	n := len(parent.sources)
	// Every owner must hold its parent partition: rebuild the lost ones.
	if err := d.relocate(ctx, parent, seq(n)); err != nil {
		return nil, err
	}
	step := &remotepb.Step{Transform: transform, Arg: enc, Cols: int32(parent.cols), Sparse: parent.sparse}
	d.mu.Lock()
	d.nextDS++
	child := &dataset{id: d.nextDS, name: name, log: parent.log, sources: parent.sources, blocks: parent.blocks,
		steps: append(append([]*remotepb.Step(nil), parent.steps...), step), owner: append([]*worker(nil), parent.owner...), size: make([]int64, n)}
	if view {
		child.viewOf = parent
	}
	groups := map[*worker][]int{}
	for i, w := range child.owner {
		groups[w] = append(groups[w], i)
	}
	d.mu.Unlock()

	replies := make([]*remotepb.LoadReply, n)
	var mu sync.Mutex
	var refused []int // partitions a worker had no memory for: built one by one by load
	retry, err := d.fanOut(ctx, unitsOf(groups), func(ctx context.Context, u unit) error {
		req := &remotepb.DeriveRequest{Parent: parent.id, Dataset: child.id, Step: step}
		for _, i := range u.idx {
			req.Partitions = append(req.Partitions, int32(i))
		}
		r, err := u.w.client.Derive(ctx, req)
		if memoryRefusal(err) != nil {
			mu.Lock()
			refused = append(refused, u.idx...)
			mu.Unlock()
			return nil
		}
		if err != nil {
			return err
		}
		if len(r.Partitions) != len(u.idx) {
			return status.Errorf(codes.Internal, "returned %d partitions for %d", len(r.Partitions), len(u.idx))
		}
		for k, i := range u.idx {
			replies[i] = r.Partitions[k]
		}
		return nil
	}, func(u unit) string {
		return fmt.Sprintf("transform %s of partitions %v of dataset %q", transform, u.idx, parent.name)
	})
	if err != nil {
		d.dropOn(child)
		return nil, err
	}
	if retry = append(retry, refused...); len(retry) > 0 {
		sort.Ints(retry)
		if err := d.load(ctx, child, retry, replies); err != nil {
			d.dropOn(child)
			return nil, err
		}
	}
	return d.finish(child, replies)
}

// gateForDerive holds parent's gate for a derivation: shared, or
// exclusively for a transform that makes views (the workers rearrange the
// parent's rows in place, so no task may read them meanwhile). It refuses
// views, and consuming splits, of a dataset that is a view itself.
func gateForDerive(parent *dataset, transform string, enc []byte, arg any) (view bool, unlock func(), err error) {
	_, view, err = cluster.TransformView(transform, enc)
	if err != nil {
		return false, nil, err
	}
	if a, ok := arg.(*cluster.SplitArg); ok && a.Consume && parent.viewOf != nil {
		return false, nil, fmt.Errorf("remote: dataset %q is a view of another dataset's rows and cannot be split consuming; split it with a copying Select", parent.name)
	}
	if !view {
		parent.gate.RLock()
		return false, parent.gate.RUnlock, nil
	}
	if parent.viewOf != nil {
		return false, nil, fmt.Errorf("remote: dataset %q is a view of another dataset's rows; its folds are copies (cluster.Fold)", parent.name)
	}
	parent.gate.Lock()
	return true, parent.gate.Unlock, nil
}

// DerivesViews implements cluster.ViewDeriver: the workers make
// cluster.Fold's views of the partitions they cache, sharing their memory,
// of any dataset that is not a view itself. A view's partition rebuilt on
// another worker, after its worker was lost, is a copy of its rows made
// from its lineage.
func (d *Driver) DerivesViews(h *cluster.Dataset) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	ds, ok := d.datasets[h]
	return ok && ds.viewOf == nil
}

// ScanSources implements cluster.Scanner: source i is scanned by the
// (i mod n)-th of the n live workers, which reads it from its log
// (Config.Log; l, the driver's own log, is not used) or file. The sources
// of a worker lost during the call are scanned again by the survivors.
func (d *Driver) ScanSources(ctx context.Context, _ cluster.LogReader, sources []cluster.Source, task string, b any) ([]any, error) {
	out, err := d.scanSources(ctx, sources, task, b)
	d.metrics.task(task, err)
	return out, err
}

func (d *Driver) scanSources(ctx context.Context, sources []cluster.Source, task string, b any) ([]any, error) {
	arg, err := cluster.EncodeScanArg(task, b)
	if err != nil {
		return nil, err
	}
	enc := make([][]byte, len(sources))
	for i, s := range sources {
		var buf bytes.Buffer
		if err := gob.NewEncoder(&buf).Encode(s); err != nil {
			return nil, fmt.Errorf("remote: source %d: encode: %w", i, err)
		}
		enc[i] = buf.Bytes()
	}
	raw := make([][]byte, len(sources))
	pending := make([]int, len(sources))
	for i := range pending {
		pending[i] = i
	}
	for len(pending) > 0 {
		if err := d.awaitLive(ctx); err != nil {
			return nil, err
		}
		d.mu.Lock()
		live := append([]*worker(nil), d.live...)
		d.mu.Unlock()
		if len(live) == 0 {
			return nil, fmt.Errorf("%w to scan %d sources", ErrNoWorkers, len(pending))
		}
		groups := map[*worker][]int{}
		for _, i := range pending {
			w := live[i%len(live)]
			groups[w] = append(groups[w], i)
		}
		retry, err := d.fanOut(ctx, unitsOf(groups), func(ctx context.Context, u unit) error {
			req := &remotepb.ScanRequest{Task: task, Arg: arg, Log: d.cfg.Log}
			for _, i := range u.idx {
				req.Sources = append(req.Sources, enc[i])
				req.Indexes = append(req.Indexes, int32(i))
			}
			r, err := u.w.client.Scan(ctx, req)
			if err != nil {
				return err
			}
			if len(r.Partials) != len(u.idx) {
				return status.Errorf(codes.Internal, "returned %d partials for %d sources", len(r.Partials), len(u.idx))
			}
			for k, i := range u.idx {
				raw[i] = r.Partials[k]
			}
			return nil
		}, func(u unit) string { return fmt.Sprintf("scan %s of sources %v", task, u.idx) })
		if err != nil {
			return nil, err
		}
		d.retried(len(retry))
		pending = retry
	}
	out := make([]any, len(sources))
	for i, data := range raw {
		p, err := cluster.DecodeScanPartial(task, data)
		if err != nil {
			return nil, fmt.Errorf("remote: source %d: %w", i, err)
		}
		out[i] = p
	}
	return out, nil
}
