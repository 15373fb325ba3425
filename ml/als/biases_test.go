package als

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/ml/internal/mltest"
	"github.com/flintml/flint/ml/internal/tile"
)

// biasedRatings returns ratings on a 1–5 scale made mostly of strong user
// and item biases (σ 0.8 and 0.6 around 3.5) with a weak rank-2 term and
// noise σ 0.3, rounded and clipped as real ratings are.
func biasedRatings(nu, ni, per int, seed uint64) []Rating {
	rng := rand.New(rand.NewPCG(seed, 13))
	bu, bi := make([]float64, nu), make([]float64, ni)
	for i := range bu {
		bu[i] = 0.8 * rng.NormFloat64()
	}
	for i := range bi {
		bi[i] = 0.6 * rng.NormFloat64()
	}
	u, v := make([]float64, nu*2), make([]float64, ni*2)
	for i := range u {
		u[i] = 0.5 * rng.NormFloat64()
	}
	for i := range v {
		v[i] = 0.5 * rng.NormFloat64()
	}
	var rs []Rating
	for a := range nu {
		for _, it := range rng.Perm(ni)[:per] {
			x := 3.5 + bu[a] + bi[it] + tile.Dot(u[2*a:2*a+2], v[2*it:2*it+2]) + 0.3*rng.NormFloat64()
			rs = append(rs, Rating{User: int64(a), Item: int64(it), Value: min(5, max(1, math.Round(x)))})
		}
	}
	return rs
}

// TestBiasesLowerRMSE: on ratings dominated by user and item biases, the
// biased model predicts held-out ratings better than the plain one, at
// every rank tried.
func TestBiasesLowerRMSE(t *testing.T) {
	rs := biasedRatings(800, 400, 20, 1)
	train, test := Split(rs, 0.2, 3)
	e := newEngine(t, 2)
	for _, rank := range []int{2, 8} {
		var rmse [2]float64
		for i, biases := range []bool{false, true} {
			m, err := Fit(context.Background(), e, train, Config{Rank: rank, MaxIter: 10, Lambda: 0.1, Seed: 1, Biases: biases, ColdStart: ColdStartDrop})
			if err != nil {
				t.Fatal(err)
			}
			if m.Biased != biases {
				t.Fatalf("Biases %v gave a model with Biased %v", biases, m.Biased)
			}
			rmse[i], _ = m.RMSE(test)
		}
		t.Logf("rank %d: held-out RMSE %.4f without biases, %.4f with", rank, rmse[0], rmse[1])
		if !(rmse[1] < rmse[0]-0.02) {
			t.Errorf("rank %d: RMSE with biases %.4f, without %.4f: want biases lower by more than 0.02", rank, rmse[1], rmse[0])
		}
	}
}

// TestBiasedPredictAndRecommend: a biased prediction is μ + b_u + b_i +
// x·y, and recommendations rank by it (the biases can outweigh the dot
// product).
func TestBiasedPredictAndRecommend(t *testing.T) {
	m := &Model{Rank: 1, ColdStart: ColdStartNaN, UserIDs: []int64{1, 2}, ItemIDs: []int64{10, 20, 30},
		UserFactors: []float64{1, -1}, ItemFactors: []float64{1, 0, 0.5},
		Biased: true, GlobalMean: 3, UserBiases: []float64{0.5, -0.5}, ItemBiases: []float64{-2, 1, 0}}
	m = mltest.RoundTrip(t, m)
	for _, c := range []struct {
		user, item int64
		want       float64
	}{{1, 10, 3 + 0.5 - 2 + 1}, {1, 20, 4.5}, {2, 30, 3 - 0.5 + 0 - 0.5}, {3, 10, math.NaN()}} {
		if got := m.Predict(c.user, c.item); got != c.want && !(math.IsNaN(got) && math.IsNaN(c.want)) {
			t.Errorf("Predict(%d, %d) = %v, want %v", c.user, c.item, got, c.want)
		}
	}
	top, err := m.Recommend(nil, 1, 3, RecommendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Scored{{20, 4.5}, {30, 4}, {10, 2.5}}
	if !slices.Equal(top, want) {
		t.Errorf("Recommend(1) = %v, want %v", top, want)
	}
}

func TestBiasesConfigErrors(t *testing.T) {
	e := newEngine(t, 1)
	rs := []Rating{{User: 1, Item: 2, Value: 3}}
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Biases: true, Implicit: true}, "Config.Biases applies to explicit feedback"},
		{Config{Biases: true, NonNegative: true}, "cannot be combined with Config.NonNegative"},
	} {
		if _, err := Fit(context.Background(), e, rs, c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one saying %q", c.cfg, err, c.want)
		}
	}
}

// reversion rewrites an encoding's version and checksum.
func reversion(b []byte, v uint16) []byte {
	out := slices.Clone(b)
	binary.LittleEndian.PutUint16(out[len(magic):], v)
	binary.LittleEndian.PutUint32(out[len(out)-4:], crc32.Checksum(out[:len(out)-4], castagnoli))
	return out
}

// TestModelVersions: version 3 carries biases and names; an encoding of
// version 2 (none of either) still reads, and one that claims to be
// version 2 but holds biases is refused.
func TestModelVersions(t *testing.T) {
	plain := &Model{Rank: 1, ColdStart: ColdStartNaN, UserIDs: []int64{0, 1}, ItemIDs: []int64{0},
		UserFactors: []float64{1, 2}, ItemFactors: []float64{3}, HasRatingRange: true, RatingMin: 1, RatingMax: 5}
	full := *plain
	full.Biased, full.GlobalMean, full.UserBiases, full.ItemBiases = true, 3, []float64{0.5, -0.5}, []float64{0.25}
	if err := full.SetKeys([]string{"ann", "bob"}, []string{"sku-1"}); err != nil {
		t.Fatal(err)
	}
	back := mltest.RoundTrip(t, &full)
	if !back.Biased || back.GlobalMean != 3 || !slices.Equal(back.UserKeys, []string{"ann", "bob"}) || !slices.Equal(back.ItemKeys, []string{"sku-1"}) {
		t.Errorf("version 3 round trip: %+v", back)
	}
	if id, ok := back.UserByKey("bob"); !ok || id != 1 || back.Predict(id, 0) != 3-0.5+0.25+6 {
		t.Errorf("UserByKey(bob) = %d, %v; Predict %v", id, ok, back.Predict(id, 0))
	}
	if _, ok := back.ItemByKey("sku-2"); ok {
		t.Error("an unknown item name was found")
	}
	b, err := plain.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var v2 Model
	if err := v2.UnmarshalBinary(reversion(b, 2)); err != nil || v2.Biased || v2.UserKeys != nil || v2.Predict(1, 0) != 6 {
		t.Errorf("version 2 model: %v, Biased %v, Predict %v", err, v2.Biased, v2.Predict(1, 0))
	}
	fb, err := full.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		data []byte
		want string
	}{
		{reversion(fb, 2), "a version 2 encoding with flags 0x38"},
		{reversion(fb, 4), "this build reads versions 1 to 3"},
		{fb[:len(fb)-9], "checksum"},
	} {
		var m Model
		if err := m.UnmarshalBinary(c.data); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want one saying %q", err, c.want)
		}
	}
	half := full
	if err := half.SetKeys(nil, []string{"sku-1"}); err != nil {
		t.Fatal(err)
	}
	if back := mltest.RoundTrip(t, &half); back.UserKeys != nil || !slices.Equal(back.ItemKeys, []string{"sku-1"}) {
		t.Errorf("item names only: users %q, items %q", back.UserKeys, back.ItemKeys)
	}
	bad := full
	bad.UserKeys = []string{"bob", "ann"}
	if _, err := bad.MarshalBinary(); err == nil || !strings.Contains(err.Error(), "user names not increasing") {
		t.Errorf("names out of order: %v", err)
	}
}

// TestStateVersion1: a checkpoint state of version 1 (before biases) still
// resumes a fit without biases.
func TestStateVersions(t *testing.T) {
	st := &State{Rank: 1, UserIDs: []int64{1}, ItemIDs: []int64{2}, Iter: 1, UserFactors: []float64{1}, ItemFactors: []float64{2}}
	b, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	_, payload, err := ml.ParseState(b)
	if err != nil {
		t.Fatal(err)
	}
	// Version 3 ends in Biases (1 byte) and Loss (8); version 2 lacks the
	// loss, version 1 both.
	var back State
	if err := back.UnmarshalBinary(ml.AppendState(nil, "als", 1, payload[:len(payload)-9])); err != nil || back.Biases || back.ItemFactors[0] != 2 || !math.IsNaN(back.Loss) {
		t.Errorf("version 1 state: %v, %+v", err, back)
	}
	back = State{}
	if err := back.UnmarshalBinary(ml.AppendState(nil, "als", 2, payload[:len(payload)-8])); err != nil || back.Biases || back.ItemFactors[0] != 2 || !math.IsNaN(back.Loss) {
		t.Errorf("version 2 state: %v, %+v", err, back)
	}
}

// TestEvaluatePopular checks the popularity baseline by hand. Training:
// item 7 rated 3 times, item 8 twice, item 9 once. Users 1 and 2 have
// relevant test items; user 5 is unseen in training and not counted; user
// 3's test rating is not relevant.
//
//	user 1 rated 7 in train → popular list at k=2: [8, 9]; relevant {8}: hit at rank 1:
//	  precision ½, recall 1, NDCG 1, AP 1
//	user 2 rated 8 in train → [7, 9]; relevant {9, 6}: hit at rank 2:
//	  precision ½, recall ½, NDCG (1/log₂3)/(1 + 1/log₂3), AP (½)/2
func TestEvaluatePopular(t *testing.T) {
	train := []Rating{{1, 7, 5, 0}, {2, 8, 5, 0}, {3, 7, 5, 0}, {3, 8, 5, 0}, {4, 7, 5, 0}, {4, 9, 5, 0}}
	test := []Rating{{1, 8, 5, 0}, {2, 9, 5, 0}, {2, 6, 4, 0}, {3, 9, 1, 0}, {5, 7, 5, 0}}
	got, err := EvaluatePopular(train, test, 2, func(r Rating) bool { return r.Value > 3.5 })
	if err != nil {
		t.Fatal(err)
	}
	ndcg2 := (1 / math.Log2(3)) / (1 + 1/math.Log2(3))
	want := RankingMetrics{K: 2, Users: 2, Precision: 0.5, Recall: 0.75, NDCG: (1 + ndcg2) / 2, MAP: (1 + 0.25) / 2}
	if got.K != want.K || got.Users != want.Users || math.Abs(got.Precision-want.Precision) > 1e-12 ||
		math.Abs(got.Recall-want.Recall) > 1e-12 || math.Abs(got.NDCG-want.NDCG) > 1e-12 || math.Abs(got.MAP-want.MAP) > 1e-12 {
		t.Errorf("EvaluatePopular = %+v, want %+v", got, want)
	}
	if _, err := EvaluatePopular(train, test, 0, func(Rating) bool { return true }); err == nil {
		t.Error("k = 0 accepted")
	}
}

// FuzzModelUnmarshalBinary: decoding never panics, and whatever decodes
// encodes back to the same bytes.
func FuzzModelUnmarshalBinary(f *testing.F) {
	m := &Model{Rank: 1, ColdStart: ColdStartDrop, UserIDs: []int64{0, 1}, ItemIDs: []int64{0}, UserFactors: []float64{1, 2}, ItemFactors: []float64{3},
		RatedPtr: []int64{0, 1, 1}, RatedItems: []int32{0}, Biased: true, GlobalMean: 3, UserBiases: []float64{0.5, -0.5}, ItemBiases: []float64{0.25}}
	if err := m.SetKeys([]string{"ann", "bob"}, []string{"sku"}); err != nil {
		f.Fatal(err)
	}
	b, err := m.MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(reversion(b, 2))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m Model
		if m.UnmarshalBinary(data) != nil {
			return
		}
		back, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("a decoded model does not encode: %v", err)
		}
		if binary.LittleEndian.Uint16(data[len(magic):]) == version && string(back) != string(data) {
			t.Fatalf("re-encoding changed the bytes")
		}
	})
}
