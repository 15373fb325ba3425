package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/flintml/flint/cluster/remote"
	"github.com/flintml/flint/internal/bearer"
	"github.com/flintml/flint/internal/console"
	"github.com/flintml/flint/internal/logspec"
	"github.com/flintml/flint/log"
	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/models"
	"github.com/flintml/flint/models/regevents"
	"github.com/flintml/flint/serving"
	"github.com/flintml/flint/trainer/jobs"
)

type driverOptions struct {
	listen     string
	heartbeat  time.Duration
	timeout    time.Duration
	secretFile string
	tls        tlsFlags
	jobs       jobsOptions
}

// jobsOptions are the flags of the HTTP job API, shared by flint driver and
// flint up.
type jobsOptions struct {
	http            string
	checkpointEvery int
	maxConcurrent   int
	minWorkers      int
	workerWait      time.Duration
	jobRetries      int
	retryFor        time.Duration
	consoleTokens   string
	consoleServers  []string
	consoleFeatures []string
	consoleSchemas  []string
	serverTokenFile string
	events          string
}

func (o *jobsOptions) add(f *pflag.FlagSet, defaultHTTP, httpUsage string) {
	f.StringVar(&o.http, "http", defaultHTTP, httpUsage)
	f.IntVar(&o.checkpointEvery, "checkpoint-every", 0, "iterations between optimiser checkpoints in the store (default: the job's engine.checkpoint_every, else 10)")
	f.IntVar(&o.maxConcurrent, "max-concurrent", 1, "jobs run at once; the others wait in submission order")
	f.IntVar(&o.minWorkers, "min-workers", 1, "live workers a job waits for before it starts")
	f.DurationVar(&o.workerWait, "worker-wait", 90*time.Second, "how long a call waits for a worker to (re)join when none is alive before it fails (0: it fails at once)")
	f.IntVar(&o.jobRetries, "job-retries", 5, "times a job is started again from its checkpoint after a transient failure (no live worker, the log unreachable); 0: never")
	f.DurationVar(&o.retryFor, "retry-for", 10*time.Minute, "how long after its first transient failure a job is retried")
	f.StringSliceVar(&o.consoleFeatures, "console-features", nil, "feature definition files (YAML) the console's features page shows (lag, freshness, a key's current values)")
	f.StringArrayVar(&o.consoleSchemas, "console-schema", nil, "TOPIC=FILE: the schema (or job spec) the console's record browser decodes TOPIC's records with; repeatable (without it, a topic's schema comes from --console-features or the newest job reading it)")
	f.StringSliceVar(&o.consoleServers, "console-servers", nil, "base URLs of flint serve processes whose /metrics the console's serving page reads, e.g. http://10.0.0.5:8080")
	f.StringVar(&o.serverTokenFile, "console-server-token-file", "", "file holding a read token of those servers, when they ask for one")
	f.StringVar(&o.consoleTokens, "console-tokens", "", "more tokens for the web console at /console/, one per line: \"read TOKEN\" (may look) or \"admin TOKEN\"; the cluster secret is an admin token")
	f.StringVar(&o.events, "registry-events", "", "serve the registry changes this process makes (versions published, aliases moved) as server-sent events at http://ADDR/v1/registry/events, for flint serve --watch-url (off when empty)")
}

// consoleTokens are the web console's tokens: the cluster secret, which
// allows everything the job API does, as an admin token, and those of
// --console-tokens (serve's --tokens-file format). None leaves the console
// open, as the job API is then.
func consoleTokens(secret, file, flag string) (*bearer.Tokens[console.Scope], error) {
	var ts bearer.Tokens[console.Scope]
	if secret != "" {
		ts.Add(secret, console.ScopeAdmin)
	}
	if file == "" {
		return &ts, nil
	}
	text, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	list, err := serving.ParseTokens(string(text), file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%s %s: no token in it (lines \"read TOKEN\" or \"admin TOKEN\")", flag, file)
	}
	for _, t := range list {
		scope := console.ScopeRead
		if t.Scope == serving.ScopeAdmin {
			scope = console.ScopeAdmin
		}
		ts.Add(t.Value, scope)
	}
	return &ts, nil
}

// remoteWorkerWait is --worker-wait as remote.Config.WorkerWait takes it.
func (o jobsOptions) remoteWorkerWait() time.Duration {
	if o.workerWait == 0 {
		return -1 // remote: negative means not at all
	}
	return o.workerWait
}

// managerRetries is --job-retries as jobs.ManagerConfig.Retries takes it.
func (o jobsOptions) managerRetries() int {
	if o.jobRetries == 0 {
		return -1 // jobs: negative means none
	}
	return o.jobRetries
}

func (o jobsOptions) validate() error {
	var errs []error
	if o.checkpointEvery < 0 {
		errs = append(errs, fmt.Errorf("--checkpoint-every must be >= 0, got %d", o.checkpointEvery))
	}
	if o.maxConcurrent < 1 {
		errs = append(errs, fmt.Errorf("--max-concurrent must be at least 1, got %d", o.maxConcurrent))
	}
	if o.minWorkers < 1 {
		errs = append(errs, fmt.Errorf("--min-workers must be at least 1, got %d", o.minWorkers))
	}
	if o.workerWait < 0 {
		errs = append(errs, fmt.Errorf("--worker-wait must be >= 0, got %v", o.workerWait))
	}
	if o.jobRetries < 0 {
		errs = append(errs, fmt.Errorf("--job-retries must be >= 0, got %d", o.jobRetries))
	}
	if o.retryFor <= 0 {
		errs = append(errs, fmt.Errorf("--retry-for must be positive, got %v", o.retryFor))
	}
	return errors.Join(errs...)
}

func newDriverCmd(s streams) *cobra.Command {
	var o driverOptions
	cmd := &cobra.Command{
		Use:   "driver",
		Short: "Run a long-running driver: workers register with it, training jobs are submitted to it over HTTP",
		Long: `Run a driver that worker processes ("flint worker --driver ADDR") register with
at --listen, and that takes training jobs over HTTP at --http:

  POST /v1/jobs (a YAML spec), GET /v1/jobs, GET /v1/jobs/ID, DELETE /v1/jobs/ID,
  GET /v1/jobs/ID/events, GET /v1/workers, GET /metrics, GET /healthz  (docs/driver.md)

"flint train --driver http://HOST:PORT -f job.yaml" submits a job and follows it.
A spec with a trigger (every, records) is a triggered job: it runs at once and
again each time its trigger fires, kept in the store (triggers/NAME.json) so a
restarted driver goes on with it; GET /v1/triggers lists them, DELETE
/v1/triggers/NAME stops one.
Jobs run one at a time (--max-concurrent) on the workers, each once at least
--min-workers are alive, and publish to the model store (--store). Each job's
record (jobs/ID.json) and optimiser checkpoints (every --checkpoint-every
iterations) live in the store too: a driver stopped mid-job (SIGTERM, Ctrl-C,
a crash) leaves it running there, and the next driver started on the same store
resumes it from its newest checkpoint. A job whose attempt fails for a
transient reason (no live worker after --worker-wait, the log unreachable) is
started again from its checkpoint, up to --job-retries times within --retry-for.

Workers read log sources from the --log given here: kafka:, or the embedded
dir: log, which the driver and its workers (on the same host) read read-only
beside "flint ingest" appending to it. Files a job reads (source.files) must be
readable by every worker at the same path.

With a shared secret (--secret-file or $FLINT_CLUSTER_SECRET) workers must
present it, and so must every HTTP request (Authorization: Bearer SECRET)
except /healthz. --tls-cert/--tls-key encrypt the workers' connections and
serve the job API over HTTPS.

A web console is served at --http under /console/: jobs with live loss
curves, models with their alias history, the log's topics and consumer lag,
the workers, and with --console-servers the request rate, latency and errors of
flint serve processes per model version, from their /metrics.
It takes the cluster secret as an admin token (cancel jobs, move aliases), and
the tokens of --console-tokens ("read TOKEN" may only look).`,
		Example: `  FLINT_CLUSTER_SECRET=... flint --log kafka:kafka:9092 --store s3://minio:9000/models driver --listen :7077 --http :8081
  flint train --driver http://127.0.0.1:8081 -f job.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDriver(cmd, s, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", ":7077", "address workers register at")
	f.DurationVar(&o.heartbeat, "heartbeat", time.Second, "worker heartbeat interval")
	f.DurationVar(&o.timeout, "heartbeat-timeout", 0, "silence after which a worker is declared dead (default 5 heartbeats)")
	f.StringVar(&o.secretFile, "secret-file", "", "file holding the shared secret of the driver, its workers and job clients (default $"+envClusterSecret+")")
	o.tls.add(f)
	o.jobs.add(f, ":8081", "address the HTTP job API listens on")
	return cmd
}

func runDriver(cmd *cobra.Command, s streams, o driverOptions) error {
	if err := o.jobs.validate(); err != nil {
		return err
	}
	secret, tlsFiles, err := clusterAuth(o.secretFile, o.tls)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(s.err, nil))
	logSpec, err := workerLogSpec(cmd)
	if err != nil {
		return err
	}
	d, err := remote.NewDriver(remote.Config{Listen: o.listen, HeartbeatInterval: o.heartbeat, HeartbeatTimeout: o.timeout,
		WorkerWait: o.jobs.remoteWorkerWait(), Secret: secret, TLS: tlsFiles, Log: logSpec, Logger: logger})
	if err != nil {
		return err
	}
	defer d.Close()
	if secret == "" {
		logger.Warn("no shared secret (--secret-file or $" + envClusterSecret + "): any process that reaches the driver can register as a worker or submit jobs")
	}
	fmt.Fprintf(s.out, "driver listening for workers on %s\n", d.Addr())
	return serveJobs(cmd, s, d, o.jobs, secret, o.tls, logSpec, logger)
}

// workerLogSpec returns the --log value as worker processes are to open
// it, with its paths absolute (the embedded log's directory, a CA file):
// workers read the embedded log read-only beside its writer, so they must
// run on the same host (or see the directory at the same path). Kafka
// credentials are not in it: each process reads its own environment.
func workerLogSpec(cmd *cobra.Command) (string, error) {
	spec, _ := cmd.Flags().GetString("log")
	ls, err := logspec.Parse(spec)
	if err != nil {
		return "", err
	}
	abs, err := ls.Abs()
	if err != nil {
		return "", fmt.Errorf("--log %q: %w", spec, err)
	}
	return abs.String(), nil
}

// serveJobs serves the HTTP job API of driver d until the command's context
// ends (SIGINT, SIGTERM). Jobs still running then stay "running" in the
// store, for the next driver on the store to resume.
func serveJobs(cmd *cobra.Command, s streams, d *remote.Driver, o jobsOptions, secret string, tf tlsFlags, logSpec string, logger *slog.Logger) error {
	ctx := cmd.Context()
	storeSpec, _ := cmd.Flags().GetString("store")
	store, err := openStore(ctx, storeSpec)
	if err != nil {
		return err
	}
	var l log.Log
	if logSpec != "" {
		// The embedded log is opened read-only, so that flint ingest can go
		// on appending to it while the driver runs (jobs that send bad
		// records to a dead-letter topic need kafka: then).
		if l, err = openLogReadOnly(ctx, logSpec); err != nil {
			return err
		}
		defer l.Close()
	}
	minWorkers := o.minWorkers
	reg := models.NewRegistry(store)
	if o.events != "" {
		stop, err := serveRegistryEvents(o.events, regevents.NewHub(reg), secret, logger)
		if err != nil {
			return err
		}
		defer stop()
	}
	curves := console.NewCurves() // every iteration, for the console's loss curves
	m, err := jobs.NewManager(ctx, jobs.ManagerConfig{
		Store: store, Registry: reg, Observe: curves.Observe, Log: l, LogReadOnly: strings.HasPrefix(logSpec, "dir:"), Cluster: d, Logger: logger, FlintVersion: version,
		CheckpointEvery: o.checkpointEvery, MaxConcurrent: o.maxConcurrent, Retries: o.managerRetries(), RetryFor: o.retryFor,
		Ready: func(ctx context.Context) error { return d.WaitWorkers(ctx, minWorkers) },
	})
	if err != nil {
		return err
	}
	defer m.Close()
	metrics := prometheus.NewRegistry()
	workers := console.RemoteWorkers(d)
	api := jobs.NewAPI(jobs.APIConfig{Manager: m, Token: secret, Logger: logger, Metrics: metrics, Workers: workers})
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.Collector(), api.Collector(), d.Collector())
	ln, err := net.Listen("tcp", o.http)
	if err != nil {
		return fmt.Errorf("--http: %w", err)
	}
	tokens, err := consoleTokens(secret, o.consoleTokens, "--console-tokens")
	if err != nil {
		return err
	}
	defs, err := loadDefinitions(o.consoleFeatures)
	if err != nil {
		return err
	}
	schemas, err := loadConsoleSchemas(o.consoleSchemas, "--console-schema")
	if err != nil {
		return err
	}
	var serverToken string
	if o.serverTokenFile != "" {
		b, err := os.ReadFile(o.serverTokenFile)
		if err != nil {
			return fmt.Errorf("--console-server-token-file: %w", err)
		}
		serverToken = strings.TrimSpace(string(b))
	}
	con, err := console.New(console.Config{Jobs: m, Curves: curves, Models: reg, Log: l, Workers: workers, Tokens: tokens, Logger: logger,
		Servers: o.consoleServers, ServerToken: serverToken, Features: defs, Schemas: schemas})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle(con.Prefix()+"/", con)
	mux.Handle(con.Prefix(), con)
	mux.Handle("/", api)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	srv.RegisterOnShutdown(func() { con.Close() }) // the console's live streams end, so Shutdown does not wait on them
	scheme := "http"
	if tf.cert != "" {
		scheme = "https"
	}
	served := make(chan error, 1)
	go func() {
		if scheme == "https" {
			served <- srv.ServeTLS(ln, tf.cert, tf.key)
		} else {
			served <- srv.Serve(ln)
		}
	}()
	fmt.Fprintf(s.out, "job API on %s://%s\n", scheme, ln.Addr())
	fmt.Fprintf(s.out, "console on %s://%s%s/\n", scheme, ln.Addr(), con.Prefix())
	select {
	case <-ctx.Done():
	case err := <-served:
		m.Close()
		return fmt.Errorf("job API: %w", err)
	}
	fmt.Fprintln(s.out, "stopping; running jobs resume when a driver starts on the same store")
	m.Close() // ends the event streams too
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	<-served
	return err
}

// driverClient is a client of the job API at --driver, with the cluster
// secret as its token and, with --tls-ca, the CA the driver's certificate
// must chain to.
func driverClient(addr, token, caFile string) (*jobs.Client, error) {
	cfg := jobs.ClientConfig{URL: addr, Token: token}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca %s: no PEM certificates in it", caFile)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		cfg.HTTPClient = &http.Client{Transport: tr}
	}
	c, err := jobs.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("--driver: %w", err)
	}
	return c, nil
}

// runRemoteTrain submits the spec to a driver and follows the job, printing
// its progress as a local run does. Ctrl-C cancels the job on the driver.
func runRemoteTrain(cmd *cobra.Command, s streams, o trainOptions, spec []byte) error {
	token, err := readSecret(o.secretFile)
	if err != nil {
		return err
	}
	c, err := driverClient(o.driver, token, o.tlsCA)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	j, err := c.Submit(ctx, o.file, spec)
	if errors.Is(err, jobs.ErrUnreachable) {
		return fmt.Errorf("%w, or check --driver", err)
	}
	if err != nil {
		return err
	}
	id := j.ID
	fmt.Fprintf(s.err, "submitted job %s to %s\n", id, c.URL())
	obs := newProgress(s.err)
	j, err = c.Follow(ctx, id, printJob(obs, j.Attempts), func(err error) {
		obs.logger.Warn("lost the job's event stream; reconnecting", "driver", c.URL(), "err", err)
	})
	obs.finish()
	if ctx.Err() != nil {
		return cancelRemote(c, id)
	}
	if err != nil {
		return err
	}
	switch {
	case j.State == jobs.Succeeded && j.Result != nil:
		printSummary(s.out, j.Result.Result())
		return nil
	case j.State == jobs.Canceled:
		return fmt.Errorf("job %s was canceled on the driver: %s", id, j.Error)
	}
	return fmt.Errorf("job %s failed on the driver: %s", id, j.Error)
}

// printJob returns what Follow calls with each state of a job submitted
// with attempts attempts: it prints the progress and phases as a local run
// does, and says when the driver restarted.
func printJob(obs *progress, attempts int) func(jobs.Job) {
	var phase string
	var prog jobs.Progress
	return func(j jobs.Job) {
		if j.Attempts > attempts && attempts > 0 {
			obs.logger.Warn("the driver restarted; the job resumed from its checkpoint", "job", j.ID, "attempt", j.Attempts)
			phase = ""
		}
		attempts = max(attempts, j.Attempts)
		// An event may carry the last iteration of a phase and the next
		// phase at once: the iteration goes first.
		if p := j.Progress; p != nil && *p != prog {
			prog = *p
			obs.Iteration(p.Trial, ml.Progress{Iter: p.Iter, Loss: float64(p.Loss), GradNorm: float64(p.GradNorm), Step: float64(p.Step),
				Elapsed: time.Duration(p.ElapsedSec * float64(time.Second))}, p.MaxIter)
		}
		if j.Phase != "" && j.Phase != phase {
			phase = j.Phase
			obs.Phase(phase)
		}
	}
}

// cancelRemote cancels job id on the driver after Ctrl-C, and says how
// that went.
func cancelRemote(c *jobs.Client, id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	j, err := c.Cancel(ctx, id)
	switch {
	case errors.Is(err, jobs.ErrFinished):
		return fmt.Errorf("training cancelled here, but job %s had already finished on the driver", id)
	case err != nil:
		return fmt.Errorf("training cancelled; cancel job %s on the driver: %w", id, err)
	case j.State != jobs.Canceled:
		return fmt.Errorf("training cancelled; job %s is %s on the driver, stopping", id, j.State)
	}
	return fmt.Errorf("training cancelled; job %s canceled on the driver, nothing was published", id)
}
