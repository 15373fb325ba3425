package tile

import "math"

// The float32 kernels: rows (and centres) held as float32, for blocks
// cached at half the bytes. Products32 multiplies in float32 lanes, sixteen
// to a product (twice the lanes of the float64 kernels), and RankUpdateF32
// sums in float32 lanes too. The package documentation states the
// summation order and what it guarantees.

// fma32 returns a·b+c rounded once to float32, as VFMADD231PS computes it.
// The product of two float32 values is exact in float64, so the float64
// sum s is the exact sum rounded once; rounding s again to float32 gives
// the exact sum's rounding unless s landed exactly on a float32 midpoint
// (or in float32's subnormal range, whose midpoints lie elsewhere), rare
// cases that fma32Odd rounds correctly.
func fma32(a, b, c float32) float32 {
	s := float64(a)*float64(b) + float64(c)
	bits := math.Float64bits(s)
	if bits&(1<<29-1) != 1<<28 && bits&(0x7ff<<52) > (1023-125)<<52 {
		return float32(s)
	}
	return fma32Odd(a, b, c)
}

// fma32Odd is fma32 by rounding to odd: the float64 sum's last bit is set
// when it is inexact (moving it towards the exact sum), which a second
// rounding to float32's 24 bits cannot spoil.
func fma32Odd(a, b, c float32) float32 {
	p, q := float64(a)*float64(b), float64(c)
	s := p + q
	// The exact error of s (Knuth's TwoSum).
	v := s - p
	e := (p - (s - v)) + (q - v)
	if e != 0 && e == e && math.Float64bits(s)&1 == 0 {
		bits := math.Float64bits(s)
		if (e > 0) == (s > 0) {
			bits++
		} else {
			bits--
		}
		s = math.Float64frombits(bits)
	}
	return float32(s)
}

// reduce16 is the float64 sum of sixteen float32 lanes in the package's
// order: t_q = a_q + a_{q+8}, u_q = t_q + t_{q+4}, v_q = u_q + u_{q+2},
// v_0 + v_1 (the halving of a vector register, widened).
func reduce16(a *[16]float32) float64 {
	var t [8]float64
	for q := range t {
		t[q] = float64(a[q]) + float64(a[q+8])
	}
	u0, u1, u2, u3 := t[0]+t[4], t[1]+t[5], t[2]+t[6], t[3]+t[7]
	return (u0 + u2) + (u1 + u3)
}

// lanes16Generic adds to acc[q] the products x[l]·c[l], l ≡ q (mod 16),
// l < n16, each rounded once to float32 (fma32), in increasing l: the
// reference for the assembly.
func lanes16Generic(x, c []float32, n16 int, acc *[16]float32) {
	x, c = x[:n16], c[:n16]
	for l := 0; l+16 <= len(x); l += 16 {
		xl, cl := x[l:l+16], c[l:l+16]
		for q := range acc {
			acc[q] = fma32(xl[q], cl[q], acc[q])
		}
	}
}

// tail32 adds to s, fused in float64, the products x[l]·c[l] for l from
// lo to len(x) (each exact in float64: one rounding per step).
func tail32(s float64, x, c []float32, lo int) float64 {
	for l := lo; l < len(x); l++ {
		s = math.FMA(float64(x[l]), float64(c[l]), s)
	}
	return s
}

// Dot32 returns x·c (len(c) >= len(x)) in the float32 order, in portable
// Go: the reference of Products32, which computes the same bits faster.
func Dot32(x, c []float32) float64 {
	n := len(x)
	c = c[:n]
	n16 := n &^ 15
	s := 0.0
	if n16 > 0 {
		var acc [16]float32
		lanes16Generic(x, c, n16, &acc)
		s = reduce16(&acc)
	}
	return tail32(s, x, c, n16)
}

// Products32 sets g[i*k+j] = x_i·c_j, summed as Dot32 sums, for the m
// float32 rows of x and the k float32 rows of c, both of width d,
// row-major and unpadded: the product X·Cᵀ in float64. With AVX-512 it
// runs tiles of four rows by six or five centres (up to 24 Z registers of
// sums), with AVX2 and FMA 2×3 tiles,
// elsewhere portable Go; every variant gives the same bits.
func Products32(g []float64, x []float32, m int, c []float32, k, d int) {
	products32(g, nil, x, m, c, k, d)
}

// products32 is Products32; when xn is not nil and the tiles can also sum
// the rows' squares up to n16 (products4x6), it sets xn[:m] to them and
// reports true.
func products32(g, xn []float64, x []float32, m int, c []float32, k, d int) (norms bool) {
	if m == 0 || k == 0 {
		return false
	}
	g = g[:m*k]
	if d == 0 {
		clear(g)
		return false
	}
	_, _ = x[m*d-1], c[k*d-1]
	n16 := d &^ 15
	switch {
	case n16 == 0:
		clear(g)
	case useAVX512:
		norms = products4x6(g, xn, x, m, c, k, d, n16)
	case useAVX2:
		products2x3(g, x, m, c, k, d, n16)
	default:
		var acc [16]float32
		for i := range m {
			xi := x[i*d : i*d+n16]
			for j := range k {
				acc = [16]float32{}
				lanes16Generic(xi, c[j*d:j*d+n16], n16, &acc)
				g[i*k+j] = reduce16(&acc)
			}
		}
	}
	if n16 == d {
		return norms
	}
	for i := range m {
		xi := x[i*d : (i+1)*d]
		for j := range k {
			g[i*k+j] = tail32(g[i*k+j], xi, c[j*d:(j+1)*d], n16)
		}
	}
	return norms
}

// ProductsNorms32 is Products32 that also sets xn[i] = x_i·x_i, summed as
// Dot32 sums (so the squares too are float32 lanes, reduced in float64).
func ProductsNorms32(g, xn []float64, x []float32, m int, c []float32, k, d int) {
	if m == 0 {
		return
	}
	xn = xn[:m]
	norms := products32(g, xn, x, m, c, k, d)
	if d == 0 {
		clear(xn)
		return
	}
	_ = x[m*d-1]
	n16 := d &^ 15
	switch {
	case norms:
	case n16 == 0:
		clear(xn)
	case useAVX2:
		squares4(xn, x, m, d, n16)
	default:
		var acc [16]float32
		for i := range m {
			xi := x[i*d : i*d+n16]
			acc = [16]float32{}
			lanes16Generic(xi, xi, n16, &acc)
			xn[i] = reduce16(&acc)
		}
	}
	for i := range m {
		xi := x[i*d : (i+1)*d]
		xn[i] = tail32(xn[i], xi, xi, n16)
	}
}

// AddRowsWidened adds the widened rows r of x (row-major, width d) to
// dst[:d] for each r in rows, in their order: AddWidened(dst, row r) for
// each, the same bits, but with AVX-512 each strip of 64 sums stays in
// registers while all the rows go by, instead of being loaded and stored
// again for every row. The rows must be in x.
func AddRowsWidened(dst []float64, x []float32, d int, rows []int32) {
	addRowsWith(dst, x, d, rows, addRowsWiden64, AddWidened)
}

// AddWidened adds float64(x[l]) to dst[l] (len(dst) >= len(x)): Add of the
// widened values, the same bits on every CPU, without a widened copy.
func AddWidened(dst []float64, x []float32) {
	n := len(x)
	dst = dst[:n]
	i := 0
	switch {
	case useAVX512 && n >= 32:
		i = n &^ 31
		addWiden32(dst, x, i)
	case useAVX2 && n >= 16:
		i = n &^ 15
		addWiden16(dst, x, i)
	}
	for ; i < n; i++ {
		dst[i] += float64(x[i])
	}
}

// RankUpdateF32 is RankUpdate in float32: g[c*d+l] += Σᵢ r[i*k+c]·x[i*d+l]
// for float32 g (k×d), r (n×k) and x (n×d), each element of g taking its
// rows in order, one multiply-add rounded once to float32 each (fma32), on
// every CPU: the same bits from every variant. Four rows of g go at a time
// through the kernels (sixteen columns to a Z register with AVX-512, eight
// to a Y register with AVX2), then a pair; the last d%16 columns and a
// last odd row are summed in Go. Every step rounds to float32, so keep n
// small (a block of rows) and add g into float64 sums (AddWidened) between
// blocks: each element is then within (n+1)·2⁻²⁴·Σᵢ|r_ic·x_il| of the
// exact sum (the +1 for rounding r to float32, where it was float64).
func RankUpdateF32(g, r []float32, k int, x []float32, n, d int) {
	if n == 0 || k == 0 || d == 0 {
		return
	}
	_, _, _ = g[k*d-1], r[n*k-1], x[n*d-1]
	d16 := d &^ 15
	c := 0
	for ; c+4 <= k; c += 4 {
		if d16 > 0 {
			rank4f(g[c*d:], d, r[c:], k, x, d, n, d16)
		}
		rankGenericF32(g[c*d:], d, r[c:], k, x, d, n, d16, d, 4)
	}
	if c+2 <= k {
		if d16 > 0 {
			rank2f(g[c*d:], d, r[c:], k, x, d, n, d16)
		}
		rankGenericF32(g[c*d:], d, r[c:], k, x, d, n, d16, d, 2)
		c += 2
	}
	if c < k {
		rankGenericF32(g[c*d:], d, r[c:], k, x, d, n, 0, d, k-c)
	}
}

// rankGenericF32 is RankUpdateF32's contract in Go for rows [0, rows) of g
// (gs apart) and columns [lo, hi).
func rankGenericF32(g []float32, gs int, r []float32, rs int, x []float32, xs, n, lo, hi, rows int) {
	for c := range rows {
		gc := g[c*gs : c*gs+hi]
		for i := range n {
			v := r[i*rs+c]
			xi := x[i*xs : i*xs+hi]
			for l := lo; l < hi; l++ {
				gc[l] = fma32(v, xi[l], gc[l])
			}
		}
	}
}
