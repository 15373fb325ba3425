package trainer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// engine.precision is checked with the other fields: an unknown value, and
// float32 for an algorithm that reads float64 rows only, each named with
// its position.
func TestPrecisionSpecErrors(t *testing.T) {
	for _, c := range []struct {
		name, algo, precision, want string
	}{
		{"unknown", "logistic_regression: {}", "half", `job.yaml:11:21: engine.precision: want float64 or float32, got "half"`},
		{"naive_bayes", "naive_bayes: {}", "float32", `job.yaml:11:21: engine.precision: naive_bayes reads float64 rows only; float32 applies to linear_regression, logistic_regression, linear_svc, kmeans`},
		{"mlp", "mlp: {hidden: [4]}", "float32", `engine.precision: mlp reads float64 rows only`},
	} {
		t.Run(c.name, func(t *testing.T) {
			spec := linearSpec("p", "x.csv", c.algo, "{}") + "engine: {precision: " + c.precision + "}\n"
			_, err := ParseSpec("job.yaml", []byte(spec))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("ParseSpec = %v, want an error with %q", err, c.want)
			}
		})
	}
	for _, algo := range []string{"logistic_regression: {}", "linear_regression: {}", "linear_svc: {}", "kmeans: {k: 2}"} {
		spec := linearSpec("p", "x.csv", algo, "{}") + "engine: {precision: float32}\n"
		if _, err := ParseSpec("job.yaml", []byte(spec)); err != nil {
			t.Errorf("%s with float32: %v", algo, err)
		}
	}
}

// A job with engine.precision: float32 caches float32 rows (through the
// cached fit of its min-max transform) and its held-out metrics are within
// the stated tolerance of the float64 job's (ml's float32AccuracyTol:
// accuracy within 0.01; log-loss within 1e-3 relative).
func TestFloat32JobWithinTolerance(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var sb strings.Builder
	sb.WriteString("a,b,y\n")
	for range 3000 {
		a, b := 100*r.NormFloat64(), math.Pi*r.NormFloat64()
		y := 0
		if 0.02*a-0.7*b+0.5*r.NormFloat64() > 0 {
			y = 1
		}
		fmt.Fprintf(&sb, "%v,%v,%d\n", a, b, y)
	}
	file := filepath.Join(t.TempDir(), "d.csv")
	if err := os.WriteFile(file, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	var m [2]map[string]float64
	for i, prec := range []string{"float64", "float32"} {
		spec := linearSpec("p"+prec, file, "logistic_regression: {reg_param: 0.001}", "{test_fraction: 0.2, metrics: [accuracy, logloss]}") +
			"transforms: [{type: minmax_scaler, inputs: [a, b], output: f}]\nengine: {precision: " + prec + "}\n"
		res, err := e.run(t, spec)
		if err != nil {
			t.Fatal(err)
		}
		m[i] = res.Metrics
	}
	t.Logf("float64 %v, float32 %v", m[0], m[1])
	if d := math.Abs(m[1]["accuracy"] - m[0]["accuracy"]); d > 0.01 {
		t.Errorf("held-out accuracy differs by %v", d)
	}
	if d := math.Abs(m[1]["logloss"]-m[0]["logloss"]) / m[0]["logloss"]; d > 1e-3 {
		t.Errorf("held-out log-loss differs by %v relative", d)
	}
}

// A k-means job runs on float32 rows too, to the float64 job's inertia
// within 1e-3 relative.
func TestFloat32KMeansJob(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var sb strings.Builder
	sb.WriteString("a,b,y\n")
	for i := range 2000 {
		c := float64(i % 3)
		fmt.Fprintf(&sb, "%v,%v,0\n", 10*c+r.NormFloat64(), -7*c+0.3*r.NormFloat64())
	}
	file := filepath.Join(t.TempDir(), "k.csv")
	if err := os.WriteFile(file, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	var inertia [2]float64
	for i, prec := range []string{"float64", "float32"} {
		spec := linearSpec("k"+prec, file, "kmeans: {k: 3, seed: 2}", "{test_fraction: 0.2}") +
			"transforms: [{type: standard_scaler, inputs: [a, b], output: f}]\nengine: {precision: " + prec + "}\n"
		res, err := e.run(t, spec)
		if err != nil {
			t.Fatal(err)
		}
		inertia[i] = res.Metrics["inertia"]
	}
	t.Logf("inertia float64 %v, float32 %v", inertia[0], inertia[1])
	if d := math.Abs(inertia[1]-inertia[0]) / inertia[0]; !(d <= 1e-3) {
		t.Errorf("inertia differs by %v relative", d)
	}
}
