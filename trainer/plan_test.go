package trainer

import (
	"strings"
	"testing"
)

// --dry-run describes what the job evaluates on: k-means uses every row,
// the others hold some out.
func TestPlanEvaluation(t *testing.T) {
	for _, c := range []struct{ algo, want, not string }{
		{"kmeans: {k: 3}", "on every row", "held out"},
		{"logistic_regression: {}", "20% of rows held out", "every row"},
		{"als: {user: a, item: b, rating: c}", "20% of rows held out", "every row"},
	} {
		spec, err := ParseSpec("job.yaml", []byte("name: p\nsource: {files: [x.jsonl]}\n"+
			"schema: {fields: [{name: a, type: numeric}, {name: b, type: numeric}, {name: c, type: numeric}], label: c}\n"+
			"algorithm: {"+c.algo+"}\n"))
		if err != nil {
			t.Fatalf("%s: %v", c.algo, err)
		}
		plan := Plan(spec)
		if !strings.Contains(plan, c.want) || strings.Contains(plan, c.not) {
			t.Errorf("plan for %s says %q about evaluation, want %q:\n%s", c.algo, c.not, c.want, plan)
		}
	}
}
