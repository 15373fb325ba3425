package serving

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// gateWriter blocks every Write until open is closed, and keeps what was
// written.
type gateWriter struct {
	open chan struct{}
	mu   sync.Mutex
	b    strings.Builder
}

func (w *gateWriter) Write(p []byte) (int, error) {
	<-w.open
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *gateWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestAccessLog checks that records are written by the access log's
// goroutine without waiting for stop, that a full buffer drops and counts records rather than
// blocking the request, that stop writes what is buffered, and that a
// record after stop is written at once.
func TestAccessLog(t *testing.T) {
	w := &gateWriter{open: make(chan struct{})}
	dropped := prometheus.NewCounter(prometheus.CounterOpts{Name: "dropped"})
	const buffer = 4
	a := newAccessLog(slog.New(slog.NewTextHandler(w, nil)), buffer, dropped)
	rec := func(i int) accessRecord {
		return accessRecord{method: "POST", path: fmt.Sprintf("/r%d", i), status: 200, latency: time.Millisecond, rows: i}
	}
	// The goroutine takes the first record (at its next flush) and blocks
	// writing it; the buffer then fills with the next ones, and the rest
	// are dropped.
	a.add(rec(0))
	for deadline := time.Now().Add(10 * time.Second); a.buffered() != 0; {
		if time.Now().After(deadline) {
			t.Fatal("the access log's goroutine did not take the first record in 10s")
		}
		time.Sleep(time.Millisecond)
	}
	const more = 10
	for i := 1; i <= more; i++ {
		a.add(rec(i)) // must not block
	}
	if got := testutil.ToFloat64(dropped); got != more-buffer {
		t.Fatalf("dropped %v records, want %d", got, more-buffer)
	}
	close(w.open)
	if err := a.stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := w.String()
	for i := 0; i <= buffer; i++ {
		if !strings.Contains(out, fmt.Sprintf("path=/r%d ", i)) {
			t.Errorf("record %d was not written:\n%s", i, out)
		}
	}
	if strings.Contains(out, fmt.Sprintf("path=/r%d ", buffer+1)) {
		t.Errorf("record %d was written though the buffer was full:\n%s", buffer+1, out)
	}
	a.add(rec(99))
	if !strings.Contains(w.String(), "path=/r99 ") {
		t.Errorf("a record after stop was not written:\n%s", w.String())
	}
	if err := a.stop(context.Background()); err != nil {
		t.Fatalf("second stop: %v", err)
	}
}

// TestAccessLogStopWithoutRecords checks that stop returns at once when no
// record ever started the goroutine.
func TestAccessLogStopWithoutRecords(t *testing.T) {
	a := newAccessLog(slog.New(slog.DiscardHandler), 4, prometheus.NewCounter(prometheus.CounterOpts{Name: "dropped"}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.stop(ctx); err != nil {
		t.Fatal(err)
	}
}
