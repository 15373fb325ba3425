package serving

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/flintml/flint/models"
)

// tcpPair returns both ends of a loopback TCP connection; the server's end
// is wrapped by r.
func tcpPair(t *testing.T, r *reaper) (server *deadlineConn, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = r.wrap(<-accepted)
	// A backstop: a deadline never enforced fails the test in 30 s (the
	// server's end then reads EOF) rather than hanging it.
	backstop := time.AfterFunc(30*time.Second, func() { client.Close() })
	t.Cleanup(func() { backstop.Stop(); server.Close(); client.Close() })
	return server, client
}

// readErr reads one byte from c and returns the error.
func readErr(c net.Conn) error {
	_, err := c.Read(make([]byte, 1))
	return err
}

// waitTicks waits until the reaper has ticked at or after t.
func waitTicks(t *testing.T, r *reaper, after time.Time) {
	t.Helper()
	waitFor(t, "a reaper tick", func() bool { return !r.clock.Load().Before(after) })
}

// TestDeadlineConn: the deadlines a connection keeps for the reaper fail
// a blocked Read or Write as the socket's own do, never before they pass;
// near ones and ones in the past act at once; a deadline moved or cleared
// before it passes does not fire; Close forgets the connection, and stop
// hands what is pending to the sockets.
func TestDeadlineConn(t *testing.T) {
	const grain = 5 * time.Millisecond
	t.Run("read deadline passes", func(t *testing.T) {
		r := newReaper(grain)
		defer r.stop()
		s, _ := tcpPair(t, r)
		d := time.Now().Add(20 * grain)
		if err := s.SetReadDeadline(d); err != nil {
			t.Fatal(err)
		}
		err := readErr(s)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read = %v, want a deadline error", err)
		}
		if now := time.Now(); now.Before(d) {
			t.Fatalf("Read failed %v before its deadline", d.Sub(now))
		}
	})
	t.Run("write deadline passes", func(t *testing.T) {
		r := newReaper(grain)
		defer r.stop()
		s, _ := tcpPair(t, r) // the client never reads: the socket's buffers fill
		d := time.Now().Add(20 * grain)
		if err := s.SetWriteDeadline(d); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1<<20)
		var err error
		for err == nil {
			_, err = s.Write(buf)
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Write = %v, want a deadline error", err)
		}
		if now := time.Now(); now.Before(d) {
			t.Fatalf("Write failed %v before its deadline", d.Sub(now))
		}
	})
	t.Run("past deadline at once, zero clears it", func(t *testing.T) {
		r := newReaper(time.Hour) // no tick: only the socket can act
		defer r.stop()
		s, c := tcpPair(t, r)
		if err := s.SetReadDeadline(time.Unix(1, 0)); err != nil { // net/http's abortPendingRead
			t.Fatal(err)
		}
		if err := readErr(s); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read = %v, want a deadline error", err)
		}
		if err := s.SetReadDeadline(time.Time{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := readErr(s); err != nil {
			t.Fatalf("Read after the deadline was cleared: %v", err)
		}
	})
	for _, c := range []struct {
		name string
		then time.Time
	}{{"cleared", time.Time{}}, {"moved", time.Now().Add(time.Hour)}} {
		t.Run("deadline "+c.name+" before it passes", func(t *testing.T) {
			r := newReaper(grain)
			defer r.stop()
			s, cl := tcpPair(t, r)
			d := time.Now().Add(10 * grain)
			if err := s.SetReadDeadline(d); err != nil {
				t.Fatal(err)
			}
			if err := s.SetReadDeadline(c.then); err != nil {
				t.Fatal(err)
			}
			waitTicks(t, r, d.Add(2*grain))
			if _, err := cl.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
			if err := readErr(s); err != nil {
				t.Fatalf("Read: %v, want the byte (the first deadline no longer holds)", err)
			}
		})
	}
	t.Run("close forgets, stop hands over", func(t *testing.T) {
		r := newReaper(time.Hour)
		s1, _ := tcpPair(t, r)
		s2, _ := tcpPair(t, r)
		if err := s1.Close(); err != nil {
			t.Fatal(err)
		}
		r.mu.Lock()
		_, kept := r.conns[s1]
		n := len(r.conns)
		r.mu.Unlock()
		if kept || n != 1 {
			t.Fatalf("after Close: closed connection kept %v, %d connections, want 1", kept, n)
		}
		// The reaper ticks once an hour; a horizon of now makes a deadline
		// 50 ms ahead one it keeps (not the socket's), for stop to hand over.
		now := time.Now()
		r.horizon.Store(&now)
		d := now.Add(50 * time.Millisecond)
		if err := s2.SetReadDeadline(d); err != nil {
			t.Fatal(err)
		}
		if !s2.read.at.Equal(d) {
			t.Fatalf("the deadline %v went to the socket, want it kept for the reaper", d)
		}
		r.stop()
		r.stop() // twice is fine, as Shutdown twice is
		err := readErr(s2)
		if !errors.Is(err, os.ErrDeadlineExceeded) || time.Now().Before(d) {
			t.Fatalf("Read after stop = %v at %v before the deadline, want the socket's deadline error", err, time.Until(d))
		}
		if err := s2.SetReadDeadline(time.Now().Add(24 * time.Hour)); err != nil || s2.read.at != (time.Time{}) {
			t.Fatalf("a deadline set after stop stayed with the stopped reaper (%v)", err)
		}
	})
}

func TestDeadlineGrain(t *testing.T) {
	for _, c := range []struct {
		timeouts []time.Duration
		want     time.Duration
	}{
		{[]time.Duration{10 * time.Second, 30 * time.Second, 20 * time.Second, 2 * time.Minute}, 250 * time.Millisecond},
		{[]time.Duration{10 * time.Second, 200 * time.Millisecond}, 20 * time.Millisecond},
		{[]time.Duration{0, 5 * time.Millisecond}, time.Millisecond},
		{[]time.Duration{0, 0}, 250 * time.Millisecond},
	} {
		if got := deadlineGrain(c.timeouts...); got != c.want {
			t.Errorf("deadlineGrain(%v) = %v, want %v", c.timeouts, got, c.want)
		}
	}
}

// TestServerTimeouts: a connection that sends half a request header is
// closed after ReadHeaderTimeout, and an idle keep-alive connection after
// IdleTimeout, neither before (the reaper enforces both).
func TestServerTimeouts(t *testing.T) {
	reg := newRegistry(t)
	const timeout = 300 * time.Millisecond
	ts := startServer(t, Config{Registry: reg, ReadHeaderTimeout: timeout, IdleTimeout: timeout, WatchInterval: models.DefaultWatchInterval})
	ts.waitReady(t)
	addr := strings.TrimPrefix(ts.url, "http://")
	// closedAfter reads r (c's bytes) to its end and checks that it came
	// no sooner than the timeout after since, a time taken before the
	// server could start its clock: a slow machine only lengthens what
	// is measured.
	closedAfter := func(t *testing.T, c net.Conn, r io.Reader, since time.Time) {
		t.Helper()
		if err := c.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			t.Fatalf("the server did not close the connection: %v", err)
		}
		if d := time.Since(since); d < timeout {
			t.Fatalf("closed after %v, before the %v timeout", d, timeout)
		}
	}
	t.Run("header", func(t *testing.T) {
		start := time.Now() // before the server accepts and starts reading
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "GET /v2/health/live HTTP/1.1\r\nHost: x\r\n"); err != nil {
			t.Fatal(err)
		}
		closedAfter(t, c, c, start)
	})
	t.Run("idle", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now() // before the server answers and goes idle
		if _, err := io.WriteString(c, "GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		line, err := br.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "HTTP/1.1 200") {
			t.Fatalf("first answer %q: %v", line, err)
		}
		closedAfter(t, c, br, start)
	})
}

// BenchmarkDeadlineConnSet is what net/http's deadlines cost a request on
// the server's connections: the five it sets on each (four reads, one
// write), kept for the reaper.
//
//	go test ./serving -run '^$' -bench DeadlineConnSet
func BenchmarkDeadlineConnSet(b *testing.B) {
	r := newReaper(250 * time.Millisecond)
	defer r.stop()
	c := r.wrap(nil)
	for b.Loop() {
		now := time.Now()
		c.SetReadDeadline(now.Add(10 * time.Second))
		c.SetReadDeadline(now.Add(30 * time.Second))
		c.SetWriteDeadline(now.Add(20 * time.Second))
		c.SetReadDeadline(now.Add(2 * time.Minute))
		c.SetReadDeadline(time.Time{})
	}
	c.SetDeadline(time.Time{}) // nothing pending for stop to hand to the (absent) socket
}

// TestReaperStopWhileClosing: connections closing while the reaper stops
// (a server's Shutdown with requests finishing) neither deadlock it nor
// are left registered.
func TestReaperStopWhileClosing(t *testing.T) {
	for range 20 {
		r := newReaper(time.Millisecond)
		var conns []*deadlineConn
		for range 50 {
			a, b := net.Pipe()
			defer b.Close()
			c := r.wrap(a)
			if err := c.SetReadDeadline(time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for _, c := range conns {
				c.Close()
			}
		}()
		r.stop()
		<-done
		r.mu.Lock()
		n := len(r.conns)
		r.mu.Unlock()
		if n != 0 {
			t.Fatalf("%d closed connections still registered", n)
		}
	}
}

// failingListener's Accept fails at once, as a listener whose socket
// broke does.
type failingListener struct{ net.Listener }

func (failingListener) Accept() (net.Conn, error) { return nil, errors.New("accept: broken") }

// TestServeErrorStopsReaper: when Serve returns because its listener
// failed, the reaper's goroutine does not outlive it.
func TestServeErrorStopsReaper(t *testing.T) {
	s, err := New(Config{Registry: newRegistry(t), WatchInterval: models.DefaultWatchInterval})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := s.Serve(failingListener{ln}); err == nil || !strings.Contains(err.Error(), "accept: broken") {
		t.Fatalf("Serve = %v, want the listener's error", err)
	}
	select {
	case <-s.reaper.done:
	default:
		t.Fatal("the reaper still runs after Serve failed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}
