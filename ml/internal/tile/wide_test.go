package tile

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// variants are the kernel choices this CPU can run, from the fastest; each
// sets useAVX2 and useAVX512 and returns a function that restores them.
func variants(t testing.TB) map[string]func() func() {
	set := func(avx2, avx512 bool) func() func() {
		return func() func() {
			a, b := useAVX2, useAVX512
			useAVX2, useAVX512 = avx2, avx512
			return func() { useAVX2, useAVX512 = a, b }
		}
	}
	v := map[string]func() func(){"go": set(false, false)}
	if hasAVX2FMA {
		v["avx2"] = set(true, false)
	}
	if hasAVX512 {
		v["avx512"] = set(true, true)
	}
	t.Logf("kernels on this CPU: %d of go, avx2, avx512", len(v))
	return v
}

// TestVariantsMatchReference: with every kernel choice, the products,
// their norms and the rank update are the documented sums,
// bit for bit, so the variants agree with each other exactly (tolerance 0).
func TestVariantsMatchReference(t *testing.T) {
	shapes := []struct{ m, k, d int }{
		{1, 1, 1}, {6, 2, 4}, {6, 6, 8}, {7, 10, 13}, {12, 7, 3}, {13, 11, 9},
		{18, 10, 784}, {48, 10, 50}, {42, 12, 100}, {6, 50, 37}, {5, 5, 5},
		{9, 6, 24}, {5, 4, 56}, {3, 5, 16}, {4, 8, 88},
	}
	for name, set := range variants(t) {
		t.Run(name, func(t *testing.T) {
			defer set()()
			rng := rand.New(rand.NewPCG(11, 12))
			for _, c := range shapes {
				x, cm := randVec(rng, c.m*c.d), randVec(rng, c.k*c.d)
				g := make([]float64, c.m*c.k)
				Products(g, x, c.m, cm, c.k, c.d)
				g2, xn := make([]float64, c.m*c.k), make([]float64, c.m)
				ProductsNorms(g2, xn, x, c.m, cm, c.k, c.d)
				for i := range c.m {
					xi := x[i*c.d : (i+1)*c.d]
					if want := reference(xi, xi); math.Float64bits(xn[i]) != math.Float64bits(want) {
						t.Fatalf("%+v: xn[%d] = %v, want %v", c, i, xn[i], want)
					}
					for j := range c.k {
						want := reference(xi, cm[j*c.d:(j+1)*c.d])
						if math.Float64bits(g[i*c.k+j]) != math.Float64bits(want) || math.Float64bits(g2[i*c.k+j]) != math.Float64bits(want) {
							t.Fatalf("%+v: g[%d][%d] = %v (with norms %v), want %v", c, i, j, g[i*c.k+j], g2[i*c.k+j], want)
						}
					}
				}
				// Rᵀ·X with R the m×k products.
				u := randVec(rng, c.k*c.d)
				u0 := append([]float64(nil), u...)
				RankUpdate(u, g, c.k, x, c.m, c.d)
				for cc := range c.k {
					for l := range c.d {
						want := u0[cc*c.d+l]
						for i := range c.m {
							want = math.FMA(g[i*c.k+cc], x[i*c.d+l], want)
						}
						if got := u[cc*c.d+l]; math.Float64bits(got) != math.Float64bits(want) {
							t.Fatalf("%+v: rank update [%d][%d] = %v, want %v", c, cc, l, got, want)
						}
					}
				}
			}
		})
	}
}

// TestAdd checks Add against the plain sums with every kernel choice.
func TestAdd(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for name, set := range variants(t) {
		restore := set()
		for _, n := range []int{0, 1, 31, 32, 33, 64, 784, 1000} {
			x, dst := randVec(rng, n), randVec(rng, n+3)
			want := append([]float64(nil), dst...)
			for i := range x {
				want[i] += x[i]
			}
			Add(dst, x)
			for i := range dst {
				if math.Float64bits(dst[i]) != math.Float64bits(want[i]) {
					t.Fatalf("%s: n=%d: dst[%d] = %v, want %v", name, n, i, dst[i], want[i])
				}
			}
		}
		restore()
	}
}

// TestWideLanesMatchGo checks the AVX-512 lanes against lanes33Generic
// pair by pair, for every tile width.
func TestWideLanesMatchGo(t *testing.T) {
	if !hasAVX512 {
		t.Skip("no AVX-512 on this CPU")
	}
	rng := rand.New(rand.NewPCG(13, 14))
	for _, n4 := range []int{4, 8, 100, 784} {
		x, c := randVec(rng, 6*n4), randVec(rng, 6*n4)
		for _, w := range []int{2, 4, 6} {
			var acc [144]float64
			lanes6(x, n4, c, n4, w, n4, &acc)
			for r := range 6 {
				for j := range w {
					var want [4]float64
					lanesGeneric(x[r*n4:(r+1)*n4], c[j*n4:(j+1)*n4], n4, want[:])
					if got := acc[4*(r*w+j) : 4*(r*w+j)+4]; [4]float64(got) != want {
						t.Fatalf("n4=%d w=%d: lanes of (%d, %d) = %v, want %v", n4, w, r, j, got, want)
					}
				}
			}
		}
	}
}

// BenchmarkWide compares the kernel choices on the shapes of the passes:
// a block of 48 rows of 784 features against 10 centres (k-means,
// softmax margins), the rank update of the softmax gradient, and a rank-50
// Gramian of 256 ratings (ALS).
//
//	go test ./ml/internal/tile -run '^$' -bench Wide -cpu 1
func BenchmarkWide(b *testing.B) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, name := range []string{"avx512", "avx2", "go"} {
		set, ok := variants(b)[name]
		if !ok {
			continue
		}
		const m, k, d = 48, 10, 784
		x, c := randVec(rng, m*d), randVec(rng, k*d)
		g, xn := make([]float64, m*k), make([]float64, m)
		b.Run(fmt.Sprintf("products/m=%d/k=%d/d=%d/kernel=%s", m, k, d, name), func(b *testing.B) {
			defer set()()
			cpu := cpuTime()
			for b.Loop() {
				ProductsNorms(g, xn, x, m, c, k, d)
			}
			report(b, 2*m*k*d, cpu)
		})
		r, u := randVec(rng, m*12), make([]float64, 12*d)
		b.Run(fmt.Sprintf("rankupdate/n=%d/k=12/d=%d/kernel=%s", m, d, name), func(b *testing.B) {
			defer set()()
			cpu := cpuTime()
			for b.Loop() {
				RankUpdate(u, r, 12, x, m, d)
			}
			report(b, 2*m*12*d, cpu)
		})
		const rank, n, w = 50, 256, 56
		p, a := randVec(rng, n*w), make([]float64, w*w)
		b.Run(fmt.Sprintf("gram/k=%d/n=%d/kernel=%s", rank, n, name), func(b *testing.B) {
			defer set()()
			cpu := cpuTime()
			for b.Loop() {
				Gram(a, p, w, n, rank)
			}
			// The upper triangle's products, as the work done.
			report(b, rank*(rank+1)*n, cpu)
		})
	}
}

// report gives the GFLOP per second of wall time and per second of this
// process's CPU time since cpu (steadier on a shared machine) of b's
// iterations of flops each.
func report(b *testing.B, flops float64, cpu time.Duration) {
	total := flops * float64(b.N)
	b.ReportMetric(total/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	if used := cpuTime() - cpu; used > 0 {
		b.ReportMetric(total/used.Seconds()/1e9, "GFLOP/cpu-s")
	}
}
