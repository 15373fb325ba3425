package trainer

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"testing"

	"github.com/flintml/flint/ml"
)

// clicksCSV writes a small binary classification problem: x1,x2,y with a
// header.
func clicksCSV(t testing.TB) string {
	t.Helper()
	r := rand.New(rand.NewPCG(7, 8))
	lines := []string{"x1,x2,y"}
	for range 1000 {
		x1, x2 := r.NormFloat64(), r.NormFloat64()
		y := 0
		if 2*x1-x2+0.5*r.NormFloat64() > 0 {
			y = 1
		}
		lines = append(lines, fmt.Sprintf("%g,%g,%d", x1, x2, y))
	}
	return writeLines(t, "clicks.csv", lines)
}

// jobSpec is a file job training logistic regression as model name.
func jobSpec(name, csv string) string {
	return fmt.Sprintf(`name: %s
source: {files: [%q], header: true}
schema:
  format: csv
  fields: [{name: x1, type: numeric}, {name: x2, type: numeric}, {name: y, type: numeric}]
  label: y
algorithm:
  logistic_regression: {max_iter: 100, tol: 1e-12, standardization: false}
engine: {workers: 2}
`, name, csv)
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelError + 1}))
}

// iterHook is an Observer that calls fn on every iteration.
type iterHook func(trial int, p ml.Progress)

func (iterHook) Phase(string)                                {}
func (h iterHook) Iteration(trial int, p ml.Progress, _ int) { h(trial, p) }
