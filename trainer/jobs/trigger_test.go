package jobs

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// fakeClock is a Clock tests move by hand.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{now: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, fakeWaiter{c.now.Add(d), ch})
	return ch
}

// Advance moves the clock and fires the waiters that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	keep := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			keep = append(keep, w)
		}
	}
	c.waiters = keep
}

func (c *fakeClock) waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// An interval trigger on a fake clock: the job runs when submitted; the
// interval passing twice during that run is coalesced into one run after
// it; then nothing runs until the interval passes again. The trigger is
// kept in the store: a new manager on it follows the job, until
// StopTrigger.
func TestIntervalTriggerCoalesces(t *testing.T) {
	st := newJobStore(t)
	clock := newFakeClock(time.Now())
	reached, release := make(chan struct{}, 4), make(chan struct{})
	m := newManager(t, ManagerConfig{Store: st, Clock: clock, TriggerPoll: 10 * time.Second,
		Ready: func(ctx context.Context) error {
			reached <- struct{}{}
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}})
	spec := jobSpec("tick", clicksCSV(t)) + "trigger: {every: 1m}\n"
	first := submit(t, m, spec)
	<-reached // the first run is in progress
	status := func() TriggerStatus {
		ts := m.Triggers()
		if len(ts) != 1 {
			t.Fatalf("triggers: %+v", ts)
		}
		return ts[0]
	}
	waitFor(t, "the trigger to adopt the first run", func() bool { return status().Running == first.ID })
	for range 2 {
		waitFor(t, "the trigger loop to wait", func() bool { return clock.waiting() > 0 })
		clock.Advance(2 * time.Minute)
	}
	waitFor(t, "a coalesced firing", func() bool { return status().Coalesced == 1 })
	release <- struct{}{}
	if j := waitJob(t, m, first.ID); j.State != Succeeded {
		t.Fatalf("first run %s: %s", j.State, j.Error)
	}
	<-reached // the one run the firings were coalesced into
	s := status()
	if s.Runs != 1 || s.Running == "" || s.Running == first.ID || s.LastReason != "1m0s since the last run" {
		t.Fatalf("after the first run: %+v", s)
	}
	second := s.Running
	release <- struct{}{}
	waitJob(t, m, second)
	waitFor(t, "the trigger to see the second run end", func() bool { return status().Running == "" })
	if n := len(m.List("")); n != 2 {
		t.Fatalf("%d runs before the interval passed again, want 2", n)
	}
	waitFor(t, "the trigger loop to wait", func() bool { return clock.waiting() > 0 })
	clock.Advance(time.Minute)
	<-reached
	release <- struct{}{}
	waitFor(t, "a third run", func() bool { s := status(); return s.Runs == 2 && s.Running == "" })
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	m2 := newManager(t, ManagerConfig{Store: st, Clock: newFakeClock(time.Now()), Ready: func(context.Context) error { return nil }})
	if ts := m2.Triggers(); len(ts) != 1 || ts[0].Name != "tick" {
		t.Fatalf("a new manager on the store follows %+v", ts)
	}
	if err := m2.StopTrigger(context.Background(), "tick"); err != nil {
		t.Fatal(err)
	}
	if err := m2.StopTrigger(context.Background(), "tick"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stopping it twice: %v", err)
	}
	m3 := newManager(t, ManagerConfig{Store: st})
	if ts := m3.Triggers(); len(ts) != 0 {
		t.Fatalf("a stopped trigger came back: %+v", ts)
	}
}

// Fire starts a run of a triggered job whose trigger is not due, with the
// reason given; a firing during a run is absorbed by it. Through the API
// and the client as a monitor calls it.
func TestFireTrigger(t *testing.T) {
	reached, release := make(chan struct{}, 4), make(chan struct{})
	s := newAPIServer(t, ManagerConfig{Clock: newFakeClock(time.Now()), TriggerPoll: time.Hour,
		Ready: func(ctx context.Context) error {
			reached <- struct{}{}
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}}, APIConfig{Token: "tok"})
	first := s.submit(t, "job.yaml", jobSpec("tick", clicksCSV(t))+"trigger: {every: 24h}\n")
	<-reached
	c, err := NewClient(ClientConfig{URL: s.url, Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Fire(context.Background(), "tick", "drift 0.31 on amount"); err != nil {
		t.Fatal(err)
	}
	release <- struct{}{}
	waitJob(t, s.m, first.ID)
	status := func() TriggerStatus { return s.m.Triggers()[0] }
	// The firing came while the first run was in progress: absorbed by it.
	waitFor(t, "the trigger to see the first run end", func() bool { return status().Running == "" && status().LastRun == first.ID })
	if err := c.Fire(context.Background(), "tick", "drift 0.42 on amount"); err != nil {
		t.Fatal(err)
	}
	<-reached
	release <- struct{}{}
	waitFor(t, "a fired run", func() bool { s := status(); return s.Runs == 1 && s.Running == "" })
	if st := status(); st.LastReason != "drift 0.42 on amount" {
		t.Fatalf("the fired run's reason: %+v", st)
	}
	if n := len(s.m.List("")); n != 2 {
		t.Fatalf("%d runs; want the submitted one and the fired one", n)
	}
	err = c.Fire(context.Background(), "nope", "x")
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != 404 {
		t.Fatalf("firing a job that is not there: %v", err)
	}
	wrong, _ := NewClient(ClientConfig{URL: s.url, Token: "wrong"})
	if err := wrong.Fire(context.Background(), "tick", "x"); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("firing with a wrong token: %v", err)
	}
}

// The API lists the triggered jobs and stops one; a spec POSTed with a
// trigger starts its first run at once.
func TestTriggersAPI(t *testing.T) {
	s := newAPIServer(t, ManagerConfig{}, APIConfig{Token: "tok"})
	j := s.submit(t, "job.yaml", jobSpec("tick", clicksCSV(t))+"trigger: {every: 1h}\n")
	if j.Trigger != "submitted" {
		t.Fatalf("the first run: %+v", j)
	}
	waitJob(t, s.m, j.ID)
	var list TriggerList
	if resp := s.do(t, "GET", "/v1/triggers", "", nil, &list); resp.StatusCode != 200 {
		t.Fatalf("GET /v1/triggers: %d", resp.StatusCode)
	}
	if len(list.Triggers) != 1 || list.Triggers[0].Name != "tick" || list.Triggers[0].Every != "1h0m0s" || list.Triggers[0].LastRun != j.ID {
		t.Fatalf("triggers: %+v", list)
	}
	if resp := s.do(t, "DELETE", "/v1/triggers/tick", "", nil, nil); resp.StatusCode != 204 {
		t.Fatalf("DELETE /v1/triggers/tick: %d", resp.StatusCode)
	}
	var e ErrorBody
	if resp := s.do(t, "DELETE", "/v1/triggers/tick", "", nil, &e); resp.StatusCode != 404 || e.Error != `no triggered job "tick"` {
		t.Fatalf("DELETE again: %d %+v", resp.StatusCode, e)
	}
}
