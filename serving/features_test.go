package serving

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flintml/flint/features"
	"github.com/flintml/flint/features/stream"
	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/models"
	"github.com/flintml/flint/trainer"
)

const cardDefinition = `name: cards
source:
  topic: tx
  key: card
  time: at
  fields: {card: string, at: timestamp, amount: number}
features:
  - {name: tx_1h, aggregate: count, window: {sliding: 1h, resolution: 1m}}
  - {name: mean_1h, aggregate: mean, field: amount, window: {sliding: 1h, resolution: 1m}}
  - {name: since_last, aggregate: time_since_last, window: {sliding: 1d, resolution: 1h}}
`

const cardJob = `
name: cards
source: {topic: tx}
features: {definition: %q, key: card, time: at}
schema:
  fields:
    - {name: card, type: categorical}
    - {name: at, type: timestamp}
    - {name: amount, type: numeric}
    - {name: big, type: numeric}
    - {name: tx_1h, type: numeric}
    - {name: mean_1h, type: numeric, optional: true}
    - {name: since_last, type: numeric, optional: true}
  label: big
transforms:
  - {type: imputer, inputs: [mean_1h], output: mean_i, strategy: constant, value: 0}
  - {type: imputer, inputs: [since_last], output: since_i, strategy: constant, value: 86400}
  - {type: assembler, inputs: [amount, tx_1h, mean_i, since_i]}
algorithm:
  logistic_regression: {reg_param: 0.01}
evaluation: {test_fraction: 0}
`

// A model trained with streaming features is served from the entity key
// and the request-time fields alone: the server fills the features in from
// its replica of the processor's changelog, as of the row's time, and its
// predictions equal the model's on the same row with the features
// computed offline (AsOf over the events) — also after a server restart,
// once the new replica has caught up.
func TestServeWithStreamingFeatures(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := disk.Open(disk.Config{Dir: filepath.Join(dir, "log"), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.CreateTopic(ctx, "tx", log.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	const base = 1_780_000_000.0
	var recs []log.Record
	for i := 0; i < 1500; i++ {
		card := fmt.Sprintf("c%d", r.IntN(30))
		amount := 5 + r.Float64()*100
		big := 0
		if amount > 60 {
			big = 1
		}
		recs = append(recs, log.Record{Key: []byte(card), Value: []byte(fmt.Sprintf(`{"card":%q,"at":%.3f,"amount":%.2f,"big":%d}`,
			card, base+float64(i)*20, amount, big))})
	}
	if err := l.Append(ctx, "tx", recs); err != nil {
		t.Fatal(err)
	}
	defFile := filepath.Join(dir, "cards.yaml")
	if err := os.WriteFile(defFile, []byte(cardDefinition), 0o644); err != nil {
		t.Fatal(err)
	}
	def, err := stream.Parse(defFile, []byte(cardDefinition))
	if err != nil {
		t.Fatal(err)
	}

	// The processor publishes the states; the job trains on the events.
	p, err := stream.NewProcessor(ctx, stream.ProcessorConfig{Log: l, Definition: def, Dir: filepath.Join(dir, "state"),
		PollWait: 20 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	pctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(pctx) }()
	defer func() { stop(); <-done; p.Close() }()
	waitFor(t, "the processor to consume every event", func() bool {
		c, err := l.Committed(ctx, "features.cards", "tx")
		return err == nil && c[0]+c[1] == int64(len(recs))
	})
	reg := newRegistry(t)
	spec, err := trainer.ParseSpec("job.yaml", []byte(fmt.Sprintf(cardJob, defFile)))
	if err != nil {
		t.Fatal(err)
	}
	res, err := trainer.Run(ctx, spec, trainer.Options{Log: l, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}

	// Requests: known and unknown cards, key and request-time fields only,
	// as of a time after the last event.
	at := base + 1500*20 + 600
	var rows []map[string]any
	for c := 0; c < 34; c++ {
		rows = append(rows, map[string]any{"card": fmt.Sprintf("c%d", c), "at": at, "amount": 50.0 + float64(c)})
	}
	want := offlinePredictions(t, reg, res.Version, def, l, rows)
	body, _ := json.Marshal(map[string]any{"rows": rows})
	for round := 0; round < 2; round++ { // the second: a restarted server
		ts := startServer(t, Config{Registry: reg, Log: l})
		ts.waitReady(t)
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		if err := ts.SyncFeatures(sctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		var got predictResponse
		ts.json(t, "POST", "/v1/models/cards/predict", string(body), &got)
		for i, p := range got.Predictions {
			if p.Index == nil || float64(*p.Index) != want[i].class || math.Abs(p.Probabilities[1]-want[i].proba) > 1e-12 {
				t.Fatalf("round %d row %d (%v): served %+v, offline class %v probability %v", round, i, rows[i], p, want[i].class, want[i].proba)
			}
		}
		code, metrics := ts.do(t, "GET", "/metrics", "")
		if code != 200 || !regexp.MustCompile(`flint_serving_feature_replica_keys\{definition="cards",definition_sha256="[0-9a-f]{8}"\} 30\n`).Match(metrics) ||
			!strings.Contains(string(metrics), `flint_serving_feature_age_seconds_count{model="cards"}`) {
			t.Errorf("metrics lack the replica's keys or the features' age:\n%s", metrics)
		}
		ts.client.CloseIdleConnections()
		sd, cancel := context.WithTimeout(ctx, 10*time.Second)
		_ = ts.Shutdown(sd)
		cancel()
	}
}

type offline struct{ class, proba float64 }

// offlinePredictions scores the rows as training would: the features as
// of each row's time by AsOf over every event, then the published
// pipeline and model.
func offlinePredictions(t *testing.T, reg *models.Registry, version int, def *stream.Definition, l log.Log, rows []map[string]any) []offline {
	t.Helper()
	ctx := context.Background()
	var events []stream.Event
	dec := stream.NewRecordDecoder(def)
	info, err := l.Describe(ctx, "tx")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range info.Partitions {
		recs, err := l.Read(ctx, "tx", p.ID, 0, log.ReadOptions{MaxRecords: 10000})
		if err != nil {
			t.Fatal(err)
		}
		for i := range recs {
			ev := def.NewEvent()
			if dec.Decode(&recs[i], &ev) == nil {
				events = append(events, ev)
			}
		}
	}
	labels := make([]stream.Label, len(rows))
	for i, r := range rows {
		labels[i] = stream.Label{Key: r["card"].(string), Time: int64(math.Round(r["at"].(float64) * 1000))}
	}
	nf := len(def.Features)
	vals := make([]float64, len(rows)*nf)
	if err := stream.NewAggregator(def).AsOf(events, labels, vals); err != nil {
		t.Fatal(err)
	}
	art, _, err := reg.Get(ctx, "cards", version)
	if err != nil {
		t.Fatal(err)
	}
	pipe := new(features.Pipeline)
	if err := json.Unmarshal(art.Pipeline, pipe); err != nil {
		t.Fatal(err)
	}
	m, err := ml.UnmarshalModel(art.Params)
	if err != nil {
		t.Fatal(err)
	}
	c := m.(ml.Classifier)
	out := make([]offline, len(rows))
	row, tr := pipe.Schema.NewRow(), pipe.NewTransformer()
	x := make([]float64, pipe.Width())
	for i, r := range rows {
		rec := map[string]any{"big": 0.0}
		for k, v := range r {
			rec[k] = v
		}
		for f, name := range def.FeatureNames() {
			if v := vals[i*nf+f]; !math.IsNaN(v) {
				rec[name] = v
			}
		}
		if err := pipe.Schema.DecodeMap(row, rec); err != nil {
			t.Fatal(err)
		}
		if err := tr.Transform(x, row); err != nil {
			t.Fatal(err)
		}
		pred, proba := []float64{0}, make([]float64, 2)
		m.PredictBatch(pred, x, 1)
		c.ProbaBatch(proba, x, 1)
		out[i] = offline{pred[0], proba[1]}
	}
	return out
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
