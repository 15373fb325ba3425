// Package bearer is the bearer-token authentication (RFC 6750) that the
// serving API and the job API share: it reads "Authorization: Bearer
// TOKEN" (the scheme in any case), looks the token up in constant time,
// checks its scope, answers a refusal with a WWW-Authenticate: Bearer
// challenge, counts refused requests and logs them, a line per client
// address per minute at most.
//
// Each API renders the refusal in its own error format: Config.Refuse
// turns an *Error into that API's error.
package bearer

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// LogEvery is how often refused requests from one client address are
// logged at most.
const LogEvery = time.Minute

// maxClients bounds the client addresses remembered for the log's rate
// limit; past it the quiet ones are forgotten.
const maxClients = 4096

// Reason is why a request was refused.
type Reason int

const (
	// Missing: no "Authorization: Bearer TOKEN" header.
	Missing Reason = iota + 1
	// Invalid: a token that is not one of the tokens.
	Invalid
	// Forbidden: a valid token of too narrow a scope.
	Forbidden
)

func (r Reason) String() string {
	switch r {
	case Missing:
		return "no bearer token"
	case Invalid:
		return "invalid bearer token"
	case Forbidden:
		return "bearer token of too narrow a scope"
	}
	return fmt.Sprintf("Reason(%d)", int(r))
}

// Error is a refused request: Status is 401 (Missing, Invalid) or 403
// (Forbidden, where Have and Need are the token's and the route's scopes).
type Error[S ~int] struct {
	Status int
	Reason Reason
	Have   S
	Need   S
}

func (e *Error[S]) Error() string { return e.Reason.String() }

// Tokens is a set of tokens, each with a scope; a wider scope is a greater
// value, and allows what every narrower one does. The zero value (and nil)
// holds no token.
type Tokens[S ~int] struct {
	sums   [][sha256.Size]byte
	scopes []S
}

// Add adds token with scope s; a token added twice gets its wider scope.
func (ts *Tokens[S]) Add(token string, s S) {
	ts.sums = append(ts.sums, sha256.Sum256([]byte(token)))
	ts.scopes = append(ts.scopes, s)
}

// Len is the number of tokens added.
func (ts *Tokens[S]) Len() int {
	if ts == nil {
		return 0
	}
	return len(ts.sums)
}

// Scope is token's scope, 0 when it is not one of the tokens. It compares
// token with every token, with crypto/subtle, so the time it takes does
// not depend on which token (if any) matches, nor on how much of one.
func (ts *Tokens[S]) Scope(token string) S {
	if ts == nil {
		return 0
	}
	sum := sha256.Sum256([]byte(token))
	var got S
	for i := range ts.sums {
		eq := subtle.ConstantTimeCompare(sum[:], ts.sums[i][:])
		got = S(subtle.ConstantTimeSelect(eq&subtle.ConstantTimeLessOrEq(int(got), int(ts.scopes[i])), int(ts.scopes[i]), int(got)))
	}
	return got
}

// Config configures a Guard.
type Config[S ~int] struct {
	// Tokens are the tokens accepted, with their scopes.
	Tokens *Tokens[S]
	// Refuse turns a refusal into the API's error, which its error handler
	// renders. The challenge header is already set.
	Refuse func(c echo.Context, e *Error[S]) error
	// Refused, if not nil, counts requests refused with 401 (Missing or
	// Invalid).
	Refused prometheus.Counter
	// Log, if not nil, gets a Warn line LogMsg+": "+reason for requests
	// refused with 401, at most one per client address per LogEvery, with
	// the number refused since that address's last line.
	Log    *slog.Logger
	LogMsg string
	// Now is the clock (time.Now if nil); for tests.
	Now func() time.Time
}

// Guard checks bearer tokens; Require makes its middleware.
type Guard[S ~int] struct {
	cfg Config[S]

	mu      sync.Mutex
	clients map[string]*client
}

type client struct {
	logged time.Time
	since  int // refused since logged
}

// New returns a Guard for cfg. cfg.Tokens and cfg.Refuse must be set.
func New[S ~int](cfg Config[S]) *Guard[S] {
	if cfg.Tokens == nil || cfg.Refuse == nil {
		panic("bearer: Config.Tokens and Config.Refuse must be set")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Guard[S]{cfg: cfg, clients: map[string]*client{}}
}

// Require is middleware that lets through requests with a token of scope
// need or wider.
func (g *Guard[S]) Require(need S) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			token, ok := Parse(c.Request().Header.Get(echo.HeaderAuthorization))
			if !ok {
				return g.refuse(c, &Error[S]{Status: http.StatusUnauthorized, Reason: Missing, Need: need})
			}
			have := g.cfg.Tokens.Scope(token)
			switch {
			case have == 0:
				return g.refuse(c, &Error[S]{Status: http.StatusUnauthorized, Reason: Invalid, Need: need})
			case have < need:
				return g.cfg.Refuse(c, &Error[S]{Status: http.StatusForbidden, Reason: Forbidden, Have: have, Need: need})
			}
			return next(c)
		}
	}
}

// Parse returns the token of an Authorization header value "Bearer TOKEN"
// (the scheme in any case, the token trimmed of spaces), and false when
// h is not one.
func Parse(h string) (string, bool) {
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	return strings.TrimSpace(h[len(prefix):]), true
}

// refuse answers a 401: the challenge, the count, the log line.
func (g *Guard[S]) refuse(c echo.Context, e *Error[S]) error {
	challenge := `Bearer realm="flint"`
	if e.Reason == Invalid {
		challenge += `, error="invalid_token"`
	}
	c.Response().Header().Set(echo.HeaderWWWAuthenticate, challenge)
	if g.cfg.Refused != nil {
		g.cfg.Refused.Inc()
	}
	if g.cfg.Log != nil {
		g.logRefused(c.Request(), e.Reason)
	}
	return g.cfg.Refuse(c, e)
}

func (g *Guard[S]) logRefused(req *http.Request, why Reason) {
	host, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		host = req.RemoteAddr
	}
	now := g.cfg.Now()
	g.mu.Lock()
	if len(g.clients) > maxClients {
		for k, v := range g.clients {
			if now.Sub(v.logged) >= LogEvery {
				delete(g.clients, k)
			}
		}
	}
	cl, ok := g.clients[host]
	if !ok {
		cl = &client{}
		g.clients[host] = cl
	}
	cl.since++
	n := cl.since
	log := now.Sub(cl.logged) >= LogEvery
	if log {
		cl.logged, cl.since = now, 0
	}
	g.mu.Unlock()
	if log {
		g.cfg.Log.Warn(g.cfg.LogMsg+": "+why.String(), "remote", host, "method", req.Method, "path", req.URL.Path,
			"refused", n, "next_log_after", LogEvery)
	}
}
