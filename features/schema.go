package features

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// FieldType is the kind of value a field holds.
type FieldType string

// Field types.
const (
	Numeric     FieldType = "numeric"
	Categorical FieldType = "categorical"
	Text        FieldType = "text"
	Vector      FieldType = "vector"
	Timestamp   FieldType = "timestamp" // RFC 3339 text or Unix seconds; becomes Unix seconds
)

// Field is one named field of a record.
type Field struct {
	Name string    `json:"name" yaml:"name"`
	Type FieldType `json:"type" yaml:"type"`
	// Dim is the length of a vector field.
	Dim int `json:"dim,omitempty" yaml:"dim,omitempty"`
	// Optional fields may be missing or null; numeric ones then read as NaN
	// (an imputer fills them), text and categorical ones as "".
	Optional bool `json:"optional,omitempty" yaml:"optional,omitempty"`
}

// Schema describes records and how they are encoded.
type Schema struct {
	// Format is "json" (an object per record, keyed by field name; the
	// default), "csv" (fields in schema order, or in Columns order),
	// "libsvm" ("label index:value ...", into one vector field) or "vector"
	// (raw little-endian float64s: the label, then one vector field).
	// Besides records of the format, a topic may hold binary records
	// (IsBinary; binary.go has the layout), which every format but "vector"
	// reads.
	Format string `json:"format,omitempty" yaml:"format,omitempty"`
	// Fields are the record's fields. The label and weight are fields too.
	Fields []Field `json:"fields" yaml:"fields"`
	// Label names the label field: numeric (regression, or class indices) or
	// categorical (class names, mapped to indices in lexical order unless
	// Classes is given). Empty for unsupervised data.
	Label string `json:"label,omitempty" yaml:"label,omitempty"`
	// Classes fixes the class names of a categorical label, in index order.
	Classes []string `json:"classes,omitempty" yaml:"classes,omitempty"`
	// Weight names an optional numeric field of sample weights.
	Weight string `json:"weight,omitempty" yaml:"weight,omitempty"`
	// Columns gives the CSV column order by field name ("" skips a column);
	// empty means the fields in order.
	Columns []string `json:"columns,omitempty" yaml:"columns,omitempty"`
	// Delimiter separates CSV fields; default ",".
	Delimiter string `json:"delimiter,omitempty" yaml:"delimiter,omitempty"`
	// IgnoreUnknown skips JSON fields the schema does not name instead of
	// refusing the record: for reading a few fields of records that hold
	// more (label records, say).
	IgnoreUnknown bool `json:"ignore_unknown,omitempty" yaml:"ignore_unknown,omitempty"`
}

// FieldError reports a record that does not fit the schema.
type FieldError struct {
	Field string // the field at fault; "" for the record as a whole
	Err   error
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Err.Error()
	}
	return fmt.Sprintf("field %q: %v", e.Field, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

func (s *Schema) format() string {
	if s.Format == "" {
		return "json"
	}
	return s.Format
}

// Index returns the position of the named field, or -1.
func (s *Schema) Index(name string) int {
	for i, f := range s.Fields {
		if f.Name == name {
			return i
		}
	}
	return -1
}

// Validate checks the schema and reports every problem at once, each naming
// the path of the field at fault (e.g. "fields[2].type").
func (s *Schema) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	switch s.format() {
	case "json", "csv", "libsvm", "vector":
	default:
		bad("format", "unknown format %q: want json, csv, libsvm or vector", s.Format)
	}
	if len(s.Fields) == 0 {
		bad("fields", "no fields")
	}
	seen := map[string]bool{}
	vectors := 0
	for i, f := range s.Fields {
		p := fmt.Sprintf("fields[%d]", i)
		if f.Name == "" {
			bad(p+".name", "empty")
		} else if seen[f.Name] {
			bad(p+".name", "%q appears twice", f.Name)
		}
		seen[f.Name] = true
		switch f.Type {
		case Numeric, Categorical, Text, Timestamp:
			if f.Dim != 0 {
				bad(p+".dim", "only vector fields have a dim")
			}
		case Vector:
			vectors++
			if f.Dim <= 0 {
				bad(p+".dim", "a vector field needs dim ≥ 1, got %d", f.Dim)
			}
		default:
			bad(p+".type", "unknown type %q: want numeric, categorical, text, vector or timestamp", f.Type)
		}
	}
	if s.Label != "" {
		if i := s.Index(s.Label); i < 0 {
			bad("label", "no field named %q", s.Label)
		} else if t := s.Fields[i].Type; t != Numeric && t != Categorical {
			bad("label", "field %q is %s; a label is numeric or categorical", s.Label, t)
		}
	}
	if len(s.Classes) > 0 && (s.Label == "" || s.Index(s.Label) < 0 || s.Fields[s.Index(s.Label)].Type != Categorical) {
		bad("classes", "only a categorical label has classes")
	}
	if s.Weight != "" {
		if i := s.Index(s.Weight); i < 0 {
			bad("weight", "no field named %q", s.Weight)
		} else if s.Fields[i].Type != Numeric {
			bad("weight", "field %q is %s; weights are numeric", s.Weight, s.Fields[i].Type)
		}
	}
	for i, c := range s.Columns {
		if c != "" && s.Index(c) < 0 {
			bad(fmt.Sprintf("columns[%d]", i), "no field named %q", c)
		}
	}
	if len(s.Delimiter) > 1 {
		bad("delimiter", "want one character, got %q", s.Delimiter)
	}
	if f := s.format(); f == "libsvm" || f == "vector" {
		if vectors != 1 || s.Label == "" || len(s.Fields) != 2 {
			bad("fields", "format %s needs exactly two fields: a numeric label and one vector", f)
		}
	}
	return errors.Join(errs...)
}

// Value is one decoded field.
type Value struct {
	Num     float64   // numeric and timestamp fields (NaN when missing)
	Str     string    // categorical and text fields
	Vec     []float64 // vector fields
	Missing bool
}

// Row is a decoded record: one Value per schema field, in schema order.
type Row []Value

// NewRow returns a row sized for the schema.
func (s *Schema) NewRow() Row { return make(Row, len(s.Fields)) }

// Decode parses one encoded record into row, which must come from NewRow.
// A record that does not fit returns a *FieldError. A binary record
// (IsBinary: what flint ingest --encode writes) decodes whatever the text
// format, except for the raw "vector" format.
func (s *Schema) Decode(row Row, data []byte) error {
	for i := range row {
		row[i] = Value{Vec: row[i].Vec[:0]}
	}
	var err error
	switch f := s.format(); {
	case IsBinary(data) && f != "vector":
		err = s.decodeBinary(row, data) // binary.go: the encoding flint ingest --encode writes
	case f == "json":
		err = s.decodeJSON(row, data)
	case f == "csv":
		err = s.decodeCSV(row, data)
	case f == "libsvm":
		err = s.decodeLIBSVM(row, data)
	case f == "vector":
		err = s.decodeVector(row, data)
	default:
		err = fmt.Errorf("unknown format %q", s.Format)
	}
	if err != nil {
		return err
	}
	return s.checkRequired(row)
}

func (s *Schema) checkRequired(row Row) error {
	for i, f := range s.Fields {
		if row[i].Missing && !f.Optional {
			return fieldErr(f.Name, "missing")
		}
	}
	return nil
}

// DecodeMap fills row from a JSON-like map (as serving receives rows).
func (s *Schema) DecodeMap(row Row, m map[string]any) error {
	for i := range row {
		row[i] = Value{Vec: row[i].Vec[:0]}
	}
	for k := range m {
		if !s.IgnoreUnknown && s.Index(k) < 0 {
			return fieldErr(k, "not in the schema")
		}
	}
	for i, f := range s.Fields {
		v, ok := m[f.Name]
		if !ok || v == nil {
			row[i] = missing(f, row[i])
			continue
		}
		if err := setAny(&row[i], f, v); err != nil {
			return err
		}
	}
	return s.checkRequired(row)
}

func missing(f Field, v Value) Value {
	SetNull(&v)
	return v
}

// setAny sets dst from one value encoding/json decoded (with UseNumber, as
// Schema.Decode does, numbers are json.Number: their literal text). A
// float64 is taken as its shortest decimal text.
func setAny(dst *Value, f Field, v any) error {
	switch x := v.(type) {
	case json.Number:
		return SetNumber(dst, f, string(x))
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fieldErr(f.Name, "%v is not a finite number", x)
		}
		return SetNumber(dst, f, strconv.AppendFloat(nil, x, 'g', -1, 64))
	case string:
		return SetString(dst, f, x)
	case bool:
		return SetBool(dst, f, x)
	case []any:
		if f.Type != Vector {
			return WrongType(f, "an array")
		}
		if len(x) != f.Dim {
			return fieldErr(f.Name, "want %d numbers, got %d", f.Dim, len(x))
		}
		for j, e := range x {
			var err error
			switch n := e.(type) {
			case json.Number:
				err = AppendElement(dst, f, j, string(n))
			case float64:
				if math.IsNaN(n) || math.IsInf(n, 0) {
					return fieldErr(f.Name, "element %d is not finite", j)
				}
				err = AppendElement(dst, f, j, strconv.AppendFloat(nil, n, 'g', -1, 64))
			default:
				return fieldErr(f.Name, "element %d: want a number, got %s", j, jsonKind(e))
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	return WrongType(f, jsonKind(v))
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func setNum(dst *Value, f Field, n float64) error {
	if math.IsNaN(n) || math.IsInf(n, 0) {
		return fieldErr(f.Name, "%v is not a finite number", n)
	}
	dst.Num = n
	return nil
}

// setText parses a CSV cell into a field.
func setText(dst *Value, f Field, cell string) error {
	cell = strings.TrimSpace(cell)
	if cell == "" {
		*dst = missing(f, *dst)
		return nil
	}
	switch f.Type {
	case Numeric:
		n, err := strconv.ParseFloat(cell, 64)
		if err != nil {
			return fieldErr(f.Name, "want a number, got %q", cell)
		}
		return setNum(dst, f, n)
	case Categorical, Text:
		dst.Str = cell
		return nil
	case Timestamp:
		return setTime(dst, f, cell)
	case Vector:
		parts := strings.Fields(strings.ReplaceAll(cell, ";", " "))
		if len(parts) != f.Dim {
			return fieldErr(f.Name, "want %d numbers separated by spaces or ';', got %d", f.Dim, len(parts))
		}
		for j, p := range parts {
			n, err := strconv.ParseFloat(p, 64)
			if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
				return fieldErr(f.Name, "element %d: %q is not a finite number", j, p)
			}
			dst.Vec = append(dst.Vec, n)
		}
		return nil
	}
	return fieldErr(f.Name, "unknown type %q", f.Type)
}

func (s *Schema) decodeCSV(row Row, data []byte) error {
	delim := ","
	if s.Delimiter != "" {
		delim = s.Delimiter
	}
	if b := bytes.TrimRight(data, "\r\n"); bytes.IndexByte(b, '"') < 0 {
		return s.decodeCSVBytes(row, b, delim[0])
	}
	cols := s.Columns
	if len(cols) == 0 {
		cols = make([]string, len(s.Fields))
		for i, f := range s.Fields {
			cols[i] = f.Name
		}
	}
	return s.decodeCSVCells(row, splitCSV(strings.TrimRight(string(data), "\r\n"), delim[0]), cols)
}

// decodeCSVCells sets row from a record's cells, named by cols.
func (s *Schema) decodeCSVCells(row Row, cells, cols []string) error {
	if len(cells) != len(cols) {
		return &FieldError{Err: fmt.Errorf("%d columns, want %d", len(cells), len(cols))}
	}
	for i := range row {
		row[i] = missing(s.Fields[i], row[i])
	}
	for c, name := range cols {
		if name == "" {
			continue
		}
		i := s.Index(name)
		row[i].Missing, row[i].Num = false, 0
		if err := setText(&row[i], s.Fields[i], cells[c]); err != nil {
			return err
		}
	}
	return nil
}

// splitCSV splits a line on delim, honouring double-quoted cells ("" is a
// quote inside one).
func splitCSV(line string, delim byte) []string {
	if !strings.Contains(line, `"`) {
		return strings.Split(line, string(delim))
	}
	var cells []string
	var cur strings.Builder
	inQuote := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case inQuote && c == '"' && i+1 < len(line) && line[i+1] == '"':
			cur.WriteByte('"')
			i++
		case c == '"':
			inQuote = !inQuote
		case c == delim && !inQuote:
			cells = append(cells, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(cells, cur.String())
}

// labelAndVector returns the indices of the label and the vector field, for
// the libsvm and vector formats.
func (s *Schema) labelAndVector() (int, int) {
	li, vi := s.Index(s.Label), -1
	for i, f := range s.Fields {
		if f.Type == Vector {
			vi = i
		}
	}
	return li, vi
}

func (s *Schema) decodeLIBSVM(row Row, data []byte) error {
	li, vi := s.labelAndVector()
	fields := strings.Fields(string(data))
	if len(fields) == 0 {
		return &FieldError{Err: errors.New("empty line")}
	}
	y, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return fieldErr(s.Label, "want a number, got %q", fields[0])
	}
	row[li].Num = y
	f := s.Fields[vi]
	vec := row[vi].Vec[:0]
	for len(vec) < f.Dim {
		vec = append(vec, 0)
	}
	prev := 0
	for k, p := range fields[1:] {
		is, vs, ok := strings.Cut(p, ":")
		idx, err1 := strconv.Atoi(is)
		v, err2 := strconv.ParseFloat(vs, 64)
		if !ok || err1 != nil || err2 != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return fieldErr(f.Name, "entry %d %q: want index:value", k+1, p)
		}
		if idx <= prev || idx > f.Dim {
			return fieldErr(f.Name, "entry %d: index %d must increase and lie in 1..%d", k+1, idx, f.Dim)
		}
		prev = idx
		vec[idx-1] = v
	}
	row[vi].Vec = vec
	return nil
}

func (s *Schema) decodeVector(row Row, data []byte) error {
	li, vi := s.labelAndVector()
	f := s.Fields[vi]
	if len(data) != 8*(f.Dim+1) {
		return &FieldError{Err: fmt.Errorf("%d bytes, want %d (label and %d float64s)", len(data), 8*(f.Dim+1), f.Dim)}
	}
	row[li].Num = math.Float64frombits(binary.LittleEndian.Uint64(data))
	for j := 0; j < f.Dim; j++ {
		v := math.Float64frombits(binary.LittleEndian.Uint64(data[8*(j+1):]))
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fieldErr(f.Name, "element %d is not finite", j)
		}
		row[vi].Vec = append(row[vi].Vec, v)
	}
	return nil
}
