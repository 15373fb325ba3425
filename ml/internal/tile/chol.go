package tile

import "math"

// Cholesky factors in place the symmetric positive definite k×k matrix A
// whose upper triangle is the first k rows and columns of a (row-major, w
// apart, w a multiple of 8 with roundup(k, 4) <= w): afterwards those rows
// hold the upper triangular U with UᵀU = A. The columns past k go through
// the same row operations, so a right-hand side b stored in column k comes
// out as U⁻ᵀb (the forward substitution; see CholSolve). It returns false,
// leaving a partly factored, when a pivot is not positive and finite (A is
// not positive definite, or holds NaN). scratch holds at least k·w values
// (it gets −U). When k is not a multiple of 4, the last block's update
// also overwrites rows k to roundup(k, 4)−1 of a: read anything kept there
// (as ALS keeps Σr² in row k) before the call.
//
// Each element a_ij (i <= j) takes, for q = 0, 1, … below i in order, one
// fused multiply-add a_ij ← fma(−u_qi, u_qj, a_ij); then the pivot is
// u_ii = √a_ii and, for j > i, u_ij = a_ij · (1/u_ii). The rows go four at
// a time, left-looking: the updates from every row above a block come in
// one call of the rank kernels (RankUpdate's, from column (row &^ 7) on,
// so entries left of the diagonal are overwritten, as in Gram, and mean
// nothing), which keeps the block's running sums in registers; the updates
// inside the block are vector multiply-adds (AVX-512) or Go. The order, and
// so the bits, are the same on every CPU.
func Cholesky(a []float64, w, k int, scratch []float64) bool {
	if k == 0 {
		return true
	}
	if w%8 != 0 || (k+3)&^3 > w {
		panic("tile: Cholesky needs w a multiple of 8 and k rounded up to 4 at most w")
	}
	_, _ = a[w*w-1], scratch[k*w-1]
	for p := 0; p < k; p += 4 {
		if p > 0 {
			j := p &^ 7
			rank4(a[p*w+j:], w, scratch[p:], w, a[j:], w, p, w-j)
		}
		for q := p; q < min(p+4, k); q++ {
			d := a[q*w+q]
			if !(d > 0) || math.IsInf(d, 1) {
				return false
			}
			d = math.Sqrt(d)
			a[q*w+q] = d
			// Row q of U, and its negation for the rows below.
			scaleNeg(a[q*w+q+1:q*w+w], scratch[q*w+q+1:(q+1)*w], 1/d)
			for i := q + 1; i < min(p+4, k); i++ {
				axpy(a[i*w+i:i*w+w], a[q*w+i:q*w+w], -a[q*w+i])
			}
		}
	}
	return true
}

// CholSolve finishes the solve of A·x = b after Cholesky factored the
// augmented rows [A b] (b in column k): it sets x (length k) by back
// substitution from U and z = U⁻ᵀb, from the last row up,
//
//	x_i = (z_i − s_i) / U_ii,  s_i = Σ_{j>i} U_ij·x_j
//
// with s_i summed in eight lanes, lane q taking j = i+1+q, i+9+q, …, one
// fused multiply-add each (the lanes past the row's end in its last block
// of eight add 0·0), then s_i = ((s₀+s₄)+(s₂+s₆)) + ((s₁+s₅)+(s₃+s₇)):
// one Z register with AVX-512, the same bits in Go elsewhere.
func CholSolve(x, a []float64, w, k int) {
	if k == 0 {
		return
	}
	if k >= w {
		panic("tile: CholSolve needs k < w")
	}
	_, _ = a[(k-1)*w+k], x[k-1]
	backsub(x, a, w, k)
}

// backsubGeneric is backsubAVX512 in Go.
func backsubGeneric(x, a []float64, w, k int) {
	for i := k - 1; i >= 0; i-- {
		var s [8]float64
		u, xs := a[i*w+i+1:i*w+k], x[i+1:k]
		m := 0
		for ; m+8 <= len(u); m += 8 {
			for q := range s {
				s[q] = math.FMA(u[m+q], xs[m+q], s[q])
			}
		}
		if m < len(u) {
			for q := range s {
				if m+q < len(u) {
					s[q] = math.FMA(u[m+q], xs[m+q], s[q])
				} else {
					s[q] = math.FMA(0, 0, s[q])
				}
			}
		}
		sum := ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]))
		x[i] = (a[i*w+k] - sum) / a[i*w+i]
	}
}

// GatherRows copies row ind[l] of f (rows k values apart) to y[l*w:l*w+k]
// for each l, leaving y's other values as they are. With AVX-512 it also
// asks for the cache lines of the rows a few ratings ahead, so that
// gathering the factors of random rows of a large matrix waits for memory
// less. It panics on an index outside f, and on w < k (rows that would
// overlap, or a negative stride).
func GatherRows(y []float64, w int, f []float64, k int, ind []int32) {
	if len(ind) == 0 || k == 0 {
		return
	}
	if w < k {
		panic("tile: GatherRows needs w >= k")
	}
	rows := len(f) / k
	for _, j := range ind {
		if uint(j) >= uint(rows) {
			panic("tile: GatherRows: an index is outside the matrix")
		}
	}
	_ = y[(len(ind)-1)*w+k-1]
	gather(y, w, f, k, ind)
}

func gatherGeneric(y []float64, w int, f []float64, k int, ind []int32) {
	for l, j := range ind {
		copy(y[l*w:l*w+k], f[int(j)*k:int(j)*k+k])
	}
}

// Axpy sets dst[i] = fma(a, x[i], dst[i]) for i < len(dst) (len(x) >=
// len(dst)): one fused multiply-add each, AVX-512 or Go, the same bits.
func Axpy(dst, x []float64, a float64) { axpy(dst, x, a) }

// Scale multiplies dst by a, element by element (AVX-512 or Go).
func Scale(dst []float64, a float64) { scale(dst, a) }

func axpyGeneric(dst, x []float64, a float64) {
	x = x[:len(dst)]
	for i, v := range x {
		dst[i] = math.FMA(a, v, dst[i])
	}
}

func scaleGeneric(dst []float64, a float64) {
	for i := range dst {
		dst[i] *= a
	}
}

func scaleNegGeneric(dst, neg []float64, a float64) {
	neg = neg[:len(dst)]
	for i := range dst {
		dst[i] *= a
		neg[i] = -dst[i]
	}
}
