package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/flintml/flint/internal/bearer"
	"github.com/flintml/flint/internal/console"
	"github.com/flintml/flint/log"
	"github.com/flintml/flint/models"
	"github.com/flintml/flint/serving"
	"github.com/flintml/flint/serving/predlog"
)

type serveOptions struct {
	addr       string
	watch      time.Duration
	alias      string
	maxBody    int64
	maxFlight  int64
	accessLog  int
	strict     bool
	maxRows    int
	tokensFile string
	console    bool
	tlsCert    string
	tlsKey     string
	timeout    time.Duration
	drain      time.Duration
	quiet      bool
	predLog    string
	predSample float64
	watchURL   string
}

func newServeCmd(s streams) *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve predictions from the model store over HTTP",
		Long: `Serve every model in the store (--store) over HTTP: Flint's native JSON API
(/v1/...) and the KServe V2 / Open Inference Protocol (/v2/...), with Prometheus
metrics at /metrics and the OpenAPI document at /openapi.json.

New versions and alias moves are picked up without a restart (the store is polled
every --watch); a version that fails to load leaves the previous one serving. With
--watch-url, the server also follows the registry event stream of the process that
publishes (GET /v1/registry/events of another flint serve, whose admin API moves
aliases, or of flint driver --registry-events) and applies a change at once; the
poll remains the fallback while the stream is down.
SIGTERM or Ctrl-C drains in-flight requests, then exits.

Bearer-token auth is on when --tokens-file (lines "read TOKEN" or "admin TOKEN")
or $FLINT_SERVE_TOKENS holds tokens: read tokens may predict and read metadata,
admin tokens may also move aliases. $FLINT_SERVE_TOKENS set but holding no token
is refused, as an empty --tokens-file is. The start-up line says whether auth is on.

A model trained with streaming features (a job's features: section) is served from
the entity key and the request-time fields alone: the server follows the feature
definition's changelog in the --log (read beside the process that writes it) and
fills the aggregates in as of the row's time field, or the request time.

The access log is off by default; --access-log N logs one request in N.

--prediction-log TOPIC appends a sample (--prediction-log-sample) of the native
predict requests to TOPIC of the --log, one JSON record per request (its body and
the response as they were, model, version, time and request id), for flint
predictions join, which splits them into rows.
Every predict response then carries X-Request-Id (the client's, or a new one).
Logging never slows or fails a prediction: when its queue is full the record is
dropped and counted (flint_prediction_log_dropped_requests_total). With the
embedded log, the server then opens it for writing: no other process may write it.`,
		Example: `  flint serve --addr 127.0.0.1:8080
  flint --store s3://minio:9000/models serve --tokens-file tokens.txt --tls-cert cert.pem --tls-key key.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runServe(cmd, s, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "127.0.0.1:8080", "address to listen on")
	f.DurationVar(&o.watch, "watch", 2*time.Second, "how often the store is polled for new versions and alias moves")
	f.StringVar(&o.alias, "alias", "production", "alias the unversioned routes serve when a model has it (else the latest version)")
	f.Int64Var(&o.maxBody, "max-body-bytes", serving.DefaultMaxBodyBytes, "largest request body; larger ones get 413")
	f.Int64Var(&o.maxFlight, "max-inflight-bytes", 0, "request bytes held at once over all requests; over it, 503 with Retry-After (default the larger of 64 MiB and --max-body-bytes)")
	f.IntVar(&o.accessLog, "access-log", 0, "log one request in N (0: no access log, 1: every request)")
	f.BoolVar(&o.strict, "strict-fields", false, "refuse rows that give schema fields the model does not read (by default they are ignored)")
	f.IntVar(&o.maxRows, "max-rows", serving.DefaultMaxRows, "most rows in one prediction request")
	f.StringVar(&o.tokensFile, "tokens-file", "", "bearer tokens, one per line: \"read TOKEN\" or \"admin TOKEN\"")
	f.BoolVar(&o.console, "console", false, "serve the web console at /console/ (models, this server's traffic, the log when there is one), behind the same tokens")
	f.StringVar(&o.tlsCert, "tls-cert", "", "TLS certificate (PEM); with --tls-key, serve HTTPS only")
	f.StringVar(&o.tlsKey, "tls-key", "", "TLS private key (PEM)")
	f.DurationVar(&o.timeout, "request-timeout", serving.DefaultRequestTimeout, "bound on the work of one request")
	f.DurationVar(&o.drain, "drain-timeout", 30*time.Second, "how long shutdown waits for in-flight requests")
	f.BoolVar(&o.quiet, "quiet", false, "log only warnings and errors (no load events, no access log)")
	f.StringVar(&o.watchURL, "watch-url", "", "registry event stream to follow besides polling (GET /v1/registry/events of the flint serve or flint driver --registry-events that publishes); bearer token from $"+watchTokenEnv)
	f.StringVar(&o.predLog, "prediction-log", "", "topic of the --log to append a sample of the predictions to (off when empty)")
	f.Float64Var(&o.predSample, "prediction-log-sample", 1, "fraction of the predict requests --prediction-log logs, in (0, 1]")
	return cmd
}

func runServe(cmd *cobra.Command, s streams, o serveOptions) error {
	ctx := cmd.Context()
	storeSpec, _ := cmd.Flags().GetString("store")
	reg, err := openRegistry(ctx, storeSpec)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if o.quiet {
		level = slog.LevelWarn
	}
	logger := slog.New(slog.NewJSONHandler(s.err, &slog.HandlerOptions{Level: level}))
	tokens, err := serving.TokensFromEnv()
	if err != nil {
		return err
	}
	// Models trained with streaming features fill them in from their
	// definitions' changelogs in the log, read beside its writer.
	logSpec, _ := cmd.Flags().GetString("log")
	var l log.Log
	var pl *predlog.Writer
	if o.predLog != "" {
		// The prediction log writes: the log is opened for writing, and
		// must be there.
		if l, err = openLog(ctx, logSpec); err != nil {
			return fmt.Errorf("--prediction-log %s: open the log %s for writing: %w", o.predLog, logSpec, err)
		}
		defer l.Close()
		if pl, err = predlog.New(ctx, predlog.Config{Log: l, Topic: o.predLog, Sample: o.predSample, Logger: logger}); err != nil {
			return fmt.Errorf("--prediction-log %s: %w", o.predLog, err)
		}
		defer func() {
			cctx, cancel := context.WithTimeout(context.Background(), o.drain)
			defer cancel()
			if err := pl.Close(cctx); err != nil {
				logger.Warn("flint serve: prediction log", "err", err)
			}
		}()
	} else if l, err = openLogReadOnly(ctx, logSpec); err != nil {
		logger.Info("flint serve: no log to follow feature changelogs in; models with streaming features need every feature in their rows", "log", logSpec, "err", err)
		l = nil
	} else {
		defer l.Close()
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	scheme := "http"
	if o.tlsCert != "" {
		scheme = "https"
	}
	var mounts []serving.Mount
	if o.console {
		con, err := serveConsole(reg, l, scheme+"://"+ln.Addr().String(), tokens, o.tokensFile, logger)
		if err != nil {
			ln.Close()
			return err
		}
		defer con.Close()
		mounts = append(mounts, serving.Mount{Prefix: con.Prefix(), Handler: con})
	}
	srv, err := serving.New(serving.Config{Registry: reg, Log: l, Addr: o.addr, WatchInterval: o.watch, DefaultAlias: o.alias,
		MaxBodyBytes: o.maxBody, MaxInFlightBytes: o.maxFlight, AccessLog: o.accessLog, StrictFields: o.strict, MaxRows: o.maxRows, Tokens: tokens, TokensFile: o.tokensFile, TLSCert: o.tlsCert, TLSKey: o.tlsKey,
		RequestTimeout: o.timeout, Logger: logger, Version: version, PredictionLog: pl,
		WatchURL: o.watchURL, WatchToken: os.Getenv(watchTokenEnv), Mounts: mounts})
	if err != nil {
		ln.Close()
		return err
	}
	auth := "off: no route asks for a token"
	if srv.AuthEnabled() {
		auth = "on"
	}
	fmt.Fprintf(s.err, "flint serve: %s://%s (store %s, auth %s)\n", scheme, ln.Addr(), storeSpec, auth)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	fmt.Fprintln(s.err, "flint serve: shutting down, draining in-flight requests")
	dctx, cancel := context.WithTimeout(context.Background(), o.drain)
	defer cancel()
	if err := srv.Shutdown(dctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return <-errc
}

// serveConsole builds the web console flint serve --console mounts: the
// models of its registry, its own traffic (its /metrics at self), and the
// log when it has one, behind the server's tokens ($FLINT_SERVE_TOKENS and
// --tokens-file, read and admin alike). The console reads the tokens file
// once: a token added to it later is the server's, not the console's, until
// a restart.
func serveConsole(reg *models.Registry, l log.Log, self string, list []serving.Token, file string, logger *slog.Logger) (*console.Console, error) {
	if file != "" {
		text, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("--tokens-file: %w", err)
		}
		more, err := serving.ParseTokens(string(text), file)
		if err != nil {
			return nil, fmt.Errorf("--tokens-file: %w", err)
		}
		list = append(list, more...)
	}
	var ts bearer.Tokens[console.Scope]
	readToken := "" // the console reads the server's /metrics with it
	for _, t := range list {
		scope := console.ScopeRead
		if t.Scope == serving.ScopeAdmin {
			scope = console.ScopeAdmin
		}
		ts.Add(t.Value, scope)
		if readToken == "" || t.Scope == serving.ScopeRead {
			readToken = t.Value
		}
	}
	cfg := console.Config{Models: reg, Servers: []string{self}, ServerToken: readToken, Tokens: &ts, Logger: logger}
	if l != nil { // a nil log.Log, not a typed nil, leaves the log pages out
		cfg.Log = l
	}
	return console.New(cfg)
}
