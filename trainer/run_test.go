package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flintml/flint/features"
	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/models"
	"github.com/flintml/flint/models/local"
)

type env struct {
	log *disk.Log
	reg *models.Registry
	dir string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	l, err := disk.Open(disk.Config{Dir: filepath.Join(dir, "log")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	st, err := local.New(filepath.Join(dir, "models"))
	if err != nil {
		t.Fatal(err)
	}
	return &env{log: l, reg: models.NewRegistry(st), dir: dir}
}

func (e *env) run(t *testing.T, yaml string) (*Result, error) {
	t.Helper()
	spec, err := ParseSpec("job.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("spec: %v", err)
	}
	return Run(context.Background(), spec, Options{Log: e.log, Registry: e.reg, SpecText: yaml, FlintVersion: "test"})
}

func (e *env) appendJSON(t *testing.T, topic string, recs []map[string]any) {
	t.Helper()
	batch := make([]log.Record, len(recs))
	for i, r := range recs {
		b, _ := json.Marshal(r)
		batch[i].Value = b
	}
	if err := e.log.Append(context.Background(), topic, batch); err != nil {
		t.Fatal(err)
	}
}

// Logistic regression from a log topic: features through a pipeline with a
// categorical field, a categorical label, published with metrics, lineage
// and the alias.
func TestLogisticJobFromLog(t *testing.T) {
	e := newEnv(t)
	r := rand.New(rand.NewPCG(1, 2))
	var recs []map[string]any
	for i := 0; i < 3000; i++ {
		x1, x2 := r.NormFloat64(), r.NormFloat64()
		color := []string{"red", "green", "blue"}[r.IntN(3)]
		z := 2*x1 - x2
		if color == "red" {
			z += 1.5
		}
		label := "no"
		if z+0.3*r.NormFloat64() > 0 {
			label = "yes"
		}
		recs = append(recs, map[string]any{"x1": x1, "x2": x2, "color": color, "buy": label})
	}
	e.appendJSON(t, "clicks", recs)
	res, err := e.run(t, `
name: buyers
source: {topic: clicks}
schema:
  fields:
    - {name: x1, type: numeric}
    - {name: x2, type: numeric}
    - {name: color, type: categorical}
    - {name: buy, type: categorical}
  label: buy
transforms:
  - {type: standard_scaler, inputs: [x1, x2], output: xs}
  - {type: one_hot, inputs: [color], output: c}
algorithm:
  logistic_regression: {reg_param: 0.001}
evaluation: {test_fraction: 0.25, metrics: [accuracy, auc]}
output: {alias: production, min: {accuracy: 0.85}}
`)
	if err != nil {
		t.Fatal(err)
	}
	if res.Version != 1 || res.Alias != "production" || res.Metrics["accuracy"] < 0.9 || res.Metrics["auc"] < 0.95 {
		t.Fatalf("result %+v", res)
	}
	if res.Rows != 3000 || res.TrainRows+res.TestRows != 3000 {
		t.Fatalf("rows %d = %d + %d, want 3000", res.Rows, res.TrainRows, res.TestRows)
	}
	art, vi, err := e.reg.GetAlias(context.Background(), "buyers", "production")
	if err != nil {
		t.Fatal(err)
	}
	if vi.Version != 1 || art.Algorithm != "logistic" || !strings.Contains(art.Spec, "one_hot") || art.FlintVersion != "test" {
		t.Fatalf("artefact %q version %d", art.Algorithm, vi.Version)
	}
	var total int64
	for _, s := range art.Lineage {
		if s.Kind != "log" || s.Topic != "clicks" || s.From != 0 {
			t.Fatalf("lineage %+v", s)
		}
		total += s.To - s.From
	}
	if total != 3000 {
		t.Fatalf("lineage covers %d records, want 3000", total)
	}
	// The stored pipeline and model predict a record end to end.
	var pipe features.Pipeline
	if err := json.Unmarshal(art.Pipeline, &pipe); err != nil {
		t.Fatal(err)
	}
	m, err := ml.UnmarshalModel(art.Params)
	if err != nil {
		t.Fatal(err)
	}
	row := pipe.Schema.NewRow()
	if err := pipe.Schema.DecodeMap(row, map[string]any{"x1": 3.0, "x2": -1.0, "color": "red", "buy": "yes"}); err != nil {
		t.Fatal(err)
	}
	vec := make([]float64, pipe.Width())
	if err := pipe.NewTransformer().Transform(vec, row); err != nil {
		t.Fatal(err)
	}
	pred := make([]float64, 1)
	m.PredictBatch(pred, vec, 1)
	if pipe.Classes[int(pred[0])] != "yes" {
		t.Fatalf("a clear buyer predicted %q", pipe.Classes[int(pred[0])])
	}

	// A second run publishes version 2; a threshold it misses holds the alias.
	res, err = e.run(t, strings.Replace(`
name: buyers
source: {topic: clicks}
schema:
  fields:
    - {name: x1, type: numeric}
    - {name: x2, type: numeric}
    - {name: color, type: categorical}
    - {name: buy, type: categorical}
  label: buy
algorithm:
  logistic_regression: {max_iter: 2}
transforms:
  - {type: one_hot, inputs: [color], output: c}
output: {alias: production, min: {accuracy: 0.99}}
`, "\t", "", -1))
	if err != nil {
		t.Fatal(err)
	}
	if res.Version != 2 || res.Alias != "" || !strings.Contains(res.AliasHeld, "accuracy") {
		t.Fatalf("second run %+v: the alias must stay on version 1", res)
	}
	man, _ := e.reg.Describe(context.Background(), "buyers")
	if man.Aliases["production"] != 1 {
		t.Fatalf("production points at %d", man.Aliases["production"])
	}
}

func TestLinearJobFromFilesWithGrid(t *testing.T) {
	e := newEnv(t)
	r := rand.New(rand.NewPCG(3, 4))
	lines := []string{"a,b,y"}
	for i := 0; i < 2000; i++ {
		a, b := r.Float64()*10, r.Float64()*10
		lines = append(lines, fmt.Sprintf("%v,%v,%v", a, b, 3*a-2*b+5+0.1*r.NormFloat64()))
	}
	p := writeLines(t, "lin.csv", lines)
	res, err := e.run(t, fmt.Sprintf(`
name: lin
source: {files: [%q], header: true}
schema:
  format: csv
  fields: [{name: a, type: numeric}, {name: b, type: numeric}, {name: y, type: numeric}]
  label: y
algorithm:
  linear_regression: {}
evaluation:
  metrics: [rmse, r2]
  grid: {reg_param: [1.0, 0.0]}
`, p))
	if err != nil {
		t.Fatal(err)
	}
	if res.Best["reg_param"] != 0 || res.Metrics["rmse"] > 0.12 || res.Metrics["r2"] < 0.999 {
		t.Fatalf("result %+v", res)
	}
}

func TestKMeansJob(t *testing.T) {
	e := newEnv(t)
	r := rand.New(rand.NewPCG(5, 6))
	var lines []string
	centres := [][2]float64{{0, 0}, {10, 10}, {-10, 10}}
	for i := 0; i < 900; i++ {
		c := centres[i%3]
		lines = append(lines, fmt.Sprintf(`{"x": %v, "y": %v}`, c[0]+r.NormFloat64(), c[1]+r.NormFloat64()))
	}
	p := writeLines(t, "points.jsonl", lines)
	res, err := e.run(t, fmt.Sprintf(`
name: blobs
source: {files: [%q]}
schema:
  fields: [{name: x, type: numeric}, {name: y, type: numeric}]
algorithm:
  kmeans: {k: 3, seed: 7}
`, p))
	if err != nil {
		t.Fatal(err)
	}
	if res.Metrics["silhouette"] < 0.8 || res.Metrics["inertia"] > 900*2*1.3 {
		t.Fatalf("k-means result %+v", res)
	}
	art, _, err := e.reg.Latest(context.Background(), "blobs")
	if err != nil || art.Algorithm != "kmeans" {
		t.Fatalf("latest: %v %v", art, err)
	}
}

func TestALSJobFromLog(t *testing.T) {
	e := newEnv(t)
	r := rand.New(rand.NewPCG(7, 8))
	const users, items, rank = 200, 100, 3
	uf := make([]float64, users*rank)
	itf := make([]float64, items*rank)
	for i := range uf {
		uf[i] = r.NormFloat64()
	}
	for i := range itf {
		itf[i] = r.NormFloat64()
	}
	var recs []map[string]any
	for u := 0; u < users; u++ {
		for it := 0; it < items; it++ {
			if r.Float64() < 0.3 {
				var s float64
				for k := 0; k < rank; k++ {
					s += uf[u*rank+k] * itf[it*rank+k]
				}
				recs = append(recs, map[string]any{"user": u, "item": it, "rating": s + 0.1*r.NormFloat64()})
			}
		}
	}
	e.appendJSON(t, "ratings", recs)
	res, err := e.run(t, `
name: recs
source: {topic: ratings}
schema:
  fields: [{name: user, type: numeric}, {name: item, type: numeric}, {name: rating, type: numeric}]
algorithm:
  als: {user: user, item: item, rating: rating, rank: 3, reg_param: 0.01, max_iter: 15}
`)
	if err != nil {
		t.Fatal(err)
	}
	if res.Metrics["rmse"] > 0.2 || res.Rows != len(recs) {
		t.Fatalf("ALS result %+v", res)
	}
}

func TestMLPJob(t *testing.T) {
	e := newEnv(t)
	r := rand.New(rand.NewPCG(9, 10))
	var lines []string
	for i := 0; i < 1500; i++ {
		x, y := r.Float64()*2-1, r.Float64()*2-1
		c := 0
		if x*y > 0 { // XOR-like: not linearly separable
			c = 1
		}
		lines = append(lines, fmt.Sprintf(`{"x": %v, "y": %v, "c": %d}`, x, y, c))
	}
	p := writeLines(t, "xor.jsonl", lines)
	res, err := e.run(t, fmt.Sprintf(`
name: xor
source: {files: [%q]}
schema:
  fields: [{name: x, type: numeric}, {name: y, type: numeric}, {name: c, type: numeric}]
  label: c
algorithm:
  mlp: {hidden_layers: [16], learning_rate: 0.01, batch_size: 100, max_iter: 1500, seed: 2}
evaluation: {metrics: [accuracy]}
`, p))
	if err != nil {
		t.Fatal(err)
	}
	if res.Metrics["accuracy"] < 0.9 {
		t.Fatalf("MLP on XOR: %+v", res)
	}
}

func TestBadRecordPolicies(t *testing.T) {
	e := newEnv(t)
	var recs []map[string]any
	for i := 0; i < 200; i++ {
		recs = append(recs, map[string]any{"x": float64(i), "y": float64(2 * i)})
	}
	recs[57] = map[string]any{"x": "fifty-seven", "y": 114.0}
	e.appendJSON(t, "pts", recs)
	job := `
name: bad
source: {topic: pts}
schema:
  fields: [{name: x, type: numeric}, {name: y, type: numeric}]
  label: y
algorithm:
  linear_regression: {}
`
	_, err := e.run(t, job)
	if err == nil || !strings.Contains(err.Error(), "pts/") || !strings.Contains(err.Error(), "@57") || !strings.Contains(err.Error(), `field "x"`) {
		t.Fatalf("a bad record with on_bad_record fail = %v; want the topic/partition@offset and the field", err)
	}
	if _, err := e.reg.Describe(context.Background(), "bad"); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("a failed job published something: %v", err)
	}
	res, err := e.run(t, job+"on_bad_record: dead_letter\ndead_letter_topic: pts.bad\n")
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped != 1 || res.DeadLetter != 1 || res.Rows != 199 {
		t.Fatalf("result %+v: want 199 rows, 1 skipped, 1 dead letter", res)
	}
	dl, err := e.log.Read(context.Background(), "pts.bad", 0, 0, log.ReadOptions{})
	if err != nil || len(dl) != 1 || !strings.Contains(string(dl[0].Value), "fifty-seven") {
		t.Fatalf("dead letters %v, %v", dl, err)
	}
	var where string
	for _, h := range dl[0].Headers {
		if h.Key == "flint.source" {
			where = string(h.Value)
		}
	}
	if !strings.HasSuffix(where, "@57") {
		t.Fatalf("dead letter source header %q", where)
	}
	if math.IsNaN(res.Metrics["rmse"]) {
		t.Fatal("no rmse")
	}
}

func TestCancelPublishesNothing(t *testing.T) {
	e := newEnv(t)
	var recs []map[string]any
	for i := 0; i < 100; i++ {
		recs = append(recs, map[string]any{"x": float64(i), "y": float64(i % 2)})
	}
	e.appendJSON(t, "c", recs)
	spec, err := ParseSpec("job.yaml", []byte(`
name: cancelled
source: {topic: c}
schema: {fields: [{name: x, type: numeric}, {name: y, type: numeric}], label: y}
algorithm: {logistic_regression: {}}
`))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, spec, Options{Log: e.log, Registry: e.reg}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run = %v", err)
	}
	if _, err := e.reg.Describe(context.Background(), "cancelled"); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("a cancelled job published: %v", err)
	}
}

func TestALSDeadLetters(t *testing.T) {
	e := newEnv(t)
	var recs []map[string]any
	for u := 0; u < 30; u++ {
		for it := 0; it < 20; it++ {
			recs = append(recs, map[string]any{"user": u, "item": it, "rating": float64((u+it)%5 + 1)})
		}
	}
	recs[7] = map[string]any{"user": "someone", "item": 3, "rating": 4.0}
	e.appendJSON(t, "r", recs)
	res, err := e.run(t, `
name: als-dl
source: {topic: r}
schema:
  fields: [{name: user, type: numeric}, {name: item, type: numeric}, {name: rating, type: numeric}]
algorithm:
  als: {user: user, item: item, rating: rating, rank: 2, max_iter: 3}
on_bad_record: dead_letter
dead_letter_topic: r.bad
`)
	if err != nil {
		t.Fatal(err)
	}
	if res.DeadLetter != 1 || res.Skipped != 1 || res.Rows != len(recs)-1 {
		t.Fatalf("result %+v: want 1 dead letter, 1 skipped, %d rows", res, len(recs)-1)
	}
	dl, err := e.log.Read(context.Background(), "r.bad", 0, 0, log.ReadOptions{})
	if err != nil || len(dl) != 1 || !strings.Contains(string(dl[0].Value), "someone") {
		t.Fatalf("dead letters %v, %v", dl, err)
	}
}
