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

// foldLayout records how Folds rearranged a block's rows: grouped by their
// fold of k for seed, fold i's rows at [bounds[i], bounds[i+1]), each
// fold's in their original order. orig[r] is the original position of the
// row now at r.
type foldLayout struct {
	seed   uint64
	k      int
	bounds []int
	orig   []int32
}

func (r *arrangement) reused(part int) error {
	return fmt.Errorf("cluster: partition %d was rearranged by a consuming split (seed %d, [%v, %v)) and cannot be split again; split a dataset with SplitArg.Consume only once, then drop it", part, r.seed, r.lo, r.hi)
}

// arrange rearranges b's rows for the consuming split a, once, and returns
// how many rows lie in [a.Lo, a.Hi) (they come first). A dense block is
// rearranged in place with scratch space for the smaller group only; a
// sparse block's arrays are rebuilt at their current capacities.
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

// rowMover moves whole rows of a dense block (features, label, weight)
// between the block and a scratch block.
type rowMover struct {
	b, tmp *Block
}

func (m rowMover) toTmp(k, i int) {
	c := m.b.Cols
	copy(m.tmp.X[k*c:(k+1)*c], m.b.X[i*c:(i+1)*c])
	m.tmp.Y[k] = m.b.Y[i]
	if m.b.W != nil {
		m.tmp.W[k] = m.b.W[i]
	}
}

func (m rowMover) fromTmp(i, k int) {
	c := m.b.Cols
	copy(m.b.X[i*c:(i+1)*c], m.tmp.X[k*c:(k+1)*c])
	m.b.Y[i] = m.tmp.Y[k]
	if m.b.W != nil {
		m.b.W[i] = m.tmp.W[k]
	}
}

func (m rowMover) move(dst, src int) {
	c := m.b.Cols
	copy(m.b.X[dst*c:(dst+1)*c], m.b.X[src*c:(src+1)*c])
	m.b.Y[dst] = m.b.Y[src]
	if m.b.W != nil {
		m.b.W[dst] = m.b.W[src]
	}
}

// arrangeDense is a stable partition in place: the smaller group goes to
// scratch space, the larger slides (stably) to its end of the block, and
// the smaller comes back into the gap.
func arrangeDense(b *Block, in []bool, n int) {
	small, first := n, true // the smaller group: the n rows in range (first), or the others
	if b.Rows-n < n {
		small, first = b.Rows-n, false
	}
	if small == 0 {
		return
	}
	tmp := &Block{Cols: b.Cols, X: make([]float64, small*b.Cols), Y: make([]float64, small)}
	if b.W != nil {
		tmp.W = make([]float64, small)
	}
	m := rowMover{b, tmp}
	k := 0
	for i, v := range in {
		if v == first {
			m.toTmp(k, i)
			k++
		}
	}
	if first {
		// The other rows slide to the end, last one first.
		w := b.Rows - 1
		for i := b.Rows - 1; i >= 0; i-- {
			if !in[i] {
				if w != i {
					m.move(w, i)
				}
				w--
			}
		}
		for k := 0; k < small; k++ {
			m.fromTmp(k, k)
		}
		return
	}
	w := 0
	for i, v := range in {
		if v {
			if w != i {
				m.move(w, i)
			}
			w++
		}
	}
	for k := 0; k < small; k++ {
		m.fromTmp(n+k, k)
	}
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
