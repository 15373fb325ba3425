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
// cluster.RandomSplit for a train/test split, and cluster.Folds for k
// folds: fold i's test rows are those whose seeded uniform number falls in
// [i/k, (i+1)/k), its training rows the rest. A row's side depends only on
// the seed, its partition and its position, so folds are the same for any
// number of workers.

// Fold is one train/test pair of a k-fold split.
type Fold struct{ Train, Test *cluster.Dataset }

// dropper is the part of an executor that releases derived datasets.
type dropper interface{ Drop(ds *cluster.Dataset) }

// KFold splits ds into k seeded folds (cluster.Folds): fold i's test rows
// are those whose seeded uniform number falls in [i/k, (i+1)/k), its
// training rows the rest. On the in-process engine the folds are views of
// ds that copy nothing, and ds's rows are reordered by fold (see
// cluster.Folds for what that asks of the caller). Release them with
// DropFolds, before ds.
func KFold(ctx context.Context, x cluster.Deriver, ds *cluster.Dataset, k int, seed uint64) ([]Fold, error) {
	if k < 2 {
		return nil, fmt.Errorf("ml: cross-validation needs at least 2 folds, got %d", k)
	}
	train, test, err := cluster.Folds(ctx, x, ds, k, seed)
	if err != nil {
		return nil, err
	}
	folds := make([]Fold, k)
	for i := range folds {
		folds[i] = Fold{Train: train[i], Test: test[i]}
	}
	return folds, nil
}

// DropFolds releases the datasets of folds made by KFold.
func DropFolds(x cluster.Executor, folds []Fold) {
	d, ok := x.(dropper)
	if !ok {
		return
	}
	for _, f := range folds {
		if f.Train != nil {
			d.Drop(f.Train)
		}
		if f.Test != nil {
			d.Drop(f.Test)
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
	folds, err := KFold(ctx, x, ds, k, seed)
	if err != nil {
		return nil, err
	}
	defer DropFolds(x, folds)
	return crossValidate(ctx, x, folds, est, metric)
}

func crossValidate(ctx context.Context, x cluster.Executor, folds []Fold, est Estimator, metric string) (*CVResult, error) {
	r := &CVResult{Metric: metric, Folds: make([]float64, len(folds))}
	for i, f := range folds {
		m, err := est.FitModel(ctx, x, f.Train)
		if err != nil {
			return nil, fmt.Errorf("ml: fold %d of %d: %w", i+1, len(folds), err)
		}
		ev, err := Evaluate(ctx, x, f.Test, m)
		if err != nil {
			return nil, fmt.Errorf("ml: fold %d of %d: %w", i+1, len(folds), err)
		}
		if r.Folds[i], err = ev.Value(metric); err != nil {
			return nil, fmt.Errorf("ml: fold %d of %d: %w", i+1, len(folds), err)
		}
	}
	r.Mean, r.Std = MeanStd(r.Folds)
	return r, nil
}

// MeanStd returns the mean of v and its standard deviation with the n−1
// denominator (0 for fewer than two values).
func MeanStd(v []float64) (mean, std float64) {
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
