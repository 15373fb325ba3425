package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pixelsJob writes a job over topic px (a label, a numeric field and an
// 8-wide vector of integer pixels, min-max scaled) and returns its path
// and 600 CSV lines for it.
func pixelsJob(t *testing.T) (path, lines string) {
	t.Helper()
	r := rand.New(rand.NewPCG(7, 8))
	var b strings.Builder
	for range 600 {
		y := r.IntN(2)
		fmt.Fprintf(&b, "%d,%.4f,", y, r.NormFloat64()+float64(y))
		for j := range 8 {
			if j > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprint(&b, r.IntN(128)+64*y)
		}
		b.WriteByte('\n')
	}
	spec := `name: px
source: {topic: px}
schema:
  format: csv
  fields: [{name: y, type: numeric}, {name: x, type: numeric}, {name: pixels, type: vector, dim: 8}]
  label: y
transforms:
  - {type: minmax_scaler, inputs: [pixels], output: scaled}
algorithm:
  logistic_regression: {max_iter: 30}
`
	path = filepath.Join(t.TempDir(), "px.yaml")
	if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, b.String()
}

// TestIngestEncodeTrainsTheSameModel: the same CSV ingested as text and as
// f64 binary records (flint ingest --encode f64) trains models with the
// same parameters, byte for byte; f32 records train too.
func TestIngestEncodeTrainsTheSameModel(t *testing.T) {
	job, lines := pixelsJob(t)
	dir := t.TempDir()
	train := func(encode string) string {
		logDir, store := filepath.Join(dir, "log-"+encode), filepath.Join(dir, "models-"+encode)
		args := []string{"--log", "dir:" + logDir, "ingest", "--topic", "px", "--schema", job}
		if encode != "text" {
			args = append(args, "--encode", encode)
		}
		if out := mustRun(t, lines, args...); !strings.HasPrefix(out, "appended 600 records to px") {
			t.Fatalf("ingest %s: %q", encode, out)
		}
		mustRun(t, "", "--log", "dir:"+logDir, "--store", "dir:"+store, "train", "-f", job)
		return store
	}
	text := train("text")
	sameLatestModel(t, "px", text, train("f64"), "the model trained from f64 binary records differs from the one trained from the CSV text")
	train("f32")
}

// TestIngestEncodeErrors: a bad --encode, or a schema with no binary
// encoding, is one sentence naming the flag or the field.
func TestIngestEncodeErrors(t *testing.T) {
	job, _ := pixelsJob(t)
	houses := filepath.Join(t.TempDir(), "houses.yaml")
	if err := os.WriteFile(houses, []byte("format: csv\nfields: [{name: city, type: categorical}, {name: price, type: numeric}]\nlabel: price\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	logFlag := "dir:" + t.TempDir()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--schema", job, "--encode", "f16"}, `--encode: unknown encoding "f16": want f32 or f64`},
		{[]string{"--schema", houses, "--encode", "f32"}, `features: ingest as f32 binary records: fields[0] "city" is categorical: a binary record holds a label and numeric or vector fields`},
	}
	for _, c := range cases {
		_, _, err := run(t, "1,2\n", append([]string{"--log", logFlag, "ingest", "--topic", "t"}, c.args...)...)
		if err == nil || err.Error() != c.want {
			t.Errorf("flint ingest %s: %v, want %q", strings.Join(c.args, " "), err, c.want)
		}
	}
}
