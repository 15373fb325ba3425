package cluster

import (
	"fmt"
	"slices"
)

// Block is the cached data of one partition: Rows rows of Cols features,
// with a label per row and optional weights.
//
// A block is dense or sparse. Dense: X holds Rows*Cols values, row-major, so
// element (i, j) is X[i*Cols+j]. Sparse (CSR): row i's non-zeros are
// Ind[Ptr[i]:Ptr[i+1]] (column indices, increasing) with values
// Val[Ptr[i]:Ptr[i+1]], and X is nil. A dense block may instead hold its
// values in float32 (Format.Float32): X32 holds the Rows*Cols values,
// row-major, and X is nil; labels and weights stay float64. A block is not
// modified after it is
// cached (tasks read it concurrently), with one exception: a consuming split
// (SplitArg.Consume) reorders its rows once, for a dataset about to be
// dropped.
type Block struct {
	Rows, Cols int
	X          []float64
	X32        []float32 // dense values in float32, instead of X

	Ptr []int
	Ind []int32
	Val []float64

	Y []float64 // labels, one per row
	W []float64 // sample weights, one per row; nil means every weight is 1

	// Skipped counts records the decoder skipped as bad (by policy) while
	// building the block.
	Skipped int

	arranged *arrangement // set once a consuming split reordered the rows
}

// Sparse reports whether the block is in CSR form.
func (b *Block) Sparse() bool { return b.Ptr != nil }

// Float32 reports whether the block is dense with its values in X32.
func (b *Block) Float32() bool { return b.X32 != nil }

// Row returns dense row i, sharing the block's memory. It panics on a sparse
// or float32 block (see DenseRow and Row32).
func (b *Block) Row(i int) []float64 { return b.X[i*b.Cols : (i+1)*b.Cols : (i+1)*b.Cols] }

// Row32 returns row i of a float32 block, sharing the block's memory.
func (b *Block) Row32(i int) []float32 { return b.X32[i*b.Cols : (i+1)*b.Cols : (i+1)*b.Cols] }

// DenseRow returns dense row i in float64: the block's own memory for a
// float64 block, or the float32 values widened (exactly) into dst, which
// must hold Cols values. It panics on a sparse block.
func (b *Block) DenseRow(i int, dst []float64) []float64 {
	if b.X32 == nil {
		return b.Row(i)
	}
	dst = dst[:b.Cols]
	for j, v := range b.Row32(i) {
		dst[j] = float64(v)
	}
	return dst
}

// SparseRow returns the indices and values of sparse row i.
func (b *Block) SparseRow(i int) ([]int32, []float64) {
	lo, hi := b.Ptr[i], b.Ptr[i+1]
	return b.Ind[lo:hi], b.Val[lo:hi]
}

// Weight returns the weight of row i.
func (b *Block) Weight(i int) float64 {
	if b.W == nil {
		return 1
	}
	return b.W[i]
}

// Bytes is the memory the block's slices hold.
func (b *Block) Bytes() int64 {
	return int64(8*(cap(b.X)+cap(b.Val)+cap(b.Y)+cap(b.W)+cap(b.Ptr)) + 4*(cap(b.Ind)+cap(b.X32)))
}

// Validate checks the block's shape invariants.
func (b *Block) Validate() error {
	if b.Rows < 0 || b.Cols < 0 {
		return fmt.Errorf("cluster: block shape %d×%d is negative", b.Rows, b.Cols)
	}
	if len(b.Y) != b.Rows {
		return fmt.Errorf("cluster: block has %d rows but %d labels", b.Rows, len(b.Y))
	}
	if b.W != nil && len(b.W) != b.Rows {
		return fmt.Errorf("cluster: block has %d rows but %d weights", b.Rows, len(b.W))
	}
	if b.X32 != nil && (b.Sparse() || b.X != nil) {
		return fmt.Errorf("cluster: block %d×%d has float32 values beside float64 or sparse ones", b.Rows, b.Cols)
	}
	if b.X32 != nil {
		if len(b.X32) != b.Rows*b.Cols {
			return fmt.Errorf("cluster: dense float32 block %d×%d has %d values, want %d", b.Rows, b.Cols, len(b.X32), b.Rows*b.Cols)
		}
		return nil
	}
	if !b.Sparse() {
		if len(b.X) != b.Rows*b.Cols {
			return fmt.Errorf("cluster: dense block %d×%d has %d values, want %d", b.Rows, b.Cols, len(b.X), b.Rows*b.Cols)
		}
		return nil
	}
	if len(b.Ptr) != b.Rows+1 || b.Ptr[0] != 0 || b.Ptr[b.Rows] != len(b.Ind) || len(b.Ind) != len(b.Val) {
		return fmt.Errorf("cluster: sparse block %d×%d has inconsistent CSR arrays (ptr %d, ind %d, val %d)", b.Rows, b.Cols, len(b.Ptr), len(b.Ind), len(b.Val))
	}
	for i := 0; i < b.Rows; i++ {
		if b.Ptr[i+1] < b.Ptr[i] {
			return fmt.Errorf("cluster: sparse block row %d has a negative length", i)
		}
		prev := int32(-1)
		for _, j := range b.Ind[b.Ptr[i]:b.Ptr[i+1]] {
			if j <= prev || int(j) >= b.Cols {
				return fmt.Errorf("cluster: sparse block row %d has column %d out of order or beyond %d columns", i, j, b.Cols)
			}
			prev = j
		}
	}
	return nil
}

// Slice returns rows [lo, hi) of b as a new block that shares b's memory.
func (b *Block) Slice(lo, hi int) *Block {
	s := &Block{Rows: hi - lo, Cols: b.Cols, Y: b.Y[lo:hi:hi]}
	if b.W != nil {
		s.W = b.W[lo:hi:hi]
	}
	if b.X32 != nil {
		s.X32 = b.X32[lo*b.Cols : hi*b.Cols : hi*b.Cols]
		return s
	}
	if !b.Sparse() {
		s.X = b.X[lo*b.Cols : hi*b.Cols : hi*b.Cols]
		return s
	}
	base := b.Ptr[lo]
	s.Ptr = make([]int, hi-lo+1)
	for i := range s.Ptr {
		s.Ptr[i] = b.Ptr[lo+i] - base
	}
	s.Ind = b.Ind[base:b.Ptr[hi]:b.Ptr[hi]]
	s.Val = b.Val[base:b.Ptr[hi]:b.Ptr[hi]]
	return s
}

// Builder accumulates rows into a Block. A builder decides dense or sparse
// from its first row, and every row must then have Cols columns (dense) or
// indices below Cols (sparse, where Cols grows to fit when it is 0 at start).
type Builder struct {
	b      Block
	sparse bool
	fixed  bool // Cols was given and must not grow
}

// NewDenseBuilder returns a builder of dense rows of cols features; cols 0
// takes the width of the first row.
func NewDenseBuilder(cols, rowsHint int) *Builder {
	return &Builder{b: Block{Cols: cols, X: make([]float64, 0, cols*rowsHint), Y: make([]float64, 0, rowsHint)}, fixed: cols > 0}
}

// NewDense32Builder is NewDenseBuilder for a float32 block: each row added
// is rounded to float32 as it is copied in (labels and weights stay
// float64), so no float64 matrix is ever built.
func NewDense32Builder(cols, rowsHint int) *Builder {
	return &Builder{b: Block{Cols: cols, X32: make([]float32, 0, cols*rowsHint), Y: make([]float64, 0, rowsHint)}, fixed: cols > 0}
}

// NewSparseBuilder returns a builder of sparse rows. cols 0 means the
// column count is one more than the largest index seen.
func NewSparseBuilder(cols int) *Builder {
	return &Builder{b: Block{Cols: cols, Ptr: []int{0}}, sparse: true, fixed: cols > 0}
}

// AddDense appends a dense row. It copies x.
func (bb *Builder) AddDense(x []float64, y, w float64) error {
	if bb.sparse {
		return fmt.Errorf("dense row in a sparse dataset")
	}
	if !bb.fixed {
		bb.b.Cols, bb.fixed = len(x), true
	}
	if len(x) != bb.b.Cols {
		return fmt.Errorf("row has %d features, want %d", len(x), bb.b.Cols)
	}
	if bb.b.X32 != nil {
		for _, v := range x {
			bb.b.X32 = append(bb.b.X32, float32(v))
		}
	} else {
		bb.b.X = append(bb.b.X, x...)
	}
	bb.addLabel(y, w)
	return nil
}

// AddSparse appends a sparse row with increasing indices. It copies ind and val.
func (bb *Builder) AddSparse(ind []int32, val []float64, y, w float64) error {
	if !bb.sparse {
		return fmt.Errorf("sparse row in a dense dataset")
	}
	prev := int32(-1)
	for _, j := range ind {
		if j <= prev {
			return fmt.Errorf("feature index %d after %d: indices must increase", j+1, prev+1)
		}
		if bb.fixed && int(j) >= bb.b.Cols {
			return fmt.Errorf("feature index %d beyond %d features", j+1, bb.b.Cols)
		}
		prev = j
	}
	if !bb.fixed && int(prev)+1 > bb.b.Cols {
		bb.b.Cols = int(prev) + 1
	}
	bb.b.Ind = append(bb.b.Ind, ind...)
	bb.b.Val = append(bb.b.Val, val...)
	bb.b.Ptr = append(bb.b.Ptr, len(bb.b.Ind))
	bb.addLabel(y, w)
	return nil
}

func (bb *Builder) addLabel(y, w float64) {
	if w != 1 && bb.b.W == nil {
		bb.b.W = make([]float64, bb.b.Rows, cap(bb.b.Y))
		for i := range bb.b.W {
			bb.b.W[i] = 1
		}
	}
	if bb.b.W != nil {
		bb.b.W = append(bb.b.W, w)
	}
	bb.b.Y = append(bb.b.Y, y)
	bb.b.Rows++
}

// Skip counts a record that was skipped instead of added.
func (bb *Builder) Skip() { bb.b.Skipped++ }

// Rows is the number of rows added so far.
func (bb *Builder) Rows() int { return bb.b.Rows }

// Block returns the built block, with capacity trimmed to length so the
// cache holds no slack. The builder must not be used afterwards.
func (bb *Builder) Block() *Block {
	b := bb.b
	b.X = trim(b.X)
	if b.X32 != nil && cap(b.X32)-len(b.X32) > len(b.X32)/8 {
		b.X32 = append(make([]float32, 0, len(b.X32)), b.X32...)
	}
	b.Y = trim(b.Y)
	b.W = trim(b.W)
	b.Val = trim(b.Val)
	if b.Ind != nil && cap(b.Ind) != len(b.Ind) {
		b.Ind = append([]int32(nil), b.Ind...)
	}
	if b.Ptr != nil && cap(b.Ptr) != len(b.Ptr) {
		b.Ptr = append([]int(nil), b.Ptr...)
	}
	if b.Y == nil {
		b.Y = []float64{}
	}
	return &b
}

func trim(s []float64) []float64 {
	if s == nil || cap(s)-len(s) <= len(s)/8 {
		return s
	}
	return append([]float64(nil), s...)
}

// Clone returns a copy of b that shares no memory with it: a view's rows
// (Block.Slice) made into a block of their own.
func (b *Block) Clone() *Block {
	return &Block{Rows: b.Rows, Cols: b.Cols, Skipped: b.Skipped,
		X: slices.Clone(b.X), X32: slices.Clone(b.X32),
		Ptr: slices.Clone(b.Ptr), Ind: slices.Clone(b.Ind), Val: slices.Clone(b.Val),
		Y: slices.Clone(b.Y), W: slices.Clone(b.W)}
}
