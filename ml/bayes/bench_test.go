package bayes

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/internal/datasets"
)

var fashionSets struct {
	once        sync.Once
	train, test data
	err         error
}

// fashion returns the Fashion-MNIST split (pixels in [0, 1]), loaded once
// per test binary; Bernoulli models get it binarised at 0.5.
func fashion(b *testing.B, split, modelType string) data {
	b.Helper()
	f := &fashionSets
	f.once.Do(func() {
		var train, test *datasets.Set
		if train, f.err = datasets.FashionMNIST("train"); f.err != nil {
			return
		}
		if test, f.err = datasets.FashionMNIST("test"); f.err != nil {
			return
		}
		f.train, f.test = fromSet(train), fromSet(test)
	})
	if f.err != nil {
		b.Fatal(f.err)
	}
	d := f.train
	if split == "test" {
		d = f.test
	}
	if modelType == Bernoulli {
		d = d.binarized(0.5)
	}
	return d
}

// BenchmarkFitFashionMNIST times Fit (the whole one-pass fit) on the
// 60 000 × 784 Fashion-MNIST training images, dense, in 4 partitions per
// worker, on one worker per core, and reports training rows per second.
//
//	go test ./ml/bayes -run '^$' -bench FitFashionMNIST -benchtime 10x -count 3
func BenchmarkFitFashionMNIST(b *testing.B) {
	ctx := context.Background()
	e := cluster.NewEngine(cluster.Config{})
	defer e.Close()
	for _, mt := range []string{Multinomial, Bernoulli, Gaussian} {
		d := fashion(b, "train", mt)
		ds := d.load(b, e, 4*e.Workers(), false)
		b.Run(fmt.Sprintf("type=%s/rows=%d/workers=%d", mt, d.rows, e.Workers()), func(b *testing.B) {
			for b.Loop() {
				if _, err := Fit(ctx, e, ds, Config{ModelType: mt}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(d.rows*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
		e.Drop(ds)
	}
}

// BenchmarkPredictFashionMNIST times PredictBatch and ProbaBatch (one
// goroutine) on the 10 000 Fashion-MNIST test images with a model fitted
// on the training images, and reports predictions per second.
//
//	go test ./ml/bayes -run '^$' -bench PredictFashionMNIST -count 3
func BenchmarkPredictFashionMNIST(b *testing.B) {
	e := cluster.NewEngine(cluster.Config{})
	defer e.Close()
	for _, mt := range []string{Multinomial, Bernoulli, Gaussian} {
		train, test := fashion(b, "train", mt), fashion(b, "test", mt)
		ds := train.load(b, e, 4*e.Workers(), false)
		m := fit(b, e, ds, Config{ModelType: mt})
		e.Drop(ds)
		pred := make([]float64, test.rows)
		proba := make([]float64, test.rows*m.Classes)
		b.Run(fmt.Sprintf("type=%s/op=predict", mt), func(b *testing.B) {
			for b.Loop() {
				m.PredictBatch(pred, test.x, test.rows)
			}
			b.ReportMetric(float64(test.rows*b.N)/b.Elapsed().Seconds(), "predictions/s")
		})
		b.Run(fmt.Sprintf("type=%s/op=proba", mt), func(b *testing.B) {
			for b.Loop() {
				m.ProbaBatch(proba, test.x, test.rows)
			}
			b.ReportMetric(float64(test.rows*b.N)/b.Elapsed().Seconds(), "predictions/s")
		})
	}
}
