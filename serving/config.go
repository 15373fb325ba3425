package serving

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/flintml/flint/internal/bearer"
	"github.com/flintml/flint/log"
	"github.com/flintml/flint/models"
	"github.com/flintml/flint/serving/predlog"
)

// Config configures a Server. The zero value of every field but Registry
// means the default its comment names. A Config must not be modified after
// it is given to New.
type Config struct {
	// Registry holds the models to serve (a local directory or S3; serving
	// does not care). Required.
	Registry *models.Registry
	// Log is where models trained with streaming features find their
	// definitions' changelogs, to fill the features in from the entity key
	// (see features.go). nil: such models are served only with rows that
	// give every feature.
	Log log.Log
	// Addr is where ListenAndServe listens. Default ":8080".
	Addr string
	// WatchInterval is how often the registry is polled for new versions
	// and alias moves. Default models.DefaultWatchInterval (2s).
	WatchInterval time.Duration
	// DefaultAlias names the alias the unversioned routes serve when a
	// model has it (e.g. "production"); without it, or when it is "", they
	// serve the latest version.
	DefaultAlias string
	// VersionCache is how many versions loaded on demand (by
	// /versions/{v} routes, beyond the latest and aliased ones, which are
	// always loaded) are kept. Default 4.
	VersionCache int
	// MaxBodyBytes bounds a request body (after decompression, for
	// Content-Encoding gzip); larger ones get 413. Default 8 MiB.
	MaxBodyBytes int64
	// MaxInFlightBytes bounds the request body bytes the server holds at
	// once, over all requests (decompressed bodies count their
	// decompressed size); a request that would go over gets 503 with
	// Retry-After, counted by flint_serving_shed_requests_total. Default
	// the larger of 64 MiB and MaxBodyBytes; it may not be below
	// MaxBodyBytes.
	MaxInFlightBytes int64
	// StrictFields refuses, with 400, a row that gives a field of the
	// schema the fitted pipeline does not read (the label, the weight, an
	// id no transform takes). By default those are accepted and ignored;
	// only the fields the pipeline reads are required, and a name not in
	// the schema is refused either way.
	StrictFields bool
	// MaxRows bounds the rows of one prediction request; more get 413.
	// Default 10 000.
	MaxRows int
	// Tokens are bearer tokens. With none here or in TokensFile, no
	// route asks for one. ParseTokens reads the tokens-file format, which
	// is also the format of $FLINT_SERVE_TOKENS (see TokensEnv).
	Tokens []Token
	// TokensFile is a file of tokens, one per line: "read TOKEN" or
	// "admin TOKEN"; blank lines and lines starting with '#' are skipped.
	// It is read once, by New.
	TokensFile string
	// TLSCert and TLSKey are PEM files; with both set the server speaks
	// only HTTPS. Both or neither.
	TLSCert, TLSKey string
	// RequestTimeout bounds the work on one request (its context's
	// deadline); a request that runs out gets 503. Default 10s.
	RequestTimeout time.Duration
	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout are the
	// http.Server's. Defaults 10s, 30s, RequestTimeout+10s and 2m.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// LoadTimeout bounds the download and decoding of one model version.
	// Default 2m.
	LoadTimeout time.Duration
	// Logger receives load events and errors, and the access log at level
	// Info. Default slog.Default().
	Logger *slog.Logger
	// AccessLog samples the access log: 0 (the default) logs no request,
	// N >= 1 one request in N (1: every one). Errors the server answers
	// with a 5xx are logged whatever it says; the metrics count every
	// request. A goroutine writes the records, off the request path; see
	// AccessLogBuffer.
	AccessLog int
	// AccessLogBuffer is how many access-log records wait for that
	// goroutine at most; when it is full (the Logger's writer cannot keep
	// up) records are dropped and counted in
	// flint_serving_access_log_dropped_total rather than slowing requests.
	// Default 8192.
	AccessLogBuffer int
	// Version is the server version GET /v2 reports. Default "dev".
	Version string
	// Mounts are more handlers the server serves beside its API, each at
	// its path prefix and below (flint serve --console mounts the web
	// console); they do their own authentication.
	Mounts []Mount
	// WatchURL, when set, is a registry event stream (package
	// models/regevents: GET /v1/registry/events of the flint serve or the
	// flint driver that publishes) the server follows besides polling
	// every WatchInterval: a change there is applied at once, and a
	// reset, or a reconnection that could not resume, re-reads the whole
	// registry. While the stream is down, the poll still finds every change.
	WatchURL string
	// WatchToken is the bearer token sent to WatchURL, if it asks for one.
	WatchToken string
	// PredictionLog, when set, receives a sample of the native predict
	// requests (see package serving/predlog), and every such request gets
	// a request id (RequestIDHeader). The caller creates it and closes it
	// after Shutdown.
	PredictionLog *predlog.Writer
}

// Defaults.
const (
	DefaultAddr             = ":8080"
	DefaultMaxBodyBytes     = 8 << 20
	DefaultMaxRows          = 10_000
	DefaultMaxInFlightBytes = 64 << 20
	DefaultVersionCache     = 4
	DefaultRequestTimeout   = 10 * time.Second
	DefaultLoadTimeout      = 2 * time.Minute
	DefaultAccessLogBuffer  = 8192
)

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.WatchInterval == 0 {
		c.WatchInterval = models.DefaultWatchInterval
	}
	if c.VersionCache == 0 {
		c.VersionCache = DefaultVersionCache
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxInFlightBytes == 0 {
		c.MaxInFlightBytes = max(DefaultMaxInFlightBytes, c.MaxBodyBytes)
	}
	if c.MaxRows == 0 {
		c.MaxRows = DefaultMaxRows
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.AccessLogBuffer == 0 {
		c.AccessLogBuffer = DefaultAccessLogBuffer
	}
	if c.ReadHeaderTimeout == 0 {
		c.ReadHeaderTimeout = 10 * time.Second
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 30 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = c.RequestTimeout + 10*time.Second
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 2 * time.Minute
	}
	if c.LoadTimeout == 0 {
		c.LoadTimeout = DefaultLoadTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	return c
}

// validate reports every problem of a defaulted config at once, each
// naming the field and the value found.
func (c Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Registry == nil {
		bad("Registry: required")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"WatchInterval", c.WatchInterval}, {"RequestTimeout", c.RequestTimeout},
		{"ReadHeaderTimeout", c.ReadHeaderTimeout}, {"ReadTimeout", c.ReadTimeout},
		{"WriteTimeout", c.WriteTimeout}, {"IdleTimeout", c.IdleTimeout}, {"LoadTimeout", c.LoadTimeout},
	} {
		if d.v < 0 {
			bad("%s: must be > 0, got %v", d.name, d.v)
		}
	}
	if c.WriteTimeout > 0 && c.WriteTimeout <= c.RequestTimeout {
		bad("WriteTimeout: must exceed RequestTimeout (%v), got %v", c.RequestTimeout, c.WriteTimeout)
	}
	if c.VersionCache < 0 {
		bad("VersionCache: must be >= 0, got %d", c.VersionCache)
	}
	if c.MaxBodyBytes < 0 {
		bad("MaxBodyBytes: must be > 0, got %d", c.MaxBodyBytes)
	}
	if c.MaxInFlightBytes < c.MaxBodyBytes {
		bad("MaxInFlightBytes: must be >= MaxBodyBytes (%d), got %d", c.MaxBodyBytes, c.MaxInFlightBytes)
	}
	if c.AccessLogBuffer < 0 {
		bad("AccessLogBuffer: must be >= 0, got %d", c.AccessLogBuffer)
	}
	if c.AccessLog < 0 {
		bad("AccessLog: must be >= 0 (0 off, N one request in N), got %d", c.AccessLog)
	}
	if c.MaxRows < 0 {
		bad("MaxRows: must be > 0, got %d", c.MaxRows)
	}
	if c.DefaultAlias != "" {
		if err := models.CheckAlias(c.DefaultAlias); err != nil {
			bad("DefaultAlias: %v", err)
		}
	}
	if c.WatchURL != "" {
		if u, err := url.Parse(c.WatchURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("WatchURL: %q is not an http:// or https:// URL", c.WatchURL)
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad("TLSCert and TLSKey: give both or neither (got cert %q, key %q)", c.TLSCert, c.TLSKey)
	}
	for i, t := range c.Tokens {
		if err := t.check(); err != nil {
			bad("Tokens[%d]: %v", i, err)
		}
	}
	return errors.Join(errs...)
}

// tlsConfig loads the certificate, or returns nil without TLS.
func (c Config) tlsConfig() (*tls.Config, error) {
	if c.TLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("TLSCert %s, TLSKey %s: %w", c.TLSCert, c.TLSKey, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// Scope is what a bearer token allows.
type Scope int

const (
	// ScopeRead allows predictions and metadata.
	ScopeRead Scope = iota + 1
	// ScopeAdmin allows everything ScopeRead does, and moving aliases.
	ScopeAdmin
)

func (s Scope) String() string {
	switch s {
	case ScopeRead:
		return "read"
	case ScopeAdmin:
		return "admin"
	}
	return fmt.Sprintf("Scope(%d)", int(s))
}

// Token is one bearer token and its scope.
type Token struct {
	Scope Scope
	Value string
}

func (t Token) check() error {
	if t.Scope != ScopeRead && t.Scope != ScopeAdmin {
		return fmt.Errorf("scope %v: want ScopeRead or ScopeAdmin", t.Scope)
	}
	if t.Value == "" || strings.ContainsAny(t.Value, " \t\r\n") {
		return errors.New("a token is one non-empty word")
	}
	return nil
}

// TokensEnv is the environment variable the flint command reads tokens
// from (with ParseTokens), in the tokens-file format; entries may also be
// separated by ',' or ';' there.
const TokensEnv = "FLINT_SERVE_TOKENS"

// ParseTokens reads tokens in the tokens-file format: entries "read TOKEN"
// or "admin TOKEN", separated by newlines (or ',' or ';'); blank entries and
// lines starting with '#' are skipped. Errors name source and the entry's
// line.
func ParseTokens(text, source string) ([]Token, error) {
	var out []Token
	var errs []error
	for ln, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, entry := range strings.FieldsFunc(line, func(r rune) bool { return r == ',' || r == ';' }) {
			f := strings.Fields(entry)
			if len(f) == 0 {
				continue
			}
			var t Token
			switch {
			case len(f) != 2:
				errs = append(errs, fmt.Errorf("%s:%d: want \"read TOKEN\" or \"admin TOKEN\", got %d words", source, ln+1, len(f)))
				continue
			case f[0] == "read":
				t.Scope = ScopeRead
			case f[0] == "admin":
				t.Scope = ScopeAdmin
			default:
				errs = append(errs, fmt.Errorf("%s:%d: unknown scope %q: want read or admin", source, ln+1, f[0]))
				continue
			}
			t.Value = f[1]
			out = append(out, t)
		}
	}
	return out, errors.Join(errs...)
}

// TokensFromEnv reads the tokens in $FLINT_SERVE_TOKENS (see ParseTokens).
// Unset or empty, it gives none. Set to text that holds no token (only
// comments, blanks or separators) it is an error, as an empty TokensFile
// is: a mistake there would otherwise turn authentication off.
func TokensFromEnv() ([]Token, error) { return tokensFromEnv(os.Getenv(TokensEnv)) }

func tokensFromEnv(v string) ([]Token, error) {
	if v == "" {
		return nil, nil
	}
	ts, err := ParseTokens(v, "$"+TokensEnv)
	if err != nil {
		return nil, err
	}
	if len(ts) == 0 {
		return nil, fmt.Errorf("$%s is set but holds no tokens (that would turn authentication off); give tokens or unset it", TokensEnv)
	}
	return ts, nil
}

// ReadTokensFile reads a tokens file (see ParseTokens).
func ReadTokensFile(path string) ([]Token, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokens file: %w", err)
	}
	return ParseTokens(string(b), path)
}

// newTokens returns ts as a bearer.Tokens, nil when there are none.
func newTokens(ts []Token) *bearer.Tokens[Scope] {
	if len(ts) == 0 {
		return nil
	}
	var set bearer.Tokens[Scope]
	for _, t := range ts {
		set.Add(t.Value, t.Scope) // a token listed twice gets its wider scope
	}
	return &set
}

// Mount is a handler served at Prefix (e.g. "/console") and every path
// below it.
type Mount struct {
	Prefix  string
	Handler http.Handler
}
