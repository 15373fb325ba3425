package ml

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/flintml/flint/cluster"
)

// dense32 caches s as float32 blocks of parts partitions (each value
// rounded to float32 by the builder, as Format.Float32 decodes).
func (s synth) dense32(t testing.TB, e *cluster.Engine, parts int) *cluster.Dataset {
	t.Helper()
	blocks := make([]*cluster.Block, parts)
	for p := range blocks {
		lo, hi := p*s.rows/parts, (p+1)*s.rows/parts
		bb := cluster.NewDense32Builder(s.cols, hi-lo)
		for i := lo; i < hi; i++ {
			w := 1.0
			if s.w != nil {
				w = s.w[i]
			}
			if err := bb.AddDense(s.x[i*s.cols:(i+1)*s.cols], s.y[i], w); err != nil {
				t.Fatal(err)
			}
		}
		blocks[p] = bb.Block()
	}
	ds, err := e.FromBlocks(context.Background(), "synth-f32", blocks)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// rounded returns s with every feature value rounded to float32.
func (s synth) rounded() synth {
	r := s
	r.x = make([]float64, len(s.x))
	for i, v := range s.x {
		r.x[i] = float64(float32(v))
	}
	return r
}

// TestFloat32Pass: a loss pass over a float32 block against the pass over
// a float64 block of the same values rounded to float32, for every loss,
// with and without weights, mini-batch sampling and the fused AVX2 kernel.
// The passes that widen the float32 rows exactly and sum them with the
// float64 kernels (one margin column, mini-batches) give the same bits. The
// softmax block pass (denseK) computes its margins and gradient in float32
// lanes (tile.Products32, tile.RankUpdateF32) and must come within
// float32Bound.
func TestFloat32Pass(t *testing.T) {
	avail := hasAVX2
	defer func() { hasAVX2 = avail }()
	const d = 37
	for _, c := range []struct {
		kind lossKind
		k    int
	}{{squaredLoss, 1}, {logisticLoss, 1}, {hingeLoss, 1}, {softmaxLoss, 3}, {softmaxLoss, 4}, {softmaxLoss, 10}} {
		for _, rows := range []int{1, 9, 17, 100, 301} {
			for _, weighted := range []bool{false, true} {
				for _, frac := range []float64{0, 0.5} {
					for _, fused := range []bool{false, true} {
						name := fmt.Sprintf("%v/k=%d/rows=%d/weighted=%v/fraction=%v/fused=%v", c.kind, c.k, rows, weighted, frac, fused)
						hasAVX2 = fused && avail
						s := softmaxData(uint64(rows), rows, d, make([]float64, c.k*d), make([]float64, c.k), 0, weighted)
						for i := range s.x {
							s.x[i] = 0.3*s.x[i] + 1e-3
						}
						r := s.rounded()
						b64 := &cluster.Block{Rows: rows, Cols: d, X: r.x, Y: r.y, W: r.w}
						bb := cluster.NewDense32Builder(d, rows)
						for i := 0; i < rows; i++ {
							if err := bb.AddDense(s.x[i*d:(i+1)*d], s.y[i], b64.Weight(i)); err != nil {
								t.Fatal(err)
							}
						}
						b32 := bb.Block()
						a := &lossArg{K: c.k, D: d, Coef: make([]float64, c.k*d), Intercept: make([]float64, c.k), Fraction: frac, Seed: 3}
						for j := range a.Coef {
							a.Coef[j] = 0.2 * math.Sin(float64(j))
						}
						var got [2]*lossPartial
						for i, b := range []*cluster.Block{b64, b32} {
							got[i] = newLossPartial(a)
							if err := lossMap(context.Background(), c.kind, cluster.Part{Block: b}, a, got[i]); err != nil {
								t.Fatalf("%s: %v", name, err)
							}
						}
						g, w := got[1], got[0]
						if c.kind == softmaxLoss && frac == 0 {
							if err := float32Bound(b64, a, g, w); err != nil {
								t.Fatalf("%s: %v", name, err)
							}
							continue
						}
						if math.Float64bits(g.Loss) != math.Float64bits(w.Loss) || g.Weight != w.Weight ||
							!slices.Equal(g.Grad, w.Grad) || !slices.Equal(g.Bias, w.Bias) {
							t.Fatalf("%s: float32 pass (loss %v) differs from the rounded float64 pass (loss %v)", name, g.Loss, w.Loss)
						}
					}
				}
			}
		}
	}
}

// float32Bound checks a softmax pass over float32 rows (got) against the
// float64 pass over the same values (want, block b, coefficients a).
//
// Row i's margin m_ik = x_i·c_k comes from tile.Products32: sixteen float32
// lanes of at most ⌈d/16⌉ fused steps, each rounding by at most 2⁻²⁴ of the
// lane's running sum of |products|, against coefficients each rounded by
// at most 2⁻²⁴ of itself; so it is within ε_i = (⌈d/16⌉+1)·2⁻²⁴·max_k
// Σ_l |x_il·c_kl| of the float64 margin. A shift of the margins by at most
// ε changes the row's softmax loss by at most 2ε and each probability by at
// most p_k·(e^{2ε}−1), under 2.01·ε for the ε here. The gradient's rank
// update (tile.RankUpdateF32) rounds the residuals r_ik (|r_ik| ≤ w_i) to
// float32 and sums at most f32Rows rows in float32, each step rounding by
// at most 2⁻²⁴ of the running sum of |products|, before adding into the
// float64 gradient. So, with w_i the row weights, the loss may differ by
// 2·Σ w_i·ε_i, the bias of class k by 2.01·Σ w_i·ε_i and gradient entry
// (k, l) by Σ w_i·|x_il|·(2.01·ε_i + (f32Rows+1)·2⁻²⁴), each plus a float64
// slack of 10⁻¹³ of the sum of magnitudes it is accumulated from. A
// dropped row, a lane summed twice or a wrong coefficient moves a sum by
// about the size of a term, many times more.
func float32Bound(b *cluster.Block, a *lossArg, got, want *lossPartial) error {
	d, K := a.D, a.K
	if got.Weight != want.Weight {
		return fmt.Errorf("weight %v, float64 pass %v", got.Weight, want.Weight)
	}
	steps := float64((d+15)/16 + 1)
	var lossTol, biasTol float64
	gradTol := make([]float64, d)
	gradAbs := make([]float64, K*d)
	for i := 0; i < b.Rows; i++ {
		xi := b.X[i*d : (i+1)*d]
		eps := 0.0
		for k := range K {
			s := 0.0
			for l, v := range xi {
				s += math.Abs(v * a.Coef[k*d+l])
			}
			eps = max(eps, steps*0x1p-24*s)
		}
		wi := b.Weight(i)
		lossTol += 2 * wi * eps
		biasTol += 2.01 * wi * eps
		for l, v := range xi {
			gradTol[l] += wi * math.Abs(v) * (2.01*eps + (f32Rows+1)*0x1p-24)
			for k := range K {
				gradAbs[k*d+l] += wi * math.Abs(v)
			}
		}
	}
	const slack = 1e-13
	if diff := math.Abs(got.Loss - want.Loss); diff > lossTol+slack*math.Abs(want.Loss) {
		return fmt.Errorf("loss %v, float64 pass %v: off by %.3g, bound %.3g", got.Loss, want.Loss, diff, lossTol)
	}
	for k := range K {
		if diff := math.Abs(got.Bias[k] - want.Bias[k]); diff > biasTol+slack*want.Weight {
			return fmt.Errorf("bias %d: %v, float64 pass %v: off by %.3g, bound %.3g", k, got.Bias[k], want.Bias[k], diff, biasTol)
		}
		for l := range d {
			j := k*d + l
			if diff := math.Abs(got.Grad[j] - want.Grad[j]); diff > gradTol[l]+slack*gradAbs[j] {
				return fmt.Errorf("gradient (%d, %d): %v, float64 pass %v: off by %.3g, bound %.3g", k, l, got.Grad[j], want.Grad[j], diff, gradTol[l])
			}
		}
	}
	return nil
}

// The float32 tolerance, stated: held-out accuracy within 0.01 of the
// float64 fit's, and final training loss within 1e-3 relative. Rounding a
// feature to float32 moves it by at most 2⁻²⁴ of itself (6·10⁻⁸); every
// product and sum stays float64, so the fits differ by the data's
// rounding only.
const (
	float32AccuracyTol = 0.01
	float32LossTol     = 1e-3
)

// TestFloat32FitWithinTolerance fits logistic regression (binary on
// breast_cancer's raw features, which span 10⁻³ to 10³ with many digits;
// multinomial on wine) to the same training rows in float64 and float32
// blocks and compares held-out accuracy (scored on float32 test blocks for
// the float32 model) and final loss against the stated tolerance.
func TestFloat32FitWithinTolerance(t *testing.T) {
	for _, name := range []string{"breast_cancer", "wine"} {
		t.Run(name, func(t *testing.T) {
			s := setOf(t, sklearnSet(t, name))
			// Every 3rd row is held out (the files are sorted by class).
			train, test := interleave(s, 3)
			e := newEngine(t, 2)
			lr := LogisticRegression{RegParam: 1e-3, Standardization: true, Optimizer: Settings{MaxIter: 200}}
			compareFloat32Fit(t, e, lr, train, test, 3)
		})
	}
}

// compareFloat32Fit fits lr to train cached in float64 and in float32
// blocks (parts partitions), scores each model on test cached the same
// way, and holds the float32 fit's held-out accuracy and final loss to
// float32AccuracyTol and float32LossTol of the float64 fit's.
func compareFloat32Fit(t *testing.T, e *cluster.Engine, lr LogisticRegression, train, test synth, parts int) {
	t.Helper()
	ctx := context.Background()
	var acc, loss [2]float64
	for i, f32 := range []bool{false, true} {
		trainDS, testDS := train.dense(t, e, parts), test.dense(t, e, 2)
		if f32 {
			trainDS, testDS = train.dense32(t, e, parts), test.dense32(t, e, 2)
		}
		m, err := lr.Fit(ctx, e, trainDS)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := Evaluate(ctx, e, testDS, m)
		if err != nil {
			t.Fatal(err)
		}
		acc[i], loss[i] = ev.Accuracy, m.Summary.Loss
		e.Drop(trainDS)
		e.Drop(testDS)
	}
	t.Logf("held-out accuracy float64 %.4f, float32 %.4f; final loss %.9g, %.9g", acc[0], acc[1], loss[0], loss[1])
	if d := math.Abs(acc[1] - acc[0]); d > float32AccuracyTol {
		t.Errorf("held-out accuracy differs by %.4f (float64 %.4f, float32 %.4f), tolerance %v", d, acc[0], acc[1], float32AccuracyTol)
	}
	if d := math.Abs(loss[1]-loss[0]) / math.Abs(loss[0]); d > float32LossTol {
		t.Errorf("final loss differs by %.3g relative (float64 %v, float32 %v), tolerance %v", d, loss[0], loss[1], float32LossTol)
	}
}

// interleave puts every k-th row of s in the second set, the rest in the first.
func interleave(s synth, k int) (a, b synth) {
	a.cols, b.cols = s.cols, s.cols
	for i := 0; i < s.rows; i++ {
		dst := &a
		if i%k == k-1 {
			dst = &b
		}
		dst.x = append(dst.x, s.x[i*s.cols:(i+1)*s.cols]...)
		dst.y = append(dst.y, s.y[i])
		dst.rows++
	}
	return a, b
}

// BenchmarkFloat32Pass: one loss-and-gradient pass over the same rows
// cached as float64 and as float32 blocks, the two alternating in every
// iteration so both see the same conditions on a shared machine: binary
// logistic over 1 000 000 × 100 and softmax over Fashion-MNIST's shape
// (60 000 × 784, 10 classes). GB/s counts the bytes of X each pass reads
// (8 or 4 a value); f32/f64 is the ratio of the passes' wall times, and
// cpu-f32/f64 of their CPU times (the steadier under load).
//
//	go test ./ml -run '^$' -bench Float32Pass -benchtime 10x -count 2
func BenchmarkFloat32Pass(b *testing.B) {
	workers := runtime.GOMAXPROCS(0)
	for _, c := range []struct {
		name string
		kind lossKind
		s    func() synth
		k    int
	}{{"logistic/rows=1000000/cols=100", logisticLoss, passSet, 1}, {"softmax/rows=60000/cols=784/classes=10", softmaxLoss, softmaxSet, softmaxClasses}} {
		b.Run(fmt.Sprintf("%s/workers=%d", c.name, workers), func(b *testing.B) {
			s := c.s()
			e := newEngine(b, workers)
			var pass [2]func()
			for i, ds := range []*cluster.Dataset{s.dense(b, e, 4*workers), s.dense32(b, e, 4*workers)} {
				d, k := s.cols, c.k
				o := &glmObjective{x: e, ds: ds, kind: c.kind, k: k, d: d, intercept: true,
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
				pass[i] = func() {
					if _, err := o.Eval(context.Background(), grad, v); err != nil {
						b.Fatal(err)
					}
				}
				pass[i]() // warm
			}
			var wall, cpu [2]time.Duration
			n := 0
			for b.Loop() {
				for i := range pass {
					start, c0 := time.Now(), cpuTime()
					pass[i]()
					wall[i] += time.Since(start)
					cpu[i] += cpuTime() - c0
				}
				n++
			}
			values := float64(s.rows * s.cols * n)
			b.ReportMetric(8*values/wall[0].Seconds()/1e9, "f64-GB/s")
			b.ReportMetric(4*values/wall[1].Seconds()/1e9, "f32-GB/s")
			b.ReportMetric(wall[0].Seconds()*1e3/float64(n), "f64-ms/pass")
			b.ReportMetric(wall[1].Seconds()*1e3/float64(n), "f32-ms/pass")
			b.ReportMetric(wall[1].Seconds()/wall[0].Seconds(), "f32/f64")
			if cpu[0] > 0 {
				b.ReportMetric(cpu[1].Seconds()/cpu[0].Seconds(), "cpu-f32/f64")
			}
		})
	}
}

// TestFloat32FashionMNIST: multinomial logistic regression on all 60 000
// Fashion-MNIST training rows, cached as float64 and as float32 blocks
// (whose softmax passes multiply in float32 lanes), 30 L-BFGS iterations
// each (a full fit takes about 100; this keeps the test to a few seconds):
// the float32 fit's accuracy on the 10 000 test rows is within
// float32AccuracyTol of the float64 fit's, its final loss within
// float32LossTol. bench/fashion-precision.sh compares full fits. Skipped
// without the amd64 kernels (the noasm tag), where it would take minutes.
func TestFloat32FashionMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("fits Fashion-MNIST twice")
	}
	if !hasAVX2 {
		// The portable float32 kernels take minutes for these fits;
		// TestFloat32Pass checks them pass by pass.
		t.Skip("no assembly kernels on this build or CPU")
	}
	train, test := fashionMNIST(t)
	e := newEngine(t, 2)
	lr := LogisticRegression{RegParam: 1 / float64(train.Rows), Optimizer: Settings{MaxIter: 30, Tol: -1}}
	compareFloat32Fit(t, e, lr, setOf(t, train), setOf(t, test), 4)
}
