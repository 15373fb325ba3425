package trainer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/internal/trainertest"
	"github.com/flintml/flint/ml"
)

// tripCluster wraps a cluster and, at its trip-th MapPartitions call, does
// what trip says: fail, cancel the run, or panic. It records the bytes the
// engine held then, so a test knows the job had cached something.
type tripCluster struct {
	cluster.Cluster
	engine *cluster.Engine
	at     int
	do     func(n int) error // nil: pass every call through

	mu    sync.Mutex
	calls int
	peak  int64
}

func (c *tripCluster) MapPartitions(ctx context.Context, ds *cluster.Dataset, task string, b any) ([]any, error) {
	c.mu.Lock()
	c.calls++
	n := c.calls
	c.peak = max(c.peak, c.engine.Cached())
	c.mu.Unlock()
	if n == c.at && c.do != nil {
		if err := c.do(n); err != nil {
			return nil, err
		}
	}
	return c.Cluster.MapPartitions(ctx, ds, task, b)
}

// lifecycleSpecs are one small job per algorithm, reading files.
var lifecycleSpecs = trainertest.AlgorithmSpecs

// Every dataset a job caches is dropped when the job ends, whether it
// succeeds, fails mid-training, is canceled or panics: the engine holds
// what it held before the job (a dataset cached by someone else stays).
func TestJobsDropWhatTheyCache(t *testing.T) {
	e := newEnv(t)
	eng := cluster.NewEngine(cluster.Config{Workers: 2, Logger: quietLogger()})
	t.Cleanup(func() { eng.Close() })
	other, err := eng.FromDense(context.Background(), "someone else's", []float64{1, 2, 3, 4}, 2, 2, []float64{0, 1}, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	base := eng.Cached()
	errTrip := errors.New("worker exploded")
	for algo, yaml := range lifecycleSpecs(t) {
		spec, err := ParseSpec("job.yaml", []byte(yaml))
		if err != nil {
			t.Fatalf("%s spec: %v", algo, err)
		}
		for _, mode := range []string{"succeed", "fail", "cancel", "panic"} {
			t.Run(algo+"/"+mode, func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				tc := &tripCluster{Cluster: eng, engine: eng, at: 4}
				switch mode {
				case "fail":
					tc.do = func(int) error { return errTrip }
				case "cancel":
					tc.do = func(int) error { cancel(); return ctx.Err() }
				}
				// A panic on the job's own goroutine: the observer's, at the
				// second iteration. (Panics inside tasks become errors.)
				var obs Observer = nopObserver{}
				if mode == "panic" {
					obs = iterHook(func(_ int, p ml.Progress) {
						if p.Iter == 2 {
							panic("task wiring broke")
						}
					})
				}
				var runErr error
				func() {
					defer func() {
						if p := recover(); p != nil {
							runErr = fmt.Errorf("panic: %v", p)
						}
					}()
					_, runErr = Run(ctx, spec, Options{Registry: e.reg, Cluster: tc, Observer: obs, Logger: quietLogger(), FlintVersion: "test"})
				}()
				switch mode {
				case "succeed":
					if runErr != nil {
						t.Fatalf("run: %v", runErr)
					}
				case "fail":
					if !errors.Is(runErr, errTrip) {
						t.Fatalf("run ended with %v, want the tripped error", runErr)
					}
				case "cancel":
					if !errors.Is(runErr, context.Canceled) {
						t.Fatalf("run ended with %v, want canceled", runErr)
					}
				case "panic":
					if runErr == nil || !strings.Contains(runErr.Error(), "task wiring broke") {
						t.Fatalf("run ended with %v, want the panic", runErr)
					}
				}
				if (tc.do != nil && tc.calls < tc.at) || tc.peak <= base {
					t.Fatalf("the job made %d task calls with at most %d bytes cached (base %d): the test tripped nothing", tc.calls, tc.peak, base)
				}
				if got := eng.Cached(); got != base {
					t.Fatalf("after the job the engine caches %d bytes, want the %d it cached before", got, base)
				}
			})
		}
	}
	if _, err := eng.Block(other, 0); err != nil {
		t.Fatalf("a dataset the job did not create was dropped: %v", err)
	}
}

// progressLog records the iterations a job reports.
type progressLog struct {
	mu     sync.Mutex
	iters  []ml.Progress
	max    []int
	trials map[int]bool
}

func (p *progressLog) Phase(string) {}
func (p *progressLog) Iteration(trial int, pr ml.Progress, maxIter int) {
	p.mu.Lock()
	p.iters, p.max = append(p.iters, pr), append(p.max, maxIter)
	p.trials[trial] = true
	p.mu.Unlock()
}

// Every algorithm reports its fit's iterations, so a job's progress is
// never null: the optimisers, k-means, ALS, the MLP, and the direct solve
// of a linear regression (one "iteration").
func TestEveryAlgorithmReportsProgress(t *testing.T) {
	e := newEnv(t)
	specs := lifecycleSpecs(t)
	specs["linear"] = fmt.Sprintf(`name: lc-linear
source: {files: [%q], header: true}
schema:
  format: csv
  fields: [{name: x1, type: numeric}, {name: x2, type: numeric}, {name: y, type: numeric}]
  label: y
algorithm: {linear_regression: {solver: normal}}
`, clicksCSV(t))
	// A grid searched by cross-validation reports each point's fits as its trial.
	specs["logistic-cv"] = strings.Replace(specs["logistic"], "engine:", "evaluation: {folds: 2, grid: {reg_param: [0.1, 0.01]}}\nengine:", 1)
	for algo, yaml := range specs {
		spec, err := ParseSpec("job.yaml", []byte(yaml))
		if err != nil {
			t.Fatalf("%s: %v", algo, err)
		}
		p := &progressLog{trials: map[int]bool{}}
		if _, err := Run(context.Background(), spec, Options{Registry: e.reg, Observer: p, Logger: quietLogger()}); err != nil {
			t.Fatalf("%s: %v", algo, err)
		}
		if len(p.iters) == 0 {
			t.Errorf("%s reported no iteration", algo)
			continue
		}
		if algo == "logistic-cv" && (!p.trials[1] || !p.trials[2] || !p.trials[0]) {
			t.Errorf("the cross-validated grid reported trials %v, want 0, 1 and 2", p.trials)
		}
		last := p.iters[len(p.iters)-1]
		if last.Iter < 1 || last.Iter > p.max[len(p.max)-1] {
			t.Errorf("%s: last iteration %d of %d", algo, last.Iter, p.max[len(p.max)-1])
		}
	}
}
