package trainer

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestParseGoodSpec(t *testing.T) {
	s, err := LoadSpec("testdata/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.Algorithm.Name() != "logistic_regression" || s.Algorithm.LogisticRegression.RegParam != 0.0001 ||
		s.Algorithm.LogisticRegression.MaxIter != 100 || s.Engine.MemoryLimit != 4<<30 || s.Source.Split != 2 ||
		len(s.Evaluation.Grid["reg_param"]) != 2 || s.Output.Min["accuracy"] != 0.8 || s.Schema.Fields[1].Dim != 784 {
		t.Fatalf("parsed spec = %+v", s)
	}
}

// Every problem is reported at once, each with file:line:column and the
// field path.
func TestSpecErrorsNamePositionAndPath(t *testing.T) {
	_, err := LoadSpec("testdata/bad.yaml")
	var es SpecErrors
	if !errors.As(err, &es) {
		t.Fatalf("LoadSpec(bad) = %v, want SpecErrors", err)
	}
	want := []string{
		`testdata/bad.yaml:1:7: name: "bad/name"`,
		`testdata/bad.yaml:4:9: source.from: want earliest or an offset, got "yesterday"`,
		`testdata/bad.yaml:8:14: schema.fields[1].name: "x" appears twice`,
		`schema.fields[1].type: unknown type "number"`,
		`schema.label: no field named "y"`,
		`testdata/bad.yaml:11:29: transforms[0].inputz: unknown field (did you mean "inputs"?)`,
		`testdata/bad.yaml:14:16: algorithm.logistic_regression.reg_param: want a number, got "lots"`,
		`testdata/bad.yaml:13:3: algorithm: choose one algorithm, not logistic_regression and kmeans`,
		`testdata/bad.yaml:20:10: evaluation.folds: want 0 (no cross-validation) or at least 2, got 1`,
		`testdata/bad.yaml:22:12: engine.workers: must not be negative, got -2`,
		`testdata/bad.yaml:23:17: engine.memory_limit: want a size such as 512MiB or 4GiB, got "huge"`,
		`testdata/bad.yaml:25:10: output.alias: "1prod": start with a letter`,
		`testdata/bad.yaml:26:16: on_bad_record: want fail, skip or dead_letter, got "ignore"`,
	}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("errors do not include %q", w)
		}
	}
	if t.Failed() {
		t.Logf("got:\n%s", msg)
	}
	for i := 1; i < len(es); i++ {
		if es[i].Pos.Line < es[i-1].Pos.Line {
			t.Fatalf("errors are not in file order: %v before %v", es[i-1], es[i])
		}
	}
}

func TestSpecMistakes(t *testing.T) {
	base, _ := os.ReadFile("testdata/good.yaml")
	cases := []struct {
		name, from, to, want string
	}{
		{"no algorithm", "algorithm:\n  logistic_regression:\n    reg_param: 0.0001\n    max_iter: 100\n    family: multinomial\n", "algorithm: {}\n", "algorithm: choose one of"},
		{"files and topic", "  topic: fashion-train\n", "  topic: fashion-train\n  files: [a.csv]\n", "give a topic or files, not both"},
		{"unknown metric", "metrics: [accuracy, f1]", "metrics: [accuracy, rmse]", `evaluation.metrics[1]: "rmse" is not a metric of logistic_regression`},
		{"unknown grid param", "    reg_param: [0.001, 0.0001]", "    k: [1, 2]", "evaluation.grid.k: not a grid parameter"},
		{"not yaml", "name: fashion-logreg", "name: [unclosed", "not valid YAML"},
		{"list for mapping", "engine:\n  workers: 2\n  memory_limit: 4GiB\n", "engine: [2]\n", "engine: want a mapping of fields, got a list"},
		{"dead letter without topic", "name: fashion-logreg", "name: fashion-logreg\non_bad_record: dead_letter", "dead_letter needs dead_letter_topic"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := strings.Replace(string(base), c.from, c.to, 1)
			if src == string(base) {
				t.Fatalf("case did not change the spec")
			}
			_, err := ParseSpec("job.yaml", []byte(src))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("ParseSpec = %v, want %q", err, c.want)
			}
		})
	}
}

func FuzzParseSpec(f *testing.F) {
	for _, p := range []string{"testdata/good.yaml", "testdata/bad.yaml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("a: [\n"))
	f.Add([]byte("*x"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSpec("fuzz.yaml", data) // must not panic
		if err == nil && (s.Name == "" || s.Algorithm.Name() == "") {
			t.Fatalf("accepted a spec without a name or algorithm: %q", data)
		}
	})
}
