package ml

import (
	"errors"
	"fmt"

	"github.com/flintml/flint/ml/internal/codec"
)

// The encoding of a checkpoint state has the model envelope's layout with
// its own magic, so that a state is never mistaken for a model:
//
//	magic   "FLST"
//	uint16  envelope version (1)
//	uint8   length n of the algorithm name, then the name's n bytes
//	uint16  payload version (the algorithm's own state format version)
//	uint32  payload length m, then the payload's m bytes
//
// The algorithm names the optimiser that wrote the state ("lbfgs",
// "owlqn", "gd" and "sgd" here; "kmeans", "als" and "mlp" in their
// packages), so that a state is only ever resumed by the algorithm that
// wrote it. Like a model, a state carries no checksum of its own: the store
// that keeps it adds one.
const stateMagic = "FLST"

// ErrNotState is returned for bytes that do not start with the checkpoint
// state magic.
var ErrNotState = errors.New("ml: not an encoded checkpoint state (bad magic)")

// AppendState appends the checkpoint-state envelope and payload to dst.
// Packages kmeans, als and mlp use it so that every state shares one
// envelope.
func AppendState(dst []byte, algorithm string, payloadVersion uint16, payload []byte) []byte {
	if len(algorithm) == 0 || len(algorithm) > 255 {
		panic(fmt.Sprintf("ml: AppendState: algorithm name %q must be 1 to 255 bytes", algorithm))
	}
	return appendEnvelope(dst, stateMagic, algorithm, payloadVersion, payload)
}

// ParseState reads a checkpoint-state envelope and returns it with the
// payload, which shares data's memory.
func ParseState(data []byte) (Header, []byte, error) {
	return parseEnvelope(data, stateMagic, "state", ErrNotState)
}

// ParseStateOf reads a checkpoint-state envelope that must hold a state of
// algorithm in payload format version, and returns the payload (sharing
// data's memory). A state of another algorithm is an error naming both; a
// newer format is an *VersionError.
func ParseStateOf(data []byte, algorithm string, version uint16) ([]byte, error) {
	h, payload, err := ParseState(data)
	if err != nil {
		return nil, err
	}
	if h.Algorithm != algorithm {
		return nil, fmt.Errorf("%s: the checkpoint state is of %q, not %q", algorithm, h.Algorithm, algorithm)
	}
	if h.PayloadVersion != version {
		return nil, &VersionError{What: algorithm + " state", Got: h.PayloadVersion, Want: version}
	}
	return payload, nil
}

// State is the optimiser state of a Minimize run between two iterations:
// what Settings.Checkpoint receives every Settings.CheckpointEvery
// iterations, and what Settings.Resume continues from. It holds everything
// the next iteration depends on, so for GD, SGD and OWL-QN a resumed run
// ends bit for bit where the uninterrupted run would have (X, F, History,
// Iterations, Evaluations and Status). gonum's L-BFGS (Method LBFGS
// without an L1 term) keeps its curvature pairs to itself: its state holds
// the iterate, and a resumed run starts a new L-BFGS there (see
// Settings.Resume).
//
// The exported fields describe the state; the rest (gradient, step size,
// correction pairs) is internal to the method and travels in the encoding.
// A State is not modified by Minimize, and the one a Checkpoint callback
// receives is its own: it may be kept.
type State struct {
	// Method is the optimiser that wrote the state, and L1 whether its run
	// had an L1 term (for LBFGS: OWL-QN rather than gonum's L-BFGS).
	Method Method
	L1     bool
	// Iter is the last iteration completed; a resumed run goes on with
	// iteration Iter+1, so its History and Progress numbering continue.
	Iter int
	// Evaluations is the number of passes over the data so far.
	Evaluations int
	// X is the iterate after iteration Iter, F the objective there (the L1
	// term included; for SGD, on that iteration's mini-batch) and GradNorm
	// the Euclidean norm of the (pseudo-)gradient.
	X           []float64
	F, GradNorm float64
	// History is Result.History up to iteration Iter.
	History []float64

	iterations int         // SGD: Result.Iterations, the last iteration whose batch had rows (one History value each)
	grad       []float64   // GD, OWL-QN, L-BFGS: the gradient of the smooth part at X
	f          float64     // GD: the smooth part of the objective at X
	step       float64     // GD: the next trial step
	memory     int         // OWL-QN: Settings.Memory
	s, y       [][]float64 // OWL-QN: the correction pairs, oldest first
	rho        []float64   // OWL-QN: 1/sᵀy of each pair (as stored, not recomputed)
}

// stateVersion is the payload version of the states of this package.
const stateVersion = 1

// algorithm is the name the state's encoding carries.
func (s *State) algorithm() string {
	if s.Method == LBFGS {
		if s.L1 {
			return "owlqn"
		}
		return "lbfgs"
	}
	return s.Method.String()
}

// completed is Result.Iterations at the state: for SGD the last iteration
// whose batch had rows, for the others Iter.
func (s *State) completed() int {
	if s.Method == SGD {
		return s.iterations
	}
	return s.Iter
}

// methodName names the optimiser of a run, as algorithm does for a state.
func methodName(m Method, l1 bool) string {
	return (&State{Method: m, L1: l1}).algorithm()
}

// check reports a state whose fields do not fit together.
func (s *State) check() error {
	dim := len(s.X)
	switch {
	case s.Method < LBFGS || s.Method > SGD:
		return fmt.Errorf("ml: checkpoint state of unknown method %d", int(s.Method))
	case dim == 0:
		return errors.New("ml: checkpoint state has no parameters")
	case s.Iter < 0 || s.Evaluations < 0:
		return fmt.Errorf("ml: checkpoint state at iteration %d after %d evaluations", s.Iter, s.Evaluations)
	}
	what := s.algorithm()
	if s.Method == SGD {
		switch {
		case s.iterations < 0 || s.iterations > s.Iter:
			return fmt.Errorf("ml: sgd checkpoint state: %d iterations with rows out of %d", s.iterations, s.Iter)
		case len(s.History) > s.iterations || (len(s.History) == 0) != (s.iterations == 0):
			return fmt.Errorf("ml: sgd checkpoint state: %d history values, the last iteration with rows %d", len(s.History), s.iterations)
		case s.grad != nil || len(s.s) != 0:
			return errors.New("ml: sgd checkpoint state holds a gradient or correction pairs")
		}
		return nil
	}
	switch {
	case s.iterations != 0:
		return fmt.Errorf("ml: %s checkpoint state counts %d iterations with rows", what, s.iterations)
	case len(s.History) != s.Iter+1:
		return fmt.Errorf("ml: %s checkpoint state: %d history values at iteration %d, want %d", what, len(s.History), s.Iter, s.Iter+1)
	case len(s.grad) != dim:
		return fmt.Errorf("ml: %s checkpoint state: gradient of %d values for %d parameters", what, len(s.grad), dim)
	case len(s.s) != len(s.y) || len(s.s) != len(s.rho):
		return fmt.Errorf("ml: %s checkpoint state: %d s, %d y and %d rho values", what, len(s.s), len(s.y), len(s.rho))
	}
	if what != "owlqn" {
		if s.memory != 0 || len(s.s) != 0 {
			return fmt.Errorf("ml: %s checkpoint state holds correction pairs", what)
		}
		return nil
	}
	if s.memory < 1 || len(s.s) > s.memory {
		return fmt.Errorf("ml: owlqn checkpoint state: %d correction pairs with Memory %d", len(s.s), s.memory)
	}
	for i := range s.s {
		if len(s.s[i]) != dim || len(s.y[i]) != dim {
			return fmt.Errorf("ml: owlqn checkpoint state: correction pair %d has %d and %d values for %d parameters", i, len(s.s[i]), len(s.y[i]), dim)
		}
	}
	return nil
}

// The payload of a state, version 1 (see package codec for the fields):
//
//	l1 bool | iter, iterations, evaluations int | F, GradNorm, f, step float64 | memory int
//	| X, grad, History []float64 | pairs uint32, then per pair: rho float64, s, y len(X) float64 each

// MarshalBinary encodes the state in its envelope (see AppendState).
func (s *State) MarshalBinary() ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	w := codec.Writer{B: make([]byte, 0, 128+8*(len(s.X)+len(s.grad)+len(s.History)+len(s.s)*(1+2*len(s.X))))}
	w.Bool(s.L1)
	w.Int(s.Iter)
	w.Int(s.iterations)
	w.Int(s.Evaluations)
	w.F64(s.F)
	w.F64(s.GradNorm)
	w.F64(s.f)
	w.F64(s.step)
	w.Int(s.memory)
	w.F64s(s.X)
	w.F64s(s.grad)
	w.F64s(s.History)
	w.U32(uint32(len(s.s)))
	for i := range s.s {
		w.F64(s.rho[i])
		w.F64sN(s.s[i])
		w.F64sN(s.y[i])
	}
	return AppendState(nil, s.algorithm(), stateVersion, w.B), nil
}

// UnmarshalBinary decodes a state MarshalBinary encoded, replacing s. It
// fails on the state of another algorithm (a k-means state, say), a
// payload version this build does not know (a *VersionError), and on
// fields that do not fit together.
func (s *State) UnmarshalBinary(data []byte) error {
	h, payload, err := ParseState(data)
	if err != nil {
		return err
	}
	var out State
	switch h.Algorithm {
	case "lbfgs", "owlqn":
		out.Method = LBFGS
	case "gd":
		out.Method = GD
	case "sgd":
		out.Method = SGD
	default:
		return fmt.Errorf("ml: the checkpoint state is of %q, not of a Minimize method (lbfgs, owlqn, gd or sgd)", h.Algorithm)
	}
	if h.PayloadVersion != stateVersion {
		return &VersionError{What: h.Algorithm + " state", Got: h.PayloadVersion, Want: stateVersion}
	}
	r := codec.NewReader(payload, "ml: "+h.Algorithm+" checkpoint state")
	out.L1 = r.Bool("l1")
	out.Iter = r.Int("iteration")
	out.iterations = r.Int("iterations")
	out.Evaluations = r.Int("evaluations")
	out.F = r.F64()
	out.GradNorm = r.F64()
	out.f = r.F64()
	out.step = r.F64()
	out.memory = r.Int("memory")
	out.X = r.F64s()
	out.grad = r.F64s()
	out.History = r.F64s()
	pairs := int(r.U32())
	if r.Err() == nil && pairs > 0 && (len(out.X) == 0 || pairs > len(payload)/(8*(1+2*len(out.X)))) {
		r.Failf("%d correction pairs of %d values do not fit the payload", pairs, len(out.X))
	}
	for i := 0; i < pairs && r.Err() == nil; i++ {
		out.rho = append(out.rho, r.F64())
		out.s = append(out.s, r.F64sN(len(out.X)))
		out.y = append(out.y, r.F64sN(len(out.X)))
	}
	if err := r.Done(); err != nil {
		return err
	}
	if out.algorithm() != h.Algorithm {
		return fmt.Errorf("ml: %s checkpoint state: the l1 flag says %s", h.Algorithm, out.algorithm())
	}
	if err := out.check(); err != nil {
		return err
	}
	*s = out
	return nil
}

// resumable reports why the state cannot resume a run of method (l1: with
// an L1 term) on n parameters under settings s.
func (st *State) resumable(n int, l1 bool, s Settings) error {
	if err := st.check(); err != nil {
		return fmt.Errorf("ml: Settings.Resume: %w", err)
	}
	if got, want := st.algorithm(), methodName(s.Method, l1); got != want {
		return fmt.Errorf("ml: Settings.Resume: the state was written by %s, this run uses %s", got, want)
	}
	if st.L1 && !l1 {
		return errors.New("ml: Settings.Resume: the state's run had an L1 term and this run has none")
	}
	if !st.L1 && l1 {
		return errors.New("ml: Settings.Resume: this run has an L1 term and the state's run had none")
	}
	if len(st.X) != n {
		return fmt.Errorf("ml: Settings.Resume: the state has %d parameters, the objective %d", len(st.X), n)
	}
	if st.memory != 0 && st.memory != s.Memory {
		return fmt.Errorf("ml: Settings.Resume: the state keeps %d correction pairs (Settings.Memory), this run %d", st.memory, s.Memory)
	}
	if st.Iter > s.MaxIter {
		return fmt.Errorf("ml: Settings.Resume: the state is at iteration %d, beyond Settings.MaxIter = %d", st.Iter, s.MaxIter)
	}
	return nil
}
