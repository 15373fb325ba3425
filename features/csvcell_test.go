package features

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

var csvTestSchemas = []Schema{
	{Format: "csv", Fields: []Field{
		{Name: "label", Type: Numeric},
		{Name: "v", Type: Vector, Dim: 3, Optional: true},
		{Name: "c", Type: Categorical, Optional: true},
		{Name: "x", Type: Numeric, Optional: true},
	}, Label: "label"},
	{Format: "csv", Delimiter: ";", Columns: []string{"x", "", "label"}, Fields: []Field{
		{Name: "label", Type: Numeric},
		{Name: "x", Type: Numeric, Optional: true},
	}, Label: "label"},
}

// decodeCSVGeneral decodes a record by the general path (a string per
// cell, strconv for numbers): the oracle the byte path must match.
func decodeCSVGeneral(s *Schema, row Row, data []byte) error {
	for i := range row {
		row[i] = Value{Vec: row[i].Vec[:0]}
	}
	delim := ","
	if s.Delimiter != "" {
		delim = s.Delimiter
	}
	cols := s.Columns
	if len(cols) == 0 {
		for _, f := range s.Fields {
			cols = append(cols, f.Name)
		}
	}
	if err := s.decodeCSVCells(row, strings.Split(strings.TrimRight(string(data), "\r\n"), delim), cols); err != nil {
		return err
	}
	return s.checkRequired(row)
}

func sameDecode(t *testing.T, s *Schema, rec []byte) {
	t.Helper()
	if bytes.IndexByte(rec, '"') >= 0 {
		return // quoted records take the general path anyway
	}
	got, want := s.NewRow(), s.NewRow()
	gotErr, wantErr := s.Decode(got, rec), decodeCSVGeneral(s, want, rec)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("record %q: error %v, the general path's %v", rec, gotErr, wantErr)
	}
	if gotErr != nil {
		return
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Missing != w.Missing || g.Str != w.Str || math.Float64bits(g.Num) != math.Float64bits(w.Num) || len(g.Vec) != len(w.Vec) {
			t.Fatalf("record %q field %s: %+v, the general path's %+v", rec, s.Fields[i].Name, g, w)
		}
		for j := range g.Vec {
			if math.Float64bits(g.Vec[j]) != math.Float64bits(w.Vec[j]) {
				t.Fatalf("record %q field %s element %d: %v, the general path's %v", rec, s.Fields[i].Name, j, g.Vec[j], w.Vec[j])
			}
		}
	}
}

// TestCSVBytePathMatchesGeneral checks the byte path on the spellings
// where JSON numbers and strconv differ, on separators and on errors.
func TestCSVBytePathMatchesGeneral(t *testing.T) {
	recs := []string{
		"1,0 0 0,a,2.5",
		"1,0;0;0,a,2.5\r\n",
		"-0,1e3 -2.5E-3 0.1,,",
		"+1,.5 5. 0x1p-2,b, 7 ",
		"1,1 2,a,3",                       // too few elements
		"1,1 2 3 4,a,3",                   // too many
		"1,1 x 3,a,3",                     // not a number
		"1,1 inf 3,a,3",                   // not finite
		"1,1 NaN 3,a,3",                   // not finite
		"1,01 1_0 3,a,3",                  // strconv rejects both
		"1,1\t2\v3,a,3",                   // ASCII white space
		"1,1\u00a02 3,a,3",                // a Unicode space: the general path
		"1e400,1 2 3,a,3",                 // out of range
		"1,1e-400 2 3,a,3",                // underflow to zero
		"1,123456789012345678901 2 3,a,3", // more digits than the fast path keeps
		",1 2 3,a,3",                      // missing label
		"1,1 2 3,a",                       // too few columns
		"1,1 2 3,a,3,4",                   // too many
		"x,1 2 3,a,3",
		"1,,,",
		"2;skip;1\n",
	}
	for _, s := range csvTestSchemas {
		for _, r := range recs {
			sameDecode(t, &s, []byte(r))
		}
	}
}

func FuzzCSVDecode(f *testing.F) {
	for _, r := range []string{"1,0 0 0,a,2.5", "+1,.5;5. 0x1p-2,b, 7 ", "1;x;2", "1,1\u00a02 3,a,3"} {
		f.Add(r)
	}
	f.Fuzz(func(t *testing.T, rec string) {
		for _, s := range csvTestSchemas {
			sameDecode(t, &s, []byte(rec))
		}
	})
}

// BenchmarkDecodeCSVVector decodes Fashion-MNIST-shaped records: a label
// and 784 pixel values.
//
//	go test ./features -run '^$' -bench DecodeCSVVector
func BenchmarkDecodeCSVVector(b *testing.B) {
	s := Schema{Format: "csv", Fields: []Field{{Name: "label", Type: Numeric}, {Name: "pixels", Type: Vector, Dim: 784}}, Label: "label"}
	r := rand.New(rand.NewPCG(1, 2))
	recs := make([][]byte, 256)
	var size int64
	for i := range recs {
		var sb strings.Builder
		fmt.Fprintf(&sb, "%d,", r.IntN(10))
		for j := 0; j < 784; j++ {
			if j > 0 {
				sb.WriteByte(' ')
			}
			v := 0
			if r.IntN(2) == 0 {
				v = r.IntN(256)
			}
			fmt.Fprint(&sb, v)
		}
		recs[i] = []byte(sb.String())
		size += int64(len(recs[i]))
	}
	row := s.NewRow()
	b.SetBytes(size / int64(len(recs)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if err := s.Decode(row, recs[n%len(recs)]); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(n*784)/b.Elapsed().Seconds(), "values/s")
}
