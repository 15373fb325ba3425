package console

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flintml/flint/models"
	"github.com/flintml/flint/trainer/jobs"
)

// jobRow is a job as the list shows it.
type jobRow struct {
	jobs.Job
	Duration time.Duration
}

func newJobRow(j jobs.Job, now time.Time) jobRow {
	r := jobRow{Job: j}
	switch {
	case !j.Started.IsZero() && !j.Finished.IsZero():
		r.Duration = j.Finished.Sub(j.Started)
	case !j.Started.IsZero() && j.State == jobs.Running:
		r.Duration = now.Sub(j.Started)
	}
	return r
}

type jobsData struct {
	State  string
	States []stateCount
	Rows   []jobRow
	Total  int // jobs in the filter
	Page   int
	Pages  int
	Prefix string
	Query  string // the filter, for the pager's links
}

type stateCount struct {
	State jobs.State
	N     int
}

var allStates = []jobs.State{jobs.Queued, jobs.Running, jobs.Succeeded, jobs.Failed, jobs.Canceled}

// jobsList builds the jobs list for the request's ?state= and ?page=.
func (c *Console) jobsList(q url.Values) (jobsData, error) {
	var state jobs.State
	if s := q.Get("state"); s != "" {
		st, err := jobs.ParseState(s)
		if err != nil {
			return jobsData{}, fmt.Errorf("?state=: %w", err)
		}
		state = st
	}
	all := c.cfg.Jobs.List("")
	counts := make(map[jobs.State]int, len(allStates))
	sel := all
	if state != "" {
		sel = nil
	}
	for _, j := range all {
		counts[j.State]++
		if state != "" && j.State == state {
			sel = append(sel, j)
		}
	}
	d := jobsData{State: string(state), Total: len(sel), Prefix: c.cfg.Prefix}
	for _, s := range allStates {
		d.States = append(d.States, stateCount{s, counts[s]})
	}
	d.Pages = max(1, (len(sel)+c.cfg.PageSize-1)/c.cfg.PageSize)
	d.Page, _ = strconv.Atoi(q.Get("page"))
	d.Page = min(max(d.Page, 1), d.Pages)
	lo := (d.Page - 1) * c.cfg.PageSize
	now := time.Now()
	for _, j := range sel[lo:min(lo+c.cfg.PageSize, len(sel))] {
		d.Rows = append(d.Rows, newJobRow(j, now))
	}
	if state != "" {
		d.Query = "state=" + url.QueryEscape(string(state)) + "&"
	}
	return d, nil
}

func (c *Console) jobsPage(w http.ResponseWriter, r *http.Request, s Scope) {
	d, err := c.jobsList(r.URL.Query())
	if err != nil {
		c.fail(w, r, s, http.StatusBadRequest, err)
		return
	}
	v := c.view("Jobs", "jobs", s, d)
	v.Events = c.cfg.Prefix + "/jobs/events?" + r.URL.RawQuery
	c.render(w, "jobs", v)
}

// jobsEvents sends the jobs table again whenever it changes.
func (c *Console) jobsEvents(w http.ResponseWriter, r *http.Request, s Scope) {
	q := r.URL.Query()
	c.pollEvents(w, r, "jobs", "jobs-table", func() (any, error) { return c.jobsList(q) })
}

// pollEvents sends fragment id of page, built from build's data, every
// Config.Poll when it changed, until the browser goes away.
func (c *Console) pollEvents(w http.ResponseWriter, r *http.Request, page, id string, build func() (any, error)) {
	sse, ok := newSSE(w)
	if !ok {
		return
	}
	var last uint64
	t := time.NewTicker(c.cfg.Poll)
	defer t.Stop()
	for {
		d, err := build()
		if err != nil {
			return
		}
		html, err := c.fragment(page, id, d)
		if err != nil {
			c.log.Warn("console: live update", "page", page, "err", err)
			return
		}
		if h := hash(html); h != last {
			last = h
			if sse.send(id, html) != nil {
				return
			}
		}
		select {
		case <-r.Context().Done():
			return
		case <-c.done:
			return
		case <-t.C:
		}
	}
}

func hash(s string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	return h.Sum64()
}

// jobData is the job page's data; Status and Charts are also its live
// fragments.
type jobData struct {
	Prefix  string
	Job     jobRow
	Admin   bool
	Charts  []template.HTML
	Points  int // iterations charted, over every trial
	Partial bool
	Trials  *trialTable
	Lineage []models.Source
	LinErr  string
}

func (c *Console) jobData(id string, s Scope) (jobData, error) {
	j, err := c.cfg.Jobs.Get(id)
	if err != nil {
		return jobData{}, err
	}
	d := jobData{Prefix: c.cfg.Prefix, Job: newJobRow(j, time.Now()), Admin: s >= ScopeAdmin}
	d.Charts, d.Points, d.Partial = c.jobCharts(j)
	return d, nil
}

// jobCharts draws the loss, gradient norm and step size of every fit of
// the job: the final fit, and each grid point. A fit's step-size series
// has a point per iteration that took a step (not the starting point), and
// the step-size chart is left out when no fit took one (k-means, ALS, an
// MLP, a closed-form solution).
func (c *Console) jobCharts(j jobs.Job) (charts []template.HTML, points int, partial bool) {
	var trials map[int][]Point
	if c.cfg.Curves != nil {
		trials, _ = c.cfg.Curves.Get(j.ID)
	}
	if len(trials) == 0 && j.Progress != nil {
		// Iterations from before this console started are not recorded:
		// chart the latest one the job reports.
		p := j.Progress
		trials = map[int][]Point{p.Trial: {{Iter: p.Iter, Loss: float64(p.Loss), GradNorm: float64(p.GradNorm), Step: float64(p.Step)}}}
		partial = p.Iter > 0
	}
	keys := make([]int, 0, len(trials))
	for t := range trials {
		keys = append(keys, t)
	}
	slices.Sort(keys)
	loss := chart{ID: "loss-chart", Title: "Loss", XLabel: "iteration", LogY: true}
	grad := chart{ID: "grad-chart", Title: "Gradient norm", XLabel: "iteration", LogY: true}
	step := chart{ID: "step-chart", Title: "Step size", XLabel: "iteration", LogY: true}
	for _, t := range keys {
		pts := trials[t]
		name := "final fit"
		if t > 0 {
			name = "grid point " + strconv.Itoa(t)
		}
		x, l, g := make([]float64, len(pts)), make([]float64, len(pts)), make([]float64, len(pts))
		var sx, sy []float64
		for i, p := range pts {
			x[i], l[i], g[i] = float64(p.Iter), p.Loss, p.GradNorm
			if p.Step > 0 {
				sx, sy = append(sx, float64(p.Iter)), append(sy, p.Step)
			}
		}
		points += len(pts)
		loss.Series = append(loss.Series, series{Name: name, X: x, Y: l})
		grad.Series = append(grad.Series, series{Name: name, X: x, Y: g})
		if len(sx) > 0 {
			step.Series = append(step.Series, series{Name: name, X: sx, Y: sy})
		}
	}
	charts = []template.HTML{loss.render(), grad.render()}
	if len(step.Series) > 0 {
		charts = append(charts, step.render())
	}
	return charts, points, partial
}

func (c *Console) jobPage(w http.ResponseWriter, r *http.Request, s Scope) {
	id := r.PathValue("id")
	d, err := c.jobData(id, s)
	if errors.Is(err, jobs.ErrNotFound) {
		c.fail(w, r, s, http.StatusNotFound, fmt.Errorf("no job %q on this driver", id))
		return
	}
	if err != nil {
		c.fail(w, r, s, http.StatusInternalServerError, err)
		return
	}
	j := d.Job.Job
	if res := j.Result; res != nil {
		d.Trials = newTrialTable(res)
		if c.cfg.Models != nil && res.Model != "" {
			d.Lineage, d.LinErr = c.lineage(r.Context(), res.Model, res.Version)
		}
	}
	v := c.view("Job "+id, "jobs", s, d)
	if !j.State.Final() {
		v.Events = c.cfg.Prefix + "/jobs/" + url.PathEscape(id) + "/events"
	}
	c.render(w, "job", v)
}

// lineage reads the sources a published model was trained on from its
// artefact.
func (c *Console) lineage(ctx context.Context, name string, v int) ([]models.Source, string) {
	a, _, err := c.cfg.Models.Get(ctx, name, v)
	if err != nil {
		return nil, "the lineage is stored with the model, which could not be read: " + err.Error()
	}
	return a.Lineage, ""
}

// jobEvents sends the job's status and charts at each change (throttled
// to ten a second), and "end" once the job has finished.
func (c *Console) jobEvents(w http.ResponseWriter, r *http.Request, s Scope) {
	id := r.PathValue("id")
	sse, ok := newSSE(w)
	if !ok {
		return
	}
	for {
		j, changed, err := c.cfg.Jobs.Watch(id)
		if err != nil {
			return
		}
		var points <-chan struct{} // nil until the job's first point: its change wakes the loop then
		if c.cfg.Curves != nil {
			_, points = c.cfg.Curves.Get(id)
		}
		status, charts, current, err := c.liveFragments(id, s, changed, points)
		if errors.Is(err, jobs.ErrNotFound) {
			return
		}
		if err != nil {
			c.log.Warn("console: live job", "job", id, "err", err)
			return
		}
		if sse.send("job-status", status) != nil || sse.send("job-charts", charts) != nil {
			return
		}
		if j.State.Final() {
			c.forgetLive(id)
			_ = sse.event("end", id)
			return
		}
		if current { // else the job has changed since: look again after the gap
			select {
			case <-r.Context().Done():
				return
			case <-c.done:
				return
			case <-changed:
			case <-points:
			}
		}
		select {
		case <-r.Context().Done():
			return
		case <-c.done:
			return
		case <-time.After(liveGap):
		}
	}
}

func (c *Console) cancelJob(w http.ResponseWriter, r *http.Request, s Scope) {
	id := r.PathValue("id")
	_, err := c.cfg.Jobs.Cancel(r.Context(), id)
	switch {
	case errors.Is(err, jobs.ErrNotFound):
		c.fail(w, r, s, http.StatusNotFound, fmt.Errorf("no job %q on this driver", id))
		return
	case errors.Is(err, jobs.ErrFinished):
		c.fail(w, r, s, http.StatusConflict, err)
		return
	case err != nil:
		c.fail(w, r, s, http.StatusInternalServerError, err)
		return
	}
	c.log.Info("console: job cancel requested", "job", id, "remote", r.RemoteAddr)
	http.Redirect(w, r, c.cfg.Prefix+"/jobs/"+url.PathEscape(id), http.StatusSeeOther)
}

// trialTable is a grid search's or cross-validation's points, one row
// each, a column per parameter.
type trialTable struct {
	Params []string
	Rows   []trialRow
	Metric string
	Best   map[string]float64
	Charts []template.HTML // the score over each parameter
}

type trialRow struct {
	N      int
	Values []float64
	Score  float64
	Std    float64
	Folds  int
	Err    string
}

func newTrialTable(res *jobs.Result) *trialTable {
	if len(res.Trials) == 0 {
		return nil
	}
	t := &trialTable{Best: res.Best}
	seen := map[string]bool{}
	for _, tr := range res.Trials {
		for k := range tr.Params {
			if !seen[k] {
				seen[k] = true
				t.Params = append(t.Params, k)
			}
		}
		if t.Metric == "" {
			t.Metric = tr.Metric
		}
	}
	sort.Strings(t.Params)
	for i, tr := range res.Trials {
		row := trialRow{N: i + 1, Score: tr.Score, Std: tr.Std, Folds: len(tr.Folds), Err: tr.Err}
		for _, k := range t.Params {
			row.Values = append(row.Values, tr.Params[k])
		}
		t.Rows = append(t.Rows, row)
	}
	t.Charts = gridCharts(t)
	return t
}

// gridCharts draws the score over each parameter of the grid.
func gridCharts(t *trialTable) []template.HTML {
	var charts []template.HTML
	for pi, k := range t.Params {
		// One series per combination of the other parameters, sorted
		// along this one, so a 2-D grid reads as a family of curves.
		groups := map[string]*series{}
		var order []string
		for _, row := range t.Rows {
			if row.Err != "" {
				continue
			}
			var other []string
			for pj, k2 := range t.Params {
				if pj != pi {
					other = append(other, k2+"="+fmtNum(row.Values[pj]))
				}
			}
			name := strings.Join(other, " ")
			if name == "" {
				name = t.Metric
			}
			g := groups[name]
			if g == nil {
				g = &series{Name: name}
				groups[name] = g
				order = append(order, name)
			}
			g.X, g.Y = append(g.X, row.Values[pi]), append(g.Y, row.Score)
		}
		c := chart{ID: "grid-" + k, Title: t.Metric + " by " + k, XLabel: k, Markers: true}
		for _, name := range order {
			g := groups[name]
			idx := make([]int, len(g.X))
			for i := range idx {
				idx[i] = i
			}
			sort.Slice(idx, func(a, b int) bool { return g.X[idx[a]] < g.X[idx[b]] })
			sx, sy := make([]float64, len(idx)), make([]float64, len(idx))
			for i, j := range idx {
				sx[i], sy[i] = g.X[j], g.Y[j]
			}
			c.Series = append(c.Series, series{Name: name, X: sx, Y: sy})
		}
		charts = append(charts, c.render())
	}
	return charts
}
