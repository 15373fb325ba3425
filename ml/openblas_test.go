//go:build openblas

package ml

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/flintml/flint/cluster"
)

// openblasTol is how far the openblas build's dense pass may stray from
// the default build's tiles: relative to the largest gradient entry (and
// to the loss), the products differ only in summation order.
const openblasTol = 1e-12

// TestDensePassOpenBLAS runs the dense loss pass of one partition through
// OpenBLAS (denseBLAS) and as the default build does (denseK for softmax,
// dense1 for one margin column) and compares the loss and gradient, for
// odd and even class counts and every loss of one column, float64 and
// float32 blocks, with and without weights.
func TestDensePassOpenBLAS(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, c := range []struct {
		kind          lossKind
		rows, d, k    int
		f32, weighted bool
	}{
		{softmaxLoss, 1000, 784, 10, false, false},
		{softmaxLoss, 257, 31, 3, false, true},
		{softmaxLoss, 100, 7, 5, true, false},
		{softmaxLoss, 5, 784, 2, true, true},
		{logisticLoss, 3001, 100, 1, false, false},
		{logisticLoss, 77, 784, 1, true, true},
		{squaredLoss, 500, 13, 1, false, true},
		{hingeLoss, 500, 13, 1, false, false},
	} {
		t.Run(fmt.Sprintf("%v/rows=%d/d=%d/k=%d/f32=%v/weighted=%v", c.kind, c.rows, c.d, c.k, c.f32, c.weighted), func(t *testing.T) {
			b := randomBlock(rng, c.rows, c.d, max(c.k, 2), c.f32, c.weighted)
			a := &lossArg{K: c.k, D: c.d, Coef: make([]float64, c.k*c.d), Intercept: make([]float64, c.k)}
			for i := range a.Coef {
				a.Coef[i] = 0.05 * rng.NormFloat64()
			}
			for i := range a.Intercept {
				a.Intercept[i] = 0.1 * rng.NormFloat64()
			}
			// The tile softmax pass multiplies float32 rows in float32
			// lanes; OpenBLAS widens them. Its reference is then the tile
			// pass over the same rows widened to float64.
			ref := b
			if c.f32 && c.kind == softmaxLoss {
				x := make([]float64, len(b.X32))
				for i, v := range b.X32 {
					x[i] = float64(v)
				}
				ref = &cluster.Block{Rows: b.Rows, Cols: b.Cols, X: x, Y: b.Y, W: b.W}
			}
			run := func(blas bool) *lossPartial {
				acc := newLossPartial(a)
				blk := ref
				if blas {
					blk = b
				}
				k := &kernel{kind: c.kind, a: a, acc: acc, b: blk, prod: 1}
				var err error
				switch {
				case blas:
					err = k.denseBLAS(context.Background())
				case c.k == 1:
					err = k.dense1(context.Background())
				default:
					err = k.denseK(context.Background())
				}
				if err != nil {
					t.Fatal(err)
				}
				acc.Loss += math.Log(k.prod)
				return acc
			}
			want, got := run(false), run(true)
			if d := math.Abs(got.Loss - want.Loss); d > openblasTol*math.Abs(want.Loss) {
				t.Errorf("loss %v through OpenBLAS, %v through tile", got.Loss, want.Loss)
			}
			// The weights are summed a block at a time, and the blocks differ.
			if d := math.Abs(got.Weight - want.Weight); d > openblasTol*want.Weight {
				t.Errorf("weight %v through OpenBLAS, %v through tile", got.Weight, want.Weight)
			}
			scale := 0.0
			for _, v := range want.Grad {
				scale = max(scale, math.Abs(v))
			}
			for i := range want.Grad {
				if d := math.Abs(got.Grad[i] - want.Grad[i]); d > openblasTol*scale {
					t.Fatalf("grad[%d] = %v through OpenBLAS, %v through tile (|Δ| %g > %g)", i, got.Grad[i], want.Grad[i], d, openblasTol*scale)
				}
			}
			for i := range want.Bias {
				if d := math.Abs(got.Bias[i] - want.Bias[i]); d > openblasTol*(1+math.Abs(want.Bias[i])) {
					t.Fatalf("bias[%d] = %v through OpenBLAS, %v through tile", i, got.Bias[i], want.Bias[i])
				}
			}
		})
	}
}

// randomBlock is a dense block of rows values in [0, 1) with labels in
// [0, k) and, if weighted, weights in [0.5, 1.5).
func randomBlock(rng *rand.Rand, rows, d, k int, f32, weighted bool) *cluster.Block {
	b := &cluster.Block{Rows: rows, Cols: d, Y: make([]float64, rows)}
	if f32 {
		b.X32 = make([]float32, rows*d)
		for i := range b.X32 {
			b.X32[i] = rng.Float32()
		}
	} else {
		b.X = make([]float64, rows*d)
		for i := range b.X {
			b.X[i] = rng.Float64()
		}
	}
	for i := range b.Y {
		b.Y[i] = float64(rng.IntN(k))
	}
	if weighted {
		b.W = make([]float64, rows)
		for i := range b.W {
			b.W[i] = 0.5 + rng.Float64()
		}
	}
	return b
}
