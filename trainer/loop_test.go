package trainer

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/flintml/flint/log"
)

// timedRecords appends n labelled records to topic, record i at base+i s.
func timedRecords(t *testing.T, e *env, topic string, n int, base time.Time) {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	recs := make([]log.Record, n)
	for i := range recs {
		x := r.NormFloat64()
		y := 0
		if x+0.3*r.NormFloat64() > 0 {
			y = 1
		}
		b, _ := json.Marshal(map[string]any{"x": x, "y": y})
		recs[i] = log.Record{Value: b, Time: base.Add(time.Duration(i) * time.Second)}
	}
	if err := e.log.Append(context.Background(), topic, recs); err != nil {
		t.Fatal(err)
	}
}

// A window and a holdout by log time pin the offsets of the records whose
// time falls in them (looked up by OffsetForTime), measured back from the
// run's start; by records, the last N of each partition.
func TestWindowAndHoldoutOffsets(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.log.CreateTopic(ctx, "timed", log.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	timedRecords(t, e, "timed", 600, base)
	const job = `name: timed
source: {topic: timed, window: %s}
schema:
  format: json
  fields: [{name: x, type: numeric}, {name: y, type: numeric}]
  label: y
algorithm: {logistic_regression: {}}
promote: {alias: production, holdout: %s}
`
	cases := []struct {
		window, holdout string
		train, held     [2]int64
	}{
		{"{last: 300s}", "{last: 100s}", [2]int64{300, 500}, [2]int64{500, 600}},
		{"{records: 250}", "{records: 50}", [2]int64{350, 550}, [2]int64{550, 600}},
		{"{last: 1h}", "{last: 90s}", [2]int64{0, 510}, [2]int64{510, 600}},
	}
	for _, c := range cases {
		t.Run(c.window+" "+c.holdout, func(t *testing.T) {
			yaml := fmt.Sprintf(job, c.window, c.holdout)
			spec, err := ParseSpec("job.yaml", []byte(yaml))
			if err != nil {
				t.Fatal(err)
			}
			now := base.Add(600 * time.Second) // one second after the last record
			res, err := Run(ctx, spec, Options{Log: e.log, Registry: e.reg, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Lineage) != 1 || len(res.Holdout) != 1 {
				t.Fatalf("lineage %v, holdout %v", res.Lineage, res.Holdout)
			}
			if got := [2]int64{res.Lineage[0].From, res.Lineage[0].To}; got != c.train {
				t.Errorf("trained on offsets %v, want %v", got, c.train)
			}
			if got := [2]int64{res.Holdout[0].From, res.Holdout[0].To}; got != c.held {
				t.Errorf("held out offsets %v, want %v", got, c.held)
			}
			if res.EvaluatedOn != "held-out recent records" || res.TestRows != int(c.held[1]-c.held[0]) || res.Promotion == nil {
				t.Errorf("evaluated on %q, %d rows, promotion %+v", res.EvaluatedOn, res.TestRows, res.Promotion)
			}
			art, _, err := e.reg.Get(ctx, "timed", res.Version)
			if err != nil {
				t.Fatal(err)
			}
			if got := ReadOffsets(art); len(got) != 2 || got[1] != res.Holdout[0] {
				t.Errorf("the artefact records %v", got)
			}
		})
	}
	// A holdout with no records in it fails the run, naming it.
	spec, err := ParseSpec("job.yaml", []byte(fmt.Sprintf(job, "{last: 1h}", "{last: 10s}")))
	if err != nil {
		t.Fatal(err)
	}
	later := func() time.Time { return base.Add(time.Hour) }
	if _, err := Run(ctx, spec, Options{Log: e.log, Registry: e.reg, Now: later}); err == nil ||
		err.Error() != "trainer: promote.holdout (the records of the last 10s) holds no valid records to compare the versions on" {
		t.Fatalf("an empty holdout: %v", err)
	}
}

// k-means warm-starts from the previous version's centres, in fewer Lloyd
// iterations than a cold fit of the same rows; a change of k starts cold
// and says why.
func TestKMeansWarmStart(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.log.CreateTopic(ctx, "blobs", log.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	blobs := func(n int) []map[string]any {
		out := make([]map[string]any, n)
		for i := range out {
			c := float64(i%3) * 1.5
			out[i] = map[string]any{"a": c + r.NormFloat64(), "b": -c + r.NormFloat64()}
		}
		return out
	}
	e.appendJSON(t, "blobs", blobs(600))
	const job = `name: blobs
source: {topic: blobs}
schema:
  format: json
  fields: [{name: a, type: numeric}, {name: b, type: numeric}]
algorithm: {kmeans: {k: %d, tol: 1e-9, max_iter: 100}}
warm_start: true
`
	first, err := e.run(t, fmt.Sprintf(job, 3))
	if err != nil {
		t.Fatal(err)
	}
	if ws := first.WarmStart; ws == nil || ws.From != 0 || ws.Note != "no previous version to start from" {
		t.Fatalf("first run's warm start: %+v", first.WarmStart)
	}
	e.appendJSON(t, "blobs", blobs(300))
	second, err := e.run(t, fmt.Sprintf(job, 3))
	if err != nil {
		t.Fatal(err)
	}
	ws := second.WarmStart
	if ws == nil || ws.From != 1 || ws.ColdVersion != 1 || ws.ColdIterations != first.Iterations || ws.Saved != first.Iterations-second.Iterations {
		t.Fatalf("second run's warm start: %+v (first ran %d iterations)", ws, first.Iterations)
	}
	coldSpec := fmt.Sprintf(job, 3)
	coldSpec = coldSpec[:len(coldSpec)-len("warm_start: true\n")] + "output: {model: blobs-cold}\n"
	cold, err := e.run(t, coldSpec)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("k-means: the first version's cold fit ran %d iterations; a cold fit of the second version's rows %d; its warm start %d",
		first.Iterations, cold.Iterations, second.Iterations)
	if second.Iterations >= cold.Iterations {
		t.Errorf("warm start ran %d iterations, a cold fit of the same rows %d", second.Iterations, cold.Iterations)
	}
	third, err := e.run(t, fmt.Sprintf(job, 4))
	if err != nil {
		t.Fatal(err)
	}
	if ws := third.WarmStart; ws == nil || ws.From != 0 || ws.Note != "version 2 has 3 centres of 2 values; this fit has k 4 of 2" {
		t.Fatalf("k 4 after k 3: %+v", third.WarmStart)
	}
}

// The MLP warm-starts from the previous version's weights when its label
// is categorical (the network's outputs known before the rows are read),
// stopping in fewer iterations than a cold fit of the same rows.
func TestMLPWarmStart(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.log.CreateTopic(ctx, "moons", log.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	rows := func(n int) []map[string]any {
		out := make([]map[string]any, n)
		for i := range out {
			a, b := r.NormFloat64(), r.NormFloat64()
			c := "in"
			if a*a+b*b > 1.4 {
				c = "out"
			}
			out[i] = map[string]any{"a": a, "b": b, "c": c}
		}
		return out
	}
	e.appendJSON(t, "moons", rows(1500))
	const job = `name: %s
source: {topic: moons}
schema:
  format: json
  fields: [{name: a, type: numeric}, {name: b, type: numeric}, {name: c, type: categorical}]
  label: c
transforms: [{type: assembler, inputs: [a, b]}]
algorithm: {mlp: {hidden_layers: [8], batch_size: 64, learning_rate: 0.01, max_iter: 5000, tol: 0.01}}
warm_start: %v
`
	if _, err := e.run(t, fmt.Sprintf(job, "moons", true)); err != nil {
		t.Fatal(err)
	}
	e.appendJSON(t, "moons", rows(500))
	warm, err := e.run(t, fmt.Sprintf(job, "moons", true))
	if err != nil {
		t.Fatal(err)
	}
	cold, err := e.run(t, fmt.Sprintf(job, "moons-cold", false))
	if err != nil {
		t.Fatal(err)
	}
	if ws := warm.WarmStart; ws == nil || ws.From != 1 {
		t.Fatalf("second run's warm start: %+v", warm.WarmStart)
	}
	t.Logf("mlp: warm %d iterations (%s), a cold fit of the same rows %d (%s)", warm.Iterations, warm.Stop, cold.Iterations, cold.Stop)
	if warm.Iterations >= cold.Iterations {
		t.Errorf("warm start ran %d iterations, a cold fit of the same rows %d", warm.Iterations, cold.Iterations)
	}
}
