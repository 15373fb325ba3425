package cluster

// foldOf is the fold of k whose range [i/k, (i+1)/k) holds u, computed
// with the same bounds Select is given for fold i.
func foldOf(u float64, k int) int {
	f := min(int(u*float64(k)), k-1)
	for f > 0 && u < float64(f)/float64(k) {
		f--
	}
	for f < k-1 && u >= float64(f+1)/float64(k) {
		f++
	}
	return f
}

// arrangeFolds rearranges b's rows by fold (Folds), once for a given seed
// and k, and returns the k+1 bounds of the folds' row ranges. A row's fold
// is drawn from its original position, so arranging again for another
// seed gives the folds a copying split would.
func arrangeFolds(b *Block, part, k int, seed uint64) ([]int, error) {
	return arrangeFoldsLast(b, part, k, seed, -1)
}

// arrangeFoldsLast is arrangeFolds with fold last (unless -1) moved after
// all the others: the rows of folds 0..last-1 and last+1..k-1, then those
// of fold last, each fold's rows in their original order (Fold's views).
// The bounds are those of the groups in that order, so fold last's rows
// are [bounds[k-1], bounds[k]). Only the rows whose place changes move: from
// the arrangement for fold i to fold i+1's, the rows of folds 0..i-1 stay.
func arrangeFoldsLast(b *Block, part, k int, seed uint64, last int) ([]int, error) {
	var orig []int32
	if r := b.arranged; r != nil {
		if r.folds == nil {
			return nil, r.reused(part)
		}
		if r.folds.seed == seed && r.folds.k == k && r.folds.last == last {
			return r.folds.bounds, nil
		}
		orig = r.folds.orig
	}
	n := b.Rows
	if orig == nil {
		orig = make([]int32, n)
		for r := range orig {
			orig[r] = int32(r)
		}
	}
	pos := make([]int32, n) // pos[o]: where the row originally at o is now
	for r, o := range orig {
		pos[o] = int32(r)
	}
	// group[f]: the place of fold f in the new order.
	group := make([]int, k)
	for f := range group {
		switch {
		case last < 0 || f < last:
			group[f] = f
		case f == last:
			group[f] = k - 1
		default:
			group[f] = f - 1
		}
	}
	fold := make([]int32, n) // the group of each row, by original position
	bounds := make([]int, k+1)
	for o := range fold {
		g := group[foldOf(unitHash(seed, uint64(part), uint64(o)), k)]
		fold[o] = int32(g)
		bounds[g+1]++
	}
	for i := 1; i <= k; i++ {
		bounds[i] += bounds[i-1]
	}
	next := append([]int(nil), bounds[:k]...)
	dest := make([]int32, n) // dest[r]: where the row now at r goes
	newOrig := make([]int32, n)
	for o, g := range fold {
		d := next[g]
		next[g]++
		dest[pos[o]] = int32(d)
		newOrig[d] = int32(o)
	}
	if b.Sparse() {
		permuteSparse(b, dest)
	} else {
		permuteDense(b, dest)
	}
	b.arranged = &arrangement{folds: &foldLayout{seed: seed, k: k, last: last, bounds: bounds, orig: newOrig}}
	return bounds, nil
}

// permuteDense moves each row r of a dense block to dest[r] in place,
// following the permutation's cycles with one row of scratch space.
func permuteDense(b *Block, dest []int32) {
	if b.X32 != nil {
		permuteRows(b.X32, b.Cols, b.Y, b.W, dest)
	} else {
		permuteRows(b.X, b.Cols, b.Y, b.W, dest)
	}
}

// permuteRows is permuteDense over rows of c values in x, with their
// labels y and weights w (nil: none).
func permuteRows[T float32 | float64](x []T, c int, y, w []float64, dest []int32) {
	buf := make([]T, c)
	done := make([]bool, len(dest))
	for start := range dest {
		if done[start] || int(dest[start]) == start {
			continue
		}
		// buf carries the row that belongs at dest[r]; each step swaps it
		// with the row there, which then belongs at its own dest.
		copy(buf, x[start*c:(start+1)*c])
		yv, wv := y[start], 0.0
		if w != nil {
			wv = w[start]
		}
		r := start
		for {
			done[r] = true
			d := int(dest[r])
			if d == start {
				copy(x[d*c:(d+1)*c], buf)
				y[d] = yv
				if w != nil {
					w[d] = wv
				}
				break
			}
			row := x[d*c : (d+1)*c]
			for j, v := range row {
				row[j], buf[j] = buf[j], v
			}
			y[d], yv = yv, y[d]
			if w != nil {
				w[d], wv = wv, w[d]
			}
			r = d
		}
	}
}

// permuteSparse puts row r of a CSR block at dest[r]: it builds the arrays
// in the new order, then copies them back into the block's own (which
// views may share).
func permuteSparse(b *Block, dest []int32) {
	src := make([]int32, len(dest))
	for r, d := range dest {
		src[d] = int32(r)
	}
	ptr := make([]int, 1, len(b.Ptr))
	ind := make([]int32, 0, len(b.Ind))
	val := make([]float64, 0, len(b.Val))
	y := make([]float64, 0, len(b.Y))
	var w []float64
	if b.W != nil {
		w = make([]float64, 0, len(b.W))
	}
	for _, r := range src {
		ri, rv := b.SparseRow(int(r))
		ind, val = append(ind, ri...), append(val, rv...)
		ptr = append(ptr, len(ind))
		y = append(y, b.Y[r])
		if w != nil {
			w = append(w, b.W[r])
		}
	}
	copy(b.Ptr, ptr)
	copy(b.Ind, ind)
	copy(b.Val, val)
	copy(b.Y, y)
	copy(b.W, w)
}

// originalOrder returns where the row originally at position o is now,
// given orig as foldLayout keeps it (nil: the rows were never moved).
func originalOrder(orig []int32) func(o int) int {
	if orig == nil {
		return func(o int) int { return o }
	}
	pos := make([]int32, len(orig))
	for r, o := range orig {
		pos[o] = int32(r)
	}
	return func(o int) int { return int(pos[o]) }
}
