package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/features"
	"github.com/flintml/flint/log"
	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/models"
)

// Observer follows a job as it runs. Calls come one at a time, from any
// goroutine.
type Observer interface {
	// Phase says what the job is doing now, e.g. "fitting transforms".
	Phase(name string)
	// Iteration reports one optimiser iteration of the final fit (or of a
	// grid point, with trial > 0).
	Iteration(trial int, p ml.Progress, maxIter int)
}

// Options are what Run needs beyond the spec.
type Options struct {
	// Log is the log for topic sources and dead letters; nil for file jobs.
	Log log.Log
	// Registry receives the model. Required unless DryRun.
	Registry *models.Registry
	// SpecText is the YAML the spec was read from, stored with the model.
	SpecText string
	// FlintVersion is stored with the model.
	FlintVersion string
	// Observer follows progress; nil means none.
	Observer Observer
	// Logger receives structured events; nil means slog.Default().
	Logger *slog.Logger
	// Cluster runs the job: the driver of remote workers (cluster/remote),
	// or any other cluster.Cluster. nil means an in-process engine sized
	// by the spec's engine section.
	Cluster cluster.Cluster
	// Checkpoints, when set, saves the optimiser state of the final fit to
	// a store every few iterations, and resumes the fit from the newest
	// checkpoint there (when it was taken for the same spec) instead of
	// starting over: a job run again after its driver died picks up where
	// it left off.
	Checkpoints *Checkpoints
}

// Checkpoints says where and how often a job checkpoints its optimiser.
type Checkpoints struct {
	// Store holds the checkpoints (the model store, usually).
	Store models.Store
	// Prefix is the key prefix of this job's checkpoints, e.g.
	// "jobs/42/checkpoint". One job, one prefix.
	Prefix string
	// Every is the number of iterations between checkpoints; 0 means the
	// spec's engine.checkpoint_every, or 10 if that is unset.
	Every int
}

// Result is what a finished job did.
type Result struct {
	Model      string
	Version    int
	Alias      string // the alias moved to Version, if any
	AliasHeld  string // why the alias was not moved, if it was not
	Algorithm  string
	Metrics    map[string]float64
	Best       ml.Params // the grid point chosen, if there was a grid
	Rows       int       // rows trained and evaluated on
	TrainRows  int
	TestRows   int
	Skipped    int // bad records skipped
	DeadLetter int // bad records sent to the dead-letter topic
	Lineage    []models.Source
	Duration   time.Duration
}

type nopObserver struct{}

func (nopObserver) Phase(string)                    {}
func (nopObserver) Iteration(int, ml.Progress, int) {}

// job is one run's state.
type job struct {
	spec   *Spec
	opt    Options
	obs    Observer
	log    *slog.Logger
	engine cluster.Cluster
	ckpt   *checkpointer // nil: no checkpoints
}

// Run executes a training job: it reads the source, fits the transforms,
// caches the feature rows on the engine, trains (with a grid search when the
// spec has one), evaluates, and publishes the model as the next version of
// its name, moving the alias when the metric thresholds hold. Cancelling ctx
// stops it cleanly; nothing is published then.
func Run(ctx context.Context, spec *Spec, opt Options) (*Result, error) {
	start := time.Now()
	j := &job{spec: spec, opt: opt, obs: opt.Observer, log: opt.Logger}
	if j.obs == nil {
		j.obs = nopObserver{}
	}
	if j.log == nil {
		j.log = slog.Default()
	}
	if opt.Registry == nil {
		return nil, errors.New("trainer: no model registry to publish to")
	}
	if spec.Source.Topic != "" && opt.Log == nil {
		return nil, fmt.Errorf("trainer: the job reads topic %q but no log was given", spec.Source.Topic)
	}
	j.engine = opt.Cluster
	if j.engine == nil {
		e := cluster.NewEngine(cluster.Config{Workers: spec.Engine.Workers, MemoryLimit: int64(spec.Engine.MemoryLimit), Logger: j.log})
		defer e.Close()
		j.engine = e
	}
	// Every dataset the run caches is the run's: dropped however it ends.
	scope := cluster.NewScope(j.engine)
	defer scope.Close()
	j.engine = scope

	var err error
	if j.ckpt, err = j.newCheckpointer(); err != nil {
		return nil, err
	}
	var res *Result
	if spec.Algorithm.ALS != nil {
		res, err = j.runALS(ctx)
	} else {
		res, err = j.runSupervised(ctx)
	}
	if err != nil {
		return nil, err
	}
	res.Duration = time.Since(start)
	return res, nil
}

// planSources pins the records the job reads.
func (j *job) planSources(ctx context.Context) ([]cluster.Source, error) {
	s := j.spec.Source
	if len(s.Files) > 0 {
		parts := s.Partitions
		if parts == 0 {
			parts = j.engine.Workers()
		}
		return cluster.PlanFiles(s.Files, cluster.FileOptions{Format: cluster.Format{Header: s.Header}, Partitions: parts})
	}
	opt := cluster.LogOptions{Split: s.Split}
	if (s.From != "" && s.From != "earliest") || (s.To != "" && s.To != "latest") {
		info, err := j.opt.Log.Describe(ctx, s.Topic)
		if err != nil {
			return nil, fmt.Errorf("trainer: describe source topic %s: %w", s.Topic, cluster.LogUnavailable(ctx, err))
		}
		opt.Ranges = map[int][2]int64{}
		for _, p := range info.Partitions {
			from, to := p.Earliest, p.Latest
			if s.From != "" && s.From != "earliest" {
				from, _ = strconv.ParseInt(s.From, 10, 64)
				from = max(from, p.Earliest)
			}
			if s.To != "" && s.To != "latest" {
				to, _ = strconv.ParseInt(s.To, 10, 64)
				to = min(to, p.Latest)
			}
			opt.Ranges[p.ID] = [2]int64{min(from, to), to}
		}
	}
	return cluster.PlanLog(ctx, j.opt.Log, s.Topic, opt)
}

// load caches the sources as the job's dataset. Partitions that failed
// because the cluster or the log was unavailable come back as one error.
func (j *job) load(ctx context.Context, sources []cluster.Source) (*cluster.Dataset, error) {
	ds, err := j.engine.LoadSources(ctx, j.opt.Log, j.spec.Name, sources)
	if err != nil {
		return nil, fmt.Errorf("trainer: %w", cluster.SummarizeUnavailable(fmt.Sprintf("load of dataset %q", j.spec.Name), err))
	}
	return ds, nil
}

func lineage(sources []cluster.Source) []models.Source {
	out := make([]models.Source, len(sources))
	for i, s := range sources {
		out[i] = models.Source{Kind: s.Kind, Topic: s.Topic, Partition: s.LogPartition, Path: s.Path, From: s.From, To: s.To}
	}
	return out
}

func (j *job) runSupervised(ctx context.Context) (*Result, error) {
	spec := j.spec
	res := &Result{Model: spec.Output.Model, Algorithm: spec.Algorithm.Name()}
	if res.Model == "" {
		res.Model = spec.Name
	}
	j.obs.Phase("planning the source")
	sources, err := j.pinSources(ctx)
	if err != nil {
		return nil, err
	}
	res.Lineage = lineage(sources)

	j.obs.Phase("fitting feature transforms")
	pipe, err := features.New(spec.Schema, spec.Transforms)
	if err != nil {
		return nil, fmt.Errorf("trainer: %w", err)
	}
	skip := spec.OnBadRecord == "skip" || spec.OnBadRecord == "dead_letter"
	fitRep, err := pipe.Fit(ctx, j.engine, j.opt.Log, sources, features.FitOptions{SkipBad: skip})
	if err != nil {
		return nil, fmt.Errorf("trainer: %w", cluster.SummarizeUnavailable("fit of the feature transforms", err))
	}
	if fitRep.Bad > 0 {
		j.log.Warn("trainer: skipping records that do not fit the schema", "count", fitRep.Bad, "examples", fitRep.Examples)
	}
	if spec.OnBadRecord == "dead_letter" {
		j.obs.Phase("sending bad records to " + spec.DeadLetter)
		n, err := j.deadLetter(ctx, pipe.Schema, sources)
		if err != nil {
			return nil, err
		}
		res.DeadLetter = n
	}

	j.obs.Phase("caching feature rows")
	format, err := pipe.Format(skip)
	if err != nil {
		return nil, err
	}
	for i := range sources {
		header := sources[i].Format.Header
		sources[i].Format = format
		sources[i].Format.Header = header
	}
	ds, err := j.load(ctx, sources)
	if err != nil {
		return nil, err
	}
	res.Rows, res.Skipped = ds.Rows(), ds.Skipped()
	if ds.Rows() == 0 {
		return nil, errors.New("trainer: the source holds no valid records")
	}
	if spec.Algorithm.KMeans != nil {
		return j.runKMeans(ctx, res, pipe, ds)
	}

	est, err := j.estimator(pipe)
	if err != nil {
		return nil, err
	}
	metrics := spec.Evaluation.Metrics
	if len(metrics) == 0 {
		metrics = []string{defaultMetric(res.Algorithm)}
	}
	ev := spec.Evaluation
	var train, test *cluster.Dataset
	if ev.Folds == 0 {
		frac := ev.TestFraction
		if frac == 0 {
			frac = 0.2
		}
		train, test, err = cluster.RandomSplit(ctx, j.engine, ds, 1-frac, seedOr(ev.Seed))
		if err != nil {
			return nil, err
		}
		j.engine.Drop(ds) // the two halves hold every row
	} else {
		train = ds
	}
	res.TrainRows = train.Rows()
	if test != nil {
		res.TestRows = test.Rows()
	}

	if len(ev.Grid) > 0 {
		j.obs.Phase(fmt.Sprintf("searching %d grid points", gridSize(ev.Grid)))
		best, err := j.search(ctx, est, train, test, metrics[0])
		if err != nil {
			return nil, err
		}
		res.Best = best
		if est, err = est.with(best); err != nil {
			return nil, err
		}
	}

	j.obs.Phase("training " + res.Algorithm)
	model, err := est.fit(ctx, j.engine, train, func(p ml.Progress) bool {
		j.obs.Iteration(0, p, est.maxIter())
		return false
	}, j.ckpt)
	if err != nil {
		return nil, fmt.Errorf("trainer: %s: %w", res.Algorithm, err)
	}

	j.obs.Phase("evaluating")
	evalOn := test
	if evalOn == nil {
		evalOn = ds // cross-validated: the metrics below are the folds' means
	} else {
		j.engine.Drop(train) // only the held-out rows are needed from here
	}
	res.Metrics, err = j.evaluate(ctx, model, evalOn, metrics)
	if err != nil {
		return nil, err
	}
	if test != nil {
		j.engine.Drop(test)
	}
	if ev.Folds > 0 {
		cv, err := ml.CrossValidate(ctx, j.engine, ds, est.estimator(nil), ev.Folds, seedOr(ev.Seed), metrics[0])
		if err != nil {
			return nil, err
		}
		res.Metrics[metrics[0]] = cv.Mean
		res.Metrics[metrics[0]+"_cv_std"] = cv.Std
	}

	j.obs.Phase("publishing")
	pj, err := json.Marshal(pipe)
	if err != nil {
		return nil, err
	}
	params, err := model.MarshalBinary()
	if err != nil {
		return nil, err
	}
	art := &models.Artifact{Algorithm: model.Algorithm(), FlintVersion: j.opt.FlintVersion, Pipeline: pj, Params: params,
		Metrics: res.Metrics, Spec: j.opt.SpecText, Lineage: res.Lineage}
	return j.publish(ctx, res, art)
}

// publish stores the artefact and moves the alias if the thresholds hold.
func (j *job) publish(ctx context.Context, res *Result, art *models.Artifact) (*Result, error) {
	v, err := j.opt.Registry.Publish(ctx, res.Model, art)
	if err != nil {
		return nil, fmt.Errorf("trainer: publish %s: %w", res.Model, err)
	}
	res.Version = v
	j.ckpt.clear(ctx)
	if alias := j.spec.Output.Alias; alias != "" {
		if why := thresholdsFail(res.Metrics, j.spec.Output); why != "" {
			res.AliasHeld = why
			j.log.Warn("trainer: alias not moved", "model", res.Model, "alias", alias, "version", v, "why", why)
		} else {
			if err := j.opt.Registry.SetAlias(ctx, res.Model, alias, v); err != nil {
				return nil, fmt.Errorf("trainer: move alias %s of %s to version %d: %w", alias, res.Model, v, err)
			}
			res.Alias = alias
		}
	}
	return res, nil
}

// thresholdsFail says which threshold a model misses, or "".
func thresholdsFail(m map[string]float64, out Output) string {
	var why []string
	for _, name := range sortedNames(out.Min) {
		if v, ok := m[name]; !ok || !(v >= out.Min[name]) {
			why = append(why, fmt.Sprintf("%s %v < %v", name, m[name], out.Min[name]))
		}
	}
	for _, name := range sortedNames(out.Max) {
		if v, ok := m[name]; !ok || !(v <= out.Max[name]) {
			why = append(why, fmt.Sprintf("%s %v > %v", name, m[name], out.Max[name]))
		}
	}
	return strings.Join(why, ", ")
}

func sortedNames(m map[string]float64) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func seedOr(s uint64) uint64 {
	if s == 0 {
		return 1
	}
	return s
}

func gridSize(g map[string][]float64) int {
	n := 1
	for _, v := range g {
		n *= len(v)
	}
	return n
}

func defaultMetric(algo string) string {
	switch algo {
	case "linear_regression":
		return "rmse"
	case "kmeans":
		return "inertia"
	case "als":
		return "rmse"
	}
	return "accuracy"
}

// evaluate scores a model on a dataset with the named metrics.
func (j *job) evaluate(ctx context.Context, model ml.Model, ds *cluster.Dataset, names []string) (map[string]float64, error) {
	ev, err := ml.Evaluate(ctx, j.engine, ds, model)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, n := range names {
		v, err := ev.Value(n)
		if err != nil {
			return nil, fmt.Errorf("trainer: metric %s: %w", n, err)
		}
		out[n] = v
	}
	return out, nil
}

// search picks the best grid point: by k-fold cross-validation on the
// training rows with folds, else by the held-out rows.
func (j *job) search(ctx context.Context, est estimator, train, test *cluster.Dataset, metric string) (ml.Params, error) {
	ev := j.spec.Evaluation
	if ev.Folds > 0 {
		trial := 0 // Build is called once per grid point, in order
		g := ml.GridSearch{Grid: ev.Grid, Folds: ev.Folds, Seed: seedOr(ev.Seed), Metric: metric,
			Build: func(p ml.Params) (ml.Estimator, error) {
				e, err := est.with(p)
				if err != nil {
					return nil, err
				}
				trial++
				t := trial
				return e.estimator(func(pr ml.Progress) bool { j.obs.Iteration(t, pr, e.maxIter()); return false }), nil
			}}
		r, err := g.Run(ctx, j.engine, train)
		if err != nil {
			return nil, err
		}
		for _, t := range r.Trials {
			j.log.Info("trainer: grid point", "params", t.Params.String(), metric, t.Mean, "std", t.Std)
		}
		return r.Best, nil
	}
	larger, _ := ml.LargerIsBetter(metric)
	var best ml.Params
	bestV := math.Inf(1)
	if larger {
		bestV = math.Inf(-1)
	}
	for i, p := range combinations(ev.Grid) {
		e, err := est.with(p)
		if err != nil {
			return nil, err
		}
		m, err := e.fit(ctx, j.engine, train, func(pr ml.Progress) bool { j.obs.Iteration(i+1, pr, e.maxIter()); return false }, nil)
		if err != nil {
			return nil, fmt.Errorf("trainer: grid point %s: %w", p, err)
		}
		ms, err := j.evaluate(ctx, m, test, []string{metric})
		if err != nil {
			return nil, err
		}
		v := ms[metric]
		j.log.Info("trainer: grid point", "params", p.String(), metric, v)
		if (larger && v > bestV) || (!larger && v < bestV) {
			best, bestV = p, v
		}
	}
	return best, nil
}

// combinations lists a grid's points, names sorted, the last varying fastest.
func combinations(grid map[string][]float64) []ml.Params {
	names := make([]string, 0, len(grid))
	for n := range grid {
		names = append(names, n)
	}
	sort.Strings(names)
	out := []ml.Params{{}}
	for _, n := range names {
		var next []ml.Params
		for _, c := range out {
			for _, v := range grid[n] {
				p := ml.Params{n: v}
				for k, cv := range c {
					p[k] = cv
				}
				next = append(next, p)
			}
		}
		out = next
	}
	return out
}
