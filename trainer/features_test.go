package trainer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flintml/flint/features/stream"
	"github.com/flintml/flint/log"
)

const txDefinition = `name: card_activity
source:
  topic: tx
  key: card
  time: at
  fields: {card: string, at: timestamp, amount: number}
features:
  - {name: tx_1h, aggregate: count, window: {sliding: 1h, resolution: 1m}}
  - {name: spend_1h, aggregate: sum, field: amount, window: {sliding: 1h, resolution: 1m}}
`

// fraudData writes card transactions (topic tx) and one label per card
// (topic labels, at time T of the card) to the log, keyed by card. Before
// T every card makes two transactions; after T a fraudulent card makes
// ten, the others one. So the label shows only in events after it: a
// training set that saw them would predict it perfectly.
func fraudData(t *testing.T, e *env, cards int) (defFile string) {
	t.Helper()
	ctx := context.Background()
	for _, topic := range []string{"tx", "labels"} {
		if err := e.log.CreateTopic(ctx, topic, log.TopicConfig{Partitions: 3}); err != nil {
			t.Fatal(err)
		}
	}
	r := rand.New(rand.NewPCG(21, 22))
	const base = 1_780_000_000 // seconds
	var tx, labels []log.Record
	for c := 0; c < cards; c++ {
		card := fmt.Sprintf("card-%d", c)
		at := float64(base + c*7200)
		fraud := r.IntN(2)
		add := func(dt float64) {
			tx = append(tx, log.Record{Key: []byte(card), Value: []byte(fmt.Sprintf(`{"card":%q,"at":%.3f,"amount":%.2f}`, card, at+dt, 10+r.Float64()*50))})
		}
		add(-1200)
		add(-600)
		labels = append(labels, log.Record{Key: []byte(card), Value: []byte(fmt.Sprintf(`{"card":%q,"at":%.3f,"seen":%.3f,"fraud":%d}`, card, at, at+1800, fraud))})
		after := 1
		if fraud == 1 {
			after = 10
		}
		for k := 0; k < after; k++ {
			add(float64(60 + k*60))
		}
	}
	if err := e.log.Append(ctx, "tx", tx); err != nil {
		t.Fatal(err)
	}
	if err := e.log.Append(ctx, "labels", labels); err != nil {
		t.Fatal(err)
	}
	defFile = filepath.Join(t.TempDir(), "card_activity.yaml")
	if err := os.WriteFile(defFile, []byte(txDefinition), 0o644); err != nil {
		t.Fatal(err)
	}
	return defFile
}

func fraudSpec(defFile, timeField string) string {
	return fmt.Sprintf(`
name: fraud
source: {topic: labels}
features: {definition: %q, key: card%s}
schema:
  fields:
    - {name: card, type: categorical}
    - {name: at, type: timestamp}
    - {name: seen, type: timestamp}
    - {name: fraud, type: numeric}
    - {name: tx_1h, type: numeric}
    - {name: spend_1h, type: numeric}
  label: fraud
transforms:
  - {type: assembler, inputs: [tx_1h, spend_1h]}
algorithm:
  logistic_regression: {}
evaluation: {test_fraction: 0}
`, defFile, timeField)
}

// No leakage: every label gets the features as of its own time. The
// label shows only in events after it, so a point-in-time training set
// predicts it no better than chance; the same job taking each label as of
// half an hour later ("seen") sees those events and predicts it
// perfectly — the leak this guards against.
func TestFeaturesJobNoLeakage(t *testing.T) {
	e := newEnv(t)
	defFile := fraudData(t, e, 400)
	pit, err := e.run(t, fraudSpec(defFile, ", time: at"))
	if err != nil {
		t.Fatal(err)
	}
	leak, err := e.run(t, fraudSpec(defFile, ", time: seen"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("accuracy as of each label's time %.3f; half an hour later %.3f", pit.Metrics["accuracy"], leak.Metrics["accuracy"])
	if pit.Metrics["accuracy"] > 0.6 || leak.Metrics["accuracy"] < 0.99 {
		t.Fatalf("accuracy as of the label time %v (want chance), half an hour later %v (want 1)", pit.Metrics["accuracy"], leak.Metrics["accuracy"])
	}
	art, _, err := e.reg.Get(context.Background(), "fraud", pit.Version)
	if err != nil {
		t.Fatal(err)
	}
	if sec := string(art.Extra[stream.ArtifactSection]); !strings.Contains(sec, `"key":"card"`) || !strings.Contains(sec, "tx_1h") {
		t.Errorf("the model's features section is %q", sec)
	}
}

// The schema must hold the definition's features; the error names the
// fields to add.
func TestFeaturesJobSchemaLacksFeatures(t *testing.T) {
	e := newEnv(t)
	defFile := fraudData(t, e, 10)
	spec := strings.Replace(fraudSpec(defFile, ", time: at"), "    - {name: spend_1h, type: numeric}\n", "", 1)
	spec = strings.Replace(spec, "inputs: [tx_1h, spend_1h]", "inputs: [tx_1h]", 1)
	_, err := e.run(t, spec)
	if err == nil || !strings.Contains(err.Error(), "add {name: spend_1h, type: numeric}") {
		t.Fatalf("err = %v", err)
	}
}
