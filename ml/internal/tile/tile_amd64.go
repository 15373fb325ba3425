//go:build !noasm

package tile

import "golang.org/x/sys/cpu"

// hasAVX2FMA reports whether this CPU runs the assembly lanes.
var hasAVX2FMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// lanes1AVX2 adds to acc[q] the fused products x[l]·c[l], l ≡ q (mod 4),
// l < n4; n4 is a positive multiple of 4 and both arrays hold n4 values.
//
//go:noescape
func lanes1AVX2(x, c *float64, n4 int, acc *[4]float64)

// lanes33AVX2 does the same for the nine pairs (x_r, c_j) into
// acc[4(3r+j) : 4(3r+j)+4].
//
//go:noescape
func lanes33AVX2(x0, x1, x2, c0, c1, c2 *float64, n4 int, acc *[36]float64)

// lanes31AVX2 does the same for the three pairs (x_r, c) into
// acc[4r : 4r+4].
//
//go:noescape
func lanes31AVX2(x0, x1, x2, c *float64, n4 int, acc *[12]float64)

func lanes31(x0, x1, x2, c []float64, n4 int, acc *[12]float64) {
	if hasAVX2FMA {
		_, _, _, _ = x0[n4-1], x1[n4-1], x2[n4-1], c[n4-1]
		lanes31AVX2(&x0[0], &x1[0], &x2[0], &c[0], n4, acc)
		return
	}
	lanes31Generic(x0, x1, x2, c, n4, acc)
}

func lanes1(x, c []float64, n4 int, acc *[4]float64) {
	if hasAVX2FMA {
		_, _ = x[n4-1], c[n4-1]
		lanes1AVX2(&x[0], &c[0], n4, acc)
		return
	}
	lanesGeneric(x, c, n4, acc[:])
}

// lanes33nAVX2 is lanes33AVX2 that also sums the squares of x0, x1 and
// x2 into acc[36:40], acc[40:44] and acc[44:48].
//
//go:noescape
func lanes33nAVX2(x0, x1, x2, c0, c1, c2 *float64, n4 int, acc *[48]float64)

func lanes33n(x0, x1, x2, c0, c1, c2 []float64, n4 int, acc *[48]float64) {
	if hasAVX2FMA {
		_, _, _, _, _, _ = x0[n4-1], x1[n4-1], x2[n4-1], c0[n4-1], c1[n4-1], c2[n4-1]
		lanes33nAVX2(&x0[0], &x1[0], &x2[0], &c0[0], &c1[0], &c2[0], n4, acc)
		return
	}
	lanes33nGeneric(x0, x1, x2, c0, c1, c2, n4, acc)
}

func lanes33(x0, x1, x2, c0, c1, c2 []float64, n4 int, acc *[36]float64) {
	if hasAVX2FMA {
		_, _, _, _, _, _ = x0[n4-1], x1[n4-1], x2[n4-1], c0[n4-1], c1[n4-1], c2[n4-1]
		lanes33AVX2(&x0[0], &x1[0], &x2[0], &c0[0], &c1[0], &c2[0], n4, acc)
		return
	}
	lanes33Generic(x0, x1, x2, c0, c1, c2, n4, acc)
}
