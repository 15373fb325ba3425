package trainer

import (
	"errors"
	"strings"
	"testing"
)

// YAML syntax errors name the line where the problem is, not the line of
// the enclosing construct or a 0-based one.
func TestSyntaxErrorLines(t *testing.T) {
	for _, tc := range []struct {
		name, spec string
		want       string // file:line prefix and a part of the message
		msg        string
	}{
		{"unclosed flow mapping", "name: x\nsource: {topic: t\nschema: {}\n", "job.yaml:2:1:", "expected ',' or '}'"},
		{"bad indent in a block mapping", "name: x\nsource:\n  topic: t\nevaluation:\n   metrics: [rmse]\n  grid: {}\n", "job.yaml:6:3:", "line 5 is inconsistent"},
		{"mapping value in a scalar", "name: x\nalgorithm:\n  kmeans:\n    k: 3\n     seed: 1\n", "job.yaml:5:6:", "mapping values are not allowed"},
		{"tab indentation", "name: x\nsource:\n\ttopic: t\n", "job.yaml:3:", "found character that cannot start any token"},
		{"unclosed quote", "name: \"x\nsource: {topic: t}\n", "job.yaml:1:1:", "unexpected end of stream"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSpec("job.yaml", []byte(tc.spec))
			var es SpecErrors
			if !errors.As(err, &es) || len(es) != 1 {
				t.Fatalf("got %v, want one spec error", err)
			}
			got := es[0].Error()
			if !strings.HasPrefix(got, tc.want) || !strings.Contains(got, tc.msg) {
				t.Fatalf("got %q, want it to start with %q and contain %q", got, tc.want, tc.msg)
			}
		})
	}
}
