package jobs

import (
	"log/slog"
	"net/http"

	"github.com/flintml/flint/internal/bearer"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// jobScope is the job API's one scope: the cluster secret allows all of it.
const jobScope = 1

// newAuth returns the middleware that asks for the bearer token (RFC 6750)
// when one is configured, and nil when the API is open. Refused requests
// are counted in refused and logged, a line per client address per minute
// at most.
func newAuth(token string, refused prometheus.Counter, log *slog.Logger) echo.MiddlewareFunc {
	if token == "" {
		return nil
	}
	var ts bearer.Tokens[int]
	ts.Add(token, jobScope)
	return bearer.New(bearer.Config[int]{
		Tokens:  &ts,
		Refuse:  refuseAuth,
		Refused: refused,
		Log:     log,
		LogMsg:  "jobs: job API refused a request",
	}).Require(jobScope)
}

// refuseAuth is the job API's answer to a request without the token.
func refuseAuth(_ echo.Context, e *bearer.Error[int]) error {
	if e.Reason == bearer.Missing {
		return apiErrorf(http.StatusUnauthorized, "the job API needs a bearer token (Authorization: Bearer TOKEN; the cluster secret)")
	}
	return apiErrorf(e.Status, "the bearer token is not valid")
}

// Collector returns the API's own Prometheus metrics: the requests refused
// for a missing or invalid token (flint_trainer_api_auth_refused_total).
func (a *API) Collector() prometheus.Collector { return a.refused }

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

func (l errorLogger) Println(v ...any) { l.a.log.Warn("jobs: gather metrics", "err", v) }
