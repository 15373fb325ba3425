package ml

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	"gonum.org/v1/gonum/floats"

	"github.com/flintml/flint/cluster"
)

// The benchmarks measure what matters for a fit: how fast one pass over
// cached data runs against the machine's floor (a plain parallel sum over
// the same bytes on the same workers), how it scales with cores, and how
// long a whole fit takes against scikit-learn on the same machine.
//
//	go test ./ml -run '^$' -bench . -benchtime 2s
//
// (make bench runs every package's benchmarks this way.)

const (
	passRows = 1_000_000
	passCols = 100
)

var passData struct {
	once sync.Once
	s    synth
}

// passSet is 1 000 000 × 100 standard normals (800 MB) with binary labels
// from a logistic model, generated once per benchmark binary.
func passSet() synth {
	passData.once.Do(func() {
		s := synth{rows: passRows, cols: passCols, x: make([]float64, passRows*passCols), y: make([]float64, passRows)}
		// Generate in parallel: one seeded stream per block of rows.
		const blocks = 64
		var wg sync.WaitGroup
		for p := 0; p < blocks; p++ {
			wg.Add(1)
			go func(p int) {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(p), 77))
				lo, hi := p*passRows/blocks, (p+1)*passRows/blocks
				for i := lo; i < hi; i++ {
					row := s.x[i*passCols : (i+1)*passCols]
					var m float64
					for j := range row {
						row[j] = r.NormFloat64()
						m += row[j] * float64(j%7-3) * 0.05
					}
					if r.Float64() < sigmoid(m) {
						s.y[i] = 1
					}
				}
			}(p)
		}
		wg.Wait()
		passData.s = s
	})
	return passData.s
}

// sumTask is the floor: the cheapest possible pass, a sum of every value.
var sumTask = cluster.Register(&cluster.Task[struct{}, float64]{
	Name: "ml.bench.sum",
	New:  func(*struct{}) *float64 { return new(float64) },
	Map: func(_ context.Context, p cluster.Part, _ *struct{}, acc *float64) error {
		*acc = floats.Sum(p.Block.X)
		return nil
	},
	Combine: func(dst, src *float64) { *dst += *src },
})

// gradientPass is one logistic loss-and-gradient pass at fixed
// coefficients.
type gradientPass struct {
	o    *glmObjective
	v, g []float64
}

func newGradientPass(e *cluster.Engine, ds *cluster.Dataset) *gradientPass {
	d := ds.Cols()
	o := &glmObjective{x: e, ds: ds, kind: logisticLoss, k: 1, d: d, intercept: true,
		scale: make([]float64, d), center: make([]float64, d), l2: make([]float64, d)}
	o.arg = lossArg{K: 1, D: d, Coef: make([]float64, d), Intercept: make([]float64, 1)}
	v := make([]float64, o.Dim())
	for j := range o.scale {
		o.scale[j] = 1
		v[j] = 0.01 * float64(j%5-2)
	}
	return &gradientPass{o: o, v: v, g: make([]float64, len(v))}
}

func (p *gradientPass) run(b *testing.B) {
	if _, err := p.o.Eval(context.Background(), p.g, p.v); err != nil {
		b.Fatal(err)
	}
}

// medianSeconds times n runs of f and returns the median.
func medianSeconds(n int, f func()) float64 {
	t := make([]float64, n)
	for i := range t {
		start := time.Now()
		f()
		t[i] = time.Since(start).Seconds()
	}
	sort.Float64s(t)
	return t[n/2]
}

// BenchmarkGradientPass: one logistic loss-and-gradient pass over 1 000 000
// cached dense rows of 100 features, as GB/s of X scanned, next to the
// machine's floor — a parallel sum (gonum's SIMD floats.Sum) over the same
// partitions on the same workers — and their ratio. Each iteration runs one
// floor pass (timer stopped) and one gradient pass, so that both see the
// same conditions on a shared machine.
//
//	go test ./ml -run '^$' -bench GradientPass -benchtime 2s
func BenchmarkGradientPass(b *testing.B) {
	s := passSet()
	workers := runtime.GOMAXPROCS(0)
	b.Run(fmt.Sprintf("rows=%d/cols=%d/workers=%d", passRows, passCols, workers), func(b *testing.B) {
		e := newEngine(b, workers)
		ds := s.dense(b, e, 4*workers)
		bytes := float64(8 * passRows * passCols)
		floorPass := func() {
			if _, err := cluster.Aggregate(context.Background(), e, ds, sumTask, &struct{}{}); err != nil {
				b.Fatal(err)
			}
		}
		p := newGradientPass(e, ds)
		p.run(b) // warm
		floorPass()
		b.SetBytes(int64(bytes))
		b.ReportAllocs()
		var floorTime time.Duration
		n := 0
		for b.Loop() {
			b.StopTimer()
			start := time.Now()
			floorPass()
			floorTime += time.Since(start)
			b.StartTimer()
			p.run(b)
			n++
		}
		gbs := bytes * float64(n) / b.Elapsed().Seconds() / 1e9
		floor := bytes * float64(n) / floorTime.Seconds() / 1e9
		b.ReportMetric(gbs, "GB/s")
		b.ReportMetric(floor, "floor-GB/s")
		b.ReportMetric(100*gbs/floor, "%floor")
	})
}

// BenchmarkScaling: the speed-up of the gradient pass from one worker to
// one per core, on the same data and partitions.
//
//	go test ./ml -run '^$' -bench Scaling -benchtime 2s
func BenchmarkScaling(b *testing.B) {
	s := passSet()
	workers := runtime.GOMAXPROCS(0)
	b.Run(fmt.Sprintf("workers=1..%d", workers), func(b *testing.B) {
		parts := 4 * workers
		e1 := newEngine(b, 1)
		p1 := newGradientPass(e1, s.dense(b, e1, parts))
		p1.run(b)
		one := medianSeconds(5, func() { p1.run(b) })
		en := newEngine(b, workers)
		pn := newGradientPass(en, s.dense(b, en, parts))
		pn.run(b)
		b.ResetTimer()
		n := 0
		for b.Loop() {
			pn.run(b)
			n++
		}
		all := b.Elapsed().Seconds() / float64(n)
		b.ReportMetric(one/all, "speedup")
		b.ReportMetric(float64(workers), "workers")
	})
}

// sklearnFashion is testdata/sklearn_fashion_mnist.json, written by
// bench/peers/logistic_fashion_mnist.py --json on this machine.
type sklearnFashion struct {
	MaxIter     int     `json:"max_iter"`
	RegParam    float64 `json:"reg_param"`
	FitSeconds  float64 `json:"fit_seconds"`
	Objective   float64 `json:"objective"`
	Iterations  int     `json:"iterations"`
	TestAcc     float64 `json:"test_accuracy"`
	BLAS        string  `json:"blas"`
	Measured    string  `json:"measured"`
	CommandLine string  `json:"command"`
}

// BenchmarkLogisticFashionMNIST: multinomial logistic regression on the
// 60 000 Fashion-MNIST training rows with scikit-learn's default penalty
// (C = 1, so RegParam = 1/60 000), by L-BFGS until the objective is at or
// below the one scikit-learn's LogisticRegression(solver="lbfgs",
// max_iter=100) reaches. It reports the time of a fit, the iterations and
// passes it took, the test accuracy, and the ratio of the time to
// scikit-learn's fit time recorded in testdata/sklearn_fashion_mnist.json
// (measured on this kind of machine: rerun the peer script to compare on
// another).
//
//	go test ./ml -run '^$' -bench LogisticFashionMNIST -benchtime 2s
//	/usr/bin/python3 bench/peers/logistic_fashion_mnist.py --max-iter 100
func BenchmarkLogisticFashionMNIST(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "sklearn_fashion_mnist.json"))
	if err != nil {
		b.Fatal(err)
	}
	var ref sklearnFashion
	if err := json.Unmarshal(data, &ref); err != nil {
		b.Fatal(err)
	}
	train, test := fashionMNIST(b)
	workers := runtime.GOMAXPROCS(0)
	b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
		e := newEngine(b, workers)
		ds := setOf(b, train).dense(b, e, 2*workers)
		testDS := setOf(b, test).dense(b, e, workers)
		var m *LogisticModel
		reached := false
		lr := LogisticRegression{RegParam: 1 / float64(train.Rows), Optimizer: Settings{MaxIter: 1000, Tol: -1,
			Progress: func(p Progress) bool {
				reached = p.Loss <= ref.Objective
				return reached
			}}}
		b.ReportAllocs()
		for b.Loop() {
			m, err = lr.Fit(context.Background(), e, ds)
			if err != nil {
				b.Fatal(err)
			}
			if !reached {
				b.Fatalf("stopped at loss %.6f (%v), above scikit-learn's %.6f", m.Summary.Loss, m.Summary.Status, ref.Objective)
			}
		}
		b.StopTimer()
		ev, err := Evaluate(context.Background(), e, testDS, m)
		if err != nil {
			b.Fatal(err)
		}
		secs := b.Elapsed().Seconds() / float64(b.N)
		b.ReportMetric(secs, "s/fit")
		b.ReportMetric(secs/ref.FitSeconds, "x-sklearn")
		b.ReportMetric(float64(m.Summary.Iterations), "iters")
		b.ReportMetric(float64(m.Summary.Evaluations), "evals")
		b.ReportMetric(m.Summary.Loss, "loss")
		b.ReportMetric(ev.Accuracy, "test-acc")
	})
}
