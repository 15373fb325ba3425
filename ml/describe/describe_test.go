package describe

import (
	"encoding"
	"math"
	"strings"
	"testing"

	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/ml/als"
	"github.com/flintml/flint/ml/bayes"
	"github.com/flintml/flint/ml/kmeans"
	"github.com/flintml/flint/ml/mlp"
)

// encoded is one model of each algorithm, as an artefact's Algorithm and
// Params hold it.
func encoded(t testing.TB) []struct {
	algorithm string
	params    []byte
} {
	models := []struct {
		algorithm string
		m         encoding.BinaryMarshaler
	}{
		{"logreg", &ml.LogisticModel{Classes: 2, Coef: []float64{1.5, -2}, Intercept: []float64{0.25}, Threshold: 0.5}},
		{"logreg", &ml.LogisticModel{Classes: 3, Multinomial: true, Coef: []float64{1, 2, 3, 4, 5, 6}, Intercept: []float64{0.1, 0.2, 0.3}}},
		{"linreg", &ml.LinearModel{Coef: []float64{3, -1}, Intercept: 7}},
		{"linear_svc", &ml.SVMModel{Coef: []float64{0.5, 0.25}, Intercept: -1}},
		{"kmeans", &kmeans.Model{K: 2, Dim: 2, Centres: []float64{3, 4, 0, 1}, Sizes: []int64{10, 20}, Inertia: 5, Iterations: 3, Converged: true}},
		{"als", &als.Model{Rank: 2, ColdStart: als.ColdStartNaN, UserIDs: []int64{1, 2}, ItemIDs: []int64{7}, UserFactors: []float64{3, 4, 0, 0}, ItemFactors: []float64{1, 0}}},
		{"naive_bayes", &bayes.Model{Type: bayes.Gaussian, Classes: 2, Features: 2, Epsilon: 1e-9, ClassCount: []float64{1, 3},
			ClassLogPrior: []float64{math.Log(0.25), math.Log(0.75)}, Theta: []float64{1, 2, 3, 4}, Var: []float64{1, 1, 2, 2}}},
		{"mlp", mlp.AsModel(&mlp.Model{Sizes: []int{2, 3, 2}, Activation: mlp.ReLU, Output: mlp.Softmax, Params: make([]float64, (2+1)*3+(3+1)*2)})},
	}
	out := make([]struct {
		algorithm string
		params    []byte
	}, len(models))
	for i, m := range models {
		b, err := m.m.MarshalBinary()
		if err != nil {
			t.Fatalf("%T: %v", m.m, err)
		}
		out[i].algorithm, out[i].params = m.algorithm, b
	}
	return out
}

func TestParams(t *testing.T) {
	names := []string{"area", "rooms"}
	want := []map[string][]float64{ // a few parameters of each model, by name
		{"coef area": {1.5}, "coef rooms": {-2}, "intercept": {0.25}, "threshold": {0.5}, "classes": {2}},
		{"coef area": {1, 3, 5}, "coef rooms": {2, 4, 6}, "intercept": {0.1, 0.2, 0.3}},
		{"coef area": {3}, "coef rooms": {-1}, "intercept": {7}},
		{"coef area": {0.5}, "coef rooms": {0.25}, "intercept": {-1}},
		{"k": {2}, "centre 0 norm": {5}, "centre 1 norm": {1}, "centre 1 rows": {20}, "converged": {1}},
		{"rank": {2}, "users": {2}, "items": {1}, "user factor norm (mean)": {2.5}, "item factor norm (mean)": {1}},
		{"class prior": {0.25, 0.75}, "mean area": {1, 3}, "var rooms": {1, 2}},
		{"layer sizes": {2, 3, 2}, "layer 1 weight norm": {0}, "input weight norm rooms": {0}},
	}
	for i, e := range encoded(t) {
		ps, err := Params(e.algorithm, e.params, names)
		if err != nil {
			t.Fatalf("%d (%s): %v", i, e.algorithm, err)
		}
		got := map[string][]float64{}
		for _, p := range ps {
			got[p.Name] = p.Values
		}
		for name, w := range want[i] {
			g, ok := got[name]
			if !ok || len(g) != len(w) {
				t.Errorf("%d (%s): %s = %v, want %v (have %v)", i, e.algorithm, name, g, w, ps)
				continue
			}
			for k := range w {
				if math.Abs(g[k]-w[k]) > 1e-12 {
					t.Errorf("%d (%s): %s = %v, want %v", i, e.algorithm, name, g, w)
					break
				}
			}
		}
	}
}

// Without a name per feature, features are named by position.
func TestParamsUnnamedFeatures(t *testing.T) {
	b, err := (&ml.LinearModel{Coef: []float64{3, -1}, Intercept: 7}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	ps, err := Params("linreg", b, []string{"only one"})
	if err != nil {
		t.Fatal(err)
	}
	if ps[0].Name != "coef x[0]" || ps[1].Name != "coef x[1]" {
		t.Errorf("names %q, %q, want coef x[0], coef x[1]", ps[0].Name, ps[1].Name)
	}
}

func TestParamsErrors(t *testing.T) {
	for _, tc := range []struct {
		algorithm string
		params    []byte
		want      string
	}{
		{"kmeans", []byte("nonsense"), "describe kmeans model: kmeans: not a Flint model encoding"},
		{"als", nil, "describe als model"},
		{"logreg", []byte("FLML"), "describe logreg model"},
	} {
		if _, err := Params(tc.algorithm, tc.params, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Params(%s, %q) = %v, want an error containing %q", tc.algorithm, tc.params, err, tc.want)
		}
	}
}

// FuzzParams feeds Params mutated encodings of every algorithm: it must
// return an error or parameters, never panic.
func FuzzParams(f *testing.F) {
	for _, e := range encoded(f) {
		f.Add(e.algorithm, e.params)
	}
	f.Fuzz(func(t *testing.T, algorithm string, params []byte) {
		ps, err := Params(algorithm, params, []string{"a", "b"})
		if err == nil && len(ps) == 0 {
			t.Fatal("no error and no parameters")
		}
	})
}
