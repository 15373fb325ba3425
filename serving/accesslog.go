package serving

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// accessLog writes the access log from a goroutine of its own, so that a
// request only appends its record to a buffer under a mutex: the slog
// handler's formatting, locking and write(2) are off the request path, and
// so is waking the goroutine, which takes the buffered records in batches,
// every accessLogFlush or when the buffer is half full, rather than being
// woken for every record. When the buffer is full (the logger cannot keep
// up) records are dropped and counted
// (flint_serving_access_log_dropped_total), never waited for. The
// goroutine starts with the first record; stop writes what is buffered
// and ends it.
type accessLog struct {
	log     *slog.Logger
	max     int // records buffered at most
	dropped prometheus.Counter

	mu      sync.Mutex
	buf     []accessRecord // guarded by mu: waiting for the goroutine
	running bool           // guarded by mu: the goroutine was started
	stopped bool           // guarded by mu

	wake chan struct{} // the buffer is half full (capacity 1)
	quit chan struct{} // closed by stop
	done chan struct{} // closed when the goroutine has exited
}

// accessLogFlush is how long a record waits for the access log's
// goroutine at most, unless the buffer fills first.
const accessLogFlush = 50 * time.Millisecond

// accessRecord is one request's access-log record.
type accessRecord struct {
	method, path, remote, model, version string
	status, rows                         int
	latency                              time.Duration
}

func newAccessLog(log *slog.Logger, buffer int, dropped prometheus.Counter) *accessLog {
	return &accessLog{log: log, max: buffer, dropped: dropped,
		wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
}

// add buffers r, or drops it when the buffer is full. After stop it writes
// r itself, so that a request that outlived Shutdown is still logged (one
// that races stop may be lost).
func (a *accessLog) add(r accessRecord) {
	a.mu.Lock()
	if a.stopped {
		a.mu.Unlock()
		a.write(r)
		return
	}
	if !a.running {
		a.running = true
		a.buf = make([]accessRecord, 0, a.max)
		go a.run()
	}
	n := len(a.buf)
	if n == a.max {
		a.mu.Unlock()
		a.dropped.Inc()
		return
	}
	a.buf = append(a.buf, r)
	a.mu.Unlock()
	if n+1 == (a.max+1)/2 {
		select {
		case a.wake <- struct{}{}:
		default:
		}
	}
}

// buffered returns how many records wait for the goroutine.
func (a *accessLog) buffered() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.buf)
}

// run writes the buffered records, a batch at a time, until stop.
func (a *accessLog) run() {
	defer close(a.done)
	tick := time.NewTicker(accessLogFlush)
	defer tick.Stop()
	spare := make([]accessRecord, 0, a.max)
	for {
		var quit bool
		select {
		case <-tick.C:
		case <-a.wake:
		case <-a.quit:
			quit = true
		}
		a.mu.Lock()
		batch := a.buf
		a.buf = spare[:0]
		a.mu.Unlock()
		for _, r := range batch {
			a.write(r)
		}
		clear(batch) // let go of the records' strings
		spare = batch
		if quit {
			return
		}
	}
}

func (a *accessLog) write(r accessRecord) {
	a.log.LogAttrs(context.Background(), slog.LevelInfo, "request",
		slog.String("method", r.method), slog.String("path", r.path), slog.Int("status", r.status),
		slog.Duration("latency", r.latency), slog.String("model", r.model), slog.String("version", r.version),
		slog.Int("rows", r.rows), slog.String("remote", r.remote))
}

// stop writes the records buffered and ends the goroutine, waiting for it
// until ctx ends.
func (a *accessLog) stop(ctx context.Context) error {
	a.mu.Lock()
	if a.stopped {
		a.mu.Unlock()
		return nil
	}
	a.stopped = true
	running := a.running
	a.mu.Unlock()
	close(a.quit)
	if !running {
		return nil
	}
	select {
	case <-a.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
