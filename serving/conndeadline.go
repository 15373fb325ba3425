package serving

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// The read and write deadlines net/http sets on a connection for its
// timeouts (ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout) are
// set again on every request, four or five times, each arming or moving a
// runtime timer and, when it is the earliest, waking the network poller:
// under wrk that cost a bare echo handler 7 % of its request rate. The
// server's connections keep those deadlines in their own fields instead,
// and one goroutine (a reaper) hands a deadline to the socket once it has
// passed: the blocked Read or Write then fails as the socket's own
// deadline makes it fail, at most one grain late. Deadlines in the past or
// less than two grains ahead (net/http's abortPendingRead, which sets one
// long ago to wake a background read at once) go to the socket at once.

// reaper expires the coarse deadlines of a server's connections.
type reaper struct {
	grain time.Duration
	clock atomic.Pointer[time.Time] // time.Now at the last tick
	// horizon is clock plus two grains, before which a deadline goes to the
	// socket at once; the end of time once the reaper has stopped.
	horizon atomic.Pointer[time.Time]

	mu    sync.Mutex
	conns map[*deadlineConn]struct{}
	quit  chan struct{}
	done  chan struct{}
	once  sync.Once
}

// deadlineGrain is the reaper's tick for the server's timeouts (0: none):
// a tenth of the shortest, from 1 ms to 250 ms.
func deadlineGrain(timeouts ...time.Duration) time.Duration {
	g := 250 * time.Millisecond
	for _, t := range timeouts {
		if t > 0 {
			g = min(g, max(t/10, time.Millisecond))
		}
	}
	return g
}

// newReaper starts a reaper ticking every grain; stop ends it.
func newReaper(grain time.Duration) *reaper {
	r := &reaper{grain: grain, conns: map[*deadlineConn]struct{}{}, quit: make(chan struct{}), done: make(chan struct{})}
	r.tick(time.Now())
	go r.run()
	return r
}

func (r *reaper) run() {
	defer close(r.done)
	t := time.NewTicker(r.grain)
	defer t.Stop()
	var conns []*deadlineConn
	for {
		select {
		case <-r.quit:
			return
		case <-t.C:
		}
		now := time.Now()
		r.tick(now)
		conns = r.snapshot(conns[:0])
		for _, c := range conns {
			c.expire(now)
		}
		clear(conns) // hold no closed connection until the next tick
	}
}

// tick moves the reaper's clock to now.
func (r *reaper) tick(now time.Time) {
	horizon := now.Add(2 * r.grain)
	r.clock.Store(&now)
	r.horizon.Store(&horizon)
}

// endOfTime is a horizon no deadline reaches.
var endOfTime = time.Unix(1<<62, 0)

// stop ends the reaper's goroutine and hands every open connection's
// deadlines to its socket, which enforces them from then on.
// It may be called more than once.
//
// No lock is held while another is taken (here, in run and in Close), so
// connections closing while the server stops cannot deadlock it.
func (r *reaper) stop() {
	r.once.Do(func() {
		close(r.quit)
		<-r.done
		r.horizon.Store(&endOfTime) // from now on every deadline goes to its socket
		for _, c := range r.snapshot(nil) {
			c.handOver()
		}
	})
}

// snapshot appends the registered connections to buf, for a pass over
// them that holds no lock of the reaper's.
func (r *reaper) snapshot(buf []*deadlineConn) []*deadlineConn {
	r.mu.Lock()
	defer r.mu.Unlock()
	for c := range r.conns {
		buf = append(buf, c)
	}
	return buf
}

// wrap registers c for the reaper.
func (r *reaper) wrap(c net.Conn) *deadlineConn {
	dc := &deadlineConn{Conn: c, r: r}
	r.mu.Lock()
	r.conns[dc] = struct{}{}
	r.mu.Unlock()
	return dc
}

// deadlineConn is a connection whose deadlines the reaper enforces.
type deadlineConn struct {
	net.Conn
	r *reaper

	mu          sync.Mutex
	read, write pending
}

// pending is the state of a connection's read or write deadline.
type pending struct {
	at    time.Time // the deadline the reaper has yet to enforce; zero: none
	armed bool      // the socket has a deadline now
}

func (c *deadlineConn) SetDeadline(t time.Time) error {
	return errors.Join(c.set(t, true), c.set(t, false))
}

func (c *deadlineConn) SetReadDeadline(t time.Time) error  { return c.set(t, true) }
func (c *deadlineConn) SetWriteDeadline(t time.Time) error { return c.set(t, false) }

// set records deadline t for reads or writes: on the socket when it is
// near (or zero and the socket has one), for the reaper otherwise. It
// runs four or five times a request: no defer, one comparison.
func (c *deadlineConn) set(t time.Time, read bool) error {
	p := &c.write
	if read {
		p = &c.read
	}
	var err error
	c.mu.Lock()
	if !t.IsZero() && t.Before(*c.r.horizon.Load()) {
		p.at, p.armed = time.Time{}, true
		err = c.socket(t, read)
	} else {
		p.at = t
		if p.armed {
			p.armed = false
			err = c.socket(time.Time{}, read)
		}
	}
	c.mu.Unlock()
	return err
}

func (c *deadlineConn) socket(t time.Time, read bool) error {
	if read {
		return c.Conn.SetReadDeadline(t)
	}
	return c.Conn.SetWriteDeadline(t)
}

// expire hands the socket the deadlines that have passed by now.
func (c *deadlineConn) expire(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := &c.read; !p.at.IsZero() && !now.Before(p.at) {
		c.Conn.SetReadDeadline(p.at) //nolint:errcheck // a closed connection has nothing left to time out
		p.at, p.armed = time.Time{}, true
	}
	if p := &c.write; !p.at.IsZero() && !now.Before(p.at) {
		c.Conn.SetWriteDeadline(p.at) //nolint:errcheck // as above
		p.at, p.armed = time.Time{}, true
	}
}

// handOver gives the socket the deadlines the reaper would have enforced.
func (c *deadlineConn) handOver() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := &c.read; !p.at.IsZero() {
		c.Conn.SetReadDeadline(p.at) //nolint:errcheck // as above
		p.at, p.armed = time.Time{}, true
	}
	if p := &c.write; !p.at.IsZero() {
		c.Conn.SetWriteDeadline(p.at) //nolint:errcheck // as above
		p.at, p.armed = time.Time{}, true
	}
}

// Close closes the connection and forgets it.
func (c *deadlineConn) Close() error {
	c.r.mu.Lock()
	delete(c.r.conns, c)
	c.r.mu.Unlock()
	return c.Conn.Close()
}

// CloseWrite half-closes the connection when it can, as net/http does
// after refusing a request whose sender is still writing.
func (c *deadlineConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
