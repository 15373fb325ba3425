package online

import (
	"os"
	"strings"
	"testing"
	"time"
)

const goodSpec = `name: clicks
source: {topic: clicks, group: g1, start: latest}
schema:
  fields:
    - {name: x, type: numeric}
    - {name: clicked, type: numeric}
  label: clicked
algorithm:
  streaming_logistic: {step_size: 0.5, reg_param: 0.01, intercept: false}
batch_records: 200
publish: {every_records: 1000, every: 30s}
output: {model: ctr, alias: production}
`

func TestParseSpec(t *testing.T) {
	s, err := ParseSpec("good.yaml", []byte(goodSpec))
	if err != nil {
		t.Fatal(err)
	}
	if s.ModelName() != "ctr" || s.GroupName() != "g1" || s.batch() != 200 || s.publishRecords() != 1000 || s.Publish.Every != 30*time.Second {
		t.Errorf("parsed %+v", s)
	}
	if c := s.Algorithm.Logistic.config(3); c.Dim != 3 || !c.NoIntercept || c.StepSize != 0.5 || c.RegParam != 0.01 {
		t.Errorf("config %+v", c)
	}
	// Defaults.
	d := &Spec{Name: "n"}
	if d.ModelName() != "n" || d.GroupName() != "online-n" || d.batch() != defaultBatch || d.publishRecords() != defaultPublishN || d.fitRecords() != defaultFitRecords {
		t.Errorf("defaults of %+v", d)
	}
}

// TestSpecErrors: every problem is reported with file:line:column and
// the field path.
func TestSpecErrors(t *testing.T) {
	for _, tc := range []struct {
		name, replace, with string
		want                []string
	}{
		{"unknown field", "batch_records: 200", "batch_recods: 200", []string{`bad.yaml:10:1: batch_recods: unknown field (did you mean "batch_records"?)`}},
		{"two algorithms", "  streaming_logistic:", "  streaming_kmeans: {k: 2}\n  streaming_logistic:", []string{"bad.yaml:9:3: algorithm: choose exactly one of"}},
		{"no algorithm", "  streaming_logistic: {step_size: 0.5, reg_param: 0.01, intercept: false}", "  {}", []string{"bad.yaml:9:3: algorithm: choose exactly one"}},
		{"bad k", "  streaming_logistic: {step_size: 0.5, reg_param: 0.01, intercept: false}", "  streaming_kmeans: {k: 0, decay_factor: 1.5, time_unit: hours}",
			[]string{"bad.yaml:9:25: algorithm.streaming_kmeans.k: want at least 1 cluster, got 0",
				"bad.yaml:9:42: algorithm.streaming_kmeans.decay_factor: want a number in (0, 1], got 1.5",
				"bad.yaml:9:58: algorithm.streaming_kmeans.time_unit: want batches or points"}},
		{"bad fraction", "reg_param: 0.01", "reg_param: -1, mini_batch_fraction: 2", []string{"algorithm.streaming_logistic.reg_param: must not be negative", "algorithm.streaming_logistic.mini_batch_fraction: want a number in (0, 1], got 2"}},
		{"bad duration", "every: 30s", "every: soon", []string{`bad.yaml:11:39: publish.every: want a duration such as 30s or 5m, got "soon"`}},
		{"bad start", "start: latest", "start: middle", []string{`bad.yaml:2:43: source.start: want earliest or latest, got "middle"`}},
		{"no topic", "source: {topic: clicks, group: g1, start: latest}", "source: {group: g1}", []string{"bad.yaml:2:9: source.topic: required"}},
		{"unknown transform input", "  label: clicked", "  label: clicked\ntransforms:\n  - {type: standard_scaler, inputs: [nope], output: s}", []string{"transforms[0]"}},
		{"bad record policy", "batch_records: 200", "batch_records: 200\non_bad_record: dead_letter", []string{`on_bad_record: want fail or skip, got "dead_letter"`}},
		{"no label", "  label: clicked\n", "", []string{"schema.label: streaming_logistic needs a label field"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.Replace(goodSpec, tc.replace, tc.with, 1)
			if text == goodSpec {
				t.Fatalf("%q is not in the spec", tc.replace)
			}
			_, err := ParseSpec("bad.yaml", []byte(text))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\nlacks %q", err, w)
				}
			}
		})
	}
}

// TestExampleSpec: the example in examples/ parses.
func TestExampleSpec(t *testing.T) {
	data, err := os.ReadFile("../../examples/blobs-online.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseSpec("blobs-online.yaml", data); err != nil {
		t.Fatal(err)
	}
}

func FuzzParseSpec(f *testing.F) {
	f.Add([]byte(goodSpec))
	f.Add([]byte("name: x\nalgorithm: {streaming_kmeans: {k: 2}}\n"))
	f.Add([]byte("{"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSpec("fuzz.yaml", data)
		if err == nil && (s.Algorithm.name() == "" || s.Source.Topic == "") {
			t.Fatalf("accepted a spec without an algorithm or topic: %+v", s)
		}
	})
}

func FuzzDecodeState(f *testing.F) {
	f.Add([]byte(`{"format":1,"algorithm":"streaming_kmeans","topic":"t","records":5,"rows":5,"batches":1,"weights":[2,3],"offsets":[{"partition":0,"from":0,"to":5}]}`))
	f.Add([]byte(`{"format":2}`))
	f.Add([]byte(`{"format":1,"offsets":[{"partition":0,"from":4,"to":2}]}`))
	f.Add([]byte(`{"format":1,"offsets":[{"partition":0,"from":0,"to":5},{"partition":0,"from":3,"to":9}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := decodeState(data)
		if err != nil {
			return
		}
		for i, r := range st.Offsets {
			if r.From < 0 || r.To <= r.From || i > 0 && st.Offsets[i-1].Partition == r.Partition && st.Offsets[i-1].To > r.From {
				t.Fatalf("accepted ranges %+v", st.Offsets)
			}
		}
		for _, w := range st.Weights {
			if !(w >= 0) {
				t.Fatalf("accepted weight %v", w)
			}
		}
	})
}
