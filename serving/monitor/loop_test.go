package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
	"github.com/flintml/flint/log/kafka"
	"github.com/flintml/flint/log/kafka/kafkatest"
	"github.com/flintml/flint/models"
	"github.com/flintml/flint/models/local"
	"github.com/flintml/flint/serving"
	"github.com/flintml/flint/serving/predlog"
	"github.com/flintml/flint/trainer/jobs"
)

// world draws n events of a world where amounts are around mu and a
// customer buys above cut.
func world(r *rand.Rand, n int, mu, cut float64) []log.Record {
	recs := make([]log.Record, n)
	for i := range recs {
		x := mu + r.NormFloat64()
		bought := "no"
		if x+0.2*r.NormFloat64() > cut {
			bought = "yes"
		}
		b, _ := json.Marshal(map[string]any{"amount": x, "channel": []string{"web", "shop"}[r.IntN(2)], "bought": bought})
		recs[i] = log.Record{Value: b}
	}
	return recs
}

const loopJob = `
name: buyers
source: {topic: events, window: {records: 2000}}
schema:
  fields:
    - {name: amount, type: numeric}
    - {name: channel, type: categorical}
    - {name: bought, type: categorical}
  label: bought
transforms:
  - {type: standard_scaler, inputs: [amount], output: amount_s}
  - {type: one_hot, inputs: [channel], output: ch}
algorithm:
  logistic_regression: {reg_param: 0.001}
trigger: {every: 24h}
promote: {alias: production, metric: accuracy, margin: 0.02, holdout: {records: 500}}
`

// The loop closed on real parts: a triggered job on a job manager
// publishes version 1 behind production; a server serves it with the
// prediction log on; the world moves (new events in the source, and the
// rows asked about move with it); the monitor reads the drift and fires
// the job; the retrained version beats version 1 on the most recent
// records, is promoted, and the server answers with it.
// It runs on the embedded log and on a Kafka-protocol broker.
func TestDriftRetrainsAndServes(t *testing.T) {
	t.Run("disk", func(t *testing.T) {
		l, err := disk.Open(disk.Config{Dir: filepath.Join(t.TempDir(), "log"), Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		driftLoop(t, l)
	})
	t.Run("kafka", func(t *testing.T) {
		l, err := kafka.New(context.Background(), kafka.Config{Brokers: kafkatest.Brokers(t)})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		driftLoop(t, l)
	})
}

func driftLoop(t *testing.T, l log.Log) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	if err := l.CreateTopic(ctx, "events", log.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	st, err := local.New(filepath.Join(dir, "models"))
	if err != nil {
		t.Fatal(err)
	}
	reg := models.NewRegistry(st)
	r := rand.New(rand.NewPCG(3, 4))
	if err := l.Append(ctx, "events", world(r, 3000, 0, 0)); err != nil {
		t.Fatal(err)
	}
	m, err := jobs.NewManager(ctx, jobs.ManagerConfig{Store: st, Registry: reg, Log: l, TriggerPoll: 20 * time.Millisecond, Logger: quiet, FlintVersion: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	first, err := m.Submit(ctx, "job.yaml", []byte(loopJob))
	if err != nil {
		t.Fatal(err)
	}
	if j, err := m.Wait(ctx, first.ID); err != nil || j.State != jobs.Succeeded || j.Result.Alias != "production" {
		t.Fatalf("the first run: %+v %v", j, err)
	}

	pl, err := predlog.New(ctx, predlog.Config{Log: l, Topic: "predictions", FlushInterval: 10 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	_, base := serve(t, serving.Config{Registry: reg, PredictionLog: pl, DefaultAlias: "production", Logger: quiet, WatchInterval: 20 * time.Millisecond})

	fired := make(chan string, 4)
	mon, err := New(Config{Log: l, Registry: reg, Model: "buyers", Predictions: "predictions", Window: 300,
		PollWait: 20 * time.Millisecond, Logger: quiet,
		OnDrift: func(_ context.Context, rd Reading) error {
			why := fmt.Sprintf("drift: PSI %.3g on %s", rd.Max, rd.Feature)
			fired <- why
			return m.Fire("buyers", why)
		}})
	if err != nil {
		t.Fatal(err)
	}
	go mon.Run(ctx)

	// The world moves: amounts around 2, bought above 2.5.
	if err := l.Append(ctx, "events", world(r, 2500, 2, 2.5)); err != nil {
		t.Fatal(err)
	}
	predict := func(rows []map[string]any) int {
		body, _ := json.Marshal(map[string]any{"rows": rows})
		resp, err := http.Post(base+"/v1/models/buyers/predict", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		var ans struct{ Version int }
		if resp.StatusCode != 200 || json.Unmarshal(out, &ans) != nil {
			t.Fatalf("predict: %d %s", resp.StatusCode, out)
		}
		return ans.Version
	}
	for range 15 {
		var rows []map[string]any
		for range 20 {
			rows = append(rows, map[string]any{"amount": 2 + r.NormFloat64(), "channel": []string{"web", "shop"}[r.IntN(2)]})
		}
		if v := predict(rows); v != 1 {
			t.Fatalf("served version %d before any retraining", v)
		}
	}
	var why string
	select {
	case why = <-fired:
	case <-time.After(2 * time.Minute):
		t.Fatal("the monitor did not act on the drift within 2 minutes")
	}
	var run jobs.Job
	waitFor(t, "the fired run", func() bool {
		for _, j := range m.List("") {
			if j.Trigger == why {
				run = j
				return j.State.Final()
			}
		}
		return false
	})
	if run.State != jobs.Succeeded || run.Result.Version != 2 || run.Result.Alias != "production" {
		t.Fatalf("the run the drift fired: %s, version %d alias %q held %q", run.State, run.Result.Version, run.Result.Alias, run.Result.AliasHeld)
	}
	p := run.Result.Promotion
	t.Logf("fired by %q; %s", why, p.Reason)
	if !strings.Contains(why, "amount_s") || p == nil || p.Champion != 1 || p.ChallengerValue < p.ChampionValue+0.2 {
		t.Errorf("the promotion: %+v", p)
	}
	waitFor(t, "the server to serve version 2", func() bool {
		return predict([]map[string]any{{"amount": 2.0, "channel": "shop"}}) == 2
	})
}
