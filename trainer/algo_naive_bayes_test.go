package trainer

import (
	"fmt"
	"strings"
	"testing"

	"github.com/flintml/flint/internal/datasets"
	"github.com/flintml/flint/ml"
)

// sklearnCSV writes one of scikit-learn's bundled sets as CSV (features
// f0…, then the class) and returns the file and the schema's fields.
func sklearnCSV(t *testing.T, name string) (file, fields string) {
	t.Helper()
	s, err := datasets.Sklearn(name)
	if err != nil {
		t.Fatal(err)
	}
	lines := make([]string, s.Rows)
	var f []string
	for j := 0; j < s.Cols; j++ {
		f = append(f, fmt.Sprintf("{name: f%d, type: numeric}", j))
	}
	for i := range lines {
		var b strings.Builder
		for j := 0; j < s.Cols; j++ {
			fmt.Fprintf(&b, "%v,", s.X[i*s.Cols+j])
		}
		fmt.Fprintf(&b, "%v", s.Y[i])
		lines[i] = b.String()
	}
	return writeLines(t, name+".csv", lines), "[" + strings.Join(f, ", ") + ", {name: y, type: numeric}]"
}

// Naive Bayes jobs of every model type, with a grid: the published model
// is a naive_bayes model that predicts the held-out rows well.
func TestNaiveBayesJob(t *testing.T) {
	e := newEnv(t)
	iris, irisFields := sklearnCSV(t, "iris")
	for _, c := range []struct{ algo, eval string }{
		{"naive_bayes: {model_type: gaussian}", "{grid: {var_smoothing: [1e-9, 1e-3]}}"},
		{"naive_bayes: {}", "{folds: 3}"},
		{"naive_bayes: {model_type: multinomial, smoothing: 0.5}", "{metrics: [accuracy, logloss]}"},
	} {
		res, err := e.run(t, fmt.Sprintf(`
name: iris
source: {files: [%q], partitions: 3}
schema: {format: csv, fields: %s, label: y}
algorithm: {%s}
evaluation: %s
`, iris, irisFields, c.algo, c.eval))
		if err != nil {
			t.Fatalf("%s: %v", c.algo, err)
		}
		if res.Algorithm != "naive_bayes" || res.Metrics["accuracy"] < 0.85 || res.Iterations != 1 || res.Stop == "" {
			t.Errorf("%s: %+v", c.algo, res)
		}
		m, err := ml.UnmarshalModel(e.params(t, "iris", res.Version))
		if err != nil || m.Algorithm() != "naive_bayes" {
			t.Errorf("%s: published model %v: %v", c.algo, m, err)
		}
	}
	if _, err := ParseSpec("job.yaml", []byte(`
name: nb
source: {files: [x.csv]}
schema: {format: csv, fields: [{name: a, type: numeric}, {name: y, type: numeric}], label: y}
algorithm: {naive_bayes: {model_type: poisson}}
`)); err == nil || !strings.Contains(err.Error(), "algorithm.naive_bayes.model_type: want multinomial, bernoulli or gaussian") {
		t.Errorf("bad model type: %v", err)
	}
}
