package als

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/ml/internal/codec"
)

// State is an ALS fit between two iterations: what Config.Checkpoint
// receives and Config.Resume continues from. An iteration reads nothing
// but the ratings and the current factors (the seed only draws the
// initial user factors), so the factors and the iteration count are the
// whole state, and a resumed fit ends bit for bit where the uninterrupted
// fit does. The ids are kept so that a state is never applied to other
// users or items.
//
// A State is a plain value; the one Checkpoint receives is its own copy.
type State struct {
	Rank                  int
	Implicit, NonNegative bool
	// UserIDs and ItemIDs are the ids of the fit, increasing; row p of
	// UserFactors (Rank values from p·Rank) belongs to UserIDs[p], and
	// likewise for items, as in Model.
	UserIDs, ItemIDs []int64
	// Iter is the number of iterations completed; the factors are those
	// after it.
	Iter                     int
	UserFactors, ItemFactors []float64
	// Biases says the fit has biases (Config.Biases): Mean is the mean
	// training rating and UserBiases and ItemBiases the biases after Iter,
	// positions as in the ids. Without biases they are zero and nil.
	Biases                 bool
	Mean                   float64
	UserBiases, ItemBiases []float64
	// Loss is the objective after Iter when the fit measures it
	// (Config.Tol > 0), else NaN: a resumed fit compares its next
	// iteration's objective with it, so it stops where the uninterrupted
	// fit does.
	Loss float64
}

// The state's encoding is ml.AppendState's envelope, algorithm "als",
// around the payload (version 1; field encodings as in package
// ml/internal/codec):
//
//	Rank int | Implicit, NonNegative bool | Iter int | users, items int
//	| UserIDs users × int64 | ItemIDs items × int64
//	| UserFactors users×Rank float64 | ItemFactors items×Rank float64
//	| Biases bool | (Biases) Mean float64 | UserBiases users×float64 | ItemBiases items×float64
//	| Loss float64
//
// Version 3 added the loss, version 2 the biases; versions 1 (ending after
// the factors: a fit without biases) and 2 are still read, with Loss NaN.
const (
	stateAlgorithm = "als"
	stateVersion   = 3
)

// state copies what a fit needs to go on after iteration iter, whose
// objective was loss.
func (t *trainer) state(iter int, loss float64) *State {
	return &State{Rank: t.cfg.Rank, Implicit: t.cfg.Implicit, NonNegative: t.cfg.NonNegative,
		UserIDs: slices.Clone(t.userIDs), ItemIDs: slices.Clone(t.itemIDs), Iter: iter,
		UserFactors: slices.Clone(t.userF), ItemFactors: slices.Clone(t.itemF),
		Biases: t.cfg.Biases, Mean: t.mean, UserBiases: slices.Clone(t.userB), ItemBiases: slices.Clone(t.itemB), Loss: loss}
}

func (s *State) check() error {
	nu, ni := len(s.UserIDs), len(s.ItemIDs)
	switch {
	case s.Rank < 1 || nu == 0 || ni == 0:
		return fmt.Errorf("als: checkpoint state of rank %d with %d users and %d items", s.Rank, nu, ni)
	case s.Iter < 0:
		return fmt.Errorf("als: checkpoint state at iteration %d", s.Iter)
	case len(s.UserFactors) != nu*s.Rank || len(s.ItemFactors) != ni*s.Rank:
		return fmt.Errorf("als: checkpoint state of rank %d: %d user factor values for %d users, %d item factor values for %d items",
			s.Rank, len(s.UserFactors), nu, len(s.ItemFactors), ni)
	case s.Biases && (len(s.UserBiases) != nu || len(s.ItemBiases) != ni):
		return fmt.Errorf("als: checkpoint state with %d user and %d item biases for %d users and %d items", len(s.UserBiases), len(s.ItemBiases), nu, ni)
	case !s.Biases && (s.UserBiases != nil || s.ItemBiases != nil):
		return errors.New("als: checkpoint state without Biases holds biases")
	}
	return nil
}

// MarshalBinary encodes the state (see the format above).
func (s *State) MarshalBinary() ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	n := len(s.UserIDs) + len(s.ItemIDs) + len(s.UserFactors) + len(s.ItemFactors)
	w := codec.Writer{B: make([]byte, 0, 64+8*n)}
	w.Int(s.Rank)
	w.Bool(s.Implicit)
	w.Bool(s.NonNegative)
	w.Int(s.Iter)
	w.Int(len(s.UserIDs))
	w.Int(len(s.ItemIDs))
	for _, ids := range [][]int64{s.UserIDs, s.ItemIDs} {
		for _, id := range ids {
			w.U64(uint64(id))
		}
	}
	w.F64sN(s.UserFactors)
	w.F64sN(s.ItemFactors)
	w.Bool(s.Biases)
	if s.Biases {
		w.F64(s.Mean)
		w.F64sN(s.UserBiases)
		w.F64sN(s.ItemBiases)
	}
	w.F64(s.Loss)
	return ml.AppendState(nil, stateAlgorithm, stateVersion, w.B), nil
}

// UnmarshalBinary decodes a state MarshalBinary encoded, replacing s. The
// state of another algorithm, of a newer format (an *ml.VersionError), or
// whose fields do not fit together is an error.
func (s *State) UnmarshalBinary(data []byte) error {
	h, payload, err := ml.ParseState(data)
	if err != nil {
		return err
	}
	if h.Algorithm != stateAlgorithm {
		return fmt.Errorf("als: the checkpoint state is of %q, not %q", h.Algorithm, stateAlgorithm)
	}
	if h.PayloadVersion < 1 || h.PayloadVersion > stateVersion {
		return &ml.VersionError{What: stateAlgorithm + " state", Got: h.PayloadVersion, Want: stateVersion}
	}
	r := codec.NewReader(payload, "als: checkpoint state")
	var out State
	out.Rank = r.Int("Rank")
	out.Implicit = r.Bool("Implicit")
	out.NonNegative = r.Bool("NonNegative")
	out.Iter = r.Int("Iter")
	nu, ni := r.Int("users"), r.Int("items")
	if err := r.Err(); err != nil {
		return err
	}
	// Each user and item takes 8 bytes of id and 8·Rank of factor.
	if limit := len(payload) / 8; out.Rank < 1 || out.Rank > limit || nu > limit/(out.Rank+1) || ni > limit/(out.Rank+1) {
		return fmt.Errorf("als: checkpoint state of rank %d with %d users and %d items does not fit its %d bytes", out.Rank, nu, ni, len(payload))
	}
	readIDs := func(n int) []int64 {
		ids := make([]int64, n) // n ≤ len(payload)/8, checked above
		for i := range ids {
			ids[i] = int64(r.U64())
		}
		return ids
	}
	out.UserIDs, out.ItemIDs = readIDs(nu), readIDs(ni)
	out.UserFactors = r.F64sN(nu * out.Rank)
	out.ItemFactors = r.F64sN(ni * out.Rank)
	if h.PayloadVersion >= 2 {
		if out.Biases = r.Bool("Biases"); out.Biases {
			out.Mean = r.F64()
			out.UserBiases, out.ItemBiases = r.F64sN(nu), r.F64sN(ni)
		}
	}
	out.Loss = math.NaN()
	if h.PayloadVersion >= 3 {
		out.Loss = r.F64()
	}
	if err := r.Done(); err != nil {
		return err
	}
	if err := out.check(); err != nil {
		return err
	}
	*s = out
	return nil
}

// resumable reports why st cannot resume a fit of cfg (defaults applied)
// whose ratings have the given ids.
func (st *State) resumable(cfg Config, users, items []int64) error {
	if err := st.check(); err != nil {
		return fmt.Errorf("als: Config.Resume: %w", err)
	}
	switch {
	case st.Rank != cfg.Rank:
		return fmt.Errorf("als: Config.Resume: the state has rank %d, Config.Rank is %d", st.Rank, cfg.Rank)
	case st.Implicit != cfg.Implicit:
		return fmt.Errorf("als: Config.Resume: the state has Implicit %v, Config.Implicit is %v", st.Implicit, cfg.Implicit)
	case st.Biases != cfg.Biases:
		return fmt.Errorf("als: Config.Resume: the state has Biases %v, Config.Biases is %v", st.Biases, cfg.Biases)
	case st.NonNegative != cfg.NonNegative:
		return fmt.Errorf("als: Config.Resume: the state has NonNegative %v, Config.NonNegative is %v", st.NonNegative, cfg.NonNegative)
	case st.Iter > cfg.MaxIter:
		return fmt.Errorf("als: Config.Resume: the state is at iteration %d, beyond Config.MaxIter = %d", st.Iter, cfg.MaxIter)
	}
	for _, side := range []struct {
		name      string
		got, want []int64
	}{{"user", st.UserIDs, users}, {"item", st.ItemIDs, items}} {
		if len(side.got) != len(side.want) {
			return fmt.Errorf("als: Config.Resume: the state has %d %ss, the ratings %d", len(side.got), side.name, len(side.want))
		}
		for p := range side.got {
			if side.got[p] != side.want[p] {
				return fmt.Errorf("als: Config.Resume: %s %d of the state (in increasing order) is id %d, of the ratings id %d",
					side.name, p, side.got[p], side.want[p])
			}
		}
	}
	return nil
}
