package stream

import (
	"math"
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

// TestHashes: 0 and -0 are one value to distinct_count; strings and
// numbers hash apart, and the hashes spread (no two of 100,000 collide).
func TestHashes(t *testing.T) {
	if hashFloat(0) != hashFloat(math.Copysign(0, -1)) {
		t.Fatal("0 and -0 hash apart")
	}
	seen := map[uint64]bool{}
	for i := range 50_000 {
		for _, h := range []uint64{hashString(itoa(i)), hashFloat(float64(i))} {
			if seen[h] {
				t.Fatalf("a collision at %d", i)
			}
			seen[h] = true
		}
	}
}
