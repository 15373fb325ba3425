//go:build openblas && cgo

package openblas

/*
#cgo LDFLAGS: -lopenblas
#include <f77blas.h>

void openblas_set_num_threads(int);

// chol_solve factors the k×k matrix a (column-major, lower triangle: the
// upper triangle of a row-major matrix) and solves for one right-hand
// side b in place: one cgo call for the two LAPACK routines. It returns
// LAPACK's info (0 on success, i > 0 if the leading minor i is not
// positive definite).
static int chol_solve(double *a, double *b, int k) {
	char uplo = 'L';
	blasint n = k, nrhs = 1, info = 0;
	dpotrf_(&uplo, &n, a, &n, &info);
	if (info != 0) {
		return (int)info;
	}
	dpotrs_(&uplo, &n, &nrhs, a, &n, b, &n, &info);
	return (int)info;
}
*/
import "C"

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/netlib/blas/netlib"
)

// Enabled reports whether Flint was built with OpenBLAS (the openblas
// build tag); when it is false, every other function here panics.
const Enabled = true

func init() { C.openblas_set_num_threads(1) }

var impl netlib.Implementation

func trans(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}

// Gemm sets c = alpha·op(a)·op(b) + beta·c, op transposing where ta or
// tb is set: m×n c, m×k op(a), k×n op(b).
func Gemm(ta, tb bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	impl.Dgemm(trans(ta), trans(tb), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Gemv sets y = alpha·op(a)·x + beta·y for the m×n matrix a.
func Gemv(ta bool, m, n int, alpha float64, a []float64, lda int, x []float64, beta float64, y []float64) {
	impl.Dgemv(trans(ta), m, n, alpha, a, lda, x, 1, beta, y, 1)
}

// SyrkUpper adds yᵀ·y to the upper triangle of a (k×k), y being n×k: the
// Gramian Σ yᵢ·yᵢᵀ of the n rows of y. Entries below the diagonal are
// left alone.
func SyrkUpper(a []float64, y []float64, k, n int) {
	if n == 0 {
		return
	}
	impl.Dsyrk(blas.Upper, blas.Trans, k, n, 1, y, k, 1, a, k)
}

// CholSolve solves A·x = b in place of b for the symmetric positive
// definite k×k matrix A whose upper triangle a holds, factoring a in place
// (its upper triangle becomes U, A = UᵀU). It reports false, leaving b
// alone, when A is not positive definite.
func CholSolve(a []float64, b []float64, k int) bool {
	if k == 0 {
		return true
	}
	_, _ = a[k*k-1], b[k-1]
	return C.chol_solve((*C.double)(&a[0]), (*C.double)(&b[0]), C.int(k)) == 0
}
