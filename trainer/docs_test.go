package trainer

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated docs")

// The spec reference and JSON Schema in docs/ are generated from the Go
// types; this test fails when they are stale.
func TestDocs(t *testing.T) {
	schema, err := JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"job-spec.schema.json": string(schema) + "\n",
		"job-spec.md":          Reference(),
	}
	for name, want := range files {
		p := filepath.Join("..", "docs", name)
		if *update {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != want {
			t.Errorf("docs/%s is stale: run go test ./trainer -run TestDocs -update", name)
		}
	}
}
