package mlp

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

// sineData is a small regression problem: y = sin(3a) + b².
func sineData(t *testing.T, e *cluster.Engine) *cluster.Dataset {
	r := rand.New(rand.NewPCG(4, 4))
	const n = 600
	x, y := make([]float64, 2*n), make([]float64, n)
	for i := range n {
		a, b := 2*r.Float64()-1, 2*r.Float64()-1
		x[2*i], x[2*i+1] = a, b
		y[i] = math.Sin(3*a) + b*b
	}
	ds, err := e.FromDense(context.Background(), "sine", x, n, 2, y, nil, 3)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// TestResumeIsBitIdentical: a run resumed from its checkpoints, after an
// encode and decode, ends with the uninterrupted run's weights, loss,
// iteration and epoch counts bit for bit, and reports the same iterations
// after the checkpoint's.
func TestResumeIsBitIdentical(t *testing.T) {
	s := digits(t)
	ctx := context.Background()
	e := newEngine(t, 2)
	dig, err := e.FromDense(ctx, "digits", s.X, s.Rows, s.Cols, s.Y, nil, 4)
	if err != nil {
		t.Fatal(err)
	}
	sine := sineData(t, e)
	cases := []struct {
		name string
		ds   *cluster.Dataset
		cfg  Config
	}{
		{"adam", dig, Config{Hidden: []int{16}, BatchSize: 300, Epochs: 4, L2: 1e-3, Tol: -1, Seed: 3}},
		{"sgd-momentum", dig, Config{Hidden: []int{16}, Optimizer: SGD, Momentum: 0.9, LearningRate: 0.05, BatchSize: 300, Epochs: 4, Tol: -1, Seed: 4}},
		// Stops by Tol after 1 + Patience epochs: the states carry the
		// best epoch loss and the count of epochs without improvement.
		{"tol-patience", dig, Config{Hidden: []int{8}, BatchSize: 600, Epochs: 50, Tol: 10, Patience: 3, Seed: 5}},
		{"max-iter-mid-epoch", dig, Config{Hidden: []int{8}, BatchSize: 600, Epochs: 50, MaxIter: 11, Tol: -1, Seed: 6}},
		{"regression", sine, Config{Hidden: []int{12}, Activation: Tanh, Output: Identity, BatchSize: 70, Epochs: 3, LearningRate: 5e-3, Seed: 7}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var fullIters []int
			cfg := c.cfg
			cfg.Progress = func(p Progress) { fullIters = append(fullIters, p.Iteration) }
			full, err := Train(ctx, e, c.ds, cfg)
			if err != nil {
				t.Fatal(err)
			}
			var states []*State
			cfg = c.cfg
			cfg.CheckpointEvery = 3
			cfg.Checkpoint = func(st *State) error { states = append(states, st); return nil }
			withCP, err := Train(ctx, e, c.ds, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !mltest.BitsEqual(withCP.Model.Params, full.Model.Params) {
				t.Error("checkpointing changed the weights")
			}
			if want := (full.Iterations - 1) / 3; len(states) != want {
				t.Errorf("%d checkpoints in %d iterations, want %d", len(states), full.Iterations, want)
			}
			for _, st := range states {
				t.Run(fmt.Sprintf("from=%d", st.Iteration), func(t *testing.T) {
					var iters []int
					cfg := c.cfg
					cfg.Resume = mltest.RoundTrip(t, st)
					cfg.Progress = func(p Progress) { iters = append(iters, p.Iteration) }
					got, err := Train(ctx, e, c.ds, cfg)
					if err != nil {
						t.Fatal(err)
					}
					if !mltest.BitsEqual(got.Model.Params, full.Model.Params) || math.Float64bits(got.Loss) != math.Float64bits(full.Loss) ||
						got.Iterations != full.Iterations || got.Epochs != full.Epochs || got.Converged != full.Converged {
						t.Errorf("resumed: %d iterations, %d epochs, loss %v, converged %v; uninterrupted: %d, %d, %v, %v (or the weights differ)",
							got.Iterations, got.Epochs, got.Loss, got.Converged, full.Iterations, full.Epochs, full.Loss, full.Converged)
					}
					if want := fullIters[st.Iteration:]; !slices.Equal(iters, want) {
						t.Errorf("the resumed run reported iterations %v, want %v", iters, want)
					}
				})
			}
		})
	}
}

func TestResumeRejectsMismatch(t *testing.T) {
	s := digits(t)
	ctx := context.Background()
	e := newEngine(t, 2)
	ds, err := e.FromDense(ctx, "digits", s.X, s.Rows, s.Cols, s.Y, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	fewer, err := e.FromDense(ctx, "fewer digits", s.X[:1000*s.Cols], 1000, s.Cols, s.Y[:1000], nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	base := Config{Hidden: []int{8}, BatchSize: 600, Epochs: 3, Seed: 1}
	var st *State
	c := base
	c.CheckpointEvery = 2
	c.Checkpoint = func(s *State) error { st = s; return nil }
	if _, err := Train(ctx, e, ds, c); err != nil {
		t.Fatal(err)
	}
	with := func(f func(*Config)) Config { c := base; f(&c); return c }
	cases := []struct {
		name string
		ds   *cluster.Dataset
		cfg  Config
		want string
	}{
		{"hidden", ds, with(func(c *Config) { c.Hidden = []int{9} }), "layer sizes are [64 8 10], this run's [64 9 10]"},
		{"activation", ds, with(func(c *Config) { c.Activation = Tanh }), `activation is "relu", Config.Activation "tanh"`},
		{"optimizer", ds, with(func(c *Config) { c.Optimizer = SGD }), `optimiser is "adam", Config.Optimizer "sgd"`},
		{"seed", ds, with(func(c *Config) { c.Seed = 2 }), "taken with Seed 1, Config.Seed is 2"},
		{"rows", fewer, base, "trained on 1797 rows, the dataset has 1000"},
		{"batch", ds, with(func(c *Config) { c.BatchSize = 500 }), "mini-batches have 600 rows, this run's 500"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.Resume = mltest.RoundTrip(t, st)
			_, err := Train(ctx, e, c.ds, c.cfg)
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
	model, err := AsModel(&Model{Sizes: []int{1, 2}, Activation: ReLU, Output: Softmax, Params: make([]float64, 4)}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var ve *ml.VersionError
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"another algorithm", ml.AppendState(nil, "als", 1, payload), `the checkpoint state is of "als", not "mlp"`},
		{"a model", model, "not an encoded checkpoint state"},
		{"truncated", good[:len(good)-1], "truncated"},
		{"trailing", ml.AppendState(nil, "mlp", 1, append(slices.Clone(payload), 1)), "unexpected bytes"},
		{"newer", ml.AppendState(nil, "mlp", 2, payload), "mlp state encoding version 2 is unknown"},
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

func TestCheckpointErrorStopsTraining(t *testing.T) {
	s := digits(t)
	ctx := context.Background()
	e := newEngine(t, 2)
	ds, err := e.FromDense(ctx, "digits", s.X, s.Rows, s.Cols, s.Y, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("store is down")
	calls := 0
	_, err = Train(ctx, e, ds, Config{Hidden: []int{8}, BatchSize: 600, Epochs: 3,
		Checkpointing: ml.Checkpointing[State]{CheckpointEvery: 2, Checkpoint: func(*State) error { calls++; return boom }}})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "checkpoint at iteration 2") || calls != 1 {
		t.Fatalf("error %v after %d calls, want the callback's at iteration 2, after one call", err, calls)
	}
	_, err = Train(ctx, e, ds, Config{Hidden: []int{8}, BatchSize: 600, Epochs: 3,
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
		if _, err := Train(ctx, e, ds, c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want one saying %q", err, c.want)
		}
	}
}

// FuzzStateUnmarshalBinary: decoding never panics, and a state that
// decodes encodes back to the same bytes.
func FuzzStateUnmarshalBinary(f *testing.F) {
	for _, st := range []*State{
		{Sizes: []int{1, 2}, Activation: ReLU, Output: Softmax, Optimizer: Adam, Seed: 1, Rows: 10, BatchSize: 5, Iteration: 3,
			Params: []float64{1, 2, 3, 4}, m: []float64{0, 1, 2, 3}, v: []float64{4, 5, 6, math.NaN()}, t: 3, best: math.Inf(1)},
		{Sizes: []int{2, 1}, Activation: Tanh, Output: Identity, Optimizer: SGD, Rows: 4, BatchSize: 4, Iteration: 9,
			Params: []float64{1, 2, 3}, v: []float64{-1, 0, 1}, loss: 0.5, epochs: 2, epochLoss: 1, epochSteps: 1, best: 0.4, stale: 1},
	} {
		b, err := st.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)-9])
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
