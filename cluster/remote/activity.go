package remote

import (
	"fmt"
	"slices"
	"sort"
	"time"
)

// The kinds of WorkerEvent.
const (
	EventJoined     = "joined"      // its first heartbeat
	EventLost       = "lost"        // declared dead: heartbeats stopped, or a call could not reach it
	EventLeft       = "left"        // it said it was stopping
	EventRecovered  = "recovered"   // it read again partitions a lost worker held
	EventTaskFailed = "task failed" // a call to it failed with the task's or the data's error
)

// WorkerEvent is one entry of a worker's recent history, as
// WorkerInfo.Events lists it.
type WorkerEvent struct {
	At   time.Time
	Kind string // one of the Event* constants
	// Text says what happened, in a phrase: why the worker was lost, which
	// partitions of which dataset it recovered from which worker, the
	// error of a failed task.
	Text string
}

// Bounds of a worker's recent history: the last MaxWorkerEvents events,
// each Text cut at maxEventText bytes, so a worker's history stays under
// 29 KiB however long the driver runs.
const (
	MaxWorkerEvents = 50
	maxEventText    = 512
)

// eventRing holds a worker's last MaxWorkerEvents events.
type eventRing struct {
	buf  [MaxWorkerEvents]WorkerEvent
	next int // where the next event goes
	n    int // events held
}

func (r *eventRing) add(e WorkerEvent) {
	if len(e.Text) > maxEventText {
		cut := maxEventText
		for cut > 0 && !utf8Start(e.Text[cut]) {
			cut--
		}
		e.Text = e.Text[:cut] + "…"
	}
	r.buf[r.next] = e
	r.next = (r.next + 1) % MaxWorkerEvents
	r.n = min(r.n+1, MaxWorkerEvents)
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// list returns the events held, newest first.
func (r *eventRing) list() []WorkerEvent {
	out := make([]WorkerEvent, 0, r.n)
	for k := 1; k <= r.n; k++ {
		out = append(out, r.buf[(r.next-k+MaxWorkerEvents)%MaxWorkerEvents])
	}
	return out
}

// taskStarted and taskEnded count a call of a fan-out — a task run, a
// partition load, a transform, a scan — on w. A call that fails because w
// was lost counts as neither completed nor failed.
func (d *Driver) taskStarted(w *worker) {
	d.mu.Lock()
	w.running++
	d.mu.Unlock()
}

func (d *Driver) taskEnded(w *worker, ok bool) {
	d.mu.Lock()
	w.running--
	if ok {
		w.completed++
	}
	d.mu.Unlock()
}

// taskFailed records the failure of a call to w, described by err (see
// callError).
func (d *Driver) taskFailed(w *worker, err error) {
	d.mu.Lock()
	w.failedTasks++
	w.events.add(WorkerEvent{At: time.Now(), Kind: EventTaskFailed, Text: err.Error()})
	d.mu.Unlock()
}

// recovered records, on each new owner and on the lost worker, that the
// partitions moved of dataset name (by partition) were read again. from
// holds the lost owner of each moved partition.
func (d *Driver) recovered(ds *dataset, from map[int]*worker) {
	type pair struct{ from, to *worker }
	moves := map[pair][]int{}
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, w := range from {
		p := pair{w, ds.owner[i]}
		moves[p] = append(moves[p], i)
	}
	now := time.Now()
	keys := make([]pair, 0, len(moves))
	for p := range moves {
		keys = append(keys, p)
	}
	sort.Slice(keys, func(a, b int) bool {
		if keys[a].to != keys[b].to {
			return idLess(keys[a].to.id, keys[b].to.id)
		}
		return idLess(keys[a].from.id, keys[b].from.id)
	})
	for _, p := range keys {
		parts := moves[p]
		slices.Sort(parts)
		what := fmt.Sprintf("%d %s %v of dataset %q", len(parts), plural(len(parts), "partition", "partitions"), parts, ds.name)
		p.to.events.add(WorkerEvent{At: now, Kind: EventRecovered, Text: fmt.Sprintf("read %s again, lost with %s", what, p.from.id)})
		p.from.events.add(WorkerEvent{At: now, Kind: EventRecovered, Text: fmt.Sprintf("its %s read again by %s", what, p.to.id)})
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
