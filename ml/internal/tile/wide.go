package tile

import "math"

// The wide tiles: six rows against six (or four, or two) rows at a time,
// for CPUs with AVX-512. Each Z register holds the four running sums of two
// products, so the summation order, and every result, is the one the
// package documents: the wide tiles are only faster.

// products6 sets the products of the rows of x in whole groups of six (rows
// [0, m−m%6)) with every row of c, as Products does, and returns how many
// rows it did. It does nothing without AVX-512 or with rows shorter than 4.
func products6(g, x []float64, m int, c []float64, k, d int) int {
	n4 := d &^ 3
	if !useAVX512 || n4 == 0 || k < 2 {
		return 0
	}
	var acc [144]float64
	i := 0
	for ; i+6 <= m; i += 6 {
		xi := x[i*d:]
		j := 0
		for j+2 <= k {
			w := min(6, (k-j)&^1)
			lanes6(xi, d, c[j*d:], d, w, n4, &acc)
			finish6(g[i*k+j:], k, &acc, w, xi, d, c[j*d:], n4)
			j += w
		}
		if j < k {
			cj := c[j*d : (j+1)*d]
			s := Dot3x1(xi[:d], xi[d:2*d], xi[2*d:3*d], cj)
			t := Dot3x1(xi[3*d:4*d], xi[4*d:5*d], xi[5*d:6*d], cj)
			for r := range 3 {
				g[(i+r)*k+j], g[(i+3+r)*k+j] = s[r], t[r]
			}
		}
	}
	return i
}

// finish6 reduces the lanes of a 6×w tile (acc[4(r·w+j)+q]) into g[r*gs+j],
// adding the tails past n4 of rows x_r = x[r*d:] and c_j = c[j*d:].
func finish6(g []float64, gs int, acc *[144]float64, w int, x []float64, d int, c []float64, n4 int) {
	for r := range 6 {
		xr := x[r*d : (r+1)*d]
		for j := range w {
			a := acc[4*(r*w+j) : 4*(r*w+j)+4]
			v := (a[0] + a[1]) + (a[2] + a[3])
			cj := c[j*d : (j+1)*d]
			for l := n4; l < d; l++ {
				v = math.FMA(xr[l], cj[l], v)
			}
			g[r*gs+j] = v
		}
	}
}

// productsNorms6 is products6 that also sets xn[i] = x_i·x_i, the squares
// summed in the first tile of centres. It needs k >= 6.
func productsNorms6(g, xn, x []float64, m int, c []float64, k, d int) int {
	n4 := d &^ 3
	if !useAVX512 || n4 == 0 || k < 6 {
		return 0
	}
	var accn [168]float64
	var acc [144]float64
	i := 0
	for ; i+6 <= m; i += 6 {
		xi := x[i*d:]
		lanes6n(xi, d, c, d, n4, &accn)
		copy(acc[:], accn[:144])
		finish6(g[i*k:], k, &acc, 6, xi, d, c, n4)
		for r := range 6 {
			a := accn[144+4*r : 148+4*r]
			v := (a[0] + a[1]) + (a[2] + a[3])
			xr := xi[r*d : (r+1)*d]
			for l := n4; l < d; l++ {
				v = math.FMA(xr[l], xr[l], v)
			}
			xn[i+r] = v
		}
		j := 6
		for j+2 <= k {
			w := min(6, (k-j)&^1)
			lanes6(xi, d, c[j*d:], d, w, n4, &acc)
			finish6(g[i*k+j:], k, &acc, w, xi, d, c[j*d:], n4)
			j += w
		}
		if j < k {
			cj := c[j*d : (j+1)*d]
			s := Dot3x1(xi[:d], xi[d:2*d], xi[2*d:3*d], cj)
			t := Dot3x1(xi[3*d:4*d], xi[4*d:5*d], xi[5*d:6*d], cj)
			for r := range 3 {
				g[(i+r)*k+j], g[(i+3+r)*k+j] = s[r], t[r]
			}
		}
	}
	return i
}

// RankUpdate adds Rᵀ·X to g: g[c*d+l] += Σᵢ r[i*k+c]·x[i*d+l] for the n rows
// of r (n×k) and x (n×d), row-major, g being k×d. Each element of g takes
// its rows in order, one fused multiply-add each, whatever the CPU, so the
// result is bit-for-bit the same everywhere. Six rows of g go at a time
// through the kernels with AVX-512, then four (AVX-512 or AVX2), then a
// pair, eight columns at a time; an even k and a d that is a multiple of
// 8 make the most of them (a last odd row and the last d%8 columns are
// summed in Go).
func RankUpdate(g, r []float64, k int, x []float64, n, d int) {
	if n == 0 || k == 0 || d == 0 {
		return
	}
	_, _, _ = g[k*d-1], r[n*k-1], x[n*d-1]
	d8 := d &^ 7
	c := 0
	// Six rows at a time where there is a kernel for them (fewer passes
	// over x: ten classes go as 6 + 4, not 4 + 4 + 2), except where the
	// rest is 8, which goes as 4 + 4.
	for ; has6() && k-c >= 6 && k-c != 8; c += 6 {
		if d8 > 0 {
			rank6(g[c*d:], d, r[c:], k, x, d, n, d8)
		}
		rankTail(g[c*d:], d, r[c:], k, x, n, d8, d, 6)
	}
	for ; c+4 <= k; c += 4 {
		if d8 > 0 {
			rank4(g[c*d:], d, r[c:], k, x, d, n, d8)
		}
		rankTail(g[c*d:], d, r[c:], k, x, n, d8, d, 4)
	}
	if c+2 <= k {
		if d8 > 0 {
			rank2(g[c*d:], d, r[c:], k, x, d, n, d8)
		}
		rankTail(g[c*d:], d, r[c:], k, x, n, d8, d, 2)
		c += 2
	}
	if c < k {
		rankTail(g[c*d:], d, r[c:], k, x, n, 0, d, k-c)
	}
}

// rankTail is RankUpdate's contract for rows [0, rows) of g and columns
// [lo, d), in Go.
func rankTail(g []float64, gs int, r []float64, rs int, x []float64, n, lo, d, rows int) {
	for c := range rows {
		gc := g[c*gs : c*gs+d]
		for i := range n {
			v := r[i*rs+c]
			xi := x[i*d : i*d+d]
			for l := lo; l < d; l++ {
				gc[l] = math.FMA(v, xi[l], gc[l])
			}
		}
	}
}

// rankGeneric is the kernels' contract in Go: rows [0, rows) of g (gs
// apart) and columns [0, cols) get, for each row i < n in order, the fused
// product r[i*rs+c]·x[i*xs+l]. Eight columns at a time keep their running
// sums in registers while the rows go by (eight independent chains, so the
// multiply-adds overlap), which changes the speed, not the order.
func rankGeneric(g []float64, gs int, r []float64, rs int, x []float64, xs, n, cols, rows int) {
	for c := range rows {
		gc := g[c*gs : c*gs+cols]
		l := 0
		for ; l+8 <= cols; l += 8 {
			s := gc[l : l+8 : l+8]
			a0, a1, a2, a3, a4, a5, a6, a7 := s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
			for i := range n {
				v := r[i*rs+c]
				xi := x[i*xs+l : i*xs+l+8 : i*xs+l+8]
				a0 = math.FMA(v, xi[0], a0)
				a1 = math.FMA(v, xi[1], a1)
				a2 = math.FMA(v, xi[2], a2)
				a3 = math.FMA(v, xi[3], a3)
				a4 = math.FMA(v, xi[4], a4)
				a5 = math.FMA(v, xi[5], a5)
				a6 = math.FMA(v, xi[6], a6)
				a7 = math.FMA(v, xi[7], a7)
			}
			s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7] = a0, a1, a2, a3, a4, a5, a6, a7
		}
		for ; l < cols; l++ {
			a := gc[l]
			for i := range n {
				a = math.FMA(r[i*rs+c], x[i*xs+l], a)
			}
			gc[l] = a
		}
	}
}

// Add adds x to dst (len(dst) >= len(x)), element by element: the same
// bits on every CPU, by AVX-512 where the CPU has it (gonum's floats.Add
// is SSE2 on amd64), in Go elsewhere.
func Add(dst, x []float64) {
	n := len(x)
	dst = dst[:n]
	i := 0
	if useAVX512 && n >= 32 {
		i = n &^ 31
		add32(dst, x, i)
	}
	for ; i < n; i++ {
		dst[i] += x[i]
	}
}

// AddRows adds the rows r of x (row-major, width d) to dst[:d] for each r
// in rows, in their order: Add(dst, row r) for each, the same bits, but
// with AVX-512 each strip of 64 sums stays in registers while all the rows
// go by. The rows must be in x.
func AddRows(dst, x []float64, d int, rows []int32) {
	addRowsWith(dst, x, d, rows, addRows64, Add)
}

// addRowsWith is AddRows and AddRowsWidened: kernel adds the columns of
// the rows it covers, in strips of 64, and returns how many that is (0
// without AVX-512); add adds the rest of one row.
func addRowsWith[T float32 | float64](dst []float64, x []T, d int, rows []int32,
	kernel func(dst []float64, x []T, d int, rows []int32) int, add func(dst []float64, row []T)) {
	if len(rows) == 0 || d == 0 {
		return
	}
	dst = dst[:d]
	for _, r := range rows {
		_ = x[int(r)*d+d-1] // every row in x, before the kernel reads it
	}
	c := kernel(dst, x, d, rows)
	if c == d {
		return
	}
	for _, r := range rows {
		add(dst[c:], x[int(r)*d+c:int(r+1)*d])
	}
}

// Gram adds the Gramian of the n rows of y to g, by blocks of four rows:
// y is n×w and g w×w, row-major, w a positive multiple of 8, and for each
// block of rows c…c+3 that starts below rows (so rows rounded up to a
// multiple of 4, which must not pass w), the columns from c&^7 to w get
//
//	g[i*w+j] += Σ_l y[l*w+i]·y[l*w+j]
//
// each element taking the rows in order, one fused multiply-add each
// (RankUpdate's order), so the bits are the same on every CPU. That is the
// upper triangle of the first rows rows and a few entries left of the
// diagonal in each 8-column block, which are written too and mean
// nothing. The row-major layout is what gathering rows by index gives
// without a transpose, and the outer products need no horizontal sums at
// the end, which cost dot-product tiles (the 6×6 ones) as much as their lanes when
// there are only some tens of rows.
func Gram(g, y []float64, w, n, rows int) {
	if n == 0 || rows <= 0 {
		return
	}
	if w%8 != 0 || (rows+3)&^3 > w {
		panic("tile: Gram needs w a multiple of 8 and rows rounded up to 4 at most w")
	}
	_, _ = g[w*w-1], y[n*w-1]
	for c := 0; c < rows; c += 4 {
		j := c &^ 7
		rank4(g[c*w+j:], w, y[c:], w, y[j:], w, n, w-j)
	}
}
