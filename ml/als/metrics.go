package als

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// RMSE returns the root mean squared error of m's predictions on test and
// how many ratings it covers. Under ColdStartNaN a rating whose user or
// item was not seen in training makes the result NaN (as MLlib's evaluator
// does); under ColdStartDrop such ratings are left out. With no rating to
// measure, the result is NaN.
func (m *Model) RMSE(test []Rating) (rmse float64, n int) {
	sum := 0.0
	for _, r := range test {
		p := m.Predict(r.User, r.Item)
		if math.IsNaN(p) {
			if m.ColdStart == ColdStartDrop {
				continue
			}
			return math.NaN(), len(test)
		}
		e := p - r.Value
		sum += e * e
		n++
	}
	if n == 0 {
		return math.NaN(), 0
	}
	return math.Sqrt(sum / float64(n)), n
}

// Ranked is one user's recommendations, best first, with the items
// relevant to that user (in any order).
type Ranked struct {
	Recommended []int64
	Relevant    []int64
}

// RankingMetrics are averages over users of how well the first K
// recommendations find the relevant items. Users with no relevant item are
// left out (Users counts the others).
//
//   - Precision: hits in the first K / K (K even when fewer were recommended);
//   - Recall: hits in the first K / relevant items;
//   - NDCG: DCG / ideal DCG with binary gains, DCG = Σ_{i<K} hit_i / log₂(i+2);
//   - MAP: Σ_{i<K} hit_i · precision@(i+1) / min(K, relevant items).
//
// These are MLlib's RankingMetrics (precisionAt, recallAt, ndcgAt,
// meanAveragePrecisionAt).
type RankingMetrics struct {
	K                            int
	Users                        int
	Precision, Recall, NDCG, MAP float64
}

// Ranking computes the ranking metrics at k of the given lists.
func Ranking(k int, lists []Ranked) RankingMetrics {
	out := RankingMetrics{K: k}
	if k <= 0 {
		return out
	}
	rel := map[int64]bool{}
	for _, l := range lists {
		clear(rel)
		for _, id := range l.Relevant {
			rel[id] = true
		}
		if len(rel) == 0 {
			continue
		}
		hits, dcg, ap := 0, 0.0, 0.0
		for i, id := range l.Recommended[:min(k, len(l.Recommended))] {
			if rel[id] {
				hits++
				dcg += 1 / math.Log2(float64(i+2))
				ap += float64(hits) / float64(i+1)
			}
		}
		idcg := 0.0
		for i := range min(k, len(rel)) {
			idcg += 1 / math.Log2(float64(i+2))
		}
		out.Users++
		out.Precision += float64(hits) / float64(k)
		out.Recall += float64(hits) / float64(len(rel))
		out.NDCG += dcg / idcg
		out.MAP += ap / float64(min(k, len(rel)))
	}
	if out.Users > 0 {
		n := float64(out.Users)
		out.Precision /= n
		out.Recall /= n
		out.NDCG /= n
		out.MAP /= n
	}
	return out
}

// EvaluateRanking recommends k items to every user of test who has a
// relevant test rating (relevant(r) true) and was seen in training, leaving
// out the items the user rated in train, and returns the ranking metrics of
// those recommendations against the relevant test items. Test users unseen
// in training are not counted (cold start).
func EvaluateRanking(m *Model, train, test []Rating, k int, relevant func(Rating) bool) (RankingMetrics, error) {
	known := func(u int64) bool { _, ok := m.userPos(u); return ok }
	return evaluate(train, test, k, relevant, known, func(u int64, seen []int64) ([]int64, error) {
		rec, err := m.Recommend(nil, u, k, RecommendOptions{Exclude: seen})
		if err != nil {
			return nil, err
		}
		ids := make([]int64, len(rec))
		for i, s := range rec {
			ids[i] = s.ID
		}
		return ids, nil
	})
}

// EvaluatePopular is the baseline of EvaluateRanking: it recommends to
// each of the same users (those of test with a relevant rating who rated
// something in train) the k items with the most ratings in train (equal
// counts: lower id first), leaving out the items the user rated in train,
// and returns the ranking metrics of those lists. A model whose metrics
// are below these ranks worse than the trivial answer.
func EvaluatePopular(train, test []Rating, k int, relevant func(Rating) bool) (RankingMetrics, error) {
	counts := map[int64]int{}
	users := map[int64]bool{}
	for _, r := range train {
		counts[r.Item]++
		users[r.User] = true
	}
	order := make([]int64, 0, len(counts))
	for it := range counts {
		order = append(order, it)
	}
	slices.SortFunc(order, func(a, b int64) int {
		if c := counts[b] - counts[a]; c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	known := func(u int64) bool { return users[u] }
	skip := map[int64]bool{}
	return evaluate(train, test, k, relevant, known, func(_ int64, seen []int64) ([]int64, error) {
		clear(skip)
		for _, it := range seen {
			skip[it] = true
		}
		out := make([]int64, 0, k)
		for _, it := range order {
			if len(out) == k {
				break
			}
			if !skip[it] {
				out = append(out, it)
			}
		}
		return out, nil
	})
}

// evaluate builds the ranked lists of EvaluateRanking and EvaluatePopular:
// for every user known to training with a relevant test rating, in
// increasing id order, recommend's list (given the items the user rated in
// train) against the relevant test items.
func evaluate(train, test []Rating, k int, relevant func(Rating) bool, known func(int64) bool,
	recommend func(user int64, seen []int64) ([]int64, error)) (RankingMetrics, error) {
	if k <= 0 {
		return RankingMetrics{}, fmt.Errorf("als: ranking metrics at k = %d: want k >= 1", k)
	}
	wanted := map[int64][]int64{}
	for _, r := range test {
		if relevant(r) && known(r.User) {
			wanted[r.User] = append(wanted[r.User], r.Item)
		}
	}
	seen := map[int64][]int64{}
	for _, r := range train {
		if _, ok := wanted[r.User]; ok {
			seen[r.User] = append(seen[r.User], r.Item)
		}
	}
	users := make([]int64, 0, len(wanted))
	for u := range wanted {
		users = append(users, u)
	}
	slices.Sort(users)
	lists := make([]Ranked, 0, len(users))
	for _, u := range users {
		ids, err := recommend(u, seen[u])
		if err != nil {
			return RankingMetrics{}, err
		}
		lists = append(lists, Ranked{Recommended: ids, Relevant: wanted[u]})
	}
	return Ranking(k, lists), nil
}

// Accuracy is how close a model's predictions come to held-out ratings.
type Accuracy struct {
	// RMSE, MAE and R2 (1 − SSE/SST, SST about the mean of the scored
	// ratings) over the N ratings scored. They are NaN when a rating has
	// a user or item the model lacks and its ColdStart is "nan" (MLlib's
	// rule), or when N is 0.
	RMSE, MAE, R2 float64
	// N is the number of ratings scored; Unseen the number whose user or
	// item the model lacks (left out under ColdStart "drop").
	N, Unseen int
}

// Accuracy measures the model's predictions of test.
func (m *Model) Accuracy(test []Rating) Accuracy {
	var a Accuracy
	var sse, sae, mean, m2 float64 // m2: Σ (r − mean)² by Welford's update
	for _, r := range test {
		p := m.Predict(r.User, r.Item)
		if math.IsNaN(p) {
			a.Unseen++
			continue
		}
		e := p - r.Value
		sse += e * e
		sae += math.Abs(e)
		a.N++
		d := r.Value - mean
		mean += d / float64(a.N)
		m2 += d * (r.Value - mean)
	}
	if a.N == 0 || (a.Unseen > 0 && m.ColdStart != ColdStartDrop) {
		nan := math.NaN()
		a.RMSE, a.MAE, a.R2 = nan, nan, nan
		return a
	}
	n := float64(a.N)
	a.RMSE, a.MAE = math.Sqrt(sse/n), sae/n
	a.R2 = math.NaN()
	if m2 > 0 {
		a.R2 = 1 - sse/m2
	}
	return a
}
