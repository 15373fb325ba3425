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
	// folds makes k seeded folds.
	folds(ctx context.Context, k int, seed uint64) ([]fold, error)
	// drop releases what the data holds on the cluster.
	drop()
}

// fold is one train/test pair of a k-fold split.
type fold struct{ train, test data }

func dropFolds(folds []fold) {
	for _, f := range folds {
		f.train.drop()
		f.test.drop()
	}
}

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

func (r rowsData) folds(ctx context.Context, k int, seed uint64) ([]fold, error) {
	fs, err := ml.KFold(ctx, r.x, r.ds, k, seed)
	if err != nil {
		return nil, err
	}
	out := make([]fold, len(fs))
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

func (r ratingsData) folds(_ context.Context, k int, seed uint64) ([]fold, error) {
	if k < 2 {
		return nil, fmt.Errorf("trainer: cross-validation needs at least 2 folds, got %d", k)
	}
	out := make([]fold, k)
	for i := range out {
		test, train := als.Select(r, seed, float64(i)/float64(k), float64(i+1)/float64(k))
		out[i] = fold{ratingsData(train), ratingsData(test)}
	}
	return out, nil
}

func (ratingsData) drop() {}
