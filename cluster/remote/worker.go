package remote

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/cluster/remote/remotepb"
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
	// MemoryLimit bounds the bytes of cached partitions. The worker reports
	// it to the driver, stops reading a partition as soon as its rows would
	// exceed it, and refuses the partition (codes.ResourceExhausted, with
	// what it needs and what is in use), caching nothing of it; the driver
	// then places the partition on a worker with room. 0 means no limit.
	MemoryLimit int64
	// PaceGC paces the process's garbage collector by the heap that is not
	// cached while the worker caches partitions (cluster.PaceCached, as
	// cluster.Config.PaceGC does for an Engine). false leaves it alone.
	PaceGC bool
	// Logger receives events. nil means slog.Default().
	Logger *slog.Logger
}

// Worker caches partitions and runs tasks on them for a driver. It is safe
// for concurrent use: the driver's calls run concurrently.
type Worker struct {
	remotepb.UnimplementedWorkerServer
	cfg         WorkerConfig
	incarnation string // random, drawn when the process starts RunWorker

	mu       sync.Mutex
	reg      string                            // the registration held, "EPOCH/ID"; "" while none
	datasets map[uint64]map[int]*cluster.Block // dataset → partition → block
	logs     map[string]cluster.LogReader      // log spec → open log
	closers  []func() error
	cached   int64
	views    map[partKey]partKey  // view partition → the partition whose rows it shares
	viewed   map[partKey]*viewUse // partition → its live views

	viewMu sync.Mutex // held while views are derived (they rearrange their parents)

	releasing atomic.Bool // a releaseMemory is under way
}

// Retry delays while the driver cannot be reached: doubling from the first
// to the last.
const (
	retryFirst = 50 * time.Millisecond
	retryMax   = 5 * time.Second
)

// RunWorker serves a driver until ctx ends: it registers, sends heartbeats
// (dropping its cache and registering again when the driver no longer
// knows it) and answers the driver's calls. When ctx ends it tells the
// driver it is leaving, so the driver moves its partitions at once. While
// the driver cannot be reached it retries with backoff, logging once that
// the driver is unreachable and once when it is registered again.
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
	inc, err := randomID()
	if err != nil {
		return fmt.Errorf("remote: worker %s: incarnation: %w", cfg.Name, err)
	}
	w := &Worker{cfg: cfg, incarnation: inc, datasets: map[uint64]map[int]*cluster.Block{}, logs: map[string]cluster.LogReader{},
		views: map[partKey]partKey{}, viewed: map[partKey]*viewUse{}}
	defer w.closeLogs()

	creds, dial, err := cfg.TLS.transport()
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("remote: worker %s: listen on %s: %w", cfg.Name, cfg.Listen, err)
	}
	opts := []grpc.ServerOption{grpc.MaxRecvMsgSize(maxMsg), grpc.MaxSendMsgSize(maxMsg)}
	if auth := authInterceptor(cfg.Secret, &refusals{logger: cfg.Logger, side: "worker " + cfg.Name}); auth != nil {
		opts = append(opts, grpc.ChainUnaryInterceptor(auth, w.checkRegistration))
	} else {
		opts = append(opts, grpc.ChainUnaryInterceptor(w.checkRegistration))
	}
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
		Backoff: backoff.Config{BaseDelay: retryFirst, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second}})
	conn, err := grpc.NewClient(cfg.Driver, append(dialOptions(cfg.Secret), dial, reconnect)...)
	if err != nil {
		return fmt.Errorf("remote: worker %s: driver %s: %w", cfg.Name, cfg.Driver, err)
	}
	defer conn.Close()
	return w.serve(ctx, remotepb.NewDriverClient(conn), addr, served)
}

// serve registers and sends heartbeats until ctx ends or the server fails.
func (w *Worker) serve(ctx context.Context, drv remotepb.DriverClient, addr string, served <-chan error) error {
	r := &reach{logger: w.cfg.Logger, name: w.cfg.Name, driver: w.cfg.Driver}
	for {
		reply, err := w.register(ctx, drv, addr, r)
		if err != nil {
			return err
		}
		w.mu.Lock()
		w.reg = registration(reply.Epoch, reply.WorkerId)
		w.mu.Unlock()
		w.cfg.Logger.Info("remote: worker registered", "worker", w.cfg.Name, "id", reply.WorkerId, "addr", addr, "driver", w.cfg.Driver)
		interval := time.Duration(reply.HeartbeatIntervalMs) * time.Millisecond
		err = w.heartbeats(ctx, drv, reply, interval, served, r)
		if err != nil {
			if ctx.Err() != nil {
				w.leave(drv, reply)
			}
			return err
		}
		// The driver no longer holds this registration (it restarted, or
		// declared the worker dead): start afresh.
		w.reset()
	}
}

// register retries until the driver accepts the worker or ctx ends.
func (w *Worker) register(ctx context.Context, drv remotepb.DriverClient, addr string, r *reach) (*remotepb.RegisterReply, error) {
	delay := retryFirst
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		reply, err := drv.Register(rctx, &remotepb.RegisterRequest{Addr: addr, Name: w.cfg.Name, Incarnation: w.incarnation, MemoryLimit: w.cfg.MemoryLimit})
		cancel()
		if err == nil {
			r.ok()
			return reply, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if status.Code(err) == codes.Unauthenticated {
			return nil, fmt.Errorf("remote: worker %s: driver %s: %w", w.cfg.Name, w.cfg.Driver, err)
		}
		r.fail(err, delay)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, retryMax)
	}
}

// heartbeats returns nil when the driver no longer knows the worker, and an
// error when ctx ends or the server fails. While heartbeats fail it retries
// with backoff.
func (w *Worker) heartbeats(ctx context.Context, drv remotepb.DriverClient, reg *remotepb.RegisterReply, interval time.Duration, served <-chan error, r *reach) error {
	interval = max(interval, 10*time.Millisecond)
	wait, delay := time.Duration(0), retryFirst // the first heartbeat at once: it joins the worker
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-served:
			return fmt.Errorf("remote: worker %s: serve: %w", w.cfg.Name, err)
		case <-time.After(wait):
		}
		w.mu.Lock()
		cached := w.cached
		w.mu.Unlock()
		hctx, cancel := context.WithTimeout(ctx, max(interval, time.Second))
		reply, err := drv.Heartbeat(hctx, &remotepb.HeartbeatRequest{WorkerId: reg.WorkerId, Epoch: reg.Epoch,
			Incarnation: w.incarnation, CachedBytes: cached, MemoryLimit: w.cfg.MemoryLimit, HeapLiveBytes: heapLive()})
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.fail(err, delay)
			wait, delay = delay, min(2*delay, retryMax)
			continue
		}
		if !reply.Known {
			w.cfg.Logger.Info("remote: the driver does not hold this worker's registration; dropping the cache and registering again",
				"worker", w.cfg.Name, "id", reg.WorkerId)
			return nil
		}
		r.ok()
		wait, delay = interval, retryFirst
	}
}

// leave tells the driver the worker is stopping, best effort.
func (w *Worker) leave(drv remotepb.DriverClient, reg *remotepb.RegisterReply) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := drv.Leave(ctx, &remotepb.LeaveRequest{WorkerId: reg.WorkerId, Epoch: reg.Epoch, Incarnation: w.incarnation})
	if err != nil {
		w.cfg.Logger.Warn("remote: could not tell the driver this worker is leaving; it will notice when the heartbeats stop",
			"worker", w.cfg.Name, "driver", w.cfg.Driver, "err", err)
		return
	}
	w.cfg.Logger.Info("remote: worker left the driver", "worker", w.cfg.Name, "id", reg.WorkerId, "driver", w.cfg.Driver)
}

// reset gives up the registration and drops every cached partition, and
// returns their memory to the system, before the worker registers again.
func (w *Worker) reset() {
	w.mu.Lock()
	dropped := w.cached
	w.reg = ""
	w.datasets, w.cached = map[uint64]map[int]*cluster.Block{}, 0
	w.views, w.viewed = map[partKey]partKey{}, map[partKey]*viewUse{}
	w.pace(-dropped)
	w.mu.Unlock()
	debug.FreeOSMemory()
	if dropped > 0 {
		w.cfg.Logger.Info("remote: dropped the cache of the previous registration", "worker", w.cfg.Name, "bytes", dropped)
	}
}

// checkRegistration refuses calls made under a registration the worker
// does not hold (codes.FailedPrecondition): a driver that restarted, or
// that declared this worker dead and so is calling a stale record.
func (w *Worker) checkRegistration(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	got := md.Get(regKey)
	w.mu.Lock()
	reg := w.reg
	w.mu.Unlock()
	if len(got) != 1 || reg == "" || got[0] != reg {
		held := reg
		if held == "" {
			held = "none"
		}
		return nil, status.Errorf(codes.FailedPrecondition, "remote: worker %s: call under registration %q, but the worker holds %s",
			w.cfg.Name, got, held)
	}
	return h(ctx, req)
}

// reach logs the worker's contact with its driver: once when it is lost
// (or, before the first registration, that the worker is waiting), each
// retry at Debug level, and once when it is back. It is used by one
// goroutine.
type reach struct {
	logger       *slog.Logger
	name, driver string
	down, ever   bool // unreachable now; reached once
}

func (r *reach) fail(err error, retry time.Duration) {
	switch {
	case r.down:
		r.logger.Debug("remote: driver still unreachable", "worker", r.name, "driver", r.driver, "retry_in", retry, "err", err)
	case !r.ever:
		r.logger.Info(fmt.Sprintf("remote: waiting for the driver at %s", r.driver), "worker", r.name, "err", err)
	default:
		r.logger.Warn(fmt.Sprintf("remote: driver at %s unreachable; retrying", r.driver), "worker", r.name, "err", err)
	}
	r.down = true
}

func (r *reach) ok() {
	if r.down && r.ever {
		r.logger.Info(fmt.Sprintf("remote: driver at %s reachable again", r.driver), "worker", r.name)
	}
	r.down, r.ever = false, true
}

// heapLive is the live heap as of the last garbage collection. Before the
// first collection, which a young worker with a small heap may not have
// had, that figure is 0: the heap's objects (live or not yet swept) stand
// in for it then.
func heapLive() int64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	for _, v := range s {
		if v.Value.Kind() == metrics.KindUint64 && v.Value.Uint64() > 0 {
			return int64(v.Value.Uint64())
		}
	}
	return 0
}

// pace counts a change of the cached bytes in the collector's pacing,
// with WorkerConfig.PaceGC.
func (w *Worker) pace(delta int64) {
	if w.cfg.PaceGC && delta != 0 {
		cluster.PaceCached(delta)
	}
}
