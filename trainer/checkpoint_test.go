package trainer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/flintml/flint/log"
	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/models"
	"github.com/flintml/flint/models/local"
)

// countingStore counts the checkpoint states put into it and calls
// onState after each.
type countingStore struct {
	models.Store
	mu      sync.Mutex
	states  int
	onState func(n int)
}

func (s *countingStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := s.Store.Put(ctx, key, r, size); err != nil {
		return err
	}
	if strings.HasSuffix(key, "/state") {
		s.mu.Lock()
		s.states++
		n := s.states
		s.mu.Unlock()
		if s.onState != nil {
			s.onState(n)
		}
	}
	return nil
}

func ckptData(t *testing.T, e *env, n int, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 9))
	var clicks, blobs, ratings []log.Record
	for range n {
		x1, x2 := r.NormFloat64(), r.NormFloat64()
		y := 0
		if 2*x1-x2+0.5*r.NormFloat64() > 0 {
			y = 1
		}
		clicks = append(clicks, log.Record{Value: fmt.Appendf(nil, "%d,%.5f,%.5f", y, x1*4+2, x2)})
		k := float64(r.IntN(3))
		blobs = append(blobs, log.Record{Value: fmt.Appendf(nil, "%.5f,%.5f", 4*k+r.NormFloat64(), -2*k+r.NormFloat64())})
		u, i := r.IntN(60), r.IntN(40)
		ratings = append(ratings, log.Record{Value: fmt.Appendf(nil, "%d,%d,%d", u, i, 1+(u+2*i)%5)})
	}
	ctx := context.Background()
	if err := e.log.Append(ctx, "ck-clicks", clicks); err != nil {
		t.Fatal(err)
	}
	if err := e.log.Append(ctx, "ck-blobs", blobs); err != nil {
		t.Fatal(err)
	}
	if err := e.log.Append(ctx, "ck-ratings", ratings); err != nil {
		t.Fatal(err)
	}
}

const ckptLogistic = `
name: ck-%s
source: {topic: ck-clicks}
schema:
  format: csv
  label: y
  fields: [{name: y, type: numeric}, {name: a, type: numeric}, {name: b, type: numeric}]
transforms: [{type: standard_scaler, inputs: [a, b]}]
algorithm:
  logistic_regression: {solver: %s, reg_param: %s, elastic_net_param: %s, max_iter: 40, tol: 1e-12}
evaluation: {test_fraction: 0.25, seed: 3}
engine: {checkpoint_every: 3}
`

const ckptKMeans = `
name: ck-kmeans
source: {topic: ck-blobs}
schema:
  format: csv
  fields: [{name: a, type: numeric}, {name: b, type: numeric}]
algorithm:
  kmeans: {k: 3, seed: 4, max_iter: 25, tol: 1e-12, runs: 2}
evaluation: {test_fraction: 0}
engine: {checkpoint_every: 3}
`

const ckptALS = `
name: ck-als
source: {topic: ck-ratings}
schema:
  format: csv
  fields: [{name: u, type: numeric}, {name: i, type: numeric}, {name: r, type: numeric}]
algorithm:
  als: {user: u, item: i, rating: r, rank: 3, max_iter: 10, seed: 2}
evaluation: {test_fraction: 0.1, seed: 5}
engine: {checkpoint_every: 3}
`

const ckptMLP = `
name: ck-mlp
source: {topic: ck-clicks}
schema:
  format: csv
  label: y
  fields: [{name: y, type: numeric}, {name: a, type: numeric}, {name: b, type: numeric}]
transforms: [{type: standard_scaler, inputs: [a, b]}]
algorithm:
  mlp: {hidden_layers: [8], batch_size: 64, max_iter: 30, tol: 1e-12, seed: 3}
evaluation: {test_fraction: 0.25, seed: 3}
engine: {checkpoint_every: 3}
`

// A job interrupted after its second checkpoint and run again resumes from
// it: it reads the records pinned by the first run even though the log grew
// meanwhile, continues the iterations where they stopped and, for every
// optimiser but gonum's L-BFGS, publishes exactly the model an
// uninterrupted run publishes.
func TestCheckpointResume(t *testing.T) {
	cases := []struct {
		name, spec string
		exact      bool
	}{
		{"gd", fmt.Sprintf(ckptLogistic, "gd", "gd", "0.01", "0"), true},
		{"sgd", fmt.Sprintf(ckptLogistic, "sgd", "sgd", "0.01", "0"), true},
		{"owlqn", fmt.Sprintf(ckptLogistic, "owlqn", "lbfgs", "0.01", "0.5"), true},
		{"lbfgs", fmt.Sprintf(ckptLogistic, "lbfgs", "lbfgs", "0.01", "0"), false},
		{"kmeans", ckptKMeans, true},
		{"als", ckptALS, true},
		{"mlp", ckptMLP, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			ckptData(t, e, 2000, 1)
			spec, err := ParseSpec("job.yaml", []byte(c.spec))
			if err != nil {
				t.Fatal(err)
			}
			base, err := local.New(filepath.Join(e.dir, "checkpoints"))
			if err != nil {
				t.Fatal(err)
			}
			st := &countingStore{Store: base}
			first := &firstIter{}
			run := func(ctx context.Context, prefix string) (*Result, error) {
				*first = firstIter{}
				return Run(ctx, spec, Options{Log: e.log, Registry: e.reg, SpecText: c.spec, Logger: quietLogger(),
					Checkpoints: &Checkpoints{Store: st, Prefix: prefix}, Observer: first})
			}

			want, err := run(context.Background(), "jobs/a/checkpoint")
			if err != nil {
				t.Fatal(err)
			}
			total := st.states
			if total < 3 {
				t.Fatalf("the uninterrupted run took %d checkpoints; the test needs 3 or more", total)
			}
			if keys := list(t, st, "jobs/a/"); len(keys) != 0 {
				t.Fatalf("checkpoints left after the model was published: %v", keys)
			}

			ctx, cancel := context.WithCancel(context.Background())
			st.states = 0
			st.onState = func(n int) {
				if n == 2 {
					cancel()
				}
			}
			if _, err := run(ctx, "jobs/b/checkpoint"); !errors.Is(err, context.Canceled) {
				t.Fatalf("interrupted run: %v, want context.Canceled", err)
			}
			st.onState = nil
			if keys := list(t, st, "jobs/b/"); len(keys) != 2 {
				t.Fatalf("after the interruption the store holds %v, want job.json and state", keys)
			}
			ckptData(t, e, 500, 2) // the log grows; the resumed job must not read it

			st.states = 0
			got, err := run(context.Background(), "jobs/b/checkpoint")
			if err != nil {
				t.Fatal(err)
			}
			if got.Rows != want.Rows || got.TrainRows != want.TrainRows {
				t.Fatalf("resumed job read %d rows (%d to train), the first run %d (%d)", got.Rows, got.TrainRows, want.Rows, want.TrainRows)
			}
			wantArt, _, err := e.reg.Get(context.Background(), want.Model, want.Version)
			if err != nil {
				t.Fatal(err)
			}
			gotArt, _, err := e.reg.Get(context.Background(), got.Model, got.Version)
			if err != nil {
				t.Fatal(err)
			}
			if c.name != "kmeans" && c.name != "als" && first.iter != 7 {
				t.Fatalf("the resumed fit reported iteration %d first, want 7 (after the checkpoint of iteration 6)", first.iter)
			}
			if c.exact {
				if st.states != total-2 {
					t.Fatalf("the resumed run took %d checkpoints, want %d (of %d, after 2)", st.states, total-2, total)
				}
				if !bytes.Equal(gotArt.Params, wantArt.Params) {
					t.Fatal("the resumed job published a model that differs from the uninterrupted run's")
				}
				return
			}
			for m, v := range want.Metrics {
				if math.Abs(got.Metrics[m]-v) > 0.01 {
					t.Fatalf("resumed %s = %v, uninterrupted %v", m, got.Metrics[m], v)
				}
			}
		})
	}
}

func list(t *testing.T, st models.Store, prefix string) []string {
	t.Helper()
	es, err := st.List(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range es {
		keys = append(keys, e.Key)
	}
	return keys
}

// firstIter records the first iteration the final fit reports.
type firstIter struct {
	seen bool
	iter int
}

func (f *firstIter) Phase(string) {}
func (f *firstIter) Iteration(trial int, p ml.Progress, _ int) {
	if trial == 0 && !f.seen {
		f.seen, f.iter = true, p.Iter
	}
}
