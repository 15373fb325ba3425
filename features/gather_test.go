package features

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/flintml/flint/internal/jsonscan"
)

// TestScalersReadInputsInOrder: the scalers and the imputer read their
// inputs in the order the spec names them, whether those sit next to one
// another in the frame (read in place) or not (gathered), through
// Transform and TransformNumbers alike.
func TestScalersReadInputsInOrder(t *testing.T) {
	schema := Schema{Fields: []Field{
		{Name: "a", Type: Numeric, Optional: true},
		{Name: "s", Type: Categorical, Optional: true},
		{Name: "b", Type: Numeric, Optional: true},
		{Name: "c", Type: Numeric, Optional: true},
	}}
	given := map[string]float64{"a": 1, "b": math.NaN(), "c": 4} // b is missing
	for _, order := range [][]string{{"a", "b", "c"}, {"c", "b", "a"}, {"b", "a", "c"}, {"a", "c"}, {"c", "a"}} {
		t.Run(strings.Join(order, ","), func(t *testing.T) {
			n := len(order)
			present := slices.DeleteFunc(slices.Clone(order), func(s string) bool { return s == "b" })
			p, err := New(schema, []TransformSpec{
				{Type: "imputer", Inputs: order, Output: "filled"},
				{Type: "standard_scaler", Inputs: []string{"filled"}, Output: "std"},
				{Type: "minmax_scaler", Inputs: present, Output: "mm"},
				{Type: "assembler", Inputs: []string{"std", "mm"}},
			})
			if err != nil {
				t.Fatal(err)
			}
			im, std, mm := p.Stages[0], p.Stages[1], p.Stages[2]
			im.Fill = []float64{20, 30, 40}[:n]
			std.Mean, std.Scale = []float64{1, 2, 3}[:n], []float64{10, 20, 30}[:n]
			mm.Lo, mm.Hi = make([]float64, len(present)), slices.Repeat([]float64{8}, len(present))
			mm.Hi[len(present)-1] = 0 // a constant input: the middle of the range
			var want []float64
			for k, name := range order {
				v := given[name]
				if math.IsNaN(v) {
					v = im.Fill[k]
				}
				want = append(want, (v-std.Mean[k])*std.Scale[k])
			}
			for k, name := range present {
				if k == len(present)-1 {
					want = append(want, 0.5)
				} else {
					want = append(want, given[name]/8)
				}
			}
			vals := []float64{given["a"], math.NaN(), given["b"], given["c"]}
			row := schema.NewRow()
			for j, v := range vals {
				row[j] = Value{Num: v, Missing: math.IsNaN(v)}
			}
			tr := p.NewTransformer()
			for _, numbers := range []bool{false, true} {
				got := make([]float64, p.Width())
				if numbers {
					err = tr.TransformNumbers(got, vals)
				} else {
					err = tr.Transform(got, row)
				}
				if err != nil || !slices.Equal(got, want) {
					t.Errorf("numbers=%v: %v (%v), want %v", numbers, got, err, want)
				}
			}
		})
	}
}

// TestNumberRun: the run ends at the first field that is not Numeric or
// whose key needs escapes, and reads what ScanNumber reads.
func TestNumberRun(t *testing.T) {
	fields := []Field{{Name: "a", Type: Numeric}, {Name: "b", Type: Numeric}, {Name: "t", Type: Timestamp}, {Name: "c", Type: Numeric}}
	for _, c := range []struct {
		quoted []string
		want   int
	}{
		{[]string{`"a"`, `"b"`, `"t"`, `"c"`}, 2},
		{[]string{`"a"`, "", `"t"`, `"c"`}, 1},
		{[]string{`"a"`}, 1},
		{nil, 0},
	} {
		if r := NewNumberRun(fields, c.quoted); r.Len() != c.want {
			t.Errorf("NewNumberRun(%q) has %d fields, want %d", c.quoted, r.Len(), c.want)
		}
	}
	var sc jsonscan.Scanner
	sc.Reset([]byte(`{"a": -1.25, "b": 3, "t": 1700000000, "c": 4}`))
	if err := sc.Enter('{'); err != nil {
		t.Fatal(err)
	}
	dst := make([]float64, 4)
	if k := NewNumberRun(fields, []string{`"a"`, `"b"`, `"t"`, `"c"`}).Scan(&sc, dst); k != 2 || dst[0] != -1.25 || dst[1] != 3 {
		t.Fatalf("Scan read %d: %v, want 2: [-1.25 3 ...]", k, dst)
	}
	if more, err := sc.Next('}', 2); !more || err != nil || !sc.KeyIs(`"t"`) {
		t.Fatalf("after the run the scanner is not before \"t\" (%v, %v)", more, err)
	}
}
