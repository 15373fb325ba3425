package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flintml/flint/internal/trainertest"
)

// Every alias decision is in the model's history: a training job's move
// with the thresholds that held, a job's move held back with the threshold
// that failed, and a promotion with its user and reason.
func TestModelsHistory(t *testing.T) {
	dir := t.TempDir()
	store := "dir:" + filepath.Join(dir, "models")
	csv := trainertest.ClicksCSV(t)
	for i, min := range []string{"0.5", "0.999"} {
		job := filepath.Join(dir, "job.yaml")
		spec := trainertest.JobSpec("clicks", csv) + "output: {alias: production, min: {accuracy: " + min + "}}\n"
		if err := os.WriteFile(job, []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
		if out := mustRun(t, "", "--store", store, "train", "-f", job); i == 1 && !strings.Contains(out, "alias not moved") {
			t.Fatalf("the second job moved the alias:\n%s", out)
		}
	}
	mustRun(t, "", "--store", store, "models", "promote", "clicks", "2", "production", "--reason", "checked by hand")
	out := mustRun(t, "", "--store", store, "models", "history", "clicks")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("history:\n%s", out)
	}
	for i, want := range []string{"→ 1 ", "held at 1 (not 2)", "1 → 2"} {
		if !strings.Contains(lines[i+1], want) {
			t.Errorf("line %d %q lacks %q", i+1, lines[i+1], want)
		}
	}
	for i, want := range []string{"thresholds held: accuracy", "thresholds failed: accuracy", "checked by hand"} {
		if !strings.Contains(lines[i+1], want) {
			t.Errorf("line %d %q lacks %q", i+1, lines[i+1], want)
		}
	}
	if !strings.Contains(lines[1], "training job clicks") || !strings.Contains(lines[2], "training job clicks") || !strings.Contains(lines[3], "flint models promote by ") {
		t.Errorf("the promotion's actor: %q", lines[3])
	}
}
