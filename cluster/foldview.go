package cluster

import (
	"context"
	"fmt"
)

// ViewDeriver is a Deriver that derives one fold of a k-fold split at a
// time as views of the parent's cached rows (cluster/remote's Driver): see
// Fold for the contract it implements.
type ViewDeriver interface {
	Deriver
	// DerivesViews reports whether fold views of ds can be derived: not
	// of a dataset that is itself a view.
	DerivesViews(ds *Dataset) bool
}

// foldViewArg is the argument of the fold-view transform: fold I of K for
// Seed, its test rows or (Test false) its training rows.
type foldViewArg struct {
	Seed uint64
	I, K int
	Test bool
}

// foldViewTransform rearranges its partition in place into the order
// [folds 0..I-1, folds I+1..K-1, fold I], each fold's rows in their
// original order (arrangeFoldsLast), and returns the training or test rows
// as one range of it, sharing its memory. A ViewDeriver applies it to its
// cached partitions and tracks the views; a partition rebuilt from its
// lineage (another worker taking over a lost one) applies it to the
// partition read again, which gives the same rows in the same order.
var foldViewTransform = RegisterTransform(&Transform[foldViewArg]{
	Name: "cluster.foldView",
	Apply: func(_ context.Context, part Part, a *foldViewArg) (*Block, error) {
		bounds, err := arrangeFoldsLast(part.Block, part.Index, a.K, a.Seed, a.I)
		if err != nil {
			return nil, err
		}
		b, cut := part.Block, bounds[a.K-1]
		if a.Test {
			return b.Slice(cut, b.Rows), nil
		}
		return b.Slice(0, cut), nil
	},
})

// TransformView reports whether the named transform, with the encoded
// argument, returns a view of its parent partition rather than rows of
// its own: a row range of the parent rearranged in place (Fold's views).
// If so, arrangement names the order it puts the parent's rows in: two
// views of a partition can be alive together only when their
// arrangements are equal, and arranging a partition differently must wait
// until its views are dropped.
func TransformView(transform string, arg []byte) (arrangement string, view bool, err error) {
	if transform != foldViewTransform.Name {
		return "", false, nil
	}
	a, err := foldViewTransform.decodeArg(arg)
	if err != nil {
		return "", true, err
	}
	fa := a.(*foldViewArg)
	return fmt.Sprintf("fold %d of %d (seed %d)", fa.I+1, fa.K, fa.Seed), true, nil
}

// FoldIsView reports whether Fold of ds on x makes views, which hold no
// memory of their own, rather than copies.
func FoldIsView(x Deriver, ds *Dataset) bool {
	if vd, ok := x.(ViewDeriver); ok && vd.DerivesViews(ds) {
		return true
	}
	return FoldsAreViews(x, ds)
}

// Fold makes fold i of Folds' k folds of ds — the test rows whose seeded
// number falls in [i/k, (i+1)/k) and the training rows, all the others —
// for a caller that uses the folds one at a time. release drops both; call
// it once done with the fold, before making the next.
//
// On a ViewDeriver (a remote cluster's Driver) the two datasets are views
// and copy nothing: every partition of ds is rearranged in place, on the
// worker that caches it, into the order [folds 0..i-1, folds i+1..k-1,
// fold i] (each fold's rows in their original order, the folds Folds
// assigns), and the training dataset is the first range of each
// partition, the test dataset the last. Its training rows are thus, in
// each partition, the rows and the order of the Engine's two training
// views of that partition concatenated; a copying split gives the same
// rows in their original order. Going from fold i to fold i+1 moves only
// the rows of folds i..k-1. The views hold no memory of their own (a
// sparse view holds its own row offsets, 8 bytes a row): the workers'
// cached bytes do not grow. Contract:
//
//   - Nothing may run on ds while Fold rearranges it (the Driver holds off
//     its own tasks on ds meanwhile). While the views exist, tasks and
//     copying derivations (Select, RandomSplit) may run on ds: ds keeps
//     all its rows, in the new order, and a copying split of it selects
//     by each row's original position, so it gives what it gives on ds
//     unarranged.
//   - Fold j of ds (another i, k or seed) can only be made once fold i's
//     views are released; a worker refuses it before that. A consuming
//     split (SplitConsuming) of ds or of a view fails, and folds of a view
//     (nested cross-validation) are copies.
//   - The views die with release (or their Scope's Close). Dropping ds
//     while they are alive is safe: its memory stays cached, and counted,
//     until the last view of it is dropped.
//   - A worker lost while the views exist: its partitions of them are
//     rebuilt on a survivor from their lineage (ds's sources and
//     derivations, then this rearrangement), with the same rows in the
//     same order, as copies of their own.
//
// On an Engine, Fold takes fold i of Folds' views (Folds), and elsewhere
// it makes copies (FoldCopy).
func Fold(ctx context.Context, x Deriver, ds *Dataset, i, k int, seed uint64) (train, test *Dataset, release func(), err error) {
	if k < 2 {
		return nil, nil, nil, fmt.Errorf("cluster: cross-validation needs at least 2 folds, got %d", k)
	}
	if i < 0 || i >= k {
		return nil, nil, nil, fmt.Errorf("cluster: fold %d of %d does not exist", i, k)
	}
	switch vd, ok := x.(ViewDeriver); {
	case ok && vd.DerivesViews(ds):
		a := foldViewArg{Seed: seed, I: i, K: k, Test: true}
		if test, err = Derive(ctx, x, ds, foldName(ds, i, k, "test"), foldViewTransform, &a); err != nil {
			return nil, nil, nil, err
		}
		a.Test = false
		if train, err = Derive(ctx, x, ds, foldName(ds, i, k, "train"), foldViewTransform, &a); err != nil {
			dropAll(x, []*Dataset{test})
			return nil, nil, nil, err
		}
	case FoldsAreViews(x, ds):
		trains, tests, err := Folds(ctx, x, ds, k, seed)
		if err != nil {
			return nil, nil, nil, err
		}
		train, test = trains[i], tests[i]
		trains[i], tests[i] = nil, nil
		dropAll(x, trains)
		dropAll(x, tests)
	default:
		if train, test, err = FoldCopy(ctx, x, ds, i, k, seed); err != nil {
			return nil, nil, nil, err
		}
	}
	return train, test, func() { dropAll(x, []*Dataset{train, test}) }, nil
}
