package ml

import "math"

// The L1 term Σ l1ⱼ|xⱼ| of Minimize, shared by OWL-QN, GD and SGD.

func l1Norm(x, l1 []float64) float64 {
	if l1 == nil {
		return 0
	}
	var s float64
	for j, c := range l1 {
		s += c * math.Abs(x[j])
	}
	return s
}

// pseudoGradient writes the minimum-norm subgradient of f + Σ l1ⱼ|xⱼ| into pg.
func pseudoGradient(pg, x, g, l1 []float64) {
	for j := range pg {
		c := 0.0
		if l1 != nil {
			c = l1[j]
		}
		switch {
		case c == 0:
			pg[j] = g[j]
		case x[j] > 0:
			pg[j] = g[j] + c
		case x[j] < 0:
			pg[j] = g[j] - c
		case g[j]+c < 0:
			pg[j] = g[j] + c
		case g[j]-c > 0:
			pg[j] = g[j] - c
		default:
			pg[j] = 0
		}
	}
}

// softThreshold is the proximal map of t·Σ l1ⱼ|xⱼ|, applied in place.
func softThreshold(x, l1 []float64, t float64) {
	if l1 == nil {
		return
	}
	for j, c := range l1 {
		if c == 0 {
			continue
		}
		k := t * c
		switch v := x[j]; {
		case v > k:
			x[j] = v - k
		case v < -k:
			x[j] = v + k
		default:
			x[j] = 0
		}
	}
}
