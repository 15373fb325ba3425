package serving

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
	"github.com/flintml/flint/serving/predlog"
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
			rec, err := predlog.Decode(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Model != "price" || rec.Version != 1 {
				t.Errorf("record %s: model %s version %d", rec.ID, rec.Model, rec.Version)
			}
			rows[rec.ID] = append(rows[rec.ID], string(rec.Fields)+" "+string(rec.Prediction))
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
