package ml

import "math"

// expNeg returns eˣ for x ≤ 0 to within a few ulps: math.Exp restricted to
// the arguments the logistic loss needs, and written so that the loss
// kernel can inline it by hand (a call there would make Go spill the
// loop's state every row). The argument is reduced to x = k·ln2 + r with
// |r| ≤ ln2/2, e^r is its Taylor polynomial of degree 13 (truncation error
// below 10⁻¹⁷) by Estrin's scheme, and the scaling by 2ᵏ is built from its
// bits. Arguments below −708 give e⁻⁷⁰⁸ ≈ 3·10⁻³⁰⁸, the last value before the
// subnormal range; the losses lose nothing by it.
func expNeg(x float64) float64 {
	x = max(x, -708)
	k := int(x*1.44269504088896338700 - 0.5) // x ≤ 0: truncation rounds to nearest
	fk := float64(k)
	return expPoly((x-fk*6.93147180369123816490e-01)-fk*1.90821492927058770002e-10) *
		math.Float64frombits(uint64(k+1023)<<52)
}

// expPoly is e^r for |r| ≤ ln2/2.
func expPoly(r float64) float64 {
	r2 := r * r
	r4 := r2 * r2
	return (1 + r + r2*(1.0/2+r*(1.0/6))) +
		r4*((1.0/24+r*(1.0/120))+r2*(1.0/720+r*(1.0/5040))) +
		r4*r4*((1.0/40320+r*(1.0/362880))+r2*(1.0/3628800+r*(1.0/39916800))+r4*(1.0/479001600+r*(1.0/6227020800)))
}
