package jsonscan

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"
)

// Literal is the literal text of a value, as a string or as bytes.
type Literal interface{ ~string | ~[]byte }

// NumberError is a literal that is not a JSON number (Offset is the byte
// where the grammar fails) or one too large for a float64 (Offset is -1).
type NumberError struct {
	Text   string
	Offset int
	Msg    string
}

func (e *NumberError) Error() string {
	if e.Offset < 0 {
		return fmt.Sprintf("number %s is %s", e.Text, e.Msg)
	}
	return fmt.Sprintf("%q is not a JSON number: %s at byte %d", e.Text, e.Msg, e.Offset)
}

// Syntax reports whether the literal is not a JSON number at all (rather
// than one out of range).
func (e *NumberError) Syntax() bool { return e.Offset >= 0 }

// maxExp bounds the exponents kept; anything beyond over- or underflows a
// float64.
const maxExp = 100_000

// NumberLen returns the length of the longest prefix of b made of bytes
// that may appear in a JSON number; NumLit passes that prefix on to the
// conversion, which checks the grammar.
func NumberLen(b []byte) int {
	for i, c := range b {
		if !isNumberByte(c) {
			return i
		}
	}
	return len(b)
}

// ParseNumber converts a JSON number, given as its literal text, to the
// nearest float64: the bits strconv.ParseFloat gives. A literal that is
// not a JSON number, or is too large for a float64, is a *NumberError.
//
// A number of at most 19 significant digits whose value and power of ten
// are exact in a float64 is converted here (Clinger's fast path: one
// correctly rounded multiplication or division, as strconv does it),
// anything else by strconv.
func ParseNumber[T Literal](lit T) (float64, error) {
	d, end, msg := scanDecimal(lit)
	if msg == "" && end != len(lit) {
		msg = fmt.Sprintf("unexpected %q", lit[end])
	}
	if msg != "" {
		return 0, &NumberError{Text: string(lit), Offset: end, Msg: msg}
	}
	if f, ok := fastNumber(d.mant, d.exp, d.neg); d.exact && ok {
		return f, nil
	}
	f, err := strconv.ParseFloat(string(lit), 64) // the conversion does not escape, so it does not allocate
	if err != nil || math.IsInf(f, 0) {
		return 0, &NumberError{Text: string(lit), Offset: -1, Msg: "out of range"}
	}
	return f, nil
}

// decimal is a JSON number read by scanDecimal: ±mant·10^exp, exact when
// every significant digit fit in mant.
type decimal struct {
	mant  uint64
	exp   int
	neg   bool
	exact bool
}

// scanDecimal reads the JSON number at the start of b, up to end, the
// first byte after it. A number keeps at most 19 significant digits in
// mant (exact is false when it has more). msg, when not "", is why the
// grammar fails at byte end.
func scanDecimal[T Literal](b T) (d decimal, end int, msg string) {
	i := 0
	d.exact = true
	if len(b) > 0 && b[0] == '-' {
		d.neg = true
		i++
	}
	nd := 0 // digits kept in mant
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i, nd = eights(b, i, &d.mant, nd)
		for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
			if nd < 19 {
				d.mant = d.mant*10 + uint64(b[i]-'0')
				nd++
			} else {
				d.exact = false
				d.exp++
			}
		}
	default:
		return d, i, "want a digit"
	}
	if i < len(b) && b[i] == '.' {
		i++
		j := i
		for d.mant == 0 && i < len(b) && b[i] == '0' { // leading zeros, as in 0.001
			d.exp--
			i++
		}
		k := i
		i, nd = eights(b, i, &d.mant, nd)
		d.exp -= i - k
		for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
			switch {
			case d.mant == 0 && b[i] == '0': // a leading zero, as in 0.001
				d.exp--
			case nd < 19:
				d.mant = d.mant*10 + uint64(b[i]-'0')
				nd++
				d.exp--
			default:
				d.exact = false
			}
		}
		if i == j {
			return d, i, "want digits after the decimal point"
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		sign := 1
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			if b[i] == '-' {
				sign = -1
			}
			i++
		}
		j, e := i, 0
		for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
			if e < maxExp {
				e = e*10 + int(b[i]-'0')
			}
		}
		if i == j {
			return d, i, "want digits in the exponent"
		}
		d.exp += sign * e
	}
	return d, i, ""
}

// eights reads the digits of b from i on, eight at a time (SWAR), into
// *mant while they fit in the 19 significant digits it keeps (nd of them
// are there already); it returns where it stopped and the digits kept.
// Where fewer than eight bytes are left, or the next eight digits might
// not fit, it stops, for the byte-at-a-time loop to go on.
func eights[T Literal](b T, i int, mant *uint64, nd int) (int, int) {
	for nd <= 19-8 && len(b)-i >= 8 {
		e := b[i : i+8]
		x := uint64(e[0]) | uint64(e[1])<<8 | uint64(e[2])<<16 | uint64(e[3])<<24 |
			uint64(e[4])<<32 | uint64(e[5])<<40 | uint64(e[6])<<48 | uint64(e[7])<<56
		// A byte's high bit is set in bad when it is not a digit: below
		// '0' the subtraction wraps it, above '9' the addition carries
		// into the high bit. Borrows and carries only move up, from a
		// byte that is not a digit, so the lowest such byte is found.
		v := x - 0x3030303030303030
		bad := (v | (x + 0x4646464646464646)) & 0x8080808080808080
		n := bits.TrailingZeros64(bad) >> 3 // 8 when every byte is a digit
		if n == 0 {
			break
		}
		v <<= 8 * (8 - n) // the n digits at the top, zeros (leading) below
		v = (v & 0x0F0F0F0F0F0F0F0F) * 2561 >> 8
		v = (v & 0x00FF00FF00FF00FF) * 6553601 >> 16
		v = (v & 0x0000FFFF0000FFFF) * 42949672960001 >> 32
		*mant = *mant*pow10u[n] + v
		nd += n
		i += n
		if n < 8 {
			break
		}
	}
	return i, nd
}

// pow10u are the powers of ten eights scales by.
var pow10u = [...]uint64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8}

// isNumberByte reports whether c may appear in a JSON number (NumberLen).
func isNumberByte(c byte) bool {
	return '0' <= c && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

// fastNumber is Clinger's fast path for ±mant·10^exp, the digits all
// kept in mant: ok is false when the result would not be exact.
func fastNumber(mant uint64, exp int, neg bool) (float64, bool) {
	if mant>>53 != 0 {
		return 0, false
	}
	f := float64(mant)
	switch {
	case mant == 0, exp == 0:
	case exp < 0 && exp >= -22:
		f /= pow10[-exp]
	case exp > 0 && exp <= 22:
		f *= pow10[exp]
	default:
		return 0, false
	}
	if neg {
		f = -f
	}
	return f, true
}

// pow10 are the powers of ten a float64 holds exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
	1e17, 1e18, 1e19, 1e20, 1e21, 1e22}
