package trainer

import (
	"bytes"
	"context"
	"encoding/gob"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/flintml/flint/features"
	"github.com/flintml/flint/ml/als"
)

// alsRecords returns ratings of users 0..nu-1 on items 0..ni-1 with strong
// user and item biases, as records with integer ids and, for the same
// ratings, with string ids ("user-007", "sku-0042": zero-padded, so that
// the names sort as the integers do and map to the same dense ids).
func alsRecords(nu, ni, per int, seed uint64) (ints, names []map[string]any) {
	rng := rand.New(rand.NewPCG(seed, 5))
	bu, bi := make([]float64, nu), make([]float64, ni)
	for i := range bu {
		bu[i] = 0.8 * rng.NormFloat64()
	}
	for i := range bi {
		bi[i] = 0.6 * rng.NormFloat64()
	}
	for u := range nu {
		for _, it := range rng.Perm(ni)[:per] {
			r := min(5, max(1, math.Round(3.5+bu[u]+bi[it]+0.3*rng.NormFloat64())))
			ints = append(ints, map[string]any{"user": u, "item": it, "rating": r})
			names = append(names, map[string]any{"user": fmt.Sprintf("user-%03d", u), "item": fmt.Sprintf("sku-%04d", it), "rating": r})
		}
	}
	return ints, names
}

func alsSpec(name, topic, idType, extra string) string {
	return fmt.Sprintf(`
name: %s
source: {topic: %s}
schema:
  fields: [{name: user, type: %s}, {name: item, type: %s}, {name: rating, type: numeric}]
algorithm:
  als: {user: user, item: item, rating: rating, rank: 3, max_iter: 8%s}
`, name, topic, idType, idType, extra)
}

func (e *env) alsModel(t *testing.T, name string) *als.Model {
	t.Helper()
	art, _, err := e.reg.Latest(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	m := new(als.Model)
	if err := m.UnmarshalBinary(art.Params); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestALSStringIDs: a job whose user and item fields are categorical
// trains on the names' sorted positions and stores the names: with names
// that sort as the integers do, it fits bit for bit the model of the
// integer ids, with the same metrics.
func TestALSStringIDs(t *testing.T) {
	e := newEnv(t)
	ints, names := alsRecords(60, 40, 12, 1)
	// One bad record each, skipped by both the names scan and the decoder.
	ints = slices.Insert(ints, 30, map[string]any{"user": "x", "item": 1, "rating": 3})
	names = slices.Insert(names, 30, map[string]any{"user": []int{1}, "item": "sku-0001", "rating": 3})
	e.appendJSON(t, "ints", ints)
	e.appendJSON(t, "names", names)
	byInt, err := e.run(t, alsSpec("by-int", "ints", "numeric", ", biases: true")+"on_bad_record: skip\n")
	if err != nil {
		t.Fatal(err)
	}
	byName, err := e.run(t, alsSpec("by-name", "names", "categorical", ", biases: true")+"on_bad_record: skip\n")
	if err != nil {
		t.Fatal(err)
	}
	if byName.Skipped != 1 || byInt.Skipped != 1 || byName.Rows != len(names)-1 {
		t.Errorf("skipped %d (integer ids) and %d (names) of %d rows, want 1 each", byInt.Skipped, byName.Skipped, byName.Rows)
	}
	for k, v := range byInt.Metrics {
		if w, ok := byName.Metrics[k]; !ok || math.Float64bits(w) != math.Float64bits(v) {
			t.Errorf("metric %s: %v with integer ids, %v with names", k, v, w)
		}
	}
	mi, mn := e.alsModel(t, "by-int"), e.alsModel(t, "by-name")
	if !slices.Equal(mi.UserFactors, mn.UserFactors) || !slices.Equal(mi.ItemBiases, mn.ItemBiases) || !mn.Biased {
		t.Error("the model of names differs from the model of integer ids")
	}
	if mi.UserKeys != nil || len(mn.UserKeys) != len(mn.UserIDs) || mn.UserKeys[5] != fmt.Sprintf("user-%03d", mi.UserIDs[5]) ||
		mn.ItemKeys[7] != fmt.Sprintf("sku-%04d", mi.ItemIDs[7]) {
		t.Errorf("names: users %q…, items %q…", mn.UserKeys[:3], mn.ItemKeys[:3])
	}
}

// TestALSBiasesAndPopularBaseline: on ratings made of biases, biases: true
// lowers the held-out RMSE, and the job reports the ranking metrics of a
// most-popular baseline on the same split, equal to als.EvaluatePopular's.
func TestALSBiasesAndPopularBaseline(t *testing.T) {
	e := newEnv(t)
	ints, _ := alsRecords(150, 80, 15, 2)
	e.appendJSON(t, "r", ints)
	plain, err := e.run(t, alsSpec("plain", "r", "numeric", ", cold_start_strategy: drop"))
	if err != nil {
		t.Fatal(err)
	}
	biased, err := e.run(t, alsSpec("biased", "r", "numeric", ", cold_start_strategy: drop, biases: true"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("held-out RMSE %.4f without biases, %.4f with; precision@10 %.4f, %.4f, popular %.4f",
		plain.Metrics["rmse"], biased.Metrics["rmse"], plain.Metrics["precision_at_k"], biased.Metrics["precision_at_k"], biased.Metrics["precision_at_k_popular"])
	if !(biased.Metrics["rmse"] < plain.Metrics["rmse"]-0.02) {
		t.Errorf("RMSE with biases %v, without %v: want lower by more than 0.02", biased.Metrics["rmse"], plain.Metrics["rmse"])
	}
	var rs []als.Rating
	for _, r := range ints {
		rs = append(rs, als.Rating{User: int64(r["user"].(int)), Item: int64(r["item"].(int)), Value: r["rating"].(float64)})
	}
	train, test := als.Split(rs, 0.2, 1)
	want, err := als.EvaluatePopular(train, test, 10, func(r als.Rating) bool { return r.Value > 3.5 })
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]float64{"precision_at_k_popular": want.Precision, "recall_at_k_popular": want.Recall,
		"ndcg_at_k_popular": want.NDCG, "map_popular": want.MAP} {
		if got, ok := biased.Metrics[name]; !ok || math.Abs(got-v) > 1e-12 || plain.Metrics[name] != got {
			t.Errorf("%s = %v (plain %v), want %v", name, got, plain.Metrics[name], v)
		}
	}
	if want.Users == 0 || want.Precision == 0 {
		t.Errorf("the baseline was measured on %d users with precision %v: the test data is too thin", want.Users, want.Precision)
	}
}

func TestALSSpecMistakes(t *testing.T) {
	for _, c := range []struct{ spec, want string }{
		{alsSpec("a", "r", "numeric", ", biases: true, implicit_prefs: true"), "algorithm.als.biases: biases apply to explicit feedback"},
		{alsSpec("a", "r", "numeric", ", biases: true, nonnegative: true"), "algorithm.als.biases"},
		{alsSpec("a", "r", "text", ""), `field "user" must be numeric (integer ids) or categorical (string ids), not text`},
		{strings.Replace(alsSpec("a", "r", "numeric", ""), "{name: rating, type: numeric}", "{name: rating, type: categorical}", 1), `field "rating" must be numeric`},
	} {
		if _, err := ParseSpec("job.yaml", []byte(c.spec)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseSpec = %v, want an error saying %q", err, c.want)
		}
	}
}

// TestALSNamesScanEncodes: the names scan's broadcast and partial survive
// encoding/gob, as they must to reach remote workers.
func TestALSNamesScanEncodes(t *testing.T) {
	for _, v := range []any{
		&keysArg{Schema: features.Schema{Fields: []features.Field{{Name: "user", Type: features.Categorical}}}, User: "user", Item: "item", UserNames: true, SkipBad: true},
		&keysPartial{Users: map[string]bool{"a": true, "b": true}, Items: map[string]bool{"sku-1": true}},
	} {
		var buf bytes.Buffer
		if err := gob.NewEncoder(&buf).Encode(v); err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		back := reflect.New(reflect.TypeOf(v).Elem())
		if err := gob.NewDecoder(&buf).Decode(back.Interface()); err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		if !reflect.DeepEqual(back.Interface(), v) {
			t.Errorf("%T: %+v came back as %+v", v, v, back.Interface())
		}
	}
}
