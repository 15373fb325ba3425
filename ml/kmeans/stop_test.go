package kmeans

import (
	"context"
	"strings"
	"testing"
)

// TestStopReasons: the last report of each run says why it stopped, and
// only the last.
func TestStopReasons(t *testing.T) {
	const n, dim, k = 2000, 4, 3
	x, y := blobs(n, dim, k, 3)
	ctx := context.Background()
	e := newEngine(t, 2)
	ds, err := e.FromDense(ctx, "blobs", x, n, dim, y, nil, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		cfg  Config
		want string // the start of each run's last Stop
	}{
		{"converged", Config{K: k, Seed: 1, MaxIter: 50, Runs: 2, SilhouetteSample: -1}, "converged: no centre moved"},
		{"max-iter", Config{K: k, Seed: 1, MaxIter: 1, Tol: -1, Runs: 2, Init: InitRandom, SilhouetteSample: -1}, "max_iter 1 reached"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var reports []Progress
			c.cfg.Progress = func(p Progress) { reports = append(reports, p) }
			m, err := Fit(ctx, e, ds, c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			runs := 0
			for i, p := range reports {
				lastOfRun := i == len(reports)-1 || reports[i+1].Run != p.Run
				if want := i == 0 || reports[i-1].Run != p.Run; want != (p.Iter == 1) {
					t.Fatalf("report %d: run %d iteration %d", i, p.Run, p.Iter)
				}
				switch {
				case lastOfRun && !strings.HasPrefix(p.Stop, c.want):
					t.Errorf("run %d ends at iteration %d with Stop %q, want %q...", p.Run, p.Iter, p.Stop, c.want)
				case !lastOfRun && p.Stop != "":
					t.Errorf("run %d iteration %d, not its last, has Stop %q", p.Run, p.Iter, p.Stop)
				}
				if lastOfRun {
					runs++
				}
			}
			if runs != 2 || (c.name == "converged") != m.Converged {
				t.Errorf("%d runs reported; converged %v", runs, m.Converged)
			}
		})
	}
}
