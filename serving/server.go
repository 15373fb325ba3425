package serving

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flintml/flint/features/stream"
	"github.com/flintml/flint/internal/bearer"
	"github.com/flintml/flint/models"
	"github.com/flintml/flint/models/regevents"
)

// Server serves the models of a registry over HTTP: the native API, the
// KServe V2 protocol, Prometheus metrics and its OpenAPI document. Create
// it with New, run it with Serve or ListenAndServe, stop it with Shutdown.
// A Server is safe for concurrent use.
type Server struct {
	cfg      Config
	log      *slog.Logger
	echo     *echo.Echo
	http     *http.Server
	guard    *bearer.Guard[Scope] // nil: no route asks for a token
	metrics  *metrics
	adapters map[string]adapter // set before Start; read-only after
	cache    *versionCache
	openapi  []byte
	bodies   sync.Pool     // *[]byte request bodies
	flight   *inflight     // request bytes held now
	seq      atomic.Uint64 // requests seen, for sampling the access log
	access   *accessLog    // nil when Config.AccessLog is 0
	ctxs     sync.Pool     // *reqCtx

	// hub streams the registry changes made through this server (GET
	// /v1/registry/events).
	hub *regevents.Hub

	snap atomic.Pointer[snapshot] // what is served now; swapped whole

	loadMu  sync.Mutex          // serialises snapshot changes (the loader, admin refreshes)
	retries map[string]*backoff // guarded by loadMu: models with failed loads

	startOnce  sync.Once
	mu         sync.Mutex                 // guards the fields below
	stop       context.CancelFunc         // stops the loader goroutine StartLoader started
	life       context.Context            // the loader's: ends when the server stops
	replicas   map[string]*stream.Replica // streaming-feature replicas by definition name
	loaderDone chan struct{}              // closed when it has exited
	closed     bool
	ln         net.Listener
	reaper     *reaper // the connections' deadlines; nil before Serve
}

// New checks cfg and builds a server. It starts nothing: Serve (or
// StartLoader) starts loading models.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("serving: %w", err)
	}
	tokens := slices.Clone(cfg.Tokens)
	if cfg.TokensFile != "" {
		ts, err := ReadTokensFile(cfg.TokensFile)
		if err != nil {
			return nil, fmt.Errorf("serving: TokensFile: %w", err)
		}
		if len(ts) == 0 {
			return nil, fmt.Errorf("serving: TokensFile %s has no tokens (an empty file would turn authentication off)", cfg.TokensFile)
		}
		tokens = append(tokens, ts...)
	}
	tlsConfig, err := cfg.tlsConfig()
	if err != nil {
		return nil, fmt.Errorf("serving: %w", err)
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		metrics:  newMetrics(),
		adapters: defaultAdapters(),
		cache:    newVersionCache(cfg.VersionCache),
		retries:  map[string]*backoff{},
		flight:   &inflight{max: cfg.MaxInFlightBytes},
		hub:      regevents.NewHub(cfg.Registry),
	}
	if ts := newTokens(tokens); ts != nil {
		s.guard = bearer.New(bearer.Config[Scope]{
			Tokens:  ts,
			Refuse:  refuseAuth,
			Refused: s.metrics.authRefused,
			Log:     s.log,
			LogMsg:  "serving: refused a request",
		})
	}
	s.metrics.watchInflight(s.flight)
	if cfg.AccessLog > 0 {
		s.access = newAccessLog(s.log, cfg.AccessLogBuffer, s.metrics.accessDropped)
	}
	if cfg.PredictionLog != nil {
		s.metrics.reg.MustRegister(cfg.PredictionLog.Collectors()...)
	}
	s.bodies.New = func() any { return new([]byte) }
	s.ctxs.New = func() any { return new(reqCtx) }
	s.snap.Store(newSnapshot(map[string]*modelState{}, false))
	s.echo = s.newEcho()
	s.http = &http.Server{
		Handler:           s.echo,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	if s.openapi, err = openAPIDocument(s.routes()); err != nil {
		return nil, fmt.Errorf("serving: build the OpenAPI document: %w", err)
	}
	return s, nil
}

// Serve starts the model loader (see StartLoader) and serves HTTP, or HTTPS when
// Config.TLSCert is set, on ln until Shutdown; then it returns nil.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("serving: Serve after Shutdown")
	}
	s.ln = ln
	if s.reaper == nil {
		h := s.http
		s.reaper = newReaper(deadlineGrain(h.ReadHeaderTimeout, h.ReadTimeout, h.WriteTimeout, h.IdleTimeout))
	}
	s.mu.Unlock()
	s.log.Info("serving: listening", "addr", ln.Addr().String(), "tls", s.http.TLSConfig != nil, "auth", s.AuthEnabled(),
		"max_inflight_bytes", s.cfg.MaxInFlightBytes)
	s.StartLoader()
	var err error
	if s.http.TLSConfig != nil {
		err = s.http.ServeTLS(&countingListener{Listener: ln, m: s.metrics, r: s.reaper}, "", "")
	} else {
		err = s.http.Serve(&countingListener{Listener: ln, m: s.metrics, r: s.reaper, count: true})
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil // Shutdown stops the reaper once the connections drain
	}
	// The listener failed and no Shutdown may follow: the reaper stops
	// here, and the connections still open keep their deadlines on their
	// sockets.
	s.reaper.stop()
	return err
}

// ListenAndServe listens on Config.Addr and calls Serve.
func (s *Server) ListenAndServe() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("serving: %w", err)
	}
	return s.Serve(ln)
}

// AuthEnabled reports whether routes ask for a bearer token: whether the
// server has tokens.
func (s *Server) AuthEnabled() bool { return s.guard != nil }

// Addr is the address Serve listens on, or nil before Serve.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Shutdown stops accepting connections, waits for the requests in flight
// to finish (or for ctx to end), and stops the model loader and the loads
// on demand. The caller wires signals (SIGTERM) to it.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	stop, done, reaper := s.stop, s.loaderDone, s.reaper
	s.mu.Unlock()
	err := errors.Join(s.http.Shutdown(ctx), s.cache.close(ctx))
	if reaper != nil {
		reaper.stop()
	}
	if s.access != nil {
		err = errors.Join(err, s.access.stop(ctx))
	}
	if stop != nil {
		stop()
		select {
		case <-done:
		case <-ctx.Done():
			err = errors.Join(err, fmt.Errorf("serving: wait for the model loader: %w", ctx.Err()))
		}
	}
	if err != nil {
		return fmt.Errorf("serving: shutdown: %w", err)
	}
	return nil
}

// Ready reports whether the server is ready for inference: the whole
// registry has been listed and every model with versions has one serving
// its unversioned routes. It is what GET /v2/health/ready answers.
func (s *Server) Ready() bool { return s.snap.Load().ready }

// WaitReady blocks until Ready or until ctx ends.
func (s *Server) WaitReady(ctx context.Context) error {
	for {
		snap := s.snap.Load()
		if snap.ready {
			return nil
		}
		select {
		case <-snap.replaced:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Handler is the server's HTTP handler, with every route and middleware
// (for benchmarks and in-process use; models load once StartLoader is
// called).
func (s *Server) Handler() http.Handler { return s.echo }

// reqCtx is the echo.Context handlers see: it carries what the access log
// and the metrics report about the request.
type reqCtx struct {
	echo.Context
	model *loadedModel // the model version that served the request
	rows  int          // rows predicted
	// ctx is the request's context bounded by Config.RequestTimeout on
	// the routes that have one (see withTimeout); nil elsewhere.
	ctx   *deadlineCtx
	start time.Time // when observe took the request
}

// requestContext is the context a handler works under: the request's,
// bounded by Config.RequestTimeout on the routes that have one.
func requestContext(c echo.Context) context.Context {
	if rc, ok := c.(*reqCtx); ok && rc.ctx != nil {
		return rc.ctx
	}
	return c.Request().Context()
}

// infoOf returns the request's reqCtx; a handler run without observe
// (through e.NewContext in a test) records into a throwaway one.
func infoOf(c echo.Context) *reqCtx {
	if rc, ok := c.(*reqCtx); ok {
		return rc
	}
	return &reqCtx{}
}

func (s *Server) newEcho() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Use(s.observe)
	for _, r := range s.routes() {
		var mw []echo.MiddlewareFunc
		if r.scope != 0 && s.guard != nil {
			mw = append(mw, s.guard.Require(r.scope))
		}
		if r.timeout {
			mw = append(mw, s.withTimeout)
		}
		// Chained here, once: echo would chain a route's middleware
		// again on every request (a closure allocated per middleware).
		h := r.handler
		for i := len(mw) - 1; i >= 0; i-- {
			h = mw[i](h)
		}
		e.Add(r.method, r.path, h)
	}
	for _, m := range s.cfg.Mounts {
		h := echo.WrapHandler(m.Handler)
		e.Any(m.Prefix, h)
		e.Any(m.Prefix+"/*", h)
	}
	return e
}

// observe records every request: metrics, and an access-log record for one
// request in Config.AccessLog, which a goroutine of the access log writes
// (see accessLog). It also recovers a handler's panic (see recovered).
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		rc := s.ctxs.Get().(*reqCtx)
		*rc = reqCtx{Context: c, start: start}
		if err := s.recovered(next, rc); err != nil {
			c.Error(err)
		}
		d := time.Since(start)
		status := c.Response().Status
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		var model, version string
		code := codeLabel(status)
		if lm := rc.model; lm != nil {
			model, version = lm.name, lm.versionStr
			o := s.metrics.observers(lm, route, code)
			o.requests.Inc()
			o.latency.Observe(d.Seconds())
			if rc.rows > 0 && status == http.StatusOK {
				o.rows.Add(float64(rc.rows))
			}
		} else {
			s.metrics.requests.WithLabelValues(route, "", "", code).Inc()
			s.metrics.latency.WithLabelValues(route, "", "", code).Observe(d.Seconds())
		}
		r := c.Request()
		if n := uint64(s.cfg.AccessLog); n > 0 && s.seq.Add(1)%n == 0 && s.log.Enabled(r.Context(), slog.LevelInfo) {
			s.access.add(accessRecord{method: r.Method, path: r.URL.Path, status: status, latency: d,
				model: model, version: version, rows: rc.rows, remote: r.RemoteAddr})
		}
		*rc = reqCtx{}
		s.ctxs.Put(rc)
		return nil
	}
}

// recovered runs next, turning a panic into an error (answered 500) and
// an Error log line with the goroutine's stack; http.ErrAbortHandler
// panics on, for net/http to abort the response.
func (s *Server) recovered(next echo.HandlerFunc, c echo.Context) (err error) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if r == http.ErrAbortHandler {
			panic(r)
		}
		perr, ok := r.(error)
		if !ok {
			perr = fmt.Errorf("%v", r)
		}
		stack := make([]byte, 4<<10)
		stack = stack[:runtime.Stack(stack, false)]
		req := c.Request()
		s.log.Error("serving: handler panicked", "method", req.Method, "path", req.URL.Path, "err", perr, "stack", string(stack))
		err = fmt.Errorf("handler panicked: %w", perr)
	}()
	return next(c)
}

// refuseAuth is the answer to a request without a token of the route's
// scope (RFC 6750).
func refuseAuth(_ echo.Context, e *bearer.Error[Scope]) error {
	switch e.Reason {
	case bearer.Missing:
		return errorf(http.StatusUnauthorized, "this route needs a bearer token (Authorization: Bearer TOKEN)")
	case bearer.Invalid:
		return errorf(http.StatusUnauthorized, "the bearer token is not valid")
	}
	return errorf(http.StatusForbidden, "this route needs a token of scope %s; yours is %s", e.Need, e.Have)
}

// withTimeout bounds the request's context by Config.RequestTimeout from
// when observe took it: the context requestContext returns. Behind
// observe it is kept in the reqCtx, which saves copying the http.Request
// (Request.WithContext, 270 B a request); elsewhere (a test's
// echo.Context) it replaces the request's, timed from now.
func (s *Server) withTimeout(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		rc, ok := c.(*reqCtx)
		if !ok {
			ctx := withDeadline(c.Request().Context(), time.Now().Add(s.cfg.RequestTimeout))
			defer ctx.release()
			c.SetRequest(c.Request().WithContext(ctx))
			return next(c)
		}
		ctx := withDeadline(c.Request().Context(), rc.start.Add(s.cfg.RequestTimeout))
		defer ctx.release()
		rc.ctx = ctx
		defer func() { rc.ctx = nil }()
		return next(c)
	}
}

// errorBody is the body of every error response: the V2 protocol's
// "Inference Response JSON Error Object" ({"error": "..."}); the native
// API adds the row and field a decoding error is about.
type errorBody struct {
	Error string  `json:"error"`
	Row   *int    `json:"row,omitempty"`
	Field *string `json:"field,omitempty"`
}

// handleError is the one place errors become responses.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	r := c.Request()
	status, msg := http.StatusInternalServerError, "internal server error"
	var body errorBody
	var re *requestError
	var he *echo.HTTPError
	var ne *models.NameError
	switch {
	case errors.As(err, &re):
		status, msg = re.Status, re.Msg
		if re.RetryAfter > 0 {
			c.Response().Header().Set("Retry-After", strconv.Itoa(re.RetryAfter))
		}
		if re.Close {
			c.Response().Header().Set(echo.HeaderConnection, "close")
		}
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			if re.Row >= 0 {
				body.Row = &re.Row
			}
			if re.Field != "" {
				body.Field = &re.Field
			}
		}
	case errors.Is(err, echo.ErrNotFound):
		status, msg = http.StatusNotFound, fmt.Sprintf("no route for %s %s (see /openapi.json)", r.Method, r.URL.Path)
	case errors.Is(err, echo.ErrMethodNotAllowed):
		status, msg = http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed on %s", r.Method, r.URL.Path)
	case errors.As(err, &he):
		status, msg = he.Code, fmt.Sprint(he.Message)
	case errors.Is(err, context.DeadlineExceeded):
		status, msg = http.StatusServiceUnavailable, fmt.Sprintf("the request took longer than %v", s.cfg.RequestTimeout)
	case errors.Is(err, context.Canceled):
		status, msg = http.StatusServiceUnavailable, "the request was canceled"
	case errors.As(err, &ne):
		status, msg = http.StatusBadRequest, ne.Error()
	}
	if status >= 500 {
		attrs := []any{"method", r.Method, "path", r.URL.Path, "status", status, "err", err}
		if re != nil && re.Cause != nil {
			attrs = append(attrs, "cause", re.Cause)
		}
		s.log.Error("serving: request failed", attrs...)
	}
	body.Error = msg
	if r.Method == http.MethodHead {
		err = c.NoContent(status)
	} else {
		err = c.JSON(status, body)
	}
	if err != nil {
		s.log.Warn("serving: write error response", "path", r.URL.Path, "err", err)
	}
}

// predict serves POST /v1/models/{model}[/versions/{version}|/aliases/{alias}]/predict.
func (s *Server) predict(kind refKind, param string) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := requestContext(c)
		lm, err := s.resolve(ctx, c.Param("model"), kind, c.Param(param), false)
		if err != nil {
			return err
		}
		rc := infoOf(c)
		rc.model = lm
		if lm.pred == nil {
			return badRequest("model %q version %d (%s) does not predict rows; see /v1/models/%s/recommend", lm.name, lm.version, lm.algorithm, lm.name)
		}
		body, held, err := s.readBody(c.Request())
		if err != nil {
			return err
		}
		defer held.release()
		w := lm.getWorker()
		defer lm.putWorker(w)
		if err := lm.decodeNative(ctx, w, body, s.cfg.MaxRows); err != nil {
			return err
		}
		out, err := lm.encodeNative(w)
		if err != nil {
			return err
		}
		rc.rows = w.rows
		s.logPrediction(c, lm, body, out)
		return writeJSON(c, out)
	}
}

// infer serves POST /v2/models/{model}[/versions/{version}]/infer.
func (s *Server) infer(kind refKind) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := requestContext(c)
		lm, err := s.resolve(ctx, c.Param("model"), kind, c.Param("version"), true)
		if err != nil {
			return err
		}
		rc := infoOf(c)
		rc.model = lm
		if lm.pred == nil {
			return badRequest("model %q version %d (%s) does not take input tensors", lm.name, lm.version, lm.algorithm)
		}
		body, held, err := s.readBody(c.Request())
		if err != nil {
			return err
		}
		defer held.release()
		w := lm.getWorker()
		defer lm.putWorker(w)
		req, err := lm.decodeV2(ctx, w, body, s.cfg.MaxRows)
		if err != nil {
			return err
		}
		out, err := lm.encodeV2(w, req)
		if err != nil {
			return err
		}
		rc.rows = w.rows
		return writeJSON(c, out)
	}
}

// jsonContentType is the Content-Type header of every prediction, shared:
// net/http only reads it.
var jsonContentType = []string{echo.MIMEApplicationJSON}

// writeJSON answers 200 with the JSON body out: c.Blob without setting the
// header through Header.Set, which canonicalises its key and allocates
// the value's slice on every request.
func writeJSON(c echo.Context, out []byte) error {
	r := c.Response()
	r.Header()[echo.HeaderContentType] = jsonContentType
	r.WriteHeader(http.StatusOK)
	_, err := r.Write(out)
	return err
}

func (s *Server) serveOpenAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, s.openapi)
}

func (s *Server) serveMetrics() echo.HandlerFunc {
	return echo.WrapHandler(promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}))
}
