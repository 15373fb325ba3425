package jsonscan

import (
	"fmt"
	"math"
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
		if !('0' <= c && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
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
	b := lit
	bad := func(i int, msg string) (float64, error) {
		return 0, &NumberError{Text: string(lit), Offset: i, Msg: msg}
	}
	i := 0
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		i++
	}
	var mant uint64
	nd, exp := 0, 0 // digits kept in mant; the power of ten to apply to it
	exact := true   // false once a significant digit did not fit in mant
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
			if nd < 19 {
				mant = mant*10 + uint64(b[i]-'0')
				nd++
			} else {
				exact = false
			}
		}
	default:
		return bad(i, "want a digit")
	}
	if i < len(b) && b[i] == '.' {
		i++
		j := i
		for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
			switch {
			case mant == 0 && b[i] == '0': // a leading zero, as in 0.001
				exp--
			case nd < 19:
				mant = mant*10 + uint64(b[i]-'0')
				nd++
				exp--
			default:
				exact = false
			}
		}
		if i == j {
			return bad(i, "want digits after the decimal point")
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
			return bad(i, "want digits in the exponent")
		}
		exp += sign * e
	}
	if i != len(b) {
		return bad(i, fmt.Sprintf("unexpected %q", b[i]))
	}
	if f, ok := fastNumber(mant, exp, neg); exact && ok {
		return f, nil
	}
	f, err := strconv.ParseFloat(string(lit), 64) // the conversion does not escape, so it does not allocate
	if err != nil || math.IsInf(f, 0) {
		return 0, &NumberError{Text: string(lit), Offset: -1, Msg: "out of range"}
	}
	return f, nil
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
