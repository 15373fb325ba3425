package console

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/flintml/flint/models"
)

type modelRow struct {
	Name     string
	Versions int
	Latest   models.VersionInfo
	Aliases  map[string]int
	Err      string
}

func (c *Console) modelsPage(w http.ResponseWriter, r *http.Request, s Scope) {
	names, err := c.cfg.Models.List(r.Context())
	if err != nil {
		c.fail(w, r, s, http.StatusBadGateway, fmt.Errorf("list the models in the store: %w", err))
		return
	}
	rows := make([]modelRow, 0, len(names))
	for _, n := range names {
		m, err := c.cfg.Models.Describe(r.Context(), n)
		if err != nil {
			rows = append(rows, modelRow{Name: n, Err: err.Error()})
			continue
		}
		row := modelRow{Name: n, Versions: len(m.Versions), Aliases: m.Aliases}
		row.Latest, _ = m.Latest()
		rows = append(rows, row)
	}
	c.render(w, "models", c.view("Models", "models", s, rows))
}

// modelData is the model page's data.
type modelData struct {
	Prefix   string
	M        *models.Manifest
	Versions []versionRow // newest first, at most maxVersionRows
	Hidden   int          // versions left out of the table
	Metrics  []string
	Charts   []template.HTML
	History  []models.AliasEvent // newest first
	Admin    bool
	Done     string // what a promotion just did
}

type versionRow struct {
	models.VersionInfo
	Aliases []string
	Values  []float64
	Has     []bool
}

const (
	maxVersionRows = 200
	maxCharts      = 6
)

func (c *Console) modelPage(w http.ResponseWriter, r *http.Request, s Scope) {
	name := r.PathValue("name")
	m, err := c.cfg.Models.Describe(r.Context(), name)
	if errors.Is(err, models.ErrNotFound) {
		c.fail(w, r, s, http.StatusNotFound, fmt.Errorf("no model %q in the store", name))
		return
	}
	if err != nil {
		c.fail(w, r, s, http.StatusBadGateway, fmt.Errorf("read model %q: %w", name, err))
		return
	}
	d := modelData{Prefix: c.cfg.Prefix, M: m, Admin: s >= ScopeAdmin, Done: r.URL.Query().Get("done")}
	seen := map[string]bool{}
	for _, v := range m.Versions {
		for k := range v.Metrics {
			if !seen[k] {
				seen[k] = true
				d.Metrics = append(d.Metrics, k)
			}
		}
	}
	slices.Sort(d.Metrics)
	aliases := map[int][]string{}
	for a, v := range m.Aliases {
		aliases[v] = append(aliases[v], a)
	}
	for i := len(m.Versions) - 1; i >= 0; i-- {
		if len(d.Versions) == maxVersionRows {
			d.Hidden = i + 1
			break
		}
		v := m.Versions[i]
		row := versionRow{VersionInfo: v, Aliases: aliases[v.Version]}
		slices.Sort(row.Aliases)
		for _, k := range d.Metrics {
			x, ok := v.Metrics[k]
			row.Values, row.Has = append(row.Values, x), append(row.Has, ok)
		}
		d.Versions = append(d.Versions, row)
	}
	for i, k := range d.Metrics {
		if i == maxCharts {
			break
		}
		var sr series
		sr.Name = k
		for _, v := range m.Versions {
			if x, ok := v.Metrics[k]; ok {
				sr.X, sr.Y = append(sr.X, float64(v.Version)), append(sr.Y, x)
			}
		}
		d.Charts = append(d.Charts, chart{ID: "metric-" + k, Title: k + " by version", XLabel: "version",
			Series: []series{sr}, Markers: len(sr.X) <= 100}.render())
	}
	d.History = slices.Clone(m.History)
	slices.Reverse(d.History)
	c.render(w, "model", c.view("Model "+name, "models", s, d))
}

// promote moves an alias to a version, with the reason typed in; the
// registry records the decision in the model's alias history.
func (c *Console) promote(w http.ResponseWriter, r *http.Request, s Scope) {
	name := r.PathValue("name")
	alias := strings.TrimSpace(r.PostFormValue("alias"))
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	v, err := strconv.Atoi(r.PostFormValue("version"))
	switch {
	case err != nil:
		c.fail(w, r, s, http.StatusBadRequest, fmt.Errorf("promote %s: version %q is not a number", name, r.PostFormValue("version")))
		return
	case alias == "":
		c.fail(w, r, s, http.StatusBadRequest, fmt.Errorf("promote %s: the alias is empty", name))
		return
	case reason == "":
		c.fail(w, r, s, http.StatusBadRequest, fmt.Errorf("promote %s: say why (the reason is kept in the alias history)", name))
		return
	}
	actor := "console (" + s.String() + " token)"
	if err := c.cfg.Models.SetAliasBy(r.Context(), name, alias, v, models.AliasChange{Actor: actor, Reason: reason}); err != nil {
		status := http.StatusBadGateway
		if errors.Is(err, models.ErrNotFound) || errors.Is(err, models.ErrInvalidName) {
			status = http.StatusBadRequest
		}
		c.fail(w, r, s, status, fmt.Errorf("promote %s v%d to %q: %w", name, v, alias, err))
		return
	}
	c.log.Info("console: alias moved", "model", name, "alias", alias, "version", v, "reason", reason, "remote", r.RemoteAddr)
	done := fmt.Sprintf("%s now points at version %d", alias, v)
	http.Redirect(w, r, c.cfg.Prefix+"/models/"+url.PathEscape(name)+"?done="+url.QueryEscape(done), http.StatusSeeOther)
}

// compareData shows two versions side by side.
type compareData struct {
	Prefix  string
	Name    string
	A, B    models.VersionInfo
	Metrics []metricPair
	Spec    []specLine
	LinA    []models.Source
	LinB    []models.Source
	FlintA  string
	FlintB  string
	Params  paramsCompare
}

type metricPair struct {
	Name       string
	A, B       float64
	HasA, HasB bool
	Delta      float64
	HasDelta   bool
}

type specLine struct {
	A, B string
	Diff bool
}

func (c *Console) comparePage(w http.ResponseWriter, r *http.Request, s Scope) {
	name := r.PathValue("name")
	q := r.URL.Query()
	va, errA := strconv.Atoi(q.Get("a"))
	vb, errB := strconv.Atoi(q.Get("b"))
	if errA != nil || errB != nil {
		c.fail(w, r, s, http.StatusBadRequest, fmt.Errorf("compare %s: ?a= and ?b= must be version numbers, got %q and %q", name, q.Get("a"), q.Get("b")))
		return
	}
	a, ia, err := c.cfg.Models.Get(r.Context(), name, va)
	if err == nil {
		var b *models.Artifact
		var ib models.VersionInfo
		if b, ib, err = c.cfg.Models.Get(r.Context(), name, vb); err == nil {
			c.render(w, "compare", c.view(fmt.Sprintf("%s v%d vs v%d", name, va, vb), "models", s, compare(c.cfg.Prefix, name, a, b, ia, ib)))
			return
		}
	}
	status := http.StatusBadGateway
	if errors.Is(err, models.ErrNotFound) {
		status = http.StatusNotFound
	}
	c.fail(w, r, s, status, fmt.Errorf("compare %s v%d and v%d: %w", name, va, vb, err))
}

func compare(prefix, name string, a, b *models.Artifact, ia, ib models.VersionInfo) compareData {
	d := compareData{Prefix: prefix, Name: name, A: ia, B: ib, LinA: a.Lineage, LinB: b.Lineage, FlintA: a.FlintVersion, FlintB: b.FlintVersion,
		Params: compareParams(a, b)}
	var keys []string
	for k := range a.Metrics {
		keys = append(keys, k)
	}
	for k := range b.Metrics {
		if _, ok := a.Metrics[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		p := metricPair{Name: k}
		p.A, p.HasA = a.Metrics[k]
		p.B, p.HasB = b.Metrics[k]
		if p.HasA && p.HasB {
			p.Delta, p.HasDelta = p.B-p.A, true
		}
		d.Metrics = append(d.Metrics, p)
	}
	la, lb := strings.Split(a.Spec, "\n"), strings.Split(b.Spec, "\n")
	for i := range max(len(la), len(lb)) {
		var l specLine
		if i < len(la) {
			l.A = la[i]
		}
		if i < len(lb) {
			l.B = lb[i]
		}
		l.Diff = l.A != l.B
		d.Spec = append(d.Spec, l)
	}
	return d
}
