//go:build !noasm

package tile

import "golang.org/x/sys/cpu"

// hasAVX2FMA reports whether this CPU runs the AVX2 assembly lanes, and
// hasAVX512 whether it also runs the AVX-512 kernels
// (tile_avx512_amd64.s).
var (
	hasAVX2FMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	hasAVX512  = hasAVX2FMA && cpu.X86.HasAVX512F
)

// useAVX2 and useAVX512 choose the kernels; they start as what the CPU
// has, and the tests lower them to check every variant against the others.
var (
	useAVX2   = hasAVX2FMA
	useAVX512 = hasAVX512
)

// The AVX-512 kernels, documented in tile_avx512_amd64.s and
// rank_avx512_amd64.s.
//
//go:noescape
func lanes6x6AVX512(x *float64, xs int, c *float64, cs int, n4 int, acc *[144]float64)

//go:noescape
func lanes6x4AVX512(x *float64, xs int, c *float64, cs int, n4 int, acc *[144]float64)

//go:noescape
func lanes6x2AVX512(x *float64, xs int, c *float64, cs int, n4 int, acc *[144]float64)

//go:noescape
func lanes6x6nAVX512(x *float64, xs int, c *float64, cs int, n4 int, acc *[168]float64)

//go:noescape
func rank4AVX512(dst *float64, gs int, r *float64, rs int, x *float64, xs int, n, cols int)

// rank4AVX2 is rank4AVX512 with Y registers (tile_amd64.s).
//
//go:noescape
func rank4AVX2(dst *float64, gs int, r *float64, rs int, x *float64, xs int, n, cols int)

// lanes6 sets acc from the 6-row kernel for w = 2, 4 or 6 columns (rows of
// x and c at x[r*xs], c[j*cs]); only call it when useAVX512 is true and
// the rows hold n4 values.
func lanes6(x []float64, xs int, c []float64, cs, w, n4 int, acc *[144]float64) {
	_, _ = x[5*xs+n4-1], c[(w-1)*cs+n4-1]
	switch w {
	case 6:
		lanes6x6AVX512(&x[0], xs, &c[0], cs, n4, acc)
	case 4:
		lanes6x4AVX512(&x[0], xs, &c[0], cs, n4, acc)
	default:
		lanes6x2AVX512(&x[0], xs, &c[0], cs, n4, acc)
	}
}

func lanes6n(x []float64, xs int, c []float64, cs, n4 int, acc *[168]float64) {
	_, _ = x[5*xs+n4-1], c[5*cs+n4-1]
	lanes6x6nAVX512(&x[0], xs, &c[0], cs, n4, acc)
}

//go:noescape
func rank2AVX512(dst *float64, gs int, r *float64, rs int, x *float64, xs int, n, cols int)

//go:noescape
func rank2AVX2(dst *float64, gs int, r *float64, rs int, x *float64, xs int, n, cols int)

// rank2 is rank4 for two rows of g.
func rank2(g []float64, gs int, r []float64, rs int, x []float64, xs, n, cols int) {
	_, _, _ = g[gs+cols-1], r[(n-1)*rs+1], x[(n-1)*xs+cols-1]
	switch {
	case useAVX512:
		rank2AVX512(&g[0], gs, &r[0], rs, &x[0], xs, n, cols)
	case useAVX2:
		rank2AVX2(&g[0], gs, &r[0], rs, &x[0], xs, n, cols)
	default:
		rankGeneric(g, gs, r, rs, x, xs, n, cols, 2)
	}
}

//go:noescape
func rank6AVX512(dst *float64, gs int, r *float64, rs int, x *float64, xs int, n, cols int)

// rank6 is rankGeneric for six rows of g, with AVX-512 only (has6 says
// whether RankUpdate should use it).
func rank6(g []float64, gs int, r []float64, rs int, x []float64, xs, n, cols int) {
	_, _, _ = g[5*gs+cols-1], r[(n-1)*rs+5], x[(n-1)*xs+cols-1]
	rank6AVX512(&g[0], gs, &r[0], rs, &x[0], xs, n, cols)
}

// has6 reports whether rank6 is there: only with AVX-512.
func has6() bool { return useAVX512 }

// rank4 is rankGeneric for four rows by the best kernel chosen; cols is a positive
// multiple of 8 and n positive.
func rank4(g []float64, gs int, r []float64, rs int, x []float64, xs, n, cols int) {
	_, _, _ = g[3*gs+cols-1], r[(n-1)*rs+3], x[(n-1)*xs+cols-1]
	switch {
	case useAVX512:
		rank4AVX512(&g[0], gs, &r[0], rs, &x[0], xs, n, cols)
	case useAVX2:
		rank4AVX2(&g[0], gs, &r[0], rs, &x[0], xs, n, cols)
	default:
		rankGeneric(g, gs, r, rs, x, xs, n, cols, 4)
	}
}

// lanes1AVX2 adds to acc[q] the fused products x[l]·c[l], l ≡ q (mod 4),
// l < n4; n4 is a positive multiple of 4 and both arrays hold n4 values.
//
//go:noescape
func lanes1AVX2(x, c *float64, n4 int, acc *[4]float64)

// lanes33AVX2 does the same for the nine pairs (x_r, c_j) into
// acc[4(3r+j) : 4(3r+j)+4].
//
//go:noescape
func lanes33AVX2(x0, x1, x2, c0, c1, c2 *float64, n4 int, acc *[36]float64)

// lanes31AVX2 does the same for the three pairs (x_r, c) into
// acc[4r : 4r+4].
//
//go:noescape
func lanes31AVX2(x0, x1, x2, c *float64, n4 int, acc *[12]float64)

func lanes31(x0, x1, x2, c []float64, n4 int, acc *[12]float64) {
	if useAVX2 {
		_, _, _, _ = x0[n4-1], x1[n4-1], x2[n4-1], c[n4-1]
		lanes31AVX2(&x0[0], &x1[0], &x2[0], &c[0], n4, acc)
		return
	}
	lanes31Generic(x0, x1, x2, c, n4, acc)
}

func lanes1(x, c []float64, n4 int, acc *[4]float64) {
	if useAVX2 {
		_, _ = x[n4-1], c[n4-1]
		lanes1AVX2(&x[0], &c[0], n4, acc)
		return
	}
	lanesGeneric(x, c, n4, acc[:])
}

// lanes33nAVX2 is lanes33AVX2 that also sums the squares of x0, x1 and
// x2 into acc[36:40], acc[40:44] and acc[44:48].
//
//go:noescape
func lanes33nAVX2(x0, x1, x2, c0, c1, c2 *float64, n4 int, acc *[48]float64)

func lanes33n(x0, x1, x2, c0, c1, c2 []float64, n4 int, acc *[48]float64) {
	if useAVX2 {
		_, _, _, _, _, _ = x0[n4-1], x1[n4-1], x2[n4-1], c0[n4-1], c1[n4-1], c2[n4-1]
		lanes33nAVX2(&x0[0], &x1[0], &x2[0], &c0[0], &c1[0], &c2[0], n4, acc)
		return
	}
	lanes33nGeneric(x0, x1, x2, c0, c1, c2, n4, acc)
}

func lanes33(x0, x1, x2, c0, c1, c2 []float64, n4 int, acc *[36]float64) {
	if useAVX2 {
		_, _, _, _, _, _ = x0[n4-1], x1[n4-1], x2[n4-1], c0[n4-1], c1[n4-1], c2[n4-1]
		lanes33AVX2(&x0[0], &x1[0], &x2[0], &c0[0], &c1[0], &c2[0], n4, acc)
		return
	}
	lanes33Generic(x0, x1, x2, c0, c1, c2, n4, acc)
}

//go:noescape
func addAVX512(dst, x *float64, n int)

// add32 adds x[:n] to dst[:n], n a positive multiple of 32, with the
// AVX-512 kernel; only call it when useAVX512 is true.
func add32(dst, x []float64, n int) {
	_, _ = dst[n-1], x[n-1]
	addAVX512(&dst[0], &x[0], n)
}

//go:noescape
func addRowsAVX512(dst, x *float64, d int, rows *int32, nrows int, n64 int)

// addRows64 runs addRowsAVX512 when the CPU has it and reports the
// columns it summed (0 or d&^63).
func addRows64(dst, x []float64, d int, rows []int32) int {
	n64 := d &^ 63
	if !useAVX512 || n64 == 0 || len(rows) == 0 {
		return 0
	}
	addRowsAVX512(&dst[0], &x[0], d, &rows[0], len(rows), n64)
	return n64
}

//go:noescape
func widenAVX512(dst *float64, src *float32, n int)

//go:noescape
func widenAVX2(dst *float64, src *float32, n int)

// widen32 widens src[:n] into dst[:n], n a positive multiple of 32, with
// the AVX-512 kernel; only call it when useAVX512 is true.
func widen32(dst []float64, src []float32, n int) {
	_, _ = dst[n-1], src[n-1]
	widenAVX512(&dst[0], &src[0], n)
}

// widen16 is widen32 with the AVX2 kernel, n a positive multiple of 16.
func widen16(dst []float64, src []float32, n int) {
	_, _ = dst[n-1], src[n-1]
	widenAVX2(&dst[0], &src[0], n)
}

// The vector helpers of Cholesky and GatherRows (chol_amd64.s).
//
//go:noescape
func axpyAVX512(dst, x *float64, a float64, n int)

//go:noescape
func scaleAVX512(dst *float64, a float64, n int)

//go:noescape
func scaleNegAVX512(dst, neg *float64, a float64, n int)

//go:noescape
func backsubAVX512(x, a *float64, w, k int)

//go:noescape
func gatherAVX512(y *float64, w int, f *float64, k int, ind *int32, n, ahead int)

// axpy sets dst[i] = fma(a, x[i], dst[i]); len(x) >= len(dst).
func axpy(dst, x []float64, a float64) {
	if useAVX512 && len(dst) > 0 {
		_ = x[len(dst)-1]
		axpyAVX512(&dst[0], &x[0], a, len(dst))
		return
	}
	axpyGeneric(dst, x, a)
}

// scale multiplies dst by a.
func scale(dst []float64, a float64) {
	if useAVX512 && len(dst) > 0 {
		scaleAVX512(&dst[0], a, len(dst))
		return
	}
	scaleGeneric(dst, a)
}

// scaleNeg multiplies dst by a and sets neg to −dst; len(neg) >= len(dst).
func scaleNeg(dst, neg []float64, a float64) {
	if useAVX512 && len(dst) > 0 {
		_ = neg[len(dst)-1]
		scaleNegAVX512(&dst[0], &neg[0], a, len(dst))
		return
	}
	scaleNegGeneric(dst, neg, a)
}

// backsub is CholSolve's back substitution (bounds checked by CholSolve).
func backsub(x, a []float64, w, k int) {
	if useAVX512 {
		backsubAVX512(&x[0], &a[0], w, k)
		return
	}
	backsubGeneric(x, a, w, k)
}

// gatherAhead is how many rows ahead GatherRows asks for (4, 8 and 16
// measured alike in the ALS benchmark).
const gatherAhead = 8

// gather is GatherRows' copy, the indices checked.
func gather(y []float64, w int, f []float64, k int, ind []int32) {
	if useAVX512 && len(ind) > 0 {
		gatherAVX512(&y[0], w, &f[0], k, &ind[0], len(ind), gatherAhead)
		return
	}
	gatherGeneric(y, w, f, k, ind)
}
