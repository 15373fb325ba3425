package features

import (
	"errors"
	"fmt"

	"github.com/flintml/flint/internal/jsonscan"
)

// This file is the one JSON field decoder: Schema.Decode reads JSON records
// with it and serving reads request rows with it, so a JSON value becomes
// the same field value on either path. Values are set only through the
// setters of value.go.

// ScanValue reads the JSON value at sc into dst, the value of field f;
// null leaves it missing. A value that does not fit the field is a
// *FieldError, malformed JSON a *jsonscan.SyntaxError.
func ScanValue(sc *jsonscan.Scanner, dst *Value, f Field) error {
	switch c := sc.Peek(); {
	case c == 'n':
		if _, err := sc.Literal(); err != nil {
			return err
		}
		SetNull(dst)
		return nil
	case c == '"':
		s, err := sc.Str()
		if err != nil {
			return err
		}
		return SetString(dst, f, s)
	case c == 't' || c == 'f':
		l, err := sc.Literal()
		if err != nil {
			return err
		}
		return SetBool(dst, f, l == 't')
	case c == '-' || '0' <= c && c <= '9':
		if f.Type == Numeric || f.Type == Timestamp {
			if n, ok := sc.Float(); ok { // SetNumber's value, read in one pass
				dst.Num = n
				return nil
			}
		}
		start := sc.Pos()
		if err := SetNumber(dst, f, sc.NumLit()); err != nil {
			return syntaxOr(sc, start, err)
		}
		return nil
	case c == '[' && f.Type == Vector:
		return scanVector(sc, dst, f)
	}
	return WrongType(f, sc.Kind())
}

// ScanNumber reads the JSON value at sc into dst, the number of field *f,
// which must be Numeric or Timestamp: dst is what
// ScanValue sets Value.Num to, NaN for null (a missing value). No
// non-null value of such a field is NaN, so NaN is missing. A value that
// does not fit the field is a *FieldError, malformed JSON a
// *jsonscan.SyntaxError.
func ScanNumber(sc *jsonscan.Scanner, dst *float64, f *Field) error {
	if f.Type == Numeric {
		if n, ok := sc.Float(); ok {
			*dst = n
			return nil
		}
	} else if f.Type != Timestamp {
		return fmt.Errorf("features: ScanNumber: field %q is %s, not a number", f.Name, f.Type)
	}
	var v Value
	if err := ScanValue(sc, &v, *f); err != nil {
		return err
	}
	*dst = v.Num
	return nil
}

// NumberRun is a run of Numeric fields that a decoder expects first in
// an object, in schema order, under plain keys: what Scan reads in one
// loop, prepared once (a served model's, at load).
type NumberRun struct {
	keys jsonscan.Keys
}

// NewNumberRun prepares the run of fields, each keyed by quoted[j]
// (fields[j].Name as jsonscan.PlainKey writes it), up to the first field
// that is not Numeric or has no plain key ("").
func NewNumberRun(fields []Field, quoted []string) NumberRun {
	n := 0
	for n < min(len(fields), len(quoted)) && fields[n].Type == Numeric && quoted[n] != "" {
		n++
	}
	return NumberRun{keys: jsonscan.NewKeys(quoted[:n])}
}

// Len is the number of fields in the run.
func (r NumberRun) Len() int { return r.keys.Len() }

// Scan reads the first members of the object sc is in (after its '{')
// when they are the run's fields in order, each with a number in the plain
// form (-ddd.ddd: no exponent, at most 19 digits), storing them in dst[j]
// as ScanNumber would. It stops before the first member that is not so and
// returns how many it read; the caller reads the rest member by member.
// It is what a decoder of rows whose fields come in schema order spends
// most of a request on, in one loop.
func (r NumberRun) Scan(sc *jsonscan.Scanner, dst []float64) int {
	return sc.PlainMembers(0, r.keys, dst)
}

// syntaxOr returns the scanner's syntax error when err says the number
// that started at byte start is not JSON, and err otherwise.
func syntaxOr(sc *jsonscan.Scanner, start int, err error) error {
	var ne *NumberError
	if errors.As(err, &ne) && ne.Syntax() {
		return sc.NumErr(start, ne)
	}
	return err
}

// scanVector reads the array of numbers of vector field f into dst.
func scanVector(sc *jsonscan.Scanner, dst *Value, f Field) error {
	if err := sc.Enter('['); err != nil {
		return err
	}
	for j := 0; ; j++ {
		more, err := sc.Next(']', j)
		if err != nil {
			return err
		}
		if !more {
			if j != f.Dim {
				return fieldErr(f.Name, "want %d numbers, got %d", f.Dim, j)
			}
			return nil
		}
		if c := sc.Peek(); c != '-' && (c < '0' || c > '9') {
			return fieldErr(f.Name, "element %d: want a number, got %s", j, sc.Kind())
		}
		start := sc.Pos()
		if err := AppendElement(dst, f, j, sc.NumLit()); err != nil {
			return syntaxOr(sc, start, err)
		}
	}
}

// maxStackFields is how many fields a record may have before decodeJSON
// marks the fields it has seen in an allocated slice rather than on the
// stack.
const maxStackFields = 128

// decodeJSON scans one JSON object into row, which Decode has cleared:
// each key is a field's name (unknown keys are an error unless
// IgnoreUnknown, and no key may be given twice); fields not given are
// missing. Decode then checks the required ones.
func (s *Schema) decodeJSON(row Row, data []byte) error {
	var sc jsonscan.Scanner
	sc.Reset(data)
	if c := sc.Peek(); c != '{' {
		return &FieldError{Err: fmt.Errorf("not a JSON object: got %s", sc.Kind())}
	}
	var stack [maxStackFields]bool
	var seen []bool
	if len(s.Fields) <= maxStackFields {
		seen = stack[:len(s.Fields)]
	} else {
		seen = make([]bool, len(s.Fields))
	}
	if err := s.scanFields(&sc, row, seen); err != nil {
		return err
	}
	if err := sc.End(); err != nil {
		return &FieldError{Err: fmt.Errorf("trailing data after the JSON object (at byte %d)", sc.Pos())}
	}
	for i, ok := range seen {
		if !ok {
			SetNull(&row[i])
		}
	}
	return nil
}

// scanFields reads the members of the object at sc into row, marking in
// seen the fields given.
func (s *Schema) scanFields(sc *jsonscan.Scanner, row Row, seen []bool) error {
	if err := sc.Enter('{'); err != nil {
		return notObject(err)
	}
	j := -1
	for n := 0; ; n++ {
		more, err := sc.Next('}', n)
		if err != nil {
			return notObject(err)
		}
		if !more {
			return nil
		}
		k, err := sc.Key()
		if err != nil {
			return notObject(err)
		}
		// Records mostly hold the fields in schema order: try the next
		// one before searching.
		if j++; j >= len(s.Fields) || s.Fields[j].Name != string(k) {
			if j = s.indexBytes(k); j < 0 {
				if !s.IgnoreUnknown {
					return fieldErr(string(k), "not in the schema")
				}
				if err := sc.Skip(); err != nil {
					return notObject(err)
				}
				continue
			}
		}
		f := s.Fields[j]
		if seen[j] {
			return fieldErr(f.Name, "given twice")
		}
		seen[j] = true
		if err := ScanValue(sc, &row[j], f); err != nil {
			return notObject(err)
		}
	}
}

// indexBytes is Index for a name given as bytes, without allocating.
func (s *Schema) indexBytes(name []byte) int {
	for i := range s.Fields {
		if s.Fields[i].Name == string(name) {
			return i
		}
	}
	return -1
}

// notObject marks malformed JSON as the record's fault; other errors (a
// *FieldError) pass through.
func notObject(err error) error {
	var se *jsonscan.SyntaxError
	if errors.As(err, &se) {
		return &FieldError{Err: fmt.Errorf("not a JSON object: %v", se)}
	}
	return err
}
