package kmeans

import (
	"fmt"
	"slices"

	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/ml/internal/codec"
)

// State is a k-means fit between two Lloyd iterations: what
// Config.Checkpoint receives and Config.Resume continues from. Lloyd
// iterations draw no random numbers (the empty-cluster rule is
// deterministic) and each run's initialisation is seeded by Config.Seed
// and the run's index, so the run in progress, its iteration and centres,
// and the best model of the runs before it are all a fit needs to go on:
// a resumed fit returns the model the uninterrupted fit returns, bit for
// bit.
//
// A State is a plain value; the one Checkpoint receives is its own copy.
type State struct {
	K, Dim int
	// Init is the initialisation (Config.Init with its default applied),
	// or "initial-centres" for a fit from Config.InitialCentres; Seed is
	// Config.Seed. Both decide the starting centres of the runs after Run.
	Init string
	Seed uint64
	// Run is the run in progress (0-based), Iter the Lloyd iterations it
	// has completed and Centres (K×Dim, row-major) its centres after them.
	Run, Iter int
	Centres   []float64
	// Best is the model of lowest inertia among runs 0 to Run−1 (without
	// its Silhouette, which Fit computes for the model it returns), nil
	// when Run is 0.
	Best *Model
}

// The state's encoding is ml.AppendState's envelope, algorithm "kmeans",
// around the payload (version 1; field encodings as in package
// ml/internal/codec):
//
//	K, Dim int | Init string | Seed uint64 | Run, Iter int | Centres K×Dim float64
//	| has Best bool, then Best's Iterations int | Converged bool | Inertia float64
//	| Centres K×Dim float64 | Sizes K × int64
const (
	stateAlgorithm = "kmeans"
	stateVersion   = 1
	initGiven      = "initial-centres"
)

// initName is what a State records of the initialisation of cfg.
func initName(cfg Config) string {
	if cfg.InitialCentres != nil {
		return initGiven
	}
	return cfg.Init
}

// newState copies what a fit needs to go on after iteration iter of run.
func newState(cfg Config, d, run, iter int, c []float64, best *Model) *State {
	return &State{K: cfg.K, Dim: d, Init: initName(cfg), Seed: cfg.Seed, Run: run, Iter: iter, Centres: slices.Clone(c), Best: runModel(best)}
}

// runModel copies what a state keeps of a finished run's model (all but
// the Silhouette); nil stays nil.
func runModel(m *Model) *Model {
	if m == nil {
		return nil
	}
	return &Model{K: m.K, Dim: m.Dim, Centres: slices.Clone(m.Centres), Sizes: slices.Clone(m.Sizes),
		Inertia: m.Inertia, Iterations: m.Iterations, Converged: m.Converged}
}

func (s *State) check() error {
	switch {
	case s.K < 1 || s.Dim < 1 || len(s.Centres) != s.K*s.Dim:
		return fmt.Errorf("kmeans: checkpoint state of K = %d, Dim = %d has %d centre values", s.K, s.Dim, len(s.Centres))
	case len(s.Init) > 255:
		return fmt.Errorf("kmeans: checkpoint state: Init of %d bytes", len(s.Init))
	case s.Run < 0 || s.Iter < 0:
		return fmt.Errorf("kmeans: checkpoint state at run %d, iteration %d", s.Run, s.Iter)
	case (s.Best != nil) != (s.Run > 0):
		return fmt.Errorf("kmeans: checkpoint state at run %d (0-based) has a best model of earlier runs: %v", s.Run, s.Best != nil)
	}
	if b := s.Best; b != nil {
		if b.K != s.K || b.Dim != s.Dim || len(b.Centres) != s.K*s.Dim || len(b.Sizes) != s.K || b.Iterations < 0 {
			return fmt.Errorf("kmeans: checkpoint state: best model of K = %d, Dim = %d, %d centre values, %d sizes, %d iterations",
				b.K, b.Dim, len(b.Centres), len(b.Sizes), b.Iterations)
		}
	}
	return nil
}

// MarshalBinary encodes the state (see the format above).
func (s *State) MarshalBinary() ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	n := len(s.Centres)
	w := codec.Writer{B: make([]byte, 0, 64+len(s.Init)+8*(2*n+s.K))}
	w.Int(s.K)
	w.Int(s.Dim)
	w.String(s.Init)
	w.U64(s.Seed)
	w.Int(s.Run)
	w.Int(s.Iter)
	w.F64sN(s.Centres)
	w.Bool(s.Best != nil)
	if b := s.Best; b != nil {
		w.Int(b.Iterations)
		w.Bool(b.Converged)
		w.F64(b.Inertia)
		w.F64sN(b.Centres)
		for _, v := range b.Sizes {
			w.U64(uint64(v))
		}
	}
	return ml.AppendState(nil, stateAlgorithm, stateVersion, w.B), nil
}

// UnmarshalBinary decodes a state MarshalBinary encoded, replacing s. The
// state of another algorithm, of a newer format (an *ml.VersionError), or
// whose fields do not fit together is an error.
func (s *State) UnmarshalBinary(data []byte) error {
	payload, err := ml.ParseStateOf(data, stateAlgorithm, stateVersion)
	if err != nil {
		return err
	}
	r := codec.NewReader(payload, "kmeans: checkpoint state")
	var out State
	out.K = r.Int("K")
	out.Dim = r.Int("Dim")
	if err := r.Err(); err != nil {
		return err
	}
	if out.K < 1 || out.Dim < 1 || out.K > len(payload)/8 || out.Dim > len(payload)/8/out.K {
		return fmt.Errorf("kmeans: checkpoint state of K = %d, Dim = %d does not fit its %d bytes", out.K, out.Dim, len(payload))
	}
	out.Init = r.String()
	out.Seed = r.U64()
	out.Run = r.Int("Run")
	out.Iter = r.Int("Iter")
	out.Centres = r.F64sN(out.K * out.Dim)
	if r.Bool("has best") {
		b := &Model{K: out.K, Dim: out.Dim}
		b.Iterations = r.Int("best iterations")
		b.Converged = r.Bool("best converged")
		b.Inertia = r.F64()
		b.Centres = r.F64sN(out.K * out.Dim)
		b.Sizes = make([]int64, out.K) // K ≤ len(payload)/8, checked above
		for i := range b.Sizes {
			b.Sizes[i] = int64(r.U64())
		}
		out.Best = b
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
// on d features.
func (st *State) resumable(cfg Config, d int) error {
	if err := st.check(); err != nil {
		return fmt.Errorf("kmeans: Config.Resume: %w", err)
	}
	switch init := initName(cfg); {
	case st.K != cfg.K:
		return fmt.Errorf("kmeans: Config.Resume: the state has K = %d, Config.K is %d", st.K, cfg.K)
	case st.Dim != d:
		return fmt.Errorf("kmeans: Config.Resume: the state has %d features, the dataset %d", st.Dim, d)
	case st.Init != init:
		return fmt.Errorf("kmeans: Config.Resume: the state's initialisation is %q, this fit's %q", st.Init, init)
	case st.Seed != cfg.Seed:
		return fmt.Errorf("kmeans: Config.Resume: the state was taken with Seed %d, Config.Seed is %d", st.Seed, cfg.Seed)
	case st.Run >= cfg.Runs:
		return fmt.Errorf("kmeans: Config.Resume: the state is in run %d (counting from 1), but Config.Runs is %d", st.Run+1, cfg.Runs)
	case st.Iter > cfg.MaxIter:
		return fmt.Errorf("kmeans: Config.Resume: the state is at iteration %d, beyond Config.MaxIter = %d", st.Iter, cfg.MaxIter)
	}
	return nil
}
