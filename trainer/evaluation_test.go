package trainer

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// linearLines are CSV rows y = 3a − 2b + 5 + noise; flip negates the
// slope of a, so rows of a flipped file follow another law.
func linearLines(n int, seed uint64, flip bool) []string {
	r := rand.New(rand.NewPCG(seed, 4))
	lines := []string{"a,b,y"}
	for i := 0; i < n; i++ {
		a, b := r.Float64()*10, r.Float64()*10
		s := 3.0
		if flip {
			s = -3
		}
		lines = append(lines, fmt.Sprintf("%v,%v,%v", a, b, s*a-2*b+5+0.1*r.NormFloat64()))
	}
	return lines
}

func linearSpec(name, file, algo, evaluation string) string {
	return fmt.Sprintf(`
name: %s
source: {files: [%q], header: true, partitions: 2}
schema:
  format: csv
  fields: [{name: a, type: numeric}, {name: b, type: numeric}, {name: y, type: numeric}]
  label: y
algorithm:
  %s
evaluation: %s
`, name, file, algo, evaluation)
}

func (e *env) params(t *testing.T, name string, version int) []byte {
	t.Helper()
	art, _, err := e.reg.Get(context.Background(), name, version)
	if err != nil {
		t.Fatal(err)
	}
	return art.Params
}

// test_fraction: 0 trains on every row; the metrics are the training
// rows', and the result says so.
func TestTestFractionZeroTrainsOnEveryRow(t *testing.T) {
	e := newEnv(t)
	p := writeLines(t, "lin.csv", linearLines(500, 1, false))
	res, err := e.run(t, linearSpec("all", p, "linear_regression: {}", "{test_fraction: 0}"))
	if err != nil {
		t.Fatal(err)
	}
	if res.TrainRows != 500 || res.TestRows != 0 || res.Rows != 500 || res.EvaluatedOn != "training rows" {
		t.Fatalf("test_fraction 0: rows %d train %d test %d, evaluated on %q", res.Rows, res.TrainRows, res.TestRows, res.EvaluatedOn)
	}
	def, err := e.run(t, linearSpec("split", p, "linear_regression: {}", "{}"))
	if err != nil {
		t.Fatal(err)
	}
	if def.TestRows == 0 || def.TrainRows+def.TestRows != 500 || def.EvaluatedOn != "held-out rows" {
		t.Fatalf("default: train %d test %d, evaluated on %q", def.TrainRows, def.TestRows, def.EvaluatedOn)
	}
}

// A grid chooses on rows the job never reports on. The test file follows
// another law than the training file: had the search scored its points on
// the test rows, the heavily regularised point (predicting near the mean)
// would have won there.
func TestGridNeverChoosesOnTheReportedRows(t *testing.T) {
	e := newEnv(t)
	train := writeLines(t, "train.csv", linearLines(600, 2, false))
	test := writeLines(t, "test.csv", linearLines(200, 3, true))
	for _, ev := range []string{
		fmt.Sprintf("{test: {files: [%q], header: true}, grid: {reg_param: [0, 1000]}}", test),
		fmt.Sprintf("{test: {files: [%q], header: true}, folds: 3, grid: {reg_param: [0, 1000]}}", test),
	} {
		res, err := e.run(t, linearSpec("grid", train, "linear_regression: {}", ev))
		if err != nil {
			t.Fatal(err)
		}
		if res.Best["reg_param"] != 0 || res.EvaluatedOn != "test source" || res.TestRows != 200 || res.TrainRows != 600 {
			t.Fatalf("%s: best %v, evaluated on %q, train %d test %d", ev, res.Best, res.EvaluatedOn, res.TrainRows, res.TestRows)
		}
		if len(res.Trials) != 2 || res.Trials[0].Score > 0.2 || res.Metrics["rmse"] < 10 {
			t.Fatalf("%s: trials %+v, reported rmse %v: the choice should score well and the flipped test rows badly", ev, res.Trials, res.Metrics["rmse"])
		}
	}
}

// After a grid search the chosen point is fitted again on all the training
// rows (the model a job without the grid fits), unless refit: false, which
// publishes the search's model.
func TestRefitAfterSelection(t *testing.T) {
	e := newEnv(t)
	p := writeLines(t, "lin.csv", linearLines(800, 4, false))
	algo := "linear_regression: {solver: lbfgs, standardization: false}"
	grid, err := e.run(t, linearSpec("refit", p, algo, "{grid: {reg_param: [0.5, 0.01]}}"))
	if err != nil {
		t.Fatal(err)
	}
	if !grid.Refit || grid.Best["reg_param"] != 0.01 {
		t.Fatalf("refit %v best %v", grid.Refit, grid.Best)
	}
	plain, err := e.run(t, linearSpec("plain", p, "linear_regression: {solver: lbfgs, standardization: false, reg_param: 0.01}", "{}"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(e.params(t, "refit", grid.Version), e.params(t, "plain", plain.Version)) {
		t.Error("the refit model differs from the chosen point fitted on the training rows without a grid")
	}
	kept, err := e.run(t, linearSpec("kept", p, algo, "{grid: {reg_param: [0.5, 0.01]}, refit: false}"))
	if err != nil {
		t.Fatal(err)
	}
	if kept.Refit || bytes.Equal(e.params(t, "kept", kept.Version), e.params(t, "plain", plain.Version)) {
		t.Errorf("refit: false: Refit %v, and the model should be the search's, fitted on fewer rows", kept.Refit)
	}
}

// folds works for every algorithm: the folds' mean and standard deviation
// of each metric are reported beside the held-out metrics.
func TestFoldsForEveryAlgorithm(t *testing.T) {
	e := newEnv(t)
	lin := writeLines(t, "lin.csv", linearLines(400, 5, false))
	r := rand.New(rand.NewPCG(6, 7))
	cls := []string{"a,b,y"}
	for i := 0; i < 400; i++ {
		a, b := r.NormFloat64(), r.NormFloat64()
		y := 0
		if a+b > 0 {
			y = 1
		}
		cls = append(cls, fmt.Sprintf("%v,%v,%d", a, b, y))
	}
	clsFile := writeLines(t, "cls.csv", cls)
	ints, _ := alsRecords(60, 40, 20, 3)
	e.appendJSON(t, "cv-ratings", ints)
	for _, c := range []struct{ name, spec, metric string }{
		{"linear", linearSpec("cv-linear", lin, "linear_regression: {}", "{folds: 3, metrics: [rmse, r2]}"), "r2"},
		{"logistic", linearSpec("cv-logistic", clsFile, "logistic_regression: {}", "{folds: 3}"), "accuracy"},
		{"mlp", linearSpec("cv-mlp", clsFile, "mlp: {hidden_layers: [4], max_iter: 50}", "{folds: 3}"), "accuracy"},
		{"kmeans", strings.Replace(linearSpec("cv-kmeans", lin, "kmeans: {k: 2}", "{folds: 3}"), "  label: y\n", "", 1), "silhouette"},
		{"als", alsSpec("cv-als", "cv-ratings", "numeric", ", cold_start_strategy: drop") + "evaluation: {folds: 3}\n", "mae"},
	} {
		res, err := e.run(t, c.spec)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		mean, ok1 := res.Metrics[c.metric+"_cv_mean"]
		_, ok2 := res.Metrics[c.metric+"_cv_std"]
		if !ok1 || !ok2 || mean == 0 {
			t.Errorf("%s: metrics %v lack %s_cv_mean and _cv_std", c.name, res.Metrics, c.metric)
		}
		if _, ok := res.Metrics[c.metric]; !ok {
			t.Errorf("%s: metrics %v lack the held-out %s", c.name, res.Metrics, c.metric)
		}
	}
}

// evaluation.test may name an offset range of the source topic: the job
// trains on the offsets before it and reports on those in it.
func TestEvaluationTestOffsetRange(t *testing.T) {
	e := newEnv(t)
	ints, _ := alsRecords(50, 30, 12, 9)
	e.appendJSON(t, "range-ratings", ints)
	n := len(ints)
	split := n * 3 / 4
	spec := strings.Replace(alsSpec("range", "range-ratings", "numeric", ", cold_start_strategy: drop"),
		"source: {topic: range-ratings}", fmt.Sprintf("source: {topic: range-ratings, to: %d}", split), 1) +
		fmt.Sprintf("evaluation: {test: {from: %d}}\n", split)
	res, err := e.run(t, spec)
	if err != nil {
		t.Fatal(err)
	}
	if res.TrainRows != split || res.TestRows != n-split || res.EvaluatedOn != "test source" {
		t.Fatalf("train %d test %d (want %d and %d), evaluated on %q", res.TrainRows, res.TestRows, split, n-split, res.EvaluatedOn)
	}
	for _, m := range []string{"rmse", "mae", "r2"} {
		if _, ok := res.Metrics[m]; !ok {
			t.Errorf("ALS metrics %v lack %s", res.Metrics, m)
		}
	}
	// A topic of its own: here the same records again, so the report is
	// of training ratings and the error small.
	e.appendJSON(t, "range-copy", ints[:split])
	res, err = e.run(t, strings.Replace(spec, fmt.Sprintf("test: {from: %d}", split), "test: {topic: range-copy}", 1))
	if err != nil {
		t.Fatal(err)
	}
	if res.TestRows != split || res.Metrics["rmse"] > 0.5 {
		t.Fatalf("test topic: %d test rows (want %d), rmse %v", res.TestRows, split, res.Metrics["rmse"])
	}
}

// A NaN metric is an error naming its cause: ALS's default cold-start
// strategy with held-out users the training ratings lack.
func TestNaNMetricIsAnError(t *testing.T) {
	e := newEnv(t)
	ints, _ := alsRecords(200, 40, 1, 11) // one rating a user: the held-out ones are of users training lacks
	e.appendJSON(t, "cold", ints)
	_, err := e.run(t, alsSpec("cold", "cold", "numeric", ""))
	if err == nil || !strings.Contains(err.Error(), "cold_start_strategy is nan") || !strings.Contains(err.Error(), "held-out rows") {
		t.Fatalf("err = %v, want the cold-start cause", err)
	}
	// The same under a grid: every point fails, and the error says why.
	_, err = e.run(t, alsSpec("cold", "cold", "numeric", "")+"evaluation: {grid: {rank: [2, 3]}}\n")
	if err == nil || !strings.Contains(err.Error(), "every grid point failed") || !strings.Contains(err.Error(), "cold_start_strategy is nan") {
		t.Fatalf("grid err = %v", err)
	}
	// Under drop, such ratings are left out, and here that leaves none.
	_, err = e.run(t, alsSpec("cold", "cold", "numeric", ", cold_start_strategy: drop"))
	if err == nil || !strings.Contains(err.Error(), "has both its user and its item in the training ratings") {
		t.Fatalf("drop: err = %v", err)
	}
}

// A grid point that fails is skipped and recorded; the others decide.
// k-means cannot make more clusters than it has rows.
func TestFailingGridPointIsSkipped(t *testing.T) {
	e := newEnv(t)
	p := writeLines(t, "lin.csv", linearLines(300, 12, false))
	spec := strings.Replace(linearSpec("toomany", p, "kmeans: {k: 2}", "{grid: {k: [1000, 3]}}"), "  label: y\n", "", 1)
	res, err := e.run(t, spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Trials) != 2 || res.Trials[0].Err == "" || res.Trials[1].Err != "" || res.Best["k"] != 3 {
		t.Fatalf("trials %+v best %v", res.Trials, res.Best)
	}
	t.Logf("the failed point: %s", res.Trials[0].Err)
}

// Every summary says how many iterations the published fit ran and why it
// stopped.
func TestSummaryStatesIterationsAndStop(t *testing.T) {
	e := newEnv(t)
	p := writeLines(t, "lin.csv", linearLines(300, 14, false))
	for _, algo := range []string{"linear_regression: {solver: gd, max_iter: 3}", "linear_regression: {}", "kmeans: {k: 2, max_iter: 3}"} {
		spec := linearSpec("it", p, algo, "{}")
		if strings.HasPrefix(algo, "kmeans") {
			spec = strings.Replace(spec, "  label: y\n", "", 1)
		}
		res, err := e.run(t, spec)
		if err != nil {
			t.Fatalf("%s: %v", algo, err)
		}
		if res.Iterations < 1 || res.Stop == "" || res.Stop == "converged" {
			t.Errorf("%s: %d iterations, stop %q", algo, res.Iterations, res.Stop)
		}
		t.Logf("%s: %d iterations, %s", algo, res.Iterations, res.Stop)
		if strings.Contains(algo, "max_iter: 3") && (res.Iterations != 3 || !strings.Contains(res.Stop, "max_iter 3")) {
			t.Errorf("%s: %d iterations, stop %q", algo, res.Iterations, res.Stop)
		}
	}
}

// The new evaluation fields are checked against each other.
func TestEvaluationSpecMistakes(t *testing.T) {
	for _, c := range []struct{ eval, want string }{
		{"{test_fraction: 0.2, test: {files: [t.csv]}}", "give test_fraction or test, not both"},
		{"{refit: false}", "refit: false applies to a grid"},
		{"{refit: false, folds: 3, grid: {reg_param: [1]}}", "refit: false applies to a grid"},
		{"{validation_fraction: 0.3}", "applies to a grid searched without folds"},
		{"{test: {from: 10}}", "an offset range alone applies to a topic source"},
		{"{test: {files: [t.csv], from: 3}}", "offsets apply to topics, not files"},
	} {
		_, err := ParseSpec("job.yaml", []byte(linearSpec("m", "x.csv", "linear_regression: {}", c.eval)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.eval, err, c.want)
		}
	}
}
