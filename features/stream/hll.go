package stream

import (
	"math"
	"math/bits"
)

// The HyperLogLog here is Flajolet et al.'s (2007) with 64-bit hashes, so
// it needs no large-range correction, and linear counting for small
// cardinalities, as in Heule et al. (2013). With m = 2^p registers its
// standard error is about 1.04/√m: 3.25% at the default p = 10, 0.81% at
// p = 14. Registers of buckets merge by taking maxima, so the estimate of
// a window is the estimate of all its events, whatever the buckets.
//
// It is written here rather than taken from a library because its
// registers must live in the State's flat byte slab, per bucket, under this
// package's versioned encoding, and must merge across buckets without
// allocating; the libraries on the Go proxy own their registers.

// pow2neg[r] is 2^-r; registers never exceed 65, the table covers a byte.
var pow2neg = func() (t [256]float64) {
	for r := range t {
		t[r] = math.Ldexp(1, -r)
	}
	return t
}()

// hllAdd records hash h in registers regs of precision p.
func hllAdd(regs []uint8, p uint8, h uint64) {
	j := h >> (64 - p)
	r := uint8(bits.LeadingZeros64(h<<p|1<<(p-1))) + 1
	if r > regs[j] {
		regs[j] = r
	}
}

// hllEstimate is the cardinality estimate of m registers whose 2^-r sum to
// sum, zeros of them being 0, rounded to a whole number.
func hllEstimate(sum float64, zeros, m int) float64 {
	fm := float64(m)
	var alpha float64
	switch m {
	case 16:
		alpha = 0.673
	case 32:
		alpha = 0.697
	case 64:
		alpha = 0.709
	default:
		alpha = 0.7213 / (1 + 1.079/fm)
	}
	e := alpha * fm * fm / sum
	if e <= 2.5*fm && zeros > 0 {
		e = fm * math.Log(fm/float64(zeros))
	}
	return math.Round(e)
}

// mix64 is SplitMix64's finaliser: it spreads every input bit over the
// whole hash, which HyperLogLog's leading-zero count needs.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// hashString hashes a string (FNV-1a, then mixed) without allocating.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return mix64(h)
}

// hashFloat hashes a number; 0 and -0 are the same value.
func hashFloat(x float64) uint64 {
	if x == 0 {
		x = 0
	}
	return mix64(math.Float64bits(x) ^ 0x9e3779b97f4a7c15)
}
