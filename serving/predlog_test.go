package serving

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
	"github.com/flintml/flint/serving/predlog"
	"github.com/flintml/flint/serving/predlog/join"
)

// TestPredictionLog: a server on loopback with a prediction log on the
// embedded log gives every prediction a request id (the client's when
// valid) and logs each row with its fields and prediction.
func TestPredictionLog(t *testing.T) {
	l, err := disk.Open(disk.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	pl, err := predlog.New(context.Background(), predlog.Config{Log: l, Topic: "predictions"})
	if err != nil {
		t.Fatal(err)
	}
	reg := newRegistry(t)
	publish(t, reg, "price", priceModel(1).artifact(t))
	ts := startServer(t, Config{Registry: reg, PredictionLog: pl})
	ts.waitReady(t)

	tests := []struct {
		name, sent string // sent: the X-Request-Id header; "" sends none
		keep       bool   // the server answers with the id sent
	}{
		{"client id", "order-17", true},
		{"no id", "", false},
		{"id with a space", "a b", false},
		{"id too long", strings.Repeat("x", 129), false},
	}
	ids := map[string]string{} // request id -> the rows and predictions answered
	for _, tc := range tests {
		req, err := http.NewRequest("POST", ts.url+"/v1/models/price/predict", strings.NewReader(`{"rows":[{"x":1},{"x":2}]}`))
		if err != nil {
			t.Fatal(err)
		}
		if tc.sent != "" {
			req.Header.Set(RequestIDHeader, tc.sent)
		}
		resp, err := ts.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out struct{ Predictions []json.RawMessage }
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil || len(out.Predictions) != 2 {
			t.Fatalf("%s: %v, %d predictions", tc.name, err, len(out.Predictions))
		}
		id := resp.Header.Get(RequestIDHeader)
		switch {
		case resp.StatusCode != http.StatusOK:
			t.Errorf("%s: status %d", tc.name, resp.StatusCode)
		case tc.keep && id != tc.sent:
			t.Errorf("%s: answered id %q, want %q", tc.name, id, tc.sent)
		case !tc.keep && (id == "" || id == tc.sent):
			t.Errorf("%s: answered id %q, want a new one", tc.name, id)
		case ids[id] != "":
			t.Errorf("%s: id %q given twice", tc.name, id)
		}
		ids[id] = `{"x":1} ` + string(out.Predictions[0]) + `, {"x":2} ` + string(out.Predictions[1])
	}
	// A failed prediction is not logged.
	if code, _ := ts.do(t, "POST", "/v1/models/price/predict", `{"rows":[{"x":"no"}]}`); code != http.StatusBadRequest {
		t.Errorf("bad row: status %d", code)
	}
	if err := pl.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	info, err := l.Describe(context.Background(), "predictions")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string][]string{}
	for _, p := range info.Partitions {
		recs, err := l.Read(context.Background(), "predictions", p.ID, p.Earliest, log.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			got, err := predlog.DecodeRows(nil, r.Value)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 {
				t.Errorf("record %s has no rows", r.Key)
			}
			for _, rec := range got {
				if rec.Model != "price" || rec.Version != 1 {
					t.Errorf("record %s: model %s version %d", rec.ID, rec.Model, rec.Version)
				}
				rows[rec.ID] = append(rows[rec.ID], string(rec.Fields)+" "+string(rec.Prediction))
			}
		}
	}
	if len(rows) != len(tests) {
		t.Errorf("logged %d requests, want %d: %v", len(rows), len(tests), rows)
	}
	for id, want := range ids {
		if got := strings.Join(rows[id], ", "); got != want {
			t.Errorf("request %s logged %s, answered %s", id, got, want)
		}
	}
	if n := testutil.ToFloat64(pl.Collectors()[0]); n != 0 {
		t.Errorf("%v requests dropped", n)
	}
}

// TestPredictionLogJoin is the feedback loop on the embedded log: a real
// server on loopback logs its predictions, labels for them arrive later
// in another topic under the request ids the server answered, and the
// joiner appends each labelled row, with its label, to the training
// topic; a label for a request never logged is counted as unmatched.
func TestPredictionLogJoin(t *testing.T) {
	l, err := disk.Open(disk.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	pl, err := predlog.New(ctx, predlog.Config{Log: l, Topic: "predictions"})
	if err != nil {
		t.Fatal(err)
	}
	reg := newRegistry(t)
	publish(t, reg, "price", priceModel(1).artifact(t))
	ts := startServer(t, Config{Registry: reg, PredictionLog: pl})
	ts.waitReady(t)
	if err := l.CreateTopic(ctx, "labels", log.TopicConfig{}); err != nil {
		t.Fatal(err)
	}
	j, err := join.Open(ctx, join.Config{Log: l, Predictions: "predictions", Labels: "labels", Out: "train",
		StateDir: t.TempDir(), Window: time.Hour, LabelField: "y", PollWait: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	jctx, stop := context.WithCancel(ctx)
	jdone := make(chan error, 1)
	go func() { jdone <- j.Run(jctx) }()

	var labels []log.Record
	for i := range 5 {
		req, err := http.NewRequest("POST", ts.url+"/v1/models/price/predict", strings.NewReader(fmt.Sprintf(`{"row":{"x":%d}}`, i)))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := ts.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		id := resp.Header.Get(RequestIDHeader)
		if resp.StatusCode != http.StatusOK || id == "" {
			t.Fatalf("predict: status %d, id %q", resp.StatusCode, id)
		}
		labels = append(labels, log.Record{Key: []byte(id), Value: fmt.Appendf(nil, `{"id":%q,"label":%d}`, id, 10*i)})
	}
	labels = append(labels, log.Record{Value: []byte(`{"id":"never-predicted","label":1}`)})
	if err := l.Append(ctx, "labels", labels); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the joiner to join 5 rows", func() bool { return j.Stats().Joined == 5 })
	// A record two hours on closes the window of the label for a request
	// that was never logged.
	if err := l.Append(ctx, "labels", []log.Record{{Value: []byte(`{"id":"later","label":1}`), Time: time.Now().Add(2 * time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the unmatched label to be counted", func() bool { return j.Stats().UnmatchedLabels == 1 })
	stop()
	if err := <-jdone; err != nil {
		t.Fatal(err)
	}
	st := j.Stats()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if st.Malformed != 0 || st.ExpiredPredictions != 0 {
		t.Errorf("stats %+v", st)
	}
	var got []string
	info, err := l.Describe(ctx, "train")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range info.Partitions {
		if p.Latest == p.Earliest {
			continue
		}
		recs, err := l.Read(ctx, "train", p.ID, p.Earliest, log.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			got = append(got, string(r.Value))
		}
	}
	slices.Sort(got)
	want := []string{`{"x":0,"y":0}`, `{"x":1,"y":10}`, `{"x":2,"y":20}`, `{"x":3,"y":30}`, `{"x":4,"y":40}`}
	if !slices.Equal(got, want) {
		t.Errorf("training topic holds %q, want %q", got, want)
	}
}
