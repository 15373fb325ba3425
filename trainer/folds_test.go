package trainer

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/flintml/flint/cluster"
)

// copyingCluster is an engine seen through the Cluster interface alone:
// like a remote cluster, it makes k-fold splits as copies. It records the
// bytes the engine held cached when the first task ran and the most when
// any did.
type copyingCluster struct {
	cluster.Cluster
	eng         *cluster.Engine
	mu          sync.Mutex
	first, peak int64
}

func (c *copyingCluster) MapPartitions(ctx context.Context, ds *cluster.Dataset, task string, b any) ([]any, error) {
	c.mu.Lock()
	if c.first == 0 {
		c.first = c.eng.Cached()
	}
	c.peak = max(c.peak, c.eng.Cached())
	c.mu.Unlock()
	return c.Cluster.MapPartitions(ctx, ds, task, b)
}

// Cross-validation on a cluster whose folds are copies (a remote one)
// holds one fold's copies at a time, not k: every grid point is fitted on
// a fold before the next fold is made. The scores equal those of the
// engine's fold views.
func TestCopiedFoldsOneAtATime(t *testing.T) {
	e := newEnv(t)
	file := writeLines(t, "lin.csv", linearLines(2000, 9, false))
	const k = 5
	spec := linearSpec("cv-copies", file, "linear_regression: {}", fmt.Sprintf("{folds: %d, test_fraction: 0, grid: {reg_param: [0, 0.1, 1]}}", k))
	run := func(c cluster.Cluster) *Result {
		t.Helper()
		s, err := ParseSpec("job.yaml", []byte(spec))
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(context.Background(), s, Options{Registry: e.reg, Cluster: c, Logger: quietLogger(), FlintVersion: "test"})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	eng := newEngine(t)
	cc := &copyingCluster{Cluster: eng, eng: eng}
	if cluster.FoldsAreViews(cc, nil) {
		t.Fatal("the copying cluster makes fold views")
	}
	copied := run(cc)
	views := run(newEngine(t))
	// The first task runs on the cached rows (all of them training rows).
	// One fold's copies add as much again; k folds at once would add k
	// times as much.
	if cc.first == 0 || cc.peak > 2*cc.first+cc.first/2 {
		t.Fatalf("peak cached %d bytes while cross-validating; the rows are %d bytes, and one fold's copies as much again", cc.peak, cc.first)
	}
	if len(copied.Trials) != 3 || len(views.Trials) != 3 {
		t.Fatalf("%d and %d trials, want 3", len(copied.Trials), len(views.Trials))
	}
	for i := range copied.Trials {
		a, b := copied.Trials[i], views.Trials[i]
		if len(a.Folds) != k || a.Err != "" || math.Abs(a.Score-b.Score) > 1e-9*math.Abs(b.Score) {
			t.Errorf("trial %d: copies scored %v (folds %v, %q), views %v", i, a.Score, a.Folds, a.Err, b.Score)
		}
	}
}
