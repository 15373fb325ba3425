package als

import (
	"slices"

	"github.com/flintml/flint/cluster"
)

// denseIndex maps the distinct raw ids of one side to positions 0..n-1 in
// increasing id order. ids[p] is the raw id at position p; pos[r] is the
// position of the r-th raw id given.
func denseIndex(raw []int64) (ids []int64, pos []int32) {
	pos = make([]int32, len(raw))
	if len(raw) == 0 {
		return nil, pos
	}
	lo, hi := slices.Min(raw), slices.Max(raw)
	if span := uint64(hi - lo); span < uint64(4*len(raw)+1<<16) {
		// Ids fill a narrow range: a table over the range, no sorting.
		at := make([]int32, span+1)
		for _, v := range raw {
			at[v-lo] = 1
		}
		n := int32(0)
		for i, present := range at {
			if present != 0 {
				at[i] = n
				ids = append(ids, lo+int64(i))
				n++
			}
		}
		for r, v := range raw {
			pos[r] = at[v-lo]
		}
		return ids, pos
	}
	ids = slices.Clone(raw)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	for r, v := range raw {
		p, _ := slices.BinarySearch(ids, v)
		pos[r] = int32(p)
	}
	return slices.Clip(ids), pos
}

// csr is one side's ratings as compressed sparse rows: row e's entries are
// ind[ptr[e]:ptr[e+1]] (positions on the other side, increasing) with
// values val[ptr[e]:ptr[e+1]].
type csr struct {
	ptr []int
	ind []int32
	val []float64
}

// buildCSR groups ratings by user (rows) and item (columns), with nu users
// and ni items at the given positions. A pair rated more than once keeps,
// for explicit feedback, the rating with the latest Time (the later one in
// input order on a tie); for implicit feedback the values are summed.
func buildCSR(rs []Rating, upos, ipos []int32, nu, ni int, implicit bool) csr {
	n := len(rs)
	// Order the ratings by item, then (stably) by user: each user's ratings
	// end up sorted by item, repeats of a pair in input order.
	byItem := countingOrder(ipos, nil, ni)
	order := countingOrder(upos, byItem, nu)
	out := csr{ptr: make([]int, nu+1), ind: make([]int32, 0, n), val: make([]float64, 0, n)}
	var lastTime int64
	for k, r := range order {
		u, it := upos[r], ipos[r]
		if k > 0 && upos[order[k-1]] == u && ipos[order[k-1]] == it {
			last := len(out.val) - 1
			switch {
			case implicit:
				out.val[last] += rs[r].Value
			case rs[r].Time >= lastTime:
				out.val[last], lastTime = rs[r].Value, rs[r].Time
			}
			continue
		}
		out.ind = append(out.ind, it)
		out.val = append(out.val, rs[r].Value)
		lastTime = rs[r].Time
		out.ptr[u+1]++
	}
	for u := range nu {
		out.ptr[u+1] += out.ptr[u]
	}
	return out
}

// countingOrder returns the indices of keys (all of them, or those in
// order) stably sorted by key, keys in [0, n).
func countingOrder(keys []int32, order []int32, n int) []int32 {
	start := make([]int, n+1)
	for _, k := range keys {
		start[k+1]++
	}
	for i := range n {
		start[i+1] += start[i]
	}
	out := make([]int32, len(keys))
	if order == nil {
		for r, k := range keys {
			out[start[k]] = int32(r)
			start[k]++
		}
		return out
	}
	for _, r := range order {
		k := keys[r]
		out[start[k]] = r
		start[k]++
	}
	return out
}

// transpose returns the CSR of the other side: row i lists the rows of c
// that have an entry in column i, in increasing order.
func (c csr) transpose(cols int) csr {
	t := csr{ptr: make([]int, cols+1), ind: make([]int32, len(c.ind)), val: make([]float64, len(c.val))}
	for _, j := range c.ind {
		t.ptr[j+1]++
	}
	for j := range cols {
		t.ptr[j+1] += t.ptr[j]
	}
	next := slices.Clone(t.ptr[:cols])
	for r := range len(c.ptr) - 1 {
		for k := c.ptr[r]; k < c.ptr[r+1]; k++ {
			j := c.ind[k]
			t.ind[next[j]], t.val[next[j]] = int32(r), c.val[k]
			next[j]++
		}
	}
	return t
}

// blocks cuts c into parts cluster blocks: block b holds rows b, b+parts,
// b+2·parts, ... (round-robin, so that busy and quiet rows spread evenly),
// each row's label its row number in c. cols is the other side's size.
func (c csr) blocks(parts, cols int) []*cluster.Block {
	rows := len(c.ptr) - 1
	out := make([]*cluster.Block, parts)
	for b := range parts {
		blk := &cluster.Block{Cols: cols, Ptr: []int{0}}
		nnz := 0
		for r := b; r < rows; r += parts {
			nnz += c.ptr[r+1] - c.ptr[r]
		}
		blk.Ind, blk.Val = make([]int32, 0, nnz), make([]float64, 0, nnz)
		for r := b; r < rows; r += parts {
			blk.Ind = append(blk.Ind, c.ind[c.ptr[r]:c.ptr[r+1]]...)
			blk.Val = append(blk.Val, c.val[c.ptr[r]:c.ptr[r+1]]...)
			blk.Ptr = append(blk.Ptr, len(blk.Ind))
			blk.Y = append(blk.Y, float64(r))
			blk.Rows++
		}
		if blk.Y == nil {
			blk.Y = []float64{}
		}
		out[b] = blk
	}
	return out
}
