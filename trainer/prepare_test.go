package trainer

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/flintml/flint/features"
)

// A job whose pipeline CachedFit accepts parses its records once; the same
// job with one field optional (which CachedFit refuses) fits by a scan and
// decodes again. Both must publish the same model, byte for byte, and
// report the same rows.
func TestParseOnceEqualsFitThenDecode(t *testing.T) {
	e := newEnv(t)
	r := rand.New(rand.NewPCG(3, 4))
	var recs []map[string]any
	for i := 0; i < 2000; i++ {
		a, b := r.NormFloat64()*100, r.Float64()
		y := 0.0
		if a/100+2*b+0.2*r.NormFloat64() > 1 {
			y = 1
		}
		recs = append(recs, map[string]any{"a": a, "b": b, "v": []float64{a * b, b - 3, a}, "y": y})
	}
	recs[11] = map[string]any{"a": "x", "b": 1.0, "v": []float64{1, 2, 3}, "y": 0.0}
	e.appendJSON(t, "pts", recs)
	job := func(name, optional string) string {
		return `
name: ` + name + `
source: {topic: pts}
schema:
  fields:
    - {name: a, type: numeric` + optional + `}
    - {name: b, type: numeric}
    - {name: v, type: vector, dim: 3}
    - {name: y, type: numeric}
  label: y
transforms:
  - {type: minmax_scaler, inputs: [a, v], output: av}
  - {type: standard_scaler, inputs: [b], output: bs, with_mean: true}
  - {type: assembler, inputs: [bs, av]}
algorithm:
  logistic_regression: {reg_param: 0.01, max_iter: 40}
evaluation: {test_fraction: 0.25, seed: 5}
on_bad_record: skip
`
	}
	for _, c := range []struct {
		name, optional string
		cached         bool
	}{{"once", "", true}, {"twice", ", optional: true", false}} {
		spec, err := ParseSpec("job.yaml", []byte(job(c.name, c.optional)))
		if err != nil {
			t.Fatal(err)
		}
		p, err := features.New(spec.Schema, spec.Transforms)
		if err != nil {
			t.Fatal(err)
		}
		if p.CachedFit() != c.cached {
			t.Fatalf("%s: CachedFit = %v, want %v", c.name, p.CachedFit(), c.cached)
		}
	}
	once, err := e.run(t, job("once", ""))
	if err != nil {
		t.Fatal(err)
	}
	twice, err := e.run(t, job("twice", ", optional: true"))
	if err != nil {
		t.Fatal(err)
	}
	if once.Rows != 1999 || once.Skipped != 1 || once.Rows != twice.Rows || once.Skipped != twice.Skipped ||
		once.TrainRows != twice.TrainRows || once.TestRows != twice.TestRows {
		t.Fatalf("parsed once: %d rows (%d skipped, %d/%d train/test); twice: %d (%d, %d/%d)",
			once.Rows, once.Skipped, once.TrainRows, once.TestRows, twice.Rows, twice.Skipped, twice.TrainRows, twice.TestRows)
	}
	a, _, err := e.reg.Latest(context.Background(), "once")
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := e.reg.Latest(context.Background(), "twice")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Params, b.Params) {
		t.Fatal("the model parsed once differs from the one fitted by a scan and decoded again")
	}
	var pa, pb features.Pipeline
	if err := json.Unmarshal(a.Pipeline, &pa); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b.Pipeline, &pb); err != nil {
		t.Fatal(err)
	}
	for i := range pa.Stages {
		sa, _ := json.Marshal(pa.Stages[i])
		sb, _ := json.Marshal(pb.Stages[i])
		if !bytes.Equal(sa, sb) {
			t.Fatalf("transforms[%d] fitted differently:\n once  %s\n twice %s", i, sa, sb)
		}
	}
}

// A source with no valid record fails the same way on either path.
func TestParseOnceNoValidRecords(t *testing.T) {
	e := newEnv(t)
	e.appendJSON(t, "bad", []map[string]any{{"x": "one", "y": 1.0}, {"x": "two", "y": 0.0}})
	_, err := e.run(t, `
name: none
source: {topic: bad}
schema: {fields: [{name: x, type: numeric}, {name: y, type: numeric}], label: y}
transforms: [{type: minmax_scaler, inputs: [x], output: xs}]
algorithm: {linear_regression: {}}
on_bad_record: skip
`)
	if err == nil || !strings.Contains(err.Error(), "holds no valid records") {
		t.Fatalf("a source of bad records only: %v, want \"holds no valid records\"", err)
	}
}
