package trainer

import (
	"strings"
	"testing"
)

// --dry-run describes what the job evaluates on and how a grid chooses:
// every algorithm holds a share out by default, test_fraction: 0 reports
// the training rows, a test source names its records, and a grid chooses
// on rows the report never uses.
func TestPlanEvaluation(t *testing.T) {
	for _, c := range []struct{ algo, eval, want, not string }{
		{"kmeans: {k: 3}", "", "20% of rows held out", "training rows"},
		{"logistic_regression: {}", "", "20% of rows held out", "training rows"},
		{"als: {user: a, item: b, rating: c}", "", "20% of rows held out", "training rows"},
		{"linear_regression: {}", "{test_fraction: 0}", "metrics of the training rows", "held out"},
		{"linear_regression: {}", "{test: {files: [t.jsonl]}}", "metrics of 1 test file(s): t.jsonl", "held out"},
		{"linear_regression: {}", "{grid: {reg_param: [0, 1]}}", "chosen by rmse on 25% of the training rows, fitted on the rest; the chosen point is fitted again on all the training rows", "cross-validation"},
		{"linear_regression: {}", "{folds: 3, grid: {reg_param: [0, 1]}}", "chosen by the mean rmse of 3-fold cross-validation of the training rows", "25%"},
		{"linear_regression: {}", "{grid: {reg_param: [0, 1]}, refit: false}", "its model from the search is published (refit: false)", "fitted again"},
		{"kmeans: {k: 3}", "{grid: {k: [2, 3]}}", "chosen by silhouette", "inertia on"},
	} {
		eval := ""
		if c.eval != "" {
			eval = "evaluation: " + c.eval + "\n"
		}
		spec, err := ParseSpec("job.yaml", []byte("name: p\nsource: {files: [x.jsonl]}\n"+
			"schema: {fields: [{name: a, type: numeric}, {name: b, type: numeric}, {name: c, type: numeric}], label: c}\n"+
			"algorithm: {"+c.algo+"}\n"+eval))
		if err != nil {
			t.Fatalf("%s: %v", c.algo, err)
		}
		plan := Plan(spec)
		if !strings.Contains(plan, c.want) || strings.Contains(plan, c.not) {
			t.Errorf("plan for %s %s: want %q and not %q:\n%s", c.algo, c.eval, c.want, c.not, plan)
		}
	}
}
