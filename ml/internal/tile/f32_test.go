package tile

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"
)

// exactFMA32 is a·b+c computed exactly and rounded once to float32 (to
// nearest, ties to even), by math/big.
func exactFMA32(a, b, c float32) float32 {
	p := new(big.Float).SetPrec(512).SetFloat64(float64(a))
	p.Mul(p, new(big.Float).SetFloat64(float64(b)))
	p.Add(p, new(big.Float).SetFloat64(float64(c)))
	f, _ := p.Float32()
	return f
}

// TestFMA32: fma32 rounds once, and so does its slow path fma32Odd alone. The first case is one where rounding the
// float64 result of math.FMA to float32 rounds twice and misses by an ulp:
// (1+2⁻¹²)² = 1 + 2⁻¹¹ + 2⁻²⁴ is a float32 midpoint, and the 2⁻⁸⁰ that
// breaks the tie is lost in float64.
func TestFMA32(t *testing.T) {
	a := float32(1 + 1.0/4096)
	tiny := float32(math.Ldexp(1, -80))
	if naive := float32(math.FMA(float64(a), float64(a), float64(tiny))); naive == exactFMA32(a, a, tiny) {
		t.Fatalf("the double-rounding case rounds correctly after all (%v): the test lost its point", naive)
	}
	cases := [][3]float32{
		{a, a, tiny}, {a, a, -tiny}, {-a, a, tiny}, {a, -a, -tiny},
		{0, 0, 0}, {1, 1, -1}, {3, 5, 7}, {float32(math.Inf(1)), 1, 1}, {1, 1, float32(math.Inf(-1))},
		{math.MaxFloat32, 2, -math.MaxFloat32}, {math.SmallestNonzeroFloat32, 0.5, 0}, {1e-30, 1e-10, 1e-45},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		// Values near a power of two apart, so that the sums carry
		// more than 53 bits often.
		x := float32(math.Ldexp(1+rng.Float64(), rng.IntN(16)-8))
		y := float32(math.Ldexp(1+rng.Float64(), rng.IntN(16)-8))
		z := float32(math.Ldexp(1+rng.Float64(), rng.IntN(80)-40))
		if rng.IntN(2) == 0 {
			z = -z
		}
		cases = append(cases, [3]float32{x, y, z})
	}
	for _, c := range cases {
		want := exactFMA32(c[0], c[1], c[2])
		if got := fma32(c[0], c[1], c[2]); math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("fma32(%g, %g, %g) = %g, want %g", c[0], c[1], c[2], got, want)
		}
		if got := fma32Odd(c[0], c[1], c[2]); math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("fma32Odd(%g, %g, %g) = %g, want %g", c[0], c[1], c[2], got, want)
		}
	}
}

// reference32 is the documented float32 order, written out plainly.
func reference32(x, c []float32) float64 {
	n16 := len(x) &^ 15
	var s [16]float32
	for l := 0; l < n16; l++ {
		s[l%16] = exactFMA32(x[l], c[l], s[l%16])
	}
	var t [8]float64
	for q := range t {
		t[q] = float64(s[q]) + float64(s[q+8])
	}
	u := [4]float64{t[0] + t[4], t[1] + t[5], t[2] + t[6], t[3] + t[7]}
	v := (u[0] + u[2]) + (u[1] + u[3])
	for l := n16; l < len(x); l++ {
		v = math.FMA(float64(x[l]), float64(c[l]), v)
	}
	return v
}

func randVec32(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i, f := range randVec(rng, n) {
		v[i] = float32(f)
	}
	return v
}

func widened(x []float32) []float64 {
	w := make([]float64, len(x))
	Widen(w, x)
	return w
}

// TestFloat32VariantsMatchReference: with every kernel choice, Products32
// and ProductsNorms32 give the documented float32 sums bit for bit (so the variants agree
// exactly), each within the float32 error bound of the exact product;
// and RankUpdateF32 rounds every step once, within its stated bound.
func TestFloat32VariantsMatchReference(t *testing.T) {
	shapes := []struct{ m, k, d int }{
		{1, 1, 1}, {1, 1, 16}, {4, 6, 32}, {5, 7, 17}, {2, 3, 48}, {3, 2, 15}, {7, 10, 13},
		{42, 10, 784}, {48, 10, 784}, {13, 11, 100}, {9, 13, 50}, {6, 1, 64}, {8, 12, 64}, {5, 17, 40},
		{3, 5, 16}, {10, 20, 33},
	}
	for name, set := range variants(t) {
		t.Run(name, func(t *testing.T) {
			defer set()()
			rng := rand.New(rand.NewPCG(21, 22))
			for _, c := range shapes {
				x, cm := randVec32(rng, c.m*c.d), randVec32(rng, c.k*c.d)
				g := make([]float64, c.m*c.k)
				Products32(g, x, c.m, cm, c.k, c.d)
				g2, xn := make([]float64, c.m*c.k), make([]float64, c.m)
				ProductsNorms32(g2, xn, x, c.m, cm, c.k, c.d)
				if !slices.Equal(g, g2) {
					t.Fatalf("%+v: ProductsNorms32's products differ from Products32's", c)
				}
				for i := range c.m {
					xi := x[i*c.d : (i+1)*c.d]
					if want := reference32(xi, xi); math.Float64bits(xn[i]) != math.Float64bits(want) {
						t.Fatalf("%+v: xn[%d] = %v, want %v", c, i, xn[i], want)
					}
				}
				for i := range c.m {
					xi := x[i*c.d : (i+1)*c.d]
					for j := range c.k {
						cj := cm[j*c.d : (j+1)*c.d]
						got := g[i*c.k+j]
						if want := reference32(xi, cj); math.Float64bits(got) != math.Float64bits(want) {
							t.Fatalf("%+v: g[%d][%d] = %v, want %v", c, i, j, got, want)
						}
						if want := Dot32(xi, cj); math.Float64bits(got) != math.Float64bits(want) {
							t.Fatalf("%+v: g[%d][%d] = %v, Dot32 %v", c, i, j, got, want)
						}
						// Each lane sums at most ⌈d/16⌉ products
						// rounded to float32: each step's error is
						// at most 2⁻²⁴ of the lane's running sum of
						// |products|.
						exact, abs := 0.0, 0.0
						for l := range xi {
							p := float64(xi[l]) * float64(cj[l])
							exact += p
							abs += math.Abs(p)
						}
						if bound := float64(c.d/16+1) * 0x1p-24 * abs * 1.01; math.Abs(got-exact) > bound {
							t.Fatalf("%+v: g[%d][%d] = %v, exact %v: off by %g, more than %g", c, i, j, got, exact, math.Abs(got-exact), bound)
						}
					}
				}
				// AddWidened of every row of x.
				sum, want := randVec(rng, c.d), []float64(nil)
				want = append(want, sum...)
				for i := range c.m {
					AddWidened(sum, x[i*c.d:(i+1)*c.d])
					Add(want, widened(x[i*c.d:(i+1)*c.d]))
				}
				if !slices.Equal(sum, want) {
					t.Fatalf("%+v: AddWidened differs from Add of the widened rows", c)
				}
				r := randVec(rng, c.m*c.k)
				// RankUpdateF32: every element's rows in order, each
				// step rounded once, and within the stated bound of
				// the exact sum.
				r32 := make([]float32, len(r))
				for i, v := range r {
					r32[i] = float32(v)
				}
				u32 := randVec32(rng, c.k*c.d)
				want32 := slices.Clone(u32)
				RankUpdateF32(u32, r32, c.k, x, c.m, c.d)
				for cc := range c.k {
					for l := range c.d {
						e := cc*c.d + l
						v, exact, abs := want32[e], float64(want32[e]), math.Abs(float64(want32[e]))
						for i := range c.m {
							v = exactFMA32(r32[i*c.k+cc], x[i*c.d+l], v)
							p := r[i*c.k+cc] * float64(x[i*c.d+l])
							exact += p
							abs += math.Abs(p)
						}
						if math.Float32bits(u32[e]) != math.Float32bits(v) {
							t.Fatalf("%+v: RankUpdateF32 g[%d][%d] = %v, want %v", c, cc, l, u32[e], v)
						}
						if bound := float64(c.m+1) * 0x1p-24 * abs * 1.01; math.Abs(float64(u32[e])-exact) > bound {
							t.Fatalf("%+v: RankUpdateF32 g[%d][%d] = %v, exact %v: off by more than %g", c, cc, l, u32[e], exact, bound)
						}
					}
				}
			}
		})
	}
}

// BenchmarkFloat32 compares the float32 kernels with the float64 ones on
// the softmax pass's shapes: a block of 48 rows of 784 features against 10
// classes (products), and the gradient's rank update of those rows (float32
// rows widened into float64 lanes, or float32 lanes into a scratch added
// into the float64 sums); the float64 kernels read the rows widened
// beforehand, as the passes did.
//
//	go test ./ml/internal/tile -run '^$' -bench Float32 -cpu 1
func BenchmarkFloat32(b *testing.B) {
	rng := rand.New(rand.NewPCG(25, 26))
	const m, k, d = 48, 10, 784
	x32, c32 := randVec32(rng, m*d), randVec32(rng, k*d)
	x64, c64 := widened(x32), widened(c32)
	g := make([]float64, m*k)
	r, u := randVec(rng, m*k), make([]float64, k*d)
	r32, s32 := make([]float32, m*k), make([]float32, k*d)
	for i, v := range r {
		r32[i] = float32(v)
	}
	for _, name := range []string{"avx512", "avx2", "go"} {
		set, ok := variants(b)[name]
		if !ok {
			continue
		}
		for _, c := range []struct {
			what string
			run  func()
		}{
			{fmt.Sprintf("products/float64/m=%d", m), func() { Products(g, x64, m, c64, k, d) }},
			{fmt.Sprintf("products/float32/m=%d", m), func() { Products32(g, x32, m, c32, k, d) }},
			{fmt.Sprintf("rankupdate/float64/n=%d", m), func() { RankUpdate(u, r, k, x64, m, d) }},
			// Float32 lanes into a float32 scratch, added into the float64
			// gradient after the block, as the softmax pass does.
			{fmt.Sprintf("rankupdate/float32-lanes/n=%d", m), func() {
				clear(s32)
				RankUpdateF32(s32, r32, k, x32, m, d)
				AddWidened(u, s32)
			}},
		} {
			b.Run(fmt.Sprintf("%s/k=%d/d=%d/kernel=%s", c.what, k, d, name), func(b *testing.B) {
				defer set()()
				cpu := cpuTime()
				for b.Loop() {
					c.run()
				}
				report(b, 2*m*k*d, cpu)
			})
		}
	}
}

// TestAddRowsWidened: with every kernel choice, adding rows by
// AddRowsWidened (float32 rows) and AddRows (float64 rows) gives the bits
// of plain float64 sums in the rows' order (AddWidened or Add row by row),
// for widths around the 64-column strips, repeated and unordered rows,
// and none.
func TestAddRowsWidened(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	for name, set := range variants(t) {
		t.Run(name, func(t *testing.T) {
			defer set()()
			for _, d := range []int{1, 15, 63, 64, 65, 130, 784} {
				const n = 20
				x := randVec32(rng, n*d)
				for _, rows := range [][]int32{nil, {3}, {0, 1, 2}, {19, 4, 4, 7, 0, 12}, {5, 9, 11, 13, 15, 17, 19, 1, 2, 3, 6}} {
					start := randVec(rng, d)
					got, want := slices.Clone(start), slices.Clone(start)
					AddRowsWidened(got, x, d, rows)
					x64 := widened(x)
					got64 := slices.Clone(start)
					AddRows(got64, x64, d, rows)
					for _, r := range rows {
						row := x[int(r)*d : int(r+1)*d]
						for c, v := range row {
							want[c] += float64(v)
						}
					}
					for c := range want {
						if math.Float64bits(got[c]) != math.Float64bits(want[c]) {
							t.Fatalf("d=%d rows=%v: AddRowsWidened column %d = %v, want %v", d, rows, c, got[c], want[c])
						}
						if math.Float64bits(got64[c]) != math.Float64bits(want[c]) {
							t.Fatalf("d=%d rows=%v: AddRows column %d = %v, want %v", d, rows, c, got64[c], want[c])
						}
					}
				}
			}
		})
	}
}
