package trainer

import (
	"net"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// refusedLogEvery is how often refused requests from one client address
// are logged at most.
const refusedLogEvery = time.Minute

// refusals counts and logs the requests the job API refuses for want of a
// valid token: a line per client address per minute at most, with the
// number refused since the last.
type refusals struct {
	count prometheus.Counter

	mu      sync.Mutex
	clients map[string]*refusedClient
}

type refusedClient struct {
	logged time.Time
	since  int // refused since logged
}

func newRefusals() *refusals {
	return &refusals{
		count: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flint_trainer_api_auth_refused_total",
			Help: "Requests to the job API refused for a missing or invalid bearer token.",
		}),
		clients: map[string]*refusedClient{},
	}
}

// refuse records a refused request from c and logs it unless this client
// address was logged less than refusedLogEvery ago.
func (a *API) refuse(c echo.Context, why string) {
	r := a.refused
	r.count.Inc()
	req := c.Request()
	host, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		host = req.RemoteAddr
	}
	now := time.Now()
	r.mu.Lock()
	if len(r.clients) > 4096 { // forget the quiet ones; bounds the map under a scan
		for k, v := range r.clients {
			if now.Sub(v.logged) >= refusedLogEvery {
				delete(r.clients, k)
			}
		}
	}
	cl, ok := r.clients[host]
	if !ok {
		cl = &refusedClient{}
		r.clients[host] = cl
	}
	cl.since++
	n := cl.since
	log := now.Sub(cl.logged) >= refusedLogEvery
	if log {
		cl.logged, cl.since = now, 0
	}
	r.mu.Unlock()
	if log {
		a.log.Warn("trainer: job API refused a request: "+why, "remote", host, "method", req.Method, "path", req.URL.Path,
			"refused", n, "next_log_after", refusedLogEvery)
	}
}

// Collector returns the API's own Prometheus metrics: the requests refused
// for a missing or invalid token (flint_trainer_api_auth_refused_total).
func (a *API) Collector() prometheus.Collector { return a.refused.count }

// metricsHandler serves APIConfig.Metrics in the Prometheus text format.
func (a *API) metricsHandler() echo.HandlerFunc {
	h := promhttp.HandlerFor(a.cfg.Metrics, promhttp.HandlerOpts{ErrorLog: errorLogger{a}})
	return func(c echo.Context) error {
		h.ServeHTTP(c.Response(), c.Request())
		return nil
	}
}

// errorLogger passes promhttp's errors (a collector that failed) to the
// API's logger.
type errorLogger struct{ a *API }

func (l errorLogger) Println(v ...any) { l.a.log.Warn("trainer: gather metrics", "err", v) }
