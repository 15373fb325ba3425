package stream

import "math"

// value combines buckets lo … lo+n-1 of the feature, oldest first: the one
// order in which every sum is taken.
func (f *compiled) value(s *State, lo, n, at int64) float64 {
	if f.agg == DistinctCount {
		return f.distinct(s, lo, n)
	}
	var acc [3]float64 // count-like, then aggregate-specific
	var seen bool
	for b := lo; b < lo+n; b++ {
		k := int(mod(b, f.nb))
		c := s.cells[f.cell+k*f.width : f.cell+(k+1)*f.width]
		switch f.agg {
		case Count, Sum:
			acc[0] += c[0]
			continue
		case Mean:
			acc[0] += c[0]
			acc[1] += c[1]
			continue
		}
		if c[0] == 0 {
			continue
		}
		switch f.agg {
		case Min:
			if !seen || c[1] < acc[1] {
				acc[1] = c[1]
			}
		case Max:
			if !seen || c[1] > acc[1] {
				acc[1] = c[1]
			}
		case Variance: // Chan et al.'s pairwise combination
			if !seen {
				acc = [3]float64{c[0], c[1], c[2]}
				break
			}
			nb := acc[0] + c[0]
			d := c[1] - acc[1]
			acc[1] += d * c[0] / nb
			acc[2] += c[2] + d*d*acc[0]*c[0]/nb
			acc[0] = nb
		case Last, First, TimeSinceLast:
			if f.agg == First && seen {
				break
			}
			acc[1] = c[1]
			if f.width > 2 {
				acc[2] = c[2]
			}
		}
		seen = true
	}
	switch f.agg {
	case Count, Sum:
		return acc[0]
	case Mean:
		if acc[0] == 0 {
			return math.NaN()
		}
		return acc[1] / acc[0]
	}
	if !seen {
		return math.NaN()
	}
	switch f.agg {
	case Variance:
		return acc[2] / acc[0]
	case Last, First:
		return acc[2]
	case TimeSinceLast:
		return (float64(at) - acc[1]) / 1000
	}
	return acc[1] // min, max
}

// distinct estimates the distinct values in buckets lo … lo+n-1: the
// HyperLogLog of their registers' maxima.
func (f *compiled) distinct(s *State, lo, n int64) float64 {
	var sum float64
	zeros := 0
	for j := 0; j < f.m; j++ {
		var r uint8
		for b := lo; b < lo+n; b++ {
			r = max(r, s.regs[f.reg+int(mod(b, f.nb))*f.m+j])
		}
		sum += pow2neg[r]
		if r == 0 {
			zeros++
		}
	}
	return hllEstimate(sum, zeros, f.m)
}
