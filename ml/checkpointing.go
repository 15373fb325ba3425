package ml

import "fmt"

// Checkpointing is the checkpoint contract of an iterative fit: how often
// its state is handed out, where to, and the state to resume from. It is
// embedded in Settings (S = State) and in the configs of packages kmeans,
// als and mlp (each with its own State), so every fit names the fields the
// same way:
//
//	cfg.CheckpointEvery = 10
//	cfg.Checkpoint = func(s *State) error { ... }
//	cfg.Resume = saved
//
// A composite literal names the embedded struct:
// Settings{MaxIter: 50, Checkpointing: Checkpointing[State]{CheckpointEvery: 10, Checkpoint: save}}.
//
// The zero value takes no checkpoints and costs nothing. What a resumed fit
// must share with the fit that wrote its state, and how closely it retraces
// the uninterrupted fit, is documented by each fit.
type Checkpointing[S any] struct {
	// CheckpointEvery, when > 0, has Checkpoint called after every
	// CheckpointEvery-th iteration that does not end the fit (iterations
	// CheckpointEvery, 2·CheckpointEvery, ...). 0 means no checkpoints.
	CheckpointEvery int
	// Checkpoint receives the state after the iteration, a copy that it
	// may keep (encode it with the state's MarshalBinary). It is called one
	// call at a time, between two iterations. An error from it ends the fit
	// with that error wrapped, naming the iteration. Required when
	// CheckpointEvery > 0.
	Checkpoint func(*S) error
	// Resume, if not nil, continues the fit that wrote the state (from
	// Checkpoint, or the state's UnmarshalBinary) instead of starting
	// afresh.
	Resume *S
}

// ValidateCheckpointing reports a negative CheckpointEvery, or a positive
// one without a Checkpoint callback. owner names the struct the fields
// belong to in the message, e.g. "Config" gives "Config.CheckpointEvery
// must be >= 0, got -1"; the caller adds its package's prefix.
func (c Checkpointing[S]) ValidateCheckpointing(owner string) error {
	switch {
	case c.CheckpointEvery < 0:
		return fmt.Errorf("%s.CheckpointEvery must be >= 0, got %d", owner, c.CheckpointEvery)
	case c.CheckpointEvery > 0 && c.Checkpoint == nil:
		return fmt.Errorf("%s.CheckpointEvery is %d but %s.Checkpoint is nil", owner, c.CheckpointEvery, owner)
	}
	return nil
}

// CheckpointDue reports whether the fit checkpoints after iteration iter
// (counted from 1, and across a resume): a multiple of CheckpointEvery
// that is not the fit's last (last is true when the iteration ends the
// fit). It allocates nothing.
func (c Checkpointing[S]) CheckpointDue(iter int, last bool) bool {
	return c.CheckpointEvery > 0 && iter > 0 && iter%c.CheckpointEvery == 0 && !last
}

// SaveCheckpoint hands s, the state after iteration iter, to Checkpoint.
// Its error comes back wrapped as "checkpoint at iteration N: ..."; the
// caller adds its package's prefix.
func (c Checkpointing[S]) SaveCheckpoint(iter int, s *S) error {
	if err := c.Checkpoint(s); err != nil {
		return fmt.Errorf("checkpoint at iteration %d: %w", iter, err)
	}
	return nil
}
