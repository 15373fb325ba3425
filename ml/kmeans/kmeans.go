package kmeans

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"gonum.org/v1/gonum/floats"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/ml"
)

// Initialisation methods for Config.Init.
const (
	InitParallel = "k-means||" // Bahmani et al.'s scalable k-means++ (the default)
	InitPlusPlus = "k-means++" // exact k-means++, one pass per centre
	InitRandom   = "random"    // K distinct rows drawn uniformly
)

// Config configures Fit. Zero fields take the defaults given. A Config is a
// plain value and is not modified by Fit.
type Config struct {
	// K is the number of clusters: at least 1 and at most the number of
	// rows. Required.
	K int
	// Init chooses the starting centres: InitParallel ("k-means||",
	// default), InitPlusPlus ("k-means++") or InitRandom ("random").
	Init string
	// InitSteps is the number of k-means|| rounds. 0 means 2, as in MLlib.
	InitSteps int
	// InitialCentres, when not nil, are the K×Cols starting centres,
	// row-major; Init is then not used and Runs must be 0 or 1.
	InitialCentres []float64
	// MaxIter bounds the Lloyd iterations of a run. 0 means 20.
	MaxIter int
	// Tol ends a run once no centre moves farther than Tol (Euclidean
	// distance) in an iteration. 0 means 1e-4. A negative Tol ends it only
	// when no centre moves at all, that is when no row changed cluster.
	Tol float64
	// Runs is the number of independent runs (different seeds drawn from
	// Seed); the run with the lowest inertia is returned. 0 means 1.
	Runs int
	// Seed seeds every random choice. The same seed, data and partitioning
	// give bit-identical centres whatever the number of workers.
	Seed uint64
	// SilhouetteSample is the number of rows, drawn with Seed, that the
	// silhouette is computed on. 0 means 1000; negative skips it (the
	// model's Silhouette is then NaN).
	SilhouetteSample int

	// Checkpointing (CheckpointEvery, Checkpoint, Resume) hands the fit's
	// State to Checkpoint after every CheckpointEvery-th Lloyd iteration
	// of each run that does not end the run (iterations CheckpointEvery,
	// 2·CheckpointEvery, ... of the run, unless its centres stopped moving
	// or it reached MaxIter), on the goroutine that called Fit. With
	// Resume, the runs before State.Run are not run again (their best
	// model is in the state), and run State.Run goes on from its centres.
	// K, the number of features, the initialisation and Seed must be those
	// of the fit that wrote it, State.Run below Runs and State.Iter at most
	// MaxIter; otherwise Fit fails with an error naming the mismatch. The
	// model returned is bit for bit the one the uninterrupted fit returns.
	ml.Checkpointing[State]

	// Progress, if not nil, is called after every Lloyd iteration of
	// every run, on the goroutine that called Fit.
	Progress func(Progress)
}

// Progress is one Lloyd iteration, as Config.Progress sees it.
type Progress struct {
	Run  int // 0-based run number
	Iter int // iterations of this run so far, counting this one
	// Cost is the inertia (Σ w·d²) of the rows against the centres the
	// iteration started from.
	Cost float64
	// Moved is the farthest distance a centre moved in the iteration.
	Moved float64
	// Elapsed is the time since Fit started.
	Elapsed time.Duration
	// Stop is empty on every report but the last of a run, where it says
	// why the run stopped: "converged: no centre moved more than tol
	// 0.0001 (the farthest 3.2e-05)", "converged: no centre moved" or
	// "max_iter 20 reached".
	Stop string
}

func (c Config) withDefaults() Config {
	if c.Init == "" {
		c.Init = InitParallel
	}
	if c.InitSteps == 0 {
		c.InitSteps = 2
	}
	if c.MaxIter == 0 {
		c.MaxIter = 20
	}
	if c.Tol == 0 {
		c.Tol = 1e-4
	}
	if c.Runs == 0 {
		c.Runs = 1
	}
	if c.SilhouetteSample == 0 {
		c.SilhouetteSample = 1000
	}
	return c
}

// validate checks c (with defaults applied) against the dataset; errors
// name the field and the value found.
func (c Config) validate(ds *cluster.Dataset) error {
	rows, cols := ds.Rows(), ds.Cols()
	switch {
	case c.K < 1:
		return fmt.Errorf("kmeans: Config.K must be >= 1, got %d", c.K)
	case rows == 0:
		return fmt.Errorf("kmeans: dataset %q has no rows", ds.Name())
	case cols == 0:
		return fmt.Errorf("kmeans: dataset %q has no features", ds.Name())
	case c.K > rows:
		return fmt.Errorf("kmeans: Config.K = %d is more than the %d rows of dataset %q", c.K, rows, ds.Name())
	case c.Init != InitParallel && c.Init != InitPlusPlus && c.Init != InitRandom:
		return fmt.Errorf("kmeans: Config.Init %q: want %q, %q or %q", c.Init, InitParallel, InitPlusPlus, InitRandom)
	case c.InitSteps < 0:
		return fmt.Errorf("kmeans: Config.InitSteps must be >= 0, got %d", c.InitSteps)
	case c.MaxIter < 0:
		return fmt.Errorf("kmeans: Config.MaxIter must be >= 0, got %d", c.MaxIter)
	case c.Runs < 0:
		return fmt.Errorf("kmeans: Config.Runs must be >= 0, got %d", c.Runs)
	case math.IsNaN(c.Tol):
		return errors.New("kmeans: Config.Tol is NaN")
	}
	if err := c.ValidateCheckpointing("Config"); err != nil {
		return fmt.Errorf("kmeans: %w", err)
	}
	for _, p := range ds.Stats() {
		if p.Rows > math.MaxInt32 {
			return fmt.Errorf("kmeans: partition %d of dataset %q has %d rows, more than 2³¹-1", p.Index, ds.Name(), p.Rows)
		}
	}
	if c.InitialCentres != nil {
		if len(c.InitialCentres) != c.K*cols {
			return fmt.Errorf("kmeans: Config.InitialCentres has %d values, want K×Cols = %d×%d = %d", len(c.InitialCentres), c.K, cols, c.K*cols)
		}
		if c.Runs > 1 {
			return fmt.Errorf("kmeans: Config.Runs = %d with Config.InitialCentres: every run would start from the same centres", c.Runs)
		}
		for i, v := range c.InitialCentres {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("kmeans: Config.InitialCentres[%d] (centre %d, feature %d) is %v", i, i/cols, i%cols, v)
			}
		}
	}
	return nil
}

// ErrTooFewPoints reports data with fewer distinct rows of positive weight
// than the K clusters asked for.
var ErrTooFewPoints = errors.New("kmeans: fewer distinct rows than clusters")

// Fit clusters the rows of ds into cfg.K clusters with Lloyd's algorithm and
// returns the model of the best of cfg.Runs runs. Rows may be dense or
// sparse; their weights (Block.W) weight the means and the cost. Fit only
// runs registered tasks on x, so it works the same on the in-process
// engine and on remote workers.
//
// The result is a function of the data, its partitioning, cfg and the
// seed: the same dataset split into the same partitions gives bit-identical
// centres for any number of workers.
func Fit(ctx context.Context, x cluster.Executor, ds *cluster.Dataset, cfg Config) (*Model, error) {
	start := time.Now()
	cfg = cfg.withDefaults()
	if err := cfg.validate(ds); err != nil {
		return nil, err
	}
	var best *Model
	first := 0
	if st := cfg.Resume; st != nil {
		if err := st.resumable(cfg, ds.Cols()); err != nil {
			return nil, err
		}
		first = st.Run
		best = runModel(st.Best) // a copy: Fit sets the returned model's Silhouette
	}
	for r := first; r < cfg.Runs; r++ {
		var from *State
		if cfg.Resume != nil && r == cfg.Resume.Run {
			from = cfg.Resume
		}
		m, err := fitRun(ctx, x, ds, cfg, r, best, from, start)
		if err != nil {
			if cfg.Runs > 1 {
				return nil, fmt.Errorf("kmeans: run %d of %d: %w", r+1, cfg.Runs, err)
			}
			return nil, err
		}
		if best == nil || m.Inertia < best.Inertia {
			best = m
		}
	}
	best.Silhouette = math.NaN()
	if cfg.SilhouetteSample > 0 {
		s, err := sampleSilhouette(ctx, x, ds, best, cfg.SilhouetteSample, mix(cfg.Seed^0x5111))
		if err != nil {
			return nil, err
		}
		best.Silhouette = s
	}
	return best, nil
}

// fitRun is run number run: initialise (or take the centres of from, a
// state in this run), iterate, and measure the final centres. best is the
// best model of the runs before, for the checkpoints.
func fitRun(ctx context.Context, x cluster.Executor, ds *cluster.Dataset, cfg Config, run int, best *Model, from *State, start time.Time) (*Model, error) {
	k, d := cfg.K, ds.Cols()
	m := &Model{K: k, Dim: d}
	var c []float64
	switch {
	case from != nil:
		c = append([]float64(nil), from.Centres...)
		m.Iterations = from.Iter
	case cfg.InitialCentres != nil:
		c = append([]float64(nil), cfg.InitialCentres...)
	default:
		var err error
		if c, err = initialCentres(ctx, x, ds, cfg, mix(cfg.Seed+uint64(run))); err != nil {
			return nil, fmt.Errorf("kmeans: %s initialisation: %w", cfg.Init, err)
		}
	}
	for m.Iterations < cfg.MaxIter {
		cs := newCentres(c, k, d, ds.Sparse())
		p, err := cluster.Aggregate(ctx, x, ds, lloydTask, &lloydArgs{Centres: cs, Far: k})
		if err != nil {
			return nil, fmt.Errorf("kmeans: iteration %d: %w", m.Iterations+1, err)
		}
		next := update(c, p, k, d)
		moved := 0.0
		for j := range k {
			moved = max(moved, floats.Distance(next[j*d:(j+1)*d], c[j*d:(j+1)*d], 2))
		}
		c = next
		m.Iterations++
		m.Converged = moved <= cfg.Tol || moved == 0
		if cfg.Progress != nil {
			cfg.Progress(Progress{Run: run, Iter: m.Iterations, Cost: p.Cost, Moved: moved, Elapsed: time.Since(start),
				Stop: stopReason(cfg, m, moved)})
		}
		if m.Converged {
			break
		}
		if cfg.CheckpointDue(m.Iterations, m.Iterations >= cfg.MaxIter) {
			if err := cfg.SaveCheckpoint(m.Iterations, newState(cfg, d, run, m.Iterations, c, best)); err != nil {
				return nil, fmt.Errorf("kmeans: %w", err)
			}
		}
	}
	cs := newCentres(c, k, d, ds.Sparse())
	p, err := cluster.Aggregate(ctx, x, ds, costTask, &cs)
	if err != nil {
		return nil, fmt.Errorf("kmeans: final cost: %w", err)
	}
	m.Centres, m.Sizes, m.Inertia = c, p.Count, p.Cost
	return m, nil
}

// stopReason says why run m stops after its latest iteration, whose
// centres moved by up to moved; "" if it goes on.
func stopReason(cfg Config, m *Model, moved float64) string {
	switch {
	case moved == 0:
		return "converged: no centre moved"
	case m.Converged:
		return fmt.Sprintf("converged: no centre moved more than tol %g (the farthest %.2g)", cfg.Tol, moved)
	case m.Iterations >= cfg.MaxIter:
		return fmt.Sprintf("max_iter %d reached", cfg.MaxIter)
	}
	return ""
}

// update computes the next centres from a Lloyd pass: the weighted mean of
// each cluster's rows. An empty cluster is re-seeded, as scikit-learn does,
// with the row farthest from its own centre (the next farthest for the next
// empty cluster), and that row is taken out of the cluster it was in. A
// candidate whose removal would empty its own cluster is passed over. If
// no candidate is left (fewer distinct rows than clusters), the empty
// cluster keeps its centre.
func update(old []float64, p *lloydPartial, k, d int) []float64 {
	next := make([]float64, k*d)
	seeded := make([]bool, k)
	far := p.Far
	for j := range k {
		if p.Weight[j] > 0 {
			continue
		}
		for len(far) > 0 {
			f := far[0]
			far = far[1:]
			if p.Count[f.Label] <= 1 || p.Weight[f.Label]-f.W <= 0 {
				continue
			}
			x := f.row()
			copy(next[j*d:(j+1)*d], x)
			floats.AddScaled(p.Sums[int(f.Label)*d:int(f.Label+1)*d], -f.W, x)
			p.Weight[f.Label] -= f.W
			p.Count[f.Label]--
			seeded[j] = true
			break
		}
	}
	for j := range k {
		dst := next[j*d : (j+1)*d]
		switch {
		case seeded[j]:
		case p.Weight[j] > 0:
			w := p.Weight[j]
			for l, s := range p.Sums[j*d : (j+1)*d] {
				dst[l] = s / w
			}
		default:
			copy(dst, old[j*d:(j+1)*d])
		}
	}
	return next
}

// Cost returns the weighted sum of squared distances of the rows of ds to
// their nearest centre of m (the inertia of m on ds), and how many rows
// fall in each cluster.
func (m *Model) Cost(ctx context.Context, x cluster.Executor, ds *cluster.Dataset) (float64, []int64, error) {
	if ds.Rows() > 0 && ds.Cols() != m.Dim {
		return 0, nil, fmt.Errorf("kmeans: dataset %q has %d features, the model %d", ds.Name(), ds.Cols(), m.Dim)
	}
	if err := m.check(); err != nil {
		return 0, nil, err
	}
	cs := newCentres(m.Centres, m.K, m.Dim, ds.Sparse())
	p, err := cluster.Aggregate(ctx, x, ds, costTask, &cs)
	if err != nil {
		return 0, nil, err
	}
	return p.Cost, p.Count, nil
}
