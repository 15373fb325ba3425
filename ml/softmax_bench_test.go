package ml

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/flintml/flint/cluster"
)

const (
	softmaxRows    = 60_000
	softmaxCols    = 784
	softmaxClasses = 10
)

var softmaxPassData struct {
	once sync.Once
	s    synth
}

// softmaxSet is Fashion-MNIST's shape, 60 000 × 784 values in [0, 1) (376
// MB) with 10 classes, generated once per benchmark binary.
func softmaxSet() synth {
	softmaxPassData.once.Do(func() {
		s := synth{rows: softmaxRows, cols: softmaxCols, x: make([]float64, softmaxRows*softmaxCols), y: make([]float64, softmaxRows)}
		r := rand.New(rand.NewPCG(5, 6))
		for i := range s.x {
			s.x[i] = r.Float64()
		}
		for i := range s.y {
			s.y[i] = float64(r.IntN(softmaxClasses))
		}
		softmaxPassData.s = s
	})
	return softmaxPassData.s
}

// BenchmarkSoftmaxPass: one multinomial (softmax) loss-and-gradient pass,
// the pass every iteration of a Fashion-MNIST fit makes, over 60 000 cached
// dense rows of 784 features with 10 classes, as GB/s of X scanned and
// GFLOP/s (4·K·D per row: the margins and the gradient), next to the
// machine's floor in the same run — a parallel sum over the same partitions
// on the same workers — and floor-x, the pass's time over the floor's (the
// goal is at most 2), with cpu-floor-x the same ratio of CPU times, the
// steadier on a machine other processes share. Each iteration runs one floor pass (timer stopped)
// and one gradient pass, so that both see the same conditions on a shared
// machine.
//
//	go test ./ml -run '^$' -bench SoftmaxPass -benchtime 20x -count 3
func BenchmarkSoftmaxPass(b *testing.B) {
	s := softmaxSet()
	workers := runtime.GOMAXPROCS(0)
	b.Run(fmt.Sprintf("rows=%d/cols=%d/classes=%d/workers=%d", softmaxRows, softmaxCols, softmaxClasses, workers), func(b *testing.B) {
		e := newEngine(b, workers)
		ds := s.dense(b, e, 4*workers)
		d, k := softmaxCols, softmaxClasses
		o := &glmObjective{x: e, ds: ds, kind: softmaxLoss, k: k, d: d, intercept: true,
			scale: make([]float64, d), center: make([]float64, d), l2: make([]float64, d)}
		o.arg = lossArg{K: k, D: d, Coef: make([]float64, k*d), Intercept: make([]float64, k)}
		v := make([]float64, o.Dim())
		for j := range v {
			v[j] = 0.001 * float64(j%7-3)
		}
		for j := range o.scale {
			o.scale[j] = 1
		}
		grad := make([]float64, len(v))
		pass := func() {
			if _, err := o.Eval(context.Background(), grad, v); err != nil {
				b.Fatal(err)
			}
		}
		floorPass := func() {
			if _, err := cluster.Aggregate(context.Background(), e, ds, sumTask, &struct{}{}); err != nil {
				b.Fatal(err)
			}
		}
		pass() // warm
		floorPass()
		bytes := float64(8 * softmaxRows * softmaxCols)
		b.SetBytes(int64(bytes))
		var floorTime, floorCPU, passCPU time.Duration
		n := 0
		for b.Loop() {
			b.StopTimer()
			start, cpu := time.Now(), cpuTime()
			floorPass()
			floorTime += time.Since(start)
			floorCPU += cpuTime() - cpu
			b.StartTimer()
			cpu = cpuTime()
			pass()
			passCPU += cpuTime() - cpu
			n++
		}
		secs := b.Elapsed().Seconds()
		if floorCPU > 0 {
			b.ReportMetric(passCPU.Seconds()/floorCPU.Seconds(), "cpu-floor-x")
			b.ReportMetric(4*float64(k*d)*softmaxRows*float64(n)/passCPU.Seconds()/1e9, "GFLOP/cpu-s")
		}
		b.ReportMetric(bytes*float64(n)/secs/1e9, "GB/s")
		b.ReportMetric(bytes*float64(n)/floorTime.Seconds()/1e9, "floor-GB/s")
		b.ReportMetric(secs/floorTime.Seconds(), "floor-x")
		b.ReportMetric(4*float64(k*d)*softmaxRows*float64(n)/secs/1e9, "GFLOP/s")
	})
}
