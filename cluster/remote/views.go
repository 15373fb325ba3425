package remote

import (
	"context"
	"fmt"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/cluster/remote/remotepb"
)

// A worker's views (cluster.Fold): partitions derived by a transform that
// rearranges its parent partition in place and returns a row range of it
// (cluster.TransformView). A view shares its parent's memory, so it counts
// for no cached bytes (a sparse view, for its own row offsets); while a
// partition has live views it cannot be arranged otherwise, and when it
// is dropped before them its bytes stay counted until the last of them is
// dropped, since they keep its memory.

// partKey names a cached partition: a dataset and a partition index.
type partKey struct {
	ds   uint64
	part int
}

// viewUse is what a worker knows of the live views of one partition.
type viewUse struct {
	arrangement string // the order the views put the partition's rows in
	live        int    // views alive
	dropped     int64  // the partition's bytes, when it was dropped before its views
}

// viewBytes is what a view holds of its own: a sparse view's row offsets.
func viewBytes(b *cluster.Block) int64 { return int64(8 * cap(b.Ptr)) }

// deriveViews is Derive for a transform that makes views, arranging the
// parent partitions as arrangement says. View derivations on a worker run
// one at a time (each rearranges its parents in place).
func (w *Worker) deriveViews(ctx context.Context, req *remotepb.DeriveRequest, arrangement string) (*remotepb.DeriveReply, error) {
	w.viewMu.Lock()
	defer w.viewMu.Unlock()
	if err := w.canArrange(req.Parent, req.Partitions, arrangement); err != nil {
		return nil, err
	}
	parents, out, err := w.applyStep(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := w.cacheViews(req.Dataset, req.Parent, req.Partitions, parents, out, arrangement); err != nil {
		return nil, err
	}
	reply := &remotepb.DeriveReply{}
	for _, b := range out {
		r := loadReply(b)
		r.Bytes = viewBytes(b)
		reply.Partitions = append(reply.Partitions, r)
	}
	return reply, nil
}

// canArrange refuses to arrange partitions that are views themselves, or
// whose live views need another arrangement: an error of the call
// (codes.Unknown), not of the worker, which stays live.
func (w *Worker) canArrange(parent uint64, parts []int32, arrangement string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, i := range parts {
		key := partKey{parent, int(i)}
		if _, ok := w.views[key]; ok {
			return w.failure(fmt.Errorf("partition %d of dataset %d is a view of another partition's rows and cannot be arranged for views of its own", i, parent))
		}
		if u := w.viewed[key]; u != nil && u.live > 0 && u.arrangement != arrangement {
			return w.failure(fmt.Errorf("partition %d of dataset %d has %d views of %s alive; drop them before making views of %s", i, parent, u.live, u.arrangement, arrangement))
		}
	}
	return nil
}

// cacheViews caches views as partitions of dataset, each of the parent
// partition it was made of, which must still be cached.
func (w *Worker) cacheViews(dataset, parent uint64, parts []int32, parents, views []*cluster.Block, arrangement string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, i := range parts {
		if w.datasets[parent][int(i)] != parents[k] {
			return w.failure(fmt.Errorf("partition %d of dataset %d was dropped while views of it were made", i, parent))
		}
	}
	cached := w.datasets[dataset]
	if cached == nil {
		cached = map[int]*cluster.Block{}
		w.datasets[dataset] = cached
	}
	before := w.cached
	for k, i := range parts {
		key, pk := partKey{dataset, int(i)}, partKey{parent, int(i)}
		if old := cached[int(i)]; old != nil {
			w.cached -= w.release(key, old)
		}
		cached[int(i)] = views[k]
		w.cached += viewBytes(views[k])
		w.views[key] = pk
		u := w.viewed[pk]
		if u == nil {
			u = &viewUse{}
			w.viewed[pk] = u
		}
		u.arrangement = arrangement
		u.live++
	}
	w.pace(w.cached - before)
	return nil
}

// release forgets the partition key, which held b, as a view or as the
// parent of views, and returns the cached bytes that frees: a view's own
// (and its parent's, when the parent was dropped and this was its last
// view), none for a parent whose views are alive (it stays counted until
// they are dropped), b's bytes otherwise. w.mu is held.
func (w *Worker) release(key partKey, b *cluster.Block) int64 {
	if pk, ok := w.views[key]; ok {
		delete(w.views, key)
		freed := viewBytes(b)
		if u := w.viewed[pk]; u != nil {
			if u.live--; u.live <= 0 {
				freed += u.dropped
				delete(w.viewed, pk)
			}
		}
		return freed
	}
	if u := w.viewed[key]; u != nil && u.live > 0 {
		u.dropped += b.Bytes()
		return 0
	}
	return b.Bytes()
}

// releasable is what release(key, b) would free, without forgetting
// anything. w.mu is held.
func (w *Worker) releasable(key partKey, b *cluster.Block) int64 {
	if pk, ok := w.views[key]; ok {
		if u := w.viewed[pk]; u != nil && u.live == 1 {
			return viewBytes(b) + u.dropped
		}
		return viewBytes(b)
	}
	if u := w.viewed[key]; u != nil && u.live > 0 {
		return 0
	}
	return b.Bytes()
}

// asOwnRows makes the result of steps that ended in a view (a partition
// rebuilt from its lineage on another worker) a block of its own, so that
// it holds only its rows rather than the whole partition it was cut from.
func asOwnRows(b *cluster.Block, steps []*remotepb.Step) (*cluster.Block, error) {
	if len(steps) == 0 {
		return b, nil
	}
	last := steps[len(steps)-1]
	_, view, err := cluster.TransformView(last.Transform, last.Arg)
	if err != nil {
		return nil, fmt.Errorf("transform %s: %w", last.Transform, err)
	}
	if view {
		return b.Clone(), nil
	}
	return b, nil
}
