package console

import (
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/flintml/flint/features"
	"github.com/flintml/flint/features/stream"
	"github.com/flintml/flint/internal/bearer"
	"github.com/flintml/flint/log"
	"github.com/flintml/flint/models"
	"github.com/flintml/flint/trainer/jobs"
)

//go:embed assets
var assets embed.FS

// Jobs is what the console reads of a job manager and, with an admin
// token, asks of it. *jobs.Manager implements it.
type Jobs interface {
	List(state jobs.State) []jobs.Job
	Get(id string) (jobs.Job, error)
	Watch(id string) (jobs.Job, <-chan struct{}, error)
	Cancel(ctx context.Context, id string) (jobs.Job, error)
}

// Models is what the console reads of a model registry and, with an admin
// token, asks of it. *models.Registry implements it.
type Models interface {
	List(ctx context.Context) ([]string, error)
	Describe(ctx context.Context, name string) (*models.Manifest, error)
	Get(ctx context.Context, name string, v int) (*models.Artifact, models.VersionInfo, error)
	SetAliasBy(ctx context.Context, name, alias string, v int, c models.AliasChange) error
}

// Log is what the console reads of a log. Every log.Log implements it.
type Log interface {
	Topics(ctx context.Context) ([]string, error)
	Describe(ctx context.Context, topic string) (log.TopicInfo, error)
	Read(ctx context.Context, topic string, partition int, offset int64, opt log.ReadOptions) ([]log.Record, error)
	OffsetForTime(ctx context.Context, topic string, partition int, t time.Time) (int64, error)
	Groups(ctx context.Context) ([]string, error)
	Committed(ctx context.Context, group, topic string) (map[int]int64, error)
}

// Scope is what a console token allows.
type Scope int

const (
	// ScopeRead shows every page.
	ScopeRead Scope = iota + 1
	// ScopeAdmin also cancels jobs and moves aliases.
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

// Config configures a Console. A nil source leaves its pages out.
type Config struct {
	// Prefix is the path the console is mounted at. "" means "/console".
	Prefix string
	// Jobs lists the jobs (usually a *jobs.Manager).
	Jobs Jobs
	// Curves holds the jobs' iterations, for the loss curves; nil charts
	// only each job's latest iteration.
	Curves *Curves
	// Models is the model registry.
	Models Models
	// Log is the log whose topics and consumer groups are shown.
	Log Log
	// Workers lists the cluster's worker processes (what GET /v1/workers
	// of the job API lists); nil leaves the workers page out.
	Workers func() []jobs.Worker
	// Features are the feature definitions whose processors' lag, table
	// freshness and current values the features page shows (read from
	// Log); none leaves the page out.
	Features []*stream.Definition
	// Schemas are the schemas of topics, by topic, that the record browser
	// decodes with before any it finds in Features or in the jobs' specs
	// (see schemas.go).
	Schemas map[string]features.Schema
	// Servers are the base URLs of flint serve processes whose /metrics
	// the serving page reads (request rate, latency, errors, versions).
	Servers []string
	// ServerToken is sent to Servers as a bearer token, when set.
	ServerToken string
	// HTTPClient scrapes the Servers; nil means one with a 5s timeout.
	HTTPClient *http.Client
	// Tokens are the bearer tokens the console accepts, the same as the
	// APIs beside it. Nil or empty leaves the console open, with admin
	// rights, as those APIs are then.
	Tokens *bearer.Tokens[Scope]
	// Poll is how often live lists (jobs) are refreshed. 0 means 1s.
	Poll time.Duration
	// PageSize is the rows a long list shows at once. 0 means 100.
	PageSize int
	// Logger receives errors; nil means slog.Default().
	Logger *slog.Logger
}

// Console is the web console: an http.Handler serving the pages under
// Config.Prefix. It is safe for concurrent use.
type Console struct {
	cfg   Config
	pages map[string]*template.Template
	mux   *http.ServeMux
	log   *slog.Logger

	mu      sync.Mutex
	scrapes map[string]*serverScrape // the latest scrape of each server, for rates
	schemas *schemaBook              // topics' schemas from the jobs' specs

	live liveRenders // a running job's live fragments, rendered once for all its streams

	closeOnce sync.Once
	done      chan struct{} // closed by Close: live streams end
}

// New builds the console's handler.
func New(cfg Config) (*Console, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = "/console"
	}
	cfg.Prefix = strings.TrimSuffix(cfg.Prefix, "/")
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 100
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	}
	c := &Console{cfg: cfg, log: cfg.Logger, done: make(chan struct{}), scrapes: map[string]*serverScrape{},
		schemas: &schemaBook{specs: map[string]jobSource{}}}
	for topic, s := range cfg.Schemas {
		if err := s.Validate(); err != nil {
			return nil, fmt.Errorf("console: schema of topic %q: %w", topic, err)
		}
	}
	var err error
	if c.pages, err = parsePages(); err != nil {
		return nil, err
	}
	c.routes()
	return c, nil
}

// ServeHTTP implements http.Handler.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.mux.ServeHTTP(w, r) }

// Close ends the live streams (server-sent events) the console is
// serving, so that the server's Shutdown does not wait on them; pass it to
// http.Server.RegisterOnShutdown. Pages are still served after it.
func (c *Console) Close() error {
	c.closeOnce.Do(func() { close(c.done) })
	return nil
}

// Prefix is the path the console is mounted at, without a trailing slash.
func (c *Console) Prefix() string { return c.cfg.Prefix }

func (c *Console) routes() {
	p := c.cfg.Prefix
	m := http.NewServeMux()
	static, _ := fs.Sub(assets, "assets/static")
	m.Handle("GET "+p+"/static/", http.StripPrefix(p+"/static/", cacheStatic(http.FileServerFS(static))))
	m.HandleFunc("GET "+p+"/login", c.loginPage)
	m.HandleFunc("POST "+p+"/login", c.login)
	m.HandleFunc("POST "+p+"/logout", c.logout)
	m.HandleFunc("GET "+p+"/{$}", c.read(c.home))
	m.HandleFunc("GET "+p, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, p+"/", http.StatusMovedPermanently) })
	if c.cfg.Jobs != nil {
		m.HandleFunc("GET "+p+"/jobs", c.read(c.jobsPage))
		m.HandleFunc("GET "+p+"/jobs/events", c.read(c.jobsEvents))
		m.HandleFunc("GET "+p+"/jobs/{id}", c.read(c.jobPage))
		m.HandleFunc("GET "+p+"/jobs/{id}/events", c.read(c.jobEvents))
		m.HandleFunc("POST "+p+"/jobs/{id}/cancel", c.admin(c.cancelJob))
	}
	if c.cfg.Models != nil {
		m.HandleFunc("GET "+p+"/models", c.read(c.modelsPage))
		m.HandleFunc("GET "+p+"/models/{name}", c.read(c.modelPage))
		m.HandleFunc("GET "+p+"/models/{name}/compare", c.read(c.comparePage))
		m.HandleFunc("POST "+p+"/models/{name}/promote", c.admin(c.promote))
	}
	if len(c.cfg.Servers) > 0 {
		m.HandleFunc("GET "+p+"/serving", c.read(c.servingPage))
		m.HandleFunc("GET "+p+"/serving/events", c.read(c.servingEvents))
	}
	if c.cfg.Workers != nil {
		m.HandleFunc("GET "+p+"/workers", c.read(c.workersPage))
		m.HandleFunc("GET "+p+"/workers/events", c.read(c.workersEvents))
	}
	if c.cfg.Log != nil && len(c.cfg.Features) > 0 {
		m.HandleFunc("GET "+p+"/features", c.read(c.featuresPage))
		m.HandleFunc("GET "+p+"/features/events", c.read(c.featuresEvents))
	}
	if c.cfg.Log != nil {
		m.HandleFunc("GET "+p+"/log", c.read(c.logPage))
		m.HandleFunc("GET "+p+"/log/topics/{topic}", c.read(c.topicPage))
	}
	c.mux = m
}

func cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=300")
		h.ServeHTTP(w, r)
	})
}

// home sends the browser to the first section the console has.
func (c *Console) home(w http.ResponseWriter, r *http.Request, _ Scope) {
	to := "/log"
	switch {
	case c.cfg.Jobs != nil:
		to = "/jobs"
	case c.cfg.Models != nil:
		to = "/models"
	}
	http.Redirect(w, r, c.cfg.Prefix+to, http.StatusSeeOther)
}

// view is what every page template gets.
type view struct {
	Title   string
	Prefix  string
	Section string
	Scope   Scope
	Admin   bool
	Open    bool // no token configured
	Jobs    bool // the sections there are
	Models  bool
	Log     bool
	Workers bool
	Serving bool
	Feats   bool
	Events  string // the page's server-sent events URL, if live
	Data    any
}

func (c *Console) view(title, section string, s Scope, data any) view {
	return view{Title: title, Prefix: c.cfg.Prefix, Section: section, Scope: s, Admin: s >= ScopeAdmin,
		Open: c.cfg.Tokens.Len() == 0, Jobs: c.cfg.Jobs != nil, Models: c.cfg.Models != nil, Log: c.cfg.Log != nil, Workers: c.cfg.Workers != nil, Serving: len(c.cfg.Servers) > 0,
		Feats: c.cfg.Log != nil && len(c.cfg.Features) > 0, Data: data}
}

// render writes page name with v, or a 500 naming what failed.
func (c *Console) render(w http.ResponseWriter, name string, v view) {
	c.renderStatus(w, http.StatusOK, name, v)
}

func (c *Console) renderStatus(w http.ResponseWriter, status int, name string, v view) {
	t := c.pages[name]
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "base", v); err != nil {
		c.log.Error("console: render page", "page", name, "err", err)
		http.Error(w, "console: render "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

// fragment renders template name of page into a string, for a live update.
func (c *Console) fragment(page, name string, data any) (string, error) {
	var b strings.Builder
	if err := c.pages[page].ExecuteTemplate(&b, name, data); err != nil {
		return "", fmt.Errorf("console: render %s of %s: %w", name, page, err)
	}
	return b.String(), nil
}

// fail answers a request that could not be served with a page saying why.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s Scope, status int, err error) {
	if status >= 500 {
		c.log.Warn("console: request failed", "path", r.URL.Path, "err", err)
	}
	c.renderStatus(w, status, "error", c.view("Error", "", s, err.Error()))
}
