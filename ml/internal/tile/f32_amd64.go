//go:build !noasm

package tile

import "unsafe"

// The float32 product tiles, documented in f32_amd64.s.
//
//go:noescape
func dots4x6AVX512(x0, x1, x2, x3, c0, c1, c2, c3, c4, c5 *float32, n16 int, pf uintptr, out *[24]float64)

//go:noescape
func dots4x5AVX512(x0, x1, x2, x3, c0, c1, c2, c3, c4 *float32, n16 int, pf uintptr, out *[20]float64)

//go:noescape
func dots4x5nAVX512(x0, x1, x2, x3, c0, c1, c2, c3, c4 *float32, n16 int, pf uintptr, out *[24]float64)

//go:noescape
func squares4AVX512(x0, x1, x2, x3 *float32, n16 int, out *[4]float64)

//go:noescape
func squares2AVX2(x0, x1 *float32, n16 int, out *[2]float64)

//go:noescape
func dots2x3AVX2(x0, x1, c0, c1, c2 *float32, n16 int, out *[6]float64)

// products4x6 sets g[i*k+j] to the reduced float32 lanes of x_i·c_j up to
// n16 (a positive multiple of 16, at most d), in tiles of four rows by six
// or five centres (tileWidths); a last tile short of rows or centres
// repeats its last one (computed again, the result dropped). The first
// tile over each group of four rows asks for the next group's cache lines
// (the rows are contiguous) while it waits on memory for its own: without
// that, the tiles ran at 40 % of their in-cache rate on rows streamed from
// memory. When xn is not nil and the first tile is five wide, that tile
// also sums the rows' squares into xn[:m] (as squares4 does) and it
// reports true. Only call it when useAVX512 is true.
func products4x6(g, xn []float64, x []float32, m int, c []float32, k, d, n16 int) (norms bool) {
	var out [24]float64
	var xp [4]*float32
	var cp [6]*float32
	six := tileWidths(k)
	norms = xn != nil && six == 0
	for i := 0; i < m; i += 4 {
		rows := min(4, m-i)
		for r := range xp {
			xp[r] = &x[(i+min(r, rows-1))*d]
		}
		// The next group's address, past x for the last group: a prefetch
		// does not fault, and Go never sees it as a pointer.
		pf := uintptr(unsafe.Pointer(xp[0])) + uintptr(4*d)*4
		for j, t := 0, 0; j < k; t++ {
			full := 5
			if t < six {
				full = 6
			}
			w := min(full, k-j)
			for q := range full {
				cp[q] = &c[(j+min(q, w-1))*d]
			}
			switch {
			case full == 6:
				dots4x6AVX512(xp[0], xp[1], xp[2], xp[3], cp[0], cp[1], cp[2], cp[3], cp[4], cp[5], n16, pf, &out)
			case norms && j == 0:
				dots4x5nAVX512(xp[0], xp[1], xp[2], xp[3], cp[0], cp[1], cp[2], cp[3], cp[4], n16, pf, &out)
				copy(xn[i:i+rows], out[20:20+rows])
			default:
				dots4x5AVX512(xp[0], xp[1], xp[2], xp[3], cp[0], cp[1], cp[2], cp[3], cp[4], n16, pf, (*[20]float64)(out[:20]))
			}
			for r := range rows {
				copy(g[(i+r)*k+j:(i+r)*k+j+w], out[full*r:full*r+w])
			}
			pf = 0
			j += w
		}
	}
	return norms
}

// tileWidths says how products4x6 splits k centres: into the fewest tiles
// (⌈k/6⌉), the first k − 5·⌈k/6⌉ of them six wide and the rest five, so
// that the fewest repeated centres are computed (none for k = 10: two tiles
// of five, where six and four repeated to six computed twelve products a
// row for ten).
func tileWidths(k int) (six int) {
	t := (k + 5) / 6
	return max(0, k-5*t)
}

// products2x3 is products4x6 in 2×3 tiles with the AVX2 kernel; only call
// it when useAVX2 is true.
func products2x3(g []float64, x []float32, m int, c []float32, k, d, n16 int) {
	var out [6]float64
	var xp [2]*float32
	var cp [3]*float32
	for i := 0; i < m; i += 2 {
		rows := min(2, m-i)
		for r := range xp {
			xp[r] = &x[(i+min(r, rows-1))*d]
		}
		for j := 0; j < k; j += 3 {
			w := min(3, k-j)
			for q := range cp {
				cp[q] = &c[(j+min(q, w-1))*d]
			}
			dots2x3AVX2(xp[0], xp[1], cp[0], cp[1], cp[2], n16, &out)
			for r := range rows {
				copy(g[(i+r)*k+j:(i+r)*k+j+w], out[3*r:3*r+w])
			}
		}
	}
}

// squares4 sets xn[i] to the reduced float32 lanes of x_i·x_i up to n16,
// four rows at a time (the last group repeating its last row) with
// AVX-512, two with AVX2; only call it when useAVX2 is true.
func squares4(xn []float64, x []float32, m, d, n16 int) {
	if useAVX512 {
		var out [4]float64
		for i := 0; i < m; i += 4 {
			rows := min(4, m-i)
			r := func(q int) *float32 { return &x[(i+min(q, rows-1))*d] }
			squares4AVX512(r(0), r(1), r(2), r(3), n16, &out)
			copy(xn[i:i+rows], out[:rows])
		}
		return
	}
	var out [2]float64
	for i := 0; i < m; i += 2 {
		rows := min(2, m-i)
		squares2AVX2(&x[i*d], &x[(i+rows-1)*d], n16, &out)
		copy(xn[i:i+rows], out[:rows])
	}
}

//go:noescape
func addWidenAVX512(dst *float64, x *float32, n int)

//go:noescape
func addRowsWidenAVX512(dst *float64, x *float32, d int, rows *int32, nrows int, n64 int)

// addRowsWiden64 runs addRowsWidenAVX512 when the CPU has it and reports
// the columns it summed (0 or d&^63).
func addRowsWiden64(dst []float64, x []float32, d int, rows []int32) int {
	n64 := d &^ 63
	if !useAVX512 || n64 == 0 || len(rows) == 0 {
		return 0
	}
	addRowsWidenAVX512(&dst[0], &x[0], d, &rows[0], len(rows), n64)
	return n64
}

//go:noescape
func addWidenAVX2(dst *float64, x *float32, n int)

// addWiden32 adds the widened x[:n] to dst[:n], n a positive multiple of
// 32, with the AVX-512 kernel; only call it when useAVX512 is true.
func addWiden32(dst []float64, x []float32, n int) {
	_, _ = dst[n-1], x[n-1]
	addWidenAVX512(&dst[0], &x[0], n)
}

// addWiden16 is addWiden32 with the AVX2 kernel, n a positive multiple of
// 16.
func addWiden16(dst []float64, x []float32, n int) {
	_, _ = dst[n-1], x[n-1]
	addWidenAVX2(&dst[0], &x[0], n)
}

//go:noescape
func rank4F32AVX512(dst *float32, gs int, r *float32, rs int, x *float32, xs int, n, cols int)

//go:noescape
func rank2F32AVX512(dst *float32, gs int, r *float32, rs int, x *float32, xs int, n, cols int)

//go:noescape
func rank4F32AVX2(dst *float32, gs int, r *float32, rs int, x *float32, xs int, n, cols int)

//go:noescape
func rank2F32AVX2(dst *float32, gs int, r *float32, rs int, x *float32, xs int, n, cols int)

// rank4f is RankUpdateF32's kernel for four rows of g (rankf32_amd64.s),
// cols a positive multiple of 16 and n positive.
func rank4f(g []float32, gs int, r []float32, rs int, x []float32, xs, n, cols int) {
	_, _, _ = g[3*gs+cols-1], r[(n-1)*rs+3], x[(n-1)*xs+cols-1]
	switch {
	case useAVX512:
		rank4F32AVX512(&g[0], gs, &r[0], rs, &x[0], xs, n, cols)
	case useAVX2:
		rank4F32AVX2(&g[0], gs, &r[0], rs, &x[0], xs, n, cols)
	default:
		rankGenericF32(g, gs, r, rs, x, xs, n, 0, cols, 4)
	}
}

// rank2f is rank4f for two rows of g.
func rank2f(g []float32, gs int, r []float32, rs int, x []float32, xs, n, cols int) {
	_, _, _ = g[gs+cols-1], r[(n-1)*rs+1], x[(n-1)*xs+cols-1]
	switch {
	case useAVX512:
		rank2F32AVX512(&g[0], gs, &r[0], rs, &x[0], xs, n, cols)
	case useAVX2:
		rank2F32AVX2(&g[0], gs, &r[0], rs, &x[0], xs, n, cols)
	default:
		rankGenericF32(g, gs, r, rs, x, xs, n, 0, cols, 2)
	}
}
