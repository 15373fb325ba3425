package serving

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/flintml/flint/models"
	"github.com/flintml/flint/trainer"
)

// trainALS runs an ALS job (with biases) on JSON records written to a
// file, publishing the model to reg as name: the end-to-end path of a
// model into serving.
func trainALS(t *testing.T, reg *models.Registry, name, idType string, recs []map[string]any) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".json")
	var b strings.Builder
	for _, r := range recs {
		line, _ := json.Marshal(r)
		b.Write(append(line, '\n'))
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`
name: %s
source: {files: [%q]}
schema:
  fields: [{name: user, type: %s}, {name: item, type: %s}, {name: rating, type: numeric}]
algorithm:
  als: {user: user, item: item, rating: rating, rank: 3, max_iter: 6, biases: true}
`, name, path, idType, idType)
	spec, err := trainer.ParseSpec("job.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := trainer.Run(context.Background(), spec, trainer.Options{Registry: reg}); err != nil {
		t.Fatal(err)
	}
}

// TestALSStringIDsEndToEnd trains the same ratings once with integer ids
// and once with string ids (names that sort as the integers do), serves
// both on loopback, and checks that the named model answers by name with
// the integer model's scores on every route: native predict, V2 with BYTES
// tensors, recommend and similar; and that unknown names go through the
// cold-start strategy and the popular fallback.
func TestALSStringIDsEndToEnd(t *testing.T) {
	var ints, names []map[string]any
	for u := range 30 {
		for it := range 20 {
			if (u*7+it*3)%4 == 0 {
				continue
			}
			r := float64((u%5+it%3)%5 + 1)
			ints = append(ints, map[string]any{"user": u, "item": it, "rating": r})
			names = append(names, map[string]any{"user": fmt.Sprintf("u-%02d", u), "item": fmt.Sprintf("sku-%02d", it), "rating": r})
		}
	}
	reg := newRegistry(t)
	trainALS(t, reg, "ints", "numeric", ints)
	trainALS(t, reg, "names", "categorical", names)
	ts := startServer(t, Config{Registry: reg})
	ts.waitReady(t)

	values := func(model, body string) []float64 {
		var got predictResponse
		ts.json(t, "POST", "/v1/models/"+model+"/predict", body, &got)
		var out []float64
		for _, p := range got.Predictions {
			out = append(out, *p.Value)
		}
		return out
	}
	want := values("ints", `{"rows": [{"user": 3, "item": 4}, {"user": 17, "item": 0}, {"user": 29, "item": 19}]}`)
	got := values("names", `{"rows": [{"user": "u-03", "item": "sku-04"}, {"user": "u-17", "item": "sku-00"}, {"user": "u-29", "item": "sku-19"}]}`)
	if len(want) != 3 || !reflect.DeepEqual(got, want) {
		t.Errorf("native predict by name %v, by integer %v", got, want)
	}

	var v2i, v2n v2Response
	ts.json(t, "POST", "/v2/models/ints/infer", `{"inputs": [{"name": "user", "shape": [2], "datatype": "INT64", "data": [3, 17]},
		{"name": "item", "shape": [2], "datatype": "INT64", "data": [4, 0]}]}`, &v2i)
	ts.json(t, "POST", "/v2/models/names/infer", `{"inputs": [{"name": "user", "shape": [2], "datatype": "BYTES", "data": ["u-03", "u-17"]},
		{"name": "item", "shape": [2], "datatype": "BYTES", "data": ["sku-04", "sku-00"]}]}`, &v2n)
	if len(v2n.Outputs) == 0 || !reflect.DeepEqual(v2n.Outputs[0].Data, v2i.Outputs[0].Data) || !reflect.DeepEqual(v2i.Outputs[0].Data, want[:2]) {
		t.Errorf("V2 by name %s, by integer %s", mustJSON(v2n), mustJSON(v2i))
	}

	var md struct {
		Inputs []struct{ Name, Datatype string }
	}
	ts.json(t, "GET", "/v2/models/names", "", &md)
	if len(md.Inputs) != 2 || md.Inputs[0].Datatype != "BYTES" || md.Inputs[1].Datatype != "BYTES" {
		t.Errorf("V2 metadata of the named model: inputs %+v, want user and item BYTES", md.Inputs)
	}

	type recs struct {
		Fallback string
		Items    []struct {
			ID    string
			Score float64
		}
	}
	for _, c := range []struct{ intPath, namePath string }{
		{"/v1/models/ints/recommend?user=3&k=5", "/v1/models/names/recommend?user=u-03&k=5"},
		{"/v1/models/ints/recommend?user=8&k=4&exclude_seen=true", "/v1/models/names/recommend?user=u-08&k=4&exclude_seen=true"},
		{"/v1/models/ints/similar?item=2&k=3", "/v1/models/names/similar?item=sku-02&k=3"},
		{"/v1/models/ints/recommend?user=99&k=3&fallback=popular", "/v1/models/names/recommend?user=nobody&k=3&fallback=popular"},
	} {
		var ri, rn recs
		ts.json(t, "GET", c.intPath, "", &ri)
		ts.json(t, "GET", c.namePath, "", &rn)
		if len(ri.Items) == 0 || len(ri.Items) != len(rn.Items) || ri.Fallback != rn.Fallback {
			t.Fatalf("GET %s: %+v; GET %s: %+v", c.intPath, ri, c.namePath, rn)
		}
		for i := range ri.Items {
			if id := "sku-" + fmt.Sprintf("%02s", ri.Items[i].ID); rn.Items[i].ID != id || math.Float64bits(rn.Items[i].Score) != math.Float64bits(ri.Items[i].Score) {
				t.Errorf("GET %s item %d: %+v, want %s with %v's score %v", c.namePath, i, rn.Items[i], id, c.intPath, ri.Items[i].Score)
			}
		}
	}

	for _, c := range []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"GET", "/v1/models/names/recommend?user=nobody", "", 404, `user \"nobody\" was not seen in training`},
		{"GET", "/v1/models/names/similar?item=sku-99", "", 404, `item \"sku-99\" was not seen in training`},
		{"POST", "/v1/models/names/predict", `{"rows": [{"user": "u-01", "item": "sku-01"}, {"user": "u-01", "item": "sku-99"}]}`, 422,
			`rows[1]: item \"sku-99\" was not seen in training`},
		{"POST", "/v2/models/names/infer", `{"inputs": [{"name": "user", "shape": [1], "datatype": "BYTES", "data": ["zed"]}, {"name": "item", "shape": [1], "datatype": "BYTES", "data": ["sku-01"]}]}`,
			422, `user \"zed\" was not seen`},
	} {
		if code, b := ts.do(t, c.method, c.path, c.body); code != c.code || !strings.Contains(string(b), c.want) {
			t.Errorf("%s %s: %d %s; want %d saying %s", c.method, c.path, code, b, c.code, c.want)
		}
	}
}
