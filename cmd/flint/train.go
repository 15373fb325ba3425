package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/flintml/flint/cluster/remote"
	"github.com/flintml/flint/log"
	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/models"
	"github.com/flintml/flint/trainer"
)

type trainOptions struct {
	file       string
	dryRun     bool
	driver     string // submit to this driver's job API instead of running here
	secretFile string // the driver's bearer token
	tlsCA      string
	listen     string        // be the driver: workers register here
	workers    int           // with --listen: wait for this many workers
	wait       time.Duration // with --listen: how long to wait for them
	tlsCert    string
	tlsKey     string
	checkpoint int  // iterations between checkpoints in the store; 0: none
	follow     bool // run the job each time its trigger fires, until Ctrl-C
}

func newTrainCmd(s streams) *cobra.Command {
	var o trainOptions
	cmd := &cobra.Command{
		Use:   "train -f JOB.yaml",
		Short: "Run a training job from a YAML spec and publish the model",
		Long: `Run a training job: read the source (a log topic or files), fit the feature
transforms, train the algorithm on all cores, evaluate, and publish the model as
the next version in the store (--store), moving the job's alias when its metric
thresholds hold.

The spec is validated first; every problem is reported at once with its
file:line:column and field path. --dry-run stops there and prints the plan.
Ctrl-C cancels cleanly: nothing is published. The spec reference is docs/job-spec.md.

With --driver, the job runs on a driver ("flint driver", or "flint up --http")
and its workers instead: train submits the spec, prints the job's progress
until it ends, and exits non-zero if it fails; Ctrl-C cancels the job on the
driver. Files the job reads are opened by the workers, so give paths they can
read. The token is the cluster secret (--secret-file or $FLINT_CLUSTER_SECRET).

With --checkpoint-every N, the optimiser state is saved to the model store every
N iterations; running the same job again after an interruption (a crash, a
kill, Ctrl-C) resumes from it, on the records the first run read.

With --listen, this process is the driver: it waits for --workers worker
processes ("flint worker --driver ADDR") to register, runs the job on them —
each reads its own partitions from the --log (kafka:, or the embedded dir: log,
read-only beside this process) — and stops when the job ends.

With --follow, a job whose spec has a trigger (every, records) runs now and
again each time the trigger fires, until Ctrl-C: runs never overlap, and a
trigger that fires during a run is coalesced into one run after it. Each run
pins the offsets it reads in the version's lineage; with warm_start (the
default for a triggered job) it starts from the previous version, and with
promote it moves the alias only if it beats the version behind it.`,
		Example: `  flint train -f examples/fashion-logreg.yaml
  flint train -f job.yaml --dry-run
  flint --log kafka:localhost:9092 --store s3://localhost:9000/models train -f job.yaml
  flint train --driver http://127.0.0.1:8081 -f job.yaml
  flint train --listen :7077 --workers 3 -f job.yaml
  flint train --follow -f examples/houses-triggered.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.file == "" {
				return fmt.Errorf("-f JOB.yaml is required")
			}
			return runTrain(cmd, s, o)
		},
	}
	cmd.Flags().StringVarP(&o.file, "file", "f", "", "the job spec (YAML)")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "validate the spec and print the plan without running it")
	cmd.Flags().StringVar(&o.driver, "driver", "", "submit the job to the driver whose job API is at this URL (http://HOST:PORT) and follow it")
	cmd.Flags().StringVar(&o.secretFile, "secret-file", "", "with --driver: file holding the cluster secret the driver asks for (default $"+envClusterSecret+")")
	cmd.Flags().StringVar(&o.tlsCA, "tls-ca", "", "with an https:// --driver: CA certificates (PEM) its certificate must chain to (default the system roots); with --listen, the CA of the workers' certificates")
	cmd.Flags().IntVar(&o.checkpoint, "checkpoint-every", 0, "save the optimiser state to the model store every N iterations (under checkpoints/NAME), and resume from it when the same job is run again after an interruption")
	cmd.Flags().BoolVar(&o.follow, "follow", false, "run a job with a trigger now and again each time its trigger fires, in the foreground, until Ctrl-C")
	cmd.Flags().StringVar(&o.listen, "listen", "", "run the job on worker processes that register at this address (this process is their driver)")
	cmd.Flags().IntVar(&o.workers, "workers", 1, "with --listen: worker processes to wait for before the job starts")
	cmd.Flags().DurationVar(&o.wait, "wait", 2*time.Minute, "with --listen: how long to wait for --workers to register")
	cmd.Flags().StringVar(&o.tlsCert, "tls-cert", "", "with --listen: TLS certificate (PEM) for the workers' connections")
	cmd.Flags().StringVar(&o.tlsKey, "tls-key", "", "with --listen: TLS private key (PEM)")
	return cmd
}

func runTrain(cmd *cobra.Command, s streams, o trainOptions) error {
	data, err := os.ReadFile(o.file)
	if err != nil {
		return err
	}
	if o.driver != "" && !o.dryRun {
		return runRemoteTrain(cmd, s, o, data) // the driver validates the spec
	}
	spec, err := trainer.ParseSpec(o.file, data)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	logSpec, _ := cmd.Flags().GetString("log")
	if o.dryRun {
		if err := checkSources(ctx, spec, logSpec); err != nil {
			return err
		}
		fmt.Fprint(s.out, trainer.Plan(spec))
		return nil
	}
	var l log.Log
	switch {
	case spec.DeadLetter != "": // the job appends its bad records
		if l, err = openLog(ctx, logSpec); err != nil {
			return err
		}
		defer l.Close()
	case spec.Source.Topic != "":
		// Read only, so a job trains beside the process that writes the
		// embedded log (flint features run, say).
		if l, err = openLogForReading(ctx, logSpec); err != nil {
			return err
		}
		defer l.Close()
	}
	if err := spec.CheckSources(ctx, l, logSpec); err != nil {
		return err
	}
	storeSpec, _ := cmd.Flags().GetString("store")
	store, err := openStore(ctx, storeSpec)
	if err != nil {
		return err
	}
	obs := newProgress(s.err)
	opt := trainer.Options{Log: l, Registry: models.NewRegistry(store), SpecText: string(data), FlintVersion: version, Observer: obs, Logger: obs.logger}
	if o.checkpoint > 0 {
		opt.Checkpoints = &trainer.Checkpoints{Store: store, Prefix: "checkpoints/" + spec.Name, Every: o.checkpoint}
	}
	if o.listen != "" {
		d, err := listenForWorkers(cmd, s, o, obs.logger)
		if err != nil {
			return err
		}
		defer d.Close()
		opt.Cluster = d
	}
	if o.follow {
		obs.finish()
		return runFollow(ctx, s, o.file, data, l, store, opt.Cluster, obs.logger)
	}
	res, err := trainer.Run(ctx, spec, opt)
	obs.finish()
	if err != nil {
		if ctx.Err() != nil {
			if opt.Checkpoints != nil {
				return fmt.Errorf("training cancelled; nothing was published (run the same job again to resume from its checkpoint)")
			}
			return fmt.Errorf("training cancelled; nothing was published")
		}
		return err
	}
	printSummary(s.out, res)
	return nil
}

// checkSources checks, for --dry-run, that the spec's files and topic
// exist: the log is opened read-only, beside a process writing it.
func checkSources(ctx context.Context, spec *trainer.Spec, logSpec string) error {
	var l log.Log
	if spec.Source.Topic != "" {
		var err error
		if l, err = openLogReadOnly(ctx, logSpec); err != nil {
			return err
		}
		defer l.Close()
	}
	return spec.CheckSources(ctx, l, logSpec)
}

// listenForWorkers starts the driver of a --listen run and waits for its
// workers.
func listenForWorkers(cmd *cobra.Command, s streams, o trainOptions, logger *slog.Logger) (*remote.Driver, error) {
	if o.driver != "" {
		return nil, fmt.Errorf("give --driver or --listen, not both")
	}
	if o.workers < 1 {
		return nil, fmt.Errorf("--workers must be at least 1, got %d", o.workers)
	}
	secret, tlsFiles, err := clusterAuth(o.secretFile, tlsFlags{cert: o.tlsCert, key: o.tlsKey, ca: o.tlsCA})
	if err != nil {
		return nil, err
	}
	logSpec, err := workerLogSpec(cmd)
	if err != nil {
		return nil, err
	}
	d, err := remote.NewDriver(remote.Config{Listen: o.listen, Secret: secret, TLS: tlsFiles, Log: logSpec, Logger: logger})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(s.out, "driver listening for workers on %s (waiting for %d)\n", d.Addr(), o.workers)
	ctx, cancel := context.WithTimeout(cmd.Context(), o.wait)
	defer cancel()
	if err := d.WaitWorkers(ctx, o.workers); err != nil {
		d.Close()
		return nil, fmt.Errorf("--listen: %w (start them with: flint worker --driver %s)", err, d.Addr())
	}
	return d, nil
}

func printSummary(w io.Writer, r *trainer.Result) {
	fmt.Fprintf(w, "published %s version %d (%s) in %s\n", r.Model, r.Version, r.Algorithm, r.Duration.Round(time.Millisecond))
	fmt.Fprintf(w, "  rows: %d (train %d, test %d)", r.Rows, r.TrainRows, r.TestRows)
	if r.Skipped > 0 {
		fmt.Fprintf(w, ", %d bad records skipped", r.Skipped)
	}
	if r.DeadLetter > 0 {
		fmt.Fprintf(w, ", %d sent to the dead-letter topic", r.DeadLetter)
	}
	fmt.Fprintln(w)
	if r.Stop != "" {
		fmt.Fprintf(w, "  fit: %d iterations, stopped: %s\n", r.Iterations, r.Stop)
	}
	if r.EvaluatedOn != "" {
		fmt.Fprintf(w, "  metrics of the %s:\n", r.EvaluatedOn)
	}
	names := make([]string, 0, len(r.Metrics))
	for k := range r.Metrics {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(w, "  %-16s %.6g\n", k, r.Metrics[k])
	}
	if len(r.Trials) > 0 {
		fmt.Fprintf(w, "  grid (%s):\n", r.Trials[0].Metric)
		for _, t := range r.Trials {
			switch {
			case t.Err != "":
				fmt.Fprintf(w, "    %-30s skipped: %s\n", t.Params, t.Err)
			case len(t.Folds) > 0:
				fmt.Fprintf(w, "    %-30s %.6g ± %.3g\n", t.Params, t.Score, t.Std)
			default:
				fmt.Fprintf(w, "    %-30s %.6g\n", t.Params, t.Score)
			}
		}
	}
	if len(r.Best) > 0 {
		refit := "fitted again on all the training rows"
		if !r.Refit {
			refit = "the search's model (refit: false)"
		}
		fmt.Fprintf(w, "  best grid point: %s, %s\n", r.Best, refit)
	}
	if ws := r.WarmStart; ws != nil {
		switch {
		case ws.From == 0:
			fmt.Fprintf(w, "  warm start: none (%s)\n", ws.Note)
		case ws.ColdIterations > 0:
			fmt.Fprintf(w, "  warm start: from version %d, %d iterations; %d saved against version %d's cold fit (%d iterations)\n",
				ws.From, ws.Iterations, ws.Saved, ws.ColdVersion, ws.ColdIterations)
		default:
			fmt.Fprintf(w, "  warm start: from version %d, %d iterations (%s)\n", ws.From, ws.Iterations, ws.Note)
		}
	}
	if p := r.Promotion; p != nil {
		fmt.Fprintf(w, "  promotion to %s: %s\n", p.Alias, p.Reason)
	}
	switch {
	case r.Alias != "":
		fmt.Fprintf(w, "  alias %s → version %d\n", r.Alias, r.Version)
	case r.AliasHeld != "":
		fmt.Fprintf(w, "  alias not moved: %s\n", r.AliasHeld)
	}
}

// progress renders a job's progress: a redrawn bar on a terminal, structured
// log lines otherwise.
type progress struct {
	mu     sync.Mutex
	w      io.Writer
	tty    bool
	phase  string
	start  time.Time
	drawn  bool
	last   time.Time
	logger *slog.Logger
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w, start: time.Now()}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
	}
	p.logger = slog.New(slog.NewTextHandler(&lineBreaker{p: p}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return p
}

// lineBreaker ends an in-place progress line before a log line is written.
type lineBreaker struct{ p *progress }

func (lb *lineBreaker) Write(b []byte) (int, error) {
	lb.p.mu.Lock()
	defer lb.p.mu.Unlock()
	lb.p.clearLine()
	return lb.p.w.Write(b)
}

func (p *progress) clearLine() {
	if p.tty && p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}

func (p *progress) Phase(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.drawn { // keep the last state of the bar
		fmt.Fprintln(p.w)
		p.drawn = false
	}
	p.phase = name
	if p.tty {
		fmt.Fprintf(p.w, "• %s\n", name)
	} else {
		fmt.Fprintf(p.w, "time=%s level=INFO msg=phase phase=%q elapsed=%s\n", time.Now().Format(time.RFC3339), name,
			time.Since(p.start).Round(time.Millisecond))
	}
}

func (p *progress) Iteration(trial int, pr ml.Progress, maxIter int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.tty {
		// At most a line a second, but always the last iteration of a fit,
		// which says why it stopped: a fit that converges in milliseconds
		// would otherwise show only its starting point.
		if time.Since(p.last) < time.Second && pr.Iter != maxIter && pr.Stop == "" {
			return
		}
		p.last = time.Now()
		stop := ""
		if pr.Stop != "" {
			stop = fmt.Sprintf(" stop=%q", pr.Stop)
		}
		fmt.Fprintf(p.w, "time=%s level=INFO msg=iteration trial=%d iter=%d max_iter=%d loss=%.6g grad_norm=%.3g elapsed=%s%s\n",
			time.Now().Format(time.RFC3339), trial, pr.Iter, maxIter, pr.Loss, pr.GradNorm, pr.Elapsed.Round(time.Millisecond), stop)
		return
	}
	const width = 24
	frac := 0.0
	eta := ""
	if maxIter > 0 {
		frac = math.Min(1, float64(pr.Iter)/float64(maxIter))
		if pr.Iter > 0 {
			left := time.Duration(float64(pr.Elapsed) / float64(pr.Iter) * float64(maxIter-pr.Iter))
			eta = " ETA ≤ " + left.Round(100*time.Millisecond).String()
		}
	}
	filled := int(frac * width)
	bar := strings.Repeat("█", filled) + strings.Repeat("░", width-filled)
	label := "iter"
	if trial > 0 {
		label = fmt.Sprintf("grid %d iter", trial)
	}
	if pr.Stop != "" {
		eta = "  " + pr.Stop
	}
	fmt.Fprintf(p.w, "\r\033[K  %s %s %d/%d  loss %.6g  |g| %.2g  %s%s", bar, label, pr.Iter, maxIter, pr.Loss, pr.GradNorm,
		pr.Elapsed.Round(100*time.Millisecond), eta)
	p.drawn = true
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLine()
}

var _ trainer.Observer = (*progress)(nil)
