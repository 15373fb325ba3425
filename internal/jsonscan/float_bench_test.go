package jsonscan

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkFloat reads 100 numbers written as a client writes them
// (%.6f of a normal deviate, a comma between) with Scanner.Float.
//
//	go test ./internal/jsonscan -run '^$' -bench Float
func BenchmarkFloat(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	var in []byte
	for i := range 100 {
		if i > 0 {
			in = append(in, ", "...)
		}
		in = fmt.Appendf(in, "%.6f", rng.NormFloat64())
	}
	var s Scanner
	var sum float64
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		s.Reset(in)
		for n := 0; ; n++ {
			f, ok := s.Float()
			if !ok {
				b.Fatalf("Float refused byte %d of %q", s.pos, in)
			}
			sum += f
			if s.pos == len(in) {
				break
			}
			s.pos += 2
		}
	}
	b.ReportMetric(float64(b.N)*100/b.Elapsed().Seconds(), "numbers/s")
	_ = sum
}
