package predlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/flintml/flint/internal/jsonscan"
)

// Record is one predicted row: what a row record of format 1 holds, and
// what DecodeRows reads out of a request record of format 2 (see the
// package documentation for both).
type Record struct {
	ID         string          `json:"id"`
	Row        int             `json:"row"`
	Time       time.Time       `json:"time"`
	Model      string          `json:"model"`
	Version    int             `json:"version"`
	Fields     json.RawMessage `json:"fields"`
	Prediction json.RawMessage `json:"prediction"`
}

// Decode reads a row record of format 1: one row, no "v". The error says
// which field is missing or malformed. DecodeRows reads both formats.
func Decode(value []byte) (Record, error) {
	var r Record
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Record{}, fmt.Errorf("prediction log record: %w", err)
	}
	if dec.More() {
		return Record{}, errors.New("prediction log record: data after the JSON object")
	}
	return r, r.check()
}

// check reports a row that lacks what a join needs.
func (r *Record) check() error {
	switch {
	case r.ID == "":
		return errors.New(`prediction log record: "id" is missing or empty`)
	case r.Row < 0:
		return fmt.Errorf(`prediction log record %s: "row" is %d, want >= 0`, r.ID, r.Row)
	case len(r.Fields) == 0 || r.Fields[0] != '{':
		return fmt.Errorf(`prediction log record %s row %d: "fields" is not a JSON object`, r.ID, r.Row)
	case len(r.Prediction) == 0:
		return fmt.Errorf(`prediction log record %s row %d: "prediction" is missing`, r.ID, r.Row)
	}
	return nil
}

// AppendRow appends r as a row record of format 1 (the form the joiner
// keeps a waiting row in; Decode reads it back). Fields and Prediction are
// copied as they are.
func AppendRow(v []byte, r Record) []byte {
	v = append(v, `{"id":`...)
	v = appendString(v, r.ID)
	v = append(v, `,"row":`...)
	v = strconv.AppendInt(v, int64(r.Row), 10)
	v = append(v, `,"time":"`...)
	v = r.Time.UTC().AppendFormat(v, time.RFC3339Nano)
	v = append(v, `","model":`...)
	v = appendString(v, r.Model)
	v = append(v, `,"version":`...)
	v = strconv.AppendInt(v, int64(r.Version), 10)
	v = append(v, `,"fields":`...)
	v = append(v, r.Fields...)
	v = append(v, `,"prediction":`...)
	v = append(v, r.Prediction...)
	return append(v, '}')
}

// span is a value's place in its input.
type span struct{ from, to int }

// members finds the values of the array under key many (or the one value
// under key one, when one is not "") of the JSON object b, and appends
// their spans to dst. Other keys are skipped; the syntax of the whole
// object is checked.
func members(sc *jsonscan.Scanner, dst []span, b []byte, many, one string) ([]span, error) {
	sc.Reset(b)
	if err := sc.Enter('{'); err != nil {
		return dst, err
	}
	for n := 0; ; n++ {
		more, err := sc.Next('}', n)
		if err != nil {
			return dst, err
		}
		if !more {
			break
		}
		k, err := sc.Key()
		if err != nil {
			return dst, err
		}
		switch {
		case string(k) == many && sc.Peek() == '[':
			if err := sc.Enter('['); err != nil {
				return dst, err
			}
			for m := 0; ; m++ {
				more, err := sc.Next(']', m)
				if err != nil {
					return dst, err
				}
				if !more {
					break
				}
				sc.Peek() // skips the whitespace before the value
				from := sc.Pos()
				if err := sc.Skip(); err != nil {
					return dst, err
				}
				dst = append(dst, span{from, sc.Pos()})
			}
		case one != "" && string(k) == one:
			sc.Peek()
			from := sc.Pos()
			if err := sc.Skip(); err != nil {
				return dst, err
			}
			dst = append(dst, span{from, sc.Pos()})
		default:
			if err := sc.Skip(); err != nil {
				return dst, err
			}
		}
	}
	return dst, sc.End()
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	if !utf8.ValidString(s) {
		q, _ := json.Marshal(s) // replaces invalid bytes with U+FFFD
		return append(b, q...)
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, `\u00`...)
			b = append(b, hexDigits[c>>4], hexDigits[c&15])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"
