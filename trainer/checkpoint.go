package trainer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/models"
)

// A job that checkpoints keeps two objects under its prefix:
//
//	PREFIX/job.json  the spec's hash and the pinned sources, written before
//	                 anything is read: a resumed job reads exactly the same
//	                 records even if the log grew meanwhile;
//	PREFIX/state     the newest optimiser state of the final fit (replaced
//	                 atomically every Every iterations).
//
// A job whose job.json names another spec hash starts over (the old
// checkpoint is for a different job).

// pinned is PREFIX/job.json.
type pinned struct {
	SpecSHA256  string           `json:"spec_sha256"`
	Sources     []cluster.Source `json:"sources"`
	TestSources []cluster.Source `json:"test_sources,omitempty"` // evaluation.test's
}

// checkpointer saves and restores the final fit's optimiser state. A nil
// *checkpointer checkpoints nothing.
type checkpointer struct {
	store  models.Store
	prefix string
	every  int
	resume []byte // the state to resume from, if any (set by pinSources)
	job    *job
}

func (c *checkpointer) key(name string) string { return c.prefix + "/" + name }

// specHash identifies the job a checkpoint belongs to.
func (j *job) specHash() (string, error) {
	text := []byte(j.opt.SpecText)
	if len(text) == 0 {
		var err error
		if text, err = json.Marshal(j.spec); err != nil {
			return "", err
		}
	}
	sum := sha256.Sum256(text)
	return hex.EncodeToString(sum[:]), nil
}

// newCheckpointer returns the job's checkpointer, nil when the job runs
// without checkpoints; pinSources then reads what an earlier run left.
func (j *job) newCheckpointer() (*checkpointer, error) {
	o := j.opt.Checkpoints
	if o == nil {
		return nil, nil
	}
	if o.Store == nil || o.Prefix == "" {
		return nil, errors.New("trainer: Options.Checkpoints needs a Store and a Prefix")
	}
	c := &checkpointer{store: o.Store, prefix: o.Prefix, every: o.Every, job: j}
	if c.every == 0 {
		c.every = j.spec.Engine.CheckpointEvery
	}
	if c.every == 0 {
		c.every = 10
	}
	return c, nil
}

// pinSources returns the sources (and evaluation.test's, if any) pinned by
// an earlier run of the same job under the checkpoint prefix, or plans
// them and pins them there.
func (j *job) pinSources(ctx context.Context) (sources, test []cluster.Source, err error) {
	c := j.ckpt
	if c == nil {
		return j.planAll(ctx)
	}
	hash, err := j.specHash()
	if err != nil {
		return nil, nil, err
	}
	var p pinned
	err = readJSON(ctx, c.store, c.key("job.json"), &p)
	switch {
	case err == nil && p.SpecSHA256 == hash:
		state, err := readAll(ctx, c.store, c.key("state"))
		if err != nil && !errors.Is(err, models.ErrNotFound) {
			return nil, nil, fmt.Errorf("trainer: read checkpoint %s: %w", c.key("state"), err)
		}
		c.resume = state
		j.log.Info("trainer: resuming from checkpoint", "prefix", c.prefix, "sources", len(p.Sources), "state_bytes", len(state))
		return p.Sources, p.TestSources, nil
	case err == nil:
		j.log.Warn("trainer: the checkpoint under the prefix is for another spec; starting over", "prefix", c.prefix)
	case !errors.Is(err, models.ErrNotFound):
		return nil, nil, fmt.Errorf("trainer: read checkpoint %s: %w", c.key("job.json"), err)
	}
	if err := c.store.Delete(ctx, c.key("state")); err != nil {
		return nil, nil, err
	}
	if sources, test, err = j.planAll(ctx); err != nil {
		return nil, nil, err
	}
	data, err := json.Marshal(pinned{SpecSHA256: hash, Sources: sources, TestSources: test})
	if err != nil {
		return nil, nil, err
	}
	if err := c.store.Put(ctx, c.key("job.json"), bytes.NewReader(data), int64(len(data))); err != nil {
		return nil, nil, fmt.Errorf("trainer: pin sources at %s: %w", c.key("job.json"), err)
	}
	return sources, test, nil
}

// planAll plans the job's source and evaluation.test's.
func (j *job) planAll(ctx context.Context) (sources, test []cluster.Source, err error) {
	switch {
	case j.spec.Promote != nil:
		if sources, test, err = j.planHoldout(ctx); err != nil {
			return nil, nil, err
		}
	default:
		if sources, err = j.planSources(ctx, j.spec.Source); err != nil {
			return nil, nil, err
		}
	}
	if t := j.spec.Evaluation.testSource(j.spec.Source); t != nil {
		if test, err = j.planSources(ctx, *t); err != nil {
			return nil, nil, fmt.Errorf("trainer: evaluation.test: %w", err)
		}
	}
	if f := j.spec.Features; f != nil {
		e, def, err := f.enrichment()
		if err != nil {
			return nil, nil, err
		}
		if sources, err = j.joinSources(ctx, sources, e, def); err != nil {
			return nil, nil, err
		}
		if test, err = j.joinSources(ctx, test, e, def); err != nil {
			return nil, nil, fmt.Errorf("%w (evaluation.test)", err)
		}
	}
	return sources, test, nil
}

// save stores an encoded optimiser state as the newest checkpoint.
func (c *checkpointer) save(ctx context.Context, state []byte) error {
	if err := c.store.Put(ctx, c.key("state"), bytes.NewReader(state), int64(len(state))); err != nil {
		return fmt.Errorf("trainer: checkpoint %s: %w", c.key("state"), err)
	}
	return nil
}

func readAll(ctx context.Context, st models.Store, key string) ([]byte, error) {
	r, err := st.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func readJSON(ctx context.Context, st models.Store, key string, v any) error {
	data, err := readAll(ctx, st, key)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

// optimizer wires the checkpoints into an ml optimiser's settings.
func (c *checkpointer) optimizer(ctx context.Context, s *ml.Settings) {
	if c != nil {
		wire(ctx, c, &s.Checkpointing)
	}
}

// encodedState is an optimiser state a checkpoint holds.
type encodedState[S any] interface {
	*S
	MarshalBinary() ([]byte, error)
	UnmarshalBinary([]byte) error
}

// wire sets an algorithm's checkpoint settings: how often, the callback
// that stores each state, and the state to resume from. A checkpoint that
// does not decode is logged and the fit starts over — a damaged checkpoint
// must not keep a job from ever finishing. A nil c sets nothing.
func wire[S any, P encodedState[S]](ctx context.Context, c *checkpointer, ck *ml.Checkpointing[S]) {
	if c == nil {
		return
	}
	ck.CheckpointEvery = c.every
	ck.Checkpoint = func(s *S) error {
		data, err := P(s).MarshalBinary()
		if err != nil {
			return err
		}
		return c.save(ctx, data)
	}
	if c.resume == nil {
		return
	}
	s := new(S)
	if err := P(s).UnmarshalBinary(c.resume); err != nil {
		c.job.log.Warn("trainer: the checkpoint does not decode; the fit starts over", "key", c.key("state"), "err", err)
		return
	}
	ck.Resume = s
}

// clear removes the job's checkpoints once its model is published: a run
// of the same job after that starts afresh.
func (c *checkpointer) clear(ctx context.Context) {
	if c == nil {
		return
	}
	for _, name := range []string{"state", "job.json"} {
		if err := c.store.Delete(ctx, c.key(name)); err != nil {
			c.job.log.Warn("trainer: remove checkpoint", "key", c.key(name), "err", err)
		}
	}
}
