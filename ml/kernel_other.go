//go:build !amd64 || noasm

package ml

import (
	"math"

	"gonum.org/v1/gonum/floats"
)

// hasAVX2 is false: without the amd64 kernels the passes use gonum's and
// plain Go. The functions below stand in for the assembly only so that
// the package builds; nothing calls them while hasAVX2 is false (the tests
// do, to check the fallbacks agree).
var hasAVX2 = false

func dotAxpyAVX2(x, w, xp, g []float64, alpha float64) float64 {
	floats.AddScaled(g[:len(xp)], alpha, xp)
	return floats.Dot(x, w)
}

func dotAxpy(x, w, xp, g []float64, alpha float64) float64 { return dotAxpyAVX2(x, w, xp, g, alpha) }

// logisticResAVX2 is the assembly's contract in Go: for the rows up to a
// multiple of 4, m ← σ(m + c) − y, and the loss terms, residual sum and
// product of log arguments.
func logisticResAVX2(m, y []float64, c float64) (loss, bias, prod float64, ok bool) {
	prod, ok = 1, true
	for i := range m[:len(m)&^3] {
		mm := m[i] + c
		e := expNeg(-math.Abs(mm))
		num := 1.0
		if mm < 0 {
			num = e
		}
		ok = ok && (y[i] == 0 || y[i] == 1)
		m[i] = num/(1+e) - y[i]
		bias += m[i]
		loss += max(mm, 0) - y[i]*mm
		prod *= 1 + e
	}
	return loss, bias, prod, ok
}
