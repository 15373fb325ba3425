package mlp

import (
	"context"
	"strings"
	"testing"
)

// TestStopReasons: each iteration is reported once, and the last report
// says why training stopped: the Tol/Patience rule, MaxIter or Epochs.
func TestStopReasons(t *testing.T) {
	s := digits(t)
	e := newEngine(t, 2)
	ds, err := e.FromDense(context.Background(), "digits", s.X, s.Rows, s.Cols, s.Y, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		cfg   Config
		iters int
		want  string
	}{
		{"converged", Config{Hidden: []int{8}, BatchSize: 600, Epochs: 50, Tol: 10, Patience: 2}, 9,
			"converged: the mean epoch loss fell no more than tol 10 below its best"},
		{"max-iter", Config{Hidden: []int{8}, BatchSize: 600, Epochs: 50, MaxIter: 7, Tol: -1}, 7, "max_iter 7 reached"},
		{"epochs", Config{Hidden: []int{8}, BatchSize: 600, Epochs: 2, Tol: -1}, 6, "epochs 2 reached"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var reports []Progress
			c.cfg.Progress = func(p Progress) { reports = append(reports, p) }
			res, err := Train(context.Background(), e, ds, c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(reports) != c.iters || res.Iterations != c.iters {
				t.Fatalf("%d reports, %d iterations; want %d", len(reports), res.Iterations, c.iters)
			}
			for i, p := range reports {
				if p.Iteration != i+1 {
					t.Fatalf("report %d is of iteration %d", i, p.Iteration)
				}
				if last := i == len(reports)-1; last && !strings.HasPrefix(p.Stop, c.want) || !last && p.Stop != "" {
					t.Errorf("iteration %d: Stop %q", p.Iteration, p.Stop)
				}
			}
		})
	}
}
