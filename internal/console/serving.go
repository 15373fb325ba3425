package console

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The metrics flint serve exposes that the serving page reads.
const (
	metricRequests = "flint_serving_requests_total"
	metricLatency  = "flint_serving_request_duration_seconds"
	metricVersion  = "flint_serving_model_version"
)

// served is one model version's traffic on one server, as of a scrape.
type served struct {
	Requests, Errors, ClientErrors float64 // since the server started; errors are 5xx, client errors 4xx
	bounds                         []float64
	counts                         []float64 // cumulative, per bound
}

// serverScrape is what one scrape of a server's /metrics found.
type serverScrape struct {
	at       time.Time
	versions map[[2]string]*served // model, version
	loaded   map[string][]string   // model → "ref v3"
}

// servingRow is one model version's line of the serving page.
type servingRow struct {
	Server, Model, Version string
	Requests               float64
	Rate                   float64 // requests/s since the previous scrape
	HasRate                bool
	P50, P99               float64 // seconds, over the requests since the previous scrape (else since start)
	HasLatency             bool
	ErrorRate              float64 // 5xx share
	ClientErrors           float64
	Loaded                 string
}

type servingData struct {
	Rows   []servingRow
	Errors []string // servers that could not be scraped
}

// scrapeServer reads and parses url's /metrics.
func (c *Console) scrapeServer(ctx context.Context, url string) (*serverScrape, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(url, "/")+"/metrics", nil)
	if err != nil {
		return nil, fmt.Errorf("server %s: %w", url, err)
	}
	if c.cfg.ServerToken != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.ServerToken)
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("server %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("server %s: GET /metrics answered %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("server %s: /metrics: %w", url, err)
	}
	return parseServing(fams, time.Now()), nil
}

func labels(m *dto.Metric) map[string]string {
	out := make(map[string]string, len(m.GetLabel()))
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// parseServing sums each model version's requests, errors and latency
// buckets over routes and status codes.
func parseServing(fams map[string]*dto.MetricFamily, at time.Time) *serverScrape {
	s := &serverScrape{at: at, versions: map[[2]string]*served{}, loaded: map[string][]string{}}
	get := func(l map[string]string) *served {
		k := [2]string{l["model"], l["version"]}
		v := s.versions[k]
		if v == nil {
			v = &served{}
			s.versions[k] = v
		}
		return v
	}
	if f := fams[metricRequests]; f != nil {
		for _, m := range f.GetMetric() {
			l := labels(m)
			if l["model"] == "" {
				continue // a request that named no served model
			}
			v, n := get(l), m.GetCounter().GetValue()
			v.Requests += n
			switch code, _ := strconv.Atoi(l["code"]); {
			case code >= 500:
				v.Errors += n
			case code >= 400:
				v.ClientErrors += n
			}
		}
	}
	if f := fams[metricLatency]; f != nil {
		for _, m := range f.GetMetric() {
			l := labels(m)
			if l["model"] == "" {
				continue
			}
			v := get(l)
			for i, b := range m.GetHistogram().GetBucket() {
				if len(v.bounds) <= i {
					v.bounds, v.counts = append(v.bounds, b.GetUpperBound()), append(v.counts, 0)
				}
				v.counts[i] += float64(b.GetCumulativeCount())
			}
		}
	}
	if f := fams[metricVersion]; f != nil {
		for _, m := range f.GetMetric() {
			l := labels(m)
			s.loaded[l["model"]] = append(s.loaded[l["model"]], fmt.Sprintf("%s v%d", l["ref"], int(m.GetGauge().GetValue())))
		}
	}
	for _, refs := range s.loaded {
		slices.Sort(refs)
	}
	return s
}

// quantile estimates the q-quantile from cumulative bucket counts, by
// linear interpolation within the bucket, as Prometheus'
// histogram_quantile does; false when there is no observation.
func quantile(q float64, bounds, counts []float64) (float64, bool) {
	if len(counts) == 0 || counts[len(counts)-1] <= 0 {
		return 0, false
	}
	rank := q * counts[len(counts)-1]
	lo, below := 0.0, 0.0
	for i, b := range bounds {
		if counts[i] >= rank {
			if math.IsInf(b, 1) {
				return lo, true
			}
			in := counts[i] - below
			if in <= 0 {
				return b, true
			}
			return lo + (b-lo)*(rank-below)/in, true
		}
		lo, below = b, counts[i]
	}
	return lo, true
}

// servingList scrapes every server and compares with its previous scrape.
func (c *Console) servingList(ctx context.Context) servingData {
	var d servingData
	for _, url := range c.cfg.Servers {
		cur, err := c.scrapeServer(ctx, url)
		if err != nil {
			d.Errors = append(d.Errors, err.Error())
			continue
		}
		c.mu.Lock()
		prev := c.scrapes[url]
		if prev == nil || cur.at.After(prev.at) {
			c.scrapes[url] = cur
		}
		c.mu.Unlock()
		keys := make([][2]string, 0, len(cur.versions))
		for k := range cur.versions {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b [2]string) int {
			if a[0] != b[0] {
				return strings.Compare(a[0], b[0])
			}
			x, _ := strconv.Atoi(a[1])
			y, _ := strconv.Atoi(b[1])
			return x - y
		})
		for _, k := range keys {
			d.Rows = append(d.Rows, servingRowOf(url, k, cur, prev))
		}
	}
	return d
}

func servingRowOf(url string, k [2]string, cur, prev *serverScrape) servingRow {
	v := cur.versions[k]
	row := servingRow{Server: url, Model: k[0], Version: k[1], Requests: v.Requests, ClientErrors: v.ClientErrors,
		Loaded: strings.Join(cur.loaded[k[0]], ", ")}
	req, errs, counts := v.Requests, v.Errors, v.counts
	if prev != nil {
		if p := prev.versions[k]; p != nil && p.Requests <= v.Requests && len(p.counts) == len(v.counts) && cur.at.After(prev.at) {
			row.Rate, row.HasRate = (v.Requests-p.Requests)/cur.at.Sub(prev.at).Seconds(), true
			if v.Requests > p.Requests { // latency and errors of the recent requests
				req, errs = v.Requests-p.Requests, v.Errors-p.Errors
				counts = make([]float64, len(v.counts))
				for i := range counts {
					counts[i] = v.counts[i] - p.counts[i]
				}
			}
		}
	}
	if req > 0 {
		row.ErrorRate = errs / req
	}
	row.P50, row.HasLatency = quantile(0.5, v.bounds, counts)
	row.P99, _ = quantile(0.99, v.bounds, counts)
	return row
}

func (c *Console) servingPage(w http.ResponseWriter, r *http.Request, s Scope) {
	v := c.view("Serving", "serving", s, c.servingList(r.Context()))
	v.Events = c.cfg.Prefix + "/serving/events"
	c.render(w, "serving", v)
}

func (c *Console) servingEvents(w http.ResponseWriter, r *http.Request, _ Scope) {
	c.pollEvents(w, r, "serving", "serving-table", func() (any, error) { return c.servingList(r.Context()), nil })
}
