//go:build !amd64 || noasm

package tile

const (
	hasAVX2FMA = false
	hasAVX512  = false
)

// useAVX2 and useAVX512 are false: there is no assembly here.
var useAVX2, useAVX512 = false, false

func lanes6(x []float64, xs int, c []float64, cs, w, n4 int, acc *[144]float64) {
	panic("tile: lanes6 without AVX-512")
}

func lanes6n(x []float64, xs int, c []float64, cs, n4 int, acc *[168]float64) {
	panic("tile: lanes6n without AVX-512")
}

func rank2(g []float64, gs int, r []float64, rs int, x []float64, xs, n, cols int) {
	rankGeneric(g, gs, r, rs, x, xs, n, cols, 2)
}

func rank4(g []float64, gs int, r []float64, rs int, x []float64, xs, n, cols int) {
	rankGeneric(g, gs, r, rs, x, xs, n, cols, 4)
}

func lanes1(x, c []float64, n4 int, acc *[4]float64) { lanesGeneric(x, c, n4, acc[:]) }

func lanes33(x0, x1, x2, c0, c1, c2 []float64, n4 int, acc *[36]float64) {
	lanes33Generic(x0, x1, x2, c0, c1, c2, n4, acc)
}

func lanes31(x0, x1, x2, c []float64, n4 int, acc *[12]float64) {
	lanes31Generic(x0, x1, x2, c, n4, acc)
}

func lanes33n(x0, x1, x2, c0, c1, c2 []float64, n4 int, acc *[48]float64) {
	lanes33nGeneric(x0, x1, x2, c0, c1, c2, n4, acc)
}

func add32(dst, x []float64, n int) { panic("tile: add32 without AVX-512") }

func widen32(dst []float64, src []float32, n int) { panic("tile: widen32 without AVX-512") }

func widen16(dst []float64, src []float32, n int) { panic("tile: widen16 without AVX2") }

func products4x6(g, xn []float64, x []float32, m int, c []float32, k, d, n16 int) bool {
	panic("tile: products4x6 without AVX-512")
}

func products2x3(g []float64, x []float32, m int, c []float32, k, d, n16 int) {
	panic("tile: products2x3 without AVX2")
}

func squares4(xn []float64, x []float32, m, d, n16 int) {
	panic("tile: squares4 without AVX2")
}

func addWiden32(dst []float64, x []float32, n int) { panic("tile: addWiden32 without AVX-512") }

func addWiden16(dst []float64, x []float32, n int) { panic("tile: addWiden16 without AVX2") }

func rank4f(g []float32, gs int, r []float32, rs int, x []float32, xs, n, cols int) {
	rankGenericF32(g, gs, r, rs, x, xs, n, 0, cols, 4)
}

func rank2f(g []float32, gs int, r []float32, rs int, x []float32, xs, n, cols int) {
	rankGenericF32(g, gs, r, rs, x, xs, n, 0, cols, 2)
}

func axpy(dst, x []float64, a float64) { axpyGeneric(dst, x, a) }

func scale(dst []float64, a float64) { scaleGeneric(dst, a) }

func scaleNeg(dst, neg []float64, a float64) { scaleNegGeneric(dst, neg, a) }

func backsub(x, a []float64, w, k int) { backsubGeneric(x, a, w, k) }

func gather(y []float64, w int, f []float64, k int, ind []int32) { gatherGeneric(y, w, f, k, ind) }

func rank6(g []float64, gs int, r []float64, rs int, x []float64, xs, n, cols int) {
	rankGeneric(g, gs, r, rs, x, xs, n, cols, 6)
}

func has6() bool { return false }

func addRowsWiden64(dst []float64, x []float32, d int, rows []int32) int { return 0 }

func addRows64(dst, x []float64, d int, rows []int32) int { return 0 }
