package kmeans

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/flintml/flint/cluster"
)

// TestFloat32EqualsRoundedFloat64: k-means on float32 blocks gives the
// model of float64 blocks holding the same values rounded to float32, bit
// for bit (centres, inertia, sizes, silhouette and iterations), for every
// initialisation, with and without weights. The float32 products of
// Lloyd's passes only choose each row's centre (TestEachFloat32 bounds
// their error); the initialisation, the sums, the final cost and the
// silhouette are float64 on the widened rows. So the models are equal
// whenever no row's two nearest centres come within that bound of a tie,
// as on these rows (40 features: the float32 lanes take 32 of them);
// tile.Products32 gives the same bits on every machine, so that holds
// everywhere. A wrong lane or a dropped row changes the model.
func TestFloat32EqualsRoundedFloat64(t *testing.T) {
	const n, dim, k, parts = 1200, 40, 5, 3
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

// TestEachFloat32: the distances of Lloyd's passes over a float32 block
// (float32 products and norms) against those of the float64 pass over the
// same values: each d2 within (⌈d/16⌉+2)·2⁻²⁴·(2·Σ_l|x_l·c_jl| + ‖x‖²) of
// the float64 one (d2 = ‖x‖² − 2x·c + ‖c‖², with tile.ProductsNorms32's
// bound for the product and the norm, and the centres' rounding), and a
// row's centre
// differs only where the float64 distances of the two centres are within
// the sum of their bounds.
func TestEachFloat32(t *testing.T) {
	for _, dim := range []int{16, 40, 784} {
		const n, k = 500, 10
		x, _ := overlapping(n, dim, 9)
		rounded := make([]float64, len(x))
		bb := cluster.NewDense32Builder(dim, n)
		for i := range n {
			if err := bb.AddDense(x[i*dim:(i+1)*dim], 0, 1); err != nil {
				t.Fatal(err)
			}
		}
		for i, v := range x {
			rounded[i] = float64(float32(v))
		}
		b32 := bb.Block()
		b64 := &cluster.Block{Rows: n, Cols: dim, X: rounded, Y: make([]float64, n)}
		cs := newCentres(slices.Clone(rounded[:k*dim]), k, dim, false)
		for j := range cs.C {
			cs.C[j] *= 0.9 // not on a row
		}
		cs = newCentres(cs.C, k, dim, false)
		type hit struct {
			j  int
			d2 float64
		}
		var got, want []hit
		ctx := context.Background()
		if err := cs.each(ctx, b32, true, func(_, j int, d2 float64, _ []float64) { got = append(got, hit{j, d2}) }); err != nil {
			t.Fatal(err)
		}
		if err := cs.each(ctx, b64, false, func(_, j int, d2 float64, _ []float64) { want = append(want, hit{j, d2}) }); err != nil {
			t.Fatal(err)
		}
		steps := float64((dim+15)/16 + 2)
		bound := func(i, j int) float64 {
			s := 0.0
			for l := range dim {
				v := rounded[i*dim+l]
				s += 2*math.Abs(v*cs.C[j*dim+l]) + v*v
			}
			return steps * 0x1p-24 * s * 1.01
		}
		flips := 0
		for i := range n {
			g, w := got[i], want[i]
			if g.j != w.j {
				flips++
				dg := sqDist(rounded[i*dim:(i+1)*dim], cs.C[g.j*dim:(g.j+1)*dim])
				if gap := dg - w.d2; gap > bound(i, g.j)+bound(i, w.j) {
					t.Fatalf("d=%d: row %d goes to centre %d, not %d, whose distance is %g less (bounds %g, %g)", dim, i, g.j, w.j, gap, bound(i, g.j), bound(i, w.j))
				}
				continue
			}
			if diff := math.Abs(g.d2 - w.d2); diff > bound(i, g.j)+1e-13*w.d2 {
				t.Fatalf("d=%d: row %d: d2 %v, float64 %v: off by %g, bound %g", dim, i, g.d2, w.d2, diff, bound(i, g.j))
			}
		}
		t.Logf("d=%d: %d of %d rows change centre", dim, flips, n)
	}
}
