package serving

import (
	"reflect"
	"testing"

	"github.com/flintml/flint/ml"
)

// testClusters is an ml.Model whose predictions are clusters (0 for a
// negative feature, else 1), registered with ml.RegisterModel as k-means
// may be.
type testClusters struct{}

func init() { ml.RegisterModel("test-clusters", func() ml.Model { return testClusters{} }) }

func (testClusters) Algorithm() string { return "test-clusters" }
func (testClusters) NumFeatures() int  { return 1 }
func (testClusters) NumClusters() int  { return 2 }

func (testClusters) PredictBatch(dst, x []float64, rows int) {
	for i := range rows {
		dst[i] = 0
		if x[i] >= 0 {
			dst[i] = 1
		}
	}
}

func (testClusters) MarshalBinary() ([]byte, error) {
	return ml.AppendModel(nil, "test-clusters", 1, nil), nil
}
func (testClusters) UnmarshalBinary(b []byte) error { _, _, err := ml.ParseModel(b); return err }

func TestClusteringModel(t *testing.T) {
	a := priceModel(0).artifact(t) // its pipeline scales x (no centring: the sign stays)
	a.Algorithm, a.Params = "test-clusters", ml.AppendModel(nil, "test-clusters", 1, nil)
	reg := newRegistry(t)
	publish(t, reg, "segments", a)
	ts := startServer(t, Config{Registry: reg})
	ts.waitReady(t)

	var got predictResponse
	ts.json(t, "POST", "/v1/models/segments/predict", `{"rows": [{"x": -5}, {"x": 20}]}`, &got)
	if len(got.Predictions) != 2 || got.Predictions[0].Cluster == nil || *got.Predictions[0].Cluster != 0 || *got.Predictions[1].Cluster != 1 ||
		got.Predictions[0].Value != nil || got.Classes != nil {
		t.Fatalf("native: %s", mustJSON(got))
	}
	var v2 v2Response
	ts.json(t, "POST", "/v2/models/segments/infer", `{"inputs": [{"name": "x", "shape": [2], "datatype": "FP64", "data": [-5, 20]}]}`, &v2)
	if len(v2.Outputs) != 1 || v2.Outputs[0].Datatype != "INT64" || !reflect.DeepEqual(v2.Outputs[0].Data, []float64{0, 1}) {
		t.Fatalf("V2: %+v", v2)
	}
	var md v2ModelMetadata
	ts.json(t, "GET", "/v2/models/segments", "", &md)
	if md.Platform != "flint_test-clusters" || !reflect.DeepEqual(md.Outputs, []v2Tensor{{"predict", "INT64", []int{-1}}}) {
		t.Fatalf("metadata %+v", md)
	}
	var d modelDetail
	ts.json(t, "GET", "/v1/models/segments", "", &d)
	if d.Output != "clustering" {
		t.Fatalf("output %q", d.Output)
	}
}
