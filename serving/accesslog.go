package serving

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// accessLog writes the access log from a goroutine of its own, so that a
// request only copies its record into a buffered channel: the slog
// handler's formatting, locking and write(2) are off the request path.
// When the buffer is full (the logger cannot keep up), records are
// dropped and counted (flint_serving_access_log_dropped_total), never
// waited for. The goroutine starts with the first record; stop writes what
// is buffered and ends it.
type accessLog struct {
	log     *slog.Logger
	ch      chan accessRecord
	dropped prometheus.Counter

	once    sync.Once
	quit    chan struct{} // closed by stop
	done    chan struct{} // closed when the goroutine has exited
	mu      sync.Mutex
	running bool // guarded by mu: the goroutine was started
	stopped bool // guarded by mu
}

// accessRecord is one request's access-log record.
type accessRecord struct {
	method, path, remote, model, version string
	status, rows                         int
	latency                              time.Duration
}

func newAccessLog(log *slog.Logger, buffer int, dropped prometheus.Counter) *accessLog {
	return &accessLog{log: log, ch: make(chan accessRecord, buffer), dropped: dropped,
		quit: make(chan struct{}), done: make(chan struct{})}
}

// add queues r, or drops it when the buffer is full. After stop it writes
// r itself, so that a request that outlived Shutdown is still logged (one
// that races stop may be lost).
func (a *accessLog) add(r accessRecord) {
	a.once.Do(func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if !a.stopped {
			a.running = true
			go a.run()
		}
	})
	select {
	case <-a.quit:
		a.write(r)
		return
	default:
	}
	select {
	case a.ch <- r:
	default:
		a.dropped.Inc()
	}
}

func (a *accessLog) run() {
	defer close(a.done)
	for {
		select {
		case r := <-a.ch:
			a.write(r)
		case <-a.quit:
			for {
				select {
				case r := <-a.ch:
					a.write(r)
				default:
					return
				}
			}
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
