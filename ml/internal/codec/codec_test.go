package codec

import (
	"math"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	var w Writer
	w.U8(7)
	w.U32(1 << 30)
	w.U64(math.MaxUint64)
	w.Int(42)
	w.Bool(true)
	w.F64(math.Inf(-1))
	w.F64s([]float64{1, math.NaN()})
	w.F64s(nil)
	w.F64sN([]float64{3})
	w.String("adam")
	r := NewReader(w.B, "test state")
	if r.U8() != 7 || r.U32() != 1<<30 || r.U64() != math.MaxUint64 || r.Int("n") != 42 || !r.Bool("b") || !math.IsInf(r.F64(), -1) {
		t.Fatal("fixed-size fields did not round-trip")
	}
	if v := r.F64s(); len(v) != 2 || v[0] != 1 || !math.IsNaN(v[1]) {
		t.Fatalf("F64s: %v", v)
	}
	if v := r.F64s(); v != nil {
		t.Fatalf("an empty F64s reads as %v, want nil", v)
	}
	if v := r.F64sN(1); len(v) != 1 || v[0] != 3 {
		t.Fatalf("F64sN: %v", v)
	}
	if s := r.String(); s != "adam" {
		t.Fatalf("String: %q", s)
	}
	if err := r.Done(); err != nil {
		t.Fatal(err)
	}
}

func TestReaderErrors(t *testing.T) {
	var big Writer
	big.U64(math.MaxUint64)
	var huge Writer
	huge.U32(math.MaxUint32)
	for _, c := range []struct {
		name string
		b    []byte
		read func(r *Reader)
		want string
	}{
		{"truncated", []byte{1, 2}, func(r *Reader) { r.U32() }, "test state: truncated at byte 0: want 4 more bytes, have 2"},
		{"bool", []byte{2}, func(r *Reader) { r.Bool("flag") }, "flag is 2, want 0 or 1"},
		{"int", big.B, func(r *Reader) { r.Int("count") }, "count 18446744073709551615 does not fit an int"},
		{"slice", huge.B, func(r *Reader) { r.F64s() }, "want 4294967295 float64 values, have 0 bytes"},
		{"trailing", []byte{0, 0}, func(r *Reader) { r.U8() }, "1 unexpected bytes after the last field"},
		{"first error kept", []byte{9}, func(r *Reader) { r.Bool("a"); r.U64() }, "a is 9"},
	} {
		r := NewReader(c.b, "test state")
		c.read(r)
		if err := r.Done(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.want)
		}
	}
}
