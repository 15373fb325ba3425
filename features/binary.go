package features

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// This file is the binary record encoding: a record of numbers written as
// little-endian floats, so that a 784-wide row travels through the log
// without being text and decodes without parsing. flint ingest --encode
// chooses it; every schema decoder recognises a binary record by its first
// byte, so a job's schema (which names the text format ingest reads) reads
// the topic whichever encoding ingest chose.
//
// Layout, version 1 (integers little-endian):
//
//	offset 0  magic    0xFB (never the first byte of UTF-8 text, so of no JSON, CSV or LIBSVM record)
//	       1  version  1
//	       2  elem     4 (float32 values) or 8 (float64 values)
//	       3  label    0: none (no label field, or the label is missing)
//	                   1: a float64 follows (a numeric label)
//	                   2: a uint16 byte length and the UTF-8 text follow (a categorical label)
//	       4  count    uint32: the number of values
//	       8  the label, as above
//	          count values of elem bytes each: the schema's fields other than
//	          the label, in schema order, a numeric field one value, a vector
//	          field dim values
//
// The label is never rounded; with elem 4 the values are float32s, so
// encoding rounds each to the nearest float32 and decoding widens it back to
// a float64 exactly. A NaN value is a missing value: allowed in an optional
// numeric field, or as every element of an optional vector field; anything
// else not finite is refused. Only schemas whose fields other than the label
// are numeric or vectors have a binary encoding.

// Encoding is the element type of a binary record's values: its size in
// bytes.
type Encoding uint8

// Binary encodings.
const (
	Float32 Encoding = 4
	Float64 Encoding = 8
)

// Binary record header.
const (
	binaryMagic   = 0xFB
	binaryVersion = 1
	binaryHeader  = 8

	labelNone   = 0
	labelNumber = 1
	labelString = 2
)

// ParseEncoding reads an encoding's name: "f32" or "f64".
func ParseEncoding(s string) (Encoding, error) {
	switch s {
	case "f32":
		return Float32, nil
	case "f64":
		return Float64, nil
	}
	return 0, fmt.Errorf("unknown encoding %q: want f32 or f64", s)
}

func (e Encoding) String() string {
	switch e {
	case Float32:
		return "f32"
	case Float64:
		return "f64"
	}
	return fmt.Sprintf("Encoding(%d)", uint8(e))
}

// IsBinary reports whether a record is in the binary encoding (by its first
// byte; whether it is well formed is Decode's to say).
func IsBinary(data []byte) bool { return len(data) > 0 && data[0] == binaryMagic }

// BinaryWidth returns the number of values a binary record of the schema
// holds, or an error naming the first field a binary record cannot hold
// (one other than the label that is neither numeric nor a vector).
func (s *Schema) BinaryWidth() (int, error) {
	n := 0
	for i, f := range s.Fields {
		switch {
		case f.Name == s.Label:
		case f.Type == Numeric:
			n++
		case f.Type == Vector:
			n += f.Dim
		default:
			return 0, fmt.Errorf("fields[%d] %q is %s: a binary record holds a label and numeric or vector fields", i, f.Name, f.Type)
		}
	}
	if s.Label != "" {
		if i := s.Index(s.Label); i >= 0 && s.Fields[i].Type != Numeric && s.Fields[i].Type != Categorical {
			return 0, fmt.Errorf("label %q is %s: a binary record's label is numeric or categorical", s.Label, s.Fields[i].Type)
		}
	}
	return n, nil
}

// AppendBinary appends the binary encoding of row, decoded with the schema,
// to dst. With Float32, a value beyond float32's range is a *FieldError
// naming its field; every other value is rounded to the nearest float32.
func (s *Schema) AppendBinary(dst []byte, row Row, enc Encoding) ([]byte, error) {
	if enc != Float32 && enc != Float64 {
		return dst, fmt.Errorf("features: %v is not a binary encoding", enc)
	}
	n, err := s.BinaryWidth()
	if err != nil {
		return dst, err
	}
	if len(row) != len(s.Fields) {
		return dst, fmt.Errorf("features: a row of %d values for a schema of %d fields", len(row), len(s.Fields))
	}
	li := s.Index(s.Label)
	kind := byte(labelNone)
	if li >= 0 && !row[li].Missing {
		kind = labelNumber
		if s.Fields[li].Type == Categorical {
			kind = labelString
		}
	}
	dst = append(dst, binaryMagic, binaryVersion, byte(enc), kind)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(n))
	switch kind {
	case labelNumber:
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(row[li].Num))
	case labelString:
		if len(row[li].Str) > math.MaxUint16 {
			return dst, fieldErr(s.Label, "a label of %d bytes is longer than a binary record's %d", len(row[li].Str), math.MaxUint16)
		}
		dst = binary.LittleEndian.AppendUint16(dst, uint16(len(row[li].Str)))
		dst = append(dst, row[li].Str...)
	}
	dst = slices.Grow(dst, n*int(enc))
	for i, f := range s.Fields {
		if i == li {
			continue
		}
		v := row[i]
		if f.Type == Numeric {
			if dst, err = appendValue(dst, enc, v.Num, v.Missing); err != nil {
				return dst, &FieldError{Field: f.Name, Err: err}
			}
			continue
		}
		if !v.Missing && len(v.Vec) != f.Dim {
			return dst, fieldErr(f.Name, "%d elements, want %d", len(v.Vec), f.Dim)
		}
		for j := 0; j < f.Dim; j++ {
			x := math.NaN()
			if !v.Missing {
				x = v.Vec[j]
			}
			if dst, err = appendValue(dst, enc, x, v.Missing); err != nil {
				return dst, fieldErr(f.Name, "element %d: %v", j, err)
			}
		}
	}
	return dst, nil
}

// appendValue appends x, or NaN for a missing value, in the encoding. A
// present value must be finite and, for Float32, within float32's range.
func appendValue(dst []byte, enc Encoding, x float64, missing bool) ([]byte, error) {
	switch {
	case missing:
		x = math.NaN()
	case math.IsNaN(x) || math.IsInf(x, 0):
		return dst, fmt.Errorf("%v is not a finite number", x)
	}
	if enc == Float64 {
		return binary.LittleEndian.AppendUint64(dst, math.Float64bits(x)), nil
	}
	f := float32(x)
	if math.IsInf(float64(f), 0) {
		return dst, fmt.Errorf("%v is beyond float32's range (encode as f64)", x)
	}
	return binary.LittleEndian.AppendUint32(dst, math.Float32bits(f)), nil
}

// decodeBinary decodes a binary record (IsBinary) into row.
func (s *Schema) decodeBinary(row Row, data []byte) error {
	bad := func(format string, args ...any) error {
		return &FieldError{Err: fmt.Errorf("binary record: "+format, args...)}
	}
	if len(data) < binaryHeader {
		return bad("%d bytes, shorter than the %d-byte header", len(data), binaryHeader)
	}
	if data[1] != binaryVersion {
		return bad("version %d; this Flint reads version %d", data[1], binaryVersion)
	}
	enc := Encoding(data[2])
	if enc != Float32 && enc != Float64 {
		return bad("element size %d; want 4 (float32) or 8 (float64)", data[2])
	}
	want, err := s.BinaryWidth()
	if err != nil {
		return &FieldError{Err: fmt.Errorf("binary record for a schema without a binary encoding: %v", err)}
	}
	if n := binary.LittleEndian.Uint32(data[4:]); uint64(n) != uint64(want) {
		return bad("%d values; the schema's fields hold %d", n, want)
	}
	li := s.Index(s.Label)
	rest, err := s.binaryLabel(row, li, data[3], data[binaryHeader:])
	if err != nil {
		return err
	}
	if len(rest) != want*int(enc) {
		return bad("%d bytes of values; %d %s values take %d", len(rest), want, enc, want*int(enc))
	}
	for i, f := range s.Fields {
		if i == li {
			continue
		}
		w := 1
		if f.Type == Vector {
			w = f.Dim
		}
		if err := setBinary(&row[i], f, enc, rest[:w*int(enc)]); err != nil {
			return err
		}
		rest = rest[w*int(enc):]
	}
	return nil
}

// binaryLabel decodes the label of the given kind from the start of b into
// row[li] and returns the bytes after it.
func (s *Schema) binaryLabel(row Row, li int, kind byte, b []byte) ([]byte, error) {
	switch kind {
	case labelNone:
		if li >= 0 {
			row[li] = missing(s.Fields[li], row[li])
		}
		return b, nil
	case labelNumber, labelString:
	default:
		return nil, &FieldError{Err: fmt.Errorf("binary record: label kind %d; want 0 (none), 1 (number) or 2 (text)", kind)}
	}
	if li < 0 {
		return nil, &FieldError{Err: errors.New("binary record: it carries a label, and the schema has none")}
	}
	f := s.Fields[li]
	if kind == labelNumber {
		if f.Type != Numeric {
			return nil, fieldErr(f.Name, "binary record: a numeric label for a %s field", f.Type)
		}
		if len(b) < 8 {
			return nil, fieldErr(f.Name, "binary record: %d bytes left for an 8-byte label", len(b))
		}
		if err := setNum(&row[li], f, math.Float64frombits(binary.LittleEndian.Uint64(b))); err != nil {
			return nil, err
		}
		return b[8:], nil
	}
	if f.Type != Categorical {
		return nil, fieldErr(f.Name, "binary record: a text label for a %s field", f.Type)
	}
	if len(b) < 2 || len(b)-2 < int(binary.LittleEndian.Uint16(b)) {
		return nil, fieldErr(f.Name, "binary record: the label's text runs past the end of the record")
	}
	n := int(binary.LittleEndian.Uint16(b))
	row[li].Str = string(b[2 : 2+n])
	return b[2+n:], nil
}

// setBinary sets a numeric or vector field from its values' bytes, b, of
// the given encoding.
func setBinary(dst *Value, f Field, enc Encoding, b []byte) error {
	if f.Type == Numeric {
		x := binaryValue(enc, b)
		if math.IsNaN(x) {
			return binaryMissing(dst, f)
		}
		return setNum(dst, f, x)
	}
	vec := slices.Grow(dst.Vec[:0], f.Dim)[:f.Dim]
	dst.Vec = vec
	var finite bool
	if enc == Float32 {
		finite = widen32(vec, b)
	} else {
		finite = widen64(vec, b)
	}
	if finite {
		return nil
	}
	nan := 0
	for _, x := range vec {
		if math.IsNaN(x) {
			nan++
		}
	}
	if nan == len(vec) {
		return binaryMissing(dst, f)
	}
	for j, x := range vec {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fieldErr(f.Name, "element %d is %v: a vector is missing as a whole (every element NaN) or not at all", j, x)
		}
	}
	return nil
}

// binaryMissing marks an optional field missing (its value NaN) and
// refuses a NaN for a required one.
func binaryMissing(dst *Value, f Field) error {
	if !f.Optional {
		return fieldErr(f.Name, "NaN, a missing value, in a required field")
	}
	SetNull(dst)
	return nil
}

func binaryValue(enc Encoding, b []byte) float64 {
	if enc == Float32 {
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(b))
}

// widen32 sets dst from len(dst) little-endian float32s in b and reports
// whether every one was finite. Unrolled by four, with no branch per
// value: this is the whole of decoding a wide f32 record.
func widen32(dst []float64, b []byte) bool {
	b = b[:4*len(dst)]
	var bad uint32 // bit 0 set once a value's exponent bits were all set: Inf or NaN
	j := 0
	for ; j+4 <= len(dst); j += 4 {
		q, d := b[4*j:4*j+16], dst[j:j+4:j+4]
		u0, u1 := binary.LittleEndian.Uint32(q[0:]), binary.LittleEndian.Uint32(q[4:])
		u2, u3 := binary.LittleEndian.Uint32(q[8:]), binary.LittleEndian.Uint32(q[12:])
		d[0], d[1] = float64(math.Float32frombits(u0)), float64(math.Float32frombits(u1))
		d[2], d[3] = float64(math.Float32frombits(u2)), float64(math.Float32frombits(u3))
		bad |= notFinite32(u0) | notFinite32(u1) | notFinite32(u2) | notFinite32(u3)
	}
	for ; j < len(dst); j++ {
		u := binary.LittleEndian.Uint32(b[4*j:])
		dst[j] = float64(math.Float32frombits(u))
		bad |= notFinite32(u)
	}
	return bad == 0
}

// widen64 sets dst from len(dst) little-endian float64s in b and reports
// whether every one was finite.
func widen64(dst []float64, b []byte) bool {
	b = b[:8*len(dst)]
	var bad uint64
	j := 0
	for ; j+4 <= len(dst); j += 4 {
		q, d := b[8*j:8*j+32], dst[j:j+4:j+4]
		u0, u1 := binary.LittleEndian.Uint64(q[0:]), binary.LittleEndian.Uint64(q[8:])
		u2, u3 := binary.LittleEndian.Uint64(q[16:]), binary.LittleEndian.Uint64(q[24:])
		d[0], d[1] = math.Float64frombits(u0), math.Float64frombits(u1)
		d[2], d[3] = math.Float64frombits(u2), math.Float64frombits(u3)
		bad |= notFinite64(u0) | notFinite64(u1) | notFinite64(u2) | notFinite64(u3)
	}
	for ; j < len(dst); j++ {
		u := binary.LittleEndian.Uint64(b[8*j:])
		dst[j] = math.Float64frombits(u)
		bad |= notFinite64(u)
	}
	return bad == 0
}

// notFinite32 is 1 when the float32 bits u are Inf or NaN (every exponent
// bit set: adding one to the exponent carries into bit 31), else 0.
func notFinite32(u uint32) uint32 { return ((u & 0x7f800000) + 0x00800000) >> 31 }

// notFinite64 is notFinite32 for float64 bits.
func notFinite64(u uint64) uint64 { return ((u & 0x7ff0000000000000) + 0x0010000000000000) >> 63 }
