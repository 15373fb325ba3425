//go:build openblas

package openblas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// native is gonum's pure-Go BLAS, the reference the OpenBLAS calls are
// checked against.
var native gonum.Implementation

func randSlice(rng *rand.Rand, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = rng.NormFloat64()
	}
	return s
}

// near fails unless got and want agree to within tol relative to the
// largest magnitude of want.
func near(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	scale := 1.0
	for _, v := range want {
		scale = max(scale, math.Abs(v))
	}
	for i := range want {
		if d := math.Abs(got[i] - want[i]); d > tol*scale || math.IsNaN(got[i]) {
			t.Fatalf("%s[%d] = %v, want %v (|Δ| = %g, tolerance %g)", what, i, got[i], want[i], d, tol*scale)
		}
	}
}

func TestGemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct {
		ta, tb  bool
		m, n, k int
	}{{false, true, 48, 10, 784}, {true, false, 10, 784, 48}, {false, false, 7, 5, 3}, {true, true, 1, 1, 1}} {
		t.Run(fmt.Sprintf("ta=%v/tb=%v/%dx%dx%d", c.ta, c.tb, c.m, c.n, c.k), func(t *testing.T) {
			a, b := randSlice(rng, c.m*c.k), randSlice(rng, c.k*c.n)
			lda, ldb := c.k, c.n
			ta, tb := blas.NoTrans, blas.NoTrans
			if c.ta {
				lda, ta = c.m, blas.Trans
			}
			if c.tb {
				ldb, tb = c.k, blas.Trans
			}
			got, want := randSlice(rng, c.m*c.n), make([]float64, c.m*c.n)
			copy(want, got)
			Gemm(c.ta, c.tb, c.m, c.n, c.k, 0.5, a, lda, b, ldb, 1, got, c.n)
			native.Dgemm(ta, tb, c.m, c.n, c.k, 0.5, a, lda, b, ldb, 1, want, c.n)
			near(t, "c", got, want, 1e-13)
		})
	}
}

func TestGemv(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const m, n = 37, 11
	a, x := randSlice(rng, m*n), randSlice(rng, m)
	got, want := randSlice(rng, n), make([]float64, n)
	copy(want, got)
	Gemv(true, m, n, 1, a, n, x, 1, got)
	native.Dgemv(blas.Trans, m, n, 1, a, n, x, 1, 1, want, 1)
	near(t, "y", got, want, 1e-13)
}

func TestSyrkUpperLeavesLowerAlone(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range []struct{ k, n int }{{50, 250}, {10, 3}, {1, 1}, {6, 0}} {
		t.Run(fmt.Sprintf("k=%d/n=%d", c.k, c.n), func(t *testing.T) {
			y := randSlice(rng, c.n*c.k)
			got := randSlice(rng, c.k*c.k)
			want := append([]float64(nil), got...)
			SyrkUpper(got, y, c.k, c.n)
			for i := range c.k {
				for j := range c.k {
					if j < i {
						continue // below the diagonal: checked to be untouched below
					}
					for r := range c.n {
						want[i*c.k+j] += y[r*c.k+i] * y[r*c.k+j]
					}
				}
			}
			near(t, "a", got, want, 1e-12)
			for i := range c.k {
				for j := range i {
					if got[i*c.k+j] != want[i*c.k+j] {
						t.Fatalf("a[%d][%d] below the diagonal changed", i, j)
					}
				}
			}
		})
	}
}

func TestCholSolve(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, k := range []int{1, 3, 50} {
		t.Run(fmt.Sprintf("k=%d", k), func(t *testing.T) {
			y := randSlice(rng, 2*k*k)
			a := make([]float64, k*k)
			native.Dsyrk(blas.Upper, blas.Trans, k, 2*k, 1, y, k, 0, a, k)
			for i := range k {
				a[i*k+i] += 0.1
			}
			full := make([]float64, k*k) // A, both triangles, for the residual
			for i := range k {
				for j := i; j < k; j++ {
					full[i*k+j], full[j*k+i] = a[i*k+j], a[i*k+j]
				}
			}
			want := randSlice(rng, k)
			b := make([]float64, k)
			native.Dgemv(blas.NoTrans, k, k, 1, full, k, want, 1, 0, b, 1)
			if !CholSolve(a, b, k) {
				t.Fatal("CholSolve reports a positive definite matrix as not")
			}
			near(t, "x", b, want, 1e-9)
		})
	}
	t.Run("indefinite", func(t *testing.T) {
		a, b := []float64{1, 2, 0, 1}, []float64{1, 1} // [[1 2] [2 1]]
		if CholSolve(a, b, 2) {
			t.Fatal("CholSolve solved an indefinite system")
		}
		if b[0] != 1 || b[1] != 1 {
			t.Fatalf("b = %v after a failed factorisation, want it untouched", b)
		}
	})
}
