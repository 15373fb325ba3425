package features

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
)

// vecSchema is Fashion-MNIST's: a numeric label and a vector.
var vecSchema = Schema{Format: "csv", Fields: []Field{{Name: "label", Type: Numeric}, {Name: "pixels", Type: Vector, Dim: 3}}, Label: "label"}

// mixedSchema has a categorical label between numeric fields, an optional
// numeric field and an optional vector.
var mixedSchema = Schema{Format: "csv", Fields: []Field{
	{Name: "x", Type: Numeric}, {Name: "class", Type: Categorical}, {Name: "v", Type: Vector, Dim: 2, Optional: true},
	{Name: "w", Type: Numeric, Optional: true}}, Label: "class", Weight: "w"}

// le is a little-endian byte string of the given values: uint8s as bytes,
// uint16, uint32, float32 and float64 in their sizes.
func le(vals ...any) []byte {
	var b []byte
	for _, v := range vals {
		switch x := v.(type) {
		case int:
			b = append(b, byte(x))
		case uint16:
			b = binary.LittleEndian.AppendUint16(b, x)
		case uint32:
			b = binary.LittleEndian.AppendUint32(b, x)
		case float32:
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
		case float64:
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
		case string:
			b = append(b, x...)
		default:
			panic(fmt.Sprintf("le: %T", v))
		}
	}
	return b
}

func decodeText(t *testing.T, s Schema, line string) Row {
	t.Helper()
	row := s.NewRow()
	if err := s.Decode(row, []byte(line)); err != nil {
		t.Fatalf("decode %q: %v", line, err)
	}
	return row
}

// TestBinaryLayout pins the bytes of the encoding (docs/job-spec.md
// documents them).
func TestBinaryLayout(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		name   string
		schema Schema
		line   string
		enc    Encoding
		want   []byte
	}{
		{"f64", vecSchema, "7,0.1 -2 255", Float64,
			le(0xFB, 1, 8, 1, uint32(3), 7.0, 0.1, -2.0, 255.0)},
		{"f32 rounds the values, not the label", vecSchema, "0.1,0.1 -2 1e-50", Float32,
			le(0xFB, 1, 4, 1, uint32(3), 0.1, float32(0.1), float32(-2), float32(0))},
		{"categorical label, missing optional fields", mixedSchema, "1.5,shirt,,", Float32,
			le(0xFB, 1, 4, 2, uint32(4), uint16(5), "shirt", float32(1.5), float32(nan), float32(nan), float32(nan))},
		{"missing label", Schema{Format: "csv", Fields: []Field{{Name: "y", Type: Numeric, Optional: true}, {Name: "x", Type: Numeric}}, Label: "y"},
			",3", Float64, le(0xFB, 1, 8, 0, uint32(1), 3.0)},
		{"no label field", Schema{Format: "json", Fields: []Field{{Name: "a", Type: Numeric}, {Name: "b", Type: Vector, Dim: 1}}},
			`{"a": 1, "b": [2]}`, Float64, le(0xFB, 1, 8, 0, uint32(2), 1.0, 2.0)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.schema.AppendBinary(nil, decodeText(t, c.schema, c.line), c.enc)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, c.want) {
				t.Fatalf("encoded\n% x\nwant\n% x", got, c.want)
			}
		})
	}
}

// round32 is what an f32 binary record makes of a text row: every value
// but the label rounded to a float32.
func round32(s Schema, row Row) Row {
	out := make(Row, len(row))
	for i, v := range row {
		out[i] = Value{Num: v.Num, Str: v.Str, Missing: v.Missing, Vec: append([]float64(nil), v.Vec...)}
		if s.Fields[i].Name == s.Label {
			continue
		}
		if !v.Missing {
			out[i].Num = float64(float32(v.Num))
		}
		for j := range out[i].Vec {
			out[i].Vec[j] = float64(float32(out[i].Vec[j]))
		}
	}
	return out
}

// TestBinaryRoundTrip: a text record and its binary encoding decode to the
// same row, bit for bit with f64, and rounded to float32 (but the label)
// with f32.
func TestBinaryRoundTrip(t *testing.T) {
	cases := []struct {
		schema Schema
		lines  []string
	}{
		{vecSchema, []string{"7,0.1 -2 255", "-1.5e300,1e-320 0 -0", "0,3.4028235e38 1 2"}},
		{mixedSchema, []string{"1.5,shirt,,", "-2,coat,0.25;1e10,0.5", "0,pants,1 2,"}},
		{Schema{Format: "json", Fields: []Field{{Name: "y", Type: Numeric, Optional: true}, {Name: "x", Type: Numeric}}, Label: "y"},
			[]string{`{"x": 3}`, `{"y": 0.3, "x": 1e-7}`}},
	}
	for _, c := range cases {
		for _, enc := range []Encoding{Float64, Float32} {
			for _, line := range c.lines {
				text := decodeText(t, c.schema, line)
				rec, err := c.schema.AppendBinary(nil, text, enc)
				if err != nil {
					t.Fatalf("%s %q: %v", enc, line, err)
				}
				if !IsBinary(rec) {
					t.Fatalf("%s %q: the record does not start with the binary magic", enc, line)
				}
				got := c.schema.NewRow()
				if err := c.schema.Decode(got, rec); err != nil {
					t.Fatalf("%s %q: decode: %v", enc, line, err)
				}
				want := text
				if enc == Float32 {
					want = round32(c.schema, text)
				}
				if !sameRow(got, want) {
					t.Errorf("%s %q: decoded %+v, want %+v", enc, line, got, want)
				}
			}
		}
	}
}

func TestBinaryDecodeErrors(t *testing.T) {
	valid := le(0xFB, 1, 8, 1, uint32(3), 7.0, 1.0, 2.0, 3.0)
	nan, inf := math.NaN(), math.Inf(1)
	cases := []struct {
		name   string
		schema Schema
		rec    []byte
		want   string // the error, exactly
	}{
		{"empty header", vecSchema, []byte{0xFB}, "binary record: 1 bytes, shorter than the 8-byte header"},
		{"version", vecSchema, le(0xFB, 2, 8, 1, uint32(3)), "binary record: version 2; this Flint reads version 1"},
		{"element size", vecSchema, le(0xFB, 1, 2, 1, uint32(3)), "binary record: element size 2; want 4 (float32) or 8 (float64)"},
		{"count", vecSchema, le(0xFB, 1, 8, 1, uint32(4), 7.0, 1.0, 2.0, 3.0, 4.0), "binary record: 4 values; the schema's fields hold 3"},
		{"short values", vecSchema, valid[:len(valid)-1], "binary record: 23 bytes of values; 3 f64 values take 24"},
		{"trailing bytes", vecSchema, append(append([]byte(nil), valid...), 0), "binary record: 25 bytes of values; 3 f64 values take 24"},
		{"f32 count of f64 bytes", vecSchema, le(0xFB, 1, 4, 1, uint32(3), 7.0, 1.0, 2.0, 3.0), "binary record: 24 bytes of values; 3 f32 values take 12"},
		{"label kind", vecSchema, le(0xFB, 1, 8, 3, uint32(3)), "binary record: label kind 3; want 0 (none), 1 (number) or 2 (text)"},
		{"short label", vecSchema, le(0xFB, 1, 8, 1, uint32(3), 7.0)[:12], `field "label": binary record: 4 bytes left for an 8-byte label`},
		{"missing label", vecSchema, le(0xFB, 1, 8, 0, uint32(3), 1.0, 2.0, 3.0), `field "label": missing`},
		{"NaN label", vecSchema, le(0xFB, 1, 8, 1, uint32(3), nan, 1.0, 2.0, 3.0), `field "label": NaN is not a finite number`},
		{"text label for a numeric field", vecSchema, le(0xFB, 1, 8, 2, uint32(3), uint16(1), "a", 1.0, 2.0, 3.0), `field "label": binary record: a text label for a numeric field`},
		{"numeric label for a categorical field", mixedSchema, le(0xFB, 1, 8, 1, uint32(4), 1.0, 1.0, 2.0, 3.0, 4.0), `field "class": binary record: a numeric label for a categorical field`},
		{"label text overruns", mixedSchema, le(0xFB, 1, 8, 2, uint32(4), uint16(40), "shirt"), `field "class": binary record: the label's text runs past the end of the record`},
		{"a label and no label field", Schema{Fields: []Field{{Name: "a", Type: Numeric}}}, le(0xFB, 1, 8, 1, uint32(1), 1.0, 2.0), "binary record: it carries a label, and the schema has none"},
		{"Inf element", vecSchema, le(0xFB, 1, 8, 1, uint32(3), 7.0, 1.0, inf, 3.0), `field "pixels": element 1 is +Inf: a vector is missing as a whole (every element NaN) or not at all`},
		{"f32 NaN element", vecSchema, le(0xFB, 1, 4, 1, uint32(3), 7.0, float32(1), float32(2), float32(nan)), `field "pixels": element 2 is NaN: a vector is missing as a whole (every element NaN) or not at all`},
		{"NaN required vector", vecSchema, le(0xFB, 1, 4, 1, uint32(3), 7.0, float32(nan), float32(nan), float32(nan)), `field "pixels": NaN, a missing value, in a required field`},
		{"NaN required number", mixedSchema, le(0xFB, 1, 8, 2, uint32(4), uint16(1), "a", nan, 1.0, 2.0, 3.0), `field "x": NaN, a missing value, in a required field`},
		{"Inf number", mixedSchema, le(0xFB, 1, 4, 2, uint32(4), uint16(1), "a", float32(inf), float32(1), float32(2), float32(3)), `field "x": +Inf is not a finite number`},
		{"schema without a binary encoding", houseSchema, valid, `binary record for a schema without a binary encoding: fields[2] "city" is categorical: a binary record holds a label and numeric or vector fields`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.schema.Decode(c.schema.NewRow(), c.rec)
			var fe *FieldError
			if !errors.As(err, &fe) || err.Error() != c.want {
				t.Fatalf("Decode = %v, want the *FieldError %q", err, c.want)
			}
		})
	}
	row := vecSchema.NewRow()
	if err := vecSchema.Decode(row, valid); err != nil || row[0].Num != 7 || len(row[1].Vec) != 3 || row[1].Vec[2] != 3 {
		t.Fatalf("the valid record: %v, %+v", err, row)
	}
	// The raw vector format reads its own records, magic byte or not.
	raw := Schema{Format: "vector", Fields: vecSchema.Fields, Label: "label"}
	if err := raw.Decode(raw.NewRow(), le(math.Float64frombits(0xFB), 1.0, 2.0, 3.0)); err != nil {
		t.Fatalf("a raw vector record whose first byte is 0xFB: %v", err)
	}
}

func TestAppendBinaryErrors(t *testing.T) {
	row := decodeText(t, vecSchema, "1,1e39 0 0")
	if _, err := vecSchema.AppendBinary(nil, row, Float32); err == nil || err.Error() != `field "pixels": element 0: 1e+39 is beyond float32's range (encode as f64)` {
		t.Fatalf("f32 of 1e39: %v", err)
	}
	if _, err := vecSchema.AppendBinary(nil, row, Float64); err != nil {
		t.Fatalf("f64 of 1e39: %v", err)
	}
	inf := Row{{Num: 1}, {Vec: []float64{1, math.Inf(-1), 0}}}
	if _, err := vecSchema.AppendBinary(nil, inf, Float64); err == nil || err.Error() != `field "pixels": element 1: -Inf is not a finite number` {
		t.Fatalf("a row holding -Inf: %v", err)
	}
	short := Row{{Num: 1}, {Vec: []float64{1, 2}}}
	if _, err := vecSchema.AppendBinary(nil, short, Float64); err == nil || err.Error() != `field "pixels": 2 elements, want 3` {
		t.Fatalf("a row with a short vector: %v", err)
	}
	nan := decodeText(t, mixedSchema, "1,a,,")
	nan[0].Num = math.NaN()
	if _, err := mixedSchema.AppendBinary(nil, nan, Float32); err == nil || err.Error() != `field "x": NaN is not a finite number` {
		t.Fatalf("a present NaN: %v", err)
	}
	if _, err := houseSchema.AppendBinary(nil, houseSchema.NewRow(), Float64); err == nil || !strings.Contains(err.Error(), `"city" is categorical`) {
		t.Fatalf("a schema with a categorical field: %v", err)
	}
	if _, err := vecSchema.AppendBinary(nil, row, Encoding(2)); err == nil {
		t.Fatal("encoding 2 accepted")
	}
	long := mixedSchema.NewRow()
	long[1].Str = strings.Repeat("a", 70000)
	long[2].Missing, long[3].Missing = true, true
	if _, err := mixedSchema.AppendBinary(nil, long, Float64); err == nil || !strings.Contains(err.Error(), "longer than a binary record's 65535") {
		t.Fatalf("a 70 000-byte label: %v", err)
	}
	for _, s := range []string{"f32", "f64"} {
		if e, err := ParseEncoding(s); err != nil || e.String() != s {
			t.Fatalf("ParseEncoding(%q) = %v, %v", s, e, err)
		}
	}
	if _, err := ParseEncoding("f16"); err == nil || err.Error() != `unknown encoding "f16": want f32 or f64` {
		t.Fatalf("ParseEncoding(f16): %v", err)
	}
}

// FuzzBinaryDecode: any bytes decode or fail without panicking; what
// decodes encodes again (with the record's element size) to a record that
// decodes to the same row, and to the same bytes when no value is missing.
func FuzzBinaryDecode(f *testing.F) {
	for _, s := range []Schema{vecSchema, mixedSchema} {
		for _, enc := range []Encoding{Float32, Float64} {
			lines := map[bool][]string{false: {"7,0.1 -2 255", "1e300,1 2 3"}, true: {"1.5,shirt,,", "-2,coat,0.25;1e10,0.5"}}[s.Label == "class"]
			for _, line := range lines {
				row := s.NewRow()
				if err := s.Decode(row, []byte(line)); err != nil {
					f.Fatal(err)
				}
				rec, err := s.AppendBinary(nil, row, enc)
				if err != nil {
					f.Fatal(err)
				}
				f.Add(rec, s.Label == "class")
			}
		}
	}
	f.Add([]byte{0xFB, 1, 4, 2, 4, 0, 0, 0, 0xff, 0xff}, true)
	f.Fuzz(func(t *testing.T, data []byte, mixed bool) {
		s := vecSchema
		if mixed {
			s = mixedSchema
		}
		row := s.NewRow()
		if err := s.Decode(row, data); err != nil || !IsBinary(data) {
			return
		}
		re, err := s.AppendBinary(nil, row, Encoding(data[2]))
		if err != nil {
			t.Fatalf("a decoded record does not encode again: %v", err)
		}
		again := s.NewRow()
		if err := s.Decode(again, re); err != nil || !sameRow(row, again) {
			t.Fatalf("re-encoded record decodes to %+v (%v), want %+v", again, err, row)
		}
		complete := true
		for _, v := range row {
			complete = complete && !v.Missing
		}
		if complete && !bytes.Equal(re, data) {
			t.Fatalf("record\n% x\nencodes again as\n% x", data, re)
		}
	})
}

// TestIngestEncode: flint ingest --encode appends each validated line as a
// binary record, and refuses a schema with no binary encoding, a cell that
// is not a number and a value f32 cannot hold, naming file, line and field.
func TestIngestEncode(t *testing.T) {
	ctx := context.Background()
	l, err := disk.Open(disk.Config{Dir: t.TempDir(), DefaultPartitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	in := "label,pixels\n7,0.1 -2 255\n3,1 2 3\n"
	rep, err := Ingest(ctx, l, strings.NewReader(in), IngestOptions{Schema: vecSchema, Topic: "px", Name: "px.csv", Header: true, Encode: Float32})
	if err != nil || rep.Appended != 2 {
		t.Fatalf("ingest: %+v, %v", rep, err)
	}
	recs, err := l.Read(ctx, "px", 0, 0, log.ReadOptions{MaxRecords: 10, MaxBytes: 1 << 20})
	if err != nil || len(recs) != 2 {
		t.Fatalf("read back %d records: %v", len(recs), err)
	}
	for i, line := range []string{"7,0.1 -2 255", "3,1 2 3"} {
		want, _ := vecSchema.AppendBinary(nil, decodeText(t, vecSchema, line), Float32)
		if !bytes.Equal(recs[i].Value, want) {
			t.Fatalf("record %d\n% x\nwant\n% x", i, recs[i].Value, want)
		}
	}
	cases := []struct {
		schema Schema
		in     string
		enc    Encoding
		want   string
	}{
		{vecSchema, "1,1 2 3\n2,1 x 3\n", Float64, `features: ingest in.csv:2: field "pixels": element 1: "x" is not a finite number (1 records before it were acknowledged)`},
		{vecSchema, "1,1 2 3\n2,1 2 3\n3,1 2 4e38\n", Float32, `features: ingest in.csv:3: field "pixels": element 2: 4e+38 is beyond float32's range (encode as f64) (2 records before it were acknowledged)`},
		{houseSchema, `{"rooms": 1}`, Float32, `features: ingest as f32 binary records: fields[2] "city" is categorical: a binary record holds a label and numeric or vector fields`},
	}
	for _, c := range cases {
		_, err := Ingest(ctx, l, strings.NewReader(c.in), IngestOptions{Schema: c.schema, Topic: "bad", Name: "in.csv", Encode: c.enc})
		if err == nil || err.Error() != c.want {
			t.Errorf("ingest %q: %v, want %q", c.in, err, c.want)
		}
	}
}

// TestBinaryTopicLoads: a topic of binary records caches, through both of
// the pipeline's decoders, the rows its CSV twin caches, and a bad record
// fails the load naming its topic, partition and offset (or is skipped and
// counted with skipBad).
func TestBinaryTopicLoads(t *testing.T) {
	ctx := context.Background()
	l, err := disk.Open(disk.Config{Dir: t.TempDir(), DefaultPartitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s := Schema{Format: "csv", Fields: []Field{{Name: "label", Type: Numeric}, {Name: "pixels", Type: Vector, Dim: 16}}, Label: "label"}
	r := rand.New(rand.NewPCG(3, 4))
	var in strings.Builder
	for range 500 {
		fmt.Fprintf(&in, "%d,", r.IntN(10))
		for j := range 16 {
			if j > 0 {
				in.WriteByte(' ')
			}
			fmt.Fprintf(&in, "%.6g", r.NormFloat64()*100)
		}
		in.WriteByte('\n')
	}
	for topic, enc := range map[string]Encoding{"text": 0, "bin": Float64} {
		if _, err := Ingest(ctx, l, strings.NewReader(in.String()), IngestOptions{Schema: s, Topic: topic, Encode: enc}); err != nil {
			t.Fatal(err)
		}
	}
	e := cluster.NewEngine(cluster.Config{Workers: 2})
	defer e.Close()
	spec := []TransformSpec{{Type: "minmax_scaler", Inputs: []string{"pixels"}, Output: "scaled"}}
	rows := func(topic string, raw, skipBad bool) ([][]float64, int, error) {
		p, err := New(s, spec)
		if err != nil {
			t.Fatal(err)
		}
		var fm cluster.Format
		if raw {
			fm, _ = p.RawFormat(skipBad)
		} else {
			src, err := cluster.PlanLog(ctx, l, topic, cluster.LogOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Fit(ctx, e, l, src, FitOptions{SkipBad: skipBad}); err != nil {
				return nil, 0, err
			}
			fm, _ = p.Format(skipBad)
		}
		ds, err := e.LoadLog(ctx, l, topic, cluster.LogOptions{Format: fm})
		if err != nil {
			return nil, 0, err
		}
		defer e.Drop(ds)
		var out [][]float64
		for i := range ds.NumPartitions() {
			b, err := e.Block(ds, i)
			if err != nil {
				t.Fatal(err)
			}
			for j := range b.Rows {
				out = append(out, append(b.Row(j), b.Y[j]))
			}
		}
		return out, ds.Skipped(), nil
	}
	for _, raw := range []bool{true, false} {
		text, _, err := rows("text", raw, false)
		if err != nil {
			t.Fatal(err)
		}
		bin, _, err := rows("bin", raw, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(text) != 500 || len(bin) != len(text) {
			t.Fatalf("raw=%v: %d text rows, %d binary rows", raw, len(text), len(bin))
		}
		for i := range text {
			if !sameBits(text[i], bin[i]) {
				t.Fatalf("raw=%v: row %d from binary records %v, from text %v", raw, i, bin[i], text[i])
			}
		}
	}
	good, _ := s.AppendBinary(nil, decodeText(t, s, "1,"+strings.TrimSpace(strings.Repeat("1 ", 16))), Float32)
	if err := l.Append(ctx, "bin", []log.Record{{Value: good[:len(good)-4]}, {Value: good}}); err != nil {
		t.Fatal(err)
	}
	for _, raw := range []bool{true, false} {
		_, _, err := rows("bin", raw, false)
		if err == nil || !strings.Contains(err.Error(), "bin/0@500: binary record: 60 bytes of values; 16 f32 values take 64") {
			t.Fatalf("raw=%v: load over a short record: %v, want its error at bin/0@500", raw, err)
		}
		got, skipped, err := rows("bin", raw, true)
		if err != nil || len(got) != 501 || skipped != 1 {
			t.Fatalf("raw=%v, skip bad: %d rows, %d skipped, %v; want 501 and 1", raw, len(got), skipped, err)
		}
	}
}

func sameBits(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

// TestWiden checks the unrolled widening loops' finiteness flag at every
// position of a run that is not a multiple of the unrolling.
func TestWiden(t *testing.T) {
	specials := []float64{math.Inf(1), math.Inf(-1), math.NaN(), math.MaxFloat32, -math.SmallestNonzeroFloat32, 0, math.MaxFloat64, 1e-310}
	for n := 1; n <= 9; n++ {
		for k := range n {
			for _, x := range specials {
				for _, enc := range []Encoding{Float32, Float64} {
					vals := make([]float64, n)
					vals[k] = x
					var b []byte
					for _, v := range vals {
						if enc == Float32 {
							b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(v)))
						} else {
							b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
						}
					}
					dst := make([]float64, n)
					var finite bool
					want := x
					if enc == Float32 {
						finite = widen32(dst, b)
						want = float64(float32(x))
					} else {
						finite = widen64(dst, b)
					}
					if finite != !(math.IsNaN(want) || math.IsInf(want, 0)) {
						t.Fatalf("%s, %d values, %v at %d: finite = %v", enc, n, x, k, finite)
					}
					if math.Float64bits(dst[k]) != math.Float64bits(want) && !math.IsNaN(want) {
						t.Fatalf("%s, %d values, %v at %d: decoded %v", enc, n, x, k, dst[k])
					}
				}
			}
		}
	}
}
