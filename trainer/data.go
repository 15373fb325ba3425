package trainer

import (
	"context"
	"fmt"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/ml/als"
)

// data is what an algorithm trains and is scored on: feature rows cached
// on the cluster, or ratings on the driver. The run splits it the same
// way whatever it holds: a row's side of a split or its fold depends only
// on the seed and where the row is, so the same for any number of
// workers.
type data interface {
	// rows is the number of rows (or ratings).
	rows() int
	// split divides the rows into the rest and about frac of them held out,
	// leaving the receiver as it was.
	split(ctx context.Context, frac float64, seed uint64) (rest, held data, err error)
	// splitOff divides the rows as split does, into the same halves, but
	// consumes the receiver: the halves share its memory where they can
	// (rowsData's are views of the cached blocks, nothing is copied) and
	// the receiver is released, so it must not be used again.
	splitOff(ctx context.Context, frac float64, seed uint64) (rest, held data, err error)
	// folds makes a k-fold split with a seed.
	folds(ctx context.Context, k int, seed uint64) (foldSet, error)
	// drop releases what the data holds on the cluster.
	drop()
}

// fold is one train/test pair of a k-fold split.
type fold struct{ train, test data }

// foldSet is a k-fold split. Its users take the folds one at a time, so
// folds that are copies are made when asked for and dropped when done
// with: a split holds at most one fold's copies, not k.
type foldSet interface {
	len() int
	// fold returns fold i; done releases what fold made for it.
	fold(ctx context.Context, i int) (f fold, done func(), err error)
	// drop releases what the split holds.
	drop()
}

// madeFolds are folds made all at once: views of the cached rows, which
// hold no memory of their own.
type madeFolds []fold

func (m madeFolds) len() int { return len(m) }

func (m madeFolds) fold(_ context.Context, i int) (fold, func(), error) { return m[i], func() {}, nil }

func (m madeFolds) drop() {
	for _, f := range m {
		f.train.drop()
		f.test.drop()
	}
}

// lazyFolds are folds made one at a time, when asked for, each dropped
// when done with: a remote cluster's (cluster.Fold: views its workers
// rearrange for each fold in turn, or copies where a cluster makes no
// views), or ALS's ratings on the driver.
type lazyFolds struct {
	k     int
	build func(ctx context.Context, i int) (fold, func(), error)
}

func (l lazyFolds) len() int { return l.k }

func (l lazyFolds) fold(ctx context.Context, i int) (fold, func(), error) { return l.build(ctx, i) }

func (lazyFolds) drop() {}

// rowsData is feature rows cached on the cluster.
type rowsData struct {
	x  cluster.Cluster
	ds *cluster.Dataset
}

func (r rowsData) rows() int { return r.ds.Rows() }

func (r rowsData) split(ctx context.Context, frac float64, seed uint64) (data, data, error) {
	rest, held, err := cluster.RandomSplit(ctx, r.x, r.ds, 1-frac, seed)
	if err != nil {
		return nil, nil, err
	}
	return rowsData{r.x, rest}, rowsData{r.x, held}, nil
}

func (r rowsData) splitOff(ctx context.Context, frac float64, seed uint64) (data, data, error) {
	rest, held, err := cluster.SplitConsuming(ctx, r.x, r.ds, 1-frac, seed)
	if err != nil {
		return nil, nil, err
	}
	return rowsData{r.x, rest}, rowsData{r.x, held}, nil
}

func (r rowsData) folds(ctx context.Context, k int, seed uint64) (foldSet, error) {
	if !cluster.FoldsAreViews(r.x, r.ds) {
		if k < 2 {
			return nil, fmt.Errorf("trainer: cross-validation needs at least 2 folds, got %d", k)
		}
		// One fold at a time: views of the cached rows where the cluster
		// makes them so (a remote cluster's workers), copies otherwise.
		return lazyFolds{k, func(ctx context.Context, i int) (fold, func(), error) {
			train, test, release, err := cluster.Fold(ctx, r.x, r.ds, i, k, seed)
			if err != nil {
				return fold{}, nil, err
			}
			return fold{rowsData{r.x, train}, rowsData{r.x, test}}, release, nil
		}}, nil
	}
	fs, err := ml.KFold(ctx, r.x, r.ds, k, seed)
	if err != nil {
		return nil, err
	}
	out := make(madeFolds, len(fs))
	for i, f := range fs {
		out[i] = fold{rowsData{r.x, f.Train}, rowsData{r.x, f.Test}}
	}
	return out, nil
}

func (r rowsData) drop() { r.x.Drop(r.ds) }

// ratingsData is ALS's ratings, read to the driver.
type ratingsData []als.Rating

func (r ratingsData) rows() int { return len(r) }

func (r ratingsData) split(_ context.Context, frac float64, seed uint64) (data, data, error) {
	held, rest := als.Select(r, seed, 0, frac)
	return ratingsData(rest), ratingsData(held), nil
}

// splitOff is split: the ratings are on the driver, and the halves are
// new slices whatever the receiver becomes.
func (r ratingsData) splitOff(ctx context.Context, frac float64, seed uint64) (data, data, error) {
	return r.split(ctx, frac, seed)
}

// folds makes each fold's ratings when asked for: the driver holds one
// fold's copies at a time.
func (r ratingsData) folds(_ context.Context, k int, seed uint64) (foldSet, error) {
	if k < 2 {
		return nil, fmt.Errorf("trainer: cross-validation needs at least 2 folds, got %d", k)
	}
	return lazyFolds{k, func(_ context.Context, i int) (fold, func(), error) {
		test, train := als.Select(r, seed, float64(i)/float64(k), float64(i+1)/float64(k))
		return fold{ratingsData(train), ratingsData(test)}, func() {}, nil
	}}, nil
}

func (ratingsData) drop() {}
