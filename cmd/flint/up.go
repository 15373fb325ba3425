package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/cluster/remote"
	"github.com/flintml/flint/ml"
)

type upOptions struct {
	workers    int
	addr       string
	heartbeat  time.Duration
	timeout    time.Duration
	secretFile string
	files      []string
	topic      string
	partitions int
	verbose    bool
	tls        tlsFlags
	jobs       jobsOptions
	workerCmd  func(driver string) *exec.Cmd
}

func newUpCmd(s streams) *cobra.Command { return newUpCmdWith(s, selfWorker) }

// newUpCmdWith is newUpCmd with the worker command line built by workerCmd.
func newUpCmdWith(s streams, workerCmd func(driver string) *exec.Cmd) *cobra.Command {
	o := upOptions{workerCmd: workerCmd}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start a driver and N local worker processes, for trying multi-process training on one machine",
		Long: `Start a driver and --workers local worker processes (this binary's "worker"
command), wait until they have registered, and print the driver's address.

With --file (CSV: label, then features) or --topic (CSV records in the --log)
it loads the data on the workers — each worker reads its own partitions — fits a
logistic regression, prints the model and the time taken, and stops. Otherwise it
runs until SIGTERM or Ctrl-C; more workers may join with
"flint worker --driver ADDR". With --http it also serves the job API of
"flint driver" there, so "flint train --driver http://ADDR -f job.yaml" runs
jobs on these workers.

Workers read topics from the --log: kafka:, or the embedded dir: log, which
they (and the driver) read read-only beside the process that writes it.`,
		Example: `  flint up --workers 3
  flint up --workers 3 --file data.csv
  flint up --workers 3 --http 127.0.0.1:8081
  flint --log kafka:localhost:9092 up --workers 4 --topic clicks
  flint --log dir:flint-data/log up --workers 3 --topic clicks`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runUp(cmd, s, o) },
	}
	f := cmd.Flags()
	f.IntVar(&o.workers, "workers", 2, "worker processes to start")
	f.StringVar(&o.addr, "addr", "127.0.0.1:0", "address the driver listens on for workers")
	f.DurationVar(&o.heartbeat, "heartbeat", time.Second, "worker heartbeat interval")
	f.DurationVar(&o.timeout, "heartbeat-timeout", 0, "silence after which a worker is declared dead (default 5 heartbeats)")
	f.StringVar(&o.secretFile, "secret-file", "", "file holding the shared secret (default $"+envClusterSecret+")")
	f.StringSliceVar(&o.files, "file", nil, "CSV file(s) to fit a logistic regression on")
	f.StringVar(&o.topic, "topic", "", "topic of CSV records (in the --log) to fit a logistic regression on")
	f.IntVar(&o.partitions, "partitions", 0, "dataset partitions for --file (default 2 per worker)")
	f.BoolVar(&o.verbose, "verbose", false, "log worker membership and recovery events")
	o.tls.add(f)
	o.jobs.add(f, "", "serve the HTTP job API (as flint driver does) at this address until stopped, e.g. 127.0.0.1:8081")
	return cmd
}

// selfWorker runs this binary's worker command.
func selfWorker(driver string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	return exec.Command(exe, "worker", "--driver", driver)
}

func runUp(cmd *cobra.Command, s streams, o upOptions) error {
	ctx := cmd.Context()
	if o.workers < 1 {
		return fmt.Errorf("--workers must be at least 1, got %d", o.workers)
	}
	if len(o.files) > 0 && o.topic != "" {
		return fmt.Errorf("give --file or --topic, not both")
	}
	if o.jobs.http != "" && (len(o.files) > 0 || o.topic != "") {
		return fmt.Errorf("--http serves jobs until stopped; give it without --file or --topic")
	}
	if err := o.jobs.validate(); err != nil {
		return err
	}
	secret, tlsFiles, err := clusterAuth(o.secretFile, o.tls)
	if err != nil {
		return err
	}
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(s.err, &slog.HandlerOptions{Level: level}))
	var logSpec string
	if o.jobs.http != "" {
		if logSpec, err = workerLogSpec(cmd); err != nil {
			return err
		}
	}
	d, err := remote.NewDriver(remote.Config{Listen: o.addr, HeartbeatInterval: o.heartbeat, HeartbeatTimeout: o.timeout,
		WorkerWait: o.jobs.remoteWorkerWait(), Secret: secret, TLS: tlsFiles, Log: logSpec, Logger: logger})
	if err != nil {
		return err
	}
	defer d.Close()

	procs := make([]*exec.Cmd, 0, o.workers)
	defer func() { stopWorkers(procs) }()
	for range o.workers {
		c := o.workerCmd(d.Addr())
		if tlsFiles != nil {
			c.Args = append(c.Args, "--tls-cert", o.tls.cert, "--tls-key", o.tls.key)
			if o.tls.ca != "" {
				c.Args = append(c.Args, "--tls-ca", o.tls.ca)
			}
		}
		if c.Env == nil {
			c.Env = os.Environ()
		}
		c.Env = append(c.Env, envClusterSecret+"="+secret)
		c.Stdout, c.Stderr = s.err, s.err
		if err := c.Start(); err != nil {
			return fmt.Errorf("start worker: %w", err)
		}
		procs = append(procs, c)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = d.WaitWorkers(wctx, o.workers)
	cancel()
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "driver listening on %s with %d workers\n", d.Addr(), o.workers)
	for _, w := range d.Members() {
		fmt.Fprintf(s.out, "  %s  %s  %s\n", w.ID, w.Name, w.Addr)
	}

	if o.jobs.http != "" {
		return serveJobs(cmd, s, d, o.jobs, secret, o.tls, logSpec, logger)
	}
	if len(o.files) == 0 && o.topic == "" {
		<-ctx.Done()
		fmt.Fprintln(s.out, "stopping")
		return nil
	}
	sources, logSpec, err := upSources(cmd, o)
	if err != nil {
		return err
	}
	start := time.Now()
	ds, err := d.Load(ctx, sources, logSpec)
	if err != nil {
		return err
	}
	loaded := time.Since(start)
	fmt.Fprintf(s.out, "loaded %d rows × %d features in %d partitions on the workers in %v\n", ds.Rows(), ds.Cols(), ds.NumPartitions(), loaded.Round(time.Millisecond))
	start = time.Now()
	m, err := ml.LogisticRegression{}.Fit(ctx, d, ds)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "logistic regression in %v: intercept %v, coefficients %v\n", time.Since(start).Round(time.Millisecond), m.Intercept, m.Coef)
	return nil
}

// upSources plans the partitions of --file or --topic.
func upSources(cmd *cobra.Command, o upOptions) ([]cluster.Source, string, error) {
	format := cluster.Format{Kind: "csv"}
	if len(o.files) > 0 {
		parts := o.partitions
		if parts <= 0 {
			parts = 2 * o.workers
		}
		sources, err := cluster.PlanFiles(o.files, cluster.FileOptions{Format: format, Partitions: parts})
		return sources, "", err
	}
	spec, err := workerLogSpec(cmd)
	if err != nil {
		return nil, "", err
	}
	l, err := openLogReadOnly(cmd.Context(), spec)
	if err != nil {
		return nil, "", err
	}
	defer l.Close()
	sources, err := cluster.PlanLog(cmd.Context(), l, o.topic, cluster.LogOptions{Format: format})
	return sources, spec, err
}

// stopWorkers asks the worker processes to stop, and kills those that have
// not within a few seconds.
func stopWorkers(procs []*exec.Cmd) {
	for _, c := range procs {
		c.Process.Signal(syscall.SIGTERM)
	}
	for _, c := range procs {
		done := make(chan struct{})
		go func() { c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			c.Process.Kill()
			<-done
		}
	}
}
