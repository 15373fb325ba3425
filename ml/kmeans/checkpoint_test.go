package kmeans

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/ml/internal/mltest"
)

// overlapping returns n rows with no cluster structure (a skewed
// Gaussian cloud), on which Lloyd runs many iterations, and labels 0.
func overlapping(n, dim int, seed uint64) (x, y []float64) {
	rng := rand.New(rand.NewPCG(seed, 2))
	x, y = make([]float64, n*dim), make([]float64, n)
	for i := range x {
		v := rng.NormFloat64()
		x[i] = v * float64(1+i%dim) * (1 + 0.5*v)
	}
	return x, y
}

func sameModel(t *testing.T, what string, got, want *Model) {
	t.Helper()
	if !mltest.BitsEqual(got.Centres, want.Centres) || math.Float64bits(got.Inertia) != math.Float64bits(want.Inertia) ||
		math.Float64bits(got.Silhouette) != math.Float64bits(want.Silhouette) || !slices.Equal(got.Sizes, want.Sizes) ||
		got.Iterations != want.Iterations || got.Converged != want.Converged {
		t.Errorf("%s: inertia %v, %d iterations, converged %v; want %v, %d, %v (or centres, sizes, silhouette differ)",
			what, got.Inertia, got.Iterations, got.Converged, want.Inertia, want.Iterations, want.Converged)
	}
}

// TestResumeIsBitIdentical: a fit resumed from any of its checkpoints,
// after an encode and decode, returns the uninterrupted fit's model bit
// for bit, for every initialisation and with several runs.
func TestResumeIsBitIdentical(t *testing.T) {
	const n, dim, k = 1500, 2, 7
	x, y := overlapping(n, dim, 5)
	ctx := context.Background()
	e := newEngine(t, 2)
	dense, err := e.FromDense(ctx, "blobs", x, n, dim, y, nil, 4)
	if err != nil {
		t.Fatal(err)
	}
	sparse, err := e.FromBlocks(ctx, "blobs sparse", sparseBlocks(x, y, dim, 3))
	if err != nil {
		t.Fatal(err)
	}
	given := slices.Clone(x[:k*dim])
	cases := []struct {
		name string
		ds   *cluster.Dataset
		cfg  Config
	}{
		{"k-means||/runs=3", dense, Config{K: k, Seed: 3, Runs: 3, MaxIter: 25, Tol: -1}},
		{"k-means++/runs=2", dense, Config{K: k, Init: InitPlusPlus, Seed: 4, Runs: 2, MaxIter: 25, Tol: -1}},
		{"random/runs=3", dense, Config{K: k, Init: InitRandom, Seed: 5, Runs: 3, MaxIter: 25, Tol: 1e-9}},
		{"initial-centres", dense, Config{K: k, InitialCentres: given, MaxIter: 25, Tol: -1}},
		{"sparse/k-means||/runs=2", sparse, Config{K: k, Seed: 6, Runs: 2, MaxIter: 25, Tol: -1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			full, err := Fit(ctx, e, c.ds, c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			var states []*State
			cfg := c.cfg
			cfg.CheckpointEvery = 3
			cfg.Checkpoint = func(st *State) error { states = append(states, st); return nil }
			withCP, err := Fit(ctx, e, c.ds, cfg)
			if err != nil {
				t.Fatal(err)
			}
			sameModel(t, "fit with checkpoints", withCP, full)
			if len(states) < 2 {
				t.Fatalf("%d checkpoints", len(states))
			}
			runs := map[int]bool{}
			for _, st := range states {
				runs[st.Run] = true
				if st.Iter%3 != 0 || st.Iter == 0 || st.Iter >= c.cfg.MaxIter {
					t.Errorf("checkpoint at iteration %d of run %d", st.Iter, st.Run)
				}
			}
			if len(runs) < max(c.cfg.Runs, 1) {
				t.Errorf("checkpoints in runs %v of %d", runs, c.cfg.Runs)
			}
			for _, st := range states {
				t.Run(fmt.Sprintf("run=%d/iter=%d", st.Run, st.Iter), func(t *testing.T) {
					cfg := c.cfg
					cfg.Resume = mltest.RoundTrip(t, st)
					got, err := Fit(ctx, e, c.ds, cfg)
					if err != nil {
						t.Fatal(err)
					}
					sameModel(t, "resumed fit", got, full)
					if b := cfg.Resume.Best; b != nil && math.Float64bits(b.Silhouette) != 0 {
						t.Error("Fit modified the state's best model")
					}
				})
			}
		})
	}
}

func TestResumeRejectsMismatch(t *testing.T) {
	const n, dim, k = 600, 4, 4
	x, y := overlapping(n, dim, 6)
	ctx := context.Background()
	e := newEngine(t, 2)
	ds, err := e.FromDense(ctx, "blobs", x, n, dim, y, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	x3 := make([]float64, n*3)
	for i := range n {
		copy(x3[i*3:], x[i*dim:i*dim+3])
	}
	ds3, err := e.FromDense(ctx, "narrow", x3, n, 3, y, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	base := Config{K: k, Seed: 1, Runs: 2, MaxIter: 20, Tol: -1}
	var st *State
	cfg := base
	cfg.CheckpointEvery = 2
	cfg.Checkpoint = func(s *State) error {
		if s.Run == 1 && st == nil {
			st = s
		}
		return nil
	}
	if _, err := Fit(ctx, e, ds, cfg); err != nil {
		t.Fatal(err)
	}
	if st == nil {
		t.Fatal("no checkpoint in the second run")
	}
	with := func(f func(*Config)) Config { c := base; f(&c); return c }
	cases := []struct {
		name string
		ds   *cluster.Dataset
		cfg  Config
		want string
	}{
		{"K", ds, with(func(c *Config) { c.K = 3 }), "the state has K = 4, Config.K is 3"},
		{"features", ds3, base, "the state has 4 features, the dataset 3"},
		{"init", ds, with(func(c *Config) { c.Init = InitRandom }), `initialisation is "k-means||", this fit's "random"`},
		{"seed", ds, with(func(c *Config) { c.Seed = 2 }), "taken with Seed 1, Config.Seed is 2"},
		{"runs", ds, with(func(c *Config) { c.Runs = 1 }), "in run 2 (counting from 1), but Config.Runs is 1"},
		{"max iter", ds, with(func(c *Config) { c.MaxIter = 1 }), "beyond Config.MaxIter = 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.Resume = mltest.RoundTrip(t, st)
			_, err := Fit(ctx, e, c.ds, c.cfg)
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
		{"another algorithm", ml.AppendState(nil, "gd", 1, payload), `the checkpoint state is of "gd", not "kmeans"`},
		{"a model", mustMarshal(t, &Model{K: 1, Dim: 1, Centres: []float64{0}, Sizes: []int64{1}}), "not an encoded checkpoint state"},
		{"truncated", good[:len(good)-1], "truncated"},
		{"trailing", ml.AppendState(nil, "kmeans", 1, append(slices.Clone(payload), 1)), "unexpected bytes"},
		{"newer", ml.AppendState(nil, "kmeans", 2, payload), "kmeans state encoding version 2 is unknown"},
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

func mustMarshal(t *testing.T, m *Model) []byte {
	t.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCheckpointErrorStopsTheFit(t *testing.T) {
	const n, dim, k = 600, 4, 4
	x, y := overlapping(n, dim, 7)
	ctx := context.Background()
	e := newEngine(t, 2)
	ds, err := e.FromDense(ctx, "blobs", x, n, dim, y, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("store is down")
	calls := 0
	_, err = Fit(ctx, e, ds, Config{K: k, Seed: 1, Runs: 2, MaxIter: 20, Tol: -1,
		Checkpointing: ml.Checkpointing[State]{CheckpointEvery: 2, Checkpoint: func(*State) error { calls++; return boom }}})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "checkpoint at iteration 2") || calls != 1 {
		t.Fatalf("error %v after %d calls, want the callback's at iteration 2, after one call", err, calls)
	}

	_, err = Fit(ctx, e, ds, Config{K: k, Seed: 1, MaxIter: 20, Tol: -1,
		Checkpointing: ml.Checkpointing[State]{Checkpoint: func(*State) error { t.Error("Checkpoint called with CheckpointEvery 0"); return nil }}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{K: k, Checkpointing: ml.Checkpointing[State]{CheckpointEvery: -1}}, "CheckpointEvery must be >= 0"},
		{Config{K: k, Checkpointing: ml.Checkpointing[State]{CheckpointEvery: 2}}, "Config.Checkpoint is nil"},
	} {
		if _, err := Fit(ctx, e, ds, c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want one saying %q", err, c.want)
		}
	}
}

// FuzzStateUnmarshalBinary: decoding never panics, and a state that
// decodes encodes back to the same bytes.
func FuzzStateUnmarshalBinary(f *testing.F) {
	best := &Model{K: 2, Dim: 2, Centres: []float64{1, 2, 3, 4}, Sizes: []int64{5, -1}, Inertia: 7, Iterations: 3, Converged: true}
	for _, st := range []*State{
		{K: 1, Dim: 1, Init: InitParallel, Centres: []float64{0.5}, Iter: 3},
		{K: 2, Dim: 2, Init: InitRandom, Seed: 9, Run: 2, Iter: 6, Centres: []float64{1, 2, 3, math.NaN()}, Best: best},
	} {
		b, err := st.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)-5])
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
