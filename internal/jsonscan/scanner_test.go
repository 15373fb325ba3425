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

// checkFloat fails unless Float, on input b, either reads exactly what
// NumLit and ParseNumber read, to the same bits, or reads nothing.
func checkFloat(t *testing.T, b []byte) (ok bool) {
	var fast, ref Scanner
	fast.Reset(b)
	got, ok := fast.Float()
	ref.Reset(b)
	ref.ws()
	start := ref.pos
	want, err := ParseNumber(ref.NumLit())
	if !ok {
		if fast.pos != start {
			t.Fatalf("Float(%q) declined but moved to byte %d (from %d)", b, fast.pos, start)
		}
		return false
	}
	if err != nil || math.Float64bits(got) != math.Float64bits(want) || fast.pos != ref.pos {
		t.Fatalf("Float(%q) = %v to byte %d; NumLit and ParseNumber give %v (%v) to byte %d", b, got, fast.pos, want, err, ref.pos)
	}
	return true
}

// TestFloat: Float reads the numbers of the fast path, to the bits
// ParseNumber gives, and leaves everything else unread.
func TestFloat(t *testing.T) {
	for _, c := range []struct {
		in string
		ok bool
	}{
		{"0", true}, {"-0", true}, {" 1.5,", true}, {"0.000123}", true}, {"12345678901234 ", true}, {"123456789012345678", false}, {"-3.25e2]", true},
		{"1E-22", true}, {"9007199254740993", false}, {"12345678901234567890", false}, {"1e23", false}, {"4.9e-324", false},
		{"1e400", false}, {"01", false}, {"1.", false}, {".5", false}, {"-", false}, {"1.5.3", false}, {"1-2", false},
		{"1e", false}, {"+1", false}, {"null", false}, {`"1"`, false}, {"", false}, {"1.5x", true},
		// The plain form (plainFloat): a sign, digits, a point, digits.
		{"-0.123456,", true}, {"0.12345678}", true}, {"-12345678.87654321 ", true}, {"900719925474099.1", true},
		{"9007199254740992.5", false}, {"0.1234567890123456789", false}, {"1234567890.1234567890", false},
		{"-0.", false}, {"-.5", false}, {"00.5", false}, {"-01.5", false}, {"1.5e", false}, {"0.0000000000000000000001", true},
	} {
		if ok := checkFloat(t, []byte(c.in)); ok != c.ok {
			t.Errorf("Float(%q) reported %v, want %v", c.in, ok, c.ok)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		f := rng.NormFloat64() * math.Pow(10, float64(rng.IntN(30)-15))
		checkFloat(t, []byte(strconv.FormatFloat(f, 'f', rng.IntN(10), 64)+","))
		checkFloat(t, []byte(strconv.FormatFloat(f, 'e', rng.IntN(17), 64)+"}"))
	}
}

// FuzzFloat: whatever the input, Float reads what NumLit and ParseNumber
// read, to the same bits, or nothing.
//
//	go test ./internal/jsonscan -run '^$' -fuzz FuzzFloat -fuzztime 1m
func FuzzFloat(f *testing.F) {
	for _, s := range []string{"0", "-0.0,", " 1e2}", "0.10", "12345678901234567890", "1.7976931348623157e308", "1e400", "01", "-", "1.e5", "1.5.3", "null"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkFloat(t, b) })
}

// TestNextKeyIs: NextKeyIs reads the ',' (after the first member), the
// expected key and its ':', and nothing when anything else comes.
func TestNextKeyIs(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		ok   bool
		rest string
	}{
		{`"f1": 2`, 0, true, " 2"},
		{` , "f1" :2`, 1, true, "2"},
		{",\n\t\"f1\":", 3, true, ""},
		{`"f1": 2`, 1, false, ""},   // no ',' before a second member
		{`, "f1": 2`, 0, false, ""}, // a ',' before the first
		{`, "f10": 2`, 1, false, ""},
		{`, "f\u0031": 2`, 1, false, ""},
		{`, "f1" 2`, 1, false, ""},
		{`, }`, 1, false, ""},
		{`}`, 1, false, ""},
		{``, 0, false, ""},
	} {
		var s Scanner
		s.Reset([]byte(c.in))
		got := s.NextKeyIs(c.n, `"f1"`)
		switch {
		case got != c.ok:
			t.Errorf("NextKeyIs(%d) on %q = %v, want %v", c.n, c.in, got, c.ok)
		case got && string(s.b[s.pos:]) != c.rest:
			t.Errorf("NextKeyIs(%d) on %q left %q, want %q", c.n, c.in, s.b[s.pos:], c.rest)
		case !got && s.pos != 0:
			t.Errorf("NextKeyIs(%d) on %q declined but moved to byte %d", c.n, c.in, s.pos)
		}
	}
}

// TestKeyIs: KeyIs reads the expected key and its ':', and nothing when
// the next key is another, or the same written with escapes.
func TestKeyIs(t *testing.T) {
	for _, c := range []struct {
		in, key string
		ok      bool
		rest    string
	}{
		{`"f1": 2`, "f1", true, " 2"},
		{` "f1" :2`, "f1", true, "2"},
		{`"f1":`, "f1", true, ""},
		{`"f10": 2`, "f1", false, ""},
		{`"f": 2`, "f1", false, ""},
		{`"f\u0031": 2`, "f1", false, ""},
		{`"f1" 2`, "f1", false, ""},
		{`"f1"`, "f1", false, ""},
		{`"é": 1`, "é", true, " 1"},
		{`}`, "f1", false, ""},
	} {
		q, ok := PlainKey(c.key)
		if !ok {
			t.Fatalf("PlainKey(%q) refused it", c.key)
		}
		var s Scanner
		s.Reset([]byte(c.in))
		s.ws()
		start := s.pos
		got := s.KeyIs(q)
		switch {
		case got != c.ok:
			t.Errorf("KeyIs(%s) on %q = %v, want %v", q, c.in, got, c.ok)
		case got && string(s.b[s.pos:]) != c.rest:
			t.Errorf("KeyIs(%s) on %q left %q, want %q", q, c.in, s.b[s.pos:], c.rest)
		case !got && s.pos != start:
			t.Errorf("KeyIs(%s) on %q declined but moved to byte %d", q, c.in, s.pos)
		}
	}
	for _, name := range []string{`a"b`, `a\b`, "a\nb", "\xff"} {
		if q, ok := PlainKey(name); ok {
			t.Errorf("PlainKey(%q) = %s, but it needs escapes", name, q)
		}
	}
}

// plainMembersRef is what PlainMembers must do: NextKeyIs then Float,
// member by member, keeping only numbers plainFloat reads.
func plainMembersRef(s *Scanner, n int, keys []string, dst []float64) int {
	k := 0
	for ; k < len(keys); k++ {
		start := s.pos
		if !s.NextKeyIs(n+k, keys[k]) {
			break
		}
		s.ws()
		f, end, ok := plainFloat(s.b, s.pos)
		if !ok {
			s.pos = start
			break
		}
		dst[k], s.pos = f, end
	}
	return k
}

// checkPlainMembers runs PlainMembers and plainMembersRef on in from
// offset at and fails unless they read the same members to the same byte
// with the same bits; it returns how many were read.
func checkPlainMembers(t *testing.T, in []byte, at, n int, keys []string) int {
	t.Helper()
	var s, ref Scanner
	s.Reset(in)
	ref.Reset(in)
	s.pos, ref.pos = at, at
	got, want := make([]float64, len(keys)), make([]float64, len(keys))
	k, wk := s.PlainMembers(n, NewKeys(keys), got), plainMembersRef(&ref, n, keys, want)
	if k != wk || s.pos != ref.pos {
		t.Fatalf("PlainMembers(%q) read %d members to byte %d, member by member %d to byte %d", in[at:], k, s.pos, wk, ref.pos)
	}
	for i := range k {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			t.Fatalf("PlainMembers(%q): member %d = %v, Float gives %v", in[at:], i, got[i], want[i])
		}
	}
	return k
}

// TestPlainMembers: PlainMembers reads the members NextKeyIs and Float
// would, and stops, reading nothing of it, at the first that is not a
// plain number under the expected key.
func TestPlainMembers(t *testing.T) {
	keys := []string{`"a"`, `"b"`, `"c"`}
	for _, c := range []struct {
		in   string
		n    int // members before
		want int
	}{
		{`"a": 1.5, "b": -0.25, "c": 3}`, 0, 3},
		{`"a":1,"b":2,"c":3,"d":4}`, 0, 3},
		{" \"a\" :\n1.5 ,\t\"b\": 2 , \"c\" : 3 }", 0, 3},
		{`, "a": 1, "b": 2}`, 2, 2},
		{`"a": 1, "b": 2}`, 2, 0},      // no ',' where one is due
		{`, "a": 1, "b": 2}`, 0, 0},    // a ',' before the first
		{`"a": 1, "c": 2}`, 0, 1},      // another key
		{`"a": 1, "\u0062": 2}`, 0, 1}, // the key with escapes
		{`"a": 1, "b": 2e3}`, 0, 1},    // an exponent
		{`"a": 1, "b": null}`, 0, 1},
		{`"a": 1, "b": "2"}`, 0, 1},
		{`"a": 1, "b": 01}`, 0, 1},
		{`"a": 1, "b": 1.}`, 0, 1},
		{`"a": 1, "b": 12345678901234567890}`, 0, 1},
		{`"a": 1, "b": 2,}`, 0, 2},
		{`"a": 1 "b": 2}`, 0, 1},
		{`"a": 1, "b"`, 0, 1},
		{`"a": 1, "b":`, 0, 1},
		{`"a": 1, `, 0, 1},
		{`}`, 0, 0},
		{``, 0, 0},
	} {
		if k := checkPlainMembers(t, []byte(c.in), 0, c.n, keys); k != c.want {
			t.Errorf("PlainMembers(%q) read %d members, want %d", c.in, k, c.want)
		}
	}
	// Keys of eight bytes or fewer are compared as a word, longer ones as
	// strings; near the end of the input, as strings too.
	long := []string{`"sepal_length"`, `"b"`, `"petal_wid"`, `"abcdef"`}
	for _, c := range []struct {
		in   string
		want int
	}{
		{`"sepal_length": 5.1, "b": 2, "petal_wid": 0.2, "abcdef": 1}`, 4},
		{`"sepal_length": 5.1, "b": 2, "petal_wid": 0.2, "abcdeg": 1}`, 3},
		{`"sepal_length": 5.1, "b": 2, "petal_wid": 0.2, "aXcdef": 1}`, 3},
		{`"sepal_length": 5.1, "b": 2, "petal_wid": 0.2, "Xbcdef": 1}`, 3},
		{`"sepal_length": 5.1, "b": 2, "petal_wix": 0.2}`, 2},
		{`"sepal_lengtx": 5.1}`, 0},
		{`"sepal_length": 5.1, "c": 2}`, 1},
		{`"sepal_length": 5.1, "bb": 2}`, 1},
		{`"sepal_length": 5.1, "b":2`, 2}, // a key near the end, where no word can be read
		{`"sepal_length": 5.1, "b":2,"petal_wid":3,"abcdef":4`, 4},
		{`"sepal_length": 5.1, "b":2,"petal_wid":3,"abcdeg":4`, 3},
	} {
		if k := checkPlainMembers(t, []byte(c.in), 0, 0, long); k != c.want {
			t.Errorf("PlainMembers(%q) read %d members, want %d", c.in, k, c.want)
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	many := make([]string, 50)
	for i := range many {
		many[i] = `"f` + strconv.Itoa(i) + `"`
	}
	for range 2000 {
		in := []byte{'{'}
		for i, k := range many {
			if i > 0 {
				in = append(in, ',')
			}
			f := rng.NormFloat64() * math.Pow(10, float64(rng.IntN(12)-4))
			in = append(in, k+": "...)
			switch rng.IntN(20) {
			case 0:
				in = strconv.AppendFloat(in, f, 'e', -1, 64)
			case 1:
				in = append(in, "null"...)
			default:
				in = strconv.AppendFloat(in, f, 'f', rng.IntN(12), 64)
			}
		}
		checkPlainMembers(t, append(in, '}'), 1, 0, many)
	}
}

// FuzzPlainMembers: on any input, PlainMembers reads what NextKeyIs and
// Float would, member by member.
//
//	go test ./internal/jsonscan -run '^$' -fuzz FuzzPlainMembers -fuzztime 1m
func FuzzPlainMembers(f *testing.F) {
	for _, s := range []string{`"a": 1.5, "b": -0.25, "c": 3}`, ` "a" :1 ,"b":2e3}`, `"a": 0.1234567890123, "b": null`, `"a": 1,}`} {
		f.Add([]byte(s), 0)
	}
	f.Add([]byte(`"a": 1, "b": 2, "a_long_key": 3, "c": 4}`), 0)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		checkPlainMembers(t, b, 0, n&1, []string{`"a"`, `"b"`, `"a_long_key"`, `"c"`})
	})
}
