package trainer

import (
	"slices"

	"github.com/flintml/flint/ml/als"
)

// als returns the previous factorisation as the start of this fit: its
// factors and biases under this run's ids, or nil (recording why) when it
// is not an ALS model of the same rank, biases and feedback. Integer ids
// are the same ids in both runs; a name's id is its position in the run's
// sorted names, which moves as names come and go, so a named side is
// mapped by name: the previous name's factor goes to this run's id of the
// same name, and names this run lacks are left out.
func (w *warmState) als(p *ALSParams, keys *ratingKeys) *als.Model {
	if w == nil {
		return nil
	}
	m, ok := w.prev.model.(*als.Model)
	v := w.prev.version
	rank := iterOr(p.Rank, 10)
	switch {
	case !ok:
		w.skip("version %d is a %s model", v, w.prev.art.Algorithm)
		return nil
	case m.Rank != rank:
		w.skip("version %d has rank %d; this fit has rank %d", v, m.Rank, rank)
		return nil
	case m.Biased != p.Biases:
		w.skip("version %d was fitted with biases %v; this fit has biases %v", v, m.Biased, p.Biases)
		return nil
	case m.Implicit != p.Implicit:
		w.skip("version %d was fitted with implicit_prefs %v; this fit has implicit_prefs %v", v, m.Implicit, p.Implicit)
		return nil
	case p.Nonnegative && (slices.ContainsFunc(m.UserFactors, negative) || slices.ContainsFunc(m.ItemFactors, negative)):
		w.skip("version %d has negative factors; this fit is nonnegative", v)
		return nil
	}
	var users, items []string
	if keys != nil {
		users, items = keys.users, keys.items
	}
	start := &als.Model{Rank: m.Rank, Implicit: m.Implicit, Biased: m.Biased}
	for _, s := range []struct {
		side      string
		prevKeys  []string
		keys      []string
		ids       []int64
		f, b      []float64
		dst       *[]int64
		dstF, dsB *[]float64
	}{
		{"user", m.UserKeys, users, m.UserIDs, m.UserFactors, m.UserBiases, &start.UserIDs, &start.UserFactors, &start.UserBiases},
		{"item", m.ItemKeys, items, m.ItemIDs, m.ItemFactors, m.ItemBiases, &start.ItemIDs, &start.ItemFactors, &start.ItemBiases},
	} {
		switch {
		case (s.prevKeys == nil) != (s.keys == nil):
			w.skip("version %d has %s %s ids; this fit's are %s", v, idKind(s.prevKeys), s.side, idKind(s.keys))
			return nil
		case s.keys == nil:
			*s.dst, *s.dstF, *s.dsB = s.ids, s.f, s.b
			continue
		}
		// Both lists are sorted, so the new ids come out increasing.
		for q, name := range s.prevKeys {
			id, ok := als.KeyID(s.keys, name)
			if !ok {
				continue
			}
			*s.dst = append(*s.dst, id)
			*s.dstF = append(*s.dstF, s.f[q*m.Rank:(q+1)*m.Rank]...)
			if m.Biased {
				*s.dsB = append(*s.dsB, s.b[q])
			}
		}
	}
	w.used = true
	if p.Tol == 0 {
		w.note = "algorithm.als.tol is 0, so the fit runs max_iter iterations warm or cold; give tol to stop on convergence"
	}
	return start
}

func negative(x float64) bool { return x < 0 }

func idKind(keys []string) string {
	if keys == nil {
		return "integer"
	}
	return "string"
}
