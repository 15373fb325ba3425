package serving

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/flintml/flint/ml/als"
)

// pairModel: users 1 and 2, items 10, 20, 30 of rank 2. User 1 scores them
// 3, 2, 0 and user 2 0, 0, 5 before clipping to the ratings' range [1, 4].
// User 1 rated items 10 and 30, user 2 item 30: 30 is the most popular.
func pairModel(t *testing.T, coldStart string) []byte {
	m := &als.Model{Rank: 2, ColdStart: coldStart, UserIDs: []int64{1, 2}, ItemIDs: []int64{10, 20, 30},
		UserFactors: []float64{1, 0, 0, 1}, ItemFactors: []float64{3, 0, 2, 0, 0, 5},
		RatedPtr: []int64{0, 2, 3}, RatedItems: []int32{0, 2, 2}, HasRatingRange: true, RatingMin: 1, RatingMax: 4}
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestALSScoresPairs(t *testing.T) {
	reg := newRegistry(t)
	drop, nan := fakeArtifact(t, "als", false), fakeArtifact(t, "als", false)
	drop.Params, nan.Params = pairModel(t, als.ColdStartDrop), pairModel(t, als.ColdStartNaN)
	publish(t, reg, "movies", drop)
	publish(t, reg, "strict-movies", nan)
	ts := startServer(t, Config{Registry: reg})
	ts.waitReady(t)

	// Native: the unknown user 9 and item 99 are dropped; 1.0 is the id 1.
	var got predictResponse
	var rows []int
	var values []float64
	ts.json(t, "POST", "/v1/models/movies/predict",
		`{"rows": [{"user": 1, "item": 10}, {"user": 9, "item": 10}, {"user": 2, "item": 30}, {"user": 1.0, "item": 99}, {"user": 1, "item": 30}]}`, &got)
	for _, p := range got.Predictions {
		if p.Value == nil || p.Row == nil {
			t.Fatalf("prediction without value or row: %s", mustJSON(got))
		}
		values, rows = append(values, *p.Value), append(rows, *p.Row)
	}
	if !reflect.DeepEqual(values, []float64{3, 4, 1}) || !reflect.DeepEqual(rows, []int{0, 2, 4}) {
		t.Errorf("native: values %v rows %v, want [3 4 1] (clipped to [1, 4]) at rows [0 2 4]", values, rows)
	}

	var v2 v2Response
	ts.json(t, "POST", "/v2/models/movies/infer", `{"inputs": [{"name": "user", "shape": [3], "datatype": "INT64", "data": [1, 9, 2]},
		{"name": "item", "shape": [3], "datatype": "INT64", "data": [20, 10, 30]}]}`, &v2)
	if len(v2.Outputs) != 2 || v2.Outputs[0].Name != "predict" || !reflect.DeepEqual(v2.Outputs[0].Data, []float64{2, 4}) ||
		v2.Outputs[1].Name != "row" || !reflect.DeepEqual(v2.Outputs[1].Data, []float64{0, 2}) {
		t.Errorf("V2: %s", mustJSON(v2))
	}

	for _, c := range []struct {
		path, body string
		code       int
		want       string
	}{
		{"/v1/models/strict-movies/predict", `{"rows": [{"user": 1, "item": 10}, {"user": 1, "item": 99}]}`, 422, `rows[1]: item 99 was not seen in training`},
		{"/v2/models/strict-movies/infer", `{"inputs": [{"name": "user", "shape": [1], "datatype": "INT64", "data": [7]}, {"name": "item", "shape": [1], "datatype": "INT64", "data": [10]}]}`,
			422, "row 0: user 7 was not seen"},
		{"/v1/models/movies/predict", `{"row": {"user": 1.5, "item": 10}}`, 400, "1.5 is not an integer id"},
		{"/v1/models/movies/predict", `{"row": {"user": 1}}`, 400, `field \"item\": missing`},
	} {
		if code, b := ts.do(t, "POST", c.path, c.body); code != c.code || !strings.Contains(string(b), c.want) {
			t.Errorf("POST %s %s: %d %s; want %d saying %q", c.path, c.body, code, b, c.code, c.want)
		}
	}
}

func TestALSRecommendRoutesAndFallback(t *testing.T) {
	reg := newRegistry(t)
	a := fakeArtifact(t, "als", false)
	a.Params = pairModel(t, als.ColdStartNaN)
	publish(t, reg, "movies", a)
	if err := reg.SetAlias(context.Background(), "movies", "production", 1); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, Config{Registry: reg})
	ts.waitReady(t)
	type recs struct {
		Version  int
		Fallback string
		Items    []struct {
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
	for _, path := range []string{"/v1/models/movies/recommend", "/v1/models/movies/versions/1/recommend", "/v1/models/movies/aliases/production/recommend"} {
		var r recs
		ts.json(t, "GET", path+"?user=1&k=2", "", &r)
		if r.Version != 1 || !reflect.DeepEqual(ids(r), []string{"10", "20"}) || r.Fallback != "" {
			t.Errorf("GET %s: %+v", path, r)
		}
	}
	var r recs
	ts.json(t, "GET", "/v1/models/movies/recommend?user=9&k=2&fallback=popular", "", &r)
	if r.Fallback != "popular" || !reflect.DeepEqual(ids(r), []string{"30", "10"}) || r.Items[0].Score != 2 {
		t.Errorf("fallback for user 9: %+v", r)
	}
	for path, code := range map[string]int{
		"/v1/models/movies/recommend?user=9":                  404,
		"/v1/models/movies/recommend?user=9&fallback=random":  400,
		"/v1/models/movies/versions/01/recommend?user=1":      400,
		"/v1/models/movies/aliases/staging/recommend?user=1":  404,
		"/v1/models/movies/recommend?user=1&fallback=popular": 200,
	} {
		if c, b := ts.do(t, "GET", path, ""); c != code {
			t.Errorf("GET %s: %d %s, want %d", path, c, b, code)
		}
	}
}
