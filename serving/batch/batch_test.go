package batch

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/internal/trainertest"
	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
	"github.com/flintml/flint/models"
	"github.com/flintml/flint/models/local"
	"github.com/flintml/flint/trainer"
)

// trained publishes the shared logistic job's model and returns it.
func trained(t *testing.T) (*models.Artifact, string) {
	t.Helper()
	csv := trainertest.ClicksCSV(t)
	spec, err := trainer.ParseSpec("job.yaml", []byte(trainertest.JobSpec("clicks", csv)))
	if err != nil {
		t.Fatal(err)
	}
	st, err := local.New(filepath.Join(t.TempDir(), "models"))
	if err != nil {
		t.Fatal(err)
	}
	reg := models.NewRegistry(st)
	res, err := trainer.Run(context.Background(), spec, trainer.Options{Registry: reg, Logger: trainertest.QuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	art, _, err := reg.Get(context.Background(), res.Model, res.Version)
	if err != nil {
		t.Fatal(err)
	}
	return art, csv
}

func predict(t *testing.T, workers int, art *models.Artifact, files []string, opt Options) (*Result, error) {
	t.Helper()
	e := cluster.NewEngine(cluster.Config{Workers: workers})
	defer e.Close()
	sources, err := cluster.PlanFiles(files, cluster.FileOptions{Format: cluster.Format{Header: true}, Partitions: 4})
	if err != nil {
		t.Fatal(err)
	}
	return Predict(context.Background(), e, nil, art, sources, opt)
}

// One line per record, in file order, the same bytes on 1 and 4 workers;
// the probabilities are a distribution and the class follows them.
func TestPredictFiles(t *testing.T) {
	art, csv := trained(t)
	one, err := predict(t, 1, art, []string{csv}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	four, err := predict(t, 4, art, []string{csv}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if string(one.Lines) != string(four.Lines) || one.Rows != 1000 {
		t.Fatalf("%d rows; 1 and 4 workers agree: %v", one.Rows, string(one.Lines) == string(four.Lines))
	}
	lines := strings.Split(strings.TrimSpace(string(one.Lines)), "\n")
	for i, line := range lines {
		var src, class string
		var index int
		var p0, p1 float64
		if _, err := fmt.Sscanf(line, `{"source":%q,"class":%q,"index":%d,"probabilities":[%g,%g]}`, &src, &class, &index, &p0, &p1); err != nil {
			t.Fatalf("line %d %q: %v", i, line, err)
		}
		if want := fmt.Sprintf("%s:%d", csv, i+2); src != want || math.Abs(p0+p1-1) > 1e-12 || (p1 > 0.5) != (index == 1) {
			t.Fatalf("line %d: %s (want source %s)", i, line, want)
		}
	}
}

// A record that does not fit the schema stops the scoring, naming its
// position; with SkipBad it is counted and skipped.
func TestPredictBadRecords(t *testing.T) {
	art, _ := trained(t)
	bad := filepath.Join(t.TempDir(), "bad.csv")
	if err := os.WriteFile(bad, []byte("x1,x2,y\n1,2,0\n1,oops,0\n3,4,1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := predict(t, 2, art, []string{bad}, Options{}); err == nil || !strings.Contains(err.Error(), bad+":3") || !strings.Contains(err.Error(), "x2") {
		t.Fatalf("err = %v", err)
	}
	res, err := predict(t, 2, art, []string{bad}, Options{SkipBad: true})
	if err != nil || res.Rows != 2 || res.Skipped != 1 {
		t.Fatalf("skip: %+v %v", res, err)
	}
	if _, err := Predict(context.Background(), nil, nil, &models.Artifact{Algorithm: "als", Params: []byte("x")}, nil, Options{}); err == nil ||
		!strings.Contains(err.Error(), "recommendation routes") {
		t.Fatalf("als: %v", err)
	}
}

// PredictTo hands on the same lines as Predict, in source order, a wave
// at a time: here a topic of two partitions cut by SplitLog into ranges
// of 37 offsets, scored 3 ranges at a time, so no emitted chunk holds
// more than one wave's lines.
func TestPredictToWaves(t *testing.T) {
	art, csv := trained(t)
	ctx := context.Background()
	l, err := disk.Open(disk.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.CreateTopic(ctx, "clicks", log.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(csv)
	if err != nil {
		t.Fatal(err)
	}
	var recs []log.Record
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n")[1:] {
		recs = append(recs, log.Record{Key: []byte{byte(i)}, Value: []byte(line)})
	}
	if err := l.Append(ctx, "clicks", recs); err != nil {
		t.Fatal(err)
	}
	sources, err := cluster.PlanLog(ctx, l, "clicks", cluster.LogOptions{Format: cluster.Format{Kind: "csv"}})
	if err != nil {
		t.Fatal(err)
	}
	e := cluster.NewEngine(cluster.Config{Workers: 2})
	defer e.Close()
	whole, err := Predict(ctx, e, l, art, sources, Options{})
	if err != nil || whole.Rows != 1000 {
		t.Fatalf("%+v %v", whole, err)
	}
	split := SplitLog(sources, 37)
	if len(split) < 27 {
		t.Fatalf("SplitLog made %d sources of %d", len(split), len(sources))
	}
	var got []byte
	var emits, most int
	res, err := PredictTo(ctx, e, l, art, split, Options{Wave: 3}, func(b []byte) error {
		emits++
		most = max(most, strings.Count(string(b), "\n"))
		got = append(got, b...)
		return nil
	})
	if err != nil || res.Rows != 1000 || res.Lines != nil {
		t.Fatalf("%+v %v", res, err)
	}
	if string(got) != string(whole.Lines) {
		t.Fatal("the lines scored in waves differ from those scored at once")
	}
	if emits < 9 || most > 3*37 {
		t.Fatalf("%d chunks emitted, the largest of %d lines; want waves of at most 3×37", emits, most)
	}

	// An error from emit stops the scoring.
	stop := fmt.Errorf("disk full")
	calls := 0
	if _, err := PredictTo(ctx, e, l, art, split, Options{Wave: 3}, func([]byte) error { calls++; return stop }); err != stop || calls != 1 {
		t.Fatalf("emit failing: %v after %d calls", err, calls)
	}
}
