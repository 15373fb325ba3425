package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flintml/flint/internal/trainertest"
)

// flint predict scores files with a published model by NAME@ALIAS and
// writes the lines and their lineage; a wrong reference or no source is a
// clear error.
func TestPredictCommand(t *testing.T) {
	dir := t.TempDir()
	store := "dir:" + filepath.Join(dir, "models")
	csv := trainertest.ClicksCSV(t)
	job := filepath.Join(dir, "job.yaml")
	if err := os.WriteFile(job, []byte(trainertest.JobSpec("clicks", csv)+"output: {alias: production}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "", "--store", store, "train", "-f", job)
	out := filepath.Join(dir, "preds.jsonl")
	_, errOut, err := run(t, "", "--store", store, "predict", "--model", "clicks@production", "--files", csv, "--header", "--out", out)
	if err != nil || !strings.Contains(errOut, "scored 1000 records with logistic model clicks version 1") {
		t.Fatalf("%v: %s", err, errOut)
	}
	data, err := os.ReadFile(out)
	if err != nil || strings.Count(string(data), "\n") != 1000 || !strings.HasPrefix(string(data), `{"source":"`+csv+`:2","class":`) {
		t.Fatalf("predictions: %v %.200s", err, data)
	}
	var lin struct {
		Model   string
		Version int
		Rows    int
		Sources []struct{ File string }
	}
	b, err := os.ReadFile(out + ".lineage.json")
	if err != nil || json.Unmarshal(b, &lin) != nil || lin.Model != "clicks" || lin.Version != 1 || lin.Rows != 1000 || len(lin.Sources) == 0 || lin.Sources[0].File != csv {
		t.Fatalf("lineage %s: %v", b, err)
	}
	// A run that fails leaves neither its file nor a partial one behind.
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("x1,x2,y\n1,2,0\n1,oops,0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	failed := filepath.Join(dir, "failed.jsonl")
	if _, errOut, err := run(t, "", "--store", store, "predict", "--model", "clicks", "--files", bad, "--header", "--out", failed); err == nil ||
		!strings.Contains(err.Error()+errOut, bad+":3") {
		t.Fatalf("a bad record: %v %s", err, errOut)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents { // the partial file is hidden: .failed.jsonl.partial-*
		if strings.Contains(e.Name(), "failed.jsonl") {
			t.Fatalf("a failed run left %s", e.Name())
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"predict", "--files", csv}, "--model is required"},
		{[]string{"predict", "--model", "clicks"}, "give --topic or --files"},
		{[]string{"predict", "--model", "clicks@staging", "--files", csv}, "--model clicks@staging: not in the store"},
		{[]string{"predict", "--model", "nope", "--files", csv}, "flint models ls lists the models"},
		{[]string{"predict", "--model", "clicks", "--files", csv, "--header", "--out", dir}, "--out " + dir + ": " + dir + " is a directory"},
	} {
		_, errOut, err := run(t, "", append([]string{"--store", store}, c.args...)...)
		if err == nil || !strings.Contains(err.Error()+errOut, c.want) {
			t.Errorf("%v: %v %s, want %q", c.args, err, errOut, c.want)
		}
	}
}
