// Package tile computes the dense dot products of Flint's clustering,
// factorisation and softmax kernels (k-means distances, ALS normal
// equations, softmax margins and gradients) in register tiles: three rows
// against three rows at a time, so that each value loaded from memory
// feeds three multiply-adds.
//
// # Summation order
//
// Every dot product x·c of length n, whichever function computes it and
// whatever the CPU, is summed in one fixed order, so results are
// bit-for-bit the same on every machine and from every entry point (a
// batch product and a single Dot agree):
//
//	s_q = fma(x[l], c[l], s_q)  for l = q, q+4, q+8, … below n4 = n − n%4, q = 0…3, each s_q from 0
//	s   = (s_0 + s_1) + (s_2 + s_3)
//	s   = fma(x[l], c[l], s)    for l = n4 … n−1
//
// On amd64 with AVX2 and FMA the four running sums are the four lanes of a
// vector register (assembly, VFMADD231PD); with AVX-512 they are one half
// of a Z register whose other half sums another product, in 6×6 tiles
// (wide.go), which changes the speed but not a bit; elsewhere, or built with the
// noasm tag, portable Go computes the same values with math.FMA, which is
// exact everywhere, but more slowly.
//
// # Float32 rows
//
// Products32 and Dot32 multiply float32 rows in float32 lanes, sixteen to
// a product, each step one multiply-add rounded once to float32:
//
//	s_q = fma32(x[l], c[l], s_q)  for l = q, q+16, q+32, … below n16 = n − n%16, q = 0…15, each s_q from 0
//	t_q = s_q + s_{q+8}, u_q = t_q + t_{q+4}, v_q = u_q + u_{q+2}, s = v_0 + v_1   (in float64, q from 0)
//	s   = fma(x[l], c[l], s)      for l = n16 … n−1, in float64
//
// The lanes are one Z register with AVX-512 (VFMADD231PS, 4×6 tiles) or
// two Y registers with AVX2 (2×3 tiles); portable Go rounds each step once
// as well (fma32: the product of two float32 values is exact in float64,
// and the rare float64 sums that land on a float32 midpoint are rounded to
// odd first, so there is no double rounding, at about a fifth of the
// float64 Go kernels' speed: off amd64 float32 rows save memory, not
// time). So this order too gives the same bits from every variant on every
// machine. It does not give the bits of the float64 order on the widened
// values: each lane's running sum is rounded to float32 at every step, so
// x·c is within (⌈n/16⌉+1)·2⁻²⁴·Σ|x_l·c_l| of the exact product (the tests
// hold every variant to that bound and to the documented bits).
// ProductsNorms32 adds the squares x·x in the same order.
//
// RankUpdateF32 is the rank update in float32 lanes: each element of g
// takes its rows in order, one multiply-add rounded once to float32 each,
// so it too gives the same bits everywhere, within (n+1)·2⁻²⁴·Σ|r·x| of
// the exact sum over n rows. Its sums must stay short (a block of rows,
// added into float64 sums by AddWidened); a gradient over a whole partition
// is never summed in float32. (A rank update that widened the float32 rows
// as it loaded them, keeping RankUpdate's float64 bits, measured 1.4–1.9×
// slower than RankUpdateF32 and was removed.)
package tile

import "math"

// Dot returns x·c in the package's summation order; len(c) >= len(x).
func Dot(x, c []float64) float64 {
	n := len(x)
	c = c[:n]
	n4 := n &^ 3
	var acc [4]float64
	if n4 > 0 {
		lanes1(x, c, n4, &acc)
	}
	s := (acc[0] + acc[1]) + (acc[2] + acc[3])
	for l := n4; l < n; l++ {
		s = math.FMA(x[l], c[l], s)
	}
	return s
}

// Dot3x3 returns the nine products x_r·c_j of three rows with three rows,
// all of length len(x0), as s[3r+j].
func Dot3x3(x0, x1, x2, c0, c1, c2 []float64) (s [9]float64) {
	n := len(x0)
	x1, x2, c0, c1, c2 = x1[:n], x2[:n], c0[:n], c1[:n], c2[:n]
	n4 := n &^ 3
	var acc [36]float64
	if n4 > 0 {
		lanes33(x0, x1, x2, c0, c1, c2, n4, &acc)
	}
	finish33(&s, acc[:], x0, x1, x2, c0, c1, c2, n4)
	return s
}

// Dot3x3Norms is Dot3x3 that also returns x_r·x_r, at little extra cost:
// the squares come from the values loaded for the products.
func Dot3x3Norms(x0, x1, x2, c0, c1, c2 []float64) (s [9]float64, sq [3]float64) {
	n := len(x0)
	x1, x2, c0, c1, c2 = x1[:n], x2[:n], c0[:n], c1[:n], c2[:n]
	n4 := n &^ 3
	var acc [48]float64
	if n4 > 0 {
		lanes33n(x0, x1, x2, c0, c1, c2, n4, &acc)
	}
	finish33(&s, acc[:36], x0, x1, x2, c0, c1, c2, n4)
	for r, x := range [3][]float64{x0, x1, x2} {
		a := acc[36+4*r : 40+4*r]
		v := (a[0] + a[1]) + (a[2] + a[3])
		for l := n4; l < n; l++ {
			v = math.FMA(x[l], x[l], v)
		}
		sq[r] = v
	}
	return s, sq
}

// finish33 reduces the lanes of nine pairs and adds their tails.
func finish33(s *[9]float64, acc []float64, x0, x1, x2, c0, c1, c2 []float64, n4 int) {
	xs, cs := [3][]float64{x0, x1, x2}, [3][]float64{c0, c1, c2}
	for t := range s {
		a := acc[4*t : 4*t+4]
		v := (a[0] + a[1]) + (a[2] + a[3])
		xr, cj := xs[t/3], cs[t%3]
		for l := n4; l < len(xr); l++ {
			v = math.FMA(xr[l], cj[l], v)
		}
		s[t] = v
	}
}

// Dot3x1 returns the three products x_r·c of three rows with one, all of
// length len(x0), as s[r].
func Dot3x1(x0, x1, x2, c []float64) (s [3]float64) {
	n := len(x0)
	x1, x2, c = x1[:n], x2[:n], c[:n]
	n4 := n &^ 3
	var acc [12]float64
	if n4 > 0 {
		lanes31(x0, x1, x2, c, n4, &acc)
	}
	xs := [3][]float64{x0, x1, x2}
	for r := range s {
		a := acc[4*r : 4*r+4]
		v := (a[0] + a[1]) + (a[2] + a[3])
		for l := n4; l < n; l++ {
			v = math.FMA(xs[r][l], c[l], v)
		}
		s[r] = v
	}
	return s
}

// Products sets g[i*k+j] = x_i·c_j for the m rows of x and the k rows of c,
// both of width d, row-major and unpadded: the product X·Cᵀ.
func Products(g, x []float64, m int, c []float64, k, d int) {
	_ = g[m*k-1]
	i := products6(g, x, m, c, k, d)
	for ; i+3 <= m; i += 3 {
		x0, x1, x2 := x[i*d:(i+1)*d], x[(i+1)*d:(i+2)*d], x[(i+2)*d:(i+3)*d]
		g0, g1, g2 := g[i*k:(i+1)*k], g[(i+1)*k:(i+2)*k], g[(i+2)*k:(i+3)*k]
		j := 0
		for ; j+3 <= k; j += 3 {
			s := Dot3x3(x0, x1, x2, c[j*d:(j+1)*d], c[(j+1)*d:(j+2)*d], c[(j+2)*d:(j+3)*d])
			g0[j], g0[j+1], g0[j+2] = s[0], s[1], s[2]
			g1[j], g1[j+1], g1[j+2] = s[3], s[4], s[5]
			g2[j], g2[j+1], g2[j+2] = s[6], s[7], s[8]
		}
		for ; j < k; j++ {
			s := Dot3x1(x0, x1, x2, c[j*d:(j+1)*d])
			g0[j], g1[j], g2[j] = s[0], s[1], s[2]
		}
	}
	for ; i < m; i++ {
		x0 := x[i*d : (i+1)*d]
		for j := range k {
			g[i*k+j] = Dot(x0, c[j*d:(j+1)*d])
		}
	}
}

// ProductsNorms is Products that also sets xn[i] = x_i·x_i (= Dot(x_i,
// x_i)), computing the squares alongside the first three centres.
func ProductsNorms(g, xn, x []float64, m int, c []float64, k, d int) {
	if k < 3 {
		Products(g, x, m, c, k, d)
		for i := range m {
			xn[i] = Dot(x[i*d:(i+1)*d], x[i*d:(i+1)*d])
		}
		return
	}
	_, _ = g[m*k-1], xn[m-1]
	i := productsNorms6(g, xn, x, m, c, k, d)
	for ; i+3 <= m; i += 3 {
		x0, x1, x2 := x[i*d:(i+1)*d], x[(i+1)*d:(i+2)*d], x[(i+2)*d:(i+3)*d]
		g0, g1, g2 := g[i*k:(i+1)*k], g[(i+1)*k:(i+2)*k], g[(i+2)*k:(i+3)*k]
		s, sq := Dot3x3Norms(x0, x1, x2, c[:d], c[d:2*d], c[2*d:3*d])
		xn[i], xn[i+1], xn[i+2] = sq[0], sq[1], sq[2]
		g0[0], g0[1], g0[2] = s[0], s[1], s[2]
		g1[0], g1[1], g1[2] = s[3], s[4], s[5]
		g2[0], g2[1], g2[2] = s[6], s[7], s[8]
		j := 3
		for ; j+3 <= k; j += 3 {
			s := Dot3x3(x0, x1, x2, c[j*d:(j+1)*d], c[(j+1)*d:(j+2)*d], c[(j+2)*d:(j+3)*d])
			g0[j], g0[j+1], g0[j+2] = s[0], s[1], s[2]
			g1[j], g1[j+1], g1[j+2] = s[3], s[4], s[5]
			g2[j], g2[j+1], g2[j+2] = s[6], s[7], s[8]
		}
		for ; j < k; j++ {
			s := Dot3x1(x0, x1, x2, c[j*d:(j+1)*d])
			g0[j], g1[j], g2[j] = s[0], s[1], s[2]
		}
	}
	for ; i < m; i++ {
		x0 := x[i*d : (i+1)*d]
		xn[i] = Dot(x0, x0)
		for j := range k {
			g[i*k+j] = Dot(x0, c[j*d:(j+1)*d])
		}
	}
}

// lanesGeneric adds to acc[q] the products x[l]·c[l] for l ≡ q (mod 4),
// l < n4, fused, in increasing l: the reference for the assembly.
func lanesGeneric(x, c []float64, n4 int, acc []float64) {
	a0, a1, a2, a3 := acc[0], acc[1], acc[2], acc[3]
	x, c = x[:n4], c[:n4]
	for l := 0; l+4 <= len(x); l += 4 {
		a0 = math.FMA(x[l], c[l], a0)
		a1 = math.FMA(x[l+1], c[l+1], a1)
		a2 = math.FMA(x[l+2], c[l+2], a2)
		a3 = math.FMA(x[l+3], c[l+3], a3)
	}
	acc[0], acc[1], acc[2], acc[3] = a0, a1, a2, a3
}

func lanes31Generic(x0, x1, x2, c []float64, n4 int, acc *[12]float64) {
	for r, x := range [3][]float64{x0, x1, x2} {
		lanesGeneric(x, c, n4, acc[4*r:4*r+4])
	}
}

func lanes33nGeneric(x0, x1, x2, c0, c1, c2 []float64, n4 int, acc *[48]float64) {
	lanes33Generic(x0, x1, x2, c0, c1, c2, n4, (*[36]float64)(acc[:36]))
	for r, x := range [3][]float64{x0, x1, x2} {
		lanesGeneric(x, x, n4, acc[36+4*r:40+4*r])
	}
}

func lanes33Generic(x0, x1, x2, c0, c1, c2 []float64, n4 int, acc *[36]float64) {
	xs, cs := [3][]float64{x0, x1, x2}, [3][]float64{c0, c1, c2}
	for t := range 9 {
		lanesGeneric(xs[t/3], cs[t%3], n4, acc[4*t:4*t+4])
	}
}
