package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/flintml/flint/log"
)

// LogUnavailable wraps err, the error of a log call, with ErrUnavailable
// when it says the log could not be reached or did not answer in time (a
// timeout, a refused, reset or broken connection): the same read may work
// once the log is back. It returns err unchanged when it is a
// cancellation (the caller gave up, the log did not fail), when ctx's own
// deadline has passed, and for any other error. The message is err's.
func LogUnavailable(ctx context.Context, err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, ErrUnavailable) {
		return err
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &unavailableError{err}
	}
	return err
}

type unavailableError struct{ err error }

func (e *unavailableError) Error() string   { return e.err.Error() }
func (e *unavailableError) Unwrap() []error { return []error{e.err, ErrUnavailable} }

// ReadError is a failed read of a log source's records.
type ReadError struct {
	Source Source
	Offset int64 // where the read started
	Err    error
}

func (e *ReadError) Error() string {
	return fmt.Sprintf("cluster: read %s at offset %d: %v", e.Source, e.Offset, e.Err)
}
func (e *ReadError) Unwrap() error { return e.Err }

// SummarizeUnavailable turns the joined per-partition errors of a load or
// scan (what, e.g. `load of dataset "clicks"`) in which several partitions
// failed because the cluster or the log was unavailable into one error
// that wraps ErrUnavailable and the first cause. Log reads that failed in
// this process (*ReadError) are named by topic, partition and offset;
// other such failures (a remote worker's) are counted. Errors of other
// kinds are joined after it as they are; err is returned unchanged when
// fewer than two partitions failed that way. The joined errors may be
// wrapped (fmt.Errorf with one %w) any number of times.
func SummarizeUnavailable(what string, err error) error {
	var joined interface{ Unwrap() []error }
	for e := err; e != nil && joined == nil; e = errors.Unwrap(e) {
		joined, _ = e.(interface{ Unwrap() []error })
	}
	if joined == nil {
		return err
	}
	var reads []*ReadError
	var unavailable, others []error
	for _, e := range joined.Unwrap() {
		var re *ReadError
		switch {
		case errors.As(e, &re) && errors.Is(re.Err, ErrUnavailable):
			reads = append(reads, re)
			unavailable = append(unavailable, e)
		case errors.Is(e, ErrUnavailable):
			unavailable = append(unavailable, e)
		default:
			others = append(others, e)
		}
	}
	if len(unavailable) < 2 {
		return err
	}
	var sum error
	if len(reads) == len(unavailable) {
		parts := map[string][]string{}
		for _, re := range reads {
			parts[re.Source.Topic] = append(parts[re.Source.Topic], fmt.Sprintf("%d@%d", re.Source.LogPartition, re.Offset))
		}
		topics := make([]string, 0, len(parts))
		for t, ps := range parts {
			topics = append(topics, fmt.Sprintf("topic %s partitions %s", t, strings.Join(ps, ", ")))
		}
		sort.Strings(topics)
		sum = fmt.Errorf("cluster: %s: the log could not be reached or did not answer in time for %d reads (%s; partition@offset); the first: %w",
			what, len(reads), strings.Join(topics, "; "), reads[0])
	} else {
		sum = fmt.Errorf("cluster: %s: %d partitions failed because the cluster or the log was unavailable; the first: %w",
			what, len(unavailable), unavailable[0])
	}
	return errors.Join(append([]error{sum}, others...)...)
}

// slowRead is how long a log read may go unanswered before a load or scan
// logs what it is waiting for, in nanoseconds; a variable for tests, which
// change it while a load runs.
var slowRead atomic.Int64

func init() { slowRead.Store(int64(5 * time.Second)) }

// watchedLog is a LogReader that notices reads the log leaves unanswered
// for slowRead and logs, once, which ones the load or scan waits for.
type watchedLog struct {
	LogReader
	what   string
	logger *slog.Logger

	mu    sync.Mutex
	next  int
	reads map[int]pendingRead
	stop  chan struct{}
}

type pendingRead struct {
	topic     string
	partition int
	offset    int64
	since     time.Time
}

// watchLog wraps l for one load or scan; call the returned stop when it
// ends. A nil l is returned as is.
func watchLog(l LogReader, what string, logger *slog.Logger) (LogReader, func()) {
	if l == nil {
		return nil, func() {}
	}
	w := &watchedLog{LogReader: l, what: what, logger: logger, reads: map[int]pendingRead{}, stop: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(min(max(time.Duration(slowRead.Load())/5, time.Millisecond), time.Second))
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
				if w.check() {
					return
				}
			}
		}
	}()
	return w, func() { close(w.stop); <-done }
}

// Read implements LogReader.
func (w *watchedLog) Read(ctx context.Context, topic string, partition int, offset int64, opt log.ReadOptions) ([]log.Record, error) {
	w.mu.Lock()
	id := w.next
	w.next++
	w.reads[id] = pendingRead{topic: topic, partition: partition, offset: offset, since: time.Now()}
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.reads, id)
		w.mu.Unlock()
	}()
	return w.LogReader.Read(ctx, topic, partition, offset, opt)
}

// check logs the reads waiting longer than slowRead, if any, and reports
// whether it did (the watch is then over: it logs once).
func (w *watchedLog) check() bool {
	w.mu.Lock()
	var slow []string
	var oldest time.Duration
	limit := time.Duration(slowRead.Load())
	for _, r := range w.reads {
		if d := time.Since(r.since); d >= limit {
			slow = append(slow, fmt.Sprintf("%s/%d@%d", r.topic, r.partition, r.offset))
			oldest = max(oldest, d)
		}
	}
	w.mu.Unlock()
	if len(slow) == 0 {
		return false
	}
	sort.Strings(slow)
	w.logger.Warn("cluster: waiting for the log to answer; the reads fail as unavailable if it does not in its request timeout",
		"for", w.what, "reads", strings.Join(slow, ", "), "waiting", oldest.Round(time.Second))
	return true
}
