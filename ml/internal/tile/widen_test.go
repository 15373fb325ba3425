package tile

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestWidenVariants: every kernel choice widens every length (the vector
// steps and the tails) to float64(x) bit for bit, NaNs, infinities,
// signed zeros and subnormals included, and writes nothing past n.
func TestWidenVariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 5))
	special := []float32{0, float32(math.Copysign(0, -1)), math.SmallestNonzeroFloat32, math.MaxFloat32,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1.0 / 3}
	for name, set := range variants(t) {
		t.Run(name, func(t *testing.T) {
			defer set()()
			for n := range 100 {
				src := make([]float32, n)
				for i := range src {
					src[i] = float32(rng.NormFloat64() * math.Exp2(float64(rng.IntN(40)-20)))
					if rng.IntN(5) == 0 {
						src[i] = special[rng.IntN(len(special))]
					}
				}
				dst := make([]float64, n+1)
				dst[n] = 42
				Widen(dst[:n], src)
				for i, v := range src {
					if math.Float64bits(dst[i]) != math.Float64bits(float64(v)) {
						t.Fatalf("n=%d: dst[%d] = %v, want %v", n, i, dst[i], float64(v))
					}
				}
				if dst[n] != 42 {
					t.Fatalf("n=%d: Widen wrote past the end", n)
				}
			}
		})
	}
}

// go test ./ml/internal/tile -run '^$' -bench Widen
func BenchmarkWiden(b *testing.B) {
	const n = 784 * 64
	src, dst := make([]float32, n), make([]float64, n)
	for i := range src {
		src[i] = float32(i)
	}
	for name, set := range variants(b) {
		b.Run(fmt.Sprintf("kernel=%s", name), func(b *testing.B) {
			defer set()()
			b.SetBytes(4 * n)
			for b.Loop() {
				Widen(dst, src)
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gvalues/s")
		})
	}
}
