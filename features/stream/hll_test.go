package stream

import (
	"math/rand/v2"
	"testing"
)

// TestMaxBytes: the word-at-a-time maximum equals the bytewise one for
// register values (0 … 65), edge cases first.
func TestMaxBytes(t *testing.T) {
	cases := [][2]uint64{{0, 0}, {0x4141414141414141, 0}, {0, 0x4141414141414141},
		{0x0001000100010001, 0x0100010001000100}, {0x4100410041004100, 0x0041004100410041}}
	rng := rand.New(rand.NewPCG(1, 1))
	for range 10_000 {
		var a, b uint64
		for i := range 8 {
			a |= uint64(rng.IntN(66)) << (8 * i)
			b |= uint64(rng.IntN(66)) << (8 * i)
		}
		cases = append(cases, [2]uint64{a, b})
	}
	for _, c := range cases {
		var want uint64
		for i := range 8 {
			want |= max((c[0]>>(8*i))&0xff, (c[1]>>(8*i))&0xff) << (8 * i)
		}
		if got := maxBytes(c[0], c[1]); got != want {
			t.Fatalf("maxBytes(%016x, %016x) = %016x, want %016x", c[0], c[1], got, want)
		}
	}
}
