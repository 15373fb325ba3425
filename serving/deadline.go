package serving

import (
	"context"
	"sync"
	"time"
)

// deadlineCtx is context.WithDeadline(parent, deadline) without its timer
// until something waits on Done: a prediction only checks Err (every 256
// rows), so most requests never start one, and Config.RequestTimeout costs
// them a clock read instead of a timer armed and stopped. Done, and
// whatever derives a context from it (which calls Done), starts the real
// context.WithDeadline, which Err, Value and release then go to.
type deadlineCtx struct {
	parent   context.Context
	deadline time.Time

	mu     sync.Mutex
	inner  context.Context // nil until Done is called
	cancel context.CancelFunc
}

// withDeadline returns parent bounded by deadline; the caller calls its
// release when done with it, as it would a context.CancelFunc.
func withDeadline(parent context.Context, deadline time.Time) *deadlineCtx {
	if d, ok := parent.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	return &deadlineCtx{parent: parent, deadline: deadline}
}

func (c *deadlineCtx) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *deadlineCtx) Done() <-chan struct{} {
	return c.real().Done()
}

// real is the context.WithDeadline, started on first use.
func (c *deadlineCtx) real() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inner == nil {
		c.inner, c.cancel = context.WithDeadline(c.parent, c.deadline)
	}
	return c.inner
}

func (c *deadlineCtx) started() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inner
}

func (c *deadlineCtx) Err() error {
	if in := c.started(); in != nil {
		return in.Err()
	}
	if err := c.parent.Err(); err != nil {
		return err
	}
	if !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

func (c *deadlineCtx) Value(key any) any {
	if in := c.started(); in != nil {
		return in.Value(key)
	}
	return c.parent.Value(key)
}

// release stops the timer Done started, if it did.
func (c *deadlineCtx) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancel != nil {
		c.cancel()
	}
}
