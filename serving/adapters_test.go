package serving

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/flintml/flint/ml/als"
	"github.com/flintml/flint/ml/kmeans"
)

func TestKMeansModel(t *testing.T) {
	km := &kmeans.Model{K: 2, Dim: 1, Centres: []float64{-1, 3}, Sizes: []int64{10, 10}}
	params, err := km.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	a := priceModel(0).artifact(t) // its pipeline scales x (no centring: the sign stays)
	a.Algorithm, a.Params = "kmeans", params
	reg := newRegistry(t)
	publish(t, reg, "segments", a)
	ts := startServer(t, Config{Registry: reg})
	ts.waitReady(t)

	var got predictResponse
	ts.json(t, "POST", "/v1/models/segments/predict", `{"rows": [{"x": -5}, {"x": 20}, {"x": 0.5}]}`, &got)
	var clusters []int
	for _, p := range got.Predictions {
		if p.Cluster == nil {
			t.Fatalf("no cluster in %s", mustJSON(got))
		}
		clusters = append(clusters, *p.Cluster)
	}
	if !reflect.DeepEqual(clusters, []int{0, 1, 0}) {
		t.Fatalf("clusters %v, want [0 1 0]", clusters)
	}
	var v2 v2Response
	ts.json(t, "POST", "/v2/models/segments/infer", `{"inputs": [{"name": "x", "shape": [2], "datatype": "FP64", "data": [-5, 20]}]}`, &v2)
	if len(v2.Outputs) != 1 || v2.Outputs[0].Datatype != "INT64" || !reflect.DeepEqual(v2.Outputs[0].Data, []float64{0, 1}) {
		t.Fatalf("V2: %+v", v2)
	}
}

func TestALSModel(t *testing.T) {
	// Users 1 and 2, items 10, 20, 30 of rank 2: user 1 scores them 3, 2, 0
	// and rated item 10; user 2 scores them 0, 0, 5.
	m := &als.Model{Rank: 2, UserIDs: []int64{1, 2}, ItemIDs: []int64{10, 20, 30},
		UserFactors: []float64{1, 0, 0, 1}, ItemFactors: []float64{3, 0, 2, 0, 0, 5},
		RatedPtr: []int64{0, 1, 1}, RatedItems: []int32{0}}
	params, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	reg := newRegistry(t)
	publish(t, reg, "movies", fakeArtifact(t, "als", false))
	ts := startServer(t, Config{Registry: reg})
	// fakeArtifact's Params are not an ALS model: that version fails to
	// load; a good one replaces it.
	a := fakeArtifact(t, "als", false)
	a.Params = params
	publish(t, reg, "movies", a)
	ts.waitReady(t)

	type recs struct {
		Version int
		Items   []struct {
			ID    string
			Score float64
		}
	}
	ids := func(r recs) (out []string) {
		for _, it := range r.Items {
			out = append(out, it.ID)
		}
		return out
	}
	var r recs
	waitFor(t, "version 2", func() bool {
		ts.json(t, "GET", "/v1/models/movies/recommend?user=1&k=2", "", &r)
		return r.Version == 2
	})
	if !reflect.DeepEqual(ids(r), []string{"10", "20"}) || r.Items[0].Score != 3 {
		t.Fatalf("recommend user 1: %+v", r)
	}
	ts.json(t, "GET", "/v1/models/movies/recommend?user=1&k=2&exclude_seen=true", "", &r)
	if !reflect.DeepEqual(ids(r), []string{"20", "30"}) {
		t.Fatalf("recommend user 1, unseen: %+v", r)
	}
	ts.json(t, "GET", "/v1/models/movies/similar?item=10&k=1", "", &r)
	if !reflect.DeepEqual(ids(r), []string{"20"}) {
		t.Fatalf("similar to 10: %+v", r)
	}
	for path, code := range map[string]int{
		"/v1/models/movies/recommend?user=9": http.StatusNotFound,
		"/v1/models/movies/recommend?user=x": http.StatusBadRequest,
		"/v1/models/movies/similar?item=99":  http.StatusNotFound,
		"/v1/models/movies/similar?item=1e3": http.StatusBadRequest,
	} {
		if c, b := ts.do(t, "GET", path, ""); c != code {
			t.Errorf("GET %s: %d %s, want %d", path, c, b, code)
		}
	}
}
