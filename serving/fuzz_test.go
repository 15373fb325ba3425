package serving

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"testing"

	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/models"
)

// fuzzModel is the churn classifier, loaded as the server loads it.
func fuzzModel(t testing.TB) *loadedModel {
	lm, err := newLoadedModel(defaultAdapters(), "churn", models.VersionInfo{Version: 1}, churnModel().artifact(t))
	if err != nil {
		t.Fatal(err)
	}
	return lm
}

// checkClientError fails unless err is one the server answers with a 4xx.
func checkClientError(t *testing.T, err error) {
	var re *requestError
	if !errors.As(err, &re) || re.Status < 400 || re.Status > 499 {
		t.Fatalf("error %v (%T) would not be a 4xx", err, err)
	}
}

// checkOutput checks the predictions of the decoded rows and that the
// response is JSON.
func checkOutput(t *testing.T, lm *loadedModel, w *worker, maxRows int, encode func() ([]byte, error)) {
	if w.rows > maxRows || len(w.pred) != w.rows || w.pending != 0 {
		t.Fatalf("%d rows (max %d), %d predictions, %d pending", w.rows, maxRows, len(w.pred), w.pending)
	}
	for _, v := range w.x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("feature vector holds %v", v)
		}
	}
	out, err := encode()
	if err != nil || !json.Valid(out) {
		t.Fatalf("response %q is not JSON (%v)", out, err)
	}
}

const fuzzMaxRows = 8

// FuzzNativeDecode: no body makes the native decoder panic or fail with
// anything but a 4xx; what it accepts, training's decoder
// (features.Schema.Decode) reads to the same feature vectors, bit for bit.
//
//	go test ./serving -run '^$' -fuzz FuzzNativeDecode -fuzztime 1m
func FuzzNativeDecode(f *testing.F) {
	for _, s := range []string{
		`{"rows": [{"age": 30, "plan": "pro", "usage": [0.1, 0.2]}, {"age": 40, "income": 1e4, "plan": "x", "usage": [1, 2]}]}`,
		`{"row": {"age": 30, "plan": "pro", "usage": [0.1, 0.2], "churned": "yes"}}`,
		`{"row": {"age": -0.5e-3, "income": null, "plan": 7, "usage": [0, 1E2]}}`,
		`{"rows": []}`, `{"rows": null}`, `{}`, `[]`, ``, `{"rows": [1]}`, `{"row": {"age": "x"}}`,
		`{"row": {"plan": "\u00e9\ud83d\ude00", "age": 1, "usage": [1, 2]}}`, `{"rows": [{"age": 1e999}]}`,
		`{"rows": [[[[[[[[[[`, `{"row": {"age": 1, "age": 2}}`, `{"rows": [{}, {}, {}, {}, {}, {}, {}, {}, {}]}`,
	} {
		f.Add([]byte(s))
	}
	lm := fuzzModel(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		w := lm.getWorker()
		defer lm.putWorker(w)
		err := lm.decodeNative(context.Background(), w, body, fuzzMaxRows)
		if err != nil {
			checkClientError(t, err)
			return
		}
		checkOutput(t, lm, w, fuzzMaxRows, func() ([]byte, error) { return lm.encodeNative(w) })

		// The reference is the training path: each row, the label filled
		// in, as one record through features.Schema.Decode (encoding/json
		// with UseNumber, so numbers keep their literal text).
		var req struct {
			Rows []map[string]any `json:"rows"`
			Row  map[string]any   `json:"row"`
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&req); err != nil {
			t.Fatalf("accepted a body encoding/json rejects: %v", err)
		}
		rows := req.Rows
		if req.Row != nil {
			rows = []map[string]any{req.Row}
		}
		if len(rows) != w.rows {
			t.Fatalf("%d rows decoded, encoding/json finds %d", w.rows, len(rows))
		}
		p, m := lm.pipeline, churnModel().model.(ml.Classifier)
		row, tr, x := p.Schema.NewRow(), p.NewTransformer(), make([]float64, lm.width)
		pred, proba := make([]float64, 1), make([]float64, 2)
		for i, r := range rows {
			r["churned"] = "no"
			record, err := json.Marshal(r) // json.Number is written as its literal text
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Schema.Decode(row, record); err != nil {
				t.Fatalf("row %d: accepted, but Schema.Decode says %v", i, err)
			}
			if err := tr.Transform(x, row); err != nil {
				t.Fatalf("row %d: accepted, but Transform says %v", i, err)
			}
			if got := w.x[i*lm.width : (i+1)*lm.width]; !sameBits(got, x) { // fuzzMaxRows rows are one chunk
				t.Fatalf("row %d: served vector %v, training's %v", i, got, x)
			}
			m.PredictBatch(pred, x, 1)
			m.ProbaBatch(proba, x, 1)
			if pred[0] != w.pred[i] || math.Float64bits(proba[1]) != math.Float64bits(w.proba[2*i+1]) {
				t.Fatalf("row %d: class %v P(yes) %v, the reference %v %v", i, w.pred[i], w.proba[2*i+1], pred[0], proba[1])
			}
		}
	})
}

// FuzzV2Decode: no body makes the V2 decoder panic or fail with anything
// but a 4xx, and what it accepts predicts and encodes to JSON.
//
//	go test ./serving -run '^$' -fuzz FuzzV2Decode -fuzztime 1m
func FuzzV2Decode(f *testing.F) {
	for _, s := range []string{
		`{"id": "1", "inputs": [{"name": "age", "shape": [2], "datatype": "FP64", "data": [30, 40]},
		  {"name": "plan", "shape": [2], "datatype": "BYTES", "data": ["pro", "x"]},
		  {"name": "usage", "shape": [2, 2], "datatype": "FP32", "data": [[1, 2], [3, 4]]},
		  {"name": "income", "shape": [2, 1], "datatype": "INT64", "data": [[1], [null]]}],
		  "outputs": [{"name": "probabilities"}], "parameters": {"a": 1, "b": "c", "d": true}}`,
		`{"inputs": [{"name": "age", "shape": [1], "datatype": "BOOL", "data": [true]}, {"name": "plan", "shape": [1], "datatype": "INT32", "data": [3]},
		  {"name": "usage", "shape": [1, 2], "datatype": "UINT8", "data": [1, 2]}]}`,
		`{"inputs": []}`, `{"inputs": [{"name": "age", "shape": [0], "datatype": "FP64", "data": []}]}`,
		`{"inputs": [{"name": "usage", "shape": [1, 2], "datatype": "FP64", "data": [[[1]], [2]]}]}`,
		`{"inputs": [{"shape": [99999999999], "data": [1]}]}`, `{"outputs": [{"name": "predict"}]}`, `{"inputs": [1]}`, ``,
	} {
		f.Add([]byte(s))
	}
	lm := fuzzModel(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		w := lm.getWorker()
		defer lm.putWorker(w)
		req, err := lm.decodeV2(context.Background(), w, body, fuzzMaxRows)
		if err != nil {
			checkClientError(t, err)
			return
		}
		checkOutput(t, lm, w, fuzzMaxRows, func() ([]byte, error) { return lm.encodeV2(w, req) })
	})
}

// sameBits reports whether a and b hold the same float64s, bit for bit.
func sameBits(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}
