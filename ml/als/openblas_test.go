//go:build openblas

package als

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestSolveOpenBLAS solves the same rows' normal equations through
// OpenBLAS (DSYRK, DGEMV, DPOTRF and DPOTRS) and through the default
// build's tile.Gram, tile.Cholesky and tile.CholSolve, for explicit, biased and implicit
// feedback, with more ratings than one gather chunk holds, and compares
// the factors (to 1e-9 of their largest entry) and the losses.
func TestSolveOpenBLAS(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	const others = 400
	for _, c := range []struct {
		name      string
		k         int
		implicit  bool
		biased    bool
		nnRatings []int
	}{
		{"explicit", 10, false, false, []int{1, 7, 300}},
		{"explicit", 50, false, false, []int{3, 50, 390}},
		{"biased", 11, false, true, []int{2, 40, 399}},
		{"implicit", 20, true, false, []int{1, 30, 350}},
	} {
		t.Run(fmt.Sprintf("%s/rank=%d", c.name, c.k), func(t *testing.T) {
			k := c.k
			a := randomArgs(rng, k, others, c.implicit, c.biased)
			blas, ref := newSolver(a), newSolver(a)
			if !blas.blas {
				t.Fatal("the openblas build's solver does not use OpenBLAS")
			}
			ref.blas = false
			for _, n := range c.nnRatings {
				ind, val := randomRatings(rng, others, n, c.implicit)
				got, want := make([]float64, k), make([]float64, k)
				if err := blas.solve(got, ind, val); err != nil {
					t.Fatal(err)
				}
				if err := ref.solve(want, ind, val); err != nil {
					t.Fatal(err)
				}
				scale := 0.0
				for _, v := range want {
					scale = max(scale, math.Abs(v))
				}
				for i := range want {
					if d := math.Abs(got[i] - want[i]); d > 1e-9*scale {
						t.Fatalf("%d ratings: x[%d] = %v through OpenBLAS, %v by default (|Δ| %g)", n, i, got[i], want[i], d)
					}
				}
				gl, wl := blas.loss(got), ref.loss(want)
				if d := math.Abs(gl - wl); d > 1e-8*(1+math.Abs(wl)) {
					t.Fatalf("%d ratings: loss %v through OpenBLAS, %v by default", n, gl, wl)
				}
			}
		})
	}
}

// TestGramOpenBLAS compares YᵀY by DSYRK with the tiles' on the upper
// triangle, the part the solves read.
func TestGramOpenBLAS(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	const n, k = 1000, 13
	f := make([]float64, n*k)
	for i := range f {
		f[i] = rng.NormFloat64()
	}
	got := gram(f, k)
	want := make([]float64, k*k)
	for r := range n {
		for i := range k {
			for j := i; j < k; j++ {
				want[i*k+j] += f[r*k+i] * f[r*k+j]
			}
		}
	}
	for i := range k {
		for j := i; j < k; j++ {
			if d := math.Abs(got[i*k+j] - want[i*k+j]); d > 1e-12*float64(n) {
				t.Fatalf("YᵀY[%d][%d] = %v, want %v", i, j, got[i*k+j], want[i*k+j])
			}
		}
	}
}
