package cluster

import "fmt"

// arrangement records how a consuming split (SplitArg.Consume) rearranged
// a block's rows: the n rows whose seeded number fell in [lo, hi) first,
// then the others, each group in its original order. When folds is set,
// Folds rearranged them instead, and the block stays usable.
type arrangement struct {
	seed   uint64
	lo, hi float64
	n      int
	folds  *foldLayout
}

// foldLayout records how Folds (or Fold's views) rearranged a block's
// rows: grouped by their fold of k for seed, fold i's rows at [bounds[i],
// bounds[i+1]), each fold's in their original order — or, when last is
// not -1, fold last's rows moved after all the others' (arrangeFoldsLast).
// orig[r] is the original position of the row now at r.
type foldLayout struct {
	seed   uint64
	k      int
	last   int
	bounds []int
	orig   []int32
}

func (r *arrangement) reused(part int) error {
	return fmt.Errorf("cluster: partition %d was rearranged by a consuming split (seed %d, [%v, %v)) and cannot be split again; split a dataset with SplitArg.Consume only once, then drop it", part, r.seed, r.lo, r.hi)
}

// arrange rearranges b's rows for the consuming split a, once, and returns
// how many rows lie in [a.Lo, a.Hi) (they come first). A dense block is
// rearranged in place with one row of scratch space; a sparse block's
// arrays are rebuilt at their current capacities.
func arrange(b *Block, part int, a *SplitArg) (int, error) {
	if r := b.arranged; r != nil {
		if r.folds != nil {
			return 0, fmt.Errorf("cluster: partition %d was rearranged into %d-fold views (seed %d) and cannot be split consuming; split it with a copying Select, or before making folds", part, r.folds.k, r.folds.seed)
		}
		if r.seed == a.Seed && r.lo == a.Lo && r.hi == a.Hi {
			return r.n, nil
		}
		return 0, r.reused(part)
	}
	in := make([]bool, b.Rows)
	n := 0
	for i := range in {
		u := unitHash(a.Seed, uint64(part), uint64(i))
		if u >= a.Lo && u < a.Hi {
			in[i] = true
			n++
		}
	}
	if b.Sparse() {
		arrangeSparse(b, in)
	} else {
		arrangeDense(b, in, n)
	}
	b.arranged = &arrangement{seed: a.Seed, lo: a.Lo, hi: a.Hi, n: n}
	return n, nil
}

// arrangeDense is a stable partition in place: it moves the n rows marked
// in to the front and the others after them, each group in its order,
// following the permutation's cycles with one row of scratch space (and
// 4 bytes a row for the permutation), so a split allocates next to
// nothing the size of the data.
func arrangeDense(b *Block, in []bool, n int) {
	dest := make([]int32, b.Rows)
	first, rest := 0, n
	for i, v := range in {
		if v {
			dest[i] = int32(first)
			first++
		} else {
			dest[i] = int32(rest)
			rest++
		}
	}
	permuteDense(b, dest)
}

// arrangeSparse rebuilds a CSR block's arrays in the arranged order, each
// at the capacity the old one had (so the memory the block accounts for
// does not change).
func arrangeSparse(b *Block, in []bool) {
	ptr := make([]int, 1, cap(b.Ptr))
	ind := make([]int32, 0, cap(b.Ind))
	val := make([]float64, 0, cap(b.Val))
	y := make([]float64, 0, cap(b.Y))
	var w []float64
	if b.W != nil {
		w = make([]float64, 0, cap(b.W))
	}
	for _, group := range []bool{true, false} {
		for i, v := range in {
			if v != group {
				continue
			}
			ri, rv := b.SparseRow(i)
			ind, val = append(ind, ri...), append(val, rv...)
			ptr = append(ptr, len(ind))
			y = append(y, b.Y[i])
			if w != nil {
				w = append(w, b.W[i])
			}
		}
	}
	b.Ptr, b.Ind, b.Val, b.Y, b.W = ptr, ind, val, y, w
}
