package mlp

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/flintml/flint/cluster"
)

// Result is what Train returns.
type Result struct {
	Model      *Model
	Iterations int     // optimiser steps taken
	Epochs     int     // epochs completed (the last may be partial when MaxIter stopped training)
	Loss       float64 // mean mini-batch loss over the last epoch, including the L2 penalty
	// Converged reports that training stopped because the epoch loss
	// stopped improving by Tol, rather than at Epochs or MaxIter.
	Converged bool
	Elapsed   time.Duration
}

// ErrDiverged reports a loss or gradient that became NaN or infinite,
// usually because the learning rate is too high for the data's scale.
var ErrDiverged = errors.New("mlp: training diverged")

// Train fits a network to the cached dataset ds on the executor x.
//
// Each iteration broadcasts the parameters; every partition samples its
// share of the mini-batch, and computes the summed loss and gradient of
// its rows on a gorgonia graph; the engine combines the partials in its
// fixed tree; the driver divides by the batch's total sample weight and
// takes an optimiser step. With the same cfg.Seed, data and partitioning,
// the weights are bit-for-bit the same for any number of workers.
//
// Labels are class indices 0..Classes-1 for Softmax and real targets for
// Identity. Train checks every row first and reports the first one it
// cannot use (a non-finite feature, a negative weight, a label that is not
// a class index).
func Train(ctx context.Context, x cluster.Executor, ds *cluster.Dataset, cfg Config) (*Result, error) {
	start := time.Now()
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if ds == nil || ds.Rows() == 0 {
		return nil, errors.New("mlp: the dataset has no rows")
	}
	if ds.Cols() == 0 {
		return nil, fmt.Errorf("mlp: dataset %q has no features", ds.Name())
	}
	t, err := newTraining(ctx, x, ds, cfg)
	if err != nil {
		return nil, err
	}
	if err := t.loop(ctx, start); err != nil {
		return nil, err
	}
	res := t.res
	if t.epochSteps > 0 { // MaxIter stopped training inside an epoch
		res.Epochs++
		res.Loss = t.epochLoss / float64(t.epochSteps)
	}
	res.Model = &Model{Sizes: t.sizes, Activation: cfg.Activation, Output: cfg.Output, Params: t.params}
	res.Elapsed = time.Since(start)
	return res, nil
}

// training is a run of Train in progress.
type training struct {
	cfg                   Config
	x                     cluster.Executor
	ds                    *cluster.Dataset
	sizes                 []int
	params, grad          []float64
	rows, batch, perEpoch int
	args                  *stepArgs
	opt                   optimizer
	res                   *Result
	first                 int     // the first iteration to run (0-based): the resumed state's Iteration
	best                  float64 // lowest mean epoch loss (the Tol test)
	stale                 int     // epochs since it last improved by Tol
	epochLoss             float64 // sum of the step losses of the epoch in progress
	epochSteps            int     // and their number
}

// newTraining checks the rows, sizes the network and sets up the run, from
// cfg.Resume when it is set.
func newTraining(ctx context.Context, x cluster.Executor, ds *cluster.Dataset, cfg Config) (*training, error) {
	scan, err := cluster.Aggregate(ctx, x, ds, scanTask, &scanArgs{Classify: cfg.Output == Softmax})
	if err != nil {
		return nil, fmt.Errorf("mlp: check dataset %q: %w", ds.Name(), err)
	}
	if scan.Bad != "" {
		return nil, fmt.Errorf("mlp: dataset %q: %s", ds.Name(), scan.Bad)
	}
	if !(scan.Weight > 0) {
		return nil, fmt.Errorf("mlp: dataset %q: the sample weights sum to %v, need > 0", ds.Name(), scan.Weight)
	}
	outputs := 1
	if cfg.Output == Softmax {
		outputs = cfg.Classes
		largest := int(scan.MaxLabel)
		if outputs == 0 {
			outputs = largest + 1
			if outputs < 2 {
				return nil, fmt.Errorf("mlp: dataset %q: every label is 0; Softmax needs at least 2 classes (set Config.Classes if the data lacks some)", ds.Name())
			}
		} else if largest >= outputs {
			return nil, fmt.Errorf("mlp: dataset %q: label %d is not below Config.Classes = %d", ds.Name(), largest, outputs)
		}
	}
	t := &training{cfg: cfg, x: x, ds: ds, rows: scan.Rows, res: &Result{}, best: math.Inf(1)}
	t.sizes = append(append([]int{ds.Cols()}, cfg.Hidden...), outputs)
	t.params = initParams(t.sizes, cfg.Activation, cfg.Seed)
	if w := cfg.InitialParams; w != nil {
		if len(w) != len(t.params) {
			return nil, fmt.Errorf("mlp: Config.InitialParams has %d values; a network of layer sizes %v has %d", len(w), t.sizes, len(t.params))
		}
		copy(t.params, w)
	}
	stats := ds.Stats()
	partRows := make([]int, len(stats))
	for i, s := range stats {
		partRows[i] = s.Rows
	}
	t.batch = min(cfg.BatchSize, t.rows)
	t.perEpoch = (t.rows + t.batch - 1) / t.batch
	t.args = &stepArgs{
		Sizes: t.sizes, Activation: cfg.Activation, Output: cfg.Output, Params: t.params, L2: cfg.L2,
		Seed: cfg.Seed, Shares: batchShares(partRows, t.batch), Full: t.batch == t.rows,
	}
	t.opt = newOptimizer(cfg, len(t.params))
	t.grad = make([]float64, len(t.params))
	if st := cfg.Resume; st != nil {
		if err := st.resumable(cfg, t.sizes, t.rows, t.batch); err != nil {
			return nil, err
		}
		copy(t.params, st.Params)
		t.opt.load(st)
		t.res.Iterations, t.res.Epochs, t.res.Loss = st.Iteration, st.epochs, st.loss
		t.best, t.stale, t.epochLoss, t.epochSteps = st.best, st.stale, st.epochLoss, st.epochSteps
		t.first = st.Iteration
	}
	return t, nil
}

// stopsBefore reports whether training ends before iteration it (0-based)
// runs.
func (t *training) stopsBefore(it int) bool {
	return it/t.perEpoch >= t.cfg.Epochs || (t.cfg.MaxIter > 0 && it >= t.cfg.MaxIter)
}

// loop runs the iterations: each reported once (but for a batch of only
// zero-weight rows, which teaches nothing), the last report saying why
// training stopped.
func (t *training) loop(ctx context.Context, start time.Time) error {
	cfg, res := t.cfg, t.res
	for it := t.first; !t.stopsBefore(it); it++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		epoch, step := it/t.perEpoch, it%t.perEpoch
		t.args.Epoch, t.args.Step = epoch, step
		p, err := cluster.Aggregate(ctx, t.x, t.ds, stepTask, t.args)
		if err != nil {
			return fmt.Errorf("mlp: iteration %d: %w", it+1, err)
		}
		var loss float64
		if p.Weight > 0 {
			loss = p.Loss / p.Weight
			for i, g := range p.Grad {
				t.grad[i] = g / p.Weight
			}
			if math.IsNaN(loss) || math.IsInf(loss, 0) || !finite(t.grad) {
				return fmt.Errorf("%w at iteration %d (loss %v); lower Config.LearningRate or scale the features", ErrDiverged, it+1, loss)
			}
			t.opt.step(t.params, t.grad)
			t.epochLoss += loss
			t.epochSteps++
			res.Loss = loss
		}
		res.Iterations = it + 1
		if step == t.perEpoch-1 {
			t.endEpoch(epoch)
		}
		stop := t.stopReason(it + 1)
		if p.Weight > 0 && cfg.Progress != nil {
			cfg.Progress(Progress{Iteration: it + 1, Epoch: epoch, Rows: p.Rows, Loss: loss, Elapsed: time.Since(start), Stop: stop})
		}
		if res.Converged {
			return nil
		}
		if done := it + 1; cfg.CheckpointDue(done, t.stopsBefore(done)) {
			if err := cfg.SaveCheckpoint(done, t.state(done)); err != nil {
				return fmt.Errorf("mlp: %w", err)
			}
		}
	}
	return nil
}

// endEpoch closes epoch: its mean loss becomes Result.Loss, and goes
// through the Tol test.
func (t *training) endEpoch(epoch int) {
	cfg, res := t.cfg, t.res
	res.Epochs = epoch + 1
	if t.epochSteps > 0 {
		mean := t.epochLoss / float64(t.epochSteps)
		res.Loss = mean
		if cfg.Tol >= 0 {
			if mean < t.best-cfg.Tol {
				t.stale = 0
			} else if t.stale++; t.stale >= cfg.Patience {
				res.Converged = true
			}
			t.best = min(t.best, mean)
		}
	}
	t.epochLoss, t.epochSteps = 0, 0
}

// stopReason says why training stops after done iterations, "" if it goes
// on.
func (t *training) stopReason(done int) string {
	cfg := t.cfg
	switch {
	case t.res.Converged:
		return fmt.Sprintf("converged: the mean epoch loss fell no more than tol %g below its best (%.4g) for %d epochs", cfg.Tol, t.best, cfg.Patience)
	case cfg.MaxIter > 0 && done >= cfg.MaxIter:
		return fmt.Sprintf("max_iter %d reached", cfg.MaxIter)
	case t.stopsBefore(done):
		return fmt.Sprintf("epochs %d reached", cfg.Epochs)
	}
	return ""
}

// state is the checkpoint after done iterations.
func (t *training) state(done int) *State {
	cfg := t.cfg
	st := &State{Sizes: slices.Clone(t.sizes), Activation: cfg.Activation, Output: cfg.Output, Optimizer: cfg.Optimizer,
		Seed: cfg.Seed, Rows: t.rows, BatchSize: t.batch, Iteration: done, Params: slices.Clone(t.params),
		loss: t.res.Loss, epochs: t.res.Epochs, epochLoss: t.epochLoss, epochSteps: t.epochSteps, best: t.best, stale: t.stale}
	t.opt.save(st)
	return st
}

func finite(v []float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// batchShares splits a mini-batch of batch rows over partitions of the
// given sizes in proportion to their rows (largest remainders get the
// rounding), giving every non-empty partition at least one row and no
// partition more rows than it has. The shares are fixed for the whole run,
// so each partition's graph keeps one shape.
func batchShares(partRows []int, batch int) []int {
	total := 0
	for _, n := range partRows {
		total += n
	}
	shares := make([]int, len(partRows))
	if total == 0 {
		return shares
	}
	if batch >= total {
		copy(shares, partRows)
		return shares
	}
	type rem struct {
		frac float64
		i    int
	}
	var rems []rem
	given := 0
	for i, n := range partRows {
		exact := float64(batch) * float64(n) / float64(total)
		shares[i] = int(exact)
		given += shares[i]
		if shares[i] < n {
			rems = append(rems, rem{exact - float64(shares[i]), i})
		}
	}
	// Hand out the rows lost to rounding, largest remainder first (ties to
	// the lower partition index).
	for given < batch && len(rems) > 0 {
		bestK := 0
		for k, r := range rems {
			if r.frac > rems[bestK].frac {
				bestK = k
			}
		}
		shares[rems[bestK].i]++
		given++
		rems = append(rems[:bestK], rems[bestK+1:]...)
	}
	for i, n := range partRows {
		if n > 0 && shares[i] == 0 {
			shares[i] = 1
		}
	}
	return shares
}

// initParams draws the initial weights and biases uniformly from
// ±√(f/(fan_in+fan_out)) (Glorot & Bengio; f = 6, or 2 for sigmoid
// layers), from a generator seeded by seed.
func initParams(sizes []int, act Activation, seed uint64) []float64 {
	p := make([]float64, numParams(sizes))
	rng := newSplitMix(mix(seed, 0x6d6c70)) // "mlp"
	off := 0
	for l := 0; l+1 < len(sizes); l++ {
		f := 6.0
		if act == Sigmoid && l+2 < len(sizes) {
			f = 2
		}
		bound := math.Sqrt(f / float64(sizes[l]+sizes[l+1]))
		n := (sizes[l] + 1) * sizes[l+1]
		for i := off; i < off+n; i++ {
			p[i] = bound * (2*rng.float() - 1)
		}
		off += n
	}
	return p
}

// optimizer updates the parameters from the averaged gradient.
type optimizer interface {
	step(params, grad []float64)
	// save copies the optimiser's state into st; load restores it.
	save(st *State)
	load(st *State)
}

func newOptimizer(cfg Config, n int) optimizer {
	if cfg.Optimizer == SGD {
		return &sgd{lr: cfg.LearningRate, mu: cfg.Momentum, v: make([]float64, n)}
	}
	return &adam{lr: cfg.LearningRate, b1: cfg.Beta1, b2: cfg.Beta2, eps: cfg.Epsilon, m: make([]float64, n), v: make([]float64, n)}
}

// sgd is gradient descent with heavy-ball momentum: v ← μv − η·g, w ← w + v.
type sgd struct {
	lr, mu float64
	v      []float64
}

func (o *sgd) save(st *State) { st.v = slices.Clone(o.v) }
func (o *sgd) load(st *State) { copy(o.v, st.v) }

func (o *sgd) step(w, g []float64) {
	for i := range w {
		o.v[i] = o.mu*o.v[i] - o.lr*g[i]
		w[i] += o.v[i]
	}
}

// adam is Adam with bias-corrected moment estimates.
type adam struct {
	lr, b1, b2, eps float64
	m, v            []float64
	t               int
}

func (o *adam) save(st *State) { st.m, st.v, st.t = slices.Clone(o.m), slices.Clone(o.v), o.t }
func (o *adam) load(st *State) {
	copy(o.m, st.m)
	copy(o.v, st.v)
	o.t = st.t
}

func (o *adam) step(w, g []float64) {
	o.t++
	c1 := 1 - math.Pow(o.b1, float64(o.t))
	c2 := 1 - math.Pow(o.b2, float64(o.t))
	lr := o.lr * math.Sqrt(c2) / c1
	for i := range w {
		o.m[i] = o.b1*o.m[i] + (1-o.b1)*g[i]
		o.v[i] = o.b2*o.v[i] + (1-o.b2)*g[i]*g[i]
		w[i] -= lr * o.m[i] / (math.Sqrt(o.v[i]) + o.eps)
	}
}
