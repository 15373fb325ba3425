package tile

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// reference is the documented summation order, written out plainly.
func reference(x, c []float64) float64 {
	n4 := len(x) &^ 3
	var s [4]float64
	for l := 0; l < n4; l++ {
		s[l%4] = math.FMA(x[l], c[l], s[l%4])
	}
	v := (s[0] + s[1]) + (s[2] + s[3])
	for l := n4; l < len(x); l++ {
		v = math.FMA(x[l], c[l], v)
	}
	return v
}

func randVec(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64() * math.Exp2(float64(rng.IntN(20)-10))
	}
	return v
}

func TestSummationOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	t.Logf("assembly lanes: %v", hasAVX2FMA)
	for n := range 70 {
		var x, c [6][]float64
		for r := range 3 {
			x[r], c[r] = randVec(rng, n), randVec(rng, n)
		}
		s := Dot3x3(x[0], x[1], x[2], c[0], c[1], c[2])
		s31 := Dot3x1(x[0], x[1], x[2], c[2])
		sn, sq := Dot3x3Norms(x[0], x[1], x[2], c[0], c[1], c[2])
		if sn != s {
			t.Fatalf("n=%d: Dot3x3Norms products %v, Dot3x3 %v", n, sn, s)
		}
		for r := range 3 {
			if want := reference(x[r], x[r]); math.Float64bits(sq[r]) != math.Float64bits(want) {
				t.Fatalf("n=%d: Dot3x3Norms square %d = %v, reference %v", n, r, sq[r], want)
			}
		}
		for r := range 3 {
			if want := reference(x[r], c[2]); math.Float64bits(s31[r]) != math.Float64bits(want) {
				t.Fatalf("n=%d: Dot3x1[%d] = %v, reference %v", n, r, s31[r], want)
			}
			for j := range 3 {
				want := reference(x[r], c[j])
				if got := Dot(x[r], c[j]); math.Float64bits(got) != math.Float64bits(want) {
					t.Fatalf("n=%d: Dot = %v, reference %v", n, got, want)
				}
				if got := s[3*r+j]; math.Float64bits(got) != math.Float64bits(want) {
					t.Fatalf("n=%d: Dot3x3[%d][%d] = %v, reference %v", n, r, j, got, want)
				}
			}
		}
	}
}

// TestAssemblyMatchesGo compares the two lane implementations directly.
func TestAssemblyMatchesGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n4 := range []int{4, 8, 12, 100, 784, 1024} {
		var xs, cs [3][]float64
		for r := range 3 {
			xs[r], cs[r] = randVec(rng, n4), randVec(rng, n4)
		}
		var got, want [36]float64
		for i := range got {
			got[i] = rng.NormFloat64()
		}
		want = got
		lanes33(xs[0], xs[1], xs[2], cs[0], cs[1], cs[2], n4, &got)
		lanes33Generic(xs[0], xs[1], xs[2], cs[0], cs[1], cs[2], n4, &want)
		if got != want {
			t.Fatalf("n4=%d: lanes33 %v, generic %v", n4, got, want)
		}
		var gn, wn [48]float64
		lanes33n(xs[0], xs[1], xs[2], cs[0], cs[1], cs[2], n4, &gn)
		lanes33nGeneric(xs[0], xs[1], xs[2], cs[0], cs[1], cs[2], n4, &wn)
		if gn != wn {
			t.Fatalf("n4=%d: lanes33n %v, generic %v", n4, gn, wn)
		}
		var g3, w3 [12]float64
		lanes31(xs[0], xs[1], xs[2], cs[2], n4, &g3)
		lanes31Generic(xs[0], xs[1], xs[2], cs[2], n4, &w3)
		if g3 != w3 {
			t.Fatalf("n4=%d: lanes31 %v, generic %v", n4, g3, w3)
		}
		var g1, w1 [4]float64
		lanes1(xs[0], cs[1], n4, &g1)
		lanesGeneric(xs[0], cs[1], n4, w1[:])
		if g1 != w1 {
			t.Fatalf("n4=%d: lanes1 %v, generic %v", n4, g1, w1)
		}
	}
}

// TestProducts: Products and ProductsNorms give the package's sums, and
// the same products.
func TestProducts(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range []struct{ m, k, d int }{{1, 1, 1}, {7, 10, 13}, {9, 3, 784}, {3, 5, 0 + 2}, {10, 11, 4}} {
		x, cm := randVec(rng, c.m*c.d), randVec(rng, c.k*c.d)
		g := make([]float64, c.m*c.k)
		Products(g, x, c.m, cm, c.k, c.d)
		g2, xn := make([]float64, c.m*c.k), make([]float64, c.m)
		ProductsNorms(g2, xn, x, c.m, cm, c.k, c.d)
		for i := range c.m {
			if want := reference(x[i*c.d:(i+1)*c.d], x[i*c.d:(i+1)*c.d]); xn[i] != want {
				t.Fatalf("%+v: xn[%d] = %v, want %v", c, i, xn[i], want)
			}
		}
		for i := range g {
			if g2[i] != g[i] {
				t.Fatalf("%+v: ProductsNorms g[%d] = %v, Products %v", c, i, g2[i], g[i])
			}
		}
		for i := range c.m {
			for j := range c.k {
				if want := reference(x[i*c.d:(i+1)*c.d], cm[j*c.d:(j+1)*c.d]); g[i*c.k+j] != want {
					t.Fatalf("%+v: g[%d][%d] = %v, want %v", c, i, j, g[i*c.k+j], want)
				}
			}
		}
	}
}

// BenchmarkDot3x3 measures the tile on rows of length n (in L1).
//
//	go test ./ml/internal/tile -run '^$' -bench . -cpu 1
func BenchmarkDot3x3(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{50, 784} {
		var v [6][]float64
		for i := range v {
			v[i] = randVec(rng, n)
		}
		b.Run(fmt.Sprintf("n=%d/asm=%v", n, hasAVX2FMA), func(b *testing.B) {
			var s [9]float64
			for b.Loop() {
				s = Dot3x3(v[0], v[1], v[2], v[3], v[4], v[5])
			}
			_ = s
			b.ReportMetric(18*float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
