package serving

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/openapi.json")

// TestOpenAPI: the document the server serves is docs/openapi.json, and it
// describes every route echo has.
func TestOpenAPI(t *testing.T) {
	ts := startServer(t, Config{Registry: newRegistry(t), Tokens: []Token{{ScopeRead, "r"}}})
	code, served := ts.do(t, "GET", "/openapi.json", "")
	if code != 200 {
		t.Fatalf("GET /openapi.json: %d %s", code, served)
	}
	path := filepath.Join("..", "docs", "openapi.json")
	if *update {
		if err := os.WriteFile(path, served, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	onDisk, err := os.ReadFile(path)
	if err != nil || string(onDisk) != string(served) {
		t.Fatalf("docs/openapi.json is stale (%v): run go test ./serving -run TestOpenAPI -update", err)
	}

	var doc struct {
		OpenAPI string
		Paths   map[string]map[string]struct {
			OperationID string `json:"operationId"`
			Security    []map[string][]string
			Parameters  []struct{ Name, In string }
		}
	}
	if err := json.Unmarshal(served, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
	routes := ts.echo.Routes()
	if len(routes) < 19 {
		t.Fatalf("echo has %d routes", len(routes))
	}
	n := 0
	for _, r := range routes {
		p := openAPIPath(r.Path)
		op, ok := doc.Paths[p][strings.ToLower(r.Method)]
		if !ok {
			t.Errorf("route %s %s is not in the OpenAPI document (as %s)", r.Method, r.Path, p)
			continue
		}
		n++
		for _, seg := range strings.Split(r.Path, "/") {
			if name, ok := strings.CutPrefix(seg, ":"); ok && !hasParam(op.Parameters, name) {
				t.Errorf("%s %s: path parameter %s undocumented", r.Method, p, name)
			}
		}
	}
	ops := 0
	for _, item := range doc.Paths {
		ops += len(item)
	}
	if ops != n {
		t.Errorf("the document has %d operations, echo %d routes", ops, n)
	}
	// Protected routes say so; health does not.
	if len(doc.Paths["/v1/models/{model}/predict"]["post"].Security) == 0 || len(doc.Paths["/v2/health/ready"]["get"].Security) != 0 {
		t.Error("security requirements are wrong")
	}
}

func hasParam(ps []struct{ Name, In string }, name string) bool {
	for _, p := range ps {
		if p.Name == name && p.In == "path" {
			return true
		}
	}
	return false
}
