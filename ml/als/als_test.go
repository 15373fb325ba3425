package als

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/ml/internal/mltest"
	"github.com/flintml/flint/ml/internal/tile"
)

func newEngine(t testing.TB, workers int) *cluster.Engine {
	t.Helper()
	e := cluster.NewEngine(cluster.Config{Workers: workers})
	t.Cleanup(func() { e.Close() })
	return e
}

// lowRank returns ratings of nu users on ni items (per items each, distinct)
// drawn from a rank-r model with Gaussian factors plus N(0, σ²) noise, and
// the true factors.
func lowRank(nu, ni, per, r int, sigma float64, seed uint64) (rs []Rating, u, v []float64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	u, v = make([]float64, nu*r), make([]float64, ni*r)
	s := math.Pow(float64(r), -0.25) // entries of u·v have unit variance
	for i := range u {
		u[i] = s * rng.NormFloat64()
	}
	for i := range v {
		v[i] = s * rng.NormFloat64()
	}
	for a := range nu {
		for _, it := range rng.Perm(ni)[:per] {
			rs = append(rs, Rating{User: int64(3 * a), Item: int64(1000 + it), // ids need not be dense
				Value: tile.Dot(u[a*r:(a+1)*r], v[it*r:(it+1)*r]) + sigma*rng.NormFloat64()})
		}
	}
	return rs, u, v
}

func TestRecoversLowRankWithinNoise(t *testing.T) {
	const sigma = 0.1
	rs, _, _ := lowRank(1500, 600, 60, 5, sigma, 1)
	train, test := Split(rs, 0.1, 2)
	e := newEngine(t, 2)
	m, err := Fit(context.Background(), e, train, Config{Rank: 5, MaxIter: 15, Lambda: 0.002, ColdStart: ColdStartDrop})
	if err != nil {
		t.Fatal(err)
	}
	rmse, n := m.RMSE(test)
	trainRMSE, _ := m.RMSE(train)
	t.Logf("test RMSE %.4f over %d ratings (train %.4f), noise σ = %v", rmse, n, trainRMSE, sigma)
	if !(rmse <= 1.2*sigma) {
		t.Errorf("test RMSE %v, want <= 1.2σ = %v", rmse, 1.2*sigma)
	}
	if n < len(test)*9/10 {
		t.Errorf("only %d of %d test ratings were predicted", n, len(test))
	}
}

// implicitData returns interaction counts: each user interacts with items
// drawn from the 10% it likes best under a rank-r model.
func implicitData(nu, ni, per, r int, seed uint64) []Rating {
	rng := rand.New(rand.NewPCG(seed, 8))
	u, v := make([]float64, nu*r), make([]float64, ni*r)
	for i := range u {
		u[i] = rng.NormFloat64()
	}
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	var rs []Rating
	score := make([]float64, ni)
	order := make([]int, ni)
	for a := range nu {
		for it := range ni {
			score[it], order[it] = tile.Dot(u[a*r:(a+1)*r], v[it*r:(it+1)*r]), it
		}
		sort.Slice(order, func(i, j int) bool { return score[order[i]] > score[order[j]] })
		top := order[:ni/10]
		for _, k := range rng.Perm(len(top))[:per] {
			rs = append(rs, Rating{User: int64(a), Item: int64(top[k]), Value: float64(1 + rng.IntN(5))})
		}
	}
	return rs
}

func TestImplicitRanksHeldOutPositives(t *testing.T) {
	const nu, ni = 800, 500
	rs := implicitData(nu, ni, 20, 4, 3)
	train, test := Split(rs, 0.2, 4)
	e := newEngine(t, 2)
	m, err := Fit(context.Background(), e, train, Config{Rank: 8, MaxIter: 10, Implicit: true, Alpha: 5, Lambda: 0.05, KeepRated: true})
	if err != nil {
		t.Fatal(err)
	}
	// AUC: how often a held-out positive outranks an item the user never
	// touched.
	touched := map[[2]int64]bool{}
	for _, r := range rs {
		touched[[2]int64{r.User, r.Item}] = true
	}
	rng := rand.New(rand.NewPCG(5, 5))
	wins, pairs := 0, 0
	for _, r := range test {
		for range 10 {
			neg := int64(rng.IntN(ni))
			if touched[[2]int64{r.User, neg}] {
				continue
			}
			p, q := m.Predict(r.User, r.Item), m.Predict(r.User, neg)
			if math.IsNaN(p) || math.IsNaN(q) {
				continue
			}
			pairs++
			if p > q {
				wins++
			}
		}
	}
	auc := float64(wins) / float64(pairs)
	rm, err := EvaluateRanking(m, train, test, 10, func(Rating) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	chance := float64(len(test)) / float64(nu) / float64(ni-len(train)/nu) // a random unseen item is a test positive
	t.Logf("AUC %.3f over %d pairs; precision@10 %.3f (chance %.3f), recall@10 %.3f, NDCG@10 %.3f, MAP@10 %.3f over %d users",
		auc, pairs, rm.Precision, chance, rm.Recall, rm.NDCG, rm.MAP, rm.Users)
	if auc < 0.85 {
		t.Errorf("AUC %v, want >= 0.85 (chance is 0.5)", auc)
	}
	if rm.Precision < 5*chance {
		t.Errorf("precision@10 %v, want at least 5× chance (%v)", rm.Precision, chance)
	}
}

func TestDeterministicAcrossWorkersAndBlocks(t *testing.T) {
	rs, _, _ := lowRank(400, 250, 30, 4, 0.3, 9)
	ctx := context.Background()
	for _, cfg := range []Config{
		{Rank: 6, MaxIter: 4, Seed: 5},
		{Rank: 6, MaxIter: 4, Seed: 5, Implicit: true, Alpha: 2},
		{Rank: 6, MaxIter: 3, Seed: 5, NonNegative: true},
		{Rank: 6, MaxIter: 4, Seed: 5, Biases: true},
	} {
		var ref *Model
		for _, c := range []struct{ workers, blocks int }{{1, 10}, {2, 10}, {8, 10}, {2, 3}, {8, 1}} {
			e := newEngine(t, c.workers)
			cfg.Blocks = c.blocks
			m, err := Fit(ctx, e, rs, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if ref == nil {
				ref = m
				continue
			}
			if !mltest.BitsEqual(m.UserFactors, ref.UserFactors) || !mltest.BitsEqual(m.ItemFactors, ref.ItemFactors) ||
				!mltest.BitsEqual(m.UserBiases, ref.UserBiases) || !mltest.BitsEqual(m.ItemBiases, ref.ItemBiases) {
				t.Errorf("implicit=%v nonneg=%v biases=%v: %d workers, %d blocks gave different factors than 1 worker",
					cfg.Implicit, cfg.NonNegative, cfg.Biases, c.workers, c.blocks)
			}
		}
	}
}

func TestNonNegativeFactors(t *testing.T) {
	rs, _, _ := lowRank(300, 200, 25, 3, 0.1, 10)
	for i := range rs {
		rs[i].Value = math.Abs(rs[i].Value)
	}
	e := newEngine(t, 2)
	m, err := Fit(context.Background(), e, rs, Config{Rank: 5, MaxIter: 5, NonNegative: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range [][]float64{m.UserFactors, m.ItemFactors} {
		for i, v := range f {
			if v < 0 {
				t.Fatalf("factor value %d is %v", i, v)
			}
		}
	}
	if r, _ := m.RMSE(rs); !(r < 0.5) {
		t.Errorf("training RMSE %v with non-negative factors", r)
	}
}

// TestNNLSSolvesKKT checks the active-set solver against the optimality
// conditions of min ½xᵀAx − bᵀx, x ≥ 0: x ≥ 0, g = Ax − b ≥ 0, x·g = 0.
func TestNNLSSolvesKKT(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	for trial := range 200 {
		k := 1 + rng.IntN(12)
		m := make([]float64, (k+3)*k)
		for i := range m {
			m[i] = rng.NormFloat64()
		}
		a := make([]float64, k*k)
		for i := range k {
			for j := range k {
				for r := range k + 3 {
					a[i*k+j] += m[r*k+i] * m[r*k+j]
				}
			}
			a[i*k+i] += 0.01
		}
		b := make([]float64, k)
		for i := range b {
			b[i] = 3 * rng.NormFloat64()
		}
		x := make([]float64, k)
		if err := newNNLSScratch(k).solve(x, slices.Clone(a), b, k); err != nil {
			t.Fatal(err)
		}
		for i := range k {
			g := -b[i]
			for j := range k {
				g += a[i*k+j] * x[j]
			}
			if x[i] < 0 || g < -1e-8 || math.Abs(x[i]*g) > 1e-8 {
				t.Fatalf("trial %d (k = %d): x[%d] = %v, gradient %v: not optimal", trial, k, i, x[i], g)
			}
		}
	}
}

func TestColdStart(t *testing.T) {
	rs, _, _ := lowRank(50, 40, 10, 3, 0.1, 12)
	e := newEngine(t, 2)
	ctx := context.Background()
	test := []Rating{
		{User: rs[0].User, Item: rs[0].Item, Value: 1},
		{User: -5, Item: rs[0].Item, Value: 1},    // unseen user
		{User: rs[0].User, Item: 99999, Value: 1}, // unseen item
	}
	for _, cs := range []string{ColdStartNaN, ColdStartDrop} {
		m, err := Fit(ctx, e, rs, Config{Rank: 3, MaxIter: 3, ColdStart: cs})
		if err != nil {
			t.Fatal(err)
		}
		if m.ColdStart != cs {
			t.Errorf("model ColdStart %q, want %q", m.ColdStart, cs)
		}
		if !math.IsNaN(m.Predict(-5, rs[0].Item)) || !math.IsNaN(m.Predict(rs[0].User, 99999)) || math.IsNaN(m.Predict(rs[0].User, rs[0].Item)) {
			t.Errorf("%s: Predict is not NaN exactly for unseen users and items", cs)
		}
		rmse, n := m.RMSE(test)
		want := math.Abs(m.Predict(rs[0].User, rs[0].Item) - 1)
		switch cs {
		case ColdStartNaN:
			if !math.IsNaN(rmse) {
				t.Errorf("nan: RMSE %v with cold pairs, want NaN", rmse)
			}
		case ColdStartDrop:
			if n != 1 || math.Abs(rmse-want) > 1e-12 {
				t.Errorf("drop: RMSE %v over %d ratings, want %v over 1", rmse, n, want)
			}
		}
		if _, err := m.Recommend(nil, -5, 3, RecommendOptions{}); !errors.Is(err, ErrUnknownUser) {
			t.Errorf("Recommend for an unseen user: %v, want ErrUnknownUser", err)
		}
		if _, err := m.SimilarItems(nil, 99999, 3); !errors.Is(err, ErrUnknownItem) {
			t.Errorf("SimilarItems of an unseen item: %v, want ErrUnknownItem", err)
		}
	}
}

// bruteTop is the reference for Recommend and SimilarItems.
func bruteTop(m *Model, q []float64, k int, skip map[int64]bool, cosine bool) []Scored {
	var all []Scored
	for p, id := range m.ItemIDs {
		if skip[id] {
			continue
		}
		v := m.ItemFactors[p*m.Rank : (p+1)*m.Rank]
		s := tile.Dot(v, q)
		if cosine {
			s /= math.Sqrt(tile.Dot(v, v)) * math.Sqrt(tile.Dot(q, q))
		}
		all = append(all, Scored{id, s})
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Score > all[j].Score })
	return all[:min(k, len(all))]
}

func TestRecommendExcludesRated(t *testing.T) {
	rs, _, _ := lowRank(120, 300, 40, 4, 0.1, 13)
	e := newEngine(t, 2)
	m, err := Fit(context.Background(), e, rs, Config{Rank: 6, MaxIter: 5, KeepRated: true})
	if err != nil {
		t.Fatal(err)
	}
	rated := map[int64]map[int64]bool{}
	for _, r := range rs {
		if rated[r.User] == nil {
			rated[r.User] = map[int64]bool{}
		}
		rated[r.User][r.Item] = true
	}
	var got []Scored
	for _, user := range m.UserIDs[:20] {
		extra := []int64{m.ItemIDs[7], m.ItemIDs[100], 424242}
		got, err = m.Recommend(got, user, 15, RecommendOptions{ExcludeRated: true, Exclude: extra})
		if err != nil {
			t.Fatal(err)
		}
		skip := map[int64]bool{m.ItemIDs[7]: true, m.ItemIDs[100]: true}
		for it := range rated[user] {
			skip[it] = true
		}
		want := bruteTop(m, m.UserFactor(user), 15, skip, false)
		if len(got) != len(want) {
			t.Fatalf("user %d: %d recommendations, want %d", user, len(got), len(want))
		}
		for i := range got {
			if skip[got[i].ID] {
				t.Fatalf("user %d: recommended item %d, which is rated or excluded", user, got[i].ID)
			}
			if got[i].ID != want[i].ID || got[i].Score != want[i].Score {
				t.Fatalf("user %d: recommendation %d is %+v, want %+v", user, i, got[i], want[i])
			}
		}
		all, _ := m.Recommend(nil, user, len(m.ItemIDs), RecommendOptions{})
		if len(all) != len(m.ItemIDs) {
			t.Errorf("user %d: %d recommendations without exclusions, want every item (%d)", user, len(all), len(m.ItemIDs))
		}
	}
	noRated := *m
	noRated.RatedPtr, noRated.RatedItems = nil, nil
	if _, err := noRated.Recommend(nil, m.UserIDs[0], 5, RecommendOptions{ExcludeRated: true}); !errors.Is(err, ErrNoRated) {
		t.Errorf("ExcludeRated without rated items kept: %v, want ErrNoRated", err)
	}
}

func TestSimilarItems(t *testing.T) {
	rs, _, _ := lowRank(100, 80, 20, 3, 0.1, 14)
	e := newEngine(t, 2)
	m, err := Fit(context.Background(), e, rs, Config{Rank: 4, MaxIter: 4})
	if err != nil {
		t.Fatal(err)
	}
	for _, item := range m.ItemIDs[:10] {
		got, err := m.SimilarItems(nil, item, 5)
		if err != nil {
			t.Fatal(err)
		}
		want := bruteTop(m, m.ItemFactor(item), 5, map[int64]bool{item: true}, true)
		for i := range want {
			if got[i].ID != want[i].ID || math.Abs(got[i].Score-want[i].Score) > 1e-12 {
				t.Fatalf("item %d: neighbour %d is %+v, want %+v", item, i, got[i], want[i])
			}
		}
	}
}

func TestRepeatedRatings(t *testing.T) {
	rs := []Rating{
		{User: 1, Item: 10, Value: 2, Time: 5},
		{User: 1, Item: 10, Value: 4, Time: 9}, // latest: wins
		{User: 1, Item: 10, Value: 1, Time: 7},
		{User: 1, Item: 11, Value: 3},
		{User: 1, Item: 11, Value: 5}, // same time, later: wins
		{User: 2, Item: 10, Value: 1},
	}
	up, ip := []int32{0, 0, 0, 0, 0, 1}, []int32{0, 0, 0, 1, 1, 0}
	ex := buildCSR(rs, up, ip, 2, 2, false)
	if !slices.Equal(ex.ptr, []int{0, 2, 3}) || !slices.Equal(ex.val, []float64{4, 5, 1}) || !slices.Equal(ex.ind, []int32{0, 1, 0}) {
		t.Errorf("explicit: %+v", ex)
	}
	im := buildCSR(rs, up, ip, 2, 2, true)
	if !slices.Equal(im.val, []float64{7, 8, 1}) {
		t.Errorf("implicit sums %v, want [7 8 1]", im.val)
	}
	tr := ex.transpose(2)
	if !slices.Equal(tr.ptr, []int{0, 2, 3}) || !slices.Equal(tr.ind, []int32{0, 1, 0}) || !slices.Equal(tr.val, []float64{4, 1, 5}) {
		t.Errorf("transpose: %+v", tr)
	}
}

func TestDenseIndex(t *testing.T) {
	for _, raw := range [][]int64{{5, 3, 5, 9, 3}, {1 << 40, -7, 1 << 40, 12}} {
		ids, pos := denseIndex(raw)
		want := slices.Compact(slices.Sorted(slices.Values(raw)))
		if !slices.Equal(ids, want) {
			t.Errorf("ids %v, want %v", ids, want)
		}
		for r, v := range raw {
			if ids[pos[r]] != v {
				t.Errorf("position of %d is %d (id %d)", v, pos[r], ids[pos[r]])
			}
		}
	}
}

func TestConfigErrors(t *testing.T) {
	e := newEngine(t, 1)
	rs := []Rating{{User: 1, Item: 2, Value: 3}, {User: 2, Item: 2, Value: 1}}
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Rank: -1}, "als: Config.Rank must be >= 1, got -1"},
		{Config{Lambda: -0.5}, "als: Config.Lambda must be finite and >= 0, got -0.5"},
		{Config{ColdStart: "skip"}, `als: Config.ColdStart "skip": want "nan" or "drop"`},
		{Config{Blocks: -2}, "als: Config.Blocks must be >= 1, got -2"},
		{Config{Rank: 1000, MaxBroadcastBytes: 10000}, "als: every worker would hold the 2 user factors of rank 1000 (8016000 bytes), over Config.MaxBroadcastBytes = 10000; lower the rank or raise the limit"},
	} {
		if _, err := Fit(context.Background(), e, rs, c.cfg); err == nil || err.Error() != c.want {
			t.Errorf("Fit(%+v): %v, want %q", c.cfg, err, c.want)
		}
	}
	_, err := Fit(context.Background(), e, rs, Config{MaxBroadcastBytes: 100})
	var be *BroadcastLimitError
	if !errors.As(err, &be) || be.Bytes != 2*10*8+10*10*8 || be.Limit != 100 {
		t.Errorf("broadcast over the limit: %v", err)
	}
	if _, err := Fit(context.Background(), e, nil, Config{}); !errors.Is(err, ErrNoRatings) {
		t.Errorf("no ratings: %v", err)
	}
	bad := []Rating{{User: 1, Item: 1, Value: math.Inf(1)}}
	if _, err := Fit(context.Background(), e, bad, Config{}); err == nil {
		t.Error("an infinite rating: no error")
	}
}

func TestSingularWithoutRegularisation(t *testing.T) {
	// One rating per user and rank 3: without λ the normal equations of a
	// user are singular. λ = 0 is only reachable as a tiny value.
	rs := []Rating{{User: 1, Item: 1, Value: 1}, {User: 2, Item: 2, Value: 1}}
	e := newEngine(t, 1)
	_, err := Fit(context.Background(), e, rs, Config{Rank: 3, Lambda: 1e-300, MaxIter: 1})
	if err == nil {
		t.Fatal("singular normal equations: no error")
	}
	// The error names the row, its ratings and the way out.
	for _, want := range []string{"item 1 (1 ratings)", "singular at rank 3", "raise Lambda"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}
