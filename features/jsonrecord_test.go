package features

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"unicode/utf8"
)

// decodeJSONMap is the map-based JSON decoder Schema.Decode used before it
// scanned records in place: encoding/json into a map, then DecodeMap. It
// is kept here only as the fuzz tests' reference.
func (s *Schema) decodeJSONMap(row Row, data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return &FieldError{Err: fmt.Errorf("not a JSON object: %v", err)}
	}
	if dec.More() {
		return &FieldError{Err: errors.New("trailing data after the JSON object")}
	}
	return s.DecodeMap(row, m)
}

// strictnessDiffers reports whether data is one of the inputs on which the
// scanning decoder is deliberately stricter than the map-based one: bytes
// that are not UTF-8 (encoding/json replaces them in strings), nesting
// deeper than jsonscan.MaxDepth (in a skipped value), a top-level null
// (no record), anything but whitespace after the object (dec.More lets a
// stray '}' or ']' through), or a field given twice (the map keeps the
// last). The scanning decoder must refuse all of them.
func strictnessDiffers(s *Schema, data []byte) bool {
	if !utf8.Valid(data) || bytes.Count(data, []byte("{"))+bytes.Count(data, []byte("[")) > 64 {
		return true
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return err == nil // null, or another value: refused, as before but for null
	}
	given := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		k, _ := tok.(string)
		if given[k] && s.Index(k) >= 0 {
			return true
		}
		given[k] = true
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return false
		}
	}
	if _, err := dec.Token(); err != nil {
		return false
	}
	return len(bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n")) > 0
}

// checkAgainstMap fails unless s.Decode and the map-based reference agree
// on data: both refuse it, or both accept it with the same row, bit for
// bit. On the inputs where the scanner is stricter it must refuse them.
func checkAgainstMap(t *testing.T, s *Schema, data []byte) {
	row, ref := s.NewRow(), s.NewRow()
	err := s.Decode(row, data)
	if strictnessDiffers(s, data) {
		if err == nil {
			t.Fatalf("Decode(%q) accepted an input it must refuse", data)
		}
		return
	}
	for i := range ref {
		ref[i] = Value{}
	}
	referr := s.decodeJSONMap(ref, data)
	if referr == nil {
		referr = s.checkRequired(ref)
	}
	if (err == nil) != (referr == nil) {
		t.Fatalf("Decode(%q) = %v; the map-based decoder says %v", data, err, referr)
	}
	var fe *FieldError
	if err != nil && !errors.As(err, &fe) {
		t.Fatalf("Decode(%q) = %v (%T), want a *FieldError", data, err, err)
	}
	if err == nil && !sameRow(row, ref) {
		t.Fatalf("Decode(%q) = %+v; the map-based decoder gives %+v", data, row, ref)
	}
}

func sameRow(a, b Row) bool {
	for i := range a {
		x, y := a[i], b[i]
		if x.Missing != y.Missing || math.Float64bits(x.Num) != math.Float64bits(y.Num) || x.Str != y.Str || len(x.Vec) != len(y.Vec) {
			return false
		}
		for j := range x.Vec {
			if math.Float64bits(x.Vec[j]) != math.Float64bits(y.Vec[j]) {
				return false
			}
		}
	}
	return true
}

// jsonSchemas are the schemas FuzzDecode reads JSON input with besides
// houseSchema: every field type, optional ones, and unknown keys skipped.
var jsonSchemas = []Schema{
	{Fields: []Field{{Name: "x", Type: Numeric, Optional: true}, {Name: "t", Type: Timestamp, Optional: true},
		{Name: "v", Type: Vector, Dim: 2, Optional: true}, {Name: "c", Type: Categorical, Optional: true}, {Name: "s", Type: Text, Optional: true}}},
	{Fields: []Field{{Name: "x", Type: Numeric}, {Name: "c", Type: Categorical, Optional: true}, {Name: "v", Type: Vector, Dim: 1}}, IgnoreUnknown: true},
}

func TestDecodeJSONErrors(t *testing.T) {
	s := houseSchema
	row := s.NewRow()
	const ok = `"rooms": 1, "city": "x", "price": 2, "kind": "flat"`
	for _, c := range []struct{ in, want string }{
		{`{` + ok + `, "rooms": 2}`, `field "rooms": given twice`},
		{`{` + ok + `}}`, "trailing data after the JSON object (at byte 53)"},
		{`{` + ok + `,}`, "not a JSON object: malformed JSON at byte 53: trailing comma"},
		{`null`, "not a JSON object: got null"},
		{``, "not a JSON object: got the end of the input"},
		{`{"rooms": 1, "city": "x", "price": 2}`, `field "kind": missing`},
		{`{` + ok + `, "area": 1e999}`, `field "area": number 1e999 is out of range`},
		{`{` + ok + `, "area": 01}`, "not a JSON object: malformed JSON at byte 63"},
		{"{" + ok + ", \"notes\": \"\xff\"}", "not valid UTF-8"},
	} {
		err := s.Decode(row, []byte(c.in))
		var fe *FieldError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Decode(%s) = %v, want a FieldError saying %q", c.in, err, c.want)
		}
	}
	s.IgnoreUnknown = true
	if err := s.Decode(row, []byte(`{"extra": {"a": [1, "b", null]}, `+ok+`, "extra": 1e999}`)); err != nil || row[0].Num != 1 || row[5].Str != "flat" {
		t.Errorf("unknown keys skipped: %v, %+v", err, row)
	}
}

// TestDecodeJSONAllocs: a record decoded into a reused row allocates
// nothing but the strings of its string fields.
func TestDecodeJSONAllocs(t *testing.T) {
	s := Schema{Fields: []Field{{Name: "x", Type: Numeric}, {Name: "t", Type: Timestamp}, {Name: "v", Type: Vector, Dim: 3},
		{Name: "n", Type: Numeric, Optional: true}, {Name: "c", Type: Categorical}}}
	row := s.NewRow()
	for _, c := range []struct {
		in     string
		allocs float64
	}{
		{`{"x": 1.5, "t": 1700000000, "v": [1, 2.5, -3e2], "n": null, "c": "oslo"}`, 1},
		{`{"c": "bergen", "v": [0, 0, 0], "t": 1e9, "x": -0}`, 1}, // out of order
		{`{"x": 1.5, "t": 1700000000, "v": [1, 2.5, -3e2], "c": ""}`, 0},
	} {
		if err := s.Decode(row, []byte(c.in)); err != nil {
			t.Fatal(err)
		}
		data := []byte(c.in)
		if got := testing.AllocsPerRun(100, func() { _ = s.Decode(row, data) }); got > c.allocs {
			t.Errorf("Decode(%s): %v allocations, want at most %v", c.in, got, c.allocs)
		}
	}
}
