package bearer

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

type scope int

const (
	read scope = iota + 1
	admin
)

// server is an echo server with /read and /admin behind a Guard whose
// refusals are rendered as "status reason" text.
type server struct {
	e       *echo.Echo
	refused prometheus.Counter
	logs    *bytes.Buffer
	now     time.Time
}

func newServer(t *testing.T) *server {
	t.Helper()
	var ts Tokens[scope]
	ts.Add("r-token", read)
	ts.Add("a-token", admin)
	ts.Add("both", read)
	ts.Add("both", admin)
	s := &server{
		e:       echo.New(),
		refused: prometheus.NewCounter(prometheus.CounterOpts{Name: "refused_total", Help: "refused"}),
		logs:    new(bytes.Buffer),
		now:     time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	g := New(Config[scope]{
		Tokens: &ts,
		Refuse: func(_ echo.Context, e *Error[scope]) error {
			return echo.NewHTTPError(e.Status, e.Reason.String())
		},
		Refused: s.refused,
		Log:     slog.New(slog.NewTextHandler(s.logs, nil)),
		LogMsg:  "test: refused",
		Now:     func() time.Time { return s.now },
	})
	ok := func(c echo.Context) error { return c.String(http.StatusOK, "ok") }
	s.e.GET("/read", ok, g.Require(read))
	s.e.GET("/admin", ok, g.Require(admin))
	return s
}

func (s *server) do(path, auth, remote string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if remote != "" {
		req.RemoteAddr = remote
	}
	w := httptest.NewRecorder()
	s.e.ServeHTTP(w, req)
	return w
}

func TestRequire(t *testing.T) {
	for _, c := range []struct {
		name, path, auth string
		status           int
		challenge        string // WWW-Authenticate, "" for none
		counted          bool
	}{
		{"missing header", "/read", "", 401, `Bearer realm="flint"`, true},
		{"wrong scheme", "/read", "Basic ci10b2tlbg==", 401, `Bearer realm="flint"`, true},
		{"scheme without token", "/read", "Bearer ", 401, `Bearer realm="flint"`, true},
		{"wrong token", "/read", "Bearer nope", 401, `Bearer realm="flint", error="invalid_token"`, true},
		{"token prefix", "/read", "Bearer r-toke", 401, `Bearer realm="flint", error="invalid_token"`, true},
		{"read token", "/read", "Bearer r-token", 200, "", false},
		{"scheme in any case", "/read", "bEaReR r-token", 200, "", false},
		{"spaces around token", "/read", "Bearer   r-token ", 200, "", false},
		{"admin token on read route", "/read", "Bearer a-token", 200, "", false},
		{"read token on admin route", "/admin", "Bearer r-token", 403, "", false},
		{"admin token", "/admin", "Bearer a-token", 200, "", false},
		{"token listed twice gets its wider scope", "/admin", "Bearer both", 200, "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newServer(t)
			w := s.do(c.path, c.auth, "")
			if w.Code != c.status {
				t.Fatalf("status %d, want %d (%s)", w.Code, c.status, w.Body)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != c.challenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, c.challenge)
			}
			want := 0.0
			if c.counted {
				want = 1
			}
			if n := testutil.ToFloat64(s.refused); n != want {
				t.Errorf("counted %v refused, want %v", n, want)
			}
			if logged := strings.Count(s.logs.String(), "test: refused"); logged != int(want) {
				t.Errorf("%d log lines, want %v:\n%s", logged, want, s.logs)
			}
		})
	}
}

func TestForbiddenError(t *testing.T) {
	var ts Tokens[scope]
	ts.Add("r", read)
	var got *Error[scope]
	g := New(Config[scope]{Tokens: &ts, Refuse: func(_ echo.Context, e *Error[scope]) error { got = e; return e }})
	e := echo.New()
	e.GET("/admin", func(c echo.Context) error { return nil }, g.Require(admin))
	req := httptest.NewRequest(http.MethodGet, "/admin", nil)
	req.Header.Set("Authorization", "Bearer r")
	e.ServeHTTP(httptest.NewRecorder(), req)
	if want := (Error[scope]{Status: 403, Reason: Forbidden, Have: read, Need: admin}); got == nil || *got != want {
		t.Errorf("error %+v, want %+v", got, want)
	}
	var target *Error[scope]
	if !errors.As(error(got), &target) {
		t.Error("errors.As does not find *Error")
	}
}

// TestLogRateLimit: a line per client address per LogEvery at most, with
// the number refused since the last; every refusal is counted.
func TestLogRateLimit(t *testing.T) {
	s := newServer(t)
	for range 3 {
		s.do("/read", "Bearer nope", "10.0.0.1:1234")
	}
	s.do("/read", "", "10.0.0.2:5678") // another client: its own line
	s.now = s.now.Add(LogEvery - time.Second)
	s.do("/read", "", "10.0.0.1:999") // same host, other port: still quiet
	if n := strings.Count(s.logs.String(), "test: refused"); n != 2 {
		t.Fatalf("%d lines, want 2:\n%s", n, s.logs)
	}
	s.now = s.now.Add(time.Second)
	s.do("/read", "Bearer nope", "10.0.0.1:1234")
	lines := strings.Split(strings.TrimSpace(s.logs.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), s.logs)
	}
	for i, want := range []string{
		`msg="test: refused: invalid bearer token" remote=10.0.0.1 method=GET path=/read refused=1`,
		`msg="test: refused: no bearer token" remote=10.0.0.2 method=GET path=/read refused=1`,
		`msg="test: refused: invalid bearer token" remote=10.0.0.1 method=GET path=/read refused=4`,
	} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d: %s\nwant it to hold %s", i, lines[i], want)
		}
	}
	if n := testutil.ToFloat64(s.refused); n != 6 {
		t.Errorf("counted %v refused, want 6", n)
	}
	// 200s and 403s are neither counted nor logged.
	s.do("/read", "Bearer r-token", "10.0.0.3:1")
	s.do("/admin", "Bearer r-token", "10.0.0.3:1")
	if n := testutil.ToFloat64(s.refused); n != 6 {
		t.Errorf("counted %v refused after a 200 and a 403, want 6", n)
	}
}

// TestClientsBounded: past maxClients addresses, the quiet ones are
// forgotten.
func TestClientsBounded(t *testing.T) {
	s := newServer(t)
	g := New(Config[scope]{Tokens: &Tokens[scope]{}, Refuse: func(echo.Context, *Error[scope]) error { return nil },
		Log: slog.New(slog.DiscardHandler), Now: func() time.Time { return s.now }})
	for i := range maxClients + 1 {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = fmt.Sprintf("10.1.%d.%d:1", i/256, i%256)
		g.logRefused(req, Missing)
	}
	s.now = s.now.Add(LogEvery)
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	g.logRefused(req, Missing)
	if n := len(g.clients); n != 1 {
		t.Errorf("%d clients remembered, want 1", n)
	}
}

func TestTokensScope(t *testing.T) {
	var nilTokens *Tokens[scope]
	if nilTokens.Scope("x") != 0 || nilTokens.Len() != 0 {
		t.Error("nil Tokens holds a token")
	}
	var ts Tokens[scope]
	ts.Add("a", admin)
	ts.Add("a", read) // the wider scope stays
	ts.Add("r", read)
	for tok, want := range map[string]scope{"a": admin, "r": read, "": 0, "ab": 0, "A": 0} {
		if got := ts.Scope(tok); got != want {
			t.Errorf("Scope(%q) = %v, want %v", tok, got, want)
		}
	}
}

func TestParse(t *testing.T) {
	for h, want := range map[string]string{"Bearer x": "x", "BEARER  x ": "x", "bearer": "", "Bearer": "", "Basic x": "", "Bearerx": ""} {
		got, ok := Parse(h)
		if got != want || ok != (want != "") {
			t.Errorf("Parse(%q) = %q, %v; want %q", h, got, ok, want)
		}
	}
}
