package serving

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

type v2Response struct {
	ModelName    string `json:"model_name"`
	ModelVersion string `json:"model_version"`
	ID           *string
	Outputs      []struct {
		Name     string
		Datatype string
		Shape    []int
		Data     []float64
	}
}

func TestV2(t *testing.T) {
	reg := newRegistry(t)
	churn := churnModel()
	publish(t, reg, "churn", churn.artifact(t))
	if err := reg.SetAlias(context.Background(), "churn", "production", 1); err != nil {
		t.Fatal(err)
	}
	publish(t, reg, "price", priceModel(0).artifact(t))
	ts := startServer(t, Config{Registry: reg, MaxRows: 3})
	ts.waitReady(t)

	t.Run("server", func(t *testing.T) {
		var md map[string]any
		ts.json(t, "GET", "/v2", "", &md)
		if md["name"] != "flint" || md["version"] != "dev" || !reflect.DeepEqual(md["extensions"], []any{}) {
			t.Fatalf("server metadata %v", md)
		}
		var live, ready map[string]bool
		ts.json(t, "GET", "/v2/health/live", "", &live)
		ts.json(t, "GET", "/v2/health/ready", "", &ready)
		if !live["live"] || !ready["ready"] {
			t.Fatalf("live %v ready %v", live, ready)
		}
	})

	t.Run("model metadata", func(t *testing.T) {
		want := v2ModelMetadata{Name: "churn", Versions: []string{"1"}, Platform: "flint_logistic",
			Inputs:  []v2Tensor{{"age", "FP64", []int{-1}}, {"income", "FP64", []int{-1}}, {"plan", "BYTES", []int{-1}}, {"usage", "FP64", []int{-1, 2}}},
			Outputs: []v2Tensor{{"predict", "INT64", []int{-1}}, {"probabilities", "FP64", []int{-1, 2}}}}
		for _, path := range []string{"/v2/models/churn", "/v2/models/churn/versions/1", "/v2/models/churn/versions/production", "/v2/models/churn/versions/latest"} {
			var got v2ModelMetadata
			ts.json(t, "GET", path, "", &got)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("GET %s:\n got %+v\nwant %+v", path, got, want)
			}
		}
		var got v2ModelMetadata
		ts.json(t, "GET", "/v2/models/price", "", &got)
		if !reflect.DeepEqual(got.Outputs, []v2Tensor{{"predict", "FP64", []int{-1}}}) {
			t.Errorf("regressor outputs %+v", got.Outputs)
		}
		var ready modelReady
		ts.json(t, "GET", "/v2/models/churn/versions/1/ready", "", &ready)
		if !ready.Ready || ready.Name != "churn" {
			t.Errorf("model ready %+v", ready)
		}
		for path, code := range map[string]int{"/v2/models/nope": 404, "/v2/models/churn/versions/5": 404, "/v2/models/nope/ready": 404, "/v2/models/b%21d": 400} {
			if c, b := ts.do(t, "GET", path, ""); c != code {
				t.Errorf("GET %s: %d %s, want %d", path, c, b, code)
			}
		}
	})

	recs := []map[string]any{
		{"age": 30.0, "income": 50000.0, "plan": "pro", "usage": []any{0.1, 0.2}},
		{"age": 70.0, "plan": "basic", "usage": []any{0.9, 2.5}},
	}
	// Nested and flat data, a null for the optional field, FP32 and INT64.
	infer := `{
		"id": "42",
		"parameters": {"trace": true},
		"inputs": [
			{"name": "age", "shape": [2], "datatype": "INT64", "data": [30, 70]},
			{"name": "income", "shape": [2, 1], "datatype": "FP32", "data": [[50000], [null]]},
			{"name": "plan", "shape": [2], "datatype": "BYTES", "data": ["pro", "basic"], "parameters": {"content_type": "str"}},
			{"name": "usage", "shape": [2, 2], "datatype": "FP64", "data": [[0.1, 0.2], [0.9, 2.5]]}
		]%s
	}`
	t.Run("infer", func(t *testing.T) {
		var got v2Response
		ts.json(t, "POST", "/v2/models/churn/infer", strings.Replace(infer, "%s", "", 1), &got)
		if got.ModelName != "churn" || got.ModelVersion != "1" || got.ID == nil || *got.ID != "42" || len(got.Outputs) != 2 {
			t.Fatalf("response %+v", got)
		}
		pred, proba := got.Outputs[0], got.Outputs[1]
		if pred.Name != "predict" || pred.Datatype != "INT64" || !reflect.DeepEqual(pred.Shape, []int{2}) ||
			proba.Name != "probabilities" || proba.Datatype != "FP64" || !reflect.DeepEqual(proba.Shape, []int{2, 2}) {
			t.Fatalf("outputs %+v", got.Outputs)
		}
		for i, r := range recs {
			p, pr := churn.predictLocal(t, r)
			if pred.Data[i] != p || math.Abs(proba.Data[2*i+1]-pr[1]) > 1e-12 {
				t.Errorf("row %d: predict %v probabilities %v, want %v %v", i, pred.Data[i], proba.Data[2*i:2*i+2], p, pr)
			}
		}
	})
	t.Run("outputs selection", func(t *testing.T) {
		var got v2Response
		ts.json(t, "POST", "/v2/models/churn/versions/production/infer",
			strings.Replace(infer, "%s", `, "outputs": [{"name": "probabilities", "parameters": {"binary_data": false}}]`, 1), &got)
		if len(got.Outputs) != 1 || got.Outputs[0].Name != "probabilities" || len(got.Outputs[0].Data) != 4 {
			t.Fatalf("outputs %+v", got.Outputs)
		}
	})
	t.Run("regressor", func(t *testing.T) {
		var got v2Response
		ts.json(t, "POST", "/v2/models/price/infer", `{"inputs": [{"name": "x", "shape": [3], "datatype": "FP64", "data": [1, 2, 3]}]}`, &got)
		near := func(got, want []float64) bool {
			for i := range want {
				if len(got) != len(want) || math.Abs(got[i]-want[i]) > 1e-9 {
					return false
				}
			}
			return true
		}
		if got.ID != nil || len(got.Outputs) != 1 || got.Outputs[0].Datatype != "FP64" || !near(got.Outputs[0].Data, []float64{3, 6, 9}) {
			t.Fatalf("regressor %+v", got)
		}
		ts.json(t, "POST", "/v2/models/price/infer", `{"inputs": [{"name": "x", "shape": [2], "datatype": "BOOL", "data": [true, false]}]}`, &got)
		if !near(got.Outputs[0].Data, []float64{3, 0}) {
			t.Fatalf("BOOL input %+v", got)
		}
	})

	tensor := func(name, dt, shape, data string) string {
		return `{"name": "` + name + `", "datatype": "` + dt + `", "shape": ` + shape + `, "data": ` + data + `}`
	}
	age := tensor("age", "FP64", "[1]", "[30]")
	plan := tensor("plan", "BYTES", "[1]", `["pro"]`)
	usage := tensor("usage", "FP64", "[1, 2]", "[0.1, 0.2]")
	req := func(inputs ...string) string { return `{"inputs": [` + strings.Join(inputs, ", ") + `]}` }
	for _, c := range []struct {
		name, body string
		code       int
		msg        string
	}{
		{"malformed", `{"inputs": [`, 400, "malformed JSON"},
		{"no inputs", `{}`, 400, `no "inputs"`},
		{"unknown key", `{"inputs": [], "input": []}`, 400, `unknown key "input"`},
		{"id not a string", `{"id": 42, "inputs": []}`, 400, `"id": want a string`},
		{"bad parameters", `{"parameters": {"a": [1]}, "inputs": []}`, 400, "want a string, number or boolean"},
		{"missing input", req(age, plan), 400, `no input "usage"`},
		{"unknown input", req(age, plan, usage, tensor("colour", "BYTES", "[1]", `["red"]`)), 400, `input "colour": the model has no such input`},
		{"label as input", req(age, plan, usage, tensor("churned", "BYTES", "[1]", `["no"]`)), 400, `input "churned"`},
		{"input twice", req(age, plan, usage, age), 400, `input "age" given twice`},
		{"bad datatype", req(tensor("age", "FP128", "[1]", "[30]"), plan, usage), 400, `unknown datatype "FP128"`},
		{"datatype does not fit", req(tensor("age", "BYTES", "[1]", `["30"]`), plan, usage), 400, "datatype BYTES does not fit"},
		{"element type", req(tensor("age", "FP64", "[1]", `["30"]`), plan, usage), 400, `input "age" element 0: want a number`},
		{"not an integer", req(tensor("age", "INT64", "[1]", `[30.5]`), plan, usage), 400, "30.5 is not an integer"},
		{"out of range", req(tensor("age", "UINT8", "[1]", `[300]`), plan, usage), 400, "300 is out of range"},
		{"null required", req(tensor("age", "FP64", "[1]", `[null]`), plan, usage), 400, "not optional"},
		{"shape and data", req(tensor("age", "FP64", "[2]", "[30]"), plan, usage), 400, "shape [2] has 2 elements, data has 1"},
		{"bad shape", req(tensor("age", "FP64", "[1, 2]", "[30, 31]"), plan, usage), 400, "want [N] or [N, 1]"},
		{"vector shape", req(age, plan, tensor("usage", "FP64", "[2]", "[0.1, 0.2]")), 400, "want [N, 2]"},
		{"rows differ", req(tensor("age", "FP64", "[2]", "[30, 40]"), plan, usage), 400, `has 1 rows, input "age" has 2`},
		{"ragged", req(age, plan, tensor("usage", "FP64", "[1, 2]", "[[0.1], [0.2, 0.3]]")), 400, "ragged"},
		{"mixed nesting", req(age, plan, tensor("usage", "FP64", "[1, 2]", "[0.1, [0.2]]")), 400, "mixes scalars and arrays"},
		{"nested wrong shape", req(age, plan, tensor("usage", "FP64", "[1, 2]", "[[0.1], [0.2]]")), 400, "nested data of shape [2 1]"},
		{"negative shape", req(tensor("age", "FP64", "[-1]", "[30]"), plan, usage), 400, "want a size"},
		{"no data", req(`{"name": "age", "datatype": "FP64", "shape": [1]}`, plan, usage), 400, `input "age": no "data"`},
		{"unknown output", strings.Replace(infer, "%s", `, "outputs": [{"name": "logits"}]`, 1), 400, `no output "logits"`},
		{"too many rows", req(tensor("age", "FP64", "[4]", "[1, 2, 3, 4]"), tensor("plan", "BYTES", "[4]", `["a", "b", "c", "d"]`),
			tensor("usage", "FP64", "[4, 2]", "[1, 2, 3, 4, 5, 6, 7, 8]")), 413, "the server's limit per request"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, b := ts.do(t, "POST", "/v2/models/churn/infer", c.body)
			var e map[string]any
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatalf("status %d, body %q is not JSON", code, b)
			}
			// "Inference Response JSON Error Object": {"error": "..."} and nothing else.
			msg, _ := e["error"].(string)
			if code != c.code || len(e) != 1 || !strings.Contains(msg, c.msg) {
				t.Fatalf("status %d body %s, want %d with %q", code, b, c.code, c.msg)
			}
		})
	}
	if code, _ := ts.do(t, "POST", "/v2/models/nope/infer", req(age)); code != http.StatusNotFound {
		t.Errorf("unknown model: %d", code)
	}
}
