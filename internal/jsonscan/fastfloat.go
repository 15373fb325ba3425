package jsonscan

import (
	"math/bits"
)

// plainFloat reads the number at b[i:] when it is written in the plain
// decimal form -?(0|[1-9][0-9]*)(\.[0-9]+)?, with no exponent, at most 19
// digits in all, a value below 2⁵³ once the point is dropped and at most
// 22 digits after the point: the form almost every number a client sends
// takes, converted by one correctly rounded division (Clinger's fast path,
// the bits ParseNumber gives). It returns the byte after the number; ok
// is false, and nothing else meaningful, for any other input, which the
// general scanDecimal path then reads. It is scanDecimal specialised to
// bytes and to this form, with no generic dictionary and no branch for
// exponents or long mantissas, since Float runs it once per number of
// every request.
func plainFloat(b []byte, i int) (f float64, end int, ok bool) {
	neg := false
	if i < len(b) && b[i] == '-' {
		neg = true
		i++
	}
	if i >= len(b) {
		return 0, 0, false
	}
	start := i
	var mant uint64
	switch c := b[i]; {
	case c == '0':
		i++
	case '1' <= c && c <= '9':
		for i < len(b) {
			d := b[i] - '0'
			if d > 9 {
				break
			}
			mant = mant*10 + uint64(d)
			i++
			if i-start > 19 {
				return 0, 0, false
			}
		}
	default:
		return 0, 0, false
	}
	digits := i - start
	frac := 0
	if i < len(b) && b[i] == '.' {
		i++
		fs := i
		if len(b)-i >= 8 && digits <= 19-8 {
			v, n := digits8(b[i : i+8])
			mant = mant*pow10u[n] + v
			i += n
		}
		for i < len(b) {
			d := b[i] - '0'
			if d > 9 {
				break
			}
			mant = mant*10 + uint64(d)
			i++
			if digits+i-fs > 19 {
				return 0, 0, false
			}
		}
		frac = i - fs
		if frac == 0 || frac > 22 {
			return 0, 0, false
		}
	}
	if i < len(b) && isNumberByte(b[i]) || mant>>53 != 0 {
		return 0, 0, false // an exponent, a malformed number, or too many bits
	}
	f = float64(mant)
	if frac > 0 {
		f /= pow10[frac]
	}
	if neg {
		f = -f
	}
	return f, i, true
}

// digits8 converts the leading digits of e, at most eight, to their value
// (SWAR, as eights does) and returns how many there were.
func digits8(e []byte) (uint64, int) {
	x := uint64(e[0]) | uint64(e[1])<<8 | uint64(e[2])<<16 | uint64(e[3])<<24 |
		uint64(e[4])<<32 | uint64(e[5])<<40 | uint64(e[6])<<48 | uint64(e[7])<<56
	v := x - 0x3030303030303030
	bad := (v | (x + 0x4646464646464646)) & 0x8080808080808080
	n := bits.TrailingZeros64(bad) >> 3
	if n == 0 {
		return 0, 0
	}
	v <<= 8 * (8 - n)
	v = (v & 0x0F0F0F0F0F0F0F0F) * 2561 >> 8
	v = (v & 0x00FF00FF00FF00FF) * 6553601 >> 16
	v = (v & 0x0000FFFF0000FFFF) * 42949672960001 >> 32
	return v, n
}
