package mlp

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"gonum.org/v1/gonum/diff/fd"
	"gonum.org/v1/gonum/floats"

	"github.com/flintml/flint/cluster"
)

// netCase is a tiny random network and batch.
type netCase struct {
	sizes []int
	act   Activation
	out   Output
	rows  int
	l2    float64
}

func (c netCase) String() string {
	return fmt.Sprintf("sizes=%v/act=%s/out=%s/rows=%d/l2=%v", c.sizes, c.act, c.out, c.rows, c.l2)
}

var netCases = []netCase{
	{[]int{5, 4, 3}, Tanh, Softmax, 7, 0.1},
	{[]int{5, 6, 4, 3}, Sigmoid, Softmax, 4, 0.3},
	{[]int{5, 4, 3}, ReLU, Softmax, 6, 0.05},
	{[]int{6, 5, 4, 2}, ReLU, Softmax, 9, 0},
	{[]int{3, 4, 1}, Tanh, Identity, 5, 0.2},
	{[]int{3, 3, 2, 1}, Sigmoid, Identity, 3, 0.01},
	{[]int{4, 3}, ReLU, Softmax, 1, 0.1}, // no hidden layer, one row
	{[]int{4, 2, 3}, ReLU, Softmax, 1, 0.1},
}

// randomBatch returns a block of rows random rows for the case (with
// uneven sample weights) and random parameters.
func randomBatch(c netCase, seed uint64) (*cluster.Block, []float64) {
	r := rand.New(rand.NewPCG(seed, 99))
	in, out := c.sizes[0], c.sizes[len(c.sizes)-1]
	b := &cluster.Block{Rows: c.rows, Cols: in, X: make([]float64, c.rows*in), Y: make([]float64, c.rows), W: make([]float64, c.rows)}
	for i := range b.X {
		b.X[i] = r.NormFloat64()
	}
	for i := range b.Y {
		if c.out == Softmax {
			b.Y[i] = float64(r.IntN(out))
		} else {
			b.Y[i] = r.NormFloat64()
		}
		b.W[i] = 0.5 + r.Float64()
	}
	params := make([]float64, numParams(c.sizes))
	for i := range params {
		params[i] = 0.7 * r.NormFloat64()
	}
	return b, params
}

// objective is the trainer's objective on one batch: the weighted mean
// loss plus λ/2·‖W‖², with its gradient, both from the gorgonia graph.
type objective struct {
	ng     *netGraph
	weight float64
	l2     float64
}

func newObjective(t *testing.T, c netCase, b *cluster.Block) *objective {
	t.Helper()
	ng, err := newNetGraph(c.sizes, c.act, c.out, c.rows)
	if err != nil {
		t.Fatal(err)
	}
	all := make([]int, b.Rows)
	for i := range all {
		all[i] = i
	}
	w, err := ng.load(b, all)
	if err != nil {
		t.Fatal(err)
	}
	return &objective{ng: ng, weight: w, l2: c.l2}
}

func (o *objective) eval(t *testing.T, params, grad []float64) float64 {
	o.ng.setParams(params)
	loss, err := o.ng.run(o.l2 / 2 * o.weight)
	if err != nil {
		t.Fatal(err)
	}
	if grad != nil {
		clear(grad)
		if err := o.ng.addGrad(grad); err != nil {
			t.Fatal(err)
		}
		floats.Scale(1/o.weight, grad)
	}
	return loss / o.weight
}

// relErr is ‖a−b‖ / max(‖a‖, ‖b‖).
func relErr(a, b []float64) float64 {
	den := max(floats.Norm(a, 2), floats.Norm(b, 2))
	if den == 0 {
		return 0
	}
	return floats.Distance(a, b, 2) / den
}

func TestGradientMatchesFiniteDifferences(t *testing.T) {
	for i, c := range netCases {
		t.Run(c.String(), func(t *testing.T) {
			b, params := randomBatch(c, uint64(i))
			obj := newObjective(t, c, b)
			grad := make([]float64, len(params))
			obj.eval(t, params, grad)

			numeric := fd.Gradient(nil, func(p []float64) float64 { return obj.eval(t, p, nil) }, params,
				&fd.Settings{Formula: fd.Central, Step: 1e-6})
			if e := relErr(grad, numeric); !(e < 1e-5) {
				t.Errorf("relative error %.3g between gorgonia's gradient and central differences, want < 1e-5\ngorgonia %v\nnumeric  %v", e, grad, numeric)
			}

			// The comparison can fail: against the objective with a
			// slightly different penalty (or, without one, slightly
			// different sample weights) it must.
			if c.l2 > 0 {
				wrong := &objective{ng: obj.ng, weight: obj.weight, l2: c.l2 * 1.05}
				numeric = fd.Gradient(nil, func(p []float64) float64 { return wrong.eval(t, p, nil) }, params,
					&fd.Settings{Formula: fd.Central, Step: 1e-6})
				if e := relErr(grad, numeric); e < 1e-5 {
					t.Errorf("gradient check did not notice a 5%% change of λ (relative error %.3g)", e)
				}
			}
		})
	}
}

func TestPlainForwardMatchesGorgonia(t *testing.T) {
	for i, c := range netCases {
		t.Run(c.String(), func(t *testing.T) {
			b, params := randomBatch(c, uint64(100+i))
			obj := newObjective(t, c, b)
			graphLoss := obj.eval(t, params, nil)
			graphOut := append([]float64(nil), (*obj.ng.output).Data().([]float64)...)

			m := &Model{Sizes: c.sizes, Activation: c.act, Output: c.out, Params: params}
			k := m.Outputs()
			got := make([]float64, c.rows*k)
			if err := m.PredictBatch(got, b.X, c.rows); err != nil {
				t.Fatal(err)
			}
			// The graph's Softmax output is log-probabilities.
			want := graphOut
			if c.out == Softmax {
				for j := range want {
					want[j] = math.Exp(want[j])
				}
			}
			for j := range got {
				if d := math.Abs(got[j] - want[j]); d > 1e-12*max(1, math.Abs(want[j])) {
					t.Fatalf("output %d (row %d): plain Go %v, gorgonia %v (difference %.3g)", j, j/k, got[j], want[j], d)
				}
			}

			// The same loss, computed from the plain forward pass.
			sum := 0.0
			for r := 0; r < c.rows; r++ {
				var l float64
				if c.out == Softmax {
					l = -math.Log(got[r*k+int(b.Y[r])])
				} else {
					l = 0.5 * (got[r] - b.Y[r]) * (got[r] - b.Y[r])
				}
				sum += b.W[r] * l
			}
			wOff, _ := layerOffsets(c.sizes)
			sq := 0.0
			for l := range wOff {
				for _, w := range params[wOff[l] : wOff[l]+c.sizes[l]*c.sizes[l+1]] {
					sq += w * w
				}
			}
			plainLoss := sum/obj.weight + c.l2/2*sq
			if d := math.Abs(plainLoss - graphLoss); d > 1e-12*max(1, math.Abs(graphLoss)) {
				t.Errorf("loss: plain Go %v, gorgonia %v", plainLoss, graphLoss)
			}

			// Predict on single rows agrees with the batch.
			one := make([]float64, k)
			for r := 0; r < c.rows; r++ {
				class, err := m.Predict(one, b.Row(r))
				if err != nil {
					t.Fatal(err)
				}
				for j := range one {
					if one[j] != got[r*k+j] {
						t.Fatalf("row %d: Predict %v, PredictBatch %v", r, one, got[r*k:(r+1)*k])
					}
				}
				if c.out == Softmax && class != argmax(one) {
					t.Fatalf("row %d: class %d, argmax %d", r, class, argmax(one))
				}
			}
		})
	}
}

// Graphs of the same shape run concurrently on worker goroutines; under
// -race this checks that gorgonia keeps no shared mutable state at run
// time, and in any case that concurrent runs agree with a serial one.
func TestGraphsRunConcurrently(t *testing.T) {
	for _, c := range []netCase{netCases[1], netCases[2]} {
		t.Run(c.String(), func(t *testing.T) { testGraphsRunConcurrently(t, c) })
	}
}

func testGraphsRunConcurrently(t *testing.T, c netCase) {
	b, params := randomBatch(c, 5)
	ref := newObjective(t, c, b)
	want := make([]float64, len(params))
	wantLoss := ref.eval(t, params, want)

	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		ng, err := newNetGraph(c.sizes, c.act, c.out, c.rows)
		if err != nil {
			t.Fatal(err)
		}
		all := make([]int, c.rows)
		for i := range all {
			all[i] = i
		}
		if _, err := ng.load(b, all); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				ng.setParams(params)
				loss, err := ng.run(c.l2 / 2 * ref.weight)
				if err != nil {
					errs <- err
					return
				}
				got := make([]float64, len(params))
				if err := ng.addGrad(got); err != nil {
					errs <- err
					return
				}
				floats.Scale(1/ref.weight, got)
				if loss/ref.weight != wantLoss || !floats.Equal(got, want) {
					errs <- fmt.Errorf("concurrent run gave loss %v and gradient %v, serial %v and %v", loss/ref.weight, got, wantLoss, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestBatchShares(t *testing.T) {
	for _, c := range []struct {
		parts []int
		batch int
		want  []int
	}{
		{[]int{100, 100}, 50, []int{25, 25}},
		{[]int{100, 50, 50}, 10, []int{5, 3, 2}}, // remainders 0.5, 0.5: the lower index first
		{[]int{10, 0, 10}, 8, []int{4, 0, 4}},
		{[]int{3, 3, 3, 3}, 2, []int{1, 1, 1, 1}}, // every non-empty partition gives a row
		{[]int{3, 4}, 100, []int{3, 4}},           // full batch
		{[]int{1000, 1}, 10, []int{10, 1}},
	} {
		got := batchShares(c.parts, c.batch)
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("batchShares(%v, %d) = %v, want %v", c.parts, c.batch, got, c.want)
		}
	}
}

func TestSampleRowsCoversEpoch(t *testing.T) {
	// A partition of 10 rows giving 5 per step visits every row once in
	// the two steps of an epoch, and a different order in the next epoch.
	a := &stepArgs{Seed: 3}
	seen := map[int]int{}
	var first []int
	for step := 0; step < 2; step++ {
		a.Step = step
		rows := sampleRows(a, 1, 10, 5)
		first = append(first, rows...)
		for _, r := range rows {
			seen[r]++
		}
	}
	if len(seen) != 10 {
		t.Fatalf("an epoch visited %d distinct rows of 10: %v", len(seen), seen)
	}
	a.Epoch, a.Step = 1, 0
	again := append(sampleRows(a, 1, 10, 5), sampleRows(&stepArgs{Seed: 3, Epoch: 1, Step: 1}, 1, 10, 5)...)
	if fmt.Sprint(again) == fmt.Sprint(first) {
		t.Errorf("epochs 0 and 1 drew the same order %v", first)
	}
	if fmt.Sprint(sampleRows(&stepArgs{Seed: 3}, 2, 10, 5)) == fmt.Sprint(first[:5]) {
		t.Errorf("partitions 1 and 2 drew the same rows")
	}
}
