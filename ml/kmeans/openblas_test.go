//go:build openblas

package kmeans

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/flintml/flint/ml/internal/tile"
)

// TestProductsOpenBLAS checks the openblas build's distance products
// (one DGEMM) against tile's, the default build's: they may differ only
// in summation order, by at most 1e-13 of the largest product; the squared
// norms are tile's in both and must match exactly.
func TestProductsOpenBLAS(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, c := range []struct{ m, k, d int }{{48, 10, 784}, {13, 100, 50}, {1, 2, 3}, {7, 1, 9}} {
		t.Run(fmt.Sprintf("rows=%d/k=%d/dim=%d", c.m, c.k, c.d), func(t *testing.T) {
			x, cs := make([]float64, c.m*c.d), make([]float64, c.k*c.d)
			for i := range x {
				x[i] = rng.Float64()
			}
			for i := range cs {
				cs[i] = rng.NormFloat64()
			}
			got, want := make([]float64, c.m*c.k), make([]float64, c.m*c.k)
			gotN, wantN := make([]float64, c.m), make([]float64, c.m)
			productsNormsBLAS(got, gotN, x, c.m, cs, c.k, c.d)
			tile.ProductsNorms(want, wantN, x, c.m, cs, c.k, c.d)
			scale := 0.0
			for _, v := range want {
				scale = max(scale, math.Abs(v))
			}
			for i := range want {
				if d := math.Abs(got[i] - want[i]); d > 1e-13*scale {
					t.Fatalf("product %d = %v through OpenBLAS, %v through tile (|Δ| %g)", i, got[i], want[i], d)
				}
			}
			for i := range wantN {
				if gotN[i] != wantN[i] {
					t.Fatalf("‖x_%d‖² = %v, tile's %v", i, gotN[i], wantN[i])
				}
			}
		})
	}
}
