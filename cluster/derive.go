package cluster

import (
	"context"
	"fmt"
	"math"
)

// Transform derives a new partition from each partition of a dataset: a
// filter, a sample, a change of features. Like Task it is registered by name
// so that remote workers can run it, and its argument must be gob-encodable.
// The derived dataset keeps the parent's partitioning and placement.
type Transform[A any] struct {
	Name  string
	Apply func(ctx context.Context, part Part, arg *A) (*Block, error)
}

var transforms = map[string]any{}

// RegisterTransform makes a transform known by name. Like Register it is for
// package initialisation and panics on a repeated or empty name.
func RegisterTransform[A any](t *Transform[A]) *Transform[A] {
	if t.Name == "" || t.Apply == nil {
		panic(fmt.Sprintf("cluster: RegisterTransform(%q): Name and Apply are required", t.Name))
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := transforms[t.Name]; dup {
		panic(fmt.Sprintf("cluster: transform %q registered twice", t.Name))
	}
	transforms[t.Name] = t
	return t
}

// Deriver is an executor that can derive datasets.
type Deriver interface {
	Executor
	// DerivePartitions applies a registered transform to every partition.
	DerivePartitions(ctx context.Context, ds *Dataset, name, transform string, arg any) (*Dataset, error)
}

// Derive applies t to every partition of ds, caching the result as a new
// dataset named name.
func Derive[A any](ctx context.Context, x Deriver, ds *Dataset, name string, t *Transform[A], arg *A) (*Dataset, error) {
	return x.DerivePartitions(ctx, ds, name, t.Name, arg)
}

// DerivePartitions implements Deriver.
func (e *Engine) DerivePartitions(ctx context.Context, ds *Dataset, name, transform string, arg any) (*Dataset, error) {
	registry.RLock()
	t, ok := transforms[transform]
	registry.RUnlock()
	if !ok {
		return nil, fmt.Errorf("cluster: unknown transform %q", transform)
	}
	apply, ok := t.(interface {
		apply(ctx context.Context, part Part, arg any) (*Block, error)
	})
	if !ok {
		return nil, fmt.Errorf("cluster: transform %q is malformed", transform)
	}
	if transform == foldViewTransform.Name {
		return nil, fmt.Errorf("cluster: transform %s makes views, which an Engine makes with Folds; use Fold", transform)
	}
	if a, ok := arg.(*SplitArg); ok && a.Consume && e.isView(ds) {
		return nil, fmt.Errorf("cluster: dataset %q is a fold view of another dataset's rows and cannot be split consuming; split it with a copying Select", ds.name)
	}
	parent, err := e.datasetBlocks(ds)
	if err != nil {
		return nil, err
	}
	sources := ds.Lineage()
	return e.build(ctx, name, sources, func(ctx context.Context, i int) (*Block, error) {
		b, err := apply.apply(ctx, Part{Index: i, Block: parent[i]}, arg)
		if err != nil {
			return nil, fmt.Errorf("transform %s on partition %d of dataset %q: %w", transform, i, ds.name, err)
		}
		return b, nil
	})
}

func (t *Transform[A]) apply(ctx context.Context, part Part, arg any) (*Block, error) {
	a, ok := arg.(*A)
	if !ok {
		return nil, fmt.Errorf("cluster: transform %s: argument is %T, want %T", t.Name, arg, a)
	}
	return t.Apply(ctx, part, a)
}

// SplitArg selects rows by a seeded uniform number u in [0, 1) drawn for
// each row: the rows with Lo <= u < Hi, or all the others when Complement
// is set. A random split is [0, f) and its complement; fold i of k is
// [i/k, (i+1)/k).
//
// With Consume the selection copies nothing: it rearranges the parent's
// rows within each partition, the rows in [Lo, Hi) first and the others
// after them, each group in its original order, and returns a view of its
// side that shares the parent's memory. Both sides of one split (the same
// Seed, Lo and Hi, with and without Complement) share the one
// rearrangement, so the two together hold exactly the parent's memory once.
// The parent then keeps the same rows in the new order: a caller that
// consumes a dataset this way drops it after taking the sides and runs
// nothing else on it, and a second consuming split of it with another range
// fails. The rows of each side, and their order, are those a copying split
// gives, so results are the same either way.
type SplitArg struct {
	Seed       uint64
	Lo, Hi     float64
	Complement bool
	Consume    bool
}

// splitTransform keeps the rows of one side of a seeded random split. A
// row's side depends only on the seed, its partition and its position, so a
// split is the same for any number of workers.
var splitTransform = RegisterTransform(&Transform[SplitArg]{
	Name: "cluster.randomSplit",
	Apply: func(_ context.Context, part Part, a *SplitArg) (*Block, error) {
		b := part.Block
		if a.Consume {
			n, err := arrange(b, part.Index, a)
			if err != nil {
				return nil, err
			}
			if a.Complement {
				return b.Slice(n, b.Rows), nil
			}
			return b.Slice(0, n), nil
		}
		var orig []int32 // the rows' original positions, after Folds rearranged them
		if r := b.arranged; r != nil {
			if r.folds == nil {
				return nil, r.reused(part.Index)
			}
			orig = r.folds.orig
		}
		var nb *Builder
		var row []float64 // a float32 row widened (exactly; the builder rounds it back)
		switch {
		case b.Sparse():
			nb = NewSparseBuilder(b.Cols)
		case b.Float32():
			nb, row = NewDense32Builder(b.Cols, int(float64(b.Rows)*(a.Hi-a.Lo))+1), make([]float64, b.Cols)
		default:
			nb = NewDenseBuilder(b.Cols, int(float64(b.Rows)*(a.Hi-a.Lo))+1)
		}
		at := originalOrder(orig)
		for o := 0; o < b.Rows; o++ {
			u := unitHash(a.Seed, uint64(part.Index), uint64(o))
			if (u >= a.Lo && u < a.Hi) == a.Complement {
				continue
			}
			i := at(o)
			var err error
			if b.Sparse() {
				ind, val := b.SparseRow(i)
				err = nb.AddSparse(ind, val, b.Y[i], b.Weight(i))
			} else {
				err = nb.AddDense(b.DenseRow(i, row), b.Y[i], b.Weight(i))
			}
			if err != nil {
				return nil, err
			}
		}
		return nb.Block(), nil
	},
})

// RandomSplit splits ds into two datasets holding about fraction and
// 1-fraction of the rows, chosen by seed. It is deterministic. Both
// datasets are copies; ds is left as it was.
func RandomSplit(ctx context.Context, x Deriver, ds *Dataset, fraction float64, seed uint64) (first, second *Dataset, err error) {
	return randomSplit(ctx, x, ds, fraction, seed, false)
}

// SplitConsuming splits ds as RandomSplit does, into the same rows in the
// same order, without copying them: both datasets are views of ds's
// memory (SplitArg.Consume), and ds is dropped. Nothing may run on ds
// while it is being split; on an error ds is dropped too.
func SplitConsuming(ctx context.Context, x Cluster, ds *Dataset, fraction float64, seed uint64) (first, second *Dataset, err error) {
	defer x.Drop(ds)
	return randomSplit(ctx, x, ds, fraction, seed, true)
}

func randomSplit(ctx context.Context, x Deriver, ds *Dataset, fraction float64, seed uint64, consume bool) (first, second *Dataset, err error) {
	if !(fraction > 0 && fraction < 1) {
		return nil, nil, fmt.Errorf("cluster: split fraction %v must be in (0, 1)", fraction)
	}
	first, err = Select(ctx, x, ds, ds.name+"[split a]", SplitArg{Seed: seed, Lo: 0, Hi: fraction, Consume: consume})
	if err != nil {
		return nil, nil, err
	}
	second, err = Select(ctx, x, ds, ds.name+"[split b]", SplitArg{Seed: seed, Lo: 0, Hi: fraction, Complement: true, Consume: consume})
	if err != nil {
		if d, ok := x.(interface{ Drop(*Dataset) }); ok {
			d.Drop(first)
		}
		return nil, nil, err
	}
	return first, second, nil
}

// Select derives the dataset of the rows a selects. k-fold cross-validation
// uses it with [i/k, (i+1)/k) for fold i's test rows and the complement for
// its training rows.
func Select(ctx context.Context, x Deriver, ds *Dataset, name string, a SplitArg) (*Dataset, error) {
	if !(a.Lo >= 0 && a.Lo < a.Hi && a.Hi <= 1) {
		return nil, fmt.Errorf("cluster: select [%v, %v) is not a range within [0, 1]", a.Lo, a.Hi)
	}
	return Derive(ctx, x, ds, name, splitTransform, &a)
}

// unitHash maps (seed, a, b) to a uniform number in [0, 1) with SplitMix64.
func unitHash(seed, a, b uint64) float64 {
	z := seed ^ (a * 0x9e3779b97f4a7c15) ^ (b * 0xbf58476d1ce4e5b9)
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11) / math.Exp2(53)
}
