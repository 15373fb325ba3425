package features

// This file is the one place a raw value becomes a field's value. Every
// decoder calls these setters: Schema.Decode and DecodeMap at training
// time, and serving's JSON scanners for the native and V2 APIs, so a value
// decodes to the same bits wherever it enters.
//
// The rules:
//
//   - A number is given as its literal JSON text (RFC 8259 grammar). For a
//     numeric or timestamp field it becomes the nearest float64 (as
//     strconv.ParseFloat rounds); one too large for a float64 is an error.
//   - For a categorical or text field a number becomes its canonical
//     text (see NumberCategory): its exact decimal value written out with
//     no exponent, no leading zeros, no trailing zeros after the point and
//     no point when it is an integer. So 7, 7.0, 7.00, 0.7e1 and 70E-1 are
//     all the category "7"; 1e2 is "100"; 0.10 is "0.1"; -0 is "0".
//     Strings are taken as they are: "7.0" stays "7.0".
//   - A boolean is "true" or "false" for a categorical or text field, and
//     an error for any other.
//   - null is a missing value (SetNull).
//
// CSV cells have no JSON types: a categorical cell is its text as written.

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/flintml/flint/internal/jsonscan"
)

// Literal is the literal text of a value, as a string or as bytes.
type Literal = jsonscan.Literal

// MaxNumberCategory bounds the length in characters of a number's
// canonical text (NumberCategory); a longer one, such as 1e300, is
// refused.
const MaxNumberCategory = 64

// NumberError is a literal that is not a JSON number (Offset is the byte
// where the grammar fails) or one too large for a float64 (Offset is -1).
// It is the JSON scanner's: the number grammar lives there.
type NumberError = jsonscan.NumberError

// ParseNumber converts a JSON number, given as its literal text, to the
// nearest float64: the bits strconv.ParseFloat gives. A literal that is
// not a JSON number, or is too large for a float64, is a *NumberError.
func ParseNumber[T Literal](lit T) (float64, error) { return jsonscan.ParseNumber(lit) }

// maxExp bounds the exponents splitNumber keeps; anything beyond is far
// longer than MaxNumberCategory written out.
const maxExp = 100_000

// numParts locates the pieces of a JSON number literal.
type numParts struct {
	neg            bool
	int0, int1     int // the integer digits
	frac0, frac1   int // the fraction digits (empty without a point)
	exp            int // the exponent, clamped to ±maxExp
	hasFrac, hasEx bool
}

func splitNumber[T Literal](b T) (numParts, *NumberError) {
	var p numParts
	bad := func(i int, msg string) (numParts, *NumberError) {
		return p, &NumberError{Text: string(b), Offset: i, Msg: msg}
	}
	digits := func(i int) int {
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		return i
	}
	i := 0
	if i < len(b) && b[i] == '-' {
		p.neg = true
		i++
	}
	p.int0 = i
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(i)
	default:
		return bad(i, "want a digit")
	}
	p.int1, p.frac0, p.frac1 = i, i, i
	if i < len(b) && b[i] == '.' {
		p.hasFrac = true
		p.frac0 = i + 1
		if i = digits(i + 1); i == p.frac0 {
			return bad(i, "want digits after the decimal point")
		}
		p.frac1 = i
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		p.hasEx = true
		i++
		sign := 1
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			if b[i] == '-' {
				sign = -1
			}
			i++
		}
		j := i
		for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
			if p.exp < maxExp {
				p.exp = p.exp*10 + int(b[i]-'0')
			}
		}
		if i == j {
			return bad(i, "want digits in the exponent")
		}
		p.exp = sign * min(p.exp, maxExp)
	}
	if i != len(b) {
		return bad(i, fmt.Sprintf("unexpected %q", b[i]))
	}
	return p, nil
}

// NumberCategory returns the canonical text of a JSON number used as a
// category: its exact decimal value (no rounding to a float64, so integer
// ids beyond 2^53 stay distinct), with an optional '-', no leading zeros,
// no exponent, and a fraction only when the value is not an integer, with
// no trailing zeros. 7.0, 0.7e1 and 7 give "7"; 1e2 gives "100"; 0.10
// gives "0.1"; -0.0 gives "0". A literal that is not a JSON number, or
// whose canonical text is longer than MaxNumberCategory characters, is a
// *NumberError.
func NumberCategory[T Literal](lit T) (string, error) {
	p, nerr := splitNumber(lit)
	if nerr != nil {
		return "", nerr
	}
	// The digits d, the decimal point after the first point of them.
	var d []byte
	for i := p.int0; i < p.int1; i++ {
		d = append(d, lit[i])
	}
	for i := p.frac0; i < p.frac1; i++ {
		d = append(d, lit[i])
	}
	point := (p.int1 - p.int0) + p.exp
	for len(d) > 0 && d[0] == '0' {
		d, point = d[1:], point-1
	}
	for len(d) > 0 && d[len(d)-1] == '0' {
		d = d[:len(d)-1]
	}
	if len(d) == 0 {
		return "0", nil
	}
	tooLong := func() (string, error) {
		return "", &NumberError{Text: string(lit), Offset: -1,
			Msg: fmt.Sprintf("longer than %d characters written out (send the category as a string)", MaxNumberCategory)}
	}
	if max(point, len(d)) > MaxNumberCategory || point < -MaxNumberCategory {
		return tooLong()
	}
	out := make([]byte, 0, len(d)+3+max(point, -point))
	if p.neg {
		out = append(out, '-')
	}
	switch {
	case point >= len(d):
		out = append(out, d...)
		for range point - len(d) {
			out = append(out, '0')
		}
	case point <= 0:
		out = append(out, '0', '.')
		for range -point {
			out = append(out, '0')
		}
		out = append(out, d...)
	default:
		out = append(append(append(out, d[:point]...), '.'), d[point:]...)
	}
	if len(out) > MaxNumberCategory {
		return tooLong()
	}
	return string(out), nil
}

// WrongType is the error for a value of JSON kind got ("an array", "a
// string", ...) given for field f.
func WrongType(f Field, got string) error {
	switch f.Type {
	case Numeric:
		return fieldErr(f.Name, "want a number, got %s", got)
	case Categorical, Text:
		return fieldErr(f.Name, "want a string, got %s", got)
	case Timestamp:
		return fieldErr(f.Name, "want Unix seconds or RFC 3339 time, got %s", got)
	case Vector:
		return fieldErr(f.Name, "want an array of %d numbers, got %s", f.Dim, got)
	}
	return fieldErr(f.Name, "unknown type %q", f.Type)
}

// SetNumber sets dst, the value of field f, from a JSON number given as
// its literal text (see the rules at the top of this file).
func SetNumber[T Literal](dst *Value, f Field, lit T) error {
	switch f.Type {
	case Numeric, Timestamp:
		n, err := ParseNumber(lit)
		if err != nil {
			return &FieldError{Field: f.Name, Err: err}
		}
		dst.Num = n
		return nil
	case Categorical, Text:
		s, err := NumberCategory(lit)
		if err != nil {
			return &FieldError{Field: f.Name, Err: err}
		}
		dst.Str = s
		return nil
	}
	return WrongType(f, "a number")
}

// SetString sets dst, the value of field f, from a JSON string (its
// unescaped text): the text itself for a categorical or text field, RFC
// 3339 time or Unix seconds for a timestamp.
func SetString[T Literal](dst *Value, f Field, s T) error {
	switch f.Type {
	case Categorical, Text:
		dst.Str = string(s)
		return nil
	case Timestamp:
		return setTime(dst, f, string(s))
	}
	return WrongType(f, "a string")
}

// SetBool sets dst, the value of field f, from a JSON boolean: "true" or
// "false" for a categorical or text field.
func SetBool(dst *Value, f Field, b bool) error {
	switch f.Type {
	case Categorical, Text:
		dst.Str = strconv.FormatBool(b)
		return nil
	}
	return WrongType(f, "a boolean")
}

// SetNull marks dst missing (JSON null, or a field not given): NaN for
// numbers, "" for strings, an empty vector. Whether that is allowed is
// the field's Optional; Schema.Decode and serving check it.
func SetNull(dst *Value) {
	*dst = Value{Num: math.NaN(), Missing: true, Vec: dst.Vec[:0]}
}

// AppendElement appends element j of vector field f, a JSON number given
// as its literal text, to dst.Vec.
func AppendElement[T Literal](dst *Value, f Field, j int, lit T) error {
	n, err := ParseNumber(lit)
	if err != nil {
		return fieldErr(f.Name, "element %d: %v", j, err)
	}
	dst.Vec = append(dst.Vec, n)
	return nil
}

func setTime(dst *Value, f Field, s string) error {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		dst.Num = float64(t.UnixNano()) / 1e9
		return nil
	}
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		return setNum(dst, f, n)
	}
	return fieldErr(f.Name, "%q is neither RFC 3339 time nor Unix seconds", s)
}
