package console

import (
	"sync"
	"time"
)

// liveRenders shares the rendering of a running job's live fragments among
// the streams that follow its page, so that N open pages cost about ten
// renders a second, not 10·N (BenchmarkLiveUpdateCost): a stream takes
// the last render of the job when it was made at the state the stream
// woke at (the channels Jobs.Watch and Curves.Get returned, new at every
// change), or less than liveGap ago; only then does it render. A stream
// given an older state's render does not wait for the next change to look
// again, so no page stays behind a job that stopped changing.
type liveRenders struct {
	mu sync.Mutex
	m  map[liveKey]*liveRender
}

type liveKey struct {
	id    string
	admin bool // the status has a cancel button for an admin
}

type liveRender struct {
	mu              sync.Mutex
	ok              bool            // rendered
	changed, points <-chan struct{} // the state it was rendered at
	at              time.Time       // when
	status, charts  string
}

// liveGap is the least time between two updates of a running job's page,
// and the age under which a render of an older state is still sent.
const liveGap = 100 * time.Millisecond

// maxLiveRenders bounds the renders kept: one a job followed and scope,
// dropped when the job ends (a render holds its charts' markup, up to
// about 150 KiB at MaxPoints points).
const maxLiveRenders = 64

// liveFragments returns job id's status and charts fragments for scope s,
// at the state changed and points stand for (from Jobs.Watch and
// Curves.Get, taken before the call) or later, or as rendered less than
// liveGap ago; current says which.
func (c *Console) liveFragments(id string, s Scope, changed, points <-chan struct{}) (status, charts string, current bool, err error) {
	k := liveKey{id: id, admin: s >= ScopeAdmin}
	c.live.mu.Lock()
	if c.live.m == nil {
		c.live.m = map[liveKey]*liveRender{}
	}
	r := c.live.m[k]
	if r == nil {
		if len(c.live.m) >= maxLiveRenders {
			clear(c.live.m)
		}
		r = &liveRender{}
		c.live.m[k] = r
	}
	c.live.mu.Unlock()

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ok && r.changed == changed && r.points == points {
		return r.status, r.charts, true, nil
	}
	if r.ok && time.Since(r.at) < liveGap {
		return r.status, r.charts, false, nil
	}
	d, err := c.jobData(id, s)
	if err != nil {
		return "", "", false, err
	}
	if status, err = c.fragment("job", "job-status", d); err != nil {
		return "", "", false, err
	}
	if charts, err = c.fragment("job", "job-charts", d); err != nil {
		return "", "", false, err
	}
	r.ok, r.changed, r.points, r.at, r.status, r.charts = true, changed, points, time.Now(), status, charts
	return status, charts, true, nil
}

// forgetLive drops job id's renders: it has ended.
func (c *Console) forgetLive(id string) {
	c.live.mu.Lock()
	delete(c.live.m, liveKey{id: id})
	delete(c.live.m, liveKey{id: id, admin: true})
	c.live.mu.Unlock()
}
