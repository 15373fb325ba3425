package jsonscan

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestNumMatchesParseFloat: the scanner's own conversion gives the bits
// strconv.ParseFloat gives.
func TestNumMatchesParseFloat(t *testing.T) {
	cases := []string{"0", "-0", "0.0", "-0.0", "1", "-1", "0.1", "0.001", "1.000000", "123456789012345678", "1234567890123456789",
		"12345678901234567890", "9007199254740993", "9007199254740992", "0.30000000000000004", "1e22", "1e23", "1.5e-22", "1e-23",
		"4.9e-324", "2.2250738585072014e-308", "1.7976931348623157e308", "123.456e-7", "0.000000000000000000000000001",
		"100000000000000000000000", "0e999", "-0e-5", "3.14159265358979323846264338327950288", "1E2", "1e+2", "55.000001"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		f := rng.NormFloat64() * math.Pow(10, float64(rng.IntN(40)-20))
		cases = append(cases, strconv.FormatFloat(f, 'f', rng.IntN(12), 64), strconv.FormatFloat(f, 'g', -1, 64),
			strconv.FormatFloat(f, 'e', rng.IntN(17), 64))
	}
	var sc Scanner
	for _, c := range cases {
		want, err := strconv.ParseFloat(c, 64)
		if err != nil {
			t.Fatal(err)
		}
		sc.Reset([]byte(c))
		got, err := sc.Num()
		if err != nil || math.Float64bits(got) != math.Float64bits(want) || sc.pos != len(c) {
			t.Errorf("num(%s) = %v (%x), %v; ParseFloat gives %v (%x)", c, got, math.Float64bits(got), err, want, math.Float64bits(want))
		}
	}
	for _, bad := range []string{"-", "01", "1.", ".5", "1e", "1e+", "+1", "-a", "1.e3"} {
		sc.Reset([]byte(bad))
		if _, err := sc.Num(); err == nil && sc.pos == len(bad) {
			t.Errorf("num(%q) accepted it", bad)
		}
	}
	sc.Reset([]byte("1e400"))
	if _, err := sc.Num(); err == nil {
		t.Error("num(1e400) accepted it")
	}
}
