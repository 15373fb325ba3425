package tile

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestGram: with every kernel choice, Gram adds to exactly the documented
// entries the documented sums (each a run of fused multiply-adds over the
// rows in order), bit for bit, and leaves every other entry alone.
func TestGram(t *testing.T) {
	shapes := []struct{ w, n, rows int }{
		{8, 1, 1}, {8, 5, 8}, {16, 3, 11}, {16, 40, 16}, {56, 50, 51}, {56, 257, 50}, {24, 7, 21}, {64, 9, 61},
	}
	for name, set := range variants(t) {
		t.Run(name, func(t *testing.T) {
			defer set()()
			rng := rand.New(rand.NewPCG(21, 22))
			for _, c := range shapes {
				y, g := randVec(rng, c.n*c.w), randVec(rng, c.w*c.w)
				g0 := slices.Clone(g)
				Gram(g, y, c.w, c.n, c.rows)
				for i := range c.w {
					for j := range c.w {
						want := g0[i*c.w+j]
						if i < (c.rows+3)&^3 && j >= i&^7 {
							for l := range c.n {
								want = math.FMA(y[l*c.w+i], y[l*c.w+j], want)
							}
						}
						if got := g[i*c.w+j]; math.Float64bits(got) != math.Float64bits(want) {
							t.Fatalf("%+v: g[%d][%d] = %v, want %v", c, i, j, got, want)
						}
					}
				}
			}
		})
	}
}

// spd returns a random symmetric positive definite k×k matrix in the
// first k rows and columns of a w×w row-major matrix (the Gramian of
// 2k random rows plus k on the diagonal), a right-hand side in column k,
// and the rows' padding zero.
func spd(rng *rand.Rand, k, w int) []float64 {
	a := make([]float64, w*w)
	for range 2 * k {
		v := randVec(rng, k)
		for i := range k {
			for j := range k {
				a[i*w+j] += v[i] * v[j]
			}
		}
	}
	for i := range k {
		a[i*w+i] += float64(k)
		a[i*w+k] = rng.NormFloat64()
	}
	return a
}

// cholReference is Cholesky's documented order, written out: each entry
// of the upper triangle (and past it, through column w−1) takes the
// updates of the rows above in order, then the pivot's reciprocal.
func cholReference(a []float64, w, k int) bool {
	for i := range k {
		for j := i; j < w; j++ {
			v := a[i*w+j]
			for q := range i {
				v = math.FMA(-a[q*w+i], a[q*w+j], v)
			}
			a[i*w+j] = v
		}
		d := a[i*w+i]
		if !(d > 0) || math.IsInf(d, 1) {
			return false
		}
		d = math.Sqrt(d)
		a[i*w+i] = d
		inv := 1 / d
		for j := i + 1; j < w; j++ {
			a[i*w+j] *= inv
		}
	}
	return true
}

// TestCholesky: with every kernel choice, Cholesky gives the documented
// factor bit for bit (cholReference), UᵀU is A and U⁻ᵀb is in column k to
// rounding, CholSolve's x solves A·x = b to rounding and has the same bits
// from every variant, and a matrix that is not positive definite, or holds
// NaN, is refused.
func TestCholesky(t *testing.T) {
	ks := []int{1, 2, 3, 4, 5, 7, 8, 11, 12, 16, 20, 31, 50, 53, 60}
	xs := map[string][][]float64{}
	for name, set := range variants(t) {
		t.Run(name, func(t *testing.T) {
			defer set()()
			rng := rand.New(rand.NewPCG(23, 24))
			for _, k := range ks {
				w := (k + 1 + 7) &^ 7
				a := spd(rng, k, w)
				orig, ref := slices.Clone(a), slices.Clone(a)
				if !Cholesky(a, w, k, make([]float64, k*w)) || !cholReference(ref, w, k) {
					t.Fatalf("k=%d: not positive definite", k)
				}
				for i := range k {
					for j := i; j <= k; j++ {
						if math.Float64bits(a[i*w+j]) != math.Float64bits(ref[i*w+j]) {
							t.Fatalf("k=%d: u[%d][%d] = %v, the documented order gives %v", k, i, j, a[i*w+j], ref[i*w+j])
						}
					}
				}
				// UᵀU = A, and Uᵀz = b.
				for i := range k {
					for j := i; j <= k; j++ {
						s := 0.0
						for q := 0; q <= i; q++ {
							s += a[q*w+i] * a[q*w+j]
						}
						if d := math.Abs(s - orig[i*w+j]); d > 1e-10*(1+math.Abs(orig[i*w+j])) {
							t.Fatalf("k=%d: (UᵀU)[%d][%d] = %v, A's is %v", k, i, j, s, orig[i*w+j])
						}
					}
				}
				x := make([]float64, k)
				CholSolve(x, a, w, k)
				want := slices.Clone(x)
				backsubGeneric(want, a, w, k)
				for i := range k {
					if math.Float64bits(x[i]) != math.Float64bits(want[i]) {
						t.Fatalf("k=%d: x[%d] = %v, the documented order gives %v", k, i, x[i], want[i])
					}
					r := -orig[i*w+k]
					for j := range k {
						aij := orig[min(i, j)*w+max(i, j)]
						r += aij * x[j]
					}
					if math.Abs(r) > 1e-9 {
						t.Fatalf("k=%d: row %d of A·x − b is %v", k, i, r)
					}
				}
				xs[name] = append(xs[name], x)
			}
			for _, bad := range []float64{-1, 0, math.NaN(), math.Inf(1)} {
				const k, w = 9, 16
				a := spd(rng, k, w)
				a[5*w+5] = bad
				if Cholesky(a, w, k, make([]float64, k*w)) {
					t.Fatalf("a pivot of %v was accepted", bad)
				}
			}
			// A NaN off the diagonal reaches a later pivot, which refuses it.
			for _, at := range [][2]int{{0, 1}, {2, 7}, {5, 8}} {
				const k, w = 9, 16
				a := spd(rng, k, w)
				a[at[0]*w+at[1]] = math.NaN()
				if Cholesky(a, w, k, make([]float64, k*w)) {
					t.Fatalf("a NaN at (%d, %d) was accepted", at[0], at[1])
				}
			}
		})
	}
	for name, x := range xs {
		for i := range x {
			if !slices.Equal(x[i], xs["go"][i]) {
				t.Fatalf("k=%d: %s's solution differs from Go's", ks[i], name)
			}
		}
	}
}

// TestGatherRows: with every kernel choice, GatherRows copies the rows and
// nothing else, and refuses an index outside the matrix and a stride
// shorter than a row.
func TestGatherRows(t *testing.T) {
	for name, set := range variants(t) {
		t.Run(name, func(t *testing.T) {
			defer set()()
			rng := rand.New(rand.NewPCG(25, 26))
			for _, k := range []int{1, 7, 8, 9, 50, 64} {
				const rows = 300
				w := (k + 1 + 7) &^ 7
				f := randVec(rng, rows*k)
				for _, n := range []int{1, 8, 9, 100} {
					ind := make([]int32, n)
					for l := range ind {
						ind[l] = int32(rng.IntN(rows))
					}
					y := randVec(rng, n*w)
					y0 := slices.Clone(y)
					GatherRows(y, w, f, k, ind)
					for l, j := range ind {
						for c := range w {
							want := y0[l*w+c]
							if c < k {
								want = f[int(j)*k+c]
							}
							if y[l*w+c] != want {
								t.Fatalf("k=%d n=%d: y[%d][%d] = %v, want %v", k, n, l, c, y[l*w+c], want)
							}
						}
					}
				}
				func() {
					defer func() {
						if recover() == nil {
							t.Fatalf("k=%d: index %d of a %d-row matrix was gathered", k, rows, rows)
						}
					}()
					GatherRows(make([]float64, w), w, f, k, []int32{rows})
				}()
				func() {
					defer func() {
						if recover() == nil {
							t.Fatalf("k=%d: rows %d apart were gathered", k, k-1)
						}
					}()
					GatherRows(make([]float64, 2*w), k-1, f, k, []int32{0, 1})
				}()
			}
		})
	}
}

// BenchmarkCholesky times Cholesky and CholSolve of a 50×50 system with
// every kernel choice, in GFLOP (k³/3 + 2k²) per second.
func BenchmarkCholesky(b *testing.B) {
	const k = 50
	const w = (k + 1 + 7) &^ 7
	rng := rand.New(rand.NewPCG(27, 28))
	a := spd(rng, k, w)
	for _, name := range []string{"go", "avx2", "avx512"} {
		set, ok := variants(b)[name]
		if !ok {
			continue
		}
		b.Run(fmt.Sprintf("k=%d/kernel=%s", k, name), func(b *testing.B) {
			defer set()()
			m, x, scratch := make([]float64, len(a)), make([]float64, k), make([]float64, k*w)
			cpu := cpuTime()
			for b.Loop() {
				copy(m, a)
				if !Cholesky(m, w, k, scratch) {
					b.Fatal("not positive definite")
				}
				CholSolve(x, m, w, k)
			}
			report(b, k*k*k/3+2*k*k, cpu)
		})
	}
}

// TestAxpyScale: with every kernel choice, Axpy is one fused multiply-add
// per element and Scale one product, bit for bit, for every length
// (the masked tails too), and neither writes past dst.
func TestAxpyScale(t *testing.T) {
	for name, set := range variants(t) {
		t.Run(name, func(t *testing.T) {
			defer set()()
			rng := rand.New(rand.NewPCG(29, 30))
			for n := range 70 {
				x, d := randVec(rng, n+1), randVec(rng, n+1)
				a := rng.NormFloat64()
				got := slices.Clone(d)
				Axpy(got[:n], x, a)
				for i := range n + 1 {
					want := d[i]
					if i < n {
						want = math.FMA(a, x[i], d[i])
					}
					if math.Float64bits(got[i]) != math.Float64bits(want) {
						t.Fatalf("Axpy n=%d: [%d] = %v, want %v", n, i, got[i], want)
					}
				}
				got = slices.Clone(d)
				Scale(got[:n], a)
				for i := range n + 1 {
					want := d[i]
					if i < n {
						want = d[i] * a
					}
					if math.Float64bits(got[i]) != math.Float64bits(want) {
						t.Fatalf("Scale n=%d: [%d] = %v, want %v", n, i, got[i], want)
					}
				}
			}
		})
	}
}
