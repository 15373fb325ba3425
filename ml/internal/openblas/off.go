//go:build !openblas

package openblas

// Enabled reports whether Flint was built with OpenBLAS (the openblas
// build tag); when it is false, every other function here panics.
const Enabled = false

const notBuilt = "openblas: Flint was built without the openblas tag"

// Gemm sets c = alpha·op(a)·op(b) + beta·c, op transposing where ta or
// tb is set: m×n c, m×k op(a), k×n op(b).
func Gemm(ta, tb bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	panic(notBuilt)
}

// Gemv sets y = alpha·op(a)·x + beta·y for the m×n matrix a.
func Gemv(ta bool, m, n int, alpha float64, a []float64, lda int, x []float64, beta float64, y []float64) {
	panic(notBuilt)
}

// SyrkUpper adds yᵀ·y to the upper triangle of a (k×k), y being n×k: the
// Gramian Σ yᵢ·yᵢᵀ of the n rows of y. Entries below the diagonal are
// left alone.
func SyrkUpper(a []float64, y []float64, k, n int) { panic(notBuilt) }

// CholSolve solves A·x = b in place of b for the symmetric positive
// definite k×k matrix A whose upper triangle a holds, factoring a in place
// (its upper triangle becomes U, A = UᵀU). It reports false, leaving b
// alone, when A is not positive definite.
func CholSolve(a []float64, b []float64, k int) bool { panic(notBuilt) }
