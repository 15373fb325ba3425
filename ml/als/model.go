package als

import (
	"github.com/flintml/flint/ml/internal/tile"

	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
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
// (implicit) of item for user: the dot product of their factors. It is NaN
// when the user or the item was not seen in training (cold start), whatever
// the model's ColdStart: dropping such pairs is up to the evaluation (see
// RMSE).
func (m *Model) Predict(user, item int64) float64 {
	u, v := m.UserFactor(user), m.ItemFactor(item)
	if u == nil || v == nil {
		return math.NaN()
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

// Recommend returns the k items with the highest predicted score for user,
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
	return m.topK(dst, m.UserFactors[p*r:(p+1)*r], k, skip, -1, nil), nil
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

// The binary encoding, little-endian throughout:
//
//	magic "FLNTMODL" | version uint16 | kind length uint8 | kind "als" | payload | CRC-32C uint32
//
// The CRC (Castagnoli) covers every byte before it. Version 2's payload:
//
//	Rank uint32 | flags uint8 (1: implicit, 2: rated items kept, 4: rating range) | cold-start length uint8 | cold start
//	| (flag 4) RatingMin float64 | RatingMax float64
//	| users uint64 | items uint64 | UserIDs int64… | ItemIDs int64… | UserFactors float64… | ItemFactors float64…
//	| (flag 2) RatedPtr (users+1)×int64 | RatedItems RatedPtr[users]×int32
//
// Version 1 is version 2 without flag 4; it is still read.
const (
	magic   = "FLNTMODL"
	kind    = "als"
	version = 2
)

// ErrVersion reports an encoding written by a newer (or unknown) version
// of the format.
var ErrVersion = errors.New("als: unsupported model encoding version")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (m *Model) check() error {
	nu, ni := len(m.UserIDs), len(m.ItemIDs)
	switch {
	case m.Rank < 1:
		return fmt.Errorf("als: malformed model: Rank %d", m.Rank)
	case len(m.UserFactors) != nu*m.Rank || len(m.ItemFactors) != ni*m.Rank:
		return fmt.Errorf("als: malformed model: %d and %d factor values for %d users, %d items of rank %d",
			len(m.UserFactors), len(m.ItemFactors), nu, ni, m.Rank)
	case len(m.ColdStart) > 255:
		return errors.New("als: malformed model: ColdStart too long")
	case m.HasRatingRange && (!(m.RatingMin <= m.RatingMax) || math.IsInf(m.RatingMin, 0) || math.IsInf(m.RatingMax, 0)):
		return fmt.Errorf("als: malformed model: rating range [%v, %v]", m.RatingMin, m.RatingMax)
	}
	for _, ids := range [][]int64{m.UserIDs, m.ItemIDs} {
		for i := 1; i < len(ids); i++ {
			if ids[i] <= ids[i-1] {
				return fmt.Errorf("als: malformed model: ids not increasing at position %d (%d after %d)", i, ids[i], ids[i-1])
			}
		}
	}
	if m.RatedPtr == nil && m.RatedItems == nil {
		return nil
	}
	if len(m.RatedPtr) != nu+1 || m.RatedPtr[0] != 0 || m.RatedPtr[nu] != int64(len(m.RatedItems)) {
		return fmt.Errorf("als: malformed model: rated items pointer of %d entries for %d users", len(m.RatedPtr), nu)
	}
	for u := range nu {
		if m.RatedPtr[u+1] < m.RatedPtr[u] {
			return fmt.Errorf("als: malformed model: rated items of user position %d have negative length", u)
		}
		prev := int32(-1)
		for _, it := range m.RatedItems[m.RatedPtr[u]:m.RatedPtr[u+1]] {
			if it <= prev || int(it) >= ni {
				return fmt.Errorf("als: malformed model: rated item position %d of user position %d is out of order or range", it, u)
			}
			prev = it
		}
	}
	return nil
}

// MarshalBinary encodes the model in the versioned format above.
func (m *Model) MarshalBinary() ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	nu, ni := len(m.UserIDs), len(m.ItemIDs)
	size := len(magic) + 3 + len(kind) + 4 + 2 + len(m.ColdStart) + 16 + 8*(nu+ni) + 8*(len(m.UserFactors)+len(m.ItemFactors)) + 4
	var flags byte
	if m.Implicit {
		flags |= 1
	}
	if m.RatedPtr != nil {
		flags |= 2
		size += 8*len(m.RatedPtr) + 4*len(m.RatedItems)
	}
	if m.HasRatingRange {
		flags |= 4
		size += 16
	}
	le := binary.LittleEndian
	b := make([]byte, 0, size)
	b = append(b, magic...)
	b = le.AppendUint16(b, version)
	b = append(b, byte(len(kind)))
	b = append(b, kind...)
	b = le.AppendUint32(b, uint32(m.Rank))
	b = append(b, flags, byte(len(m.ColdStart)))
	b = append(b, m.ColdStart...)
	if flags&4 != 0 {
		b = le.AppendUint64(b, math.Float64bits(m.RatingMin))
		b = le.AppendUint64(b, math.Float64bits(m.RatingMax))
	}
	b = le.AppendUint64(b, uint64(nu))
	b = le.AppendUint64(b, uint64(ni))
	for _, ids := range [][]int64{m.UserIDs, m.ItemIDs} {
		for _, v := range ids {
			b = le.AppendUint64(b, uint64(v))
		}
	}
	for _, f := range [][]float64{m.UserFactors, m.ItemFactors} {
		for _, v := range f {
			b = le.AppendUint64(b, math.Float64bits(v))
		}
	}
	if flags&2 != 0 {
		for _, v := range m.RatedPtr {
			b = le.AppendUint64(b, uint64(v))
		}
		for _, v := range m.RatedItems {
			b = le.AppendUint32(b, uint32(v))
		}
	}
	return le.AppendUint32(b, crc32.Checksum(b, castagnoli)), nil
}

// reader reads the payload, remembering the first shortfall.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n uint64) []byte {
	if r.err != nil || n > uint64(len(r.b)) {
		r.err = errors.New("als: model encoding truncated")
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u64() uint64 {
	if b := r.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// UnmarshalBinary decodes a model MarshalBinary encoded, replacing m. It
// fails on another kind of model, a bad checksum, a truncated or
// inconsistent encoding, and (with ErrVersion) a version this build does
// not know.
func (m *Model) UnmarshalBinary(data []byte) error {
	hdr := len(magic) + 3
	if len(data) < hdr || string(data[:len(magic)]) != magic {
		return errors.New("als: not a Flint model encoding (bad magic)")
	}
	le := binary.LittleEndian
	ver := le.Uint16(data[len(magic):])
	kl := int(data[len(magic)+2])
	if len(data) < hdr+kl {
		return errors.New("als: model encoding truncated in its header")
	}
	if k := string(data[hdr : hdr+kl]); k != kind {
		return fmt.Errorf("als: the encoding holds a %q model, not %q", k, kind)
	}
	if ver != 1 && ver != version {
		return fmt.Errorf("%w %d: this build reads versions 1 and %d", ErrVersion, ver, version)
	}
	if len(data) < hdr+kl+4 {
		return errors.New("als: model encoding truncated")
	}
	body := data[:len(data)-4]
	if crc32.Checksum(body, castagnoli) != le.Uint32(data[len(data)-4:]) {
		return errors.New("als: model encoding is corrupt (checksum mismatch)")
	}
	r := &reader{b: body[hdr+kl:]}
	var out Model
	if b := r.take(4); b != nil {
		out.Rank = int(le.Uint32(b))
	}
	flags := r.take(2)
	if flags == nil {
		return r.err
	}
	out.Implicit = flags[0]&1 != 0
	out.ColdStart = string(r.take(uint64(flags[1])))
	if flags[0]&4 != 0 {
		if ver == 1 {
			return errors.New("als: malformed model: a version 1 encoding with a rating range")
		}
		out.HasRatingRange = true
		out.RatingMin, out.RatingMax = math.Float64frombits(r.u64()), math.Float64frombits(r.u64())
	}
	nu, ni := r.u64(), r.u64()
	rank := uint64(out.Rank)
	if words := uint64(len(r.b)) / 8; r.err == nil && (rank == 0 || nu > words || ni > words || nu+ni > words/rank) {
		return fmt.Errorf("als: model encoding of %d users, %d items at rank %d does not fit its %d bytes", nu, ni, rank, len(r.b))
	}
	ints := func(n uint64) []int64 {
		b := r.take(8 * n)
		s := make([]int64, 0, len(b)/8)
		for i := 0; i+8 <= len(b); i += 8 {
			s = append(s, int64(le.Uint64(b[i:])))
		}
		return s
	}
	floats := func(n uint64) []float64 {
		b := r.take(8 * n)
		s := make([]float64, 0, len(b)/8)
		for i := 0; i+8 <= len(b); i += 8 {
			s = append(s, math.Float64frombits(le.Uint64(b[i:])))
		}
		return s
	}
	out.UserIDs, out.ItemIDs = ints(nu), ints(ni)
	out.UserFactors, out.ItemFactors = floats(nu*rank), floats(ni*rank)
	if flags[0]&2 != 0 {
		out.RatedPtr = ints(nu + 1)
		if r.err == nil {
			nnz := uint64(out.RatedPtr[nu])
			if nnz > uint64(len(r.b))/4 {
				return fmt.Errorf("als: model encoding lists %d rated items in %d bytes", nnz, len(r.b))
			}
			b := r.take(4 * nnz)
			out.RatedItems = make([]int32, nnz)
			for i := range out.RatedItems {
				out.RatedItems[i] = int32(le.Uint32(b[4*i:]))
			}
		}
	}
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		return fmt.Errorf("als: model encoding has %d bytes after its payload", len(r.b))
	}
	if err := out.check(); err != nil {
		return err
	}
	*m = out
	return nil
}
