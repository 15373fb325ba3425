package serving

import (
	"context"
	"strings"
	"testing"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/ml"
)

// A linear SVM is a classifier without probabilities: it is served with
// its class names and indices, and nothing claims probabilities — not the
// native answer, not the V2 metadata, and a V2 request that asks for them
// is refused.
func TestServeClassifierWithoutProbabilities(t *testing.T) {
	reg := newRegistry(t)
	svm := fit(t, churnSchema, churnSpecs(), churnRecords(400, 3),
		func(ctx context.Context, e *cluster.Engine, ds *cluster.Dataset) (ml.Model, error) {
			return ml.LinearSVC{RegParam: 0.01, Standardization: true}.FitModel(ctx, e, ds)
		})
	publish(t, reg, "churn-svm", svm.artifact(t))
	ts := startServer(t, Config{Registry: reg})
	ts.waitReady(t)

	recs := svm.records[:30]
	code, body := ts.do(t, "POST", "/v1/models/churn-svm/predict", rowsJSON(recs, "churned"))
	if code != 200 || strings.Contains(string(body), "probabilities") {
		t.Fatalf("%d %s", code, body)
	}
	var got predictResponse
	ts.json(t, "POST", "/v1/models/churn-svm/predict", rowsJSON(recs, "churned"), &got)
	if len(got.Classes) != 2 || got.Classes[0] != "no" {
		t.Fatalf("classes %v", got.Classes)
	}
	for i, r := range recs {
		pred, _ := svm.predictLocal(t, r)
		p := got.Predictions[i]
		if p.Index == nil || *p.Index != int(pred) || p.Class != got.Classes[int(pred)] {
			t.Errorf("row %d: class %q index %v, want %v", i, p.Class, p.Index, pred)
		}
	}
	code, body = ts.do(t, "GET", "/v2/models/churn-svm", "")
	if code != 200 || strings.Contains(string(body), "probabilities") {
		t.Errorf("V2 metadata: %d %s", code, body)
	}
	in := `{"inputs": [{"name": "age", "datatype": "FP64", "shape": [1], "data": [40]},
		{"name": "income", "datatype": "FP64", "shape": [1], "data": [50000]},
		{"name": "plan", "datatype": "BYTES", "shape": [1], "data": ["pro"]},
		{"name": "usage", "datatype": "FP64", "shape": [1, 2], "data": [0.5, 1]}]`
	code, body = ts.do(t, "POST", "/v2/models/churn-svm/infer", in+"}")
	if code != 200 || strings.Contains(string(body), "probabilities") || !strings.Contains(string(body), `"predict"`) {
		t.Errorf("V2 infer: %d %s", code, body)
	}
	code, body = ts.do(t, "POST", "/v2/models/churn-svm/infer", in+`, "outputs": [{"name": "probabilities"}]}`)
	if code != 400 || !strings.Contains(string(body), "no output") {
		t.Errorf("V2 infer asking for probabilities: %d %s", code, body)
	}
}
