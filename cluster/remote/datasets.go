package remote

import (
	"context"
	"errors"
	"fmt"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/cluster/remote/remotepb"
)

// Load places one partition per source on the live workers and has each
// worker read and cache its partitions. logSpec names the log the workers
// read log sources from ("kafka:HOST:PORT[,...]"); it may be "" when every
// source is a file.
func (d *Driver) Load(ctx context.Context, sources []cluster.Source, logSpec string) (*cluster.Dataset, error) {
	name := "dataset"
	if len(sources) > 0 {
		if s := sources[0]; s.Kind == "log" {
			name = s.Topic
		} else if s.Kind == "file" {
			name = s.Path
		}
	}
	for i, s := range sources {
		if s.Kind != "log" && s.Kind != "file" {
			return nil, fmt.Errorf("remote: partition %d: %s cannot be read by a worker", i, s)
		}
	}
	return d.loadNew(ctx, name, logSpec, sources, nil, nil)
}

// LoadSources implements cluster.Cluster: Load under the given name. l is
// not used — workers read log sources through their own connection to the
// log named by Config.Log.
func (d *Driver) LoadSources(ctx context.Context, _ cluster.LogReader, name string, sources []cluster.Source) (*cluster.Dataset, error) {
	for i, s := range sources {
		if s.Kind != "log" && s.Kind != "file" {
			return nil, fmt.Errorf("remote: partition %d of %q: %s cannot be read by a worker", i, name, s)
		}
	}
	return d.loadNew(ctx, name, "", sources, nil, nil)
}

// FromBlocks implements cluster.Cluster: it sends each block to the worker
// that will own it. The driver keeps the encoded blocks — they have no
// source a worker could read again — and sends them again to whichever
// worker takes over a partition after its owner is lost.
func (d *Driver) FromBlocks(ctx context.Context, name string, blocks []*cluster.Block) (*cluster.Dataset, error) {
	sources := make([]cluster.Source, len(blocks))
	enc := make([][]byte, len(blocks))
	sizes := make([]int64, len(blocks))
	var row int64
	for i, b := range blocks {
		if err := b.Validate(); err != nil {
			return nil, fmt.Errorf("remote: block %d of %q: %w", i, name, err)
		}
		sources[i] = cluster.Source{Kind: "memory", From: row, To: row + int64(b.Rows)}
		row += int64(b.Rows)
		enc[i] = cluster.EncodeBlock(nil, b)
		sizes[i] = int64(8*(len(b.X)+len(b.Val)+len(b.Y)+len(b.W)+len(b.Ptr)) + 4*(len(b.Ind)+len(b.X32))) // as decoded
	}
	return d.loadNew(ctx, name, "", sources, enc, sizes)
}

// loadNew places a new dataset's partitions on the live workers and has
// them cache it: from its sources, or from blocks when not nil.
func (d *Driver) loadNew(ctx context.Context, name, logSpec string, sources []cluster.Source, blocks [][]byte, sizes []int64) (*cluster.Dataset, error) {
	if logSpec == "" {
		logSpec = d.cfg.Log
	}
	if err := d.awaitLive(ctx); err != nil {
		return nil, err
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, errors.New("remote: driver closed")
	}
	if len(d.live) == 0 {
		d.mu.Unlock()
		return nil, ErrNoWorkers
	}
	d.nextDS++
	ds := &dataset{id: d.nextDS, name: name, log: logSpec, sources: append([]cluster.Source(nil), sources...), blocks: blocks,
		owner: make([]*worker, len(sources)), size: make([]int64, len(sources))}
	for i := range sources {
		ds.owner[i] = d.live[i%len(d.live)]
	}
	if sizes != nil {
		copy(ds.size, sizes)
		if err := d.fits(ds); err != nil {
			d.mu.Unlock()
			return nil, err
		}
	}
	d.mu.Unlock()

	replies := make([]*remotepb.LoadReply, len(sources))
	if err := d.load(ctx, ds, seq(len(sources)), replies); err != nil {
		d.dropOn(ds)
		return nil, err
	}
	return d.finish(ds, replies)
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// finish unifies the partitions' widths as the engine does, and registers
// the dataset under a new handle. On error it drops what the workers cached.
func (d *Driver) finish(ds *dataset, replies []*remotepb.LoadReply) (*cluster.Dataset, error) {
	stats := make([]cluster.PartitionStats, len(replies))
	cols, sparse, first := 0, false, -1
	for i, r := range replies {
		d.mu.Lock()
		stats[i] = cluster.PartitionStats{Worker: workerNum(ds.owner[i]), Rows: int(r.Rows), Skipped: int(r.Skipped), Bytes: r.Bytes, Source: ds.sources[i]}
		ds.size[i] = r.Bytes
		d.mu.Unlock()
		if r.Rows == 0 {
			continue
		}
		switch {
		case first < 0:
			cols, sparse, first = int(r.Cols), r.Sparse, i
		case r.Sparse != sparse:
			d.dropOn(ds)
			return nil, fmt.Errorf("remote: dataset %q mixes dense and sparse partitions (%d and %d)", ds.name, first, i)
		case sparse:
			cols = max(cols, int(r.Cols))
		case int(r.Cols) != cols:
			d.dropOn(ds)
			return nil, fmt.Errorf("remote: dataset %q: partition %d (%s) has %d features but partition %d (%s) has %d",
				ds.name, i, ds.sources[i], r.Cols, first, ds.sources[first], cols)
		}
	}
	ds.cols, ds.sparse = cols, sparse
	h := cluster.NewDatasetHandle(ds.name, cols, sparse, stats)
	d.mu.Lock()
	d.datasets[h] = ds
	d.mu.Unlock()
	return h, nil
}

func workerNum(w *worker) int {
	var n int
	fmt.Sscanf(w.id, "w%d", &n)
	return n
}

// Drop releases a dataset's partitions on its workers.
func (d *Driver) Drop(h *cluster.Dataset) {
	d.mu.Lock()
	ds, ok := d.datasets[h]
	delete(d.datasets, h)
	d.mu.Unlock()
	if ok {
		d.dropOn(ds)
	}
}

// dropOn tells every live owner of ds's partitions to drop them, best effort.
func (d *Driver) dropOn(ds *dataset) {
	d.mu.Lock()
	seen := map[*worker]bool{}
	for _, w := range ds.owner {
		if w != nil && !w.dead {
			seen[w] = true
		}
	}
	d.mu.Unlock()
	for w := range seen {
		ctx, cancel := context.WithTimeout(w.ctx, d.cfg.HeartbeatTimeout)
		d.drop(ctx, w, &remotepb.DropRequest{Dataset: ds.id}, ds.name)
		cancel()
	}
}

// drop asks w to drop partitions, best effort, and takes the bytes it then
// holds as its cached bytes until its next heartbeat.
func (d *Driver) drop(ctx context.Context, w *worker, req *remotepb.DropRequest, name string) {
	r, err := w.client.Drop(ctx, req)
	if err != nil {
		d.cfg.Logger.Debug("remote: drop", "worker", w.id, "dataset", name, "partitions", req.Partitions, "err", err)
		return
	}
	d.mu.Lock()
	w.cached = r.CachedBytes
	d.mu.Unlock()
}
