package mlp

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/internal/datasets"
)

// raceEnabled is set when the tests run under the race detector.
var raceEnabled = false

func newEngine(t testing.TB, workers int) *cluster.Engine {
	e := cluster.NewEngine(cluster.Config{Workers: workers})
	t.Cleanup(func() { e.Close() })
	return e
}

// digits loads scikit-learn's digits (1797 8×8 images) scaled to [0, 1].
func digits(t testing.TB) *datasets.Set {
	t.Helper()
	s, err := datasets.Sklearn("digits")
	if err != nil {
		t.Fatal(err)
	}
	for i := range s.X {
		s.X[i] /= 16
	}
	return s
}

// heldOut returns every row of a dataset's partitions as flat slices, in
// partition order.
func heldOut(t testing.TB, e *cluster.Engine, ds *cluster.Dataset) (x, y []float64) {
	t.Helper()
	for i := 0; i < ds.NumPartitions(); i++ {
		b, err := e.Block(ds, i)
		if err != nil {
			t.Fatal(err)
		}
		x = append(x, b.X...)
		y = append(y, b.Y...)
	}
	return x, y
}

func accuracy(t testing.TB, m *Model, x, y []float64) float64 {
	t.Helper()
	pred := make([]int, len(y))
	if err := m.Classify(pred, x, len(y)); err != nil {
		t.Fatal(err)
	}
	right := 0
	for i, p := range pred {
		if float64(p) == y[i] {
			right++
		}
	}
	return float64(right) / float64(len(y))
}

// Same seed, same data, same partitioning: bit-identical weights whatever
// the number of workers, and the graphs are built once per worker and
// shape, not per iteration.
func TestDeterministicAcrossWorkers(t *testing.T) {
	s := digits(t)
	cfg := Config{Hidden: []int{24, 16}, Activation: Tanh, BatchSize: 96, Epochs: 3, L2: 1e-3, Seed: 11}
	var ref *Result
	for _, workers := range []int{1, 2, 8} {
		e := newEngine(t, workers)
		ds, err := e.FromDense(context.Background(), "digits", s.X, s.Rows, s.Cols, s.Y, nil, 8)
		if err != nil {
			t.Fatal(err)
		}
		builds := graphBuilds.Load()
		res, err := Train(context.Background(), e, ds, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if built := graphBuilds.Load() - builds; built > 8 {
			t.Errorf("%d workers: %d iterations over 8 partitions built %d graphs, want at most one per partition", workers, res.Iterations, built)
		}
		if ref == nil {
			ref = res
			if res.Iterations != 3*19 { // ⌈1797/96⌉ = 19 per epoch
				t.Errorf("%d iterations, want 57", res.Iterations)
			}
			continue
		}
		for i, p := range res.Model.Params {
			if math.Float64bits(p) != math.Float64bits(ref.Model.Params[i]) {
				t.Fatalf("%d workers: parameter %d is %v, with 1 worker %v", workers, i, p, ref.Model.Params[i])
			}
		}
		if res.Loss != ref.Loss {
			t.Errorf("%d workers: loss %v, with 1 worker %v", workers, res.Loss, ref.Loss)
		}
	}

	// A different seed gives different weights (so the check above can fail).
	e := newEngine(t, 2)
	ds, err := e.FromDense(context.Background(), "digits", s.X, s.Rows, s.Cols, s.Y, nil, 8)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Seed++
	other, err := Train(context.Background(), e, ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(other.Model.Params, ref.Model.Params) {
		t.Error("seeds 11 and 12 trained identical weights")
	}
}

// A real check on real data: scikit-learn's digits, held-out accuracy.
func TestDigitsAccuracy(t *testing.T) {
	s := digits(t)
	e := newEngine(t, 2)
	ds, err := e.FromDense(context.Background(), "digits", s.X, s.Rows, s.Cols, s.Y, nil, 4)
	if err != nil {
		t.Fatal(err)
	}
	train, test, err := cluster.RandomSplit(context.Background(), e, ds, 0.75, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"adam", Config{Hidden: []int{64}, BatchSize: 64, Epochs: 40, LearningRate: 3e-3, L2: 1e-4, Seed: 1}},
		{"sgd-momentum", Config{Hidden: []int{64}, Activation: Tanh, Optimizer: SGD, Momentum: 0.9, LearningRate: 0.05, BatchSize: 64, Epochs: 40, Seed: 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var losses []float64
			c.cfg.Progress = func(p Progress) { losses = append(losses, p.Loss) }
			res, err := Train(context.Background(), e, train, c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			x, y := heldOut(t, e, test)
			acc := accuracy(t, res.Model, x, y)
			t.Logf("%s: %d held-out rows, accuracy %.4f, loss %.4f after %d iterations (%d epochs, converged %v) in %v",
				c.name, len(y), acc, res.Loss, res.Iterations, res.Epochs, res.Converged, res.Elapsed.Round(time.Millisecond))
			if acc < 0.95 {
				t.Errorf("held-out accuracy %.4f, want >= 0.95", acc)
			}
			if len(losses) != res.Iterations || !(losses[len(losses)-1] < losses[0]/5) {
				t.Errorf("progress: %d losses for %d iterations, first %v last %v", len(losses), res.Iterations, losses[0], losses[len(losses)-1])
			}
		})
	}
}

// fashionMNIST loads a split, limited to the first n rows (0: all).
func fashionMNIST(t testing.TB, split string, n int) *datasets.Set {
	t.Helper()
	s, err := datasets.FashionMNIST(split)
	if err != nil {
		t.Fatal(err)
	}
	if n > 0 && n < s.Rows {
		s.Rows, s.X, s.Y = n, s.X[:n*s.Cols], s.Y[:n]
	}
	return s
}

func trainFashion(t *testing.T, trainRows int, cfg Config) float64 {
	start := time.Now()
	tr := fashionMNIST(t, "train", trainRows)
	te := fashionMNIST(t, "test", 0)
	loaded := time.Since(start)
	e := newEngine(t, 0)
	ds, err := e.FromDense(context.Background(), "fashion-mnist", tr.X, tr.Rows, tr.Cols, tr.Y, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Train(context.Background(), e, ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	acc := accuracy(t, res.Model, te.X, te.Y)
	t.Logf("Fashion-MNIST: %d training rows, %d test rows, %d workers: test accuracy %.4f; loss %.4f after %d iterations (%d epochs) in %v (data loaded in %v)",
		tr.Rows, te.Rows, e.Workers(), acc, res.Loss, res.Iterations, res.Epochs, res.Elapsed.Round(time.Millisecond), loaded.Round(time.Millisecond))
	return acc
}

// The default run trains on 10 000 Fashion-MNIST rows; FLINT_LONG=1 trains
// on all 60 000 (TestFashionMNISTFull).
func TestFashionMNISTSubset(t *testing.T) {
	if raceEnabled {
		t.Skip("about 25× slower under the race detector; TestDigitsAccuracy and TestDeterministicAcrossWorkers run the same concurrent code")
	}
	if acc := trainFashion(t, 10000, Config{Hidden: []int{128}, BatchSize: 128, Epochs: 8, LearningRate: 2e-3, Seed: 1}); acc < 0.80 {
		t.Errorf("test accuracy %.4f after training on 10 000 rows, want >= 0.80", acc)
	}
}

func TestFashionMNISTFull(t *testing.T) {
	if os.Getenv("FLINT_LONG") == "" {
		t.Skip("set FLINT_LONG=1 (make test-long) to train on all 60 000 Fashion-MNIST rows")
	}
	if acc := trainFashion(t, 0, Config{Hidden: []int{256}, BatchSize: 128, Epochs: 15, LearningRate: 1e-3, L2: 1e-5, Seed: 1}); acc < 0.87 {
		t.Errorf("test accuracy %.4f after training on 60 000 rows, want >= 0.87", acc)
	}
}

// Regression with the Identity output: a smooth function of two inputs.
func TestRegression(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	const n = 2000
	x, y := make([]float64, 2*n), make([]float64, n)
	for i := 0; i < n; i++ {
		a, b := 2*r.Float64()-1, 2*r.Float64()-1
		x[2*i], x[2*i+1] = a, b
		y[i] = math.Sin(3*a) + b*b
	}
	e := newEngine(t, 2)
	ds, err := e.FromDense(context.Background(), "sine", x[:2*1500], 1500, 2, y[:1500], nil, 3)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Train(context.Background(), e, ds, Config{Hidden: []int{32, 32}, Activation: Tanh, Output: Identity, BatchSize: 50, Epochs: 60, LearningRate: 5e-3, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	pred := make([]float64, 500)
	if err := res.Model.PredictBatch(pred, x[2*1500:], 500); err != nil {
		t.Fatal(err)
	}
	var ss, st, mean float64
	for _, v := range y[1500:] {
		mean += v / 500
	}
	for i, v := range y[1500:] {
		ss += (pred[i] - v) * (pred[i] - v)
		st += (v - mean) * (v - mean)
	}
	r2 := 1 - ss/st
	t.Logf("held-out R² %.4f after %d iterations", r2, res.Iterations)
	if r2 < 0.95 {
		t.Errorf("held-out R² %.4f, want >= 0.95", r2)
	}
}

// Sparse partitions are densified row by row: the same rows as CSR train
// exactly the same weights as dense ones.
func TestSparseEqualsDense(t *testing.T) {
	s := digits(t)
	rows := 600
	var dense, sparse []*cluster.Block
	for p := 0; p < 3; p++ {
		db, sb := cluster.NewDenseBuilder(s.Cols, rows/3), cluster.NewSparseBuilder(s.Cols)
		for i := p * rows / 3; i < (p+1)*rows/3; i++ {
			row := s.X[i*s.Cols : (i+1)*s.Cols]
			var ind []int32
			var val []float64
			for j, v := range row {
				if v != 0 {
					ind, val = append(ind, int32(j)), append(val, v)
				}
			}
			if err := db.AddDense(row, s.Y[i], 1); err != nil {
				t.Fatal(err)
			}
			if err := sb.AddSparse(ind, val, s.Y[i], 1); err != nil {
				t.Fatal(err)
			}
		}
		dense, sparse = append(dense, db.Block()), append(sparse, sb.Block())
	}
	e := newEngine(t, 2)
	cfg := Config{Hidden: []int{16}, BatchSize: 50, Epochs: 2, Seed: 5}
	var got [2]*Result
	for i, blocks := range [][]*cluster.Block{dense, sparse} {
		ds, err := e.FromBlocks(context.Background(), "digits", blocks)
		if err != nil {
			t.Fatal(err)
		}
		if got[i], err = Train(context.Background(), e, ds, cfg); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(got[0].Model.Params, got[1].Model.Params) {
		t.Error("sparse and dense copies of the same rows trained different weights")
	}
}

// Weighted rows: weight 2 on a row counts like the row twice, so a full
// batch with weights equals a full batch with the rows repeated.
func TestSampleWeights(t *testing.T) {
	s := digits(t)
	n := 200
	x, y := s.X[:n*s.Cols], s.Y[:n]
	w := make([]float64, n)
	var x2, y2 []float64
	for i := range w {
		w[i] = float64(1 + i%2)
		for range int(w[i]) {
			x2 = append(x2, x[i*s.Cols:(i+1)*s.Cols]...)
			y2 = append(y2, y[i])
		}
	}
	e := newEngine(t, 1)
	cfg := Config{Hidden: []int{8}, BatchSize: 1 << 20, Epochs: 5, L2: 0.01, Seed: 3, Classes: 10}
	a, err := e.FromDense(context.Background(), "weighted", x, n, s.Cols, y, w, 1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.FromDense(context.Background(), "repeated", x2, len(y2), s.Cols, y2, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	ra, err := Train(context.Background(), e, a, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := Train(context.Background(), e, b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ra.Model.Params {
		if d := math.Abs(ra.Model.Params[i] - rb.Model.Params[i]); d > 1e-9 {
			t.Fatalf("parameter %d: weighted %v, repeated %v", i, ra.Model.Params[i], rb.Model.Params[i])
		}
	}
}

func TestConvergenceStopsEarly(t *testing.T) {
	s := digits(t)
	e := newEngine(t, 2)
	ds, err := e.FromDense(context.Background(), "digits", s.X, s.Rows, s.Cols, s.Y, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	// A huge tolerance: no epoch ever improves enough, so training stops
	// after 1 + Patience epochs.
	res, err := Train(context.Background(), e, ds, Config{Hidden: []int{8}, BatchSize: 600, Epochs: 50, Tol: 10, Patience: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Converged || res.Epochs != 3 || res.Iterations != 9 {
		t.Errorf("converged %v after %d epochs, %d iterations; want true after 3 epochs, 9 iterations", res.Converged, res.Epochs, res.Iterations)
	}
	res, err = Train(context.Background(), e, ds, Config{Hidden: []int{8}, BatchSize: 600, Epochs: 50, MaxIter: 7, Tol: -1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Converged || res.Iterations != 7 || res.Epochs != 3 {
		t.Errorf("MaxIter 7: converged %v after %d epochs, %d iterations; want false, 3, 7", res.Converged, res.Epochs, res.Iterations)
	}
}

func TestCancel(t *testing.T) {
	s := digits(t)
	e := newEngine(t, 2)
	ds, err := e.FromDense(context.Background(), "digits", s.X, s.Rows, s.Cols, s.Y, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	iters := 0
	_, err = Train(ctx, e, ds, Config{Hidden: []int{8}, Progress: func(p Progress) {
		if iters = p.Iteration; iters == 3 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) || iters != 3 {
		t.Errorf("after cancelling at iteration 3: %d iterations, err %v; want context.Canceled", iters, err)
	}
}

func TestDiverges(t *testing.T) {
	s := digits(t)
	x := append([]float64(nil), s.X...)
	for i := range x {
		x[i] *= 1e6
	}
	e := newEngine(t, 1)
	ds, err := e.FromDense(context.Background(), "digits", x, s.Rows, s.Cols, s.Y, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Train(context.Background(), e, ds, Config{Hidden: []int{8}, Optimizer: SGD, LearningRate: 1e3, Output: Identity, Epochs: 50})
	if !errors.Is(err, ErrDiverged) {
		t.Errorf("err %v, want ErrDiverged", err)
	}
}

func TestBadConfig(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Hidden: []int{10, 0}}, "Config.Hidden[1]"},
		{Config{Activation: "softsign"}, "Config.Activation"},
		{Config{Output: "logistic"}, "Config.Output"},
		{Config{Classes: -1}, "Config.Classes"},
		{Config{Classes: 1}, "Config.Classes"},
		{Config{Output: Identity, Classes: 3}, "Config.Classes"},
		{Config{L2: -1}, "Config.L2"},
		{Config{L2: math.NaN()}, "Config.L2"},
		{Config{Optimizer: "lbfgs"}, "Config.Optimizer"},
		{Config{LearningRate: -0.1}, "Config.LearningRate"},
		{Config{Optimizer: SGD, Momentum: 1}, "Config.Momentum"},
		{Config{Momentum: 0.9}, "Config.Momentum"}, // Adam has no momentum
		{Config{Beta1: 1}, "Config.Beta1"},
		{Config{Beta2: -0.5}, "Config.Beta2"},
		{Config{Epsilon: -1}, "Config.Epsilon"},
		{Config{BatchSize: -1}, "Config.BatchSize"},
		{Config{Epochs: -3}, "Config.Epochs"},
		{Config{MaxIter: -3}, "Config.MaxIter"},
		{Config{Tol: math.NaN()}, "Config.Tol"},
		{Config{Patience: -1}, "Config.Patience"},
	} {
		err := c.cfg.withDefaults().validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one naming %s", c.cfg, err, c.want)
		}
	}
	if err := (Config{}).withDefaults().validate(); err != nil {
		t.Errorf("the zero Config is invalid: %v", err)
	}
}

func TestBadData(t *testing.T) {
	e := newEngine(t, 2)
	x := []float64{0, 1, 1, 0, 1, 1, 0, 0}
	for _, c := range []struct {
		name string
		x, y []float64
		cfg  Config
		want string
	}{
		{"fractional label", x, []float64{0, 1, 2.5, 0}, Config{}, "partition 1 row 0: label 2.5"},
		{"negative label", x, []float64{0, -1, 1, 0}, Config{}, "partition 0 row 1: label -1"},
		{"label beyond Classes", x, []float64{0, 1, 3, 0}, Config{Classes: 3}, "label 3 is not below Config.Classes = 3"},
		{"one class", x, []float64{0, 0, 0, 0}, Config{}, "at least 2 classes"},
		{"NaN feature", []float64{0, 1, 1, math.NaN(), 1, 1, 0, 0}, []float64{0, 1, 1, 0}, Config{}, "partition 0 row 1: feature value NaN"},
		{"infinite target", x, []float64{0, 1, math.Inf(1), 0}, Config{Output: Identity}, "label +Inf is not finite"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ds, err := e.FromDense(context.Background(), c.name, c.x, 4, 2, c.y, nil, 2)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Train(context.Background(), e, ds, c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// Broadcasts and partials cross process boundaries with encoding/gob on
// remote executors.
func TestStepValuesEncodeWithGob(t *testing.T) {
	args := stepArgs{Sizes: []int{3, 2, 2}, Activation: Tanh, Output: Softmax, Params: []float64{1, 2, 3}, L2: 0.5, Seed: 9, Epoch: 2, Step: 1, Shares: []int{4, 5}, Full: true}
	part := stepResult{Loss: 1.5, Grad: []float64{-1, 0.25}, Weight: 3, Rows: 3}
	for _, v := range []any{&args, &part, &scanStats{Rows: 3, Weight: 2, MaxLabel: 4, Bad: "x"}} {
		var buf bytes.Buffer
		if err := gob.NewEncoder(&buf).Encode(v); err != nil {
			t.Fatal(err)
		}
		back := reflect.New(reflect.TypeOf(v).Elem())
		if err := gob.NewDecoder(&buf).Decode(back.Interface()); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back.Interface(), v) {
			t.Errorf("gob round trip of %T: got %+v, want %+v", v, back.Interface(), v)
		}
	}
}
