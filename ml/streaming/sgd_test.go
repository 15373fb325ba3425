package streaming

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/ml"
)

// regression draws rows of standard normal features with labels from the
// coefficients and intercept: y = x·β + b + N(0, noise²) (linear), or
// y ~ Bernoulli(σ(x·β + b)) (logistic).
func regression(r *rand.Rand, beta []float64, b float64, rows int, noise float64, logistic bool) (x, y []float64) {
	d := len(beta)
	x, y = make([]float64, rows*d), make([]float64, rows)
	for i := 0; i < rows; i++ {
		m := b
		for t := 0; t < d; t++ {
			v := r.NormFloat64()
			x[i*d+t] = v
			m += beta[t] * v
		}
		if logistic {
			if r.Float64() < sigmoid(m) {
				y[i] = 1
			}
		} else {
			y[i] = m + noise*r.NormFloat64()
		}
	}
	return x, y
}

// coefError is the largest absolute difference between the coefficients
// and intercepts.
func coefError(coef []float64, icpt float64, wantCoef []float64, wantIcpt float64) float64 {
	worst := math.Abs(icpt - wantIcpt)
	for i, v := range coef {
		worst = math.Max(worst, math.Abs(v-wantCoef[i]))
	}
	return worst
}

var trueBeta = []float64{1.5, -2, 0.5, 0, 1}

const trueIntercept = 0.7

// batchFit fits ml's linear or logistic regression (no penalty) on x, y.
func batchFit(t *testing.T, x, y []float64, d int, logistic bool) ([]float64, float64) {
	t.Helper()
	e := cluster.NewEngine(cluster.Config{Workers: 2})
	defer e.Close()
	ctx := context.Background()
	ds, err := e.FromDense(ctx, "stream", x, len(y), d, y, nil, 4)
	if err != nil {
		t.Fatal(err)
	}
	if logistic {
		m, err := ml.LogisticRegression{Family: "binomial", Classes: 2, Optimizer: ml.Settings{Tol: 1e-12, MaxIter: 500}}.FitModel(ctx, e, ds)
		if err != nil {
			t.Fatal(err)
		}
		lm := m.(*ml.LogisticModel)
		return lm.Coef, lm.Intercept[0]
	}
	m, err := ml.LinearRegression{Solver: "normal"}.FitModel(ctx, e, ds)
	if err != nil {
		t.Fatal(err)
	}
	lm := m.(*ml.LinearModel)
	return lm.Coef, lm.Intercept
}

// TestSGDConvergesToBatch: on a stationary stream (100 batches of 1000
// rows), streaming SGD ends within the stated tolerance of ml's batch fit
// on the same rows: 0.02 for linear regression, 0.1 for logistic (its
// coefficients are of size 2; SGD's last batch pulls it around the batch
// optimum by about the sampling error of 1000 rows).
func TestSGDConvergesToBatch(t *testing.T) {
	const d, batches, rows = 5, 100, 1000
	for _, tc := range []struct {
		name     string
		logistic bool
		cfg      SGDConfig
		tol      float64
	}{
		{"linear", false, SGDConfig{Dim: d}, 0.02},
		{"logistic", true, SGDConfig{Dim: d, StepSize: 1}, 0.1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(21, 21))
			x, y := regression(r, trueBeta, trueIntercept, batches*rows, 0.5, tc.logistic)
			wantCoef, wantIcpt := batchFit(t, x, y, d, tc.logistic)
			var update func(x, y []float64)
			var coef func() ([]float64, float64)
			if tc.logistic {
				m, err := NewLogistic(tc.cfg)
				if err != nil {
					t.Fatal(err)
				}
				update = func(x, y []float64) { m.Update(x, y, nil) }
				coef = func() ([]float64, float64) { return m.Coef(), m.Intercept() }
			} else {
				m, err := NewLinear(tc.cfg)
				if err != nil {
					t.Fatal(err)
				}
				update = func(x, y []float64) { m.Update(x, y, nil) }
				coef = func() ([]float64, float64) { return m.Coef(), m.Intercept() }
			}
			for b := 0; b < batches; b++ {
				update(x[b*rows*d:(b+1)*rows*d], y[b*rows:(b+1)*rows])
			}
			c, i := coef()
			got := coefError(c, i, wantCoef, wantIcpt)
			t.Logf("streaming %v + %v, batch %v + %v: largest difference %.4f", c, i, wantCoef, wantIcpt, got)
			if got > tc.tol {
				t.Errorf("streaming weights are %.4f from the batch fit's, want <= %v", got, tc.tol)
			}
		})
	}
}

// rotating returns the coefficients after b batches: the first two turn
// by 0.01 radian per batch, so the truth moves steadily.
func rotating(dst []float64, b int) []float64 {
	copy(dst, trueBeta)
	a := 0.01 * float64(b)
	dst[0] = 2.5 * math.Cos(a)
	dst[1] = 2.5 * math.Sin(a)
	return dst
}

// TestSGDTracksDrift: with the true coefficients turning (1.5 radian over
// 150 batches of 500 rows), streaming SGD stays within the stated bound of
// the current truth after a burn-in of 20 batches, while the batch fit
// over every row so far (what no forgetting gives) ends far off.
func TestSGDTracksDrift(t *testing.T) {
	const d, batches, rows, burnIn = 5, 150, 500, 20
	for _, tc := range []struct {
		name     string
		logistic bool
		cfg      SGDConfig
		bound    float64
	}{
		{"linear", false, SGDConfig{Dim: d}, 0.1},
		{"logistic", true, SGDConfig{Dim: d, StepSize: 1}, 0.6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(5, 5))
			beta := make([]float64, d)
			var update func(x, y []float64)
			var coef func() ([]float64, float64)
			if tc.logistic {
				m, _ := NewLogistic(tc.cfg)
				update = func(x, y []float64) { m.Update(x, y, nil) }
				coef = func() ([]float64, float64) { return m.Coef(), m.Intercept() }
			} else {
				m, _ := NewLinear(tc.cfg)
				update = func(x, y []float64) { m.Update(x, y, nil) }
				coef = func() ([]float64, float64) { return m.Coef(), m.Intercept() }
			}
			var allX, allY []float64
			worst := 0.0
			for b := 0; b < batches; b++ {
				rotating(beta, b)
				x, y := regression(r, beta, trueIntercept, rows, 0.5, tc.logistic)
				allX, allY = append(allX, x...), append(allY, y...)
				update(x, y)
				if b >= burnIn {
					c, i := coef()
					worst = math.Max(worst, coefError(c, i, beta, trueIntercept))
				}
			}
			bc, bi := batchFit(t, allX, allY, d, tc.logistic)
			batchErr := coefError(bc, bi, beta, trueIntercept)
			t.Logf("streaming: largest error after the burn-in %.3f; batch fit on every row: %.3f", worst, batchErr)
			if worst > tc.bound {
				t.Errorf("streaming error against the moving truth reached %.3f, want <= %v", worst, tc.bound)
			}
			if batchErr < 2*tc.bound {
				t.Errorf("the batch fit over every row is only %.3f off the moving truth; the drift is too small to tell tracking from not", batchErr)
			}
		})
	}
}

// TestSGDL2 checks the penalty shrinks the coefficients and leaves the
// intercept alone, and that NoIntercept keeps it 0.
func TestSGDL2(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	x, y := regression(r, trueBeta, trueIntercept, 20000, 0.1, false)
	norm := func(cfg SGDConfig) (float64, float64) {
		m, err := NewLinear(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for b := 0; b < 20; b++ {
			m.Update(x[b*1000*5:(b+1)*1000*5], y[b*1000:(b+1)*1000], nil)
		}
		var s float64
		for _, v := range m.Coef() {
			s += v * v
		}
		return math.Sqrt(s), m.Intercept()
	}
	plain, _ := norm(SGDConfig{Dim: 5})
	shrunk, icpt := norm(SGDConfig{Dim: 5, RegParam: 1})
	if !(shrunk < 0.7*plain) {
		t.Errorf("‖w‖ with RegParam 1 is %.3f, without %.3f: want clearly smaller", shrunk, plain)
	}
	if math.Abs(icpt-trueIntercept) > 0.1 {
		t.Errorf("intercept with RegParam 1 is %.3f, want about %v (it is not penalised)", icpt, trueIntercept)
	}
	if _, icpt := norm(SGDConfig{Dim: 5, NoIntercept: true}); icpt != 0 {
		t.Errorf("intercept with NoIntercept = %v, want 0", icpt)
	}
}

// TestSGDMiniBatchFraction: sampling half the rows still converges, and
// the same seed gives the same bits while another seed does not.
func TestSGDMiniBatchFraction(t *testing.T) {
	run := func(seed uint64) []float64 {
		r := rand.New(rand.NewPCG(8, 8))
		m, err := NewLinear(SGDConfig{Dim: 5, MiniBatchFraction: 0.5, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		for b := 0; b < 50; b++ {
			x, y := regression(r, trueBeta, trueIntercept, 500, 0.5, false)
			m.Update(x, y, nil)
		}
		return append(append([]float64(nil), m.Coef()...), m.Intercept())
	}
	a, b, c := run(3), run(3), run(4)
	if e := coefError(a[:5], a[5], trueBeta, trueIntercept); e > 0.05 {
		t.Errorf("fraction 0.5 ends %.3f from the truth, want <= 0.05", e)
	}
	same, differ := true, false
	for i := range a {
		same = same && math.Float64bits(a[i]) == math.Float64bits(b[i])
		differ = differ || a[i] != c[i]
	}
	if !same || !differ {
		t.Errorf("seed 3 twice gave %v and %v, seed 4 %v: want equal, then different", a, b, c)
	}
}

func TestSGDConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  SGDConfig
		want string
	}{
		{SGDConfig{}, "Dim must be at least 1"},
		{SGDConfig{Dim: 1, StepSize: -1}, "StepSize"},
		{SGDConfig{Dim: 1, Iterations: -1}, "Iterations"},
		{SGDConfig{Dim: 1, MiniBatchFraction: 2}, "MiniBatchFraction"},
		{SGDConfig{Dim: 1, RegParam: -1}, "RegParam"},
	} {
		if _, err := NewLogistic(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewLogistic(%+v) = %v, want an error containing %q", tc.cfg, err, tc.want)
		}
	}
}
