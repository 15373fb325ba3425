package cluster

import (
	"context"
	"fmt"
)

// Folds splits ds into k seeded folds for cross-validation: fold i's test
// rows are those whose seeded uniform number (see SplitArg) falls in
// [i/k, (i+1)/k), its training rows all the others. A row's fold depends
// only on the seed, its partition and its original position, so the folds
// are the same for any number of workers.
//
// On an Engine (or a Scope over one) the folds are views and copy nothing:
// each partition of ds is rearranged in place once, its rows grouped by
// fold (fold 0's first, each fold's rows in their original order), and
// fold i's test dataset is one row range of each partition, its training
// dataset the rows before and after that range (two partitions for each
// of ds's, those that are not empty). The views hold no memory of their
// own: the engine's cached bytes do not grow, and dropping them frees only
// their metadata. ds keeps all its rows, in the new order; nothing may run
// on it while Folds rearranges it, it must outlive its folds, and folds of
// another seed or k can only be made once these are dropped. A training
// dataset's rows come fold by fold rather than in their original order, so
// sums over them may differ from a copying split's in the last bits.
//
// Other executors (a remote cluster) get copies, made with Select, and so
// do folds of a fold view: all k folds at once then hold k times ds's
// rows, so a caller that can use the folds one at a time asks
// FoldsAreViews first and, when they would be copies, makes each with
// Fold (views on a remote cluster's workers, copies elsewhere) and
// releases it before making the next.
func Folds(ctx context.Context, x Deriver, ds *Dataset, k int, seed uint64) (train, test []*Dataset, err error) {
	if k < 2 {
		return nil, nil, fmt.Errorf("cluster: cross-validation needs at least 2 folds, got %d", k)
	}
	if fv, ok := x.(foldViewer); ok {
		return fv.foldViews(ctx, ds, k, seed)
	}
	return copyFolds(ctx, x, ds, k, seed)
}

// FoldsAreViews reports whether Folds of ds on x makes views, which hold
// no memory of their own, rather than copies.
func FoldsAreViews(x Deriver, ds *Dataset) bool {
	fv, ok := x.(foldViewer)
	return ok && fv.viewsFolds(ds)
}

// FoldCopy makes fold i of Folds' k folds as copies, with Select: the
// rows, in the order, that Folds copies for fold i.
func FoldCopy(ctx context.Context, x Deriver, ds *Dataset, i, k int, seed uint64) (train, test *Dataset, err error) {
	if k < 2 {
		return nil, nil, fmt.Errorf("cluster: cross-validation needs at least 2 folds, got %d", k)
	}
	if i < 0 || i >= k {
		return nil, nil, fmt.Errorf("cluster: fold %d of %d does not exist", i, k)
	}
	a := SplitArg{Seed: seed, Lo: float64(i) / float64(k), Hi: float64(i+1) / float64(k)}
	if test, err = Select(ctx, x, ds, foldName(ds, i, k, "test"), a); err != nil {
		return nil, nil, err
	}
	a.Complement = true
	if train, err = Select(ctx, x, ds, foldName(ds, i, k, "train"), a); err != nil {
		dropAll(x, []*Dataset{test})
		return nil, nil, err
	}
	return train, test, nil
}

// isView reports whether ds is a fold view: its rows are another
// dataset's memory, which rearranging them would reorder under that
// dataset's other views.
func (e *Engine) isView(ds *Dataset) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, ok := e.views[ds.id]
	return ok
}

// foldViewer is an executor that makes k-fold splits as views.
type foldViewer interface {
	foldViews(ctx context.Context, ds *Dataset, k int, seed uint64) (train, test []*Dataset, err error)
	// viewsFolds reports whether foldViews makes views of ds.
	viewsFolds(ds *Dataset) bool
}

func foldName(ds *Dataset, i, k int, side string) string {
	return fmt.Sprintf("%s[fold %d/%d %s]", ds.name, i+1, k, side)
}

// copyFolds makes the folds as copies, two Selects per fold.
func copyFolds(ctx context.Context, x Deriver, ds *Dataset, k int, seed uint64) (train, test []*Dataset, err error) {
	defer func() {
		if err != nil {
			dropAll(x, train)
			dropAll(x, test)
			train, test = nil, nil
		}
	}()
	for i := 0; i < k; i++ {
		tr, te, err := FoldCopy(ctx, x, ds, i, k, seed)
		if err != nil {
			return train, test, err
		}
		train, test = append(train, tr), append(test, te)
	}
	return train, test, nil
}

func dropAll(x any, ds []*Dataset) {
	d, ok := x.(interface{ Drop(*Dataset) })
	if !ok {
		return
	}
	for _, s := range ds {
		if s != nil {
			d.Drop(s)
		}
	}
}

// viewsFolds implements foldViewer: folds of a fold view are copies.
func (e *Engine) viewsFolds(ds *Dataset) bool { return !e.isView(ds) }

// foldViews implements foldViewer: it arranges every partition of ds by
// fold on its worker, then registers the views.
func (e *Engine) foldViews(ctx context.Context, ds *Dataset, k int, seed uint64) (train, test []*Dataset, err error) {
	if e.isView(ds) {
		// Folds of a fold (nested cross-validation) are copies.
		return copyFolds(ctx, e, ds, k, seed)
	}
	if err := e.begin(); err != nil {
		return nil, nil, err
	}
	defer e.inflight.Done()
	blocks, err := e.datasetBlocks(ds)
	if err != nil {
		return nil, nil, err
	}
	e.mu.Lock()
	if u := e.foldUsers[ds.id]; u.live > 0 && (u.seed != seed || u.k != k) {
		e.mu.Unlock()
		return nil, nil, fmt.Errorf("cluster: dataset %q has %d-fold views of seed %d in use; drop them before making %d folds of seed %d", ds.name, u.k, u.seed, k, seed)
	}
	e.mu.Unlock()
	bounds := make([][]int, len(blocks))
	err = e.runOnWorkers(ctx, len(blocks), "k-fold arrangement of dataset "+ds.name, func(_ context.Context, p int) error {
		var err error
		bounds[p], err = arrangeFolds(blocks[p], p, k, seed)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	for i := 0; i < k; i++ {
		var tr, te []*Block
		var trSrc, teSrc []Source
		for p, b := range blocks {
			lo, hi := bounds[p][i], bounds[p][i+1]
			te, teSrc = append(te, b.Slice(lo, hi)), append(teSrc, ds.parts[p].Source)
			if lo > 0 {
				tr, trSrc = append(tr, b.Slice(0, lo)), append(trSrc, ds.parts[p].Source)
			}
			if hi < b.Rows {
				tr, trSrc = append(tr, b.Slice(hi, b.Rows)), append(trSrc, ds.parts[p].Source)
			}
		}
		if len(tr) == 0 && len(blocks) > 0 {
			tr, trSrc = append(tr, blocks[0].Slice(0, 0)), append(trSrc, ds.parts[0].Source)
		}
		test = append(test, e.addView(ds, foldName(ds, i, k, "test"), te, teSrc, k, seed))
		train = append(train, e.addView(ds, foldName(ds, i, k, "train"), tr, trSrc, k, seed))
	}
	return train, test, nil
}

// addView registers blocks that share parent's memory as a dataset. Its
// partitions account for no bytes, since the parent holds the memory.
func (e *Engine) addView(parent *Dataset, name string, blocks []*Block, sources []Source, k int, seed uint64) *Dataset {
	ds := &Dataset{id: datasetIDs.Add(1), name: name, cols: parent.cols, sparse: parent.sparse, parts: make([]PartitionStats, len(blocks))}
	for i, b := range blocks {
		ds.parts[i] = PartitionStats{Index: i, Worker: e.worker(i), Rows: b.Rows, Source: sources[i]}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.blocks[ds.id] = blocks
	e.views[ds.id] = parent.id
	u := e.foldUsers[parent.id]
	e.foldUsers[parent.id] = foldUse{seed: seed, k: k, live: u.live + 1}
	return ds
}

// foldUse counts the live fold views of a dataset and says which folds
// they are.
type foldUse struct {
	seed uint64
	k    int
	live int
}

// dropView forgets view dataset id; the caller holds e.mu.
func (e *Engine) dropView(id uint64) {
	parent := e.views[id]
	delete(e.views, id)
	u := e.foldUsers[parent]
	if u.live--; u.live <= 0 {
		delete(e.foldUsers, parent)
		return
	}
	e.foldUsers[parent] = u
}
