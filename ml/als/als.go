package als

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/ml"
)

// Cold-start strategies (Config.ColdStart, Model.ColdStart), as MLlib's
// coldStartStrategy.
const (
	ColdStartNaN  = "nan"  // a user or item unseen in training is predicted NaN (the default)
	ColdStartDrop = "drop" // evaluation leaves such pairs out
)

// Config configures Fit. Zero fields take the defaults given. A Config is a
// plain value and is not modified by Fit.
type Config struct {
	// Rank is the number of latent factors. 0 means 10.
	Rank int
	// MaxIter is the number of iterations, each solving all item factors
	// and then all user factors. 0 means 10.
	MaxIter int
	// Tol, when > 0, stops the fit before MaxIter once it has converged:
	// after an iteration whose objective (the loss in the package doc, at
	// the new factors) is within Tol·objective of the previous
	// iteration's, so no sooner than the second iteration. Each row's
	// term comes from its own solve (Σ r² − xᵀb at the solution of its
	// normal equations), O(ratings + rows·Rank) in all, beside the solves'
	// O(ratings·Rank²); its precision is about 1e-16 of Σ r², so a Tol
	// far below 1e-16·Σ r² / objective stops on rounding. 0 runs MaxIter
	// iterations.
	Tol float64
	// Start, if not nil, is a warm start: the fit starts from this
	// model's factors (and biases) for the ids it shares with the
	// ratings, matched by id (not by position, so users and items may
	// have come and gone since), and from the seeded random factors of a
	// cold fit for the others. Its Rank must be Config.Rank, it must have
	// biases exactly when Config.Biases is set and, with NonNegative, no
	// negative factor. An iteration solves the items first, from the user
	// factors and biases, so those are what shape the fit; the item
	// factors are overwritten before they are read. Start is not
	// modified; Resume, when set, takes precedence.
	Start *Model
	// Lambda is the regularisation, multiplied for each user and item by
	// its number of ratings (ALS-WR; positive ratings for implicit
	// feedback), as in MLlib. 0 means 0.1; it must not be negative.
	Lambda float64
	// Implicit treats ratings as implicit feedback with confidence
	// 1 + Alpha·|r| and preference [r > 0] (Hu, Koren and Volinsky 2008).
	Implicit bool
	// Alpha scales implicit confidence. 0 means 1.
	Alpha float64
	// NonNegative constrains every factor to be ≥ 0 (each least-squares
	// problem is then solved by an active-set NNLS instead of Cholesky).
	NonNegative bool
	// Seed seeds the initial user factors.
	Seed uint64
	// Blocks is the number of partitions each side's ratings are cut into
	// (users and items by their position modulo Blocks). 0 means 10. The
	// factors do not depend on it, nor on the number of workers.
	Blocks int
	// ColdStart is ColdStartNaN (default) or ColdStartDrop; it is copied to
	// the model.
	ColdStart string
	// MaxBroadcastBytes bounds the factors broadcast to every worker in a
	// half-iteration: max(users, items)·Rank·8 bytes (plus Rank²·8).
	// Fit fails before it starts when that would be exceeded. 0 means
	// 1 GiB.
	MaxBroadcastBytes int64
	// Biases adds a bias per user and per item to the model, as biased
	// matrix factorisation does: a rating is predicted as μ + b_u + b_i +
	// x_u·y_i, μ the mean training rating. Each half-iteration solves a
	// row's factor and bias together (the other side's factors extended by
	// a constant 1, the ratings less μ and the other side's biases), with
	// the bias regularised by Lambda like the factor. Explicit feedback
	// only, and not with NonNegative (the bias may be negative).
	Biases bool
	// KeepRated keeps each user's training items in the model (4 bytes
	// per rating), so that recommendations can leave them out.
	KeepRated bool

	// Checkpointing (CheckpointEvery, Checkpoint, Resume) hands the fit's
	// State to Checkpoint after every CheckpointEvery-th iteration below
	// MaxIter, on the goroutine that called Fit, and continues a fit from
	// one: from its factors instead of seeded ones. Rank, Implicit,
	// NonNegative, Biases and the user and item ids of the ratings must be
	// those of the fit that wrote it, and MaxIter no less than its
	// iteration; otherwise Fit fails with an error naming the mismatch.
	// The factors are then bit for bit those of the uninterrupted fit.
	ml.Checkpointing[State]

	// Progress, if not nil, is called after every iteration, on the
	// goroutine that called Fit.
	Progress func(Progress)
}

// Progress is one iteration of Fit, as Config.Progress sees it.
type Progress struct {
	Iter    int           // iterations done, counting this one (and those before a resume)
	Elapsed time.Duration // since Fit started
	// Loss is the objective after the iteration when Config.Tol > 0
	// (the package doc's loss, summed in row order), else NaN.
	Loss float64
	// Stop is empty on every report but the last, where it says why the
	// fit stopped: "max_iter 10 reached", or, with Config.Tol,
	// "converged: the objective changed by 3.1e-05 of itself, within tol 0.0001".
	Stop string
}

func (c Config) withDefaults() Config {
	if c.Rank == 0 {
		c.Rank = 10
	}
	if c.MaxIter == 0 {
		c.MaxIter = 10
	}
	if c.Lambda == 0 {
		c.Lambda = 0.1
	}
	if c.Alpha == 0 {
		c.Alpha = 1
	}
	if c.Blocks == 0 {
		c.Blocks = 10
	}
	if c.ColdStart == "" {
		c.ColdStart = ColdStartNaN
	}
	if c.MaxBroadcastBytes == 0 {
		c.MaxBroadcastBytes = 1 << 30
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Rank < 1:
		return fmt.Errorf("als: Config.Rank must be >= 1, got %d", c.Rank)
	case c.MaxIter < 0:
		return fmt.Errorf("als: Config.MaxIter must be >= 0, got %d", c.MaxIter)
	case !(c.Tol >= 0) || math.IsInf(c.Tol, 0):
		return fmt.Errorf("als: Config.Tol must be finite and >= 0, got %v", c.Tol)
	case !(c.Lambda >= 0) || math.IsInf(c.Lambda, 0):
		return fmt.Errorf("als: Config.Lambda must be finite and >= 0, got %v", c.Lambda)
	case !(c.Alpha >= 0) || math.IsInf(c.Alpha, 0):
		return fmt.Errorf("als: Config.Alpha must be finite and >= 0, got %v", c.Alpha)
	case c.Blocks < 1:
		return fmt.Errorf("als: Config.Blocks must be >= 1, got %d", c.Blocks)
	case c.ColdStart != ColdStartNaN && c.ColdStart != ColdStartDrop:
		return fmt.Errorf("als: Config.ColdStart %q: want %q or %q", c.ColdStart, ColdStartNaN, ColdStartDrop)
	case c.MaxBroadcastBytes < 0:
		return fmt.Errorf("als: Config.MaxBroadcastBytes must be >= 0, got %d", c.MaxBroadcastBytes)
	case c.Biases && c.Implicit:
		return errors.New("als: Config.Biases applies to explicit feedback, not with Config.Implicit")
	case c.Biases && c.NonNegative:
		return errors.New("als: Config.Biases cannot be combined with Config.NonNegative (a bias may be negative)")
	}
	if err := c.ValidateCheckpointing("Config"); err != nil {
		return fmt.Errorf("als: %w", err)
	}
	if c.Start != nil && c.Resume == nil {
		return c.checkStart()
	}
	return nil
}

// BroadcastLimitError reports factors too large to broadcast under
// Config.MaxBroadcastBytes.
type BroadcastLimitError struct {
	Side  string // "user" or "item": the larger side
	Rows  int    // its number of distinct ids
	Rank  int
	Bytes int64 // what one worker would hold
	Limit int64
}

func (e *BroadcastLimitError) Error() string {
	return fmt.Sprintf("als: every worker would hold the %d %s factors of rank %d (%d bytes), over Config.MaxBroadcastBytes = %d; lower the rank or raise the limit",
		e.Rows, e.Side, e.Rank, e.Bytes, e.Limit)
}

// ErrNoRatings is returned by Fit when there is nothing to fit.
var ErrNoRatings = errors.New("als: no ratings")

// Executor is what Fit needs of an engine: running registered tasks, and
// caching the rating blocks it builds. *cluster.Engine implements it.
type Executor interface {
	cluster.Executor
	FromBlocks(ctx context.Context, name string, blocks []*cluster.Block) (*cluster.Dataset, error)
	Drop(ds *cluster.Dataset)
}

// Fit factorises the ratings matrix by alternating least squares: starting
// from seeded random user factors, each iteration solves every item's
// factor with the user factors fixed, then every user's with the item
// factors fixed. Each half-iteration is one task over the cached blocks of
// one side, with the other side's factors broadcast; every row is solved
// on its own, so the factors are bit-identical for any number of workers
// and of blocks.
func Fit(ctx context.Context, x Executor, ratings []Rating, cfg Config) (*Model, error) {
	start := time.Now()
	t, err := newTrainer(ctx, x, ratings, cfg)
	if err != nil {
		return nil, err
	}
	defer t.close()
	first, prev := 0, math.NaN()
	if st := t.cfg.Resume; st != nil {
		first, prev = st.Iter, st.Loss
	}
	for it := first; it < t.cfg.MaxIter; it++ {
		if err := t.iterate(ctx); err != nil {
			return nil, fmt.Errorf("als: iteration %d: %w", it+1, err)
		}
		done, loss, stop := it+1, t.objective(), ""
		switch {
		case t.cfg.Tol > 0 && math.Abs(prev-loss) <= t.cfg.Tol*math.Abs(prev):
			stop = fmt.Sprintf("converged: the objective changed by %.2g of itself, within tol %g", math.Abs(prev-loss)/math.Abs(prev), t.cfg.Tol)
		case done == t.cfg.MaxIter:
			stop = fmt.Sprintf("max_iter %d reached", t.cfg.MaxIter)
		}
		prev = loss
		if t.cfg.Progress != nil {
			t.cfg.Progress(Progress{Iter: done, Elapsed: time.Since(start), Loss: loss, Stop: stop})
		}
		if t.cfg.CheckpointDue(done, stop != "") {
			if err := t.cfg.SaveCheckpoint(done, t.state(done, loss)); err != nil {
				return nil, fmt.Errorf("als: %w", err)
			}
		}
		if stop != "" {
			break
		}
	}
	return t.model(), nil
}

// FitDataset fits the ratings of a dataset of (user, item, rating) rows, as
// Format decodes them from a log topic or files.
func FitDataset(ctx context.Context, x Executor, ds *cluster.Dataset, cfg Config) (*Model, error) {
	rs, err := Collect(ctx, x, ds)
	if err != nil {
		return nil, err
	}
	return Fit(ctx, x, rs, cfg)
}

// trainer holds a fit in progress: the two sides' cached rating blocks and
// the current factors.
type trainer struct {
	x              Executor
	cfg            Config
	userIDs        []int64
	itemIDs        []int64
	byUser         csr // kept for the model's rated items (Config.KeepRated)
	users, items   *cluster.Dataset
	userF, itemF   []float64
	userB, itemB   []float64 // biases (Config.Biases), else nil
	userL, itemL   []float64 // each row's term of the objective (Config.Tol), else nil
	mean           float64   // the mean training rating (Config.Biases)
	userNNZ, itNNZ []int     // ratings per row, for flop counts
	lo, hi         float64   // the range of the ratings
}

func newTrainer(ctx context.Context, x Executor, ratings []Rating, cfg Config) (*trainer, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if len(ratings) == 0 {
		return nil, ErrNoRatings
	}
	if len(ratings) > math.MaxInt32 {
		return nil, fmt.Errorf("als: %d ratings, more than 2³¹-1", len(ratings))
	}
	rawU, rawI := make([]int64, len(ratings)), make([]int64, len(ratings))
	t := &trainer{x: x, cfg: cfg, lo: math.Inf(1), hi: math.Inf(-1)}
	for r, rt := range ratings {
		if err := rt.check(); err != nil {
			return nil, fmt.Errorf("als: rating %d (user %d, item %d): %w", r, rt.User, rt.Item, err)
		}
		rawU[r], rawI[r] = rt.User, rt.Item
		t.lo, t.hi = min(t.lo, rt.Value), max(t.hi, rt.Value)
	}
	var upos, ipos []int32
	t.userIDs, upos = denseIndex(rawU)
	t.itemIDs, ipos = denseIndex(rawI)
	nu, ni, k := len(t.userIDs), len(t.itemIDs), cfg.Rank
	if st := cfg.Resume; st != nil {
		if err := st.resumable(cfg, t.userIDs, t.itemIDs); err != nil {
			return nil, err
		}
	}
	if need := broadcastBytes(max(nu, ni), k, cfg.Biases); need > cfg.MaxBroadcastBytes {
		e := &BroadcastLimitError{Side: "user", Rows: nu, Rank: k, Bytes: need, Limit: cfg.MaxBroadcastBytes}
		if ni > nu {
			e.Side, e.Rows = "item", ni
		}
		return nil, e
	}
	t.byUser = buildCSR(ratings, upos, ipos, nu, ni, cfg.Implicit)
	byItem := t.byUser.transpose(ni)
	var err error
	if t.users, err = x.FromBlocks(ctx, "als ratings by user", t.byUser.blocks(cfg.Blocks, ni)); err != nil {
		return nil, fmt.Errorf("als: cache ratings by user: %w", err)
	}
	if t.items, err = x.FromBlocks(ctx, "als ratings by item", byItem.blocks(cfg.Blocks, nu)); err != nil {
		x.Drop(t.users)
		return nil, fmt.Errorf("als: cache ratings by item: %w", err)
	}
	t.userNNZ, t.itNNZ = rowLengths(t.byUser), rowLengths(byItem)
	if cfg.Biases {
		t.mean = meanOf(t.byUser.val)
	}
	if !cfg.KeepRated {
		t.byUser = csr{} // the engine holds the blocks; the driver needs no copy
	}
	if st := cfg.Resume; st != nil {
		t.userF, t.itemF = slices.Clone(st.UserFactors), slices.Clone(st.ItemFactors)
		t.userB, t.itemB = slices.Clone(st.UserBiases), slices.Clone(st.ItemBiases)
	} else {
		t.userF = initFactors(nu, k, cfg.Seed, cfg.NonNegative)
		t.itemF = make([]float64, ni*k)
		if cfg.Biases {
			t.userB, t.itemB = make([]float64, nu), make([]float64, ni)
		}
		if cfg.Start != nil {
			t.startFrom(cfg.Start)
		}
	}
	if cfg.Tol > 0 {
		t.userL, t.itemL = make([]float64, nu), make([]float64, ni)
	}
	return t, nil
}

// broadcastBytes is what every worker holds in a half-iteration: the
// other side's factors (one more column and the biases with Config.Biases)
// and, for implicit feedback, YᵀY.
func broadcastBytes(rows, k int, biases bool) int64 {
	if biases {
		return int64(rows)*int64(k+2)*8 + int64(k*k)*8
	}
	return int64(rows)*int64(k)*8 + int64(k*k)*8
}

// meanOf is the mean of the ratings, summed in order (deterministic).
func meanOf(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func rowLengths(c csr) []int {
	n := make([]int, len(c.ptr)-1)
	for i := range n {
		n[i] = c.ptr[i+1] - c.ptr[i]
	}
	return n
}

// initFactors draws n unit vectors of dimension k with Gaussian directions
// (absolute values for non-negative factors), as MLlib initialises.
func initFactors(n, k int, seed uint64, nonNeg bool) []float64 {
	rng := rand.New(rand.NewPCG(seed, 0xa15))
	f := make([]float64, n*k)
	for i := range n {
		row := f[i*k : (i+1)*k]
		norm := 0.0
		for c := range row {
			v := rng.NormFloat64()
			if nonNeg {
				v = math.Abs(v)
			}
			row[c] = v
			norm += v * v
		}
		norm = math.Sqrt(norm)
		for c := range row {
			row[c] /= norm
		}
	}
	return f
}

func (t *trainer) close() {
	t.x.Drop(t.users)
	t.x.Drop(t.items)
}

// iterate runs one iteration: items from users, then users from items.
// With Config.Tol the items' half measures their regularisation and the
// users' half their data terms and regularisation: together, the
// objective at the new factors.
func (t *trainer) iterate(ctx context.Context) error {
	if err := t.halfStep(ctx, t.items, sideF{t.userF, t.userB, nil}, sideF{t.itemF, t.itemB, t.itemL}, "item", t.itemIDs); err != nil {
		return err
	}
	return t.halfStep(ctx, t.users, sideF{t.itemF, t.itemB, nil}, sideF{t.userF, t.userB, t.userL}, "user", t.userIDs)
}

// objective sums the rows' terms of the last iteration's objective, in
// row order (the same sum for any number of workers and blocks); NaN
// without Config.Tol.
func (t *trainer) objective() float64 {
	if t.userL == nil {
		return math.NaN()
	}
	s := 0.0
	for _, v := range t.itemL {
		s += v
	}
	for _, v := range t.userL {
		s += v
	}
	return s
}

// sideF is one side's factors, biases (nil without Config.Biases) and
// terms of the objective (nil without Config.Tol).
type sideF struct{ f, b, loss []float64 }

// halfStep solves the factors (and biases) dst of every row of ds (one
// side) with the other side's fixed. With biases the solve is of rank+1
// unknowns per row, [x, b], against the other side's factors extended by a
// constant 1, for the ratings less the mean and the other side's biases.
func (t *trainer) halfStep(ctx context.Context, ds *cluster.Dataset, other, dst sideF, side string, ids []int64) error {
	k := t.cfg.Rank
	args := &solveArgs{Rank: k, Other: other.f, Lambda: t.cfg.Lambda, Alpha: t.cfg.Alpha, Implicit: t.cfg.Implicit, NonNeg: t.cfg.NonNegative}
	if t.cfg.Implicit {
		args.YtY = gram(other.f, k)
	}
	if t.cfg.Biases {
		args.Rank, args.Other, args.OtherBias, args.Mean = k+1, withOnes(other.f, k), other.b, t.mean
	}
	if dst.loss != nil {
		args.Loss = lossReg
		if side == "user" {
			args.Loss = lossAll
		}
	}
	p, err := cluster.Aggregate(ctx, t.x, ds, solveTask, args)
	if err != nil {
		var se *singularError
		if errors.As(err, &se) {
			return fmt.Errorf("%s %d (%d ratings): normal equations are singular at rank %d with Lambda %v; raise Lambda",
				side, ids[se.Row], se.Ratings, k, t.cfg.Lambda)
		}
		return fmt.Errorf("solve %s factors: %w", side, err)
	}
	d := args.Rank
	for _, b := range p.Blocks {
		for r, row := range b.Rows {
			copy(dst.f[int(row)*k:int(row+1)*k], b.F[r*d:r*d+k])
			if dst.b != nil {
				dst.b[row] = b.F[r*d+k]
			}
			if dst.loss != nil {
				dst.loss[row] = b.Loss[r]
			}
		}
	}
	return nil
}

// withOnes returns the factors f of rank k with a constant 1 appended to
// each row (rank k+1).
func withOnes(f []float64, k int) []float64 {
	n := len(f) / k
	out := make([]float64, n*(k+1))
	for r := range n {
		copy(out[r*(k+1):], f[r*k:(r+1)*k])
		out[r*(k+1)+k] = 1
	}
	return out
}

// model returns the fitted model (sharing the factor slices).
func (t *trainer) model() *Model {
	m := &Model{Rank: t.cfg.Rank, Implicit: t.cfg.Implicit, ColdStart: t.cfg.ColdStart,
		UserIDs: t.userIDs, ItemIDs: t.itemIDs, UserFactors: t.userF, ItemFactors: t.itemF}
	if !t.cfg.Implicit {
		m.HasRatingRange, m.RatingMin, m.RatingMax = true, t.lo, t.hi
	}
	if t.cfg.Biases {
		m.Biased, m.GlobalMean, m.UserBiases, m.ItemBiases = true, t.mean, t.userB, t.itemB
	}
	if t.cfg.KeepRated {
		m.RatedPtr = make([]int64, len(t.byUser.ptr))
		for i, p := range t.byUser.ptr {
			m.RatedPtr[i] = int64(p)
		}
		m.RatedItems = t.byUser.ind
	}
	return m
}
