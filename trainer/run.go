package trainer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/flintml/flint/cluster"
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
	// Now is the time a source window and promote.holdout measure back
	// from; nil means time.Now.
	Now func() time.Time
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
	Model     string
	Version   int
	Alias     string // the alias moved to Version, if any
	AliasHeld string // why the alias was not moved, if it was not
	Algorithm string
	Metrics   map[string]float64
	Best      ml.Params // the grid point chosen, if there was a grid
	Trials    []Trial   // every grid point, in the grid's order
	Rows      int       // rows read (training and test)
	TrainRows int
	TestRows  int
	// EvaluatedOn says which rows Metrics are of: "held-out rows",
	// "test source" or "training rows" (test_fraction: 0).
	EvaluatedOn string
	// Refit says whether the published model was fitted again on all the
	// training rows after a grid search chose its parameters.
	Refit bool
	// Iterations is the number of iterations the published model's fit
	// ran, and Stop why it stopped.
	Iterations int
	Stop       string
	Skipped    int // bad records skipped
	DeadLetter int // bad records sent to the dead-letter topic
	Lineage    []models.Source
	Duration   time.Duration
	// WarmStart says whether the fit started from a previous version, and
	// the iterations it saved; nil when the spec does not warm-start.
	WarmStart *WarmStart
	// Holdout is the recent records promote.holdout kept out of training,
	// which Metrics are of; Promotion the comparison with the version
	// behind the alias, and its outcome.
	Holdout   []models.Source
	Promotion *Promotion
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
	prev   *previous     // the version behind promote.alias, else the latest; nil: none
	warm   *warmState    // nil: the final fit starts cold
	// holdout is promote.holdout's records, as planned (before prepare
	// sets the new pipeline's format on them).
	holdout []cluster.Source
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
		e := cluster.NewEngine(cluster.Config{Workers: spec.Engine.Workers, MemoryLimit: int64(spec.Engine.MemoryLimit), Logger: j.log, PaceGC: true})
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
	res, err := j.run(ctx)
	if err != nil {
		return nil, err
	}
	res.Duration = time.Since(start)
	return res, nil
}

// planSources pins the records of a source.
func (j *job) planSources(ctx context.Context, s Source) ([]cluster.Source, error) {
	if len(s.Files) > 0 {
		parts := s.Partitions
		if parts == 0 {
			parts = j.engine.Workers()
		}
		return cluster.PlanFiles(s.Files, cluster.FileOptions{Format: cluster.Format{Header: s.Header}, Partitions: parts})
	}
	ranges, err := j.sourceRanges(ctx, s)
	if err != nil {
		return nil, err
	}
	opt := cluster.LogOptions{Split: s.Split, Ranges: ranges}
	return cluster.PlanLog(ctx, j.opt.Log, s.Topic, opt)
}

// load caches the sources as the job's dataset. Partitions that failed
// because the cluster or the log was unavailable come back as one error.
func (j *job) load(ctx context.Context, name string, sources []cluster.Source) (*cluster.Dataset, error) {
	if j.spec.Engine.Precision == "float32" {
		for i := range sources { // in the sources, so a lost partition is rebuilt in float32 too
			sources[i].Format.Float32 = true
		}
	}
	ds, err := j.engine.LoadSources(ctx, j.opt.Log, name, sources)
	if err != nil {
		return nil, fmt.Errorf("trainer: %w", cluster.SummarizeUnavailable(fmt.Sprintf("load of dataset %q", name), err))
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

// publish stores the artefact and moves the alias if the thresholds hold.
func (j *job) publish(ctx context.Context, res *Result, art *models.Artifact) (*Result, error) {
	v, err := j.opt.Registry.Publish(ctx, res.Model, art)
	if err != nil {
		return nil, fmt.Errorf("trainer: publish %s: %w", res.Model, err)
	}
	res.Version = v
	j.ckpt.clear(ctx)
	if j.spec.Promote != nil {
		if err := j.promote(ctx, res, v); err != nil {
			return nil, err
		}
		return res, nil
	}
	if alias := j.spec.Output.Alias; alias != "" {
		actor := "training job " + j.spec.Name
		if why := thresholdsFail(res.Metrics, j.spec.Output); why != "" {
			res.AliasHeld = why
			j.log.Warn("trainer: alias not moved", "model", res.Model, "alias", alias, "version", v, "why", why)
			if err := j.opt.Registry.HoldAlias(ctx, res.Model, alias, v, models.AliasChange{Actor: actor, Reason: "thresholds failed: " + why}); err != nil {
				j.log.Warn("trainer: record the held alias in the model's history", "model", res.Model, "err", err)
			}
		} else {
			reason := "no thresholds"
			if held := thresholdsHeld(res.Metrics, j.spec.Output); held != "" {
				reason = "thresholds held: " + held
			}
			if err := j.opt.Registry.SetAliasBy(ctx, res.Model, alias, v, models.AliasChange{Actor: actor, Reason: reason}); err != nil {
				return nil, fmt.Errorf("trainer: move alias %s of %s to version %d: %w", alias, res.Model, v, err)
			}
			res.Alias = alias
		}
	}
	return res, nil
}

// thresholdsHeld lists the thresholds a model meets, e.g. "r2 0.976 >= 0.9".
func thresholdsHeld(m map[string]float64, out Output) string {
	var held []string
	for _, name := range sortedNames(out.Min) {
		held = append(held, fmt.Sprintf("%s %.4g >= %v", name, m[name], out.Min[name]))
	}
	for _, name := range sortedNames(out.Max) {
		held = append(held, fmt.Sprintf("%s %.4g <= %v", name, m[name], out.Max[name]))
	}
	return strings.Join(held, ", ")
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
