//go:build !noasm

package ml

import "golang.org/x/sys/cpu"

// hasAVX2 reports whether this CPU runs the kernels of kernel_amd64.s
// (AVX2 and FMA).
var hasAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// dotAxpyAVX2 is documented in kernel_amd64.s.
//
//go:noescape
func dotAxpyAVX2(x, w, xp, g []float64, alpha float64) float64

// dotAxpy returns x·w and adds alpha·xp to g in one pass. All four slices
// have the same length; only call it when hasAVX2 is true.
func dotAxpy(x, w, xp, g []float64, alpha float64) float64 {
	if len(w) < len(x) || len(xp) < len(x) || len(g) < len(x) {
		panic("ml: dotAxpy: slices shorter than x")
	}
	return dotAxpyAVX2(x, w, xp, g, alpha)
}

// logisticResAVX2 is documented in kernel_amd64.s.
//
//go:noescape
func logisticResAVX2(m, y []float64, c float64) (loss, bias, prod float64, ok bool)
