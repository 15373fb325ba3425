package als

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/ml/internal/mltest"
)

// TestResumeIsBitIdentical: a fit resumed from any of its checkpoints,
// after an encode and decode, ends with the uninterrupted fit's factors
// bit for bit, for explicit, implicit and non-negative ALS.
func TestResumeIsBitIdentical(t *testing.T) {
	rs, _, _ := lowRank(300, 200, 25, 4, 0.3, 11)
	ctx := context.Background()
	e := newEngine(t, 2)
	for _, cfg := range []Config{
		{Rank: 5, MaxIter: 10, Seed: 3},
		{Rank: 5, MaxIter: 10, Seed: 3, Implicit: true, Alpha: 2},
		{Rank: 4, MaxIter: 8, Seed: 3, NonNegative: true, KeepRated: true},
		{Rank: 4, MaxIter: 8, Seed: 3, Biases: true},
	} {
		t.Run(fmt.Sprintf("implicit=%v/nonneg=%v/biases=%v", cfg.Implicit, cfg.NonNegative, cfg.Biases), func(t *testing.T) {
			full, err := Fit(ctx, e, rs, cfg)
			if err != nil {
				t.Fatal(err)
			}
			var states []*State
			c := cfg
			c.CheckpointEvery = 3
			c.Checkpoint = func(st *State) error { states = append(states, st); return nil }
			withCP, err := Fit(ctx, e, rs, c)
			if err != nil {
				t.Fatal(err)
			}
			if !mltest.BitsEqual(withCP.UserFactors, full.UserFactors) || !mltest.BitsEqual(withCP.ItemFactors, full.ItemFactors) {
				t.Error("checkpointing changed the factors")
			}
			var iters []int
			for _, st := range states {
				iters = append(iters, st.Iter)
			}
			if want := []int{3, 6, 9}[:(cfg.MaxIter-1)/3]; !slices.Equal(iters, want) {
				t.Errorf("checkpoints at iterations %v, want %v", iters, want)
			}
			for _, st := range states {
				c := cfg
				c.Resume = mltest.RoundTrip(t, st)
				got, err := Fit(ctx, e, rs, c)
				if err != nil {
					t.Fatal(err)
				}
				if !mltest.BitsEqual(got.UserFactors, full.UserFactors) || !mltest.BitsEqual(got.ItemFactors, full.ItemFactors) ||
					!slices.Equal(got.UserIDs, full.UserIDs) || !slices.Equal(got.ItemIDs, full.ItemIDs) ||
					!slices.Equal(got.RatedItems, full.RatedItems) ||
					!mltest.BitsEqual(got.UserBiases, full.UserBiases) || !mltest.BitsEqual(got.ItemBiases, full.ItemBiases) {
					t.Errorf("resumed from iteration %d: the model differs from the uninterrupted fit's", st.Iter)
				}
			}
		})
	}
}

func TestResumeRejectsMismatch(t *testing.T) {
	rs, _, _ := lowRank(120, 80, 15, 3, 0.3, 12)
	ctx := context.Background()
	e := newEngine(t, 2)
	base := Config{Rank: 3, MaxIter: 6, Seed: 1}
	var st *State
	c := base
	c.CheckpointEvery = 2
	c.Checkpoint = func(s *State) error { st = s; return nil }
	if _, err := Fit(ctx, e, rs, c); err != nil {
		t.Fatal(err)
	}
	// The same users and items, one user renamed; and one user fewer.
	renamed := slices.Clone(rs)
	fewer := slices.DeleteFunc(slices.Clone(rs), func(r Rating) bool { return r.User == 0 })
	for i := range renamed {
		if renamed[i].User == 3 {
			renamed[i].User = 4
		}
	}
	with := func(f func(*Config)) Config { c := base; f(&c); return c }
	cases := []struct {
		name string
		rs   []Rating
		cfg  Config
		want string
	}{
		{"rank", rs, with(func(c *Config) { c.Rank = 4 }), "the state has rank 3, Config.Rank is 4"},
		{"implicit", rs, with(func(c *Config) { c.Implicit = true }), "the state has Implicit false, Config.Implicit is true"},
		{"nonneg", rs, with(func(c *Config) { c.NonNegative = true }), "NonNegative false, Config.NonNegative is true"},
		{"biases", rs, with(func(c *Config) { c.Biases = true }), "the state has Biases false, Config.Biases is true"},
		{"max iter", rs, with(func(c *Config) { c.MaxIter = 3 }), "at iteration 4, beyond Config.MaxIter = 3"},
		{"users", fewer, base, "the state has 120 users, the ratings 119"},
		{"ids", renamed, base, "user 1 of the state (in increasing order) is id 3, of the ratings id 4"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.Resume = mltest.RoundTrip(t, st)
			_, err := Fit(ctx, e, c.rs, c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one saying %q", err, c.want)
			}
		})
	}

	good, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	_, payload, err := ml.ParseState(good)
	if err != nil {
		t.Fatal(err)
	}
	var ve *ml.VersionError
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"another algorithm", ml.AppendState(nil, "kmeans", 1, payload), `the checkpoint state is of "kmeans", not "als"`},
		{"truncated", good[:len(good)-1], "truncated"},
		{"trailing", ml.AppendState(nil, "als", 1, append(slices.Clone(payload), 1)), "unexpected bytes"},
		{"newer", ml.AppendState(nil, "als", 4, payload), "als state encoding version 4 is unknown"},
	} {
		var s State
		err := s.UnmarshalBinary(c.data)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.want)
		}
		if c.name == "newer" && !errors.As(err, &ve) {
			t.Errorf("%s: %v is not an *ml.VersionError", c.name, err)
		}
	}
}

func TestCheckpointErrorStopsTheFit(t *testing.T) {
	rs, _, _ := lowRank(100, 60, 10, 3, 0.3, 13)
	ctx := context.Background()
	e := newEngine(t, 2)
	boom := errors.New("store is down")
	calls := 0
	_, err := Fit(ctx, e, rs, Config{Rank: 3, MaxIter: 6,
		Checkpointing: ml.Checkpointing[State]{CheckpointEvery: 2, Checkpoint: func(*State) error { calls++; return boom }}})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "checkpoint at iteration 2") || calls != 1 {
		t.Fatalf("error %v after %d calls, want the callback's at iteration 2, after one call", err, calls)
	}
	_, err = Fit(ctx, e, rs, Config{Rank: 3, MaxIter: 6,
		Checkpointing: ml.Checkpointing[State]{Checkpoint: func(*State) error { t.Error("Checkpoint called with CheckpointEvery 0"); return nil }}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Checkpointing: ml.Checkpointing[State]{CheckpointEvery: -1}}, "CheckpointEvery must be >= 0"},
		{Config{Checkpointing: ml.Checkpointing[State]{CheckpointEvery: 2}}, "Config.Checkpoint is nil"},
	} {
		if _, err := Fit(ctx, e, rs, c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want one saying %q", err, c.want)
		}
	}
}

// FuzzStateUnmarshalBinary: decoding never panics, and a state that
// decodes encodes back to the same bytes.
func FuzzStateUnmarshalBinary(f *testing.F) {
	for _, st := range []*State{
		{Rank: 1, UserIDs: []int64{1}, ItemIDs: []int64{-5}, Iter: 2, UserFactors: []float64{0.5}, ItemFactors: []float64{math.NaN()}},
		{Rank: 2, Implicit: true, NonNegative: true, UserIDs: []int64{1, 2}, ItemIDs: []int64{7}, Iter: 9,
			UserFactors: []float64{1, 2, 3, 4}, ItemFactors: []float64{5, 6}},
	} {
		b, err := st.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)-3])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var st State
		if err := st.UnmarshalBinary(data); err != nil {
			return
		}
		again, err := st.MarshalBinary()
		if err != nil {
			t.Fatalf("a decoded state does not encode: %v", err)
		}
		if !slices.Equal(again, data) {
			t.Fatal("a decoded state encodes to other bytes")
		}
	})
}
