package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
	"github.com/flintml/flint/models"
	"github.com/flintml/flint/models/local"
	"github.com/flintml/flint/serving"
	"github.com/flintml/flint/serving/predlog"
	"github.com/flintml/flint/serving/predlog/join"
	"github.com/flintml/flint/trainer"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// row draws one event: amount around mu, a channel web or shop, and
// whether the customer bought (amount above mu, mostly).
func row(r *rand.Rand, mu float64) (map[string]any, string) {
	x := mu + r.NormFloat64()
	ch := []string{"web", "shop"}[r.IntN(2)]
	label := "no"
	if x-mu+0.2*r.NormFloat64() > 0 {
		label = "yes"
	}
	return map[string]any{"amount": x, "channel": ch}, label
}

const jobYAML = `
name: buyers
source: {topic: events}
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
evaluation: {test_fraction: 0.2}
output: {alias: production}
`

// The whole loop on real parts: a model trained on the embedded log
// (with its training profile) is served with the prediction log on; labels
// are joined to the logged predictions; the monitor reads both. Rows like
// the training rows read as no drift and a good accuracy; rows whose
// amount moved by two standard deviations, labelled "no" where the model
// says yes, read as drift on that feature (the retraining action fires, once)
// and a poor accuracy.
func TestMonitorDriftAndQuality(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	l, err := disk.Open(disk.Config{Dir: filepath.Join(dir, "log"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	st, err := local.New(filepath.Join(dir, "models"))
	if err != nil {
		t.Fatal(err)
	}
	reg := models.NewRegistry(st)

	r := rand.New(rand.NewPCG(1, 2))
	var train []log.Record
	for range 3000 {
		f, label := row(r, 0)
		f["bought"] = label
		b, _ := json.Marshal(f)
		train = append(train, log.Record{Value: b})
	}
	if err := l.Append(ctx, "events", train); err != nil {
		t.Fatal(err)
	}
	spec, err := trainer.ParseSpec("job.yaml", []byte(jobYAML))
	if err != nil {
		t.Fatal(err)
	}
	res, err := trainer.Run(ctx, spec, trainer.Options{Log: l, Registry: reg, SpecText: jobYAML, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}

	pl, err := predlog.New(ctx, predlog.Config{Log: l, Topic: "predictions", FlushInterval: 10 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	_, base := serve(t, serving.Config{Registry: reg, PredictionLog: pl, Logger: quiet, WatchInterval: 20 * time.Millisecond})

	if err := l.CreateTopic(ctx, "labels", log.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	joiner, err := join.Open(ctx, join.Config{Log: l, Predictions: "predictions", Labels: "labels", Out: "labeled",
		StateDir: filepath.Join(dir, "join"), Window: time.Hour, LabelField: "bought", PollWait: 20 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer joiner.Close()
	go joiner.Run(ctx)

	readings, qualities, drifts := make(chan Reading, 16), make(chan Quality, 16), make(chan Reading, 16)
	m, err := New(Config{Log: l, Registry: reg, Model: "buyers", Predictions: "predictions", Labeled: "labeled",
		Window: 400, LabeledWindow: 400, PollWait: 20 * time.Millisecond, Logger: quiet,
		OnDrift: func(_ context.Context, rd Reading) error { drifts <- rd; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	m.readings = func(rd Reading) { readings <- rd }
	m.qualities = func(q Quality) { qualities <- q }
	go m.Run(ctx)

	// predict sends 400 rows in requests of 20 and appends their labels,
	// all "no" when wrong is set.
	predict := func(phase string, mu float64, wrong bool) {
		var labels []log.Record
		for i := range 20 {
			var rows []map[string]any
			id := fmt.Sprintf("%s-%d", phase, i)
			for k := range 20 {
				f, label := row(r, mu)
				rows = append(rows, f)
				if wrong {
					label = "no" // the world changed: the model, which says yes to large amounts, is wrong
				}
				b, _ := json.Marshal(map[string]any{"id": id, "row": k, "label": label})
				labels = append(labels, log.Record{Value: b})
			}
			body, _ := json.Marshal(map[string]any{"rows": rows})
			req, _ := http.NewRequest("POST", base+"/v1/models/buyers/predict", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Request-Id", id)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("predict: %d %s", resp.StatusCode, out)
			}
		}
		if err := l.Append(ctx, "labels", labels); err != nil {
			t.Fatal(err)
		}
	}
	next := func(what string, ch any) any {
		t.Helper()
		timeout := time.After(2 * time.Minute)
		switch c := ch.(type) {
		case chan Reading:
			select {
			case v := <-c:
				return v
			case <-timeout:
			}
		case chan Quality:
			select {
			case v := <-c:
				return v
			case <-timeout:
			}
		}
		t.Fatalf("no %s within 2 minutes", what)
		return nil
	}

	predict("same", 0, false)
	calm := next("reading of the rows like training's", readings).(Reading)
	good := next("quality of the rows like training's", qualities).(Quality)
	t.Logf("like training: largest PSI %.3f (%s), accuracy %.3f", calm.Max, calm.Feature, good.Accuracy)
	if calm.Version != res.Version || calm.Rows != 400 || calm.Max >= 0.1 {
		t.Errorf("rows like the training rows read %+v; want every PSI below 0.1", calm)
	}
	if good.Rows != 400 || good.Accuracy < 0.85 {
		t.Errorf("quality of rows like the training rows %+v; want accuracy above 0.85", good)
	}

	predict("moved", 2, true)
	moved := next("reading of the moved rows", readings).(Reading)
	bad := next("quality of the moved rows", qualities).(Quality)
	t.Logf("moved: largest PSI %.3f (%s), accuracy %.3f", moved.Max, moved.Feature, bad.Accuracy)
	if moved.Feature != "amount_s" || moved.Max <= 0.25 || moved.PSI["channel=web"] >= 0.1 {
		t.Errorf("moved rows read %+v; want amount_s above 0.25 and the channel unmoved", moved)
	}
	if bad.Accuracy > 0.2 {
		t.Errorf("quality of the rows the model now gets wrong %+v; want accuracy below 0.2", bad)
	}
	if d := next("drift action", drifts).(Reading); d.Feature != "amount_s" {
		t.Errorf("the drift action got %+v", d)
	}
	select {
	case d := <-drifts:
		t.Errorf("a second drift action %+v; the first reading past the threshold was the only one", d)
	default:
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// serve starts a prediction server with cfg on loopback, shut down when the
// test ends, and waits until it has loaded its models; it returns the
// server and its base URL.
func serve(tb testing.TB, cfg serving.Config) (*serving.Server, string) {
	tb.Helper()
	srv, err := serving.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Shutdown(context.Background()) })
	waitFor(tb, "the server to load its models", srv.Ready)
	return srv, "http://" + ln.Addr().String()
}
