package als

import (
	"fmt"
	"slices"
)

// Warm starts (Config.Start). A fit's ids are positions in the sorted ids
// of its ratings; a start's are positions in its own. Both lists are
// increasing, so one merge pass pairs the ids they share.

// checkStart reports why Config.Start (defaults applied) cannot start the
// fit.
func (c Config) checkStart() error {
	m := c.Start
	if err := m.check(); err != nil {
		return fmt.Errorf("als: Config.Start: %w", err)
	}
	switch {
	case m.Rank != c.Rank:
		return fmt.Errorf("als: Config.Start has rank %d, Config.Rank is %d", m.Rank, c.Rank)
	case m.Biased != c.Biases:
		return fmt.Errorf("als: Config.Start has biases %v, Config.Biases is %v", m.Biased, c.Biases)
	case m.Implicit != c.Implicit:
		return fmt.Errorf("als: Config.Start has Implicit %v, Config.Implicit is %v", m.Implicit, c.Implicit)
	}
	if c.NonNegative {
		for _, f := range []struct {
			side string
			ids  []int64
			v    []float64
		}{{"user", m.UserIDs, m.UserFactors}, {"item", m.ItemIDs, m.ItemFactors}} {
			if i := slices.IndexFunc(f.v, func(x float64) bool { return x < 0 }); i >= 0 {
				return fmt.Errorf("als: Config.Start: %s %d has a negative factor (%v) and Config.NonNegative is set", f.side, f.ids[i/m.Rank], f.v[i])
			}
		}
	}
	return nil
}

// startFrom replaces the seeded initial factors (and the zero biases) of
// every id the start shares with the fit by the start's.
func (t *trainer) startFrom(m *Model) {
	k := t.cfg.Rank
	copyShared(t.userIDs, m.UserIDs, func(dst, src int) {
		copy(t.userF[dst*k:(dst+1)*k], m.UserFactors[src*k:(src+1)*k])
		if t.userB != nil {
			t.userB[dst] = m.UserBiases[src]
		}
	})
	copyShared(t.itemIDs, m.ItemIDs, func(dst, src int) {
		copy(t.itemF[dst*k:(dst+1)*k], m.ItemFactors[src*k:(src+1)*k])
		if t.itemB != nil {
			t.itemB[dst] = m.ItemBiases[src]
		}
	})
}

// copyShared calls set(p, q) for every id with position p in ids and q in
// from, both increasing.
func copyShared(ids, from []int64, set func(p, q int)) {
	q := 0
	for p, id := range ids {
		for q < len(from) && from[q] < id {
			q++
		}
		if q == len(from) {
			return
		}
		if from[q] == id {
			set(p, q)
		}
	}
}
