// Package remote runs cluster tasks on worker processes over gRPC.
//
// A Driver listens for workers; each worker process (RunWorker, or `flint
// worker --driver ADDR`) registers with it, sends heartbeats, and serves the
// driver's calls on its own listener. Workers dial the driver rather than
// the other way round, so a driver needs no list of workers: processes that
// start anywhere join by knowing one address, and a worker restarted on
// another port simply registers again.
//
// Driver.Load places every partition on a worker (partition i on the i-th
// live worker modulo their number, in registration order; placement then
// stays fixed across iterations, except that a worker joining later takes
// its share of partitions before the next task) and the worker reads the
// partition itself from its source —
// a log offset range, read from the log the job names, or a byte range of a
// file — so data flows from the log to the worker, never through the
// driver. Driver.MapPartitions (cluster.Executor) sends the encoded
// broadcast value to every worker at once; each returns the encoded partial
// of each of its partitions, and cluster.Aggregate combines them in its
// fixed tree, so results equal the in-process engine's bit for bit.
// The Driver is a cluster.Cluster, so training jobs (trainer.Run with
// Options.Cluster) run on the workers unchanged; FromBlocks datasets, which
// have no source to re-read (ALS's rating blocks), are sent from the driver.
//
// A worker whose connection breaks, or whose heartbeats stop for
// Config.HeartbeatTimeout (a crash, or a process stopped with SIGSTOP), is
// declared dead: its calls in flight are cancelled, its partitions move to
// the survivors, who re-read exactly those partitions from their recorded
// sources (the lineage), and the interrupted task runs again on them. A
// call that finds no worker alive waits Config.WorkerWait for one to join
// before it fails with ErrNoWorkers.
package remote

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/cluster/remote/remotepb"
)

// maxMsg bounds a gRPC message: broadcast values and partials can be large
// (a k-means centre matrix, a wide gradient).
const maxMsg = 256 << 20

// Config configures a Driver. Zero fields take the defaults given.
type Config struct {
	// Listen is the address workers register at. "" means 127.0.0.1:0.
	Listen string
	// HeartbeatInterval is how often workers send a heartbeat. 0 means 1s.
	HeartbeatInterval time.Duration
	// HeartbeatTimeout is how long without a heartbeat makes a worker dead.
	// 0 means 5 intervals.
	HeartbeatTimeout time.Duration
	// Secret, when set, is a shared secret every call in both directions
	// must carry (as a bearer token in the gRPC metadata).
	Secret string
	// TLS, when set, encrypts the connections in both directions.
	TLS *TLSFiles
	// WorkerWait is how long a call waits for a worker to join (or rejoin)
	// when none is alive — every worker lost at once, or a driver started
	// before its workers — before it fails with ErrNoWorkers. 0 means
	// HeartbeatTimeout; negative means not at all.
	WorkerWait time.Duration
	// Log names the log workers read log sources from when a call names
	// none (ScanSources, and Load with logSpec ""): "kafka:HOST:PORT[,...]".
	Log string
	// Logger receives membership and recovery events. nil means slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:0"
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = time.Second
	}
	if c.HeartbeatTimeout <= 0 {
		c.HeartbeatTimeout = 5 * c.HeartbeatInterval
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.WorkerWait == 0 {
		c.WorkerWait = c.HeartbeatTimeout
	}
	return c
}

func (c Config) validate() error {
	if c.HeartbeatTimeout <= c.HeartbeatInterval {
		return fmt.Errorf("remote: Config.HeartbeatTimeout (%v) must exceed Config.HeartbeatInterval (%v)", c.HeartbeatTimeout, c.HeartbeatInterval)
	}
	return nil
}

// ErrNoWorkers is returned when no live worker is left to place a partition
// on. It wraps cluster.ErrUnavailable: workers may come back.
var ErrNoWorkers = fmt.Errorf("remote: no live workers (%w)", cluster.ErrUnavailable)

var _ cluster.Cluster = (*Driver)(nil)

// Driver is a cluster.Executor whose partitions live in worker processes.
// It is safe for concurrent use.
type Driver struct {
	remotepb.UnimplementedDriverServer
	cfg  Config
	dial grpc.DialOption // transport credentials for dialing workers
	lis  net.Listener
	srv  *grpc.Server
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu       sync.Mutex
	workers  map[string]*worker // by id, dead ones included
	live     []*worker          // in registration order
	nextID   int
	datasets map[*cluster.Dataset]*dataset
	nextDS   uint64
	closed   bool
}

type worker struct {
	id, name, addr string
	conn           *grpc.ClientConn
	client         remotepb.WorkerClient
	ctx            context.Context // cancelled when the worker is declared dead
	cancel         context.CancelFunc
	last           time.Time // last heartbeat
	cached         int64
	dead           bool
}

func (w *worker) String() string { return fmt.Sprintf("worker %s (%s at %s)", w.id, w.name, w.addr) }

type dataset struct {
	id      uint64
	name    string
	log     string
	sources []cluster.Source
	blocks  [][]byte         // encoded driver-built blocks (FromBlocks), by partition; nil otherwise
	steps   []*remotepb.Step // transforms applied to the sources' rows (derived datasets)
	cols    int
	sparse  bool
	owner   []*worker // by partition; guarded by Driver.mu
	// gate is held shared by the calls that use the cached partitions and
	// exclusively while partitions move to workers that joined (spread), so
	// no call finds its partition dropped under it.
	gate sync.RWMutex
}

// WorkerInfo describes a worker the driver knows.
type WorkerInfo struct {
	ID, Name, Addr string
	Alive          bool
	CachedBytes    int64
	LastHeartbeat  time.Time
}

// NewDriver starts listening for workers. Close stops it.
func NewDriver(cfg Config) (*Driver, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	creds, dial, err := cfg.TLS.transport()
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("remote: driver listen: %w", err)
	}
	d := &Driver{cfg: cfg, dial: dial, lis: lis, workers: map[string]*worker{}, datasets: map[*cluster.Dataset]*dataset{}}
	opts := serverOptions(cfg.Secret)
	if creds != nil {
		opts = append(opts, creds)
	}
	d.srv = grpc.NewServer(opts...)
	remotepb.RegisterDriverServer(d.srv, d)
	ctx, stop := context.WithCancel(context.Background())
	d.stop = stop
	d.wg.Add(2)
	go func() {
		defer d.wg.Done()
		d.srv.Serve(lis)
	}()
	go func() {
		defer d.wg.Done()
		d.monitor(ctx)
	}()
	return d, nil
}

// Addr is the address workers register at.
func (d *Driver) Addr() string { return d.lis.Addr().String() }

// Close stops the driver and disconnects the workers (which keep running
// and try to register again).
func (d *Driver) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	ws := make([]*worker, 0, len(d.workers))
	for _, w := range d.workers {
		ws = append(ws, w)
	}
	d.mu.Unlock()
	d.stop()
	d.srv.Stop()
	d.wg.Wait()
	for _, w := range ws {
		w.cancel()
		w.conn.Close()
	}
	return nil
}

// Workers is the number of live workers (cluster.Cluster).
func (d *Driver) Workers() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.live)
}

// Members lists the workers the driver knows, dead ones included, in
// registration order.
func (d *Driver) Members() []WorkerInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]WorkerInfo, 0, len(d.workers))
	for _, w := range d.workers {
		out = append(out, WorkerInfo{ID: w.id, Name: w.name, Addr: w.addr, Alive: !w.dead, CachedBytes: w.cached, LastHeartbeat: w.last})
	}
	sort.Slice(out, func(i, j int) bool { return idLess(out[i].ID, out[j].ID) })
	return out
}

func idLess(a, b string) bool { return len(a) < len(b) || (len(a) == len(b) && a < b) }

// WaitWorkers waits until at least n workers are alive.
func (d *Driver) WaitWorkers(ctx context.Context, n int) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		d.mu.Lock()
		live := len(d.live)
		d.mu.Unlock()
		if live >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("remote: waiting for %d workers (%d alive): %w", n, live, ctx.Err())
		case <-t.C:
		}
	}
}

// Register implements remotepb.DriverServer.
func (d *Driver) Register(_ context.Context, req *remotepb.RegisterRequest) (*remotepb.RegisterReply, error) {
	if req.Addr == "" {
		return nil, status.Error(codes.InvalidArgument, "remote: register: empty address")
	}
	conn, err := grpc.NewClient(req.Addr, append(dialOptions(d.cfg.Secret), d.dial,
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMsg), grpc.MaxCallSendMsgSize(maxMsg)))...)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "remote: register %s: %v", req.Addr, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		conn.Close()
		return nil, status.Error(codes.Unavailable, "remote: driver closed")
	}
	d.nextID++
	ctx, cancel := context.WithCancel(context.Background())
	w := &worker{id: fmt.Sprintf("w%d", d.nextID), name: req.Name, addr: req.Addr, conn: conn,
		client: remotepb.NewWorkerClient(conn), ctx: ctx, cancel: cancel, last: time.Now()}
	d.workers[w.id] = w
	d.live = append(d.live, w)
	d.cfg.Logger.Info("remote: worker joined", "worker", w.id, "name", w.name, "addr", w.addr, "live", len(d.live))
	return &remotepb.RegisterReply{WorkerId: w.id, HeartbeatIntervalMs: d.cfg.HeartbeatInterval.Milliseconds()}, nil
}

// Heartbeat implements remotepb.DriverServer.
func (d *Driver) Heartbeat(_ context.Context, req *remotepb.HeartbeatRequest) (*remotepb.HeartbeatReply, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	w, ok := d.workers[req.WorkerId]
	if !ok || w.dead {
		return &remotepb.HeartbeatReply{Known: false}, nil
	}
	w.last, w.cached = time.Now(), req.CachedBytes
	return &remotepb.HeartbeatReply{Known: true}, nil
}

// monitor declares dead the workers whose heartbeats stopped.
func (d *Driver) monitor(ctx context.Context) {
	t := time.NewTicker(max(d.cfg.HeartbeatInterval/2, 5*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			d.mu.Lock()
			var late []*worker
			for _, w := range d.live {
				if now.Sub(w.last) > d.cfg.HeartbeatTimeout {
					late = append(late, w)
				}
			}
			d.mu.Unlock()
			for _, w := range late {
				d.markDead(w, fmt.Sprintf("no heartbeat for %v", d.cfg.HeartbeatTimeout))
			}
		}
	}
}

// markDead removes w from the live workers and cancels its calls.
func (d *Driver) markDead(w *worker, why string) {
	d.mu.Lock()
	if w.dead {
		d.mu.Unlock()
		return
	}
	w.dead = true
	for i, x := range d.live {
		if x == w {
			d.live = append(d.live[:i:i], d.live[i+1:]...)
			break
		}
	}
	live := len(d.live)
	d.mu.Unlock()
	w.cancel()
	w.conn.Close()
	d.cfg.Logger.Warn("remote: worker lost; its partitions move to the survivors", "worker", w.id, "name", w.name, "why", why, "live", live)
}

// failed reports whether err from a call to w means w is gone (and marks it
// dead), as opposed to an error of the task or the data.
func (d *Driver) failed(w *worker, err error) bool {
	if w.ctx.Err() != nil {
		return true
	}
	if status.Code(err) == codes.Unavailable {
		d.markDead(w, err.Error())
		return true
	}
	return false
}

// call runs fn with a context that ends with ctx or with w's life.
func call(ctx context.Context, w *worker, fn func(ctx context.Context) error) error {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(w.ctx, cancel)
	defer stop()
	return fn(cctx)
}

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
	return d.loadNew(ctx, name, logSpec, sources, nil)
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
	return d.loadNew(ctx, name, "", sources, nil)
}

// FromBlocks implements cluster.Cluster: it sends each block to the worker
// that will own it. The driver keeps the encoded blocks — they have no
// source a worker could read again — and sends them again to whichever
// worker takes over a partition after its owner is lost.
func (d *Driver) FromBlocks(ctx context.Context, name string, blocks []*cluster.Block) (*cluster.Dataset, error) {
	sources := make([]cluster.Source, len(blocks))
	enc := make([][]byte, len(blocks))
	var row int64
	for i, b := range blocks {
		if err := b.Validate(); err != nil {
			return nil, fmt.Errorf("remote: block %d of %q: %w", i, name, err)
		}
		sources[i] = cluster.Source{Kind: "memory", From: row, To: row + int64(b.Rows)}
		row += int64(b.Rows)
		enc[i] = cluster.EncodeBlock(nil, b)
	}
	return d.loadNew(ctx, name, "", sources, enc)
}

// loadNew places a new dataset's partitions on the live workers and has
// them cache it: from its sources, or from blocks when not nil.
func (d *Driver) loadNew(ctx context.Context, name, logSpec string, sources []cluster.Source, blocks [][]byte) (*cluster.Dataset, error) {
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
	ds := &dataset{id: d.nextDS, name: name, log: logSpec, sources: append([]cluster.Source(nil), sources...), blocks: blocks, owner: make([]*worker, len(sources))}
	for i := range sources {
		ds.owner[i] = d.live[i%len(d.live)]
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

// load has the owners of parts read them, moving the partitions of workers
// that fail to the survivors until every one is cached or an error that is
// not a lost worker occurs. replies, when not nil, receives each reply.
func (d *Driver) load(ctx context.Context, ds *dataset, parts []int, replies []*remotepb.LoadReply) error {
	srcs := make(map[int][]byte, len(parts))
	for _, i := range parts {
		var src bytes.Buffer
		if err := gob.NewEncoder(&src).Encode(ds.sources[i]); err != nil {
			return fmt.Errorf("remote: partition %d: encode source: %w", i, err)
		}
		srcs[i] = src.Bytes()
	}
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
		pending, err = d.fanOut(ctx, units, func(ctx context.Context, u unit) error {
			i := u.idx[0]
			req := &remotepb.LoadRequest{Dataset: ds.id, Partition: int32(i), Source: srcs[i], Log: ds.log, Steps: ds.steps}
			if ds.blocks != nil {
				req.Block = ds.blocks[i]
			}
			r, err := u.w.client.Load(ctx, req)
			if err == nil && replies != nil {
				replies[i] = r
			}
			return err
		}, func(u unit) string { return fmt.Sprintf("load of partition %d of dataset %q", u.idx[0], ds.name) })
		if err != nil {
			return err
		}
	}
	return nil
}

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
// ends with its worker's life. A call writes its own results, for its own
// indexes, so concurrent calls write distinct elements. It returns, sorted,
// the indexes of the units whose worker was lost — to run again on the
// survivors — and the other failures joined, each described by what.
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
			err := call(ctx, u.w, func(ctx context.Context) error { return fn(ctx, u) })
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
				errs = append(errs, fmt.Errorf("remote: %s on %s: %s", what(u), u.w, status.Convert(err).Message()))
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

// awaitLive returns at once while a worker is alive; otherwise it waits up
// to Config.WorkerWait for one to join, and fails with ErrNoWorkers.
func (d *Driver) awaitLive(ctx context.Context) error {
	d.mu.Lock()
	live := len(d.live)
	d.mu.Unlock()
	if live > 0 {
		return nil
	}
	if d.cfg.WorkerWait < 0 {
		return ErrNoWorkers
	}
	d.cfg.Logger.Warn("remote: no live workers; waiting for one to join", "for", d.cfg.WorkerWait)
	wctx, cancel := context.WithTimeout(ctx, d.cfg.WorkerWait)
	defer cancel()
	if err := d.WaitWorkers(wctx, 1); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w (none joined within %v)", ErrNoWorkers, d.cfg.WorkerWait)
	}
	return nil
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

// relocate moves the partitions of dead workers among parts to survivors,
// which read them again from their sources.
func (d *Driver) relocate(ctx context.Context, ds *dataset, parts []int) error {
	var moved []int
	d.mu.Lock()
	for _, i := range parts {
		if ds.owner[i].dead {
			moved = append(moved, i)
		}
	}
	d.mu.Unlock()
	if len(moved) == 0 {
		return nil
	}
	d.cfg.Logger.Info("remote: re-reading lost partitions on survivors", "dataset", ds.name, "partitions", moved)
	return d.load(ctx, ds, moved, nil)
}

// MapPartitions implements cluster.Executor: it runs the task on every
// worker's partitions at once and returns the decoded partials in partition
// order. Partitions of a worker lost during the call move to the survivors
// and run again there.
func (d *Driver) MapPartitions(ctx context.Context, h *cluster.Dataset, task string, b any) ([]any, error) {
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
		groups, err := d.place(ds, pending)
		if err != nil {
			return nil, err
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
	for w, ps := range from {
		cctx, cancel := context.WithTimeout(w.ctx, d.cfg.HeartbeatTimeout)
		if _, err := w.client.Drop(cctx, &remotepb.DropRequest{Dataset: ds.id, Partitions: ps}); err != nil {
			d.cfg.Logger.Debug("remote: drop moved partitions", "worker", w.id, "dataset", ds.name, "err", err)
		}
		cancel()
	}
	return nil
}

type move struct {
	part int
	to   *worker
}

// moves plans spread's moves for ds.
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
		if _, err := w.client.Drop(ctx, &remotepb.DropRequest{Dataset: ds.id}); err != nil {
			d.cfg.Logger.Debug("remote: drop", "worker", w.id, "dataset", ds.name, "err", err)
		}
		cancel()
	}
}

var (
	_ cluster.Executor = (*Driver)(nil)
	_ cluster.Scanner  = (*Driver)(nil)
	_ cluster.Deriver  = (*Driver)(nil)
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
	parent.gate.RLock()
	defer parent.gate.RUnlock()
	n := len(parent.sources)
	// Every owner must hold its parent partition: rebuild the lost ones.
	if err := d.relocate(ctx, parent, seq(n)); err != nil {
		return nil, err
	}
	step := &remotepb.Step{Transform: transform, Arg: enc, Cols: int32(parent.cols), Sparse: parent.sparse}
	d.mu.Lock()
	d.nextDS++
	child := &dataset{id: d.nextDS, name: name, log: parent.log, sources: parent.sources, blocks: parent.blocks,
		steps: append(append([]*remotepb.Step(nil), parent.steps...), step), owner: append([]*worker(nil), parent.owner...)}
	groups := map[*worker][]int{}
	for i, w := range child.owner {
		groups[w] = append(groups[w], i)
	}
	d.mu.Unlock()

	replies := make([]*remotepb.LoadReply, n)
	retry, err := d.fanOut(ctx, unitsOf(groups), func(ctx context.Context, u unit) error {
		req := &remotepb.DeriveRequest{Parent: parent.id, Dataset: child.id, Step: step}
		for _, i := range u.idx {
			req.Partitions = append(req.Partitions, int32(i))
		}
		r, err := u.w.client.Derive(ctx, req)
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
	if len(retry) > 0 {
		if err := d.load(ctx, child, retry, replies); err != nil {
			d.dropOn(child)
			return nil, err
		}
	}
	return d.finish(child, replies)
}

// String describes the driver for logs.
func (d *Driver) String() string {
	ws := d.Members()
	ids := make([]string, 0, len(ws))
	for _, w := range ws {
		if w.Alive {
			ids = append(ids, w.ID)
		}
	}
	return fmt.Sprintf("driver at %s with workers [%s]", d.Addr(), strings.Join(ids, " "))
}

// ScanSources implements cluster.Scanner: source i is scanned by the
// (i mod n)-th of the n live workers, which reads it from its log
// (Config.Log; l, the driver's own log, is not used) or file. The sources
// of a worker lost during the call are scanned again by the survivors.
func (d *Driver) ScanSources(ctx context.Context, _ cluster.LogReader, sources []cluster.Source, task string, b any) ([]any, error) {
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
