package ml

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// lstsq solves the weighted ridge problem straight from its definition
// with a QR factorisation of the augmented design matrix, independently of
// the package's normal equations: it is the reference for both solvers.
func lstsq(t *testing.T, s synth, intercept bool, lam float64, pen []float64) ([]float64, float64) {
	t.Helper()
	d := s.cols
	p := d
	if intercept {
		p++
	}
	// Rows √(wᵢ/W)·[xᵢ 1] against √(wᵢ/W)·yᵢ, then √λ·pen rows for the
	// penalty: the minimiser of ½Σwᵢ(...)²/W + ½λΣpenⱼβⱼ² in least squares.
	var wsum float64
	for i := 0; i < s.rows; i++ {
		wsum += weightOf(s, i)
	}
	a := mat.NewDense(s.rows+d, p, nil)
	b := mat.NewDense(s.rows+d, 1, nil)
	for i := 0; i < s.rows; i++ {
		sw := math.Sqrt(weightOf(s, i) / wsum)
		for j := 0; j < d; j++ {
			a.Set(i, j, sw*s.x[i*d+j])
		}
		if intercept {
			a.Set(i, d, sw)
		}
		b.Set(i, 0, sw*s.y[i])
	}
	for j := 0; j < d; j++ {
		a.Set(s.rows+j, j, math.Sqrt(lam*pen[j]))
	}
	var qr mat.QR
	qr.Factorize(a)
	var sol mat.Dense
	if err := qr.SolveTo(&sol, false, b); err != nil {
		t.Fatal(err)
	}
	beta := make([]float64, d)
	for j := range beta {
		beta[j] = sol.At(j, 0)
	}
	icpt := 0.0
	if intercept {
		icpt = sol.At(d, 0)
	}
	return beta, icpt
}

func weightOf(s synth, i int) float64 {
	if s.w == nil {
		return 1
	}
	return s.w[i]
}

type linearCase struct {
	intercept, weights, standardization bool
	lam                                 float64
}

func (c linearCase) String() string {
	return fmt.Sprintf("intercept=%v/weights=%v/lambda=%g/std=%v", c.intercept, c.weights, c.lam, c.standardization)
}

func linearCases() []linearCase {
	var cs []linearCase
	for _, icpt := range []bool{true, false} {
		for _, w := range []bool{false, true} {
			for _, lam := range []float64{0, 0.1} {
				for _, std := range []bool{false, true} {
					if lam == 0 && std {
						continue
					}
					cs = append(cs, linearCase{icpt, w, std, lam})
				}
			}
		}
	}
	return cs
}

// TestLinearLBFGSMatchesClosedForm: the iterative solver, the normal
// equations and an independent QR least-squares solve agree.
func TestLinearLBFGSMatchesClosedForm(t *testing.T) {
	for _, c := range linearCases() {
		t.Run(c.String(), func(t *testing.T) {
			s, _, _ := linearData(7, 2000, 12, 0.5, c.weights)
			e := newEngine(t, 2)
			ds := s.dense(t, e, 5)
			ctx := context.Background()
			base := LinearRegression{RegParam: c.lam, NoIntercept: !c.intercept, Standardization: c.standardization}

			normal := base
			normal.Solver = "normal"
			nm, err := normal.Fit(ctx, e, ds)
			if err != nil {
				t.Fatal(err)
			}
			iter := base
			iter.Solver = "iterative"
			iter.Optimizer = Settings{Tol: 1e-15, MaxIter: 500}
			im, err := iter.Fit(ctx, e, ds)
			if err != nil {
				t.Fatal(err)
			}

			pen := make([]float64, s.cols)
			sum, err := summarize(ctx, e, ds, summaryArg{What: "test"})
			if err != nil {
				t.Fatal(err)
			}
			for j := range pen {
				pen[j] = 1
				if c.standardization {
					pen[j] = sum.Std[j] * sum.Std[j]
				}
			}
			ref, refIcpt := lstsq(t, s, c.intercept, c.lam, pen)
			want := append(append([]float64(nil), ref...), refIcpt)
			for name, m := range map[string]*LinearModel{"normal": nm, "iterative": im} {
				got := append(append([]float64(nil), m.Coef...), m.Intercept)
				if re := relErr(got, want); re > 1e-6 {
					t.Errorf("%s solver: relative error %.3g from the QR solution\n got  %.8g\n want %.8g", name, re, got, want)
				}
			}
			if re := relErr(append(im.Coef, im.Intercept), append(nm.Coef, nm.Intercept)); re > 1e-6 {
				t.Errorf("L-BFGS and the normal equations differ by %.3g (relative)", re)
			}
			if math.Abs(im.Summary.Loss-nm.Summary.Loss) > 1e-9*math.Abs(nm.Summary.Loss) {
				t.Errorf("objective: L-BFGS %.12g, normal equations %.12g", im.Summary.Loss, nm.Summary.Loss)
			}
		})
	}
}

// TestLinearSparseEqualsDense: the CSR kernels fit the same model.
func TestLinearSparseEqualsDense(t *testing.T) {
	s, _, _ := linearData(8, 1500, 9, 0.3, true)
	for i := range s.x {
		if i%3 == 0 {
			s.x[i] = 0
		}
	}
	e := newEngine(t, 2)
	ctx := context.Background()
	lr := LinearRegression{RegParam: 0.05, Solver: "iterative", Optimizer: Settings{Tol: 1e-14, MaxIter: 300}}
	dm, err := lr.Fit(ctx, e, s.dense(t, e, 3))
	if err != nil {
		t.Fatal(err)
	}
	sm, err := lr.Fit(ctx, e, s.sparse(t, e, 3))
	if err != nil {
		t.Fatal(err)
	}
	if re := relErr(append(sm.Coef, sm.Intercept), append(dm.Coef, dm.Intercept)); re > 1e-8 {
		t.Fatalf("sparse and dense fits differ by %.3g", re)
	}
	nlr := lr
	nlr.Solver = "normal"
	nm, err := nlr.Fit(ctx, e, s.sparse(t, e, 3))
	if err != nil {
		t.Fatal(err)
	}
	if re := relErr(append(nm.Coef, nm.Intercept), append(dm.Coef, dm.Intercept)); re > 1e-6 {
		t.Fatalf("sparse normal equations and dense L-BFGS differ by %.3g", re)
	}
}

// TestLinearDiabetes: ordinary least squares on scikit-learn's diabetes
// data reaches the R² every textbook reports for it (0.5177 on all 442
// rows, scikit-learn's LinearRegression().fit(X, y).score(X, y)).
func TestLinearDiabetes(t *testing.T) {
	d, err := datasetsDiabetes()
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, 2)
	ds := d.dense(t, e, 3)
	for _, solver := range []string{"normal", "iterative"} {
		m, err := LinearRegression{Solver: solver, Optimizer: Settings{Tol: 1e-14, MaxIter: 1000}}.Fit(context.Background(), e, ds)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := Evaluate(context.Background(), e, ds, m)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(ev.R2-0.5177) > 5e-5 {
			t.Errorf("%s: R² %.5f, want 0.5177", solver, ev.R2)
		}
	}
}

// TestLassoMatchesScikitLearn compares the L1 solvers (OWL-QN and proximal
// GD) with scikit-learn's coordinate-descent Lasso on the diabetes data
// (testdata/sklearn_glm.json, made by bench/peers/glm_reference.py).
func TestLassoMatchesScikitLearn(t *testing.T) {
	ref := readReference(t)
	d, err := datasetsDiabetes()
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, 2)
	ds := d.dense(t, e, 3)
	for _, c := range ref.Lasso {
		for _, method := range []Method{LBFGS, GD} {
			t.Run(fmt.Sprintf("alpha=%g/l1ratio=%g/method=%v", c.Alpha, c.L1Ratio, method), func(t *testing.T) {
				lr := LinearRegression{RegParam: c.Alpha, ElasticNetParam: c.L1Ratio, Solver: "iterative",
					Optimizer: Settings{Method: method, Tol: -1, GradTol: 1e-6, MaxIter: 5000}}
				m, err := lr.Fit(context.Background(), e, ds)
				if err != nil {
					t.Fatal(err)
				}
				got := append(append([]float64(nil), m.Coef...), m.Intercept)
				want := append(append([]float64(nil), c.Coef...), c.Intercept)
				if re := relErr(got, want); re > 1e-5 {
					t.Errorf("relative error %.3g (%v after %d iterations)\n got  %.6g\n want %.6g", re, m.Summary.Status, m.Summary.Iterations, got, want)
				}
				for j, w := range c.Coef {
					if (w == 0) != (m.Coef[j] == 0) {
						t.Errorf("coefficient %d: %g, scikit-learn %g: the sparsity patterns differ", j, m.Coef[j], w)
					}
				}
			})
		}
	}
}

func TestLinearValidation(t *testing.T) {
	e := newEngine(t, 1)
	s, _, _ := linearData(1, 10, 2, 0.1, false)
	ds := s.dense(t, e, 1)
	for _, c := range []struct {
		lr   LinearRegression
		want string
	}{
		{LinearRegression{RegParam: -1}, "RegParam must be"},
		{LinearRegression{ElasticNetParam: 1.5}, "ElasticNetParam must be in [0, 1]"},
		{LinearRegression{Solver: "qr"}, `Solver "qr"`},
		{LinearRegression{Solver: "normal", RegParam: 1, ElasticNetParam: 0.5}, "cannot fit an L1 penalty"},
		{LinearRegression{Optimizer: Settings{MaxIter: -5}}, "MaxIter must be >= 0, got -5"},
		{LinearRegression{Optimizer: Settings{MiniBatchFraction: 2}}, "MiniBatchFraction"},
	} {
		_, err := c.lr.Fit(context.Background(), e, ds)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one containing %q", c.lr, err, c.want)
		}
	}
	// A NaN label names its row and partition.
	s.y[4] = math.NaN()
	_, err := LinearRegression{Solver: "iterative"}.Fit(context.Background(), e, s.dense(t, e, 1))
	if err == nil || !strings.Contains(err.Error(), "label NaN at row 4 of partition 0") {
		t.Errorf("NaN label: %v", err)
	}
	_, err = LinearRegression{Solver: "normal"}.Fit(context.Background(), e, s.dense(t, e, 1))
	if err == nil || !strings.Contains(err.Error(), "label NaN at row 4 of partition 0") {
		t.Errorf("NaN label, normal solver: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.y[4] = 1
	_, err = LinearRegression{Solver: "iterative"}.Fit(ctx, e, s.dense(t, e, 1))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v, want context.Canceled", err)
	}
}

// TestGDOnHousePricesSaysWhyItStopped is the house-price set of
// examples/houses-linreg.yaml (area, rooms, one-hot city; prices around
// 10⁵; one city left out of the one-hot columns, so that the normal
// equations are not singular) fitted by GD with max_iter 1500, as in the report of a GD run
// that "stopped at iteration 0": GD converges in a few iterations, by the
// relative test, to the normal equations' solution, and its last report
// says so.
func TestGDOnHousePricesSaysWhyItStopped(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	premium := []float64{150000, 60000, 90000, 20000}
	const rows, cols = 4000, 5
	s := synth{rows: rows, cols: cols, x: make([]float64, rows*cols), y: make([]float64, rows)}
	for i := range rows {
		area, rooms, city := 20+r.Float64()*180, 1+r.IntN(6), r.IntN(4)
		x := s.x[i*cols : (i+1)*cols]
		x[0], x[1] = area, float64(rooms)
		if city > 0 {
			x[1+city] = 1
		}
		s.y[i] = 500*area + 20000*float64(rooms) + premium[city] + r.NormFloat64()*10000
	}
	e := newEngine(t, 2)
	ds := s.dense(t, e, 4)
	var last Progress
	gd, err := LinearRegression{Standardization: true, Solver: "iterative", Optimizer: Settings{Method: GD, MaxIter: 1500,
		Progress: func(p Progress) bool { last = p; return false }}}.Fit(context.Background(), e, ds)
	if err != nil {
		t.Fatal(err)
	}
	exact, err := LinearRegression{Standardization: true, Solver: "normal"}.Fit(context.Background(), e, ds)
	if err != nil {
		t.Fatal(err)
	}
	sum := gd.Summary
	if sum.Status != Converged || sum.Iterations < 3 || !strings.HasPrefix(sum.Stop, "converged: relative loss change") {
		t.Fatalf("%v after %d iterations (%q)", sum.Status, sum.Iterations, sum.Stop)
	}
	if last.Iter != sum.Iterations || last.Stop != sum.Stop {
		t.Errorf("last report %+v, summary %d iterations, %q", last, sum.Iterations, sum.Stop)
	}
	if d := math.Abs(sum.Loss-exact.Summary.Loss) / exact.Summary.Loss; d > 1e-6 {
		t.Errorf("GD's loss %v, the normal equations' %v", sum.Loss, exact.Summary.Loss)
	}
}

// TestNormalEquationsWithEveryOneHotColumn: every city's one-hot column
// beside the intercept makes the normal equations singular in exact
// arithmetic and, in floating point, factorable but ill-conditioned
// (condition number about 1e19). The solve then takes the minimum-norm
// solution by SVD instead of failing, and it predicts as well as the fit
// that leaves one city out.
func TestNormalEquationsWithEveryOneHotColumn(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	premium := []float64{150000, 60000, 90000, 20000}
	const rows, cols = 4000, 6
	s := synth{rows: rows, cols: cols, x: make([]float64, rows*cols), y: make([]float64, rows)}
	for i := range rows {
		area, rooms, city := 20+r.Float64()*180, 1+r.IntN(6), r.IntN(4)
		x := s.x[i*cols : (i+1)*cols]
		x[0], x[1], x[2+city] = area, float64(rooms), 1
		s.y[i] = 500*area + 20000*float64(rooms) + premium[city] + r.NormFloat64()*10000
	}
	e := newEngine(t, 2)
	ds := s.dense(t, e, 4)
	m, err := LinearRegression{Standardization: true, Solver: "normal"}.Fit(context.Background(), e, ds)
	if err != nil {
		t.Fatalf("every one-hot column: %v", err)
	}
	pred := make([]float64, rows)
	m.PredictBatch(pred, s.x, rows)
	if rmse := RMSE(s.y, pred, nil); rmse > 10500 {
		t.Errorf("RMSE %v, want about the noise's 10000", rmse)
	}
}
