package trainer

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/features"
	"github.com/flintml/flint/features/drift"
)

// A published model carries the profile of its training rows' feature
// vectors: one column per feature, in the pipeline's order, whose bins
// hold the rows a monitor will compare served rows with.
func TestModelCarriesTrainingProfile(t *testing.T) {
	e := newEnv(t)
	r := rand.New(rand.NewPCG(5, 6))
	var recs []map[string]any
	for range 2000 {
		x := r.NormFloat64()
		color := []string{"red", "green", "blue", "blue"}[r.IntN(4)]
		recs = append(recs, map[string]any{"x": 10 + 3*x, "color": color, "y": 2 * x})
	}
	e.appendJSON(t, "obs", recs)
	res, err := e.run(t, `
name: profiled
source: {topic: obs}
schema:
  fields:
    - {name: x, type: numeric}
    - {name: color, type: categorical}
    - {name: y, type: numeric}
  label: y
transforms:
  - {type: standard_scaler, inputs: [x], output: xs}
  - {type: one_hot, inputs: [color], output: c}
algorithm:
  linear_regression: {}
evaluation: {test_fraction: 0.2}
`)
	if err != nil {
		t.Fatal(err)
	}
	art, _, err := e.reg.Get(context.Background(), "profiled", res.Version)
	if err != nil {
		t.Fatal(err)
	}
	var prof drift.Profile
	if err := json.Unmarshal(art.Extra[profileSection], &prof); err != nil {
		t.Fatalf("the %q section: %v", profileSection, err)
	}
	var pipe features.Pipeline
	if err := json.Unmarshal(art.Pipeline, &pipe); err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(prof.Columns))
	for i, c := range prof.Columns {
		names[i] = c.Name
	}
	if !slices.Equal(names, pipe.FeatureNames()) {
		t.Fatalf("the profile's columns are %v; want the pipeline's features %v", names, pipe.FeatureNames())
	}
	if prof.Rows != res.TrainRows {
		t.Errorf("the profile is of %d rows; want the %d training rows", prof.Rows, res.TrainRows)
	}
	// x/σ (the scaler centres only with with_mean): nine deciles, the
	// median near 10/3.
	xs := prof.Columns[0]
	if len(xs.Cuts) != 9 || math.Abs(xs.Cuts[4]-10.0/3) > 0.15 {
		t.Errorf("the scaled column's cuts are %v; want nine deciles with the median near 3.33", xs.Cuts)
	}
	// The one-hot columns: two bins, blue in half the rows, red and green
	// in a quarter each.
	want := map[string]float64{"color=blue": 0.5, "color=red": 0.25, "color=green": 0.25}
	for _, c := range prof.Columns[1:] {
		if len(c.Frac) != 2 || math.Abs(c.Frac[1]-want[c.Name]) > 0.05 {
			t.Errorf("one-hot column %s has bins %v; want two, %.2f of the rows beyond 0", c.Name, c.Frac, want[c.Name])
		}
	}
}

// The profile of wide rows is sampled a few columns per pass; it is the
// profile of the whole sample, taken at once.
func TestProfileInPassesIsTheWholeSamples(t *testing.T) {
	const rows, width = 9000, 300 // 300 columns: several passes
	schema := features.Schema{Fields: []features.Field{{Name: "v", Type: features.Vector, Dim: width}, {Name: "y", Type: features.Numeric}}, Label: "y"}
	pipe, err := features.New(schema, nil)
	if err != nil {
		t.Fatal(err)
	}
	if pipe.Width() != width || maxProfilePassValues/min(drift.MaxRows, maxProfileValues/width) >= width {
		t.Fatalf("the pipeline is %d wide, and a pass would take every column: the test needs several passes", pipe.Width())
	}
	r := rand.New(rand.NewPCG(3, 4))
	x := make([]float64, rows*width)
	for i := range x {
		x[i] = math.Round(r.NormFloat64() * 5)
	}
	e := cluster.NewEngine(cluster.Config{Workers: 2})
	defer e.Close()
	ds, err := e.FromDense(context.Background(), "wide", x, rows, width, make([]float64, rows), nil, 3)
	if err != nil {
		t.Fatal(err)
	}
	got, err := (&job{}).profile(context.Background(), &fitEnv{pipe: pipe}, rowsData{e, ds})
	if err != nil {
		t.Fatal(err)
	}
	// The whole sample, at once: every every-th row of each partition.
	want := min(drift.MaxRows, maxProfileValues/width)
	every := (rows + want - 1) / want
	var sample []float64
	for p := 0; p < 3; p++ {
		b, err := e.Block(ds, p)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < b.Rows; i += every {
			sample = append(sample, b.Row(i)...)
		}
	}
	whole, err := drift.Build(sample, width, pipe.FeatureNames())
	if err != nil {
		t.Fatal(err)
	}
	wantJSON, _ := json.Marshal(whole)
	if string(got) != string(wantJSON) {
		t.Fatal("the profile taken in passes differs from the whole sample's")
	}
}
