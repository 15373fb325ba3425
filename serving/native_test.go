package serving

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"reflect"

	"strings"
	"testing"
	"time"

	"github.com/flintml/flint/features"
	"github.com/flintml/flint/internal/jsonscan"
	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/models"
)

func TestNativePredict(t *testing.T) {
	reg := newRegistry(t)
	churn := churnModel()
	publish(t, reg, "churn", churn.artifact(t))
	publish(t, reg, "price", priceModel(0).artifact(t))
	ts := startServer(t, Config{Registry: reg})
	ts.waitReady(t)

	t.Run("classifier rows", func(t *testing.T) {
		recs := churn.records[:20]
		var got predictResponse
		ts.json(t, "POST", "/v1/models/churn/predict", rowsJSON(recs, "churned"), &got)
		if got.Model != "churn" || got.Version != 1 || !reflect.DeepEqual(got.Classes, []string{"no", "yes"}) {
			t.Fatalf("model %q version %d classes %v, want churn 1 [no yes]", got.Model, got.Version, got.Classes)
		}
		if len(got.Predictions) != len(recs) {
			t.Fatalf("%d predictions for %d rows", len(got.Predictions), len(recs))
		}
		for i, r := range recs {
			pred, proba := churn.predictLocal(t, r)
			p := got.Predictions[i]
			if p.Index == nil || *p.Index != int(pred) || p.Class != got.Classes[int(pred)] {
				t.Errorf("row %d: class %q index %v, want %v", i, p.Class, p.Index, pred)
			}
			for k := range proba {
				if math.Abs(p.Probabilities[k]-proba[k]) > 1e-12 {
					t.Errorf("row %d: probabilities %v, want %v", i, p.Probabilities, proba)
				}
			}
		}
	})
	t.Run("classifier single row, optional field absent", func(t *testing.T) {
		var got predictResponse
		ts.json(t, "POST", "/v1/models/churn/predict",
			`{"row": {"age": 40, "plan": "pro", "usage": [0.5, 1], "income": null}}`, &got)
		pred, proba := churn.predictLocal(t, map[string]any{"age": 40.0, "plan": "pro", "usage": []any{0.5, 1.0}})
		if len(got.Predictions) != 1 || *got.Predictions[0].Index != int(pred) || math.Abs(got.Predictions[0].Probabilities[1]-proba[1]) > 1e-12 {
			t.Fatalf("got %+v, want index %v proba %v", got.Predictions, pred, proba)
		}
	})
	t.Run("label given is ignored", func(t *testing.T) {
		var a, b predictResponse
		ts.json(t, "POST", "/v1/models/churn/predict", `{"row": {"age": 30, "plan": "basic", "usage": [0.1, 0.2]}}`, &a)
		ts.json(t, "POST", "/v1/models/churn/predict", `{"row": {"age": 30, "plan": "basic", "usage": [0.1, 0.2], "churned": "maybe"}}`, &b)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("with a label %+v, without %+v", b, a)
		}
	})
	t.Run("regressor", func(t *testing.T) {
		var got predictResponse
		ts.json(t, "POST", "/v1/models/price/predict", `{"rows": [{"x": 1}, {"x": 2.5}, {"x": -4}]}`, &got)
		want := []float64{3, 7.5, -12}
		for i, p := range got.Predictions {
			if p.Value == nil || math.Abs(*p.Value-want[i]) > 1e-9 {
				t.Fatalf("prediction %d = %v, want %v (all: %s)", i, p.Value, want[i], mustJSON(got))
			}
		}
	})
	t.Run("empty batch", func(t *testing.T) {
		var got predictResponse
		ts.json(t, "POST", "/v1/models/price/predict", `{"rows": []}`, &got)
		if len(got.Predictions) != 0 {
			t.Fatalf("predictions %v for no rows", got.Predictions)
		}
	})
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestListAndDescribe(t *testing.T) {
	reg := newRegistry(t)
	churn := churnModel()
	publish(t, reg, "churn", churn.artifact(t))
	publish(t, reg, "churn", churn.artifact(t))
	if err := reg.SetAlias(context.Background(), "churn", "production", 1); err != nil {
		t.Fatal(err)
	}
	publish(t, reg, "price", priceModel(0).artifact(t))
	ts := startServer(t, Config{Registry: reg})
	ts.waitReady(t)

	var list struct{ Models []modelSummary }
	ts.json(t, "GET", "/v1/models", "", &list)
	if len(list.Models) != 2 || list.Models[0].Name != "churn" || list.Models[1].Name != "price" {
		t.Fatalf("models %+v", list.Models)
	}
	c := list.Models[0]
	if !reflect.DeepEqual(c.Versions, []int{1, 2}) || c.Latest != 2 || c.Serving != 2 || !c.Ready || c.Aliases["production"] != 1 {
		t.Fatalf("churn summary %+v", c)
	}

	var d struct {
		modelDetail
		Versions []struct {
			Version   int
			Loaded    bool
			Metrics   map[string]float64
			LoadError string `json:"load_error"`
		} `json:"versions"`
	}
	ts.json(t, "GET", "/v1/models/churn", "", &d)
	if d.Output != "classification" || d.Algorithm != "logistic" || d.Features != 7 || d.Schema == nil || d.Schema.Label != "churned" ||
		!reflect.DeepEqual(d.Classes, []string{"no", "yes"}) || d.Serving["default"] != 2 || d.Serving["production"] != 1 {
		t.Fatalf("detail %s", mustJSON(d))
	}
	if len(d.Versions) != 2 || !d.Versions[0].Loaded || !d.Versions[1].Loaded || d.Versions[0].Metrics["rows"] != 300 {
		t.Fatalf("versions %+v", d.Versions)
	}
	for _, path := range []string{"/v1/models/nope", "/v1/models/bad$name"} {
		code, b := ts.do(t, "GET", path, "")
		if want := map[bool]int{true: 404, false: 400}[path == "/v1/models/nope"]; code != want {
			t.Errorf("GET %s: %d %s, want %d", path, code, b, want)
		}
	}
}

func TestVersionsAndAliases(t *testing.T) {
	reg := newRegistry(t)
	for _, b := range []float64{100, 200, 300} {
		publish(t, reg, "price", priceModel(b).artifact(t))
	}
	if err := reg.SetAlias(context.Background(), "price", "staging", 2); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, Config{Registry: reg, VersionCache: 1})
	ts.waitReady(t)

	value := func(path string) (int, float64) {
		t.Helper()
		var got predictResponse
		ts.json(t, "POST", path, `{"row": {"x": 0}}`, &got)
		return got.Version, *got.Predictions[0].Value
	}
	for _, c := range []struct {
		path    string
		version int
	}{
		{"/v1/models/price/predict", 3},
		{"/v1/models/price/versions/3/predict", 3},
		{"/v1/models/price/versions/1/predict", 1}, // neither latest nor aliased: loaded on demand
		{"/v1/models/price/aliases/staging/predict", 2},
		{"/v1/models/price/aliases/latest/predict", 3},
	} {
		v, val := value(c.path)
		if v != c.version || math.Abs(val-100*float64(c.version)) > 1e-6 {
			t.Errorf("%s: version %d value %v, want version %d value %d", c.path, v, val, c.version, 100*c.version)
		}
	}
	for _, c := range []struct {
		path string
		code int
	}{
		{"/v1/models/price/versions/9/predict", 404},
		{"/v1/models/price/versions/abc/predict", 400},
		{"/v1/models/price/versions/0/predict", 400},
		{"/v1/models/price/aliases/nope/predict", 404},
		{"/v1/models/price/aliases/12/predict", 400}, // all digits: not an alias
		{"/v1/models/nope/predict", 404},
		{"/v1/models/..%2f..%2fetc/predict", 400},
		{"/v1/models/.hidden/predict", 400},
	} {
		code, b := ts.do(t, "POST", c.path, `{"row": {"x": 0}}`)
		var e errorResponse
		if code != c.code || json.Unmarshal(b, &e) != nil || e.Error == "" {
			t.Errorf("%s: %d %s, want %d with an error", c.path, code, b, c.code)
		}
	}
}

func TestSetAlias(t *testing.T) {
	reg := newRegistry(t)
	publish(t, reg, "price", priceModel(100).artifact(t))
	publish(t, reg, "price", priceModel(200).artifact(t))
	ts := startServer(t, Config{Registry: reg, WatchInterval: time.Hour}) // only the admin call can make the move visible
	ts.waitReady(t)

	var resp map[string]any
	ts.json(t, "PUT", "/v1/models/price/aliases/production", `{"version": 1}`, &resp)
	if resp["version"] != 1.0 || resp["loaded"] != true {
		t.Fatalf("PUT alias: %v", resp)
	}
	var got predictResponse
	ts.json(t, "POST", "/v1/models/price/aliases/production/predict", `{"row": {"x": 0}}`, &got)
	if got.Version != 1 || math.Abs(*got.Predictions[0].Value-100) > 1e-6 {
		t.Fatalf("after promotion to 1: %s", mustJSON(got))
	}
	ts.json(t, "PUT", "/v1/models/price/aliases/production", `{"version": 2}`, &resp)
	ts.json(t, "POST", "/v1/models/price/aliases/production/predict", `{"row": {"x": 0}}`, &got)
	if got.Version != 2 {
		t.Fatalf("after promotion to 2: %s", mustJSON(got))
	}
	m, err := reg.Describe(context.Background(), "price")
	if err != nil || m.Aliases["production"] != 2 {
		t.Fatalf("registry alias: %v %v", m, err)
	}
	for _, c := range []struct {
		path, body string
		code       int
	}{
		{"/v1/models/price/aliases/production", `{"version": 7}`, 404},
		{"/v1/models/nope/aliases/production", `{"version": 1}`, 404},
		{"/v1/models/price/aliases/latest", `{"version": 1}`, 400},
		{"/v1/models/price/aliases/production", `{"version": 0}`, 400},
		{"/v1/models/price/aliases/production", `{"v": 1}`, 400},
		{"/v1/models/price/aliases/production", `{"version": "1"}`, 400},
		{"/v1/models/price/aliases/production", `[`, 400},
	} {
		if code, b := ts.do(t, "PUT", c.path, c.body); code != c.code {
			t.Errorf("PUT %s %s: %d %s, want %d", c.path, c.body, code, b, c.code)
		}
	}
}

// TestMalformedInputs: every bad request gets a 4xx with a JSON error that
// says what and where.
func TestMalformedInputs(t *testing.T) {
	reg := newRegistry(t)
	publish(t, reg, "churn", churnModel().artifact(t))
	ts := startServer(t, Config{Registry: reg, MaxRows: 5, MaxBodyBytes: 4096})
	ts.waitReady(t)

	good := `{"age": 30, "plan": "pro", "usage": [0.1, 0.2]}`
	rows := func(rs ...string) string { return `{"rows": [` + strings.Join(rs, ",") + `]}` }
	for _, c := range []struct {
		name, body string
		code       int
		row        int // -1: no row in the error
		field      string
		msg        string
	}{
		{"not JSON", `hello`, 400, -1, "", "malformed JSON"},
		{"empty body", ``, 400, -1, "", "malformed JSON"},
		{"truncated", `{"rows": [` + good, 400, -1, "", "malformed JSON"},
		{"trailing garbage", rows(good) + ` x`, 400, -1, "", "after the top-level value"},
		{"trailing comma", `{"rows": [` + good + `,]}`, 400, -1, "", "malformed JSON"},
		{"no rows", `{}`, 400, -1, "", `no "rows" or "row"`},
		{"unknown key", `{"rowz": []}`, 400, -1, "", `unknown key "rowz"`},
		{"rows not an array", `{"rows": {}}`, 400, -1, "", "want an array"},
		{"row not an object", `{"rows": [` + good + `, 5]}`, 400, 1, "", "rows[1]: want an object"},
		{"both", `{"rows": [], "row": ` + good + `}`, 400, -1, "", "not both"},
		{"wrong type", rows(good, `{"age": "old", "plan": "pro", "usage": [0.1, 0.2]}`), 400, 1, "age", "want a number, got a string"},
		{"missing field", rows(good, good, `{"age": 30, "usage": [0.1, 0.2]}`), 400, 2, "plan", "missing"},
		{"null required", rows(`{"age": null, "plan": "pro", "usage": [0.1, 0.2]}`), 400, 0, "age", "missing"},
		{"unknown field", rows(`{"age": 30, "plan": "pro", "usage": [0.1, 0.2], "colour": "red"}`), 400, 0, "colour", "not in the schema"},
		{"field twice", rows(`{"age": 30, "age": 31, "plan": "pro", "usage": [0.1, 0.2]}`), 400, 0, "age", "given twice"},
		{"short vector", rows(`{"age": 30, "plan": "pro", "usage": [0.1]}`), 400, 0, "usage", "want 2 numbers, got 1"},
		{"vector of strings", rows(`{"age": 30, "plan": "pro", "usage": [0.1, "a"]}`), 400, 0, "usage", "element 1"},
		{"vector not array", rows(`{"age": 30, "plan": "pro", "usage": 3}`), 400, 0, "usage", "want an array of 2 numbers"},
		{"object for category", rows(`{"age": 30, "plan": {}, "usage": [0.1, 0.2]}`), 400, 0, "plan", "want a string, got an object"},
		{"number overflow", rows(`{"age": 1e400, "plan": "pro", "usage": [0.1, 0.2]}`), 400, 0, "age", "out of range"},
		{"bad escape", rows(`{"age": 30, "plan": "p\q", "usage": [0.1, 0.2]}`), 400, 0, "", "bad escape"},
		{"invalid UTF-8", rows("{\"age\": 30, \"plan\": \"\xff\", \"usage\": [0.1, 0.2]}"), 400, 0, "", "UTF-8"},
		{"deep nesting", `{"rows": [{"age": ` + strings.Repeat("[", 100) + `]}]}`, 400, 0, "age", ""},
		{"too many rows", rows(good, good, good, good, good, good), 413, -1, "", "more than 5 rows"},
		{"body too large", rows(good) + strings.Repeat(" ", 5000), 413, -1, "", "larger than 4096 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, b := ts.do(t, "POST", "/v1/models/churn/predict", c.body)
			var e errorResponse
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatalf("status %d, body %q is not a JSON error: %v", code, b, err)
			}
			if code != c.code || !strings.Contains(e.Error, c.msg) {
				t.Fatalf("status %d error %q, want %d with %q", code, e.Error, c.code, c.msg)
			}
			if c.row >= 0 && (e.Row == nil || *e.Row != c.row) || c.row < 0 && e.Row != nil {
				t.Errorf("row %v, want %d (error %q)", e.Row, c.row, e.Error)
			}
			if c.field != "" && (e.Field == nil || *e.Field != c.field) {
				t.Errorf("field %v, want %q (error %q)", e.Field, c.field, e.Error)
			}
			if c.row >= 0 && !strings.Contains(e.Error, fmt.Sprintf("rows[%d]", c.row)) {
				t.Errorf("error %q does not name rows[%d]", e.Error, c.row)
			}
		})
	}
	// The server is still fine.
	if code, b := ts.do(t, "POST", "/v1/models/churn/predict", rows(good)); code != 200 {
		t.Fatalf("good request after the bad ones: %d %s", code, b)
	}
}

// TestDecoderAgreesWithDecodeMap checks the serving decoder against the
// features package's own (encoding/json plus Schema.DecodeMap) on rows of
// every field type, valid and not.
func TestDecoderAgreesWithDecodeMap(t *testing.T) {
	schema := features.Schema{
		Fields: []features.Field{
			{Name: "n", Type: features.Numeric, Optional: true},
			{Name: "c", Type: features.Categorical, Optional: true},
			{Name: "s", Type: features.Text, Optional: true},
			{Name: "t", Type: features.Timestamp, Optional: true},
			{Name: "v", Type: features.Vector, Dim: 2, Optional: true},
			{Name: "y", Type: features.Numeric},
		},
		Label: "y",
	}
	lm := testModel(t, schema)
	for _, row := range []string{
		`{"n": 1.5, "c": "a", "s": "some text", "t": "2024-01-02T03:04:05.123Z", "v": [1, 2]}`,
		`{"n": -0, "c": 7, "s": true, "t": 1700000000.5, "v": [1e-300, -2E+3]}`,
		`{"c": 1e21, "s": false, "t": "1700000000", "v": null}`,
		`{"c": "\u00e9\ud83d\ude00\n\"", "s": "\ud800 lone", "n": 0.1}`,
		`{}`,
		`{"n": null, "c": null, "s": null, "t": null}`,
		`{"t": "yesterday"}`,
		`{"t": "Inf"}`,
		`{"n": "1"}`,
		`{"c": [1]}`,
		`{"v": [1, 2, 3]}`,
		`{"v": [1, true]}`,
		`{"v": {}}`,
		`{"n": true}`,
		`{"zz": 1}`,
	} {
		ref := schema.NewRow()
		var m map[string]any
		if err := json.Unmarshal([]byte(row), &m); err != nil {
			t.Fatal(err)
		}
		m["y"] = 0.0 // DecodeMap wants the label
		refErr := schema.DecodeMap(ref, m)

		w := lm.getWorker()
		w.sc.Reset([]byte(row))
		err := lm.readRow(w, 0, inRow)
		if (err == nil) != (refErr == nil) {
			t.Errorf("%s: serving decoder says %v, DecodeMap says %v", row, err, refErr)
			continue
		}
		if err != nil {
			if !strings.Contains(err.Error(), refErr.Error()) {
				t.Errorf("%s: serving error %q does not carry DecodeMap's %q", row, err, refErr)
			}
			continue
		}
		for j := range schema.Fields[:5] {
			if !sameValue(w.row[j], ref[j]) {
				t.Errorf("%s: field %s = %+v, DecodeMap gives %+v", row, schema.Fields[j].Name, w.row[j], ref[j])
			}
		}
	}
}

func sameValue(a, b features.Value) bool {
	eq := func(x, y float64) bool { return x == y || math.IsNaN(x) && math.IsNaN(y) }
	if a.Missing != b.Missing || a.Str != b.Str || !eq(a.Num, b.Num) || len(a.Vec) != len(b.Vec) {
		return false
	}
	for i := range a.Vec {
		if !eq(a.Vec[i], b.Vec[i]) {
			return false
		}
	}
	return true
}

// testModel is a loadedModel for schema, whose string fields are hashed
// into features; it predicts with a linear model.
func testModel(t testing.TB, schema features.Schema) *loadedModel {
	t.Helper()
	var strs []string
	for _, f := range schema.Fields {
		if f.Type == features.Categorical || f.Type == features.Text {
			strs = append(strs, f.Name)
		}
	}
	return linearModel(t, "test", schema, []features.TransformSpec{{Type: "hashing", Inputs: strs, Buckets: 4, Output: "h"}})
}

// linearModel is a loadedModel named name for schema and the (unfitted)
// transforms specs, predicting with a linear model.
func linearModel(t testing.TB, name string, schema features.Schema, specs []features.TransformSpec) *loadedModel {
	t.Helper()
	p, err := features.New(schema, specs)
	if err != nil {
		t.Fatal(err)
	}
	pj, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	lm, err := newLoadedModel(defaultAdapters(), name, models.VersionInfo{Version: 1},
		&models.Artifact{Algorithm: "linear", Pipeline: pj, Params: linearParams(t, p.Width())})
	if err != nil {
		t.Fatal(err)
	}
	return lm
}

func linearParams(t testing.TB, n int) []byte {
	t.Helper()
	m := &ml.LinearModel{Coef: make([]float64, n), Intercept: 1}
	for i := range m.Coef {
		m.Coef[i] = float64(i + 1)
	}
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRequestErrorStatus(t *testing.T) {
	// Every decoding error the handlers return maps to a 4xx.
	var re *requestError
	for _, err := range []error{malformed(&jsonscan.SyntaxError{Offset: 3, Msg: "x"}), malformed(&jsonscan.RangeError{Text: "1e999"}),
		rowError(2, inRows, fieldErr("a", "bad"))} {
		if !asRequestError(err, &re) || re.Status != http.StatusBadRequest {
			t.Errorf("%v: not a 400 requestError", err)
		}
	}
}

func asRequestError(err error, re **requestError) bool {
	r, ok := err.(*requestError)
	*re = r
	return ok
}

// TestChunkedPredictions: a wide model predicts a batch a few rows at a
// time (so that memory does not grow with its width); the predictions are
// those of the rows one by one, in order, across chunk boundaries.
func TestChunkedPredictions(t *testing.T) {
	schema := features.Schema{Fields: []features.Field{{Name: "s", Type: features.Categorical}, {Name: "n", Type: features.Numeric}}}
	p, err := features.New(schema, []features.TransformSpec{{Type: "hashing", Inputs: []string{"s"}, Buckets: 20000, Output: "h"}})
	if err != nil {
		t.Fatal(err)
	}
	pj, _ := json.Marshal(p)
	lm, err := newLoadedModel(defaultAdapters(), "wide", models.VersionInfo{Version: 1},
		&models.Artifact{Algorithm: "linear", Pipeline: pj, Params: linearParams(t, p.Width())})
	if err != nil {
		t.Fatal(err)
	}
	if lm.chunkRows() != 3 {
		t.Fatalf("chunk of %d rows, want 3", lm.chunkRows())
	}
	var rows []string
	for i := range 10 {
		rows = append(rows, fmt.Sprintf(`{"s": "v%d", "n": %d}`, i, i))
	}
	w := lm.getWorker()
	if err := lm.decodeNative(context.Background(), w, []byte(`{"rows": [`+strings.Join(rows, ",")+`]}`), 100); err != nil {
		t.Fatal(err)
	}
	batch := append([]float64(nil), w.pred...)
	if len(batch) != 10 || cap(w.x) > 3*lm.width {
		t.Fatalf("%d predictions, features held for %d rows", len(batch), cap(w.x)/lm.width)
	}
	for i, r := range rows {
		if err := lm.decodeNative(context.Background(), w, []byte(`{"row": `+r+`}`), 100); err != nil {
			t.Fatal(err)
		}
		if w.pred[0] != batch[i] {
			t.Errorf("row %d: %v in the batch, %v alone", i, batch[i], w.pred[0])
		}
	}
}

// TestNumbersAgreeWithValues is TestReadNumbersAgreesWithReadRow for a
// model whose fields are all in readNumbers' first run
// (features.NumberRun), on rows whose run ends at every kind of member.
func TestNumbersAgreeWithValues(t *testing.T) {
	schema := features.Schema{Fields: []features.Field{
		{Name: "a", Type: features.Numeric},
		{Name: "b", Type: features.Numeric, Optional: true},
		{Name: "c", Type: features.Numeric, Optional: true},
		{Name: "d", Type: features.Numeric},
	}}
	lm := linearModel(t, "test", schema, nil)
	if !lm.numeric || lm.run.Len() != 4 {
		t.Fatalf("numeric %v, run of %d fields: want a model read as numbers, all four fields in the run", lm.numeric, lm.run.Len())
	}
	for _, row := range []string{
		`{"a": 1.5, "b": -0.25, "c": 3, "d": 12345.678}`,
		`{"a":1.5,"b":-0.25,"c":3,"d":0.1}`,
		"{ \"a\" :\t1.5 ,\n\"b\" : 2.5 , \"c\": 0.0 , \"d\": -7.125 }",
		`{"a": 1.5, "b": 2e3, "c": 3, "d": 4}`,                    // an exponent ends the run
		`{"a": 1.5, "b": null, "c": 3, "d": 4}`,                   // null: missing
		`{"a": 1.5, "c": 3, "b": 2, "d": 4}`,                      // out of order
		`{"a": 1.5, "b": 2, "c": 3, "d": 4, "a": 5}`,              // given twice after the run
		`{"a": 1.5, "b": 2, "a": 5, "c": 3, "d": 4}`,              // given twice inside it
		`{"a": 1.5, "\u0062": 2, "c": 3, "d": 4}`,                 // a key with escapes
		`{"a": 1.5, "b": 2, "c": 3}`,                              // d missing
		`{"a": 1.5, "b": 2, "c": 3, "d": 4, "e": 5}`,              // not in the schema
		`{"a": 1.5, "b": "2", "c": 3, "d": 4}`,                    // a string
		`{"a": 1.5, "b": 2, "c": 3, "d": 4,}`,                     // a trailing comma
		`{"a": 1.5 "b": 2, "c": 3, "d": 4}`,                       // no comma
		`{"a": 12345678901234567890.5, "b": 2, "c": 3, "d": 4}`,   // a long number
		`{"a": 0.30000000000000004, "b": 2, "c": 3, "d": 1e-400}`, // beyond the plain form
		`{"a": 01.5, "b": 2, "c": 3, "d": 4}`,                     // a leading zero
		`{"a": -, "b": 2, "c": 3, "d": 4}`,                        // malformed
		`{"a": 1.5, "b": 2, "c": 3, "d": 4`,                       // cut short
		`{"d": 4, "c": 3, "b": 2, "a": 1.5}`,                      // reversed
		`{}`,
	} {
		decodeBoth(t, lm, []byte(`{"row": `+row+`}`))
	}
}
