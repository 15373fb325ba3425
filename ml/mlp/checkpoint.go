package mlp

import (
	"fmt"
	"slices"

	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/ml/internal/codec"
)

// State is a training run between two iterations: what Config.Checkpoint
// receives and Config.Resume continues from. Each iteration's mini-batch
// is drawn from a permutation seeded by (Config.Seed, epoch, partition),
// and the epoch and the position in it follow from the iteration number
// and the batch size, so no generator state needs saving: the weights, the
// optimiser's moments and step count, and the epoch's running loss and the
// Tol test's counters are the whole state, and a resumed run ends bit for
// bit where the uninterrupted run does.
//
// A State is a plain value; the one Checkpoint receives is its own copy.
type State struct {
	// Sizes, Activation and Output describe the network, as in Model.
	Sizes      []int
	Activation Activation
	Output     Output
	// Optimizer and Seed are the run's Config.Optimizer and Config.Seed.
	Optimizer Optimizer
	Seed      uint64
	// Rows is the number of rows trained on and BatchSize the rows of each
	// mini-batch (Config.BatchSize, at most Rows): together they fix how
	// iterations fall into epochs.
	Rows, BatchSize int
	// Iteration is the number of iterations completed; Params are the
	// weights after it (Model.Params layout).
	Iteration int
	Params    []float64

	m, v       []float64 // Adam's moments; SGD: v is the velocity and m is nil
	t          int       // Adam's step count
	loss       float64   // Result.Loss so far
	epochs     int       // Result.Epochs so far
	epochLoss  float64   // sum of the step losses of the epoch in progress
	epochSteps int       // and their number
	best       float64   // lowest mean epoch loss (the Tol test)
	stale      int       // epochs since it last improved by Tol
}

// The state's encoding is ml.AppendState's envelope, algorithm "mlp",
// around the payload (version 1; field encodings as in package
// ml/internal/codec):
//
//	layers uint32, then layers × uint32 Sizes | Activation, Output, Optimizer string
//	| Seed uint64 | Rows, BatchSize, Iteration int | params int, then Params float64
//	| m []float64 (empty for SGD) | v params × float64 | t int
//	| loss float64 | epochs int | epochLoss float64 | epochSteps int | best float64 | stale int
const (
	stateAlgorithm = "mlp"
	stateVersion   = 1
)

func (s *State) check() error {
	net := Model{Sizes: s.Sizes, Activation: s.Activation, Output: s.Output, Params: s.Params}
	if err := net.Validate(); err != nil {
		return fmt.Errorf("mlp: checkpoint state: %w", err)
	}
	n := len(s.Params)
	switch {
	case s.Optimizer != Adam && s.Optimizer != SGD:
		return fmt.Errorf("mlp: checkpoint state of optimiser %q", s.Optimizer)
	case s.Rows < 1 || s.BatchSize < 1 || s.BatchSize > s.Rows:
		return fmt.Errorf("mlp: checkpoint state of %d rows in mini-batches of %d", s.Rows, s.BatchSize)
	case s.Iteration < 0 || s.epochs < 0 || s.epochSteps < 0 || s.stale < 0 || s.t < 0:
		return fmt.Errorf("mlp: checkpoint state with a negative count (iteration %d, epochs %d, epoch steps %d, stale %d, t %d)",
			s.Iteration, s.epochs, s.epochSteps, s.stale, s.t)
	case len(s.v) != n:
		return fmt.Errorf("mlp: checkpoint state: %d optimiser values for %d parameters", len(s.v), n)
	case s.Optimizer == Adam && len(s.m) != n:
		return fmt.Errorf("mlp: adam checkpoint state: %d first moments for %d parameters", len(s.m), n)
	case s.Optimizer == SGD && (s.m != nil || s.t != 0):
		return fmt.Errorf("mlp: sgd checkpoint state holds Adam's moments")
	}
	return nil
}

// MarshalBinary encodes the state (see the format above).
func (s *State) MarshalBinary() ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	w := codec.Writer{B: make([]byte, 0, 128+4*len(s.Sizes)+8*(len(s.Params)+len(s.m)+len(s.v)))}
	w.U32(uint32(len(s.Sizes)))
	for _, u := range s.Sizes {
		w.U32(uint32(u))
	}
	w.String(string(s.Activation))
	w.String(string(s.Output))
	w.String(string(s.Optimizer))
	w.U64(s.Seed)
	w.Int(s.Rows)
	w.Int(s.BatchSize)
	w.Int(s.Iteration)
	w.Int(len(s.Params))
	w.F64sN(s.Params)
	w.F64s(s.m)
	w.F64sN(s.v)
	w.Int(s.t)
	w.F64(s.loss)
	w.Int(s.epochs)
	w.F64(s.epochLoss)
	w.Int(s.epochSteps)
	w.F64(s.best)
	w.Int(s.stale)
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
	r := codec.NewReader(payload, "mlp: checkpoint state")
	var out State
	layers := int(r.U32())
	for i := 0; i < layers && r.Err() == nil; i++ {
		out.Sizes = append(out.Sizes, int(r.U32()))
	}
	out.Activation = Activation(r.String())
	out.Output = Output(r.String())
	out.Optimizer = Optimizer(r.String())
	out.Seed = r.U64()
	out.Rows = r.Int("Rows")
	out.BatchSize = r.Int("BatchSize")
	out.Iteration = r.Int("Iteration")
	n := r.Int("parameters")
	out.Params = r.F64sN(n)
	out.m = r.F64s()
	out.v = r.F64sN(n)
	out.t = r.Int("t")
	out.loss = r.F64()
	out.epochs = r.Int("epochs")
	out.epochLoss = r.F64()
	out.epochSteps = r.Int("epoch steps")
	out.best = r.F64()
	out.stale = r.Int("stale")
	if err := r.Done(); err != nil {
		return err
	}
	if err := out.check(); err != nil {
		return err
	}
	*s = out
	return nil
}

// resumable reports why st cannot resume a run of cfg (defaults applied)
// with the given layer sizes on rows rows in mini-batches of batch.
func (st *State) resumable(cfg Config, sizes []int, rows, batch int) error {
	if err := st.check(); err != nil {
		return fmt.Errorf("mlp: Config.Resume: %w", err)
	}
	switch {
	case !slices.Equal(st.Sizes, sizes):
		return fmt.Errorf("mlp: Config.Resume: the state's layer sizes are %v, this run's %v", st.Sizes, sizes)
	case st.Activation != cfg.Activation:
		return fmt.Errorf("mlp: Config.Resume: the state's activation is %q, Config.Activation %q", st.Activation, cfg.Activation)
	case st.Output != cfg.Output:
		return fmt.Errorf("mlp: Config.Resume: the state's output is %q, Config.Output %q", st.Output, cfg.Output)
	case st.Optimizer != cfg.Optimizer:
		return fmt.Errorf("mlp: Config.Resume: the state's optimiser is %q, Config.Optimizer %q", st.Optimizer, cfg.Optimizer)
	case st.Seed != cfg.Seed:
		return fmt.Errorf("mlp: Config.Resume: the state was taken with Seed %d, Config.Seed is %d", st.Seed, cfg.Seed)
	case st.Rows != rows:
		return fmt.Errorf("mlp: Config.Resume: the state was trained on %d rows, the dataset has %d", st.Rows, rows)
	case st.BatchSize != batch:
		return fmt.Errorf("mlp: Config.Resume: the state's mini-batches have %d rows, this run's %d", st.BatchSize, batch)
	}
	return nil
}
