package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flintml/flint/internal/syncbuf"
	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/kafka"
	"github.com/flintml/flint/log/kafka/kafkatest"
)

// stuckLog is a log whose reads all wait until every one of n has started
// (so they fail together, as reads of a log that went away do), then fail
// with err; with err nil they wait for release instead, or for ctx.
type stuckLog struct {
	n       int
	err     error
	release chan struct{}

	mu      sync.Mutex
	started int
	all     chan struct{}
}

func newStuckLog(n int, err error) *stuckLog {
	return &stuckLog{n: n, err: err, release: make(chan struct{}), all: make(chan struct{})}
}

func (l *stuckLog) Describe(context.Context, string) (log.TopicInfo, error) {
	return log.TopicInfo{}, errors.New("not used")
}

func (l *stuckLog) Read(ctx context.Context, topic string, partition int, offset int64, _ log.ReadOptions) ([]log.Record, error) {
	l.mu.Lock()
	if l.started++; l.started == l.n {
		close(l.all)
	}
	l.mu.Unlock()
	select {
	case <-l.all:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if l.err != nil {
		return nil, l.err
	}
	select {
	case <-l.release:
		return []log.Record{{Offset: offset, Value: []byte("1,2")}}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func logSources(n int) []Source {
	s := make([]Source, n)
	for i := range s {
		s[i] = Source{Kind: "log", Topic: "clicks", LogPartition: i, From: 10, To: 11, Format: Format{Kind: "csv"}}
	}
	return s
}

// Reads of a log that cannot be reached fail the load with one error that
// wraps ErrUnavailable and names every partition, not one line each.
func TestUnreachableLogIsOneUnavailableError(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	e := NewEngine(Config{Workers: 4})
	defer e.Close()
	_, err := e.LoadSources(context.Background(), newStuckLog(4, refused), "clicks", logSources(4))
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("load error %v does not wrap ErrUnavailable", err)
	}
	// The first failure cancels the reads still under way, so the error
	// names the reads that failed for the outage before that: at least
	// one, and every one it names with its partition and offset.
	msg := err.Error()
	if strings.Contains(msg, "\n") || !regexp.MustCompile(`for [1-4] reads? \(topic clicks partitions [0-3]@10(, [0-3]@10)*; partition@offset\)`).MatchString(msg) ||
		!strings.Contains(msg, "connection refused") {
		t.Fatalf("want one line naming the failed reads, the topic, its partitions and the cause; got:\n%s", msg)
	}
	if e.Cached() != 0 {
		t.Fatalf("a failed load left %d bytes cached", e.Cached())
	}

	// A bad record is no outage.
	_, err = e.LoadSources(context.Background(), newStuckLog(1, errors.New("corrupt batch")), "clicks", logSources(1))
	if err == nil || errors.Is(err, ErrUnavailable) {
		t.Fatalf("a corrupt batch gave %v; want an error that is not ErrUnavailable", err)
	}
}

// A load waiting on a log that does not answer says so once, with the
// reads it waits for.
func TestLoadLogsWhatItWaitsFor(t *testing.T) {
	// The reads count as slow only once both have started, so that the
	// one line names both however slowly the engine starts the second.
	old := slowRead.Load()
	slowRead.Store(int64(time.Hour))
	t.Cleanup(func() { slowRead.Store(old) })
	var buf syncbuf.Buffer
	e := NewEngine(Config{Workers: 2, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	defer e.Close()
	l := newStuckLog(2, nil)
	done := make(chan error, 1)
	go func() {
		_, err := e.LoadSources(context.Background(), l, "clicks", logSources(2))
		done <- err
	}()
	<-l.all
	slowRead.Store(int64(20 * time.Millisecond))
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(buf.String(), "waiting for the log") {
		if time.Now().After(deadline) {
			t.Fatalf("no log line about the unanswered reads; logged:\n%s", buf.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(l.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if n := strings.Count(out, "waiting for the log"); n != 1 || !strings.Contains(out, "clicks/0@10") || !strings.Contains(out, "clicks/1@10") {
		t.Fatalf("want one line naming clicks/0@10 and clicks/1@10, got %d:\n%s", n, out)
	}
}

// A Kafka broker that went away fails a load as unavailable, in one error.
func TestClosedBrokerIsUnavailable(t *testing.T) {
	if kafkatest.External() {
		t.Skip("needs the in-process broker, to close it")
	}
	ctx := context.Background()
	kc := kafkatest.Start(t)
	l, err := kafka.New(ctx, kafka.Config{Brokers: kc.Addrs, DialTimeout: time.Second, RequestTimeout: 2 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	recs := make([]log.Record, 40)
	for i := range recs {
		recs[i] = log.Record{Key: []byte{byte(i)}, Value: []byte("1,2")}
	}
	if err := l.Append(ctx, "clicks", recs); err != nil {
		t.Fatal(err)
	}
	sources, err := PlanLog(ctx, l, "clicks", LogOptions{Format: Format{Kind: "csv"}})
	if err != nil {
		t.Fatal(err)
	}
	kc.Fake().Close()
	e := NewEngine(Config{Workers: 4})
	defer e.Close()
	_, err = e.LoadSources(ctx, l, "clicks", sources)
	if !errors.Is(err, ErrUnavailable) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("load from a closed broker: %v; want one line wrapping ErrUnavailable", err)
	}
	t.Log(err)
}

// Partitions that failed as unavailable elsewhere (a remote worker's
// errors, joined and wrapped) are counted in one error; other errors stay.
func TestSummarizeUnavailable(t *testing.T) {
	lost := func(w string) error { return fmt.Errorf("worker %s: read clicks: %w", w, ErrUnavailable) }
	err := fmt.Errorf("remote: load clicks: %w", errors.Join(lost("w1"), lost("w2"), errors.New("partition 5: bad record at clicks/5@9")))
	got := SummarizeUnavailable(`load of dataset "clicks"`, err)
	if !errors.Is(got, ErrUnavailable) || !strings.Contains(got.Error(), "2 partitions failed") ||
		!strings.Contains(got.Error(), "worker w1") || !strings.Contains(got.Error(), "bad record") || strings.Contains(got.Error(), "worker w2") {
		t.Fatalf("summary:\n%v", got)
	}
	one := fmt.Errorf("remote: %w", errors.Join(lost("w1"), errors.New("other")))
	if SummarizeUnavailable("x", one) != one {
		t.Fatal("one unavailable partition was summarized")
	}
}
