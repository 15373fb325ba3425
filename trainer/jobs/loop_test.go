package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flintml/flint/internal/trainertest"
	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
	"github.com/flintml/flint/log/kafka"
	"github.com/flintml/flint/log/kafka/kafkatest"
	"github.com/flintml/flint/models"
	"github.com/flintml/flint/trainer"
)

// loopSpec is a triggered job on topic events: logistic regression on the
// newest 1000 records, retrained every 1000 new records, warm-started, and
// promoted to production only if it beats the version behind it on the
// newest 300 records by 0.01 of log-loss.
var loopSpec = trainertest.LoopSpec("events", 1000, 300)

// batch is n events whose label is 1 when 2·x1 − x2 + shift (plus noise)
// is positive; flip inverts the label of the first flipped of them.
func batch(seed uint64, n int, shift float64, flipped int) []log.Record {
	rows, labels := trainertest.Clicks(rand.New(rand.NewPCG(seed, 99)), n, shift, flipped)
	recs := make([]log.Record, n)
	for i, row := range rows {
		row["y"] = labels[i]
		recs[i].Value, _ = json.Marshal(row)
	}
	return recs
}

// waitFor polls cond until it holds, failing after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// nextRun waits for the triggered job's run after run prev to finish.
func nextRun(t *testing.T, m *Manager, prev string) Job {
	t.Helper()
	var id string
	waitFor(t, "a triggered run after "+prev, func() bool {
		ts := m.Triggers()
		if len(ts) == 1 && ts[0].LastRun != prev {
			id = ts[0].LastRun
			return true
		}
		return false
	})
	j := waitJob(t, m, id)
	if j.State != Succeeded {
		t.Fatalf("run %s %s: %s", id, j.State, j.Error)
	}
	return j
}

// The continuous-training loop end to end, on the embedded log and a local
// model store: events drift batch by batch; the triggered job retrains on
// every 1000 new records, warm-started from the version behind the alias
// (in fewer iterations than a cold fit of the same records), and each
// new version, better on the newest records, takes the alias. Then a
// challenger trained on label-flipped records is published but not
// promoted, and the history says why, with both metrics. Every version is
// reproduced bit for bit from the offsets it recorded. It runs on the
// embedded log and on a Kafka-protocol broker.
func TestContinuousTrainingLoop(t *testing.T) {
	t.Run("disk", func(t *testing.T) {
		l, err := disk.Open(disk.Config{Dir: filepath.Join(t.TempDir(), "log"), Sync: disk.SyncUnsafeNever})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		continuousLoop(t, l)
	})
	t.Run("kafka", func(t *testing.T) {
		l, err := kafka.New(context.Background(), kafka.Config{Brokers: kafkatest.Brokers(t), Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		continuousLoop(t, l)
	})
}

func continuousLoop(t *testing.T, l log.Log) {
	ctx := context.Background()
	if err := l.CreateTopic(ctx, "events", log.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	appendBatch := func(recs []log.Record) {
		t.Helper()
		if err := l.Append(ctx, "events", recs); err != nil {
			t.Fatal(err)
		}
	}
	st := newJobStore(t)
	reg := models.NewRegistry(st)
	m := newManager(t, ManagerConfig{Store: st, Registry: reg, Log: l, TriggerPoll: 10 * time.Millisecond})

	appendBatch(batch(1, 1000, 0, 0))
	first := submit(t, m, loopSpec)
	if first.Trigger != "submitted" {
		t.Fatalf("first run's trigger = %q, want submitted", first.Trigger)
	}
	j := waitJob(t, m, first.ID)
	if j.State != Succeeded || j.Result.Alias != "production" {
		t.Fatalf("first run: %+v %+v", j, j.Result)
	}
	runs := []Job{j}
	for k := 1; k <= 3; k++ {
		appendBatch(batch(uint64(k+1), 1000, 0.5*float64(k), 0))
		j = nextRun(t, m, j.ID)
		runs = append(runs, j)
		r := j.Result
		if !strings.Contains(j.Trigger, "1000 new records") {
			t.Errorf("run %d's trigger = %q", k+1, j.Trigger)
		}
		if r.Alias != "production" || r.Version != k+1 {
			t.Fatalf("run %d: version %d alias %q (held: %s)", k+1, r.Version, r.Alias, r.AliasHeld)
		}
		if r.WarmStart == nil || r.WarmStart.From != k {
			t.Fatalf("run %d did not start from version %d: %+v", k+1, k, r.WarmStart)
		}
	}

	// A challenger trained on label-flipped records (the 700 it trains on),
	// scored on 300 correct ones, is published but keeps no alias.
	appendBatch(append(batch(9, 700, 1.5, 700), batch(10, 300, 1.5, 0)...))
	bad := nextRun(t, m, j.ID)
	if bad.Result.Alias != "" || bad.Result.Version != 5 || !strings.Contains(bad.Result.AliasHeld, "does not beat champion v4") {
		t.Fatalf("the flipped challenger: version %d alias %q held %q", bad.Result.Version, bad.Result.Alias, bad.Result.AliasHeld)
	}
	man, err := reg.Describe(ctx, "clicks")
	if err != nil {
		t.Fatal(err)
	}
	if man.Aliases["production"] != 4 {
		t.Fatalf("production is at version %d, want 4", man.Aliases["production"])
	}
	if len(man.History) != 5 {
		t.Fatalf("history has %d decisions, want 5: %+v", len(man.History), man.History)
	}
	for i, e := range man.History {
		c := e.Comparison
		if c == nil || c.Metric != "logloss" || c.Rows != 300 || len(c.Holdout) != 1 || e.To != i+1 {
			t.Fatalf("decision %d: %+v (comparison %+v)", i, e, c)
		}
		if i == 0 {
			continue
		}
		if c.Champion != i {
			t.Errorf("decision %d compared with version %d, want %d", i, c.Champion, i)
		}
		if i < 4 && (!e.Moved || c.LargerIsBetter || c.ChallengerValue > c.ChampionValue-c.Margin) {
			t.Errorf("decision %d: moved %v with %v vs %v", i, e.Moved, c.ChallengerValue, c.ChampionValue)
		}
	}
	last := man.History[4]
	if last.Moved || last.From != 4 || !(last.Comparison.ChallengerValue > 1 && last.Comparison.ChampionValue < 0.2) {
		t.Fatalf("the flipped challenger's decision: %+v %+v", last, last.Comparison)
	}
	t.Logf("rejected: %s", last.Reason)

	// Warm starts took fewer iterations than cold fits of the same records;
	// and every version is reproduced bit for bit from its recorded offsets.
	repro := models.NewRegistry(newJobStore(t))
	for i, run := range runs {
		v := run.Result.Version
		art, _, err := reg.Get(ctx, "clicks", v)
		if err != nil {
			t.Fatal(err)
		}
		got := reproduce(t, l, repro, art, run.Result.WarmStart != nil && run.Result.WarmStart.From > 0)
		if !bytes.Equal(got.Params, art.Params) || !bytes.Equal(got.Pipeline, art.Pipeline) {
			t.Errorf("version %d is not reproduced from its offsets", v)
		}
		if i == 0 {
			continue
		}
		cold := coldIterations(t, l, art)
		ws := run.Result.WarmStart
		t.Logf("version %d: warm start from %d ran %d iterations; a cold fit of the same records %d; saved against cold version %d's %d: %d",
			v, ws.From, run.Result.Iterations, cold, ws.ColdVersion, ws.ColdIterations, ws.Saved)
		if run.Result.Iterations >= cold {
			t.Errorf("version %d: warm start ran %d iterations, a cold fit %d", v, run.Result.Iterations, cold)
		}
		if ws.ColdVersion != 1 || ws.ColdIterations != runs[0].Result.Iterations || ws.Saved != ws.ColdIterations-run.Result.Iterations {
			t.Errorf("version %d's warm start report: %+v", v, ws)
		}
	}
}

// pinnedSpec is the loop's job as a one-off run of exactly the records a
// version read: its lineage for training and its held-out records as
// evaluation.test.
func pinnedSpec(t *testing.T, art *models.Artifact, warm bool) string {
	t.Helper()
	srcs := trainer.ReadOffsets(art)
	if len(art.Lineage) != 1 || len(srcs) != 2 {
		t.Fatalf("version read %+v", srcs)
	}
	tr, ho := srcs[0], srcs[1]
	return fmt.Sprintf(`name: clicks
source: {topic: events, from: %d, to: %d}
schema:
  format: json
  fields: [{name: x1, type: numeric}, {name: x2, type: numeric}, {name: y, type: numeric}]
  label: y
algorithm:
  logistic_regression: {max_iter: 300, tol: 1e-12}
evaluation: {test: {from: %d, to: %d}}
warm_start: %v
engine: {workers: 2}
`, tr.From, tr.To, ho.From, ho.To, warm)
}

// reproduce runs a version's job again on its recorded offsets, publishing
// to reg (whose latest version is the reproduction of the version it was
// warm-started from), and returns the artefact.
func reproduce(t *testing.T, l log.Log, reg *models.Registry, art *models.Artifact, warm bool) *models.Artifact {
	t.Helper()
	spec, err := trainer.ParseSpec("pinned.yaml", []byte(pinnedSpec(t, art, warm)))
	if err != nil {
		t.Fatal(err)
	}
	res, err := trainer.Run(context.Background(), spec, trainer.Options{Log: l, Registry: reg, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := reg.Get(context.Background(), "clicks", res.Version)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// coldIterations fits a version's records cold and returns the iterations.
func coldIterations(t *testing.T, l log.Log, art *models.Artifact) int {
	t.Helper()
	spec, err := trainer.ParseSpec("cold.yaml", []byte(pinnedSpec(t, art, false)))
	if err != nil {
		t.Fatal(err)
	}
	res, err := trainer.Run(context.Background(), spec, trainer.Options{Log: l, Registry: models.NewRegistry(newJobStore(t)), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return res.Iterations
}
