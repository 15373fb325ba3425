package remote

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flintml/flint/cluster"
)

// plainCluster is a cluster seen through cluster.Cluster alone: a Driver
// wrapped in it makes its folds as copies (cluster.FoldCopy).
type plainCluster struct{ cluster.Cluster }

// go test ./cluster/remote -run '^$' -bench FoldsOnWorkers -benchtime 4x -count 2
//
// BenchmarkFoldsOnWorkers times 5-fold cross-validation over 200 000 × 32
// rows in 8 partitions on 2 worker processes (GOMAXPROCS=1 each): for each
// fold, cluster.Fold makes it, 10 gradient passes run on its training rows
// and one on its test rows, and it is released. "views" is the Driver,
// whose workers rearrange their partitions for each fold; "copies" the
// same Driver seen as a plain cluster.Cluster, which copies each fold
// (FoldCopy). Every round runs both, alternating which goes first.
// "ms/cv" is one cross-validation, "ms/fold-made" the making of one fold,
// "fold-MB" the most cached bytes a fold added on the workers (as they
// reported them), "rows-MB" the rows' own.
func BenchmarkFoldsOnWorkers(b *testing.B) {
	const rows, cols, parts, k, passes = 200_000, 32, 8, 5, 10
	sources, err := cluster.PlanFiles([]string{gradCSV(b, rows, cols)}, cluster.FileOptions{Format: cluster.Format{Kind: "csv"}, Partitions: parts})
	if err != nil {
		b.Fatal(err)
	}
	// A long heartbeat timeout: a loaded machine must not flap the workers.
	d, err := NewDriver(Config{Logger: quiet(), HeartbeatInterval: 200 * time.Millisecond, HeartbeatTimeout: 20 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	b.Setenv("GOMAXPROCS", "1")
	startWorkersB(b, d, 2, "")
	ctx := context.Background()
	ds, err := d.Load(ctx, sources, "")
	if err != nil {
		b.Fatal(err)
	}
	w := &gradArgs{W: make([]float64, cols)}
	for j := range w.W {
		w.W[j] = 0.01 * float64(j-cols/2)
	}
	type side struct {
		name      string
		x         cluster.Cluster
		cv, made  time.Duration
		foldBytes int64
	}
	sides := []*side{{name: "views", x: d}, {name: "copies", x: plainCluster{d}}}
	cv := func(s *side) {
		start := time.Now()
		for i := range k {
			t0 := time.Now()
			train, test, release, err := cluster.Fold(ctx, s.x, ds, i, k, 7)
			if err != nil {
				b.Fatal(err)
			}
			s.made += time.Since(t0)
			s.foldBytes = max(s.foldBytes, train.Bytes()+test.Bytes())
			for range passes {
				if _, err := cluster.Aggregate(ctx, s.x, train, gradTask, w); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := cluster.Aggregate(ctx, s.x, test, gradTask, w); err != nil {
				b.Fatal(err)
			}
			release()
		}
		s.cv += time.Since(start)
	}
	b.ResetTimer()
	for n := range b.N {
		// Alternate, each side first in every other round.
		cv(sides[n%2])
		cv(sides[1-n%2])
	}
	for _, s := range sides {
		b.ReportMetric(float64(s.cv.Nanoseconds())/float64(b.N)/1e6, s.name+"-ms/cv")
		b.ReportMetric(float64(s.made.Nanoseconds())/float64(b.N*k)/1e6, s.name+"-ms/fold-made")
		b.ReportMetric(float64(s.foldBytes)/1e6, s.name+"-fold-MB")
	}
	b.ReportMetric(float64(ds.Bytes())/1e6, "rows-MB")
}

// gradCSV writes rows of a 0/1 label and cols normal features and returns
// the path.
func gradCSV(b *testing.B, rows, cols int) string {
	r := rand.New(rand.NewPCG(1, 1))
	var sb strings.Builder
	for range rows {
		fmt.Fprintf(&sb, "%d", r.IntN(2))
		for range cols {
			fmt.Fprintf(&sb, ",%.6g", r.NormFloat64())
		}
		sb.WriteByte('\n')
	}
	path := filepath.Join(b.TempDir(), "grad.csv")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}
