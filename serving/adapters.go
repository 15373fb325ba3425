package serving

import (
	"cmp"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/flintml/flint/ml/als"
	"github.com/flintml/flint/ml/kmeans"
)

// defaultAdapters are the algorithms served through an adapter, by the
// name an artefact gives (Artifact.Algorithm, which the trainer sets to
// the kind their encodings carry). Every model ml.UnmarshalModel decodes
// (linear, logistic, MLP once ml/mlp registers, whatever else registers
// with ml.RegisterModel) needs none.
func defaultAdapters() map[string]adapter {
	return map[string]adapter{
		"kmeans": decodeKMeans,
		"als":    decodeALS,
	}
}

// kmeansPredictor serves a k-means model: each row's nearest centre.
type kmeansPredictor struct {
	m   *kmeans.Model
	idx sync.Pool // *[]int scratch for PredictBatch
}

func decodeKMeans(params []byte) (any, error) {
	m := new(kmeans.Model)
	if err := m.UnmarshalBinary(params); err != nil {
		return nil, err
	}
	return &kmeansPredictor{m: m}, nil
}

func (p *kmeansPredictor) output() outputKind { return clustering }
func (p *kmeansPredictor) numFeatures() int   { return p.m.Dim }
func (p *kmeansPredictor) numClasses() int    { return 0 }

func (p *kmeansPredictor) predict(pred, _, x []float64, rows int) error {
	buf, _ := p.idx.Get().(*[]int)
	if buf == nil {
		buf = new([]int)
	}
	idx, err := p.m.PredictBatch((*buf)[:0], x[:rows*p.m.Dim])
	if err != nil {
		return err
	}
	for i, k := range idx {
		pred[i] = float64(k)
	}
	*buf = idx
	p.idx.Put(buf)
	return nil
}

// alsRecommender serves an ALS model on the recommendation routes, and
// scores (user, item) rows as a pairScorer. Ids are the integers the model
// was trained on, or, for a side trained on string ids, the names.
type alsRecommender struct {
	m       *als.Model
	popular []int32 // item positions by number of training ratings, most first; nil without rated items
	counts  []int64 // ratings per item position
}

func decodeALS(params []byte) (any, error) {
	m := new(als.Model)
	if err := m.UnmarshalBinary(params); err != nil {
		return nil, err
	}
	r := &alsRecommender{m: m}
	if m.RatedPtr != nil {
		r.counts = make([]int64, len(m.ItemIDs))
		for _, it := range m.RatedItems {
			r.counts[it]++
		}
		r.popular = make([]int32, len(m.ItemIDs))
		for i := range r.popular {
			r.popular[i] = int32(i)
		}
		slices.SortStableFunc(r.popular, func(a, b int32) int { return cmp.Compare(r.counts[b], r.counts[a]) })
	}
	return r, nil
}

// The pairScorer methods: rows are (user, item) ids, each scored by the
// model's prediction (the dot product of their factors, with the mean and
// biases of a biased model), clipped to the training range of an explicit
// model. Ids of a side trained on string ids are names.
func (r *alsRecommender) output() outputKind { return regression }
func (r *alsRecommender) numFeatures() int   { return 2 }
func (r *alsRecommender) numClasses() int    { return 0 }
func (r *alsRecommender) coldStart() string  { return r.m.ColdStart }

func (r *alsRecommender) named() [2]bool { return [2]bool{r.m.UserKeys != nil, r.m.ItemKeys != nil} }

func (r *alsRecommender) byName(j int, name string) (int64, bool) {
	if j == 0 {
		return r.m.UserByKey(name)
	}
	return r.m.ItemByKey(name)
}

func (r *alsRecommender) knownID(j int, id int64) bool {
	if j == 0 {
		return r.m.UserFactor(id) != nil
	}
	return r.m.ItemFactor(id) != nil
}

func (r *alsRecommender) predict(pred, _, x []float64, rows int) error {
	for i := range rows {
		pred[i] = r.m.Clip(r.m.Predict(int64(x[2*i]), int64(x[2*i+1])))
	}
	return nil
}

// itemName is how answers show an item: its name, or its integer id.
func (r *alsRecommender) itemName(id int64) string {
	if name, ok := r.m.ItemKey(id); ok {
		return name
	}
	return strconv.FormatInt(id, 10)
}

// Popular returns the k items rated most in training (equal counts: lower
// id first), scored by their number of ratings.
func (r *alsRecommender) Popular(k int) ([]scored, error) {
	if r.popular == nil {
		return nil, badRequest("fallback=popular: the model does not keep what users rated (train it with KeepRated), so it knows no popularity")
	}
	out := make([]scored, 0, min(k, len(r.popular)))
	for _, p := range r.popular[:min(k, len(r.popular))] {
		out = append(out, scored{ID: r.itemName(r.m.ItemIDs[p]), Score: float64(r.counts[p])})
	}
	return out, nil
}

// lookup turns the id of a query (?user=, ?item=) into the model's id: a
// name of a side trained on string ids, else an integer. A name training
// did not see is a 404 wrapping unknown, so that fallbacks can tell.
func (r *alsRecommender) lookup(j int, s string, unknown error) (int64, error) {
	if !r.named()[j] {
		return parseID(pairSides[j], s)
	}
	id, ok := r.byName(j, s)
	if !ok {
		return 0, errorf(http.StatusNotFound, "%s %q was not seen in training", pairSides[j], s).withCause(unknown)
	}
	return id, nil
}

func (r *alsRecommender) Recommend(user string, k int, excludeSeen bool) ([]scored, error) {
	id, err := r.lookup(0, user, als.ErrUnknownUser)
	if err != nil {
		return nil, err
	}
	items, err := r.m.Recommend(nil, id, k, als.RecommendOptions{ExcludeRated: excludeSeen})
	switch {
	case errors.Is(err, als.ErrUnknownUser):
		return nil, errorf(http.StatusNotFound, "user %d was not seen in training", id).withCause(err)
	case errors.Is(err, als.ErrNoRated):
		return nil, badRequest("exclude_seen: the model does not keep what users rated (train it with KeepRated)")
	case err != nil:
		return nil, err
	}
	return r.toScored(items), nil
}

func (r *alsRecommender) SimilarItems(item string, k int) ([]scored, error) {
	id, err := r.lookup(1, item, als.ErrUnknownItem)
	if err != nil {
		return nil, err
	}
	items, err := r.m.SimilarItems(nil, id, k)
	switch {
	case errors.Is(err, als.ErrUnknownItem):
		return nil, errorf(http.StatusNotFound, "item %d was not seen in training", id)
	case err != nil:
		return nil, err
	}
	return r.toScored(items), nil
}

func parseID(what, s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, badRequest("%s %q: want an integer id", what, s)
	}
	return id, nil
}

func (r *alsRecommender) toScored(items []als.Scored) []scored {
	out := make([]scored, len(items))
	for i, it := range items {
		out[i] = scored{ID: r.itemName(it.ID), Score: it.Score}
	}
	return out
}
