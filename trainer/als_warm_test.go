package trainer

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/flintml/flint/log"
	"github.com/flintml/flint/ml/als"
	"github.com/flintml/flint/models"
)

// alsWarmSpec is a job on topic r with string ids; window, when not 0,
// keeps the last window records (one partition).
func alsWarmSpec(model string, rank int, tol float64, maxIter int, window int, warm bool) string {
	src := "{topic: r}"
	if window > 0 {
		src = fmt.Sprintf("{topic: r, window: {records: %d}}", window)
	}
	return fmt.Sprintf(`
name: %s
source: %s
schema:
  fields: [{name: user, type: categorical}, {name: item, type: categorical}, {name: rating, type: numeric}]
algorithm:
  als: {user: user, item: item, rating: rating, rank: %d, reg_param: 0.02, tol: %v, max_iter: %d, biases: true, cold_start_strategy: drop}
warm_start: %v
`, model, src, rank, tol, maxIter, warm)
}

// TestALSWarmStart runs an ALS job with string ids twice on a growing
// topic. The second run's window leaves out the first records (a user and
// the one item only it rated), and it holds a new user and a new item whose
// names sort before every other, so every old name's id moves by one. The
// second run starts from the first version's factors, matched by name,
// and stops on tol in fewer iterations than a cold fit of its rows; a
// change of rank starts cold and says why; with tol 0 a warm start runs
// max_iter iterations and says it saves none.
func TestALSWarmStart(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.log.CreateTopic(ctx, "r", log.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	// The first run reads the first three quarters of the ratings (and
	// the records of a user that the second run's window leaves out), the
	// second run the rest as well: more ratings of the last users, and
	// those of a new user and item.
	_, all := alsRecords(60, 40, 16, 1)
	names, more := all[:len(all)*3/4], all[len(all)*3/4:]
	gone := []map[string]any{
		{"user": "zz-gone", "item": "sku-9999", "rating": 4},
		{"user": "zz-gone", "item": "sku-0003", "rating": 2},
	}
	first := append(slices.Clone(gone), names...)
	e.appendJSON(t, "r", first)
	const tol, maxIter = 1e-5, 300
	v1, err := e.run(t, alsWarmSpec("r", 3, tol, maxIter, 0, true))
	if err != nil {
		t.Fatal(err)
	}
	if ws := v1.WarmStart; ws == nil || ws.From != 0 || ws.Note != "no previous version to start from" || !strings.HasPrefix(v1.Stop, "converged: ") {
		t.Fatalf("first run: warm start %+v, stop %q", v1.WarmStart, v1.Stop)
	}
	m1 := e.alsModel(t, "r")

	for u := range 10 {
		more = append(more, map[string]any{"user": "aaa-new", "item": fmt.Sprintf("sku-%04d", u), "rating": 3 + u%3},
			map[string]any{"user": fmt.Sprintf("user-%03d", u), "item": "sku-+new", "rating": 2 + u%4})
	}
	e.appendJSON(t, "r", more)
	window := len(first) - len(gone) + len(more)
	v2, err := e.run(t, alsWarmSpec("r", 3, tol, maxIter, window, true))
	if err != nil {
		t.Fatal(err)
	}
	cold, err := e.run(t, alsWarmSpec("r-cold", 3, tol, maxIter, window, false))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("als: version 1 cold %d iterations; version 2 warm %d (%s); a cold fit of version 2's rows %d (%s)",
		v1.Iterations, v2.Iterations, v2.Stop, cold.Iterations, cold.Stop)
	ws := v2.WarmStart
	if ws == nil || ws.From != 1 || ws.ColdVersion != 1 || ws.ColdIterations != v1.Iterations || ws.Saved != v1.Iterations-v2.Iterations || ws.Note != "" {
		t.Fatalf("second run's warm start: %+v (first ran %d iterations)", ws, v1.Iterations)
	}
	if ws.Saved <= 0 || v2.Iterations >= cold.Iterations || !strings.HasPrefix(v2.Stop, "converged: ") {
		t.Errorf("warm start ran %d iterations (%s), a cold fit of the same rows %d", v2.Iterations, v2.Stop, cold.Iterations)
	}
	m2 := e.alsModel(t, "r")
	if _, ok := m2.UserByKey("zz-gone"); ok || m2.UserKeys[0] != "aaa-new" || m2.ItemKeys[0] != "sku-+new" {
		t.Fatalf("version 2's names %q…, %q…: the planted shift is not there", m2.UserKeys[:2], m2.ItemKeys[:2])
	}

	// The start the second run's fit received: the first version's
	// factors and biases under the second run's ids of the same names.
	var users, items []string
	for _, r := range append(names, more...) {
		users, items = append(users, r["user"].(string)), append(items, r["item"].(string))
	}
	keys := &ratingKeys{als.SortKeys(users), als.SortKeys(items)}
	w := &warmState{prev: &previous{model: m1, version: 1, art: &models.Artifact{Algorithm: "als"}}}
	p := &ALSParams{Rank: 3, Biases: true, Tol: tol}
	start := w.als(p, keys)
	if start == nil || !w.used {
		t.Fatalf("no start: %s", w.why)
	}
	for _, side := range []struct {
		name                 string
		prevKeys, keys       []string
		prevIDs, ids         []int64
		prevF, f, prevB, b   []float64
		moved, gone, planted string
	}{
		{"user", m1.UserKeys, keys.users, m1.UserIDs, start.UserIDs, m1.UserFactors, start.UserFactors, m1.UserBiases, start.UserBiases, "user-000", "zz-gone", "aaa-new"},
		{"item", m1.ItemKeys, keys.items, m1.ItemIDs, start.ItemIDs, m1.ItemFactors, start.ItemFactors, m1.ItemBiases, start.ItemBiases, "sku-0000", "sku-9999", "sku-+new"},
	} {
		oldID, _ := als.KeyID(side.prevKeys, side.moved)
		newID, _ := als.KeyID(side.keys, side.moved)
		if newID != oldID+1 {
			t.Errorf("%s %s: id %d in version 1, %d now; the test wants it moved by one", side.name, side.moved, oldID, newID)
		}
		shared := 0
		for q, name := range side.prevKeys {
			id, ok := als.KeyID(side.keys, name)
			if !ok {
				if name != side.gone {
					t.Errorf("%s %s of version 1 is not among the second run's names", side.name, name)
				}
				continue
			}
			p, ok := slices.BinarySearch(side.ids, id)
			if !ok {
				t.Errorf("%s %s (id %d): no start factor", side.name, name, id)
				continue
			}
			shared++
			if !slices.Equal(side.f[3*p:3*p+3], side.prevF[3*q:3*q+3]) || side.b[p] != side.prevB[q] {
				t.Errorf("%s %s starts from %v bias %v; version 1 has %v bias %v", side.name, name, side.f[3*p:3*p+3], side.b[p], side.prevF[3*q:3*q+3], side.prevB[q])
			}
		}
		if planted, _ := als.KeyID(side.keys, side.planted); slices.Contains(side.ids, planted) || shared != len(side.ids) || shared == 0 {
			t.Errorf("%ss: %d start factors, %d shared with version 1 (the new %s must have none)", side.name, len(side.ids), shared, side.planted)
		}
	}

	v3, err := e.run(t, alsWarmSpec("r", 4, 0, 6, window, true))
	if err != nil {
		t.Fatal(err)
	}
	if ws := v3.WarmStart; ws == nil || ws.From != 0 || ws.Note != "version 2 has rank 3; this fit has rank 4" || v3.Iterations != 6 {
		t.Fatalf("rank 4 after rank 3: %+v, %d iterations", v3.WarmStart, v3.Iterations)
	}
	v4, err := e.run(t, alsWarmSpec("r", 4, 0, 6, window, true))
	if err != nil {
		t.Fatal(err)
	}
	if ws := v4.WarmStart; ws == nil || ws.From != 3 || ws.Saved != 0 || ws.Iterations != 6 || !strings.Contains(ws.Note, "algorithm.als.tol is 0") {
		t.Fatalf("tol 0: %+v", v4.WarmStart)
	}
}

// TestALSWarmStartSkips: a previous factorisation that cannot start the
// fit is passed over with the reason.
func TestALSWarmStartSkips(t *testing.T) {
	prev := &als.Model{Rank: 2, Biased: true, UserIDs: []int64{1}, ItemIDs: []int64{2}, UserFactors: []float64{1, -1}, ItemFactors: []float64{1, 1},
		UserBiases: []float64{0}, ItemBiases: []float64{0}, UserKeys: []string{"a"}, ItemKeys: []string{"b"}}
	named := &ratingKeys{users: []string{"a"}, items: []string{"b"}}
	for _, c := range []struct {
		name  string
		model any
		p     ALSParams
		keys  *ratingKeys
		want  string
	}{
		{"algorithm", struct{}{}, ALSParams{Rank: 2, Biases: true}, named, "version 4 is a kmeans model"},
		{"rank", prev, ALSParams{Biases: true}, named, "version 4 has rank 2; this fit has rank 10"},
		{"biases", prev, ALSParams{Rank: 2}, named, "version 4 was fitted with biases true; this fit has biases false"},
		{"implicit", prev, ALSParams{Rank: 2, Biases: true, Implicit: true}, named, "version 4 was fitted with implicit_prefs false; this fit has implicit_prefs true"},
		{"nonnegative", prev, ALSParams{Rank: 2, Biases: true, Nonnegative: true}, named, "version 4 has negative factors; this fit is nonnegative"},
		{"integer ids", prev, ALSParams{Rank: 2, Biases: true}, &ratingKeys{items: []string{"b"}}, "version 4 has string user ids; this fit's are integer"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := &warmState{prev: &previous{model: c.model, version: 4, art: &models.Artifact{Algorithm: "kmeans"}}}
			if s := w.als(&c.p, c.keys); s != nil || w.used || w.why != c.want {
				t.Errorf("start %v, reason %q; want none, %q", s, w.why, c.want)
			}
		})
	}
}

// TestALSWarmStartIntegerIDs: integer ids are the same ids in every run,
// so the previous model is the start as it is (Fit matches the ids).
func TestALSWarmStartIntegerIDs(t *testing.T) {
	prev := &als.Model{Rank: 1, UserIDs: []int64{3, 9}, ItemIDs: []int64{-2}, UserFactors: []float64{0.5, 0.25}, ItemFactors: []float64{2}}
	w := &warmState{prev: &previous{model: prev, version: 1, art: &models.Artifact{Algorithm: "als"}}}
	start := w.als(&ALSParams{Rank: 1, Tol: 1e-4}, &ratingKeys{})
	if start == nil || !w.used || w.note != "" || !slices.Equal(start.UserIDs, prev.UserIDs) || !slices.Equal(start.UserFactors, prev.UserFactors) ||
		!slices.Equal(start.ItemIDs, prev.ItemIDs) || !slices.Equal(start.ItemFactors, prev.ItemFactors) {
		t.Fatalf("start %+v (used %v, why %q, note %q), want the previous model's ids and factors", start, w.used, w.why, w.note)
	}
}
