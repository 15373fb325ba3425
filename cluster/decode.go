package cluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Format says how a record value or a file line decodes into a row. The
// zero Format is CSV with the label in column 0. Format is a plain value so
// that it travels to remote workers with a dataset's sources.
type Format struct {
	// Kind is "csv" (default), "jsonl", "libsvm", or "custom" for a decoder
	// registered with RegisterDecoder.
	Kind string

	// Custom: the registered decoder's name and its encoded argument (for
	// instance a feature schema with its fitted pipeline).
	Decoder string
	Arg     []byte

	// CSV: Label is the column index of the label (default 0); NoLabel
	// means there is none (every column is a feature, labels are 0).
	// Weight, when WeightCol is true, is the column index of the sample
	// weight. Comma is the separator (default ','). Header skips the first
	// line of each file (files only).
	Label     int
	NoLabel   bool
	WeightCol bool
	Weight    int
	Comma     byte
	Header    bool

	// JSON lines: each value is an object with a numeric label field
	// (LabelField, default "label"), an optional weight field (WeightField),
	// and either a dense array (FeaturesField, default "features") or sparse
	// "indices" and "values" arrays (0-based).
	LabelField    string
	WeightField   string
	FeaturesField string

	// LIBSVM: "label index:value ..." with 1-based increasing indices. Rows
	// are sparse unless Cols is set and Dense is true.
	Dense bool
	// Cols fixes the number of features (required for dense LIBSVM; for
	// sparse data 0 means the largest index seen).
	Cols int

	// Float32 stores dense rows in float32 (Block.X32): half the memory,
	// each value rounded to the nearest float32 as it is decoded. Sparse
	// rows stay float64.
	Float32 bool
}

func (f Format) kind() string {
	if f.Kind == "" {
		return "csv"
	}
	return f.Kind
}

// Validate reports a Format that cannot decode anything.
func (f Format) Validate() error {
	switch f.kind() {
	case "csv", "jsonl":
	case "custom":
		_, err := f.rowDecoder()
		return err
	case "libsvm":
		if f.Dense && f.Cols <= 0 {
			return errors.New("cluster: dense LIBSVM needs Format.Cols")
		}
	default:
		return fmt.Errorf("cluster: unknown format %q: want csv, jsonl or libsvm", f.Kind)
	}
	if f.Label < 0 || f.Weight < 0 || f.Cols < 0 {
		return errors.New("cluster: Format column indices must not be negative")
	}
	return nil
}

// RowDecoder decodes one record value or file line into a row of a Builder.
// A decoder is used by one goroutine at a time, so it may keep scratch space.
// Errors say which field was wrong; the caller adds where the value was.
type RowDecoder interface {
	Decode(b *Builder, value []byte) error
	// Layout says whether rows are sparse and how many columns they have
	// (0: the width of the first dense row, or the largest sparse index + 1).
	Layout() (sparse bool, cols int)
}

var decoders = map[string]func(arg []byte) (RowDecoder, error){}

// RegisterDecoder makes a decoder factory known by name, for Format{Kind:
// "custom", Decoder: name, Arg: ...}. Like Register it is for package
// initialisation (so remote workers have the same decoders) and panics on a
// repeated or empty name.
func RegisterDecoder(name string, factory func(arg []byte) (RowDecoder, error)) {
	if name == "" || factory == nil {
		panic("cluster: RegisterDecoder: name and factory are required")
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := decoders[name]; dup {
		panic(fmt.Sprintf("cluster: decoder %q registered twice", name))
	}
	decoders[name] = factory
}

// rowDecoder returns a fresh decoder for the format.
func (f Format) rowDecoder() (RowDecoder, error) {
	if f.kind() != "custom" {
		return &builtinDecoder{f: f}, nil
	}
	registry.RLock()
	factory, ok := decoders[f.Decoder]
	registry.RUnlock()
	if !ok {
		return nil, fmt.Errorf("cluster: unknown decoder %q (is the package that registers it linked into this binary?)", f.Decoder)
	}
	d, err := factory(f.Arg)
	if err != nil {
		return nil, fmt.Errorf("cluster: decoder %s: %w", f.Decoder, err)
	}
	return d, nil
}

// newBuilder returns a builder suited to a decoder's layout and the
// format's precision.
func newBuilder(d RowDecoder, rowsHint int, f32 bool) *Builder {
	sparse, cols := d.Layout()
	switch {
	case sparse:
		return NewSparseBuilder(cols)
	case f32:
		return NewDense32Builder(cols, rowsHint)
	}
	return NewDenseBuilder(cols, rowsHint)
}

// builtinDecoder decodes the csv, jsonl and libsvm formats, reusing scratch
// space between rows.
type builtinDecoder struct {
	f   Format
	x   []float64
	ind []int32
	val []float64
}

func (d *builtinDecoder) Layout() (bool, int) {
	return d.f.kind() == "libsvm" && !d.f.Dense, d.f.Cols
}

// Decode appends the row in line to b.
func (d *builtinDecoder) Decode(b *Builder, line []byte) error {
	switch d.f.kind() {
	case "jsonl":
		return d.decodeJSON(b, line)
	case "libsvm":
		return d.decodeLIBSVM(b, line)
	default:
		return d.decodeCSV(b, line)
	}
}

func parseFloat(field []byte) (float64, error) {
	v, err := strconv.ParseFloat(string(bytes.TrimSpace(field)), 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) {
			return 0, ne.Err
		}
		return 0, err
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, errors.New("not a finite number")
	}
	return v, nil
}

func (d *builtinDecoder) decodeCSV(b *Builder, line []byte) error {
	comma := d.f.Comma
	if comma == 0 {
		comma = ','
	}
	line = bytes.TrimRight(line, "\r")
	d.x = d.x[:0]
	y, w := 0.0, 1.0
	col := 0
	for {
		i := bytes.IndexByte(line, comma)
		field := line
		if i >= 0 {
			field = line[:i]
		}
		v, err := parseFloat(field)
		if err != nil {
			return fmt.Errorf("column %d %q: %v", col+1, truncate(field), err)
		}
		switch {
		case !d.f.NoLabel && col == d.f.Label:
			y = v
		case d.f.WeightCol && col == d.f.Weight:
			if v < 0 {
				return fmt.Errorf("column %d: weight %v is negative", col+1, v)
			}
			w = v
		default:
			d.x = append(d.x, v)
		}
		col++
		if i < 0 {
			break
		}
		line = line[i+1:]
	}
	if !d.f.NoLabel && d.f.Label >= col {
		return fmt.Errorf("label column %d missing: the line has %d columns", d.f.Label+1, col)
	}
	return b.AddDense(d.x, y, w)
}

func truncate(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}

func (d *builtinDecoder) decodeJSON(b *Builder, line []byte) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(line, &obj); err != nil {
		return fmt.Errorf("not a JSON object: %v", err)
	}
	num := func(field string, def float64) (float64, error) {
		raw, ok := obj[field]
		if !ok {
			if math.IsNaN(def) {
				return 0, fmt.Errorf("field %q is missing", field)
			}
			return def, nil
		}
		var v float64
		if err := json.Unmarshal(raw, &v); err != nil {
			return 0, fmt.Errorf("field %q: %s is not a number", field, truncate(raw))
		}
		return v, nil
	}
	labelField := d.f.LabelField
	if labelField == "" {
		labelField = "label"
	}
	y := 0.0
	if !d.f.NoLabel {
		var err error
		if y, err = num(labelField, math.NaN()); err != nil {
			return err
		}
	}
	w := 1.0
	if d.f.WeightField != "" {
		var err error
		if w, err = num(d.f.WeightField, 1); err != nil {
			return err
		}
		if w < 0 {
			return fmt.Errorf("field %q: weight %v is negative", d.f.WeightField, w)
		}
	}
	featField := d.f.FeaturesField
	if featField == "" {
		featField = "features"
	}
	if raw, ok := obj[featField]; ok {
		d.x = d.x[:0]
		if err := json.Unmarshal(raw, &d.x); err != nil {
			return fmt.Errorf("field %q: want an array of numbers: %v", featField, err)
		}
		if b.sparse {
			return fmt.Errorf("field %q: dense features in a sparse dataset", featField)
		}
		return b.AddDense(d.x, y, w)
	}
	rawI, okI := obj["indices"]
	rawV, okV := obj["values"]
	if !okI || !okV {
		return fmt.Errorf("want field %q, or fields \"indices\" and \"values\"", featField)
	}
	d.ind, d.val = d.ind[:0], d.val[:0]
	if err := json.Unmarshal(rawI, &d.ind); err != nil {
		return fmt.Errorf("field \"indices\": want an array of integers: %v", err)
	}
	if err := json.Unmarshal(rawV, &d.val); err != nil {
		return fmt.Errorf("field \"values\": want an array of numbers: %v", err)
	}
	if len(d.ind) != len(d.val) {
		return fmt.Errorf("%d indices but %d values", len(d.ind), len(d.val))
	}
	for _, j := range d.ind {
		if j < 0 {
			return fmt.Errorf("field \"indices\": negative index %d", j)
		}
	}
	if !b.sparse {
		return errors.New("sparse features in a dense dataset")
	}
	return b.AddSparse(d.ind, d.val, y, w)
}

func (d *builtinDecoder) decodeLIBSVM(b *Builder, line []byte) error {
	fields := bytes.Fields(line)
	if len(fields) == 0 {
		return errors.New("empty line")
	}
	y, err := parseFloat(fields[0])
	if err != nil {
		return fmt.Errorf("label %q: %v", truncate(fields[0]), err)
	}
	d.ind, d.val = d.ind[:0], d.val[:0]
	for k, f := range fields[1:] {
		i := bytes.IndexByte(f, ':')
		if i <= 0 {
			return fmt.Errorf("feature %d %q: want index:value", k+1, truncate(f))
		}
		idx, err := strconv.Atoi(string(f[:i]))
		if err != nil || idx < 1 || idx > math.MaxInt32 {
			return fmt.Errorf("feature %d %q: index must be an integer ≥ 1", k+1, truncate(f))
		}
		v, err := parseFloat(f[i+1:])
		if err != nil {
			return fmt.Errorf("feature %d %q: %v", k+1, truncate(f), err)
		}
		d.ind = append(d.ind, int32(idx-1))
		d.val = append(d.val, v)
	}
	if !d.f.Dense {
		return b.AddSparse(d.ind, d.val, y, 1)
	}
	if cap(d.x) < d.f.Cols {
		d.x = make([]float64, d.f.Cols)
	}
	d.x = d.x[:d.f.Cols]
	clear(d.x)
	prev := int32(-1)
	for k, j := range d.ind {
		if j <= prev {
			return fmt.Errorf("feature index %d after %d: indices must increase", j+1, prev+1)
		}
		if int(j) >= d.f.Cols {
			return fmt.Errorf("feature index %d beyond %d features", j+1, d.f.Cols)
		}
		d.x[j] = d.val[k]
		prev = j
	}
	return b.AddDense(d.x, y, 1)
}
