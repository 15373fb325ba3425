package console

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/flintml/flint/trainer/jobs"
)

type workerRow struct {
	jobs.Worker
	Since   time.Duration // since the last heartbeat
	UsedPct int           // cached bytes of the memory limit, 0..100
}

type workersData struct {
	Rows        []workerRow
	Alive, Dead int
}

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
	}
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
