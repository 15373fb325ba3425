package trainer

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A file job with source.partitions trains the same model bit for bit on
// any number of workers.
func TestFilePartitionsFixTheModel(t *testing.T) {
	e := newEnv(t)
	r := rand.New(rand.NewPCG(8, 9))
	var b strings.Builder
	for range 3000 {
		x1, x2 := r.NormFloat64(), r.NormFloat64()
		y := 0
		if x1-2*x2+r.NormFloat64() > 0 {
			y = 1
		}
		fmt.Fprintf(&b, "%d,%.5f,%.5f\n", y, x1, x2)
	}
	csv := filepath.Join(e.dir, "rows.csv")
	if err := os.WriteFile(csv, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var params [][]byte
	for _, workers := range []int{1, 3} {
		spec := fmt.Sprintf(`
name: parts
source: {files: [%q], partitions: 5}
schema:
  format: csv
  label: y
  fields: [{name: y, type: numeric}, {name: a, type: numeric}, {name: b, type: numeric}]
algorithm:
  logistic_regression: {max_iter: 20}
engine: {workers: %d}
`, csv, workers)
		res, err := e.run(t, spec)
		if err != nil {
			t.Fatal(err)
		}
		art, _, err := e.reg.Get(context.Background(), res.Model, res.Version)
		if err != nil {
			t.Fatal(err)
		}
		params = append(params, art.Params)
	}
	if !bytes.Equal(params[0], params[1]) {
		t.Fatal("the same file job with source.partitions: 5 trained different models on 1 and 3 workers")
	}

	_, err := ParseSpec("topic.yaml", []byte("name: x\nsource: {topic: t, partitions: 3}\nschema: {fields: [{name: a, type: numeric}]}\nalgorithm: {kmeans: {k: 2}}\n"))
	if err == nil || !strings.Contains(err.Error(), "topic.yaml:2:32: source.partitions: applies to files") {
		t.Fatalf("partitions on a topic source: %v", err)
	}
}
