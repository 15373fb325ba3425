package tile

// Widen sets dst[i] = float64(src[i]) for every i < len(src): float32
// values widened, exactly, for the float64 kernels (a float32 block is
// read a block of rows at a time into a float64 scratch that stays in
// cache). With AVX-512 or AVX2 it converts 32 or 16 values a step
// (VCVTPS2PD); the widening is exact, so every variant gives the same bits.
func Widen(dst []float64, src []float32) {
	n := len(src)
	dst = dst[:n]
	i := 0
	switch {
	case useAVX512 && n >= 32:
		i = n &^ 31
		widen32(dst, src, i)
	case useAVX2 && n >= 16:
		i = n &^ 15
		widen16(dst, src, i)
	}
	for ; i < n; i++ {
		dst[i] = float64(src[i])
	}
}
