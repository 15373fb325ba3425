// Package trainertest holds the small training jobs and data files the
// tests of package trainer and its job manager (trainer/jobs) share: one
// job per algorithm, and a binary classification file.
package trainertest

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// WriteLines writes lines to a file of that name in a test's temporary
// directory and returns its path.
func WriteLines(t testing.TB, name string, lines []string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// ClicksCSV writes a small binary classification problem, x1,x2,y with a
// header, and returns its path.
func ClicksCSV(t testing.TB) string {
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
	return WriteLines(t, "clicks.csv", lines)
}

// JobSpec is a job training logistic regression on a ClicksCSV file, as
// model name.
func JobSpec(name, csv string) string {
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

// LoopSpec is the continuous-training job of the loop tests on Clicks
// records (JSON) in topic: logistic regression on the newest 1000 records,
// retrained every trigger new records, warm-started; with holdout > 0,
// promoted to production only if it beats the version behind it on the
// newest holdout records by 0.01 of log-loss.
func LoopSpec(topic string, trigger, holdout int) string {
	promote := ""
	if holdout > 0 {
		promote = fmt.Sprintf("promote: {alias: production, metric: logloss, margin: 0.01, holdout: {records: %d}}\n", holdout)
	}
	return fmt.Sprintf(`name: clicks
source: {topic: %s, window: {records: 1000}}
schema:
  format: json
  fields: [{name: x1, type: numeric}, {name: x2, type: numeric}, {name: y, type: numeric}]
  label: y
algorithm:
  logistic_regression: {max_iter: 300, tol: 1e-12}
trigger: {records: %d}
%sengine: {workers: 2}
`, topic, trigger, promote)
}

// AlgorithmSpecs are one small job per algorithm (logistic, kmeans, als,
// mlp), reading files, with models named lc-ALGORITHM.
func AlgorithmSpecs(t testing.TB) map[string]string {
	t.Helper()
	r := rand.New(rand.NewPCG(11, 12))
	var points, xor, ratings []string
	for i := range 600 {
		c := [][2]float64{{0, 0}, {10, 10}, {-10, 10}}[i%3]
		points = append(points, fmt.Sprintf(`{"x": %v, "y": %v}`, c[0]+r.NormFloat64(), c[1]+r.NormFloat64()))
		x, y := r.Float64()*2-1, r.Float64()*2-1
		cl := 0
		if x*y > 0 {
			cl = 1
		}
		xor = append(xor, fmt.Sprintf(`{"x": %v, "y": %v, "c": %d}`, x, y, cl))
	}
	for u := range 60 {
		for it := range 40 {
			if r.Float64() < 0.4 {
				ratings = append(ratings, fmt.Sprintf(`{"user": %d, "item": %d, "rating": %v}`, u, it, float64(1+(u*it)%5)))
			}
		}
	}
	num := func(names ...string) string {
		var f []string
		for _, n := range names {
			f = append(f, fmt.Sprintf("{name: %s, type: numeric}", n))
		}
		return "[" + strings.Join(f, ", ") + "]"
	}
	return map[string]string{
		"logistic": JobSpec("lc-logistic", ClicksCSV(t)),
		"kmeans": fmt.Sprintf("name: lc-kmeans\nsource: {files: [%q]}\nschema: {fields: %s}\nalgorithm: {kmeans: {k: 3, seed: 7}}\n",
			WriteLines(t, "points.jsonl", points), num("x", "y")),
		"als": fmt.Sprintf("name: lc-als\nsource: {files: [%q]}\nschema: {fields: %s}\nalgorithm: {als: {user: user, item: item, rating: rating, rank: 2, max_iter: 6}}\n",
			WriteLines(t, "ratings.jsonl", ratings), num("user", "item", "rating")),
		"mlp": fmt.Sprintf("name: lc-mlp\nsource: {files: [%q]}\nschema: {fields: %s, label: c}\nalgorithm: {mlp: {hidden_layers: [4], batch_size: 100, max_iter: 30, seed: 2}}\n",
			WriteLines(t, "xor.jsonl", xor), num("x", "y", "c")),
	}
}

// QuietLogger logs nothing.
func QuietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelError + 1}))
}

// Clicks draws n rows {x1, x2} whose label is 1 when 2·x1 − x2 + shift
// (plus noise of standard deviation 0.3) is positive, the labels of the
// first flipped rows inverted: the drifting stream of the continuous
// training tests, where shift moves the world and flipped makes a
// deliberately wrong batch.
func Clicks(r *rand.Rand, n int, shift float64, flipped int) (rows []map[string]any, labels []int) {
	for i := range n {
		x1, x2 := r.NormFloat64(), r.NormFloat64()
		y := 0
		if 2*x1-x2+shift+0.3*r.NormFloat64() > 0 {
			y = 1
		}
		if i < flipped {
			y = 1 - y
		}
		rows = append(rows, map[string]any{"x1": x1, "x2": x2})
		labels = append(labels, y)
	}
	return rows, labels
}
