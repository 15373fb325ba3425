package features

import (
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/flintml/flint/internal/jsonscan"
)

// TestScanNumber: ScanNumber reads what ScanValue reads into Value.Num,
// NaN for null, and refuses what ScanValue refuses with the same error.
func TestScanNumber(t *testing.T) {
	num := Field{Name: "n", Type: Numeric}
	ts := Field{Name: "t", Type: Timestamp}
	for _, c := range []struct {
		in string
		f  Field
	}{
		{"1.5", num}, {"-0", num}, {"0.000123", num}, {" 42 ,", num}, {"12345678901234567890", num}, {"1e23", num},
		{"4.9e-324", num}, {"null", num}, {"1e400", num}, {"01", num}, {"1.", num}, {`"1"`, num}, {"true", num},
		{"[1]", num}, {"{}", num}, {"", num}, {"-", num},
		{"1700000000", ts}, {`"2024-01-02T03:04:05.5Z"`, ts}, {`"1700000000.25"`, ts}, {`"Inf"`, ts}, {`"NaN"`, ts},
		{`"yesterday"`, ts}, {"null", ts}, {"1e400", ts},
	} {
		var a, b jsonscan.Scanner
		a.Reset([]byte(c.in))
		b.Reset([]byte(c.in))
		var got float64
		err := ScanNumber(&a, &got, &c.f)
		var v Value
		refErr := ScanValue(&b, &v, c.f)
		switch {
		case (err == nil) != (refErr == nil):
			t.Errorf("%s %q: ScanNumber says %v, ScanValue %v", c.f.Type, c.in, err, refErr)
		case err != nil:
			var fe, rfe *FieldError
			if err.Error() != refErr.Error() || errors.As(err, &fe) != errors.As(refErr, &rfe) {
				t.Errorf("%s %q: ScanNumber says %v, ScanValue %v", c.f.Type, c.in, err, refErr)
			}
		case math.Float64bits(got) != math.Float64bits(v.Num) || math.IsNaN(got) != v.Missing || a.Pos() != b.Pos():
			t.Errorf("%s %q: ScanNumber reads %v to byte %d, ScanValue %+v to byte %d", c.f.Type, c.in, got, a.Pos(), v, b.Pos())
		}
	}
	var sc jsonscan.Scanner
	sc.Reset([]byte(`"x"`))
	var got float64
	if err := ScanNumber(&sc, &got, &Field{Name: "c", Type: Categorical}); err == nil {
		t.Error("ScanNumber read a categorical field")
	}
}

// TestTransformNumbers: a row given as its fields' numbers transforms to
// the vector Transform gives for the same row as Values.
func TestTransformNumbers(t *testing.T) {
	s := Schema{Fields: []Field{{Name: "a", Type: Numeric}, {Name: "c", Type: Categorical, Optional: true},
		{Name: "t", Type: Timestamp}, {Name: "b", Type: Numeric, Optional: true}, {Name: "y", Type: Numeric}}, Label: "y"}
	p, err := New(s, []TransformSpec{
		{Type: "bucketizer", Inputs: []string{"b"}, Splits: []float64{-1, 0, 1}, Output: "bb"},
		{Type: "polynomial", Inputs: []string{"a", "t"}, Output: "at"},
		{Type: "assembler", Inputs: []string{"at", "bb", "a"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !p.NumericInputs() {
		t.Fatal("NumericInputs is false for a pipeline that reads a, t and b")
	}
	tr, ref := p.NewTransformer(), p.NewTransformer()
	got, want := make([]float64, p.Width()), make([]float64, p.Width())
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 200 {
		row, nums := s.NewRow(), make([]float64, len(s.Fields))
		for j, f := range s.Fields {
			if f.Type == Categorical {
				row[j].Str, nums[j] = strconv.Itoa(i), rng.NormFloat64() // not read: any number
				continue
			}
			row[j].Num = rng.NormFloat64() * 10
			if f.Optional && i%3 == 0 {
				SetNull(&row[j])
			}
			nums[j] = row[j].Num
		}
		err, refErr := tr.TransformNumbers(got, nums), ref.Transform(want, row)
		if (err == nil) != (refErr == nil) || err != nil && err.Error() != refErr.Error() {
			t.Fatalf("row %d: TransformNumbers says %v, Transform %v", i, err, refErr)
		}
		for k := range got {
			if err == nil && math.Float64bits(got[k]) != math.Float64bits(want[k]) {
				t.Fatalf("row %d: TransformNumbers gives %v, Transform %v", i, got, want)
			}
		}
	}
	if err := tr.TransformNumbers(got, make([]float64, 2)); err == nil {
		t.Error("TransformNumbers took a row of 2 numbers for a schema of 5 fields")
	}
	q, err := New(s, []TransformSpec{{Type: "hashing", Inputs: []string{"c"}, Buckets: 4, Output: "h"}, {Type: "assembler", Inputs: []string{"h", "a"}}})
	if err != nil {
		t.Fatal(err)
	}
	if q.NumericInputs() {
		t.Error("NumericInputs is true for a pipeline that hashes a categorical field")
	}
}
