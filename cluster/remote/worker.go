package remote

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/cluster/remote/remotepb"
	"github.com/flintml/flint/internal/logspec"
)

// WorkerConfig configures a worker process.
type WorkerConfig struct {
	// Driver is the driver's address, host:port. Required.
	Driver string
	// Listen is the address the worker's own service listens on; the driver
	// dials it. "" means 127.0.0.1:0 (loopback, a free port).
	Listen string
	// Advertise is the address sent to the driver, when it differs from the
	// listener's (NAT, containers). "" means the listener's address.
	Advertise string
	// Name identifies the worker in logs and errors. "" means host/pid.
	Name string
	// Secret, when set, is the shared secret: sent to the driver and
	// required of it.
	Secret string
	// TLS, when set, encrypts the connections in both directions.
	TLS *TLSFiles
	// Parallelism is how many partitions run at once. 0 means GOMAXPROCS.
	Parallelism int
	// MemoryLimit bounds the bytes of cached partitions: a load or derive
	// that would exceed it fails (codes.ResourceExhausted, naming the
	// partition, what it needs and what is in use) and caches nothing.
	// 0 means no limit.
	MemoryLimit int64
	// Logger receives events. nil means slog.Default().
	Logger *slog.Logger
}

// Worker caches partitions and runs tasks on them for a driver.
type Worker struct {
	remotepb.UnimplementedWorkerServer
	cfg WorkerConfig

	mu       sync.Mutex
	datasets map[uint64]map[int]*cluster.Block // dataset → partition → block
	logs     map[string]cluster.LogReader      // log spec → open log
	closers  []func() error
	cached   int64
}

// RunWorker serves a driver until ctx ends: it registers, sends heartbeats
// (registering again if the driver has forgotten it) and answers the
// driver's calls.
func RunWorker(ctx context.Context, cfg WorkerConfig) error {
	if cfg.Driver == "" {
		return errors.New("remote: WorkerConfig.Driver is empty")
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.Name == "" {
		host, _ := os.Hostname()
		cfg.Name = fmt.Sprintf("%s/%d", host, os.Getpid())
	}
	if cfg.Parallelism <= 0 {
		cfg.Parallelism = runtime.GOMAXPROCS(0)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	w := &Worker{cfg: cfg, datasets: map[uint64]map[int]*cluster.Block{}, logs: map[string]cluster.LogReader{}}
	defer w.closeLogs()

	creds, dial, err := cfg.TLS.transport()
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("remote: worker listen: %w", err)
	}
	opts := append(serverOptions(cfg.Secret), grpc.MaxRecvMsgSize(maxMsg), grpc.MaxSendMsgSize(maxMsg))
	if creds != nil {
		opts = append(opts, creds)
	}
	srv := grpc.NewServer(opts...)
	remotepb.RegisterWorkerServer(srv, w)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	defer srv.Stop()

	addr := cfg.Advertise
	if addr == "" {
		addr = lis.Addr().String()
	}
	// Reconnect quickly to a driver that is starting or restarting (gRPC's
	// default backoff starts at a second and grows to two minutes).
	reconnect := grpc.WithConnectParams(grpc.ConnectParams{MinConnectTimeout: 5 * time.Second,
		Backoff: backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second}})
	conn, err := grpc.NewClient(cfg.Driver, append(dialOptions(cfg.Secret), dial, reconnect)...)
	if err != nil {
		return fmt.Errorf("remote: worker %s: driver %s: %w", cfg.Name, cfg.Driver, err)
	}
	defer conn.Close()
	drv := remotepb.NewDriverClient(conn)

	for {
		id, interval, err := w.register(ctx, drv, addr)
		if err != nil {
			return err
		}
		cfg.Logger.Info("remote: worker registered", "worker", cfg.Name, "id", id, "addr", addr, "driver", cfg.Driver)
		if err := w.heartbeats(ctx, drv, id, interval, served); err != nil {
			return err
		}
		// The driver declared this worker dead (it stalled): start afresh.
		w.dropAll()
	}
}

// register retries until the driver accepts the worker or ctx ends.
func (w *Worker) register(ctx context.Context, drv remotepb.DriverClient, addr string) (string, time.Duration, error) {
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		r, err := drv.Register(rctx, &remotepb.RegisterRequest{Addr: addr, Name: w.cfg.Name}, grpc.WaitForReady(true))
		cancel()
		if err == nil {
			return r.WorkerId, time.Duration(r.HeartbeatIntervalMs) * time.Millisecond, nil
		}
		if status.Code(err) == codes.Unauthenticated {
			return "", 0, fmt.Errorf("remote: worker %s: driver %s: %w", w.cfg.Name, w.cfg.Driver, err)
		}
		select {
		case <-ctx.Done():
			return "", 0, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// heartbeats returns nil when the driver no longer knows the worker, and an
// error when ctx ends or the server fails.
func (w *Worker) heartbeats(ctx context.Context, drv remotepb.DriverClient, id string, interval time.Duration, served <-chan error) error {
	t := time.NewTicker(max(interval, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-served:
			return fmt.Errorf("remote: worker %s: serve: %w", w.cfg.Name, err)
		case <-t.C:
		}
		w.mu.Lock()
		cached := w.cached
		w.mu.Unlock()
		hctx, cancel := context.WithTimeout(ctx, max(interval, time.Second))
		r, err := drv.Heartbeat(hctx, &remotepb.HeartbeatRequest{WorkerId: id, CachedBytes: cached})
		cancel()
		if err != nil {
			w.cfg.Logger.Warn("remote: heartbeat failed", "worker", w.cfg.Name, "err", err)
			continue
		}
		if !r.Known {
			w.cfg.Logger.Warn("remote: the driver no longer knows this worker; registering again", "worker", w.cfg.Name)
			return nil
		}
	}
}

func (w *Worker) dropAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.datasets, w.cached = map[uint64]map[int]*cluster.Block{}, 0
}

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

// Load implements remotepb.WorkerServer.
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
				return nil, status.Errorf(codes.FailedPrecondition, "worker %s: partition %d (%s): %v", w.cfg.Name, req.Partition, src, err)
			}
		}
		b, err = cluster.ReadSource(ctx, l, src)
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
	if err != nil {
		return nil, status.Errorf(codes.Aborted, "worker %s: partition %d (%s): %v", w.cfg.Name, req.Partition, src, err)
	}
	if err := w.cache(req.Dataset, []*cluster.Block{b}, []int{int(req.Partition)}); err != nil {
		return nil, err
	}
	return loadReply(b), nil
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
			delta -= old.Bytes()
		}
	}
	if limit := w.cfg.MemoryLimit; limit > 0 && delta > 0 && w.cached+delta > limit {
		return status.Errorf(codes.ResourceExhausted, "worker %s: caching partitions %v of dataset %d needs %d bytes, but %d of its %d-byte memory limit are in use; raise --memory-limit or add workers",
			w.cfg.Name, idx, dataset, delta, w.cached, limit)
	}
	if parts == nil {
		parts = map[int]*cluster.Block{}
		w.datasets[dataset] = parts
	}
	for k, i := range idx {
		parts[i] = bs[k]
	}
	w.cached += delta
	return nil
}

// Derive implements remotepb.WorkerServer.
func (w *Worker) Derive(ctx context.Context, req *remotepb.DeriveRequest) (*remotepb.DeriveReply, error) {
	if req.Step == nil {
		return nil, status.Errorf(codes.InvalidArgument, "worker %s: derive without a step", w.cfg.Name)
	}
	parents, err := w.blocks(&remotepb.RunRequest{Dataset: req.Parent, Partitions: req.Partitions, Cols: req.Step.Cols, Sparse: req.Step.Sparse})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := make([]*cluster.Block, len(parents))
	errs := make([]error, len(parents))
	sem := make(chan struct{}, w.cfg.Parallelism)
	var wg sync.WaitGroup
	for k := range parents {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			i := int(req.Partitions[k])
			defer func() {
				if r := recover(); r != nil {
					errs[k] = fmt.Errorf("transform %s panicked on partition %d: %v\n%s", req.Step.Transform, i, r, debug.Stack())
					cancel()
				}
			}()
			out[k], errs[k] = cluster.ApplyTransformEncoded(ctx, req.Step.Transform, cluster.Part{Index: i, Block: parents[k]}, req.Step.Arg)
			if errs[k] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	if real := nonCanceled(errs); len(real) > 0 {
		return nil, status.Errorf(codes.Aborted, "worker %s: %v", w.cfg.Name, errors.Join(real...))
	}
	if err := ctx.Err(); err != nil {
		return nil, status.Errorf(codes.Canceled, "worker %s: %v", w.cfg.Name, err)
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

// Drop implements remotepb.WorkerServer.
func (w *Worker) Drop(_ context.Context, req *remotepb.DropRequest) (*remotepb.DropReply, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	parts := w.datasets[req.Dataset]
	if len(req.Partitions) > 0 {
		for _, i := range req.Partitions {
			if b := parts[int(i)]; b != nil {
				w.cached -= b.Bytes()
				delete(parts, int(i))
			}
		}
		return &remotepb.DropReply{}, nil
	}
	for _, b := range parts {
		w.cached -= b.Bytes()
	}
	delete(w.datasets, req.Dataset)
	return &remotepb.DropReply{}, nil
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
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := make([][]byte, len(blocks))
	errs := make([]error, len(blocks))
	sem := make(chan struct{}, w.cfg.Parallelism)
	var wg sync.WaitGroup
	for k := range blocks {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			i := int(req.Partitions[k])
			defer func() {
				if r := recover(); r != nil {
					errs[k] = fmt.Errorf("task %s panicked on partition %d: %v\n%s", req.Task, i, r, debug.Stack())
					cancel()
				}
			}()
			out[k], errs[k] = cluster.RunTaskEncoded(ctx, req.Task, cluster.Part{Index: i, Block: blocks[k]}, b)
			if errs[k] != nil {
				errs[k] = fmt.Errorf("task %s on partition %d: %w", req.Task, i, errs[k])
				cancel()
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) && errors.Join(nonCanceled(errs)...) == nil {
			return nil, status.Errorf(codes.Canceled, "worker %s: %v", w.cfg.Name, err)
		}
		return nil, status.Errorf(codes.Aborted, "worker %s: %v", w.cfg.Name, errors.Join(nonCanceled(errs)...))
	}
	return &remotepb.RunReply{Partials: out}, nil
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
		return nil, status.Errorf(codes.Aborted, "worker %s: %v", w.cfg.Name, errors.Join(real...))
	}
	if err := ctx.Err(); err != nil {
		return nil, status.Errorf(codes.Canceled, "worker %s: %v", w.cfg.Name, err)
	}
	return &remotepb.RunReply{Partials: out}, nil
}
