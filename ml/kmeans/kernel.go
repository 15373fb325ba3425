package kmeans

import (
	"math"

	"github.com/flintml/flint/ml/internal/openblas"
	"github.com/flintml/flint/ml/internal/tile"
)

// The distance kernel. Squared distances are expanded as
// ‖x‖² − 2x·c + ‖c‖², so the work of a pass over dense rows is the matrix
// product of a block of rows with the centre matrix transposed, which
// tile.ProductsNorms computes in register tiles (6×6 with AVX-512, 3×3 with
// AVX2 and FMA, assembly on amd64), with the rows' squared norms on the side. For Fashion-MNIST's
// shape (784 features, 10 or 100 centres) it runs 3–4× faster than gonum's
// blas64.Gemm on one core; for short rows (50 features) the two are even
// (see BenchmarkDistanceKernel). tile fixes the summation order of every dot
// product, so a single-row Predict reaches the same bits as the blocked
// training pass, on any machine (for float64 rows: Lloyd's passes over
// float32 rows take tile.ProductsNorms32's float32 products, see
// centres.each). The opt-in openblas build (see
// ml/internal/openblas) gives that up for the training pass's products,
// which it computes by DGEMM (productsNorms).

// productsNorms sets g[i*k+j] = x_i·c_j and xn[i] = ‖x_i‖² for the m rows
// of x and the k centres c (both of width d, row-major): tile.ProductsNorms
// in the default build, DGEMM in the openblas one.
func productsNorms(g, xn, x []float64, m int, c []float64, k, d int) {
	if openblas.Enabled {
		productsNormsBLAS(g, xn, x, m, c, k, d)
		return
	}
	tile.ProductsNorms(g, xn, x, m, c, k, d)
}

// productsNormsBLAS is productsNorms through OpenBLAS (one DGEMM); the
// squared norms are tile's, as in the default build.
func productsNormsBLAS(g, xn, x []float64, m int, c []float64, k, d int) {
	openblas.Gemm(false, true, m, k, d, 1, x, d, c, d, 0, g, k)
	for i := range m {
		xn[i] = sqNorm(x[i*d : (i+1)*d])
	}
}

// sparseDots sets g[j] = x·c_j for a sparse row (ind, val) against the
// centres stored transposed: ct[l*k+j] is feature l of centre j. Each
// product is summed in the order of the row's non-zeros with fused
// multiply-adds, as sparseDot does, so no compiler's choice to fuse or not
// changes a bit.
func sparseDots(g []float64, ind []int32, val []float64, ct []float64, k int) {
	clear(g[:k])
	for n, l := range ind {
		v := val[n]
		col := ct[int(l)*k : int(l)*k+k]
		for j, a := range col {
			g[j] = math.FMA(v, a, g[j])
		}
	}
}

// sparseDot is the product of a sparse row with dense c.
func sparseDot(ind []int32, val []float64, c []float64) float64 {
	s := 0.0
	for n, l := range ind {
		s = math.FMA(val[n], c[l], s)
	}
	return s
}

// sqNorm is ‖x‖², summed as tile sums every dot product.
func sqNorm(x []float64) float64 { return tile.Dot(x, x) }
