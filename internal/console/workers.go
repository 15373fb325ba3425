package console

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/flintml/flint/cluster/remote"
	"github.com/flintml/flint/trainer/jobs"
)

// RemoteWorkers lists d's workers as the job API and the workers page
// show them: Config.Workers (and jobs.APIConfig.Workers) of a driver.
func RemoteWorkers(d *remote.Driver) func() []jobs.Worker {
	return func() []jobs.Worker {
		var ws []jobs.Worker
		for _, w := range d.Members() {
			jw := jobs.Worker{ID: w.ID, Name: w.Name, Addr: w.Addr, Alive: w.Alive, CachedBytes: w.CachedBytes,
				MemoryLimit: w.MemoryLimit, HeapLiveBytes: w.HeapLiveBytes, LastHeartbeat: w.LastHeartbeat, Reason: w.Reason,
				TasksRunning: w.TasksRunning, TasksCompleted: w.TasksCompleted, TasksFailed: w.TasksFailed}
			for _, e := range w.Events {
				jw.Events = append(jw.Events, jobs.WorkerEvent{At: e.At, Kind: e.Kind, Text: e.Text})
			}
			ws = append(ws, jw)
		}
		return ws
	}
}

type workerRow struct {
	jobs.Worker
	Since   time.Duration // since the last heartbeat
	UsedPct int           // cached bytes of the memory limit, 0..100
}

type workersData struct {
	Rows        []workerRow
	Alive, Dead int
	Events      []workerEvent // every worker's, newest first, at most maxPageEvents
}

// workerEvent is an entry of a worker's history as the page lists it.
type workerEvent struct {
	jobs.WorkerEvent
	Worker string
	Ago    time.Duration
}

// maxPageEvents bounds the recent events the workers page lists.
const maxPageEvents = 100

func (c *Console) workersList() (any, error) {
	ws := c.cfg.Workers()
	slices.SortFunc(ws, func(a, b jobs.Worker) int { return strings.Compare(a.ID, b.ID) })
	var d workersData
	now := time.Now()
	for _, w := range ws {
		row := workerRow{Worker: w}
		if !w.LastHeartbeat.IsZero() {
			row.Since = now.Sub(w.LastHeartbeat)
		}
		if w.MemoryLimit > 0 {
			row.UsedPct = int(min(100, 100*w.CachedBytes/w.MemoryLimit))
		}
		if w.Alive {
			d.Alive++
		} else {
			d.Dead++
		}
		d.Rows = append(d.Rows, row)
		for _, e := range w.Events {
			d.Events = append(d.Events, workerEvent{WorkerEvent: e, Worker: w.ID, Ago: now.Sub(e.At)})
		}
	}
	slices.SortStableFunc(d.Events, func(a, b workerEvent) int { return b.At.Compare(a.At) })
	d.Events = d.Events[:min(len(d.Events), maxPageEvents)]
	return d, nil
}

func (c *Console) workersPage(w http.ResponseWriter, r *http.Request, s Scope) {
	d, _ := c.workersList()
	v := c.view("Workers", "workers", s, d)
	v.Events = c.cfg.Prefix + "/workers/events"
	c.render(w, "workers", v)
}

func (c *Console) workersEvents(w http.ResponseWriter, r *http.Request, _ Scope) {
	c.pollEvents(w, r, "workers", "workers-table", c.workersList)
}
