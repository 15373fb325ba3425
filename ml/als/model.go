package als

import (
	"github.com/flintml/flint/ml/internal/tile"

	"errors"
	"fmt"
	"math"
	"slices"
)

// Model is a fitted factorisation. It is a plain value: predictions and
// recommendations need no engine, and no method modifies the model, so one
// model may serve any number of goroutines.
type Model struct {
	Rank      int
	Implicit  bool
	ColdStart string // ColdStartNaN or ColdStartDrop
	// UserIDs and ItemIDs are the ids seen in training, increasing; row p
	// of UserFactors (Rank values from p·Rank) belongs to UserIDs[p], and
	// likewise for items.
	UserIDs, ItemIDs         []int64
	UserFactors, ItemFactors []float64
	// RatedPtr and RatedItems, kept when Config.KeepRated is set, list the
	// items each user rated in training: user p's are the positions (in
	// ItemIDs) RatedItems[RatedPtr[p]:RatedPtr[p+1]], increasing. Both are
	// nil otherwise.
	RatedPtr   []int64
	RatedItems []int32
	// HasRatingRange says RatingMin and RatingMax hold the smallest and
	// largest rating of an explicit fit, to which Clip bounds predictions.
	// Implicit models, and models encoded by version 1 of the format, have
	// no range.
	HasRatingRange       bool
	RatingMin, RatingMax float64
	// Biased says the model has bias terms (Config.Biases): a prediction
	// is GlobalMean + UserBiases[u] + ItemBiases[i] + x_u·y_i, with one
	// bias per user and per item (positions as in UserIDs and ItemIDs).
	// Models encoded before version 3 of the format have none.
	Biased                 bool
	GlobalMean             float64
	UserBiases, ItemBiases []float64
	// UserKeys and ItemKeys, when not nil, are the string ids the integer
	// ids of that side stand for (see SortKeys): UserKeys[p] is the name
	// of UserIDs[p], in increasing byte order, so that a name finds its
	// position by binary search. They are nil for integer ids.
	UserKeys, ItemKeys []string
}

// Clip bounds an explicit prediction to the range of the training ratings
// (a dot product of factors can fall outside it); other values, and those
// of a model without a range, are returned as they are.
func (m *Model) Clip(v float64) float64 {
	if !m.HasRatingRange || m.Implicit {
		return v
	}
	return min(max(v, m.RatingMin), m.RatingMax)
}

// Errors of recommendation requests.
var (
	ErrUnknownUser = errors.New("als: user not seen in training")
	ErrUnknownItem = errors.New("als: item not seen in training")
	ErrNoRated     = errors.New("als: the model does not keep rated items (fit with Config.KeepRated)")
)

func (m *Model) userPos(id int64) (int, bool) { return slices.BinarySearch(m.UserIDs, id) }
func (m *Model) itemPos(id int64) (int, bool) { return slices.BinarySearch(m.ItemIDs, id) }

// UserFactor returns the factor of a user (sharing the model's memory), or
// nil for a user not seen in training.
func (m *Model) UserFactor(user int64) []float64 {
	p, ok := m.userPos(user)
	if !ok {
		return nil
	}
	return m.UserFactors[p*m.Rank : (p+1)*m.Rank : (p+1)*m.Rank]
}

// ItemFactor returns the factor of an item, or nil for an unseen item.
func (m *Model) ItemFactor(item int64) []float64 {
	p, ok := m.itemPos(item)
	if !ok {
		return nil
	}
	return m.ItemFactors[p*m.Rank : (p+1)*m.Rank : (p+1)*m.Rank]
}

// Predict returns the predicted rating (explicit) or preference
// (implicit) of item for user: the dot product of their factors, plus the
// global mean and both biases for a biased model. It is NaN
// when the user or the item was not seen in training (cold start), whatever
// the model's ColdStart: dropping such pairs is up to the evaluation (see
// RMSE).
func (m *Model) Predict(user, item int64) float64 {
	u, v := m.UserFactor(user), m.ItemFactor(item)
	if u == nil || v == nil {
		return math.NaN()
	}
	if m.Biased {
		p, _ := m.userPos(user)
		q, _ := m.itemPos(item)
		return m.GlobalMean + m.UserBiases[p] + m.ItemBiases[q] + tile.Dot(u, v)
	}
	return tile.Dot(u, v)
}

// Scored is an id with its score, in recommendation results.
type Scored struct {
	ID    int64
	Score float64
}

// RecommendOptions filters recommendations.
type RecommendOptions struct {
	// ExcludeRated leaves out the items the user rated in training; the
	// model must have been fitted with Config.KeepRated.
	ExcludeRated bool
	// Exclude lists further item ids to leave out (ids the model does not
	// know are ignored).
	Exclude []int64
}

// scoreBlock is how many items are scored into one buffer before they go
// through the heap: the buffer and the block's factors stay in L1.
const scoreBlock = 256

// Recommend returns the k items with the highest predicted score for user
// (with a biased model, the prediction with its mean and biases),
// best first (equal scores: lower item id first), appended to dst[:0]. It
// scores every item, in blocks of item factors against the user's factor,
// and keeps the best k in a bounded heap: O(items·Rank + items·log k). An
// unseen user fails with ErrUnknownUser.
func (m *Model) Recommend(dst []Scored, user int64, k int, opt RecommendOptions) ([]Scored, error) {
	p, ok := m.userPos(user)
	if !ok {
		return dst[:0], fmt.Errorf("%w: %d", ErrUnknownUser, user)
	}
	var skip []int32
	if opt.ExcludeRated {
		if m.RatedPtr == nil {
			return dst[:0], ErrNoRated
		}
		skip = m.RatedItems[m.RatedPtr[p]:m.RatedPtr[p+1]]
	}
	if len(opt.Exclude) > 0 {
		skip = slices.Clone(skip)
		for _, id := range opt.Exclude {
			if q, ok := m.itemPos(id); ok {
				skip = append(skip, int32(q))
			}
		}
		slices.Sort(skip)
	}
	r := m.Rank
	var adjust func(j int, s float64) float64
	if m.Biased {
		base := m.GlobalMean + m.UserBiases[p]
		adjust = func(j int, s float64) float64 { return base + m.ItemBiases[j] + s }
	}
	return m.topK(dst, m.UserFactors[p*r:(p+1)*r], k, skip, -1, adjust), nil
}

// SimilarItems returns the k items whose factors have the highest cosine
// similarity with item's, best first, leaving out item itself. Items with
// an all-zero factor are never returned. An unseen item fails with
// ErrUnknownItem.
func (m *Model) SimilarItems(dst []Scored, item int64, k int) ([]Scored, error) {
	p, ok := m.itemPos(item)
	if !ok {
		return dst[:0], fmt.Errorf("%w: %d", ErrUnknownItem, item)
	}
	r := m.Rank
	v := m.ItemFactors[p*r : (p+1)*r]
	nv := math.Sqrt(tile.Dot(v, v))
	if nv == 0 {
		return dst[:0], nil
	}
	return m.topK(dst, v, k, nil, p, func(j int, s float64) float64 {
		w := m.ItemFactors[j*r : (j+1)*r]
		nw := math.Sqrt(tile.Dot(w, w))
		if nw == 0 {
			return math.NaN()
		}
		return s / (nv * nw)
	}), nil
}

// topK scores every item against q and returns the best k, best first.
// skip lists item positions (increasing) to leave out, self one more (or
// -1); adjust, when set, turns a dot product into the score (NaN: leave
// the item out).
func (m *Model) topK(dst []Scored, q []float64, k int, skip []int32, self int, adjust func(j int, s float64) float64) []Scored {
	dst = dst[:0]
	if k <= 0 {
		return dst
	}
	r, n := m.Rank, len(m.ItemIDs)
	h := topHeap{k: k, e: make([]heapEntry, 0, min(k, n))}
	var buf [scoreBlock]float64
	for lo := 0; lo < n; lo += scoreBlock {
		hi := min(lo+scoreBlock, n)
		scoreItems(buf[:hi-lo], m.ItemFactors[lo*r:hi*r], q, r)
		for j := lo; j < hi; j++ {
			if len(skip) > 0 && int(skip[0]) <= j {
				for len(skip) > 0 && int(skip[0]) < j {
					skip = skip[1:]
				}
				if len(skip) > 0 && int(skip[0]) == j {
					continue
				}
			}
			if j == self {
				continue
			}
			s := buf[j-lo]
			if adjust != nil {
				if s = adjust(j, s); math.IsNaN(s) {
					continue
				}
			}
			h.offer(int32(j), s)
		}
	}
	for _, e := range h.sorted() {
		dst = append(dst, Scored{ID: m.ItemIDs[e.pos], Score: e.score})
	}
	return dst
}

// scoreItems sets s[i] to the dot product of row i of f (rank r) with q.
func scoreItems(s, f, q []float64, r int) {
	tile.Products(s, f, len(s), q, 1, r)
}

type heapEntry struct {
	pos   int32
	score float64
}

// worse orders entries: a lower score, or an equal score and a later item.
func worse(a, b heapEntry) bool {
	if a.score != b.score {
		return a.score < b.score
	}
	return a.pos > b.pos
}

// topHeap keeps the k best entries offered, as a min-heap on worse.
type topHeap struct {
	k int
	e []heapEntry
}

func (h *topHeap) offer(pos int32, score float64) {
	x := heapEntry{pos, score}
	if len(h.e) < h.k {
		h.e = append(h.e, x)
		for c := len(h.e) - 1; c > 0; {
			p := (c - 1) / 2
			if !worse(h.e[c], h.e[p]) {
				break
			}
			h.e[c], h.e[p] = h.e[p], h.e[c]
			c = p
		}
		return
	}
	if !worse(h.e[0], x) {
		return
	}
	h.e[0] = x
	for c := 0; ; {
		l, rr, m := 2*c+1, 2*c+2, c
		if l < len(h.e) && worse(h.e[l], h.e[m]) {
			m = l
		}
		if rr < len(h.e) && worse(h.e[rr], h.e[m]) {
			m = rr
		}
		if m == c {
			return
		}
		h.e[c], h.e[m] = h.e[m], h.e[c]
		c = m
	}
}

// sorted sorts the kept entries in place, best first, and returns them.
func (h *topHeap) sorted() []heapEntry {
	out := h.e
	slices.SortFunc(out, func(a, b heapEntry) int {
		switch {
		case worse(b, a):
			return -1
		case worse(a, b):
			return 1
		}
		return 0
	})
	return out
}
