package streaming

import (
	"math/rand/v2"
	"testing"
)

// The benchmarks report records/s: rows folded into the model per second.
//
//	go test -run '^$' -bench . -benchtime 2s ./ml/streaming/

func BenchmarkKMeansUpdate(b *testing.B) {
	const k, dim, rows = 8, 16, 1000
	r := rand.New(rand.NewPCG(1, 1))
	centres := make([]float64, k*dim)
	for i := range centres {
		centres[i] = 10 * r.NormFloat64()
	}
	x := blobs(r, centres, k, dim, rows, 1)
	m, err := NewKMeans(KMeansConfig{K: k, Dim: dim, HalfLife: 10})
	if err != nil {
		b.Fatal(err)
	}
	m.Update(x, nil)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		m.Update(x, nil)
	}
	b.ReportMetric(float64(b.N)*rows/b.Elapsed().Seconds(), "records/s")
}

// benchSGD runs full batches of 50 steps (ConvergenceTol < 0: no early
// stop), so each record is visited 50 times, as in MLlib's default.
func benchSGD(b *testing.B, logistic bool) {
	const dim, rows = 16, 1000
	r := rand.New(rand.NewPCG(2, 2))
	beta := make([]float64, dim)
	for i := range beta {
		beta[i] = r.NormFloat64()
	}
	x, y := regression(r, beta, 0.3, rows, 0.5, logistic)
	cfg := SGDConfig{Dim: dim, ConvergenceTol: -1}
	var update func()
	if logistic {
		m, err := NewLogistic(cfg)
		if err != nil {
			b.Fatal(err)
		}
		update = func() { m.Update(x, y, nil) }
	} else {
		m, err := NewLinear(cfg)
		if err != nil {
			b.Fatal(err)
		}
		update = func() { m.Update(x, y, nil) }
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		update()
	}
	b.ReportMetric(float64(b.N)*rows/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkLinearUpdate(b *testing.B)   { benchSGD(b, false) }
func BenchmarkLogisticUpdate(b *testing.B) { benchSGD(b, true) }

// TestUpdateAllocatesNothing: after the first batch, Update allocates
// nothing, for every model.
func TestUpdateAllocatesNothing(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	x, y := regression(r, trueBeta, trueIntercept, 200, 0.5, true)
	km, _ := NewKMeans(KMeansConfig{K: 3, Dim: 5, HalfLife: 2, TimeUnit: "points"})
	lin, _ := NewLinear(SGDConfig{Dim: 5, MiniBatchFraction: 0.5})
	lg, _ := NewLogistic(SGDConfig{Dim: 5, RegParam: 0.1})
	km.Update(x, nil)
	for name, f := range map[string]func(){
		"kmeans":   func() { km.Update(x, nil) },
		"linear":   func() { lin.Update(x, y, nil) },
		"logistic": func() { lg.Update(x, y, y) },
	} {
		if n := testing.AllocsPerRun(5, f); n != 0 {
			t.Errorf("%s: Update allocates %v times per batch, want 0", name, n)
		}
	}
}
