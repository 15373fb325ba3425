package kmeans

import (
	"context"
	"fmt"
	"testing"

	"github.com/flintml/flint/cluster"
)

// TestFloat32EqualsRoundedFloat64: k-means on float32 blocks (rows widened
// a tile at a time, float64 arithmetic) gives the model of float64 blocks
// holding the same values rounded to float32, bit for bit: centres,
// inertia, sizes, silhouette and iterations, for every initialisation,
// with and without weights.
func TestFloat32EqualsRoundedFloat64(t *testing.T) {
	const n, dim, k, parts = 1200, 9, 5, 3
	x, y := overlapping(n, dim, 8)
	for i := range x {
		x[i] = 0.37*x[i] + 1e-3 // values float32 cannot hold exactly
	}
	rounded := make([]float64, len(x))
	for i, v := range x {
		rounded[i] = float64(float32(v))
	}
	ctx := context.Background()
	e := newEngine(t, 2)
	for _, init := range []string{InitParallel, InitPlusPlus, InitRandom} {
		for _, weighted := range []bool{false, true} {
			t.Run(fmt.Sprintf("init=%s/weighted=%v", init, weighted), func(t *testing.T) {
				var w []float64
				if weighted {
					w = make([]float64, n)
					for i := range w {
						w[i] = 0.5 + float64(i%4)
					}
				}
				ref, err := e.FromDense(ctx, "f64", rounded, n, dim, y, w, parts)
				if err != nil {
					t.Fatal(err)
				}
				blocks := make([]*cluster.Block, parts)
				for p := range blocks {
					lo, hi := p*n/parts, (p+1)*n/parts
					bb := cluster.NewDense32Builder(dim, hi-lo)
					for i := lo; i < hi; i++ {
						wi := 1.0
						if w != nil {
							wi = w[i]
						}
						if err := bb.AddDense(x[i*dim:(i+1)*dim], y[i], wi); err != nil {
							t.Fatal(err)
						}
					}
					blocks[p] = bb.Block()
				}
				ds, err := e.FromBlocks(ctx, "f32", blocks)
				if err != nil {
					t.Fatal(err)
				}
				cfg := Config{K: k, Init: init, Seed: 5, MaxIter: 30, SilhouetteSample: 300}
				want, err := Fit(ctx, e, ref, cfg)
				if err != nil {
					t.Fatal(err)
				}
				got, err := Fit(ctx, e, ds, cfg)
				if err != nil {
					t.Fatal(err)
				}
				sameModel(t, "float32 fit", got, want)
			})
		}
	}
}
