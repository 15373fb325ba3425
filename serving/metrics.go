package serving

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are a Server's Prometheus metrics, in a registry of its own.
//
// Request metrics carry the model and version only once the request named
// a model that is served (and "" otherwise), so that clients asking for
// made-up names cannot grow the number of series.
type metrics struct {
	reg *prometheus.Registry

	requests    *prometheus.CounterVec   // route, model, version, code
	latency     *prometheus.HistogramVec // route, model, version, code
	rows        *prometheus.CounterVec   // model, version
	loads       *prometheus.CounterVec   // model, result
	version     *prometheus.GaugeVec     // model, ref
	ready       *prometheus.GaugeVec     // model
	failing     *prometheus.GaugeVec     // model
	inMemory    prometheus.Gauge
	watchErrors prometheus.Counter
	shed        prometheus.Counter       // requests refused for the in-flight bytes bound
	authRefused prometheus.Counter       // requests refused for a missing or invalid token
	featureAge  *prometheus.HistogramVec // model: seconds from a served key's last event to the request

	// accessDropped counts access-log records dropped because the logger
	// fell behind (see accessLog).
	accessDropped prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flint_serving_requests_total",
			Help: "HTTP requests by route, model, version and status code.",
		}, []string{"route", "model", "version", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "flint_serving_request_duration_seconds",
			Help:    "HTTP request latency by route, model, version and status code.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "model", "version", "code"}),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flint_serving_rows_total",
			Help: "Rows predicted, by model and version.",
		}, []string{"model", "version"}),
		loads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flint_serving_model_loads_total",
			Help: "Model version loads by result (success or failure).",
		}, []string{"model", "result"}),
		version: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flint_serving_model_version",
			Help: `The version served, by model and reference: "default" (the unversioned routes), "latest", or an alias.`,
		}, []string{"model", "ref"}),
		ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flint_serving_model_ready",
			Help: "1 when the model has a version serving its unversioned routes.",
		}, []string{"model"}),
		failing: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flint_serving_model_load_failures",
			Help: "Versions of the model that should be loaded but failed to (the previous ones keep serving).",
		}, []string{"model"}),
		inMemory: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "flint_serving_loaded_versions",
			Help: "Model versions in memory, including swapped-out ones that requests still use.",
		}),
		watchErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flint_serving_registry_errors_total",
			Help: "Failed polls of the model registry.",
		}),
		shed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flint_serving_shed_requests_total",
			Help: "Requests answered 503 because the server held its limit of request bytes in flight (Config.MaxInFlightBytes).",
		}),
		accessDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flint_serving_access_log_dropped_total",
			Help: "Access-log records dropped because the logger could not keep up (Config.AccessLogBuffer records were waiting).",
		}),
		authRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flint_serving_auth_refused_total",
			Help: "Requests refused with 401 for a missing or invalid bearer token.",
		}),
		featureAge: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "flint_serving_feature_age_seconds",
			Help:    "Freshness of served streaming features: seconds from the last event of the row's entity key the server's replica holds to the request, by model.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 86400},
		}, []string{"model"}),
	}
	m.reg.MustRegister(m.requests, m.shed, m.authRefused, m.accessDropped, m.featureAge, m.latency, m.rows, m.loads, m.version, m.ready, m.failing, m.inMemory, m.watchErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// watchInflight exports the request bytes held now.
func (m *metrics) watchInflight(f *inflight) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "flint_serving_inflight_bytes",
		Help: "Request body bytes the server holds now (bounded by Config.MaxInFlightBytes).",
	}, func() float64 { return float64(f.used.Load()) }))
}

// setModel updates the model gauges after a swap; st is nil for a model
// no longer served.
func (m *metrics) setModel(name string, old, st *modelState) {
	refs := func(s *modelState) map[string]*loadedModel {
		r := map[string]*loadedModel{}
		if s == nil {
			return r
		}
		if s.def != nil {
			r["default"] = s.def
		}
		if s.latest != nil {
			r["latest"] = s.latest
		}
		for a, lm := range s.aliases {
			r[a] = lm
		}
		return r
	}
	now := refs(st)
	for ref := range refs(old) {
		if now[ref] == nil {
			m.version.DeleteLabelValues(name, ref)
		}
	}
	for ref, lm := range now {
		m.version.WithLabelValues(name, ref).Set(float64(lm.version))
	}
	if st == nil {
		m.ready.DeleteLabelValues(name)
		m.failing.DeleteLabelValues(name)
		return
	}
	r := 0.0
	if st.def != nil {
		r = 1
	}
	m.ready.WithLabelValues(name).Set(r)
	m.failing.WithLabelValues(name).Set(float64(len(st.failures)))
}

// statusText holds the decimal text of the status codes, so that labelling
// a request allocates nothing.
var statusText = func() (t [600]string) {
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

func codeLabel(code int) string {
	if code >= 0 && code < len(statusText) {
		return statusText[code]
	}
	return strconv.Itoa(code)
}

// obsKey names the request metrics' series of one model version.
type obsKey struct{ route, code string }

// observers are the request metrics' series of one route and status code
// of a model version.
type observers struct {
	requests prometheus.Counter
	latency  prometheus.Observer
	rows     prometheus.Counter // only for status 200
}

// observers returns lm's series for route and code, looking the labels up
// in the metric vectors once per version, route and code instead of three
// times a request.
func (m *metrics) observers(lm *loadedModel, route, code string) *observers {
	k := obsKey{route, code}
	if o, ok := lm.obs.Load(k); ok {
		return o.(*observers)
	}
	o := &observers{
		requests: m.requests.WithLabelValues(route, lm.name, lm.versionStr, code),
		latency:  m.latency.WithLabelValues(route, lm.name, lm.versionStr, code),
		rows:     m.rows.WithLabelValues(lm.name, lm.versionStr),
	}
	got, _ := lm.obs.LoadOrStore(k, o)
	return got.(*observers)
}
