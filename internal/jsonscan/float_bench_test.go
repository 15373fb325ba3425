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

// memberRow is an object of 100 numeric members as a client writes a row
// ("f0": %.6f of a normal deviate, ...) and its keys as PlainKey gives them.
func memberRow() ([]byte, []string) {
	rng := rand.New(rand.NewPCG(1, 2))
	in := []byte{'{'}
	keys := make([]string, 100)
	for i := range keys {
		if i > 0 {
			in = append(in, ',')
		}
		keys[i], _ = PlainKey(fmt.Sprintf("f%d", i))
		in = fmt.Appendf(in, "%s: %.6f", keys[i], rng.NormFloat64())
	}
	return append(in, '}'), keys
}

// BenchmarkMembers reads memberRow's 100 members with PlainMembers, and
// with NextKeyIs and Float member by member.
//
//	go test ./internal/jsonscan -run '^$' -bench Members
func BenchmarkMembers(b *testing.B) {
	in, keys := memberRow()
	dst := make([]float64, len(keys))
	ks := NewKeys(keys)
	for _, fused := range []bool{true, false} {
		b.Run(fmt.Sprintf("fused=%v", fused), func(b *testing.B) {
			var s Scanner
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				s.Reset(in)
				if err := s.Enter('{'); err != nil {
					b.Fatal(err)
				}
				n := 0
				if fused {
					n = s.PlainMembers(0, ks, dst)
				} else {
					for ; n < len(keys) && s.NextKeyIs(n, keys[n]); n++ {
						f, ok := s.Float()
						if !ok {
							break
						}
						dst[n] = f
					}
				}
				if n != len(keys) {
					b.Fatalf("read %d members of %d", n, len(keys))
				}
			}
			b.ReportMetric(float64(b.N)*100/b.Elapsed().Seconds(), "members/s")
		})
	}
}
