package features

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestNumberCategory(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"7", "7"}, {"7.0", "7"}, {"7.00", "7"}, {"0.7e1", "7"}, {"70E-1", "7"}, {"7e0", "7"},
		{"1e2", "100"}, {"1E+2", "100"}, {"0.10", "0.1"}, {"-0", "0"}, {"-0.0e5", "0"}, {"0", "0"},
		{"-12.50", "-12.5"}, {"0.001", "0.001"}, {"1e-3", "0.001"}, {"123.456e1", "1234.56"},
		{"12345678901234567890123", "12345678901234567890123"}, {"9007199254740993", "9007199254740993"},
		{"0e99999999999", "0"}, {"100", "100"}, {"1.5e1", "15"},
	} {
		got, err := NumberCategory(c.in)
		if err != nil || got != c.want {
			t.Errorf("NumberCategory(%s) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "-", "01", "1.", ".5", "1e", "1e+", "+1", "1.e3", "0x10", "1e300", "1e-300", "NaN", "7 "} {
		if got, err := NumberCategory(bad); err == nil {
			t.Errorf("NumberCategory(%q) = %q, want an error", bad, got)
		}
	}
}

// TestSettersAgreeAcrossInputs: a value gives the same field value as a
// JSON literal through Schema.Decode, as a map value through DecodeMap
// (json.Number), and through the setters given bytes.
func TestSettersAgreeAcrossInputs(t *testing.T) {
	s := Schema{Fields: []Field{{Name: "c", Type: Categorical}, {Name: "x", Type: Numeric}}}
	for _, lit := range []string{"7", "7.0", "1e2", "0.10", "-0", "3.14159", "12345678901234567890", "true", `"7.0"`, "1.5E-3"} {
		row := s.NewRow()
		rec := `{"c": ` + lit + `, "x": 1}`
		if err := s.Decode(row, []byte(rec)); err != nil {
			t.Fatalf("Decode(%s): %v", rec, err)
		}
		var v Value
		var err error
		switch {
		case lit == "true":
			err = SetBool(&v, s.Fields[0], true)
		case strings.HasPrefix(lit, `"`):
			err = SetString(&v, s.Fields[0], []byte(lit[1:len(lit)-1]))
		default:
			err = SetNumber(&v, s.Fields[0], []byte(lit))
		}
		if err != nil || v.Str != row[0].Str {
			t.Errorf("%s: the setter gives %q (%v), Decode %q", lit, v.Str, err, row[0].Str)
		}
		if lit != "true" && !strings.HasPrefix(lit, `"`) {
			mrow := s.NewRow()
			if err := s.DecodeMap(mrow, map[string]any{"c": json.Number(lit), "x": json.Number(lit)}); err != nil {
				t.Fatal(err)
			}
			want, _ := strconv.ParseFloat(lit, 64)
			if mrow[0].Str != row[0].Str || math.Float64bits(mrow[1].Num) != math.Float64bits(want) {
				t.Errorf("%s: DecodeMap gives %q %v, Decode %q, ParseFloat %v", lit, mrow[0].Str, mrow[1].Num, row[0].Str, want)
			}
		}
	}
	var v Value
	err := SetNumber(&v, s.Fields[1], "1e400")
	var fe *FieldError
	var ne *NumberError
	if !errors.As(err, &fe) || fe.Field != "x" || !errors.As(err, &ne) || ne.Syntax() || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("SetNumber(1e400) = %v, want a FieldError for x saying out of range", err)
	}
}

// FuzzNumber: ParseNumber takes what strconv takes of the JSON grammar,
// with the same bits, and NumberCategory's text is the same number.
//
//	go test ./features -run '^$' -fuzz FuzzNumber -fuzztime 1m
func FuzzNumber(f *testing.F) {
	for _, s := range []string{"0", "-0.0", "1e2", "0.10", "12345678901234567890", "1.7976931348623157e308", "4.9e-324", "1e400", "01", "-", "1.e5", "0x1p3", "Inf"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseNumber(s)
		cat, cerr := NumberCategory(s)
		var ne *NumberError
		if err != nil {
			if !errors.As(err, &ne) {
				t.Fatalf("ParseNumber(%q) = %v (%T), want a *NumberError", s, err, err)
			}
			if ne.Syntax() {
				if json.Valid([]byte(s)) && strings.TrimSpace(s) == s && len(s) > 0 && (s[0] == '-' || '0' <= s[0] && s[0] <= '9') {
					t.Fatalf("ParseNumber(%q): %v, but it is JSON", s, err)
				}
				if cerr == nil {
					t.Fatalf("NumberCategory(%q) = %q, but ParseNumber says %v", s, cat, err)
				}
			}
			return
		}
		if !json.Valid([]byte(s)) {
			t.Fatalf("ParseNumber(%q) accepted what is not JSON", s)
		}
		want, perr := strconv.ParseFloat(s, 64)
		if perr != nil || math.Float64bits(n) != math.Float64bits(want) {
			t.Fatalf("ParseNumber(%q) = %v, ParseFloat %v (%v)", s, n, want, perr)
		}
		if cerr != nil {
			if !errors.As(cerr, &ne) || ne.Syntax() {
				t.Fatalf("NumberCategory(%q) = %v", s, cerr)
			}
			return
		}
		if back, err := strconv.ParseFloat(cat, 64); err != nil || back != want {
			t.Fatalf("NumberCategory(%q) = %q, which is %v, not %v", s, cat, back, want)
		}
		if again, err := NumberCategory(cat); err != nil || again != cat {
			t.Fatalf("NumberCategory(%q) = %q, not canonical: again %q (%v)", s, cat, again, err)
		}
	})
}

// TestReadsField: only the fields that reach the feature vector, directly
// or through transforms, are read.
func TestReadsField(t *testing.T) {
	s := Schema{Fields: []Field{{Name: "id", Type: Categorical}, {Name: "a", Type: Numeric}, {Name: "b", Type: Numeric, Optional: true},
		{Name: "c", Type: Categorical}, {Name: "y", Type: Numeric}}, Label: "y"}
	p, err := New(s, []TransformSpec{
		{Type: "imputer", Inputs: []string{"b"}, Output: "b_i"},
		{Type: "one_hot", Inputs: []string{"c"}, Output: "c_oh"},
		{Type: "assembler", Inputs: []string{"a", "b_i"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.ReadsField(), []bool{false, true, true, false, false}; !slices.Equal(got, want) {
		t.Errorf("ReadsField = %v, want %v (id, a, b, c, y)", got, want)
	}
}
