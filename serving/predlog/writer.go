package predlog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	randv2 "math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flintml/flint/log"
)

// Config configures a Writer. Zero fields take the defaults their
// comments name.
type Config struct {
	// Log receives the records. Required.
	Log log.Log
	// Topic is the topic the records are appended to; it is created (with
	// the log's default partitions) when missing. Required.
	Topic string
	// Sample is the fraction of requests logged, in (0, 1]. Default 1.
	Sample float64
	// QueueRequests bounds the requests waiting to be written. Default 4096.
	QueueRequests int
	// QueueBytes bounds the bytes of the requests waiting (request and
	// response bodies). Default 64 MiB.
	QueueBytes int64
	// Batch is how many records (requests) the writer gathers before it
	// appends; a batch also ends at 4 MiB. Default 512.
	Batch int
	// FlushInterval is how often the writer drains the queue (sooner when
	// it is half full): about the longest a record waits. Default 100ms.
	FlushInterval time.Duration
	// AppendTimeout bounds one append. Default 10s.
	AppendTimeout time.Duration
	// Logger receives append failures. Default slog.Default().
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultQueueRequests = 4096
	DefaultQueueBytes    = 64 << 20
	DefaultBatch         = 512
	DefaultFlushInterval = 100 * time.Millisecond
	DefaultAppendTimeout = 10 * time.Second
)

func (c Config) withDefaults() Config {
	if c.Sample == 0 {
		c.Sample = 1
	}
	if c.QueueRequests == 0 {
		c.QueueRequests = DefaultQueueRequests
	}
	if c.QueueBytes == 0 {
		c.QueueBytes = DefaultQueueBytes
	}
	if c.Batch == 0 {
		c.Batch = DefaultBatch
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.AppendTimeout == 0 {
		c.AppendTimeout = DefaultAppendTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Log == nil {
		bad("Log: required")
	}
	if err := log.ValidTopicName(c.Topic); err != nil {
		bad("Topic: %v", err)
	}
	if !(c.Sample > 0 && c.Sample <= 1) {
		bad("Sample: want a fraction in (0, 1], got %v", c.Sample)
	}
	if c.QueueRequests < 0 {
		bad("QueueRequests: must be > 0, got %d", c.QueueRequests)
	}
	if c.QueueBytes < 0 {
		bad("QueueBytes: must be > 0, got %d", c.QueueBytes)
	}
	if c.Batch < 0 {
		bad("Batch: must be > 0, got %d", c.Batch)
	}
	if c.FlushInterval < 0 || c.AppendTimeout < 0 {
		bad("FlushInterval and AppendTimeout: must be > 0, got %v and %v", c.FlushInterval, c.AppendTimeout)
	}
	return errors.Join(errs...)
}

// Entry is one predicted request, as the server hands it over.
type Entry struct {
	ID      string    // the request id
	Time    time.Time // when it was predicted
	Model   string
	Version int
	// Request is the request body ({"rows": [...]} or {"row": {...}}),
	// Response the response body; Offer copies both.
	Request, Response []byte
}

// queued is an Entry on the queue. buf holds the record's value but for
// its header: head bytes of room, then the request body, between, the
// response body and the closing brace; the writer goroutine writes the
// header into the room (right-aligned), so that the request goroutine
// only copies the bodies.
type queued struct {
	id      string
	time    time.Time
	model   string
	version int
	buf     *[]byte // pooled
	head    int
	req     int // the request body's length
	n       int64
}

// maxPooled bounds the buffers kept for reuse.
const maxPooled = 4 << 20

// batchBytes bounds the bytes of one append's records.
const batchBytes = 4 << 20

// Writer samples prediction requests and appends them to the prediction
// log in the background. Create it with New, hand it requests with Offer,
// stop it with Close. It is safe for concurrent use.
type Writer struct {
	cfg     Config
	queue   chan queued
	bytes   atomic.Int64 // bytes on the queue
	done    chan struct{}
	closeMu sync.RWMutex // Offer holds it shared; Close exclusively, to close queue
	closed  bool
	kick    chan struct{} // wakes the writer early: the queue is half full
	stop    chan struct{} // closed by Close, after queue
	prefix  string        // of the request ids NewID makes
	seq     atomic.Uint64

	bufs sync.Pool // *[]byte record buffers, returned after their append

	dropped prometheus.Counter
	records *prometheus.CounterVec // result: written, failed, malformed
	waiting prometheus.GaugeFunc
}

// New checks cfg, creates the topic if it is missing and starts the
// background writer.
func New(ctx context.Context, cfg Config) (*Writer, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("predlog: %w", err)
	}
	if err := cfg.Log.CreateTopic(ctx, cfg.Topic, log.TopicConfig{}); err != nil && !errors.Is(err, log.ErrTopicExists) {
		return nil, fmt.Errorf("predlog: create the prediction log topic %q: %w", cfg.Topic, err)
	}
	var p [8]byte
	_, _ = rand.Read(p[:]) // never fails (crypto/rand panics instead)
	w := &Writer{
		cfg:    cfg,
		queue:  make(chan queued, cfg.QueueRequests),
		done:   make(chan struct{}),
		kick:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		prefix: hex.EncodeToString(p[:]) + "-",
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flint_prediction_log_dropped_requests_total",
			Help: "Sampled prediction requests not logged because the prediction log's queue was full.",
		}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flint_prediction_log_records_total",
			Help: "Prediction log records by result: written, failed (the append failed) or malformed (a request or response body that is not a JSON object).",
		}, []string{"result"}),
	}
	w.waiting = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "flint_prediction_log_queued_bytes",
		Help: "Bytes of sampled prediction requests waiting to be written to the prediction log.",
	}, func() float64 { return float64(w.bytes.Load()) })
	for _, r := range []string{"written", "failed", "malformed"} {
		w.records.WithLabelValues(r)
	}
	w.bufs.New = func() any { return new([]byte) }
	go w.run()
	return w, nil
}

// Collectors are the writer's Prometheus metrics, for the server to
// register.
func (w *Writer) Collectors() []prometheus.Collector {
	return []prometheus.Collector{w.dropped, w.records, w.waiting}
}

// Sampled decides whether to log one request: true with probability
// Config.Sample.
func (w *Writer) Sampled() bool {
	return w.cfg.Sample >= 1 || randv2.Float64() < w.cfg.Sample
}

// NewID makes a request id: a random prefix chosen by New, then a
// sequence number, so ids are unique across the server's restarts without
// costing a random read per request.
func (w *Writer) NewID() string {
	return w.prefix + strconv.FormatUint(w.seq.Add(1), 16)
}

// Offer queues e to be written, without blocking: it reports false, and
// counts the request as dropped, when the queue is full or the writer is
// closed.
func (w *Writer) Offer(e Entry) bool {
	n := int64(len(e.Request) + len(e.Response))
	if w.bytes.Add(n) > w.cfg.QueueBytes {
		w.bytes.Add(-n)
		w.dropped.Inc()
		return false
	}
	head := maxHeader(e.ID, e.Model)
	bp := w.bufs.Get().(*[]byte)
	buf := slices.Grow((*bp)[:0], head+len(e.Request)+len(between)+len(e.Response)+1)[:head]
	buf = append(buf, e.Request...)
	buf = append(buf, between...)
	buf = append(buf, e.Response...)
	*bp = append(buf, '}')
	q := queued{id: e.ID, time: e.Time, model: e.Model, version: e.Version, buf: bp, head: head, req: len(e.Request), n: n}
	w.closeMu.RLock()
	defer w.closeMu.RUnlock()
	if !w.closed {
		select {
		case w.queue <- q:
			if len(w.queue) >= cap(w.queue)/2 || w.bytes.Load() >= w.cfg.QueueBytes/2 {
				select {
				case w.kick <- struct{}{}:
				default:
				}
			}
			return true
		default:
		}
	}
	w.bytes.Add(-n)
	w.dropped.Inc()
	w.putBuf(bp)
	return false
}

func (w *Writer) putBuf(bp *[]byte) {
	if cap(*bp) <= maxPooled {
		w.bufs.Put(bp)
	}
}

// Close stops taking requests, writes what is queued and returns when it
// is written, or when ctx ends (the rest is then lost).
func (w *Writer) Close(ctx context.Context) error {
	w.closeMu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
		close(w.stop)
	}
	w.closeMu.Unlock()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("predlog: write the queued predictions: %w", ctx.Err())
	}
}

// run is the background writer. It sleeps between drains instead of
// waiting on the queue, so that a request hands its entry over without
// waking a goroutine: every FlushInterval (or sooner, when Offer finds the
// queue half full) it takes whatever waits, writes each request's record
// header and appends the records in batches of Batch (or batchBytes).
func (w *Writer) run() {
	defer close(w.done)
	tick := time.NewTicker(w.cfg.FlushInterval)
	defer tick.Stop()
	batch := make([]log.Record, 0, w.cfg.Batch)
	var held []*[]byte // the buffers of batch's records
	var size int
	var hdr []byte
	flush := func() {
		// A failed append's buffers are left to the collector: a
		// backend whose append timed out may still be reading them.
		if len(batch) > 0 && w.append(batch) {
			for _, bp := range held {
				w.putBuf(bp)
			}
		}
		clear(held)
		clear(batch)
		batch, held, size = batch[:0], held[:0], 0
	}
	for {
		stopping := false
		select {
		case <-tick.C:
		case <-w.kick:
		case <-w.stop:
			stopping = true
		}
		for more := true; more; {
			var q queued
			select {
			case q, more = <-w.queue:
			default:
				more = false
			}
			if !more {
				break
			}
			w.bytes.Add(-q.n)
			var v []byte
			if v, hdr = w.record(hdr, q); v == nil {
				w.putBuf(q.buf)
				continue
			}
			batch = append(batch, log.Record{Key: []byte(q.id), Value: v, Time: q.time})
			held = append(held, q.buf)
			if size += len(v); len(batch) >= w.cfg.Batch || size >= batchBytes {
				flush()
			}
		}
		flush()
		if stopping {
			return
		}
	}
}

// record completes q's record value by writing its header into the room
// Offer left (hdr is scratch); nil when a body is not a JSON object,
// which is logged and counted.
func (w *Writer) record(hdr []byte, q queued) (v, scratch []byte) {
	buf := *q.buf
	req := buf[q.head : q.head+q.req]
	resp := buf[q.head+q.req+len(between) : len(buf)-1]
	if !objectBody(req) || !objectBody(resp) {
		w.records.WithLabelValues("malformed").Inc()
		w.cfg.Logger.Warn("predlog: a prediction request or response to log is not a JSON object", "request_id", q.id)
		return nil, hdr
	}
	hdr = appendHeader(hdr[:0], q.id, q.time, q.model, q.version)
	if len(hdr) > q.head { // maxHeader's bound is wrong: never, but never a corrupt record either
		v := make([]byte, 0, len(hdr)+len(buf)-q.head)
		return append(append(v, hdr...), buf[q.head:]...), hdr
	}
	start := q.head - len(hdr)
	copy(buf[start:], hdr)
	return buf[start:], hdr
}

// append writes one batch; a failure is logged and counted, not retried.
// It reports whether every record was written.
func (w *Writer) append(batch []log.Record) bool {
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.AppendTimeout)
	defer cancel()
	err := w.cfg.Log.Append(ctx, w.cfg.Topic, batch)
	if err == nil {
		w.records.WithLabelValues("written").Add(float64(len(batch)))
		return true
	}
	failed := 0
	for i := range batch {
		if batch[i].Topic == "" {
			failed++
		}
	}
	w.records.WithLabelValues("written").Add(float64(len(batch) - failed))
	w.records.WithLabelValues("failed").Add(float64(failed))
	w.cfg.Logger.Warn("predlog: append to the prediction log", "topic", w.cfg.Topic, "records", failed, "err", err)
	return false
}
