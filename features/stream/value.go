package stream

import (
	"encoding/binary"
	"math"
)

// value combines buckets lo … lo+n-1 of the feature, oldest first: the one
// order in which every sum is taken. In the ring they are two runs of
// slots: from lo's slot to the end, then from slot 0.
func (f *compiled) value(s *State, lo, n, at int64) float64 {
	if f.agg == DistinctCount {
		return f.distinct(s, lo, n)
	}
	k, nb, w := int(mod(lo, f.nb)), int(f.nb), f.width
	ring := s.cells[f.cell : f.cell+nb*w]
	runs := [2][]float64{ring[k*w : min(k+int(n), nb)*w], ring[:max(k+int(n)-nb, 0)*w]}
	switch f.agg {
	case Count, Sum:
		return sumStride(sumStride(0, runs[0], w, 0), runs[1], w, 0)
	case Mean:
		cnt := sumStride(sumStride(0, runs[0], w, 0), runs[1], w, 0)
		if cnt == 0 {
			return math.NaN()
		}
		return sumStride(sumStride(0, runs[0], w, 1), runs[1], w, 1) / cnt
	}
	var acc [3]float64
	seen := false
	for _, run := range runs {
		for i := 0; i < len(run); i += w {
			if c := run[i : i+w]; c[0] != 0 {
				f.combine(&acc, c, seen)
				seen = true
			}
		}
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

// sumStride adds c[off], c[off+w], … to acc in order.
func sumStride(acc float64, c []float64, w, off int) float64 {
	for i := off; i < len(c); i += w {
		acc += c[i]
	}
	return acc
}

// combine folds a non-empty bucket's cells c into acc, the combination of
// the older buckets (none when !seen).
func (f *compiled) combine(acc *[3]float64, c []float64, seen bool) {
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
			*acc = [3]float64{c[0], c[1], c[2]}
			return
		}
		n := acc[0] + c[0]
		d := c[1] - acc[1]
		acc[1] += d * c[0] / n
		acc[2] += c[2] + d*d*acc[0]*c[0]/n
		acc[0] = n
	case Last, TimeSinceLast: // a later bucket holds later times
		acc[1] = c[1]
		if f.width > 2 {
			acc[2] = c[2]
		}
	case First:
		if !seen {
			acc[1], acc[2] = c[1], c[2]
		}
	}
}

// distinct estimates the distinct values in buckets lo … lo+n-1: the
// HyperLogLog of their registers' maxima, merged bucket by bucket into a
// scratch array on the stack, eight registers at a time.
func (f *compiled) distinct(s *State, lo, n int64) float64 {
	if f.m <= 1024 {
		var scratch [1024 / 8]uint64
		return f.estimate(s, lo, n, scratch[:f.m/8])
	}
	var scratch [1 << 16 / 8]uint64
	return f.estimate(s, lo, n, scratch[:f.m/8])
}

func (f *compiled) estimate(s *State, lo, n int64, merged []uint64) float64 {
	k, nb := int(mod(lo, f.nb)), int(f.nb)
	for range n {
		regs := s.regs[f.reg+k*f.m : f.reg+(k+1)*f.m]
		if k++; k == nb {
			k = 0
		}
		for w := range merged {
			merged[w] = maxBytes(merged[w], binary.LittleEndian.Uint64(regs[8*w:]))
		}
	}
	var sum float64
	zeros := 0
	for _, w := range merged {
		for range 8 {
			r := uint8(w)
			sum += pow2neg[r]
			if r == 0 {
				zeros++
			}
			w >>= 8
		}
	}
	return hllEstimate(sum, zeros, f.m)
}

// maxBytes is the bytewise maximum of two words whose bytes are all below
// 128 (registers never exceed 65): a byte of (a|hi)−b keeps its high bit
// exactly where a's byte ≥ b's, and no byte borrows from the next.
func maxBytes(a, b uint64) uint64 {
	const hi = 0x8080808080808080
	ge := ((a | hi) - b) & hi
	mask := (ge >> 7) * 0xff
	return a&mask | b&^mask
}
