package ml

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/flintml/flint/cluster"
)

// Estimator fits a model to a dataset. LinearRegression,
// LogisticRegression and LinearSVC implement it.
type Estimator interface {
	FitModel(ctx context.Context, x cluster.Executor, ds *cluster.Dataset) (Model, error)
}

// Splitting a dataset for validation uses the engine's seeded selections:
// cluster.RandomSplit for a train/test split, and cluster.Select with the
// range [i/k, (i+1)/k) of a row's seeded uniform number for fold i of k
// (its complement being fold i's training rows). A row's side depends only
// on the seed, its partition and its position, so folds are the same for
// any number of workers.

// fold is one train/test pair of a k-fold split.
type fold struct{ train, test *cluster.Dataset }

// dropper is the part of an executor that releases derived datasets.
type dropper interface{ Drop(ds *cluster.Dataset) }

func makeFolds(ctx context.Context, x cluster.Deriver, ds *cluster.Dataset, k int, seed uint64) ([]fold, error) {
	if k < 2 {
		return nil, fmt.Errorf("ml: cross-validation needs at least 2 folds, got %d", k)
	}
	folds := make([]fold, 0, k)
	for i := 0; i < k; i++ {
		a := cluster.SplitArg{Seed: seed, Lo: float64(i) / float64(k), Hi: float64(i+1) / float64(k)}
		test, err := cluster.Select(ctx, x, ds, fmt.Sprintf("%s[fold %d/%d test]", ds.Name(), i+1, k), a)
		if err != nil {
			dropFolds(x, folds)
			return nil, err
		}
		a.Complement = true
		train, err := cluster.Select(ctx, x, ds, fmt.Sprintf("%s[fold %d/%d train]", ds.Name(), i+1, k), a)
		if err != nil {
			dropFolds(x, append(folds, fold{test: test}))
			return nil, err
		}
		folds = append(folds, fold{train: train, test: test})
	}
	return folds, nil
}

func dropFolds(x cluster.Executor, folds []fold) {
	d, ok := x.(dropper)
	if !ok {
		return
	}
	for _, f := range folds {
		if f.train != nil {
			d.Drop(f.train)
		}
		if f.test != nil {
			d.Drop(f.test)
		}
	}
}

// CVResult is the outcome of a cross-validation.
type CVResult struct {
	Metric    string
	Folds     []float64 // the metric on each fold's test rows
	Mean, Std float64   // over the folds (Std with the n−1 denominator)
}

// CrossValidate fits est on the training rows of each of k seeded folds and
// scores it on the fold's test rows with the named metric (see
// Metrics.Value).
func CrossValidate(ctx context.Context, x cluster.Deriver, ds *cluster.Dataset, est Estimator, k int, seed uint64, metric string) (*CVResult, error) {
	if _, ok := LargerIsBetter(metric); !ok {
		return nil, fmt.Errorf("ml: cross-validation: unknown metric %q", metric)
	}
	folds, err := makeFolds(ctx, x, ds, k, seed)
	if err != nil {
		return nil, err
	}
	defer dropFolds(x, folds)
	return crossValidate(ctx, x, folds, est, metric)
}

func crossValidate(ctx context.Context, x cluster.Executor, folds []fold, est Estimator, metric string) (*CVResult, error) {
	r := &CVResult{Metric: metric, Folds: make([]float64, len(folds))}
	for i, f := range folds {
		m, err := est.FitModel(ctx, x, f.train)
		if err != nil {
			return nil, fmt.Errorf("ml: fold %d of %d: %w", i+1, len(folds), err)
		}
		ev, err := Evaluate(ctx, x, f.test, m)
		if err != nil {
			return nil, fmt.Errorf("ml: fold %d of %d: %w", i+1, len(folds), err)
		}
		if r.Folds[i], err = ev.Value(metric); err != nil {
			return nil, fmt.Errorf("ml: fold %d of %d: %w", i+1, len(folds), err)
		}
	}
	r.Mean, r.Std = meanStd(r.Folds)
	return r, nil
}

func meanStd(v []float64) (mean, std float64) {
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	if len(v) < 2 {
		return mean, 0
	}
	var ss float64
	for _, x := range v {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / float64(len(v)-1))
}

// Params is one combination of hyper-parameter values, by name.
type Params map[string]float64

func (p Params) String() string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%g", k, p[k])
	}
	return strings.Join(parts, " ")
}

// GridSearch cross-validates an estimator over every combination of
// hyper-parameter values and picks the best by a metric, as MLlib's
// CrossValidator with a ParamGridBuilder.
type GridSearch struct {
	// Grid maps each hyper-parameter name to the values to try.
	Grid map[string][]float64
	// Build returns the estimator for one combination, e.g. a
	// LogisticRegression with RegParam set to p["regParam"].
	Build func(p Params) (Estimator, error)
	// Folds is k of k-fold cross-validation; 0 means 3 (MLlib's default).
	Folds int
	// Seed seeds the folds; every combination sees the same folds.
	Seed uint64
	// Metric is the name of the metric to optimise (see Metrics.Value).
	Metric string
}

// Trial is the cross-validation of one combination.
type Trial struct {
	Params    Params
	Folds     []float64
	Mean, Std float64
}

// GridResult is the outcome of a grid search.
type GridResult struct {
	Metric         string
	LargerIsBetter bool
	Best           Params // the combination with the best mean metric
	BestMean       float64
	Trials         []Trial // every combination, in the grid's order (names sorted, values as given)
}

// combinations lists the grid's combinations: names sorted, the last name
// varying fastest.
func (g GridSearch) combinations() ([]Params, error) {
	names := make([]string, 0, len(g.Grid))
	for n, vals := range g.Grid {
		if len(vals) == 0 {
			return nil, fmt.Errorf("ml: grid search: parameter %q has no values", n)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	combos := []Params{{}}
	for _, n := range names {
		var next []Params
		for _, c := range combos {
			for _, v := range g.Grid[n] {
				p := make(Params, len(c)+1)
				for k, cv := range c {
					p[k] = cv
				}
				p[n] = v
				next = append(next, p)
			}
		}
		combos = next
	}
	return combos, nil
}

// Run makes the folds once, then cross-validates every combination on them.
func (g GridSearch) Run(ctx context.Context, x cluster.Deriver, ds *cluster.Dataset) (*GridResult, error) {
	better, ok := LargerIsBetter(g.Metric)
	if !ok {
		return nil, fmt.Errorf("ml: grid search: unknown metric %q", g.Metric)
	}
	if g.Build == nil {
		return nil, fmt.Errorf("ml: grid search: Build is nil")
	}
	k := g.Folds
	if k == 0 {
		k = 3
	}
	combos, err := g.combinations()
	if err != nil {
		return nil, err
	}
	folds, err := makeFolds(ctx, x, ds, k, g.Seed)
	if err != nil {
		return nil, err
	}
	defer dropFolds(x, folds)
	res := &GridResult{Metric: g.Metric, LargerIsBetter: better}
	best := -1
	for _, p := range combos {
		est, err := g.Build(p)
		if err != nil {
			return nil, fmt.Errorf("ml: grid search: %v: %w", p, err)
		}
		cv, err := crossValidate(ctx, x, folds, est, g.Metric)
		if err != nil {
			return nil, fmt.Errorf("ml: grid search: %v: %w", p, err)
		}
		res.Trials = append(res.Trials, Trial{Params: p, Folds: cv.Folds, Mean: cv.Mean, Std: cv.Std})
		i := len(res.Trials) - 1
		if best < 0 || (better && cv.Mean > res.Trials[best].Mean) || (!better && cv.Mean < res.Trials[best].Mean) {
			best = i
		}
	}
	res.Best, res.BestMean = res.Trials[best].Params, res.Trials[best].Mean
	return res, nil
}
