package trainer

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
)

// What --dry-run validates beyond the spec itself: transform inputs
// against the schema, source files and the source topic, each problem at
// its line.
func TestDryRunFindsWhatWouldFail(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "houses.csv")
	if err := os.WriteFile(csv, []byte("city,area,y\nlyon,50,1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := disk.Open(disk.Config{Dir: filepath.Join(dir, "log")})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.CreateTopic(context.Background(), "houses", log.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	const body = `schema:
  format: csv
  fields:
    - {name: city, type: categorical}
    - {name: area, type: numeric}
    - {name: y, type: numeric}
  label: y
transforms:
  - {type: one_hot, inputs: [city], output: city_oh}
  - {type: assembler, inputs: [area, %s]}
algorithm:
  linear_regression: {}
`
	nope := filepath.Join(dir, "nope.csv")
	for _, tc := range []struct{ name, source, input, at, want string }{
		{"ok file", "source: {files: [" + csv + "], header: true}", "city_oh", "", ""},
		{"ok topic", "source: {topic: houses}", "city_oh", "", ""},
		{"input naming no field", "source: {topic: houses}", "city_ohh", "job.yaml:12:38: ", `transforms[1].inputs[1]: no field or earlier output named "city_ohh"`},
		{"missing file", "source: {files: [" + csv + ", " + nope + "]}", "city_oh", "job.yaml:2:", "source.files[1]: " + nope + " does not exist"},
		{"missing topic", "source: {topic: housez}", "city_oh", "job.yaml:2:17: ", `source.topic: topic "housez" does not exist in the log at dir:LOG`},
		{"missing test topic", "source: {topic: houses}\nevaluation: {test: {topic: housez}}", "city_oh", "job.yaml:3:", `evaluation.test.topic: topic "housez" does not exist in the log at dir:LOG`},
		{"missing test file", "source: {topic: houses}\nevaluation: {test: {files: [" + nope + "]}}", "city_oh", "job.yaml:3:", "evaluation.test.files[0]: " + nope + " does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := "name: houses\n" + tc.source + "\n" + strings.Replace(body, "%s", tc.input, 1)
			spec, err := ParseSpec("job.yaml", []byte(text))
			if err == nil {
				err = spec.CheckSources(context.Background(), l, "dir:LOG")
			}
			if tc.want == "" {
				if err != nil {
					t.Fatalf("valid spec refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.at) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a problem at %q: %q", err, tc.at, tc.want)
			}
		})
	}
}
