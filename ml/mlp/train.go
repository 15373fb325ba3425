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

	sizes := append(append([]int{ds.Cols()}, cfg.Hidden...), outputs)
	params := initParams(sizes, cfg.Activation, cfg.Seed)

	stats := ds.Stats()
	partRows := make([]int, len(stats))
	for i, s := range stats {
		partRows[i] = s.Rows
	}
	rows := scan.Rows
	batch := min(cfg.BatchSize, rows)
	full := batch == rows
	shares := batchShares(partRows, batch)
	perEpoch := (rows + batch - 1) / batch
	args := &stepArgs{
		Sizes: sizes, Activation: cfg.Activation, Output: cfg.Output,
		Params: params, L2: cfg.L2, Seed: cfg.Seed, Shares: shares, Full: full,
	}

	opt := newOptimizer(cfg, len(params))
	grad := make([]float64, len(params))
	res := &Result{}
	best, stale := math.Inf(1), 0
	epochLoss, epochSteps := 0.0, 0
	first := 0
	if st := cfg.Resume; st != nil {
		if err := st.resumable(cfg, sizes, rows, batch); err != nil {
			return nil, err
		}
		copy(params, st.Params)
		opt.load(st)
		res.Iterations, res.Epochs, res.Loss = st.Iteration, st.epochs, st.loss
		best, stale, epochLoss, epochSteps = st.best, st.stale, st.epochLoss, st.epochSteps
		first = st.Iteration
	}
	// stopsBefore reports whether training ends before iteration it
	// (0-based) runs.
	stopsBefore := func(it int) bool {
		return it/perEpoch >= cfg.Epochs || (cfg.MaxIter > 0 && it >= cfg.MaxIter)
	}
	for it := first; ; it++ {
		epoch, step := it/perEpoch, it%perEpoch
		if stopsBefore(it) {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		args.Epoch, args.Step = epoch, step
		p, err := cluster.Aggregate(ctx, x, ds, stepTask, args)
		if err != nil {
			return nil, fmt.Errorf("mlp: iteration %d: %w", it+1, err)
		}
		if p.Weight > 0 { // a batch of only zero-weight rows teaches nothing
			loss := p.Loss / p.Weight
			for i, g := range p.Grad {
				grad[i] = g / p.Weight
			}
			if math.IsNaN(loss) || math.IsInf(loss, 0) || !finite(grad) {
				return nil, fmt.Errorf("%w at iteration %d (loss %v); lower Config.LearningRate or scale the features", ErrDiverged, it+1, loss)
			}
			opt.step(params, grad)
			epochLoss += loss
			epochSteps++
			res.Loss = loss
			if cfg.Progress != nil {
				cfg.Progress(Progress{Iteration: it + 1, Epoch: epoch, Rows: p.Rows, Loss: loss, Elapsed: time.Since(start)})
			}
		}
		res.Iterations = it + 1
		if step == perEpoch-1 {
			res.Epochs = epoch + 1
			if epochSteps > 0 {
				mean := epochLoss / float64(epochSteps)
				res.Loss = mean
				if cfg.Tol >= 0 {
					if mean < best-cfg.Tol {
						stale = 0
					} else if stale++; stale >= cfg.Patience {
						res.Converged = true
					}
					best = min(best, mean)
				}
			}
			epochLoss, epochSteps = 0, 0
			if res.Converged {
				break
			}
		}
		if done := it + 1; cfg.CheckpointDue(done, stopsBefore(done)) {
			st := &State{Sizes: slices.Clone(sizes), Activation: cfg.Activation, Output: cfg.Output, Optimizer: cfg.Optimizer,
				Seed: cfg.Seed, Rows: rows, BatchSize: batch, Iteration: done, Params: slices.Clone(params),
				loss: res.Loss, epochs: res.Epochs, epochLoss: epochLoss, epochSteps: epochSteps, best: best, stale: stale}
			opt.save(st)
			if err := cfg.SaveCheckpoint(done, st); err != nil {
				return nil, fmt.Errorf("mlp: %w", err)
			}
		}
	}
	if epochSteps > 0 { // MaxIter stopped training inside an epoch
		res.Epochs++
		res.Loss = epochLoss / float64(epochSteps)
	}
	res.Model = &Model{Sizes: sizes, Activation: cfg.Activation, Output: cfg.Output, Params: params}
	res.Elapsed = time.Since(start)
	return res, nil
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
