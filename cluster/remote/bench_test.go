package remote

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/log"
	"github.com/flintml/flint/log/disk"
)

// gradArgs and gradP make a logistic-loss gradient pass, the inner loop of
// every GLM fit.
type gradArgs struct{ W []float64 }

type gradP struct {
	Loss float64
	Grad []float64
}

var gradTask = cluster.Register(&cluster.Task[gradArgs, gradP]{
	Name: "remote_test.grad",
	New:  func(b *gradArgs) *gradP { return &gradP{Grad: make([]float64, len(b.W))} },
	Map: func(_ context.Context, p cluster.Part, b *gradArgs, acc *gradP) error {
		blk := p.Block
		for i := 0; i < blk.Rows; i++ {
			row := blk.Row(i)
			m := 0.0
			for j, v := range row {
				m += v * b.W[j]
			}
			pr := 1 / (1 + math.Exp(-m))
			acc.Loss += math.Log1p(math.Exp(-m)) + (1-blk.Y[i])*m
			g := pr - blk.Y[i]
			for j, v := range row {
				acc.Grad[j] += g * v
			}
		}
		return nil
	},
	Combine: func(dst, src *gradP) {
		dst.Loss += src.Loss
		for j := range dst.Grad {
			dst.Grad[j] += src.Grad[j]
		}
	},
})

// go test ./cluster/remote -run '^$' -bench GradientPass -benchtime 2s -count 3
//
// BenchmarkGradientPass times one gradient pass over 200 000 × 32 rows in
// 8 partitions: the in-process engine against 1, 2 and 4 worker processes
// on the same machine, the cores split among them (GOMAXPROCS = cores/n,
// at least 1). The ratio engine/remote is the cost of the process boundary
// (a broadcast out, 8 partials back, per pass).
func BenchmarkGradientPass(b *testing.B) {
	const rows, cols, parts = 200_000, 32, 8
	sources, err := cluster.PlanFiles([]string{gradCSV(b, rows, cols)}, cluster.FileOptions{Format: cluster.Format{Kind: "csv"}, Partitions: parts})
	if err != nil {
		b.Fatal(err)
	}
	w := &gradArgs{W: make([]float64, cols)}
	for j := range w.W {
		w.W[j] = 0.01 * float64(j-cols/2)
	}
	ctx := context.Background()
	pass := func(b *testing.B, x cluster.Executor, ds *cluster.Dataset) {
		b.ResetTimer()
		for range b.N {
			if _, err := cluster.Aggregate(ctx, x, ds, gradTask, w); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/pass")
	}
	b.Run("engine", func(b *testing.B) {
		e := cluster.NewEngine(cluster.Config{Logger: quiet()})
		defer e.Close()
		ds, err := e.LoadSources(ctx, nil, "grad", sources)
		if err != nil {
			b.Fatal(err)
		}
		pass(b, e, ds)
	})
	for _, n := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("workers=%d", n), func(b *testing.B) {
			d, err := NewDriver(Config{Logger: quiet(), HeartbeatInterval: 200 * time.Millisecond})
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			// The workers share the machine's cores, as the engine's goroutines do.
			b.Setenv("GOMAXPROCS", fmt.Sprint(max(1, runtime.NumCPU()/n)))
			startWorkersB(b, d, n, "")
			ds, err := d.Load(ctx, sources, "")
			if err != nil {
				b.Fatal(err)
			}
			pass(b, d, ds)
		})
	}
}

// go test ./cluster/remote -run '^$' -bench Recovery -benchtime 5x
//
// BenchmarkRecovery times the gradient pass in which a worker process dies
// (SIGKILL): the driver notices the broken connection, the survivors
// re-read the lost partitions from the embedded log (read-only, beside
// the writer) and run them. Each round first starts a fresh worker, which
// takes its share of the partitions on the next pass (untimed), then
// kills it; "ms/recovery" is the timed pass, to compare with "ms/pass",
// the same pass with no failure.
func BenchmarkRecovery(b *testing.B) {
	const rows, cols, parts = 200_000, 32, 8
	dir := filepath.Join(b.TempDir(), "log")
	l, err := disk.Open(disk.Config{Dir: dir, Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	if err := l.CreateTopic(ctx, "grad", log.TopicConfig{Partitions: parts}); err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	recs := make([]log.Record, 0, 10_000)
	for i := range rows {
		var sb strings.Builder
		fmt.Fprintf(&sb, "%d", r.IntN(2))
		for range cols {
			fmt.Fprintf(&sb, ",%.6g", r.NormFloat64())
		}
		recs = append(recs, log.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(sb.String())})
		if len(recs) == cap(recs) || i == rows-1 {
			if err := l.Append(ctx, "grad", recs); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	sources, err := cluster.PlanLog(ctx, l, "grad", cluster.LogOptions{Format: cluster.Format{Kind: "csv"}})
	if err != nil {
		b.Fatal(err)
	}
	w := &gradArgs{W: make([]float64, cols)}
	d, err := NewDriver(Config{Logger: quiet(), HeartbeatInterval: 200 * time.Millisecond, Log: "dir:" + dir})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	b.Setenv("GOMAXPROCS", "1")
	startWorkersB(b, d, 2, "")
	ds, err := d.Load(ctx, sources, "")
	if err != nil {
		b.Fatal(err)
	}
	pass := func() {
		if _, err := cluster.Aggregate(ctx, d, ds, gradTask, w); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	for range 5 {
		pass()
	}
	normal := time.Since(start) / 5
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		live := d.Workers()
		cmds := startWorkersB(b, d, 1, "")
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		if err := d.WaitWorkers(wctx, live+1); err != nil {
			b.Fatal(err)
		}
		cancel()
		pass() // the new worker takes its share
		cmds[0].Process.Kill()
		cmds[0].Wait()
		b.StartTimer()
		pass() // its partitions are re-read by the survivors
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/recovery")
	b.ReportMetric(float64(normal.Nanoseconds())/1e6, "ms/pass")
}

// go test ./cluster/remote -run '^$' -bench DriverRestart -benchtime 10x
//
// BenchmarkDriverRestart times a driver restart: from Close of a driver
// with 3 worker processes (each caching a dataset) to every one of them
// registered with a new driver on the same address, having dropped the
// old driver's cache, with the default heartbeat interval (1s), which
// bounds how soon a worker notices. "ms/restart" is the mean.
func BenchmarkDriverRestart(b *testing.B) {
	sources, err := cluster.PlanFiles([]string{writeRows(b, 30_000)}, cluster.FileOptions{Format: cluster.Format{Kind: "csv"}, Partitions: 6})
	if err != nil {
		b.Fatal(err)
	}
	cfg := Config{Logger: quiet()}
	d, err := NewDriver(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { d.Close() }()
	cfg.Listen = d.Addr()
	startWorkersB(b, d, 3, "")
	ctx := context.Background()
	var total time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		if _, err := d.Load(ctx, sources, ""); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		d.Close()
		if d, err = NewDriver(cfg); err != nil {
			b.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := d.WaitWorkers(wctx, 3)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		for _, m := range d.Members() { // as of each worker's first heartbeat
			if m.CachedBytes != 0 {
				b.Fatalf("worker %s (%s) joined the new driver holding %d bytes of the old one's", m.ID, m.Name, m.CachedBytes)
			}
		}
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N)/1e6, "ms/restart")
}

// writeRows writes rows of a label and 8 features and returns the path.
func writeRows(b *testing.B, rows int) string {
	r := rand.New(rand.NewPCG(2, 2))
	var sb strings.Builder
	for range rows {
		fmt.Fprintf(&sb, "%d", r.IntN(2))
		for range 8 {
			fmt.Fprintf(&sb, ",%.6g", r.NormFloat64())
		}
		sb.WriteByte('\n')
	}
	path := filepath.Join(b.TempDir(), "rows.csv")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}
