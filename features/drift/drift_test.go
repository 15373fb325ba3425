package drift

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

// sample draws n rows of three columns: a normal (mean mu), a one-hot
// flag (1 with probability pOne) and a constant.
func sample(seed uint64, n int, mu, pOne float64) []float64 {
	r := rand.New(rand.NewPCG(seed, 7))
	rows := make([]float64, 0, 3*n)
	for range n {
		flag := 0.0
		if r.Float64() < pOne {
			flag = 1
		}
		rows = append(rows, mu+r.NormFloat64(), flag, 5)
	}
	return rows
}

var names = []string{"amount", "is_web", "const"}

func TestProfileBins(t *testing.T) {
	p, err := Build(sample(1, 50000, 0, 0.3), 3, names)
	if err != nil {
		t.Fatal(err)
	}
	if p.Rows != 16667 { // every third row keeps to MaxRows
		t.Errorf("profiled %d rows; want every third of 50,000", p.Rows)
	}
	normal, flag, constant := p.Columns[0], p.Columns[1], p.Columns[2]
	if len(normal.Cuts) != 9 {
		t.Fatalf("the normal column has cuts %v; want nine deciles", normal.Cuts)
	}
	for i, f := range normal.Frac {
		if math.Abs(f-0.1) > 0.002 {
			t.Errorf("bin %d of the normal column holds %.4f of the rows; want 0.1", i, f)
		}
	}
	if math.Abs(normal.Cuts[4]) > 0.03 {
		t.Errorf("the normal column's median cut is %v; want about 0", normal.Cuts[4])
	}
	if len(flag.Cuts) != 1 || flag.Cuts[0] != 0 || math.Abs(flag.Frac[1]-0.3) > 0.01 {
		t.Errorf("the one-hot column has cuts %v and fractions %v; want one cut at 0 and about 0.3 beyond it", flag.Cuts, flag.Frac)
	}
	if len(constant.Cuts) != 1 || constant.Frac[0] != 1 {
		t.Errorf("the constant column has cuts %v and fractions %v; want everything in one bin", constant.Cuts, constant.Frac)
	}
}

func TestPSI(t *testing.T) {
	p, err := Build(sample(1, 20000, 0, 0.3), 3, names)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		mu, pOne float64
		constant float64
		low      [3]bool // whether each column's PSI stays below 0.1
	}{
		{"same distribution", 0, 0.3, 5, [3]bool{true, true, true}},
		{"mean moved by one sd", 1, 0.3, 5, [3]bool{false, true, true}},
		{"flag share doubled", 0, 0.6, 5, [3]bool{true, false, true}},
		{"constant changed", 0, 0.3, 6, [3]bool{true, true, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := NewWindow(p)
			rows := sample(2, 5000, tc.mu, tc.pOne)
			for i := 0; i < len(rows); i += 3 {
				rows[i+2] = tc.constant
				if err := w.Add(rows[i : i+3]); err != nil {
					t.Fatal(err)
				}
			}
			psi := w.PSI()
			for j, low := range tc.low {
				if low && psi[j] >= 0.1 {
					t.Errorf("column %s: PSI %.4f; want below 0.1 (no shift)", names[j], psi[j])
				}
				if !low && psi[j] <= 0.25 {
					t.Errorf("column %s: PSI %.4f; want above 0.25 (a shift)", names[j], psi[j])
				}
			}
			if w.Rows() != 5000 {
				t.Errorf("the window holds %d rows; want 5000", w.Rows())
			}
			w.Reset()
			if w.Rows() != 0 || w.PSI()[0] != 0 {
				t.Error("Reset left rows in the window")
			}
		})
	}
}

func TestPSIOfKnownCounts(t *testing.T) {
	c := Column{Cuts: []float64{0}, Frac: []float64{0.5, 0.5}}
	// o = (0.8, 0.2): (0.3)·ln(1.6) + (−0.3)·ln(0.4)
	want := 0.3*math.Log(1.6) - 0.3*math.Log(0.4)
	if got := c.PSI([]int64{80, 20}); math.Abs(got-want) > 1e-12 {
		t.Errorf("PSI = %v; want %v", got, want)
	}
	if got := c.PSI([]int64{0, 0}); got != 0 {
		t.Errorf("PSI of nothing = %v; want 0", got)
	}
}

func TestBuildErrors(t *testing.T) {
	for _, tc := range []struct {
		rows  []float64
		width int
		names []string
		want  string
	}{
		{[]float64{1, 2, 3}, 2, []string{"a", "b"}, "drift: 3 values are not rows of 2 columns"},
		{[]float64{1, 2}, 2, []string{"a"}, "drift: 1 column names for 2 columns"},
		{nil, 2, []string{"a", "b"}, "drift: no training rows to profile"},
	} {
		if _, err := Build(tc.rows, tc.width, tc.names); err == nil || err.Error() != tc.want {
			t.Errorf("Build(%d values, width %d) = %v; want %q", len(tc.rows), tc.width, err, tc.want)
		}
	}
	p, _ := Build([]float64{1, 2}, 2, []string{"a", "b"})
	if err := NewWindow(p).Add([]float64{1}); err == nil {
		t.Error("Add took a vector of the wrong width")
	}
}

func TestProfileJSON(t *testing.T) {
	p, err := Build(sample(3, 1000, 0, 0.5), 3, names)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var q Profile
	if err := json.Unmarshal(b, &q); err != nil {
		t.Fatal(err)
	}
	w := NewWindow(&q)
	rows := sample(3, 1000, 0, 0.5)
	for i := 0; i < len(rows); i += 3 {
		_ = w.Add(rows[i : i+3])
	}
	for j, v := range w.PSI() {
		if v > 1e-9 {
			t.Errorf("the training rows themselves drift by %v in column %s after a JSON round trip", v, names[j])
		}
	}
}

// BuildParts profiles the rows of its parts as Build profiles them joined,
// the sample of every step-th row included, wherever the parts end.
func TestBuildPartsIsBuildOfTheJoinedRows(t *testing.T) {
	const width = 3
	rng := rand.New(rand.NewPCG(7, 8))
	names := []string{"a", "b", "c"}
	for _, n := range []int{5, MaxRows, 2*MaxRows + 7, 5*MaxRows + 3} {
		rows := make([]float64, n*width)
		for i := range rows {
			rows[i] = math.Round(rng.NormFloat64() * 10)
		}
		want, err := Build(rows, width, names)
		if err != nil {
			t.Fatal(err)
		}
		var parts [][]float64
		for lo := 0; lo < n; {
			hi := min(n, lo+1+rng.IntN(n/3+1))
			parts = append(parts, rows[lo*width:hi*width])
			lo = hi
		}
		got, err := BuildParts(parts, width, names)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%d rows in %d parts: BuildParts gave a profile of %d rows, Build of the joined rows one of %d (or other cuts)", n, len(parts), got.Rows, want.Rows)
		}
	}
}
