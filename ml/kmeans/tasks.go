package kmeans

import (
	"context"
	"math"

	"gonum.org/v1/gonum/floats"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/ml/internal/openblas"
	"github.com/flintml/flint/ml/internal/tile"
)

// The registered tasks. Every broadcast carries the centres the pass
// measures against; every partial is small (at most K×Cols values plus a
// few rows), and all of them are gob-encodable so that remote workers can
// run them.

// tileRows is how many dense rows one call of tile.ProductsNorms
// multiplies with the centres: 48 rows of Fashion-MNIST are 300 KB, which
// stay in L2 for the sums that follow the product.
const tileRows = 48

// centres is what every pass measures distances to.
type centres struct {
	K, D int
	C    []float64 // K×D, row-major
	CN   []float64 // ‖c_j‖²
	CT   []float64 // D×K, the transpose of C; set only for sparse data
}

func newCentres(c []float64, k, d int, sparse bool) centres {
	cs := centres{K: k, D: d, C: c, CN: make([]float64, k)}
	for j := range k {
		cs.CN[j] = sqNorm(c[j*d : j*d+d])
	}
	if sparse {
		cs.CT = make([]float64, d*k)
		for j := range k {
			for l, v := range c[j*d : j*d+d] {
				cs.CT[l*k+j] = v
			}
		}
	}
	return cs
}

// nearest picks the centre minimising ‖c_j‖² − 2x·c_j (the squared
// distance less ‖x‖²) from the products g; ties go to the lower index.
func nearest(g, cn []float64) (int, float64) {
	best, bv := 0, cn[0]-2*g[0]
	for j := 1; j < len(cn); j++ {
		if v := cn[j] - 2*g[j]; v < bv {
			best, bv = j, v
		}
	}
	return best, bv
}

// each calls fn for every row of blk with its nearest centre and squared
// distance to it. With no centres, j is -1 and d2 is 1, so that sampling
// by d2 samples by weight alone.
//
// A float32 block's rows are widened a tile at a time (exactly, tile.Widen)
// for fn and, unless products32, for float64 products: the bits of a
// float64 block of the same values. With products32 the products x·c_j and
// the squared norms ‖x‖² are float32 ones (tile.ProductsNorms32, the
// centres rounded to float32 once per call, sixteen float32 lanes to a
// register): each d2 is then within (⌈d/16⌉+2)·2⁻²⁴·(2·Σ_l|x_l·c_jl| +
// ‖x‖²) of the float64 one (the lanes' rounding and the centres'). Lloyd's passes, the
// bulk of a fit, take products32; the initialisation, the cost and the
// silhouette keep float64 products, so a float32 fit starts from the
// rounded float64 fit's centres and its sums stay float64. With products32
// a float32 block of unit weights is not widened at all: fn gets x nil,
// and Lloyd's task adds the float32 rows widened (tile.AddRowsWidened).
func (cs *centres) each(ctx context.Context, blk *cluster.Block, products32 bool, fn func(i, j int, d2 float64, x []float64)) error {
	return cs.eachTile(ctx, blk, products32, fn, nil)
}

// eachTile is each that also calls tileDone, when not nil, after fn has
// had every row of a tile of dense rows (tileRows of them, while they are
// still in cache), and once after the rows of a sparse block.
func (cs *centres) eachTile(ctx context.Context, blk *cluster.Block, products32 bool, fn func(i, j int, d2 float64, x []float64), tileDone func()) error {
	done := func() {
		if tileDone != nil {
			tileDone()
		}
	}
	if cs.K == 0 {
		for i := 0; i < blk.Rows; i++ {
			fn(i, -1, 1, nil)
		}
		done()
		return nil
	}
	k := cs.K
	if blk.Sparse() {
		g := make([]float64, k)
		for i := 0; i < blk.Rows; i++ {
			ind, val := blk.SparseRow(i)
			sparseDots(g, ind, val, cs.CT, k)
			j, m := nearest(g, cs.CN)
			fn(i, j, max(0, sqNorm(val)+m), nil)
			if i%4096 == 4095 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
		}
		done()
		return nil
	}
	d := blk.Cols
	g, xn := make([]float64, tileRows*k), make([]float64, tileRows)
	var wide []float64 // a float32 block's rows, widened a tile at a time
	var c32 []float32  // the centres rounded, for products32
	if blk.Float32() {
		wide = make([]float64, tileRows*d)
		if products32 && !openblas.Enabled {
			c32 = make([]float32, len(cs.C))
			for i, v := range cs.C {
				c32[i] = float32(v)
			}
		}
	}
	for lo := 0; lo < blk.Rows; lo += tileRows {
		hi := min(lo+tileRows, blk.Rows)
		var x []float64
		switch {
		case !blk.Float32():
			x = blk.X[lo*d : hi*d]
		case c32 == nil || blk.W != nil:
			x = wide[:(hi-lo)*d]
			tile.Widen(x, blk.X32[lo*d:hi*d])
		}
		if c32 != nil {
			tile.ProductsNorms32(g, xn, blk.X32[lo*d:hi*d], hi-lo, c32, k, d)
		} else {
			productsNorms(g, xn, x, hi-lo, cs.C, k, d)
		}
		for i := lo; i < hi; i++ {
			j, m := nearest(g[(i-lo)*k:(i-lo+1)*k], cs.CN)
			var xi []float64
			if x != nil {
				xi = x[(i-lo)*d : (i-lo+1)*d]
			}
			fn(i, j, max(0, xn[i-lo]+m), xi)
		}
		done()
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// denseRow copies row i of blk into a new dense slice of blk.Cols values.
func denseRow(blk *cluster.Block, i int) []float64 {
	x := make([]float64, blk.Cols)
	if !blk.Sparse() {
		copy(x, blk.DenseRow(i, x))
		return x
	}
	ind, val := blk.SparseRow(i)
	for n, l := range ind {
		x[l] = val[n]
	}
	return x
}

// addRow adds w·(row i of blk) to dst; x is the row when each gave it
// (dense rows, float32 ones widened), nil otherwise. Lloyd's task adds the
// dense rows of unit weight a centre at a time instead (tile.AddRows,
// tile.AddRowsWidened).
func addRow(dst []float64, blk *cluster.Block, i int, x []float64, w float64) {
	if !blk.Sparse() {
		if x == nil {
			x = blk.DenseRow(i, make([]float64, blk.Cols))
		}
		if w == 1 {
			tile.Add(dst, x)
		} else {
			floats.AddScaled(dst, w, x)
		}
		return
	}
	ind, val := blk.SparseRow(i)
	for n, l := range ind {
		dst[l] += w * val[n]
	}
}

// ---- Lloyd: one assignment and the sums for the update ----

type lloydArgs struct {
	Centres centres
	// Far is how many of the rows farthest from their centre each
	// partition reports, to re-seed empty clusters from.
	Far int
}

// farPoint is a row far from its nearest centre: a candidate to re-seed an
// empty cluster with.
type farPoint struct {
	D2    float64 // squared distance to its centre
	Part  int32
	Row   int32
	Label int32   // the centre it was assigned to
	W     float64 // its weight
	// The row: X, or X32 for a row of a float32 block (widened by row when
	// it is used). A dense row is the block's own memory, not a copy (it is
	// only read; a remote worker's partial carries its values): a copy per
	// candidate cost a Lloyd iteration about 2 ms of fresh pages.
	X   []float64
	X32 []float32
}

// row returns the candidate's row in float64 (widened from X32, exactly,
// into a new slice).
func (f *farPoint) row() []float64 {
	if f.X32 == nil {
		return f.X
	}
	x := make([]float64, len(f.X32))
	for l, v := range f.X32 {
		x[l] = float64(v)
	}
	return x
}

// farther orders candidates: larger distance first, then earlier rows, so
// the choice does not depend on how partials were combined.
func farther(a, b *farPoint) bool {
	if a.D2 != b.D2 {
		return a.D2 > b.D2
	}
	if a.Part != b.Part {
		return a.Part < b.Part
	}
	return a.Row < b.Row
}

type lloydPartial struct {
	Sums   []float64  // K×D: weighted sum of the rows assigned to each centre
	Weight []float64  // K: their total weight
	Count  []int64    // K: how many rows
	Cost   float64    // Σ w·d², against the broadcast centres
	Far    []farPoint // the Keep farthest rows, farthest first
	Keep   int
}

var lloydTask = cluster.Register(&cluster.Task[lloydArgs, lloydPartial]{
	Name: "ml.kmeans.lloyd",
	New: func(a *lloydArgs) *lloydPartial {
		k, d := a.Centres.K, a.Centres.D
		return &lloydPartial{Sums: make([]float64, k*d), Weight: make([]float64, k), Count: make([]int64, k), Keep: a.Far}
	},
	Map: func(ctx context.Context, p cluster.Part, a *lloydArgs, acc *lloydPartial) error {
		blk, d := p.Block, a.Centres.D
		var far farHeap
		// The dense rows of an unweighted block, read from the block
		// (float32 ones that each did not widen, float64 ones), are added
		// a centre at a time once their tile is done (tile.AddRowsWidened,
		// tile.AddRows: the bits of adding them one by one, in the same
		// order, with the sums kept in registers across the rows). A
		// weighted block's rows are added one by one, so that no centre's
		// rows change order.
		var pending [][]int32
		if !blk.Sparse() && blk.W == nil {
			pending = make([][]int32, a.Centres.K)
		}
		f32 := blk.Float32()
		err := a.Centres.eachTile(ctx, blk, true, func(i, j int, d2 float64, x []float64) {
			w := blk.Weight(i)
			if pending != nil && (x == nil || !f32) {
				pending[j] = append(pending[j], int32(i))
			} else {
				addRow(acc.Sums[j*d:(j+1)*d], blk, i, x, w)
			}
			acc.Weight[j] += w
			acc.Count[j]++
			acc.Cost += w * d2
			far.offer(acc.Keep, farPoint{D2: d2, Part: int32(p.Index), Row: int32(i), Label: int32(j), W: w})
		}, func() {
			for j, rows := range pending {
				if f32 {
					tile.AddRowsWidened(acc.Sums[j*d:(j+1)*d], blk.X32, d, rows)
				} else {
					tile.AddRows(acc.Sums[j*d:(j+1)*d], blk.X, d, rows)
				}
				pending[j] = rows[:0]
			}
		})
		if err != nil {
			return err
		}
		acc.Far = far.sorted()
		for n := range acc.Far {
			switch r := int(acc.Far[n].Row); {
			case blk.Float32():
				acc.Far[n].X32 = blk.Row32(r)
			case blk.Sparse():
				acc.Far[n].X = denseRow(blk, r)
			default:
				acc.Far[n].X = blk.Row(r)
			}
		}
		return nil
	},
	Combine: func(dst, src *lloydPartial) {
		floats.Add(dst.Sums, src.Sums)
		floats.Add(dst.Weight, src.Weight)
		for j, n := range src.Count {
			dst.Count[j] += n
		}
		dst.Cost += src.Cost
		dst.Far = mergeFar(dst.Far, src.Far, dst.Keep)
	},
})

// farHeap keeps the n farthest points offered, as a min-heap on farther.
type farHeap []farPoint

func (h *farHeap) offer(n int, p farPoint) {
	if n <= 0 || p.D2 <= 0 {
		return
	}
	s := *h
	if len(s) < n {
		s = append(s, p)
		for c := len(s) - 1; c > 0; { // sift up
			parent := (c - 1) / 2
			if !farther(&s[parent], &s[c]) {
				break
			}
			s[parent], s[c] = s[c], s[parent]
			c = parent
		}
		*h = s
		return
	}
	if !farther(&p, &s[0]) {
		return
	}
	s[0] = p
	for c := 0; ; { // sift down
		l, r, m := 2*c+1, 2*c+2, c
		if l < len(s) && farther(&s[m], &s[l]) {
			m = l
		}
		if r < len(s) && farther(&s[m], &s[r]) {
			m = r
		}
		if m == c {
			break
		}
		s[c], s[m] = s[m], s[c]
		c = m
	}
}

// sorted returns the kept points, farthest first.
func (h farHeap) sorted() []farPoint {
	out := append([]farPoint(nil), h...)
	sortFar(out)
	return out
}

func sortFar(s []farPoint) {
	for i := 1; i < len(s); i++ { // insertion sort: the lists hold at most K points
		for j := i; j > 0 && farther(&s[j], &s[j-1]); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// mergeFar merges two lists sorted by farther and keeps the first n.
func mergeFar(a, b []farPoint, n int) []farPoint {
	out := make([]farPoint, 0, min(n, len(a)+len(b)))
	for len(out) < n && (len(a) > 0 || len(b) > 0) {
		if len(b) == 0 || (len(a) > 0 && farther(&a[0], &b[0])) {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return out
}

// ---- Cost: the cost against given centres, with each centre's share ----

type costPartial struct {
	Cost   float64   // Σ w·d²
	Weight []float64 // total weight of the rows nearest each centre
	Count  []int64   // how many rows are nearest each centre
}

var costTask = cluster.Register(&cluster.Task[centres, costPartial]{
	Name: "ml.kmeans.cost",
	New: func(c *centres) *costPartial {
		return &costPartial{Weight: make([]float64, c.K), Count: make([]int64, c.K)}
	},
	Map: func(ctx context.Context, p cluster.Part, c *centres, acc *costPartial) error {
		blk := p.Block
		return c.each(ctx, blk, false, func(i, j int, d2 float64, _ []float64) {
			w := blk.Weight(i)
			acc.Cost += w * d2
			acc.Weight[j] += w
			acc.Count[j]++
		})
	},
	Combine: func(dst, src *costPartial) {
		dst.Cost += src.Cost
		floats.Add(dst.Weight, src.Weight)
		for j, n := range src.Count {
			dst.Count[j] += n
		}
	},
})

// ---- Sampling for k-means‖: every row independently ----

type sampleArgs struct {
	Centres centres
	// A row is kept with probability min(1, Scale·w·d²).
	Scale float64
	Seed  uint64
	Round uint64
}

// pickedRow is a row sent back to the driver.
type pickedRow struct {
	Part, Row int32
	X         []float64
}

type rowsPartial struct {
	Rows []pickedRow // in partition order, then row order
}

var sampleTask = cluster.Register(&cluster.Task[sampleArgs, rowsPartial]{
	Name: "ml.kmeans.sample",
	New:  func(*sampleArgs) *rowsPartial { return &rowsPartial{} },
	Map: func(ctx context.Context, p cluster.Part, a *sampleArgs, acc *rowsPartial) error {
		blk := p.Block
		return a.Centres.each(ctx, blk, false, func(i, _ int, d2 float64, _ []float64) {
			q := a.Scale * blk.Weight(i) * d2
			if q > 0 && unitHash(a.Seed, a.Round, uint64(p.Index), uint64(i)) < q {
				acc.Rows = append(acc.Rows, pickedRow{Part: int32(p.Index), Row: int32(i), X: denseRow(blk, i)})
			}
		})
	},
	Combine: func(dst, src *rowsPartial) { dst.Rows = append(dst.Rows, src.Rows...) },
})

// ---- Picking one row with probability ∝ w·d² (k-means++) ----

type pickArgs struct {
	Centres centres // K may be 0: then rows are picked by weight alone
	Seed    uint64
	Step    uint64
}

type pickPartial struct {
	Sum   float64 // Σ w·d² over the partitions this partial covers
	First int32   // the first partition it covers: it seeds the merge's draw
	Has   bool
	Pick  pickedRow
	Seed  uint64
	Step  uint64
}

// pickTask draws one row per partition by weighted reservoir sampling
// (row i replaces the candidate with probability q_i / Σ_{j≤i} q_j), and
// Combine merges two candidates the same way, so the survivor of the tree
// is row i with probability q_i / Σ q: exactly the k-means++ draw, in one
// pass. Every draw is a hash of the seed, step and position, so the result
// does not depend on the number of workers.
var pickTask = cluster.Register(&cluster.Task[pickArgs, pickPartial]{
	Name: "ml.kmeans.pick",
	New:  func(a *pickArgs) *pickPartial { return &pickPartial{Seed: a.Seed, Step: a.Step} },
	Map: func(ctx context.Context, p cluster.Part, a *pickArgs, acc *pickPartial) error {
		blk := p.Block
		acc.First = int32(p.Index)
		pick := -1
		err := a.Centres.each(ctx, blk, false, func(i, _ int, d2 float64, _ []float64) {
			q := blk.Weight(i) * d2
			if q <= 0 {
				return
			}
			acc.Sum += q
			if unitHash(a.Seed, a.Step, uint64(p.Index), uint64(i))*acc.Sum < q {
				pick = i
			}
		})
		if err != nil || pick < 0 {
			return err
		}
		acc.Has, acc.Pick = true, pickedRow{Part: int32(p.Index), Row: int32(pick), X: denseRow(blk, pick)}
		return nil
	},
	Combine: func(dst, src *pickPartial) {
		total := dst.Sum + src.Sum
		if src.Has && (!dst.Has || unitHash(src.Seed, src.Step, math.MaxUint32, uint64(src.First))*total < src.Sum) {
			dst.Has, dst.Pick = true, src.Pick
		}
		dst.Sum = total
	},
})

// ---- Fetching given rows ----

type rowRef struct{ Part, Row int32 }

type fetchArgs struct {
	Refs []rowRef // sorted by partition, then row
}

var fetchTask = cluster.Register(&cluster.Task[fetchArgs, rowsPartial]{
	Name: "ml.kmeans.rows",
	New:  func(*fetchArgs) *rowsPartial { return &rowsPartial{} },
	Map: func(_ context.Context, p cluster.Part, a *fetchArgs, acc *rowsPartial) error {
		for _, r := range a.Refs {
			if int(r.Part) == p.Index && int(r.Row) < p.Block.Rows {
				acc.Rows = append(acc.Rows, pickedRow{Part: r.Part, Row: r.Row, X: denseRow(p.Block, int(r.Row))})
			}
		}
		return nil
	},
	Combine: func(dst, src *rowsPartial) { dst.Rows = append(dst.Rows, src.Rows...) },
})

// unitHash maps (seed, a, b, c) to a uniform number in [0, 1) with
// SplitMix64 finalisers.
func unitHash(seed, a, b, c uint64) float64 {
	z := mix(seed ^ mix(a^0x9e3779b97f4a7c15) ^ mix(b+0xbf58476d1ce4e5b9) ^ mix(c*0x94d049bb133111eb+1))
	return float64(z>>11) / (1 << 53)
}

func mix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
