package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// flint train --follow on the embedded log, fed by flint ingest: the
// triggered job runs at once, runs again warm-started once 500 records
// have arrived, and flint models history shows both promotion decisions
// with the metrics compared.
func TestTrainFollow(t *testing.T) {
	dir := t.TempDir()
	logDir, store := filepath.Join(dir, "log"), "dir:"+filepath.Join(dir, "models")
	job := filepath.Join(dir, "job.yaml")
	spec := `name: follow
source: {topic: clicks, window: {records: 2000}}
schema:
  format: csv
  fields: [{name: x1, type: numeric}, {name: x2, type: numeric}, {name: y, type: numeric}]
  label: y
algorithm:
  logistic_regression: {max_iter: 100}
trigger: {records: 500}
promote: {alias: production, metric: logloss, holdout: {records: 200}}
`
	if err := os.WriteFile(job, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	lines := func(n int) string {
		var b strings.Builder
		for range n {
			x1, x2 := r.NormFloat64(), r.NormFloat64()
			y := 0
			if x1+x2+0.3*r.NormFloat64() > 0 {
				y = 1
			}
			fmt.Fprintf(&b, "%.4f,%.4f,%d\n", x1, x2, y)
		}
		return b.String()
	}
	ingest := func(n int) {
		t.Helper()
		if _, stderr, code := flintProc(t, lines(n), "--log", "dir:"+logDir, "ingest", "--topic", "clicks", "--schema", job); code != 0 {
			t.Fatalf("ingest: %s", stderr)
		}
	}
	ingest(1000)
	c := startChild(t, "--log", "dir:"+logDir, "--store", store, "train", "--follow", "-f", job)
	if v := c.value(t, "published follow version "); !strings.HasPrefix(v, "1 ") {
		t.Fatalf("first run published version %s", v)
	}
	ingest(500)
	if v := c.value(t, "published follow version "); !strings.HasPrefix(v, "2 ") {
		t.Fatalf("second run published version %s", v)
	}
	if v := c.value(t, "  warm start: "); !strings.HasPrefix(v, "from version 1,") {
		t.Fatalf("second run's warm start: %s", v)
	}
	c.stop(t)
	out := mustRun(t, "", "--store", store, "models", "history", "follow")
	t.Logf("flint models history follow:\n%s", out)
	rows := strings.Split(strings.TrimSpace(out), "\n")
	if len(rows) != 3 || !strings.Contains(rows[0], "COMPARED") || !strings.Contains(rows[1], "logloss v1 ") ||
		!strings.Contains(rows[2], "logloss v2 ") || !strings.Contains(rows[2], " vs v1 ") || !strings.Contains(rows[2], "200 rows") {
		t.Fatalf("history:\n%s", out)
	}
}
