package remote

import (
	"bytes"
	"context"
	"encoding/gob"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/cluster/remote/remotepb"
)

// load has the owners of parts read them, moving the partitions of workers
// that are lost, or that refuse a partition for memory, to other workers
// until every one is cached or another error occurs. replies, when not
// nil, receives each reply.
func (d *Driver) load(ctx context.Context, ds *dataset, parts []int, replies []*remotepb.LoadReply) error {
	srcs := make(map[int][]byte, len(parts))
	for _, i := range parts {
		var src bytes.Buffer
		if err := gob.NewEncoder(&src).Encode(ds.sources[i]); err != nil {
			return fmt.Errorf("remote: partition %d: encode source: %w", i, err)
		}
		srcs[i] = src.Bytes()
	}
	var (
		mu       sync.Mutex
		refusals map[int]*remotepb.MemoryRefusal // this round's, by partition
	)
	refusedBy := map[int]map[*worker]bool{} // partition → workers that refused it
	pending := parts
	for len(pending) > 0 {
		if err := d.awaitLive(ctx); err != nil {
			return err
		}
		groups, err := d.place(ds, pending)
		if err != nil {
			return err
		}
		var units []unit
		for w, ps := range groups {
			for _, i := range ps {
				units = append(units, unit{w: w, idx: []int{i}})
			}
		}
		refusals = map[int]*remotepb.MemoryRefusal{}
		retry, err := d.fanOut(ctx, units, func(ctx context.Context, u unit) error {
			i := u.idx[0]
			req := &remotepb.LoadRequest{Dataset: ds.id, Partition: int32(i), Source: srcs[i], Log: ds.log, Steps: ds.steps}
			if ds.blocks != nil {
				req.Block = ds.blocks[i]
			}
			r, err := u.w.client.Load(ctx, req)
			mu.Lock()
			defer mu.Unlock()
			if mr := memoryRefusal(err); mr != nil {
				refusals[i] = mr
				return nil
			}
			if err != nil {
				return err
			}
			d.mu.Lock()
			u.w.cached = r.CachedBytes // until its next heartbeat says
			ds.size[i] = r.Bytes
			d.mu.Unlock()
			if replies != nil {
				replies[i] = r
			}
			return nil
		}, func(u unit) string { return fmt.Sprintf("load of partition %d of dataset %q", u.idx[0], ds.name) })
		if err != nil {
			return err
		}
		d.retried(len(retry))
		moved, err := d.rehome(ds, refusals, refusedBy)
		if err != nil {
			return err
		}
		pending = append(retry, moved...)
		sort.Ints(pending)
	}
	return nil
}

// memoryRefusal returns the detail of a worker's refusal for memory, or nil
// when err is not one.
func memoryRefusal(err error) *remotepb.MemoryRefusal {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.ResourceExhausted {
		return nil
	}
	for _, det := range st.Details() {
		if mr, ok := det.(*remotepb.MemoryRefusal); ok {
			return mr
		}
	}
	return nil
}

// free is the bytes w may still cache, as the driver last heard.
func (w *worker) free() int64 {
	if w.limit <= 0 {
		return math.MaxInt64
	}
	return max(w.limit-w.cached, 0)
}

// rehome moves each partition a worker refused for memory to the live
// worker with the most free memory that has not refused it yet, and
// returns the moved partitions. It fails, naming the dataset and every
// worker's free memory, when no worker can take one of them.
func (d *Driver) rehome(ds *dataset, refusals map[int]*remotepb.MemoryRefusal, refusedBy map[int]map[*worker]bool) ([]int, error) {
	if len(refusals) == 0 {
		return nil, nil
	}
	parts := make([]int, 0, len(refusals))
	for i := range refusals {
		parts = append(parts, i)
	}
	sort.Ints(parts)
	d.mu.Lock()
	defer d.mu.Unlock()
	planned := map[*worker]int64{}
	for _, i := range parts {
		mr, from := refusals[i], ds.owner[i]
		from.cached, from.limit = mr.Cached, mr.Limit // fresh from the worker
		if refusedBy[i] == nil {
			refusedBy[i] = map[*worker]bool{}
		}
		refusedBy[i][from] = true
		var best *worker
		for _, w := range d.live {
			if !refusedBy[i][w] && w.free()-planned[w] >= mr.Need && (best == nil || w.free()-planned[w] > best.free()-planned[best]) {
				best = w
			}
		}
		if best == nil {
			return nil, d.tooBig(ds, i, mr, refusals)
		}
		ds.owner[i] = best
		planned[best] += mr.Need
	}
	d.cfg.Logger.Info("remote: partitions refused for memory move to workers with room", "dataset", ds.name, "partitions", parts)
	return parts, nil
}

// tooBig describes a dataset the live workers cannot hold: what it needs,
// estimated from the partitions measured so far (loaded, or refused with
// what they need), and every live worker's free memory. d.mu is held.
func (d *Driver) tooBig(ds *dataset, part int, mr *remotepb.MemoryRefusal, refusals map[int]*remotepb.MemoryRefusal) error {
	var known int64
	var measured int
	about := "about"
	for i, size := range ds.size {
		if r := refusals[i]; r != nil && size == 0 {
			size = r.Need
			if r.Partial {
				about = "at least about"
			}
		}
		if size > 0 {
			known += size
			measured++
		}
	}
	estimate := known
	if measured > 0 {
		estimate += known / int64(measured) * int64(len(ds.size)-measured)
	}
	need := fmt.Sprintf("%d bytes", mr.Need)
	if mr.Partial {
		need = "more than " + need
	}
	return fmt.Errorf("remote: dataset %q does not fit in the workers' memory: it needs %s %d bytes (estimated from %d of its %d partitions) and partition %d (%s) needs %s, but %s; raise --memory-limit, add workers or load fewer rows",
		ds.name, about, estimate, measured, len(ds.size), part, ds.sources[part], need, d.freeMemory())
}

// fits fails, before anything is loaded, for a dataset whose size is known
// (ds.size, from FromBlocks) and more than the live workers' free memory
// together. d.mu is held.
func (d *Driver) fits(ds *dataset) error {
	var need, free int64
	for _, size := range ds.size {
		need += size
	}
	for _, w := range d.live {
		if w.limit <= 0 {
			return nil
		}
		free += w.free()
	}
	if need <= free {
		return nil
	}
	return fmt.Errorf("remote: dataset %q needs %d bytes, more than the %d bytes free in the workers' memory: %s; raise --memory-limit, add workers or load fewer rows",
		ds.name, need, free, d.freeMemory())
}

// freeMemory lists each live worker's free memory, for errors. d.mu is held.
func (d *Driver) freeMemory() string {
	ws := make([]string, 0, len(d.live))
	for _, w := range d.live {
		if w.limit <= 0 {
			ws = append(ws, w.id+" has no memory limit")
		} else {
			ws = append(ws, fmt.Sprintf("%s has %d bytes free of its %d-byte memory limit", w.id, w.free(), w.limit))
		}
	}
	return strings.Join(ws, ", ")
}

// place returns the owner of each partition in parts, first moving the
// partitions of dead owners to live workers: partition i goes to the
// (i mod n)-th of the n live workers, so the move is deterministic. A
// moved partition must then be loaded by its new owner (load does that).
func (d *Driver) place(ds *dataset, parts []int) (map[*worker][]int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	groups := map[*worker][]int{}
	for _, i := range parts {
		w := ds.owner[i]
		if w.dead {
			if len(d.live) == 0 {
				return nil, fmt.Errorf("%w to take partition %d of dataset %q (its worker %s is lost)", ErrNoWorkers, i, ds.name, w.id)
			}
			w = d.live[i%len(d.live)]
			ds.owner[i] = w
		}
		groups[w] = append(groups[w], i)
	}
	return groups, nil
}

// held groups parts by the worker that holds each, and reports whether
// one of those workers is dead: its partitions must then be relocated (and
// loaded by their new owners) before a task can run on them, which place
// alone would not do.
func (d *Driver) held(ds *dataset, parts []int) (groups map[*worker][]int, lost bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	groups = map[*worker][]int{}
	for _, i := range parts {
		w := ds.owner[i]
		if w.dead {
			return nil, true
		}
		groups[w] = append(groups[w], i)
	}
	return groups, false
}

// relocate moves the partitions of dead workers among parts to survivors,
// which read them again from their sources.
func (d *Driver) relocate(ctx context.Context, ds *dataset, parts []int) error {
	var moved []int
	from := map[int]*worker{}
	d.mu.Lock()
	for _, i := range parts {
		if ds.owner[i].dead {
			moved = append(moved, i)
			from[i] = ds.owner[i]
		}
	}
	d.mu.Unlock()
	if len(moved) == 0 {
		return nil
	}
	d.cfg.Logger.Info("remote: re-reading lost partitions on survivors", "dataset", ds.name, "partitions", moved)
	if err := d.load(ctx, ds, moved, nil); err != nil {
		return err
	}
	d.recovered(ds, from)
	return nil
}

// spread moves partitions of ds to live workers that hold fewer than their
// share — workers that joined after ds was loaded — before a task runs, so
// a joining worker is used from the next iteration. A worker below
// ⌊n/live⌋ partitions takes the highest-numbered partition of the most
// loaded worker (the earliest registered among equals) until none is below
// or no move would help. The new owner reads the partition from its
// source (data still goes log → worker) and the old owner drops its copy.
// Results do not change: partials are combined in partition order
// wherever they were computed.
func (d *Driver) spread(ctx context.Context, ds *dataset) error {
	if len(d.moves(ds)) == 0 {
		return nil
	}
	ds.gate.Lock()
	defer ds.gate.Unlock()
	moves := d.moves(ds) // again: another call may have spread meanwhile
	if len(moves) == 0 {
		return nil
	}
	d.mu.Lock()
	from := map[*worker][]int32{}
	parts := make([]int, 0, len(moves))
	for _, m := range moves {
		if old := ds.owner[m.part]; !old.dead {
			from[old] = append(from[old], int32(m.part))
		}
		ds.owner[m.part] = m.to
		parts = append(parts, m.part)
	}
	d.mu.Unlock()
	sort.Ints(parts)
	d.cfg.Logger.Info("remote: moving partitions to workers that joined", "dataset", ds.name, "partitions", parts)
	if err := d.load(ctx, ds, parts, nil); err != nil {
		return err
	}
	d.mu.Lock()
	for w, ps := range from { // a partition refused for memory may have gone back
		kept := ps[:0]
		for _, p := range ps {
			if ds.owner[p] != w {
				kept = append(kept, p)
			}
		}
		from[w] = kept
	}
	d.mu.Unlock()
	for w, ps := range from {
		if len(ps) == 0 {
			continue
		}
		cctx, cancel := context.WithTimeout(w.ctx, d.cfg.HeartbeatTimeout)
		d.drop(cctx, w, &remotepb.DropRequest{Dataset: ds.id, Partitions: ps}, ds.name)
		cancel()
	}
	return nil
}

type move struct {
	part int
	to   *worker
}

// moves plans spread's moves for ds, to workers with room for them.
func (d *Driver) moves(ds *dataset) []move {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.live) < 2 {
		return nil
	}
	share := len(ds.owner) / len(d.live)
	held := make(map[*worker][]int, len(d.live))
	for i, w := range ds.owner {
		if !w.dead {
			held[w] = append(held[w], i)
		}
	}
	var out []move
	planned := map[*worker]int64{}
	for _, u := range d.live {
		for len(held[u]) < share {
			var top *worker
			for _, w := range d.live { // live is in registration order
				if top == nil || len(held[w]) > len(held[top]) {
					top = w
				}
			}
			if len(held[top]) <= share {
				break
			}
			ps := held[top]
			p := ps[len(ps)-1]
			if u.free()-planned[u] < ds.size[p] {
				break // u has no room for it
			}
			planned[u] += ds.size[p]
			held[top] = ps[:len(ps)-1]
			held[u] = append(held[u], p)
			out = append(out, move{part: p, to: u})
		}
	}
	return out
}

// Placement returns the id of the worker each partition of h is on now.
func (d *Driver) Placement(h *cluster.Dataset) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	ds, ok := d.datasets[h]
	if !ok {
		return nil
	}
	out := make([]string, len(ds.owner))
	for i, w := range ds.owner {
		out[i] = w.id
	}
	return out
}
