// Package remote runs cluster tasks on worker processes over gRPC.
//
// A Driver listens for workers; each worker process (RunWorker, or `flint
// worker --driver ADDR`) registers with it, sends heartbeats, and serves the
// driver's calls on its own listener. Workers dial the driver rather than
// the other way round, so a driver needs no list of workers: processes that
// start anywhere join by knowing one address, and a worker restarted on
// another port simply registers again.
//
// # Identity
//
// A driver draws a random epoch when it starts, and a worker process a
// random incarnation when it starts. The driver names workers w1, w2, … in
// registration order; a registration is the pair (epoch, name), so a name
// a restarted driver hands out again never matches the previous driver's.
// Every heartbeat carries the registration and the incarnation, and every
// call from the driver carries the registration: a driver answers a
// heartbeat of a registration it does not hold (another epoch, a worker it
// declared dead) with Known=false, and a worker refuses calls of a
// registration it does not hold (codes.FailedPrecondition). A worker told
// Known=false drops its whole cache before it registers again, so the
// workers of a restarted driver hold nothing of the old driver's datasets.
// A worker joins the live workers with its first heartbeat after
// registering.
//
// # Placement
//
// Driver.Load places every partition on a worker (partition i on the i-th
// live worker modulo their number, in registration order; placement then
// stays fixed across iterations, except that a worker joining later takes
// its share of partitions before the next task) and the worker reads the
// partition itself from its source — a log offset range, read from the log
// the job names, or a byte range of a file — so data flows from the log to
// the worker, never through the driver. Workers report their memory limit
// (WorkerConfig.MemoryLimit) and cached bytes with every heartbeat. A
// worker with a limit stops reading a partition as soon as its rows would
// exceed the limit and refuses it (codes.ResourceExhausted); the driver then
// moves the partition to the live worker with the most free memory that has
// not refused it, and fails the load with an error naming the dataset, its
// estimated size and every worker's free memory only when no worker can
// hold it (at once, before sending anything, for FromBlocks, whose size is
// known).
//
// Driver.MapPartitions (cluster.Executor) sends the encoded broadcast value
// to every worker at once; each returns the encoded partial of each of its
// partitions, and cluster.Aggregate combines them in its fixed tree, so
// results equal the in-process engine's bit for bit. The Driver is a
// cluster.Cluster, so training jobs (trainer.Run with Options.Cluster) run
// on the workers unchanged; FromBlocks datasets, which have no source to
// re-read (ALS's rating blocks), are sent from the driver.
//
// # Fold views
//
// cluster.Fold makes a cross-validation fold of a dataset as views
// (Driver.DerivesViews): each worker rearranges the partitions it holds in
// place for the fold and caches row ranges of them, which count for no
// cached bytes. While a partition has live views the worker refuses to
// rearrange it for another fold, and a partition dropped before its views
// stays counted until they go. A view lost with its worker is rebuilt on a
// survivor from its lineage, as a copy of its rows.
//
// # Failures
//
// A worker whose connection breaks, or whose heartbeats stop for
// Config.HeartbeatTimeout (a crash, or a process stopped with SIGSTOP), is
// declared dead; so is a worker that leaves: a worker whose context ends
// (SIGTERM to `flint worker`) tells the driver (Leave) before it exits. The
// calls in flight of a dead worker are cancelled, its partitions move to
// the survivors, who re-read exactly those partitions from their recorded
// sources (the lineage), and the interrupted task runs again on them. Dead
// workers stay in Members, with no cached bytes, for Config.DeadGrace. A
// call that finds no worker alive waits Config.WorkerWait for one to join
// before it fails with ErrNoWorkers. Each call that loads or runs on a
// worker also has a deadline, Config.CallTimeout.
//
// Errors of a worker reach the caller as errors naming the worker and the
// partitions. A transient failure on a worker (an error wrapping
// cluster.ErrUnavailable, such as a log that did not answer) travels as
// codes.Aborted and arrives wrapping cluster.ErrUnavailable again, so a job
// can tell it from an error of its data. Calls without the shared secret
// (Config.Secret) are refused and logged, at most once a minute per peer.
//
// Driver.Collector exposes the driver's Prometheus metrics: live and dead
// workers, each worker's cached bytes and memory limit, tasks by name and
// outcome, partition retries, worker losses by reason and refused calls.
package remote

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"

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
	// CallTimeout bounds each call that loads partitions or runs a task or
	// scan on one worker, besides the heartbeats that cancel the calls of a
	// dead worker: a call past it fails the operation with an error naming
	// the worker and the timeout. 0 means 10 minutes; negative means none.
	CallTimeout time.Duration
	// DeadGrace is how long a dead worker stays listed in Members (with no
	// cached bytes) before the driver forgets it. 0 means 1 minute;
	// negative means dead workers are forgotten at once.
	DeadGrace time.Duration
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
	if c.CallTimeout == 0 {
		c.CallTimeout = 10 * time.Minute
	}
	if c.DeadGrace == 0 {
		c.DeadGrace = time.Minute
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
	cfg     Config
	epoch   string          // random, drawn at start: part of every registration
	dial    grpc.DialOption // transport credentials for dialing workers
	lis     net.Listener
	srv     *grpc.Server
	stop    context.CancelFunc
	wg      sync.WaitGroup
	metrics *driverMetrics

	mu       sync.Mutex
	workers  map[string]*worker // by id: registered, live and dead (until DeadGrace)
	live     []*worker          // joined and alive, in registration order
	nextID   int
	datasets map[*cluster.Dataset]*dataset
	nextDS   uint64
	closed   bool
}

// worker is the driver's record of one registration. Fields below conn are
// guarded by Driver.mu.
type worker struct {
	id, name, addr string
	incarnation    string // the worker process's, from Register
	conn           *grpc.ClientConn
	client         remotepb.WorkerClient
	ctx            context.Context // cancelled when the worker is declared dead
	cancel         context.CancelFunc

	joined bool      // it sent its first heartbeat and is (or was) live
	last   time.Time // registration, then last heartbeat
	cached int64     // bytes cached, as last reported (and counted since)
	limit  int64     // memory limit; 0 means none
	// heapLive is the worker's live heap after its last collection, as
	// last reported.
	heapLive int64
	dead     bool
	reason   string    // why it died: lossHeartbeat, lossConnection or lossLeft
	died     time.Time // when it died

	// Its calls of fan-outs (activity.go): running now, completed, failed
	// with the task's error; and its recent history.
	running, completed, failedTasks int
	events                          eventRing
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
	size    []int64   // cached bytes by partition, as last loaded; guarded by Driver.mu
	viewOf  *dataset  // the dataset whose rows this one's partitions share (cluster.Fold's views); nil if none
	// gate is held shared by the calls that use the cached partitions and
	// exclusively while partitions move to workers that joined (spread), so
	// no call finds its partition dropped under it.
	gate sync.RWMutex
}

// WorkerInfo describes a worker the driver knows.
type WorkerInfo struct {
	// ID is the worker's name within this driver: w1, w2, … in
	// registration order. Names are not reused while the driver runs.
	ID, Name, Addr string
	Alive          bool
	// Reason says why a dead worker was declared dead: "heartbeat" (its
	// heartbeats stopped), "connection" (a call could not reach it) or
	// "left" (it said it was stopping). "" while alive.
	Reason string
	// CachedBytes is what the worker last reported holding; 0 once dead.
	CachedBytes int64
	// MemoryLimit is the worker's bound on cached bytes; 0 means none.
	MemoryLimit int64
	// HeapLiveBytes is the worker process's live heap as of its last
	// garbage collection (0 for a dead worker): flat across jobs when
	// nothing leaks.
	HeapLiveBytes int64
	LastHeartbeat time.Time
	// TasksRunning, TasksCompleted and TasksFailed count the driver's calls
	// to the worker — a task on its partitions, a partition load, a
	// transform, a scan of sources: running now, completed, and failed with
	// the task's or the data's error (a call cut by the worker's loss is
	// neither).
	TasksRunning, TasksCompleted, TasksFailed int
	// Events is the worker's recent history, newest first, at most
	// MaxWorkerEvents: when it joined, was lost (and why) or left, the
	// partitions it recovered from a lost worker (or, on the lost one,
	// which worker recovered its partitions), its failed tasks.
	Events []WorkerEvent
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
	epoch, err := randomID()
	if err != nil {
		return nil, fmt.Errorf("remote: driver epoch: %w", err)
	}
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("remote: driver listen: %w", err)
	}
	d := &Driver{cfg: cfg, epoch: epoch, dial: dial, lis: lis, metrics: newDriverMetrics(),
		workers: map[string]*worker{}, datasets: map[*cluster.Dataset]*dataset{}}
	refused := &refusals{logger: cfg.Logger, side: "driver", count: d.metrics.authRefused.Inc}
	var opts []grpc.ServerOption
	if auth := authInterceptor(cfg.Secret, refused); auth != nil {
		opts = append(opts, grpc.ChainUnaryInterceptor(auth))
	}
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

// randomID returns 8 random bytes in hex.
func randomID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
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

// call runs fn with a context that ends with ctx, with w's life, or after
// Config.CallTimeout.
func (d *Driver) call(ctx context.Context, w *worker, fn func(ctx context.Context) error) error {
	cctx, cancel := context.WithCancel(ctx)
	if d.cfg.CallTimeout > 0 {
		cctx, cancel = context.WithTimeout(ctx, d.cfg.CallTimeout)
	}
	defer cancel()
	stop := context.AfterFunc(w.ctx, cancel)
	defer stop()
	return fn(cctx)
}
