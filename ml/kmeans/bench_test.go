package kmeans

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/floats"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/internal/datasets"
	"github.com/flintml/flint/ml/internal/tile"
)

// fashionInit returns the Fashion-MNIST training rows and the starting
// centres scikit-learn's reference run used (rows 0, 6000, …, 54000).
func fashionInit(b *testing.B) (*datasets.Set, []float64) {
	b.Helper()
	s, err := datasets.FashionMNIST("train")
	if err != nil {
		b.Fatal(err)
	}
	c := make([]float64, 0, 10*s.Cols)
	for j := range 10 {
		c = append(c, s.X[j*6000*s.Cols:(j*6000+1)*s.Cols]...)
	}
	return s, c
}

// sumTask is the floor of a pass: the cheapest one possible, a sum of
// every value (gonum's SIMD floats.Sum) over the same partitions.
var sumTask = cluster.Register(&cluster.Task[struct{}, float64]{
	Name: "ml.kmeans.bench.sum",
	New:  func(*struct{}) *float64 { return new(float64) },
	Map: func(_ context.Context, p cluster.Part, _ *struct{}, acc *float64) error {
		*acc = floats.Sum(p.Block.X)
		return nil
	},
	Combine: func(dst, src *float64) { *dst += *src },
})

// sum32Task is sumTask for float32 blocks: each value read once, widened
// and added into a scratch of floor32Chunk sums that stays in L1.
var sum32Task = cluster.Register(&cluster.Task[struct{}, float64]{
	Name: "ml.kmeans.bench.sum32",
	New:  func(*struct{}) *float64 { return new(float64) },
	Map: func(_ context.Context, p cluster.Part, _ *struct{}, acc *float64) error {
		var s [floor32Chunk]float64
		x := p.Block.X32
		for lo := 0; lo < len(x); lo += floor32Chunk {
			tile.AddWidened(s[:], x[lo:min(lo+floor32Chunk, len(x))])
		}
		*acc = floats.Sum(s[:])
		return nil
	},
	Combine: func(dst, src *float64) { *dst += *src },
})

const floor32Chunk = 1024

// BenchmarkLloydFashionMNIST times one Lloyd iteration (the assignment
// pass with its sums, counts, cost and farthest rows, then the update) on
// the 60 000 × 784 Fashion-MNIST training images with k = 10, on one worker
// per core. Its peer is bench/peers/kmeans_fashion_mnist.py --mode bench.
// cpu-ms/iter is the CPU time of all cores per iteration: on a machine
// other processes share, wall time also counts the waits for a core.
// floor-x is the iteration's time over that of the floor, a plain sum over
// the same partitions run (timer stopped) before each iteration, and
// cpu-floor-x the same ratio of CPU times (the goal is at most 1.5). The
// precision=float32 runs take the same rows cached as float32 blocks: their
// floor-x and cpu-floor-x are still against the float64 sum, and
// cpu-floor32-x is against a pass that reads the float32 blocks once
// (sum32Task), half the bytes.
//
//	go test ./ml/kmeans -run '^$' -bench LloydFashionMNIST -benchtime 20x -count 5
//	/usr/bin/python3 bench/peers/kmeans_fashion_mnist.py --mode bench --lo 5 --hi 25 --repeat 5
func BenchmarkLloydFashionMNIST(b *testing.B) {
	s, c0 := fashionInit(b)
	ctx := context.Background()
	e := cluster.NewEngine(cluster.Config{})
	defer e.Close()
	ds64, err := e.FromDense(ctx, "fashion-mnist", s.X, s.Rows, s.Cols, s.Y, nil, 4*e.Workers())
	if err != nil {
		b.Fatal(err)
	}
	ds32 := dense32(b, e, s.X, s.Rows, s.Cols, 4*e.Workers())
	const k = 10
	for _, prec := range []string{"float64", "float32"} {
		ds := ds64
		if prec == "float32" {
			ds = ds32
		}
		c := slices.Clone(c0)
		b.Run(fmt.Sprintf("rows=%d/dim=%d/k=%d/precision=%s/workers=%d", s.Rows, s.Cols, k, prec, e.Workers()), func(b *testing.B) {
			var floorWall, floorCPU, floor32CPU, iterCPU time.Duration
			for b.Loop() {
				b.StopTimer()
				start, cpu := time.Now(), cpuTime()
				if _, err := cluster.Aggregate(ctx, e, ds64, sumTask, &struct{}{}); err != nil {
					b.Fatal(err)
				}
				floorWall += time.Since(start)
				floorCPU += cpuTime() - cpu
				if prec == "float32" {
					cpu = cpuTime()
					if _, err := cluster.Aggregate(ctx, e, ds32, sum32Task, &struct{}{}); err != nil {
						b.Fatal(err)
					}
					floor32CPU += cpuTime() - cpu
				}
				b.StartTimer()
				cpu = cpuTime()
				p, err := cluster.Aggregate(ctx, e, ds, lloydTask, &lloydArgs{Centres: newCentres(c, k, s.Cols, false), Far: k})
				if err != nil {
					b.Fatal(err)
				}
				c = update(c, p, k, s.Cols)
				iterCPU += cpuTime() - cpu
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/iter")
			b.ReportMetric(float64(iterCPU.Microseconds())/1e3/float64(b.N), "cpu-ms/iter")
			b.ReportMetric(2*float64(s.Rows*s.Cols*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			b.ReportMetric(b.Elapsed().Seconds()/floorWall.Seconds(), "floor-x")
			if floorCPU > 0 {
				b.ReportMetric(iterCPU.Seconds()/floorCPU.Seconds(), "cpu-floor-x")
			}
			if floor32CPU > 0 {
				b.ReportMetric(iterCPU.Seconds()/floor32CPU.Seconds(), "cpu-floor32-x")
			}
		})
	}
}

// dense32 caches n rows of x as float32 blocks in parts partitions.
func dense32(b *testing.B, e *cluster.Engine, x []float64, n, d, parts int) *cluster.Dataset {
	blocks := make([]*cluster.Block, parts)
	for p := range blocks {
		lo, hi := p*n/parts, (p+1)*n/parts
		bb := cluster.NewDense32Builder(d, hi-lo)
		for i := lo; i < hi; i++ {
			if err := bb.AddDense(x[i*d:(i+1)*d], 0, 1); err != nil {
				b.Fatal(err)
			}
		}
		blocks[p] = bb.Block()
	}
	ds, err := e.FromBlocks(context.Background(), "fashion-mnist-f32", blocks)
	if err != nil {
		b.Fatal(err)
	}
	return ds
}

// BenchmarkDistanceKernel compares the register-tiled product the passes
// use with gonum's blas64.Gemm on one block of rows (one goroutine):
// x·cᵀ for tileRows rows of dim features against k centres.
//
//	go test ./ml/kmeans -run '^$' -bench DistanceKernel -cpu 1
func BenchmarkDistanceKernel(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct{ dim, k int }{{784, 10}, {784, 100}, {50, 10}} {
		x := make([]float64, tileRows*c.dim)
		for i := range x {
			x[i] = rng.Float64()
		}
		cs := make([]float64, c.k*c.dim)
		for i := range cs {
			cs[i] = rng.Float64()
		}
		g := make([]float64, tileRows*c.k)
		flops := 2 * float64(tileRows*c.dim*c.k)
		b.Run(fmt.Sprintf("dim=%d/k=%d/impl=tiles", c.dim, c.k), func(b *testing.B) {
			for b.Loop() {
				tile.Products(g, x, tileRows, cs, c.k, c.dim)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run(fmt.Sprintf("dim=%d/k=%d/impl=gemm", c.dim, c.k), func(b *testing.B) {
			for b.Loop() {
				blas64.Gemm(blas.NoTrans, blas.Trans, 1,
					blas64.General{Rows: tileRows, Cols: c.dim, Stride: c.dim, Data: x},
					blas64.General{Rows: c.k, Cols: c.dim, Stride: c.dim, Data: cs}, 0,
					blas64.General{Rows: tileRows, Cols: c.k, Stride: c.k, Data: g})
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkFitFashionMNIST times a whole default fit (k-means||, 20
// iterations at most, silhouette on 1000 rows).
//
//	go test ./ml/kmeans -run '^$' -bench FitFashionMNIST -benchtime 1x
func BenchmarkFitFashionMNIST(b *testing.B) {
	s, _ := fashionInit(b)
	ctx := context.Background()
	e := cluster.NewEngine(cluster.Config{})
	defer e.Close()
	ds, err := e.FromDense(ctx, "fashion-mnist", s.X, s.Rows, s.Cols, s.Y, nil, 4*e.Workers())
	if err != nil {
		b.Fatal(err)
	}
	b.Run("k=10/init=k-means||", func(b *testing.B) {
		var m *Model
		for b.Loop() {
			if m, err = Fit(ctx, e, ds, Config{K: 10, Seed: 1}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(m.Iterations), "iters")
		b.ReportMetric(m.Inertia, "inertia")
		b.ReportMetric(m.Silhouette, "silhouette")
	})
}
