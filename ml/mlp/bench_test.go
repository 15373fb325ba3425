package mlp

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/flintml/flint/cluster"
)

// benchNet is the benchmarked network: Fashion-MNIST's 784 pixels, one
// hidden layer of 128 ReLU units, 10 classes.
var benchNet = []int{784, 128, 10}

// benchRows returns n rows of Fashion-MNIST (real pixels: about half are
// zero, which gonum's matrix product exploits) with their labels.
func benchRows(b *testing.B, n int) (x, y []float64) {
	s := fashionMNIST(b, "train", n)
	return s.X, s.Y
}

// One data-parallel training iteration: broadcast the parameters, each
// partition samples its share of the mini-batch and runs forward and
// backward on its cached gorgonia graph, the engine tree-combines, the
// driver averages and takes an Adam step.
//
//	go test ./ml/mlp -run '^$' -bench 'TrainStep|Predict|BuildGraph' -count 6 | tee new.txt; benchstat old.txt new.txt
func BenchmarkTrainStep(b *testing.B) {
	x, y := benchRows(b, 10000)
	for _, batch := range []int{64, 256} {
		for _, workers := range []int{1, 2} {
			b.Run(fmt.Sprintf("net=784-128-10/batch=%d/workers=%d", batch, workers), func(b *testing.B) {
				e := newEngine(b, workers)
				ds, err := e.FromDense(context.Background(), "bench", x, len(y), 784, y, nil, workers)
				if err != nil {
					b.Fatal(err)
				}
				params := initParams(benchNet, ReLU, 1)
				rowsPer := make([]int, workers)
				for i, s := range ds.Stats() {
					rowsPer[i] = s.Rows
				}
				args := &stepArgs{Sizes: benchNet, Activation: ReLU, Output: Softmax, Params: params, L2: 1e-4,
					Seed: 1, Shares: batchShares(rowsPer, batch)}
				opt := newOptimizer(Config{}.withDefaults(), len(params))
				grad := make([]float64, len(params))
				b.ReportAllocs()
				rows := 0
				for b.Loop() {
					args.Step++
					p, err := cluster.Aggregate(context.Background(), e, ds, stepTask, args)
					if err != nil {
						b.Fatal(err)
					}
					for i, g := range p.Grad {
						grad[i] = g / p.Weight
					}
					opt.step(params, grad)
					rows += p.Rows
				}
				b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}

// What caching the compiled graphs saves: building, differentiating and
// compiling one graph, against BenchmarkTrainStep's cost per iteration.
func BenchmarkBuildGraph(b *testing.B) {
	for _, rows := range []int{64, 256} {
		b.Run(fmt.Sprintf("net=784-128-10/rows=%d", rows), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := newNetGraph(benchNet, ReLU, Softmax, rows); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The plain-Go forward pass of a trained model, as serving runs it.
func BenchmarkPredict(b *testing.B) {
	x, _ := benchRows(b, 1024)
	r := rand.New(rand.NewPCG(1, 1))
	m := &Model{Sizes: benchNet, Activation: ReLU, Output: Softmax, Params: initParams(benchNet, ReLU, r.Uint64())}
	for _, batch := range []int{1, 32, 256} {
		b.Run(fmt.Sprintf("net=784-128-10/batch=%d", batch), func(b *testing.B) {
			dst := make([]float64, batch*m.Outputs())
			b.ReportAllocs()
			rows, off := 0, 0
			for b.Loop() {
				if off+batch > 1024 {
					off = 0
				}
				if err := m.PredictBatch(dst, x[off*784:(off+batch)*784], batch); err != nil {
					b.Fatal(err)
				}
				rows += batch
				off += batch
			}
			b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
