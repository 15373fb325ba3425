package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flintml/flint/trainer"
)

// APIConfig configures the HTTP job API. Zero fields take the defaults
// given.
type APIConfig struct {
	// Manager runs the jobs. Required.
	Manager *Manager
	// Workers lists the cluster's workers for GET /v1/workers; nil means
	// an empty list (an in-process engine has no worker processes).
	Workers func() []Worker
	// Token, when set, is the bearer token every route but GET /healthz
	// asks for (Authorization: Bearer TOKEN). "" leaves the API open.
	Token string
	// MaxBodyBytes bounds a submitted spec. 0 means 1 MiB.
	MaxBodyBytes int64
	// KeepAlive is how often an event stream repeats the job's state when
	// nothing changed, so idle connections are not cut by proxies. 0 means
	// 15s.
	KeepAlive time.Duration
	// Logger receives errors of the API itself; nil means slog.Default().
	Logger *slog.Logger
	// Metrics, when set, is served at GET /metrics in the Prometheus text
	// format, behind the token as the other reads: a registry holding the
	// Manager's Collector, the API's, and the process's.
	Metrics prometheus.Gatherer
}

// Worker is one worker process of the cluster, as GET /v1/workers lists it.
type Worker struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Addr        string `json:"addr"`
	Alive       bool   `json:"alive"`
	CachedBytes int64  `json:"cached_bytes"`
	// MemoryLimit bounds the worker's cached bytes; 0 means none.
	MemoryLimit int64 `json:"memory_limit,omitempty"`
	// HeapLiveBytes is the worker process's live heap as of its last
	// garbage collection.
	HeapLiveBytes int64     `json:"heap_live_bytes,omitempty"`
	LastHeartbeat time.Time `json:"last_heartbeat,omitzero"`
	// Reason says why a dead worker was declared dead: heartbeat,
	// connection or left.
	Reason string `json:"reason,omitempty"`
	// TasksRunning, TasksCompleted and TasksFailed count the driver's
	// calls to the worker (a task on its partitions, a partition load, a
	// transform, a scan): running now, completed, and failed with the
	// task's or the data's error.
	TasksRunning   int `json:"tasks_running"`
	TasksCompleted int `json:"tasks_completed"`
	TasksFailed    int `json:"tasks_failed"`
	// Events is the worker's recent history, newest first (at most 50):
	// joined, lost (and why), left, partitions recovered, tasks failed.
	Events []WorkerEvent `json:"events,omitempty"`
}

// WorkerEvent is one entry of a worker's recent history.
type WorkerEvent struct {
	At time.Time `json:"at"`
	// Kind is "joined", "lost", "left", "recovered" or "task failed".
	Kind string `json:"kind"`
	Text string `json:"text"`
}

// DefaultMaxSpecBytes is the default bound on a submitted spec.
const DefaultMaxSpecBytes = 1 << 20

// API serves a Manager over HTTP (see docs/driver.md):
//
//	POST   /v1/jobs             submit a YAML spec → 201 and the job
//	GET    /v1/jobs             the jobs, newest first (?state=running)
//	GET    /v1/jobs/:id         one job, with its spec
//	DELETE /v1/jobs/:id         cancel it → 200 canceled (202 while it stops), 409 if finished
//	GET    /v1/jobs/:id/events  the job's state as newline-delimited JSON, a line per change, until it ends
//	GET    /v1/workers          the cluster's worker processes
//	GET    /v1/triggers         the triggered jobs the driver follows (a spec with a trigger, POSTed to /v1/jobs)
//	DELETE /v1/triggers/:name   stop following one (a run in progress goes on)
//	POST   /v1/triggers/:name/fire  run it now ({"reason": "..."}; a run in progress stands for it)
//	GET    /metrics             Prometheus metrics (APIConfig.Metrics), when set
//	GET    /healthz             200 while the manager takes jobs
//
// Errors are {"error": "...", "problems": [...]}, problems only for a spec
// that does not validate. An API is an http.Handler, safe for concurrent
// use.
type API struct {
	cfg     APIConfig
	m       *Manager
	log     *slog.Logger
	echo    *echo.Echo
	refused prometheus.Counter // requests refused for a missing or invalid token
}

// NewAPI builds the API's handler. It panics without a Manager, a wiring
// error.
func NewAPI(cfg APIConfig) *API {
	if cfg.Manager == nil {
		panic("jobs: NewAPI without a Manager")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxSpecBytes
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = 15 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	a := &API{cfg: cfg, m: cfg.Manager, log: cfg.Logger, refused: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "flint_trainer_api_auth_refused_total",
		Help: "Requests to the job API refused for a missing or invalid bearer token.",
	})}
	var auth []echo.MiddlewareFunc
	if mw := newAuth(cfg.Token, a.refused, a.log); mw != nil {
		auth = append(auth, mw)
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = a.handleError
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		DisableStackAll: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			a.log.Error("jobs: API handler panicked", "method", c.Request().Method, "path", c.Request().URL.Path,
				"err", err, "stack", string(stack))
			return fmt.Errorf("handler panicked: %w", err)
		},
	}))
	e.GET("/healthz", a.healthz)
	if cfg.Metrics != nil {
		e.GET("/metrics", a.metricsHandler(), auth...)
	}
	v1 := e.Group("/v1", auth...)
	v1.POST("/jobs", a.submit)
	v1.GET("/jobs", a.list)
	v1.GET("/jobs/:id", a.get)
	v1.DELETE("/jobs/:id", a.cancel)
	v1.GET("/jobs/:id/events", a.events)
	v1.GET("/workers", a.workers)
	v1.GET("/triggers", a.triggers)
	v1.DELETE("/triggers/:name", a.stopTrigger)
	v1.POST("/triggers/:name/fire", a.fireTrigger)
	a.echo = e
	return a
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.echo.ServeHTTP(w, r) }

// apiError is an error the client gets verbatim, with its status.
type apiError struct {
	Status int
	Msg    string
}

func (e *apiError) Error() string { return e.Msg }

func apiErrorf(status int, format string, args ...any) *apiError {
	return &apiError{Status: status, Msg: fmt.Sprintf(format, args...)}
}

// ErrorBody is the body of every error response.
type ErrorBody struct {
	Error string `json:"error"`
	// Problems lists every problem of a spec that does not validate, each
	// "file:line:column: field.path: what is wrong".
	Problems []string `json:"problems,omitempty"`
}

// handleError is the one place errors become responses.
func (a *API) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	r := c.Request()
	status, body := http.StatusInternalServerError, ErrorBody{Error: "internal server error"}
	var ae *apiError
	var se trainer.SpecErrors
	var he *echo.HTTPError
	switch {
	case errors.As(err, &ae):
		status, body.Error = ae.Status, ae.Msg
	case errors.As(err, &se):
		status, body.Error = http.StatusBadRequest, fmt.Sprintf("%d problem(s) in the job spec", len(se))
		for _, e := range se {
			body.Problems = append(body.Problems, e.Error())
		}
	case errors.Is(err, ErrClosed):
		status, body.Error = http.StatusServiceUnavailable, "the driver is shutting down; submit again when it is back"
	case errors.Is(err, echo.ErrNotFound):
		status, body.Error = http.StatusNotFound, fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path)
	case errors.Is(err, echo.ErrMethodNotAllowed):
		status, body.Error = http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed on %s", r.Method, r.URL.Path)
	case errors.As(err, &he):
		status, body.Error = he.Code, fmt.Sprint(he.Message)
	}
	if status == http.StatusInternalServerError {
		a.log.Error("jobs: API request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if err := c.JSON(status, body); err != nil {
		a.log.Warn("jobs: write error response", "path", r.URL.Path, "err", err)
	}
}

// jobError maps the manager's errors about job id onto responses.
func jobError(err error, id string) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return apiErrorf(http.StatusNotFound, "no job %q", id)
	case errors.Is(err, ErrFinished):
		return apiErrorf(http.StatusConflict, "job %s has already finished; only queued and running jobs can be canceled", id)
	}
	return err
}

func (a *API) healthz(c echo.Context) error {
	select {
	case <-a.m.closing:
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "shutting down"})
	default:
		return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
	}
}

// specTypes are the Content-Types a spec may be sent with ("" too).
var specTypes = []string{"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain"}

// decodeSubmission checks a submission's Content-Type and ?name= and reads
// its body, at most limit bytes. It returns the file name the spec's
// problems are reported against and the spec's text.
func decodeSubmission(contentType, name string, body io.Reader, limit int64) (string, []byte, error) {
	if contentType != "" {
		mt, _, err := mime.ParseMediaType(contentType)
		if err != nil || !slices.Contains(specTypes, mt) {
			return "", nil, apiErrorf(http.StatusUnsupportedMediaType,
				"Content-Type %q: send the YAML spec as application/yaml or text/plain (curl: --data-binary @job.yaml -H 'Content-Type: application/yaml')", contentType)
		}
	}
	if name == "" {
		name = "job.yaml"
	}
	if len(name) > 255 || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return "", nil, apiErrorf(http.StatusBadRequest, "?name=: want a file name of at most 255 characters without control characters, got %q", clip(name, 64))
	}
	data, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return "", nil, apiErrorf(http.StatusBadRequest, "read the request body: %v", err)
	}
	if int64(len(data)) > limit {
		return "", nil, tooLarge(limit)
	}
	return name, data, nil
}

func tooLarge(limit int64) error {
	return apiErrorf(http.StatusRequestEntityTooLarge, "job spec larger than %d bytes (the driver's limit)", limit)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func (a *API) submit(c echo.Context) error {
	r := c.Request()
	if r.ContentLength > a.cfg.MaxBodyBytes {
		return tooLarge(a.cfg.MaxBodyBytes)
	}
	file, spec, err := decodeSubmission(r.Header.Get(echo.HeaderContentType), c.QueryParam("name"), r.Body, a.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	j, err := a.m.Submit(r.Context(), file, spec)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/v1/jobs/"+j.ID)
	return c.JSON(http.StatusCreated, j)
}

// List is the body of GET /v1/jobs.
type List struct {
	Jobs []Job `json:"jobs"`
}

func (a *API) list(c echo.Context) error {
	var state State
	if s := c.QueryParam("state"); s != "" {
		var err error
		if state, err = ParseState(s); err != nil {
			return apiErrorf(http.StatusBadRequest, "?state=: %v", err)
		}
	}
	return c.JSON(http.StatusOK, List{Jobs: a.m.List(state)})
}

func (a *API) get(c echo.Context) error {
	j, err := a.m.Get(c.Param("id"))
	if err != nil {
		return jobError(err, c.Param("id"))
	}
	return c.JSON(http.StatusOK, j)
}

// cancelWait is how long DELETE waits for a running job to stop before it
// answers 202.
const cancelWait = 10 * time.Second

func (a *API) cancel(c echo.Context) error {
	id := c.Param("id")
	ctx := c.Request().Context()
	j, err := a.m.Cancel(ctx, id)
	if err != nil {
		return jobError(err, id)
	}
	if !j.State.Final() {
		wctx, cancel := context.WithTimeout(ctx, cancelWait)
		j, _ = a.m.Wait(wctx, id)
		cancel()
	}
	j.Spec = ""
	status := http.StatusOK
	if !j.State.Final() {
		status = http.StatusAccepted
	}
	return c.JSON(status, j)
}

// events streams the job as newline-delimited JSON (application/x-ndjson):
// a line now, a line after each change (changes that come faster than the
// client reads are coalesced into the latest state), a repeat every
// KeepAlive while nothing changes, and nothing more after a line with a
// final state. The stream also ends, without a final state, when the
// driver shuts down.
func (a *API) events(c echo.Context) error {
	id := c.Param("id")
	j, changed, err := a.m.Watch(id)
	if err != nil {
		return jobError(err, id)
	}
	ctx := c.Request().Context()
	w := c.Response()
	w.Header().Set(echo.HeaderContentType, "application/x-ndjson")
	w.Header().Set(echo.HeaderCacheControl, "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w.Writer)
	enc := json.NewEncoder(w)
	tick := time.NewTicker(a.cfg.KeepAlive)
	defer tick.Stop()
	for {
		j.Spec = ""
		if err := enc.Encode(j); err != nil {
			return nil // the client went away
		}
		rc.Flush()
		if j.State.Final() {
			return nil
		}
		select {
		case <-changed:
		case <-tick.C:
		case <-ctx.Done():
			return nil
		case <-a.m.closing:
			return nil
		}
		if j, changed, err = a.m.Watch(id); err != nil {
			return nil
		}
	}
}

// WorkerList is the body of GET /v1/workers.
type WorkerList struct {
	Workers []Worker `json:"workers"`
}

func (a *API) workers(c echo.Context) error {
	ws := []Worker{}
	if a.cfg.Workers != nil {
		ws = append(ws, a.cfg.Workers()...)
	}
	return c.JSON(http.StatusOK, WorkerList{Workers: ws})
}

// TriggerList is the body of GET /v1/triggers.
type TriggerList struct {
	Triggers []TriggerStatus `json:"triggers"`
}

func (a *API) triggers(c echo.Context) error {
	return c.JSON(http.StatusOK, TriggerList{Triggers: a.m.Triggers()})
}

// FireRequest is the body of POST /v1/triggers/:name/fire.
type FireRequest struct {
	Reason string `json:"reason"`
}

func (a *API) fireTrigger(c echo.Context) error {
	name := c.Param("name")
	var req FireRequest
	if c.Request().ContentLength != 0 {
		if err := json.NewDecoder(io.LimitReader(c.Request().Body, 64<<10)).Decode(&req); err != nil {
			return apiErrorf(http.StatusBadRequest, "the body of POST /v1/triggers/%s/fire is not a JSON object with a reason: %v", name, err)
		}
	}
	if req.Reason == "" {
		req.Reason = "fired through the API"
	}
	if err := a.m.Fire(name, req.Reason); err != nil {
		if errors.Is(err, ErrNotFound) {
			return apiErrorf(http.StatusNotFound, "no triggered job %q", name)
		}
		return err
	}
	return c.NoContent(http.StatusAccepted)
}

func (a *API) stopTrigger(c echo.Context) error {
	name := c.Param("name")
	if err := a.m.StopTrigger(c.Request().Context(), name); err != nil {
		if errors.Is(err, ErrNotFound) {
			return apiErrorf(http.StatusNotFound, "no triggered job %q", name)
		}
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
