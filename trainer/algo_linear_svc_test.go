package trainer

import (
	"fmt"
	"strings"
	"testing"

	"github.com/flintml/flint/ml"
)

// Linear SVM jobs on breast_cancer: held-out accuracy as scikit-learn's
// LinearSVC reaches (about 0.97), a grid over the penalty, and no log-loss
// (the SVM has margins, not probabilities).
func TestLinearSVCJob(t *testing.T) {
	e := newEnv(t)
	file, fields := sklearnCSV(t, "breast_cancer")
	for _, c := range []struct{ algo, eval string }{
		{"linear_svc: {reg_param: 0.01}", "{metrics: [accuracy, auc, f1]}"},
		{"linear_svc: {}", "{grid: {reg_param: [0.001, 0.1, 10]}}"},
		{"linear_svc: {solver: sgd, reg_param: 0.01, max_iter: 200}", "{folds: 3}"},
	} {
		res, err := e.run(t, fmt.Sprintf(`
name: cancer
source: {files: [%q], partitions: 3}
schema: {format: csv, fields: %s, label: y}
algorithm: {%s}
evaluation: %s
`, file, fields, c.algo, c.eval))
		if err != nil {
			t.Fatalf("%s: %v", c.algo, err)
		}
		if res.Algorithm != "linear_svc" || res.Metrics["accuracy"] < 0.93 || res.Stop == "" {
			t.Errorf("%s: %+v", c.algo, res)
		}
		if len(res.Best) > 0 && res.Best["reg_param"] == 10 {
			t.Errorf("%s: the grid chose reg_param 10: %+v", c.algo, res.Trials)
		}
		m, err := ml.UnmarshalModel(e.params(t, "cancer", res.Version))
		if err != nil || m.Algorithm() != "linear_svc" {
			t.Errorf("%s: published model %v: %v", c.algo, m, err)
		}
		t.Logf("%s %s: %v; %d iterations, %s", c.algo, c.eval, res.Metrics, res.Iterations, res.Stop)
	}
	_, err := ParseSpec("job.yaml", []byte(linearSpec("svm", "x.csv", "linear_svc: {}", "{metrics: [logloss]}")))
	if err == nil || !strings.Contains(err.Error(), `"logloss" is not a metric of linear_svc`) {
		t.Errorf("logloss: %v", err)
	}
}
