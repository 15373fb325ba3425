package ml

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(b)) }

func TestRegressionMetricsByHand(t *testing.T) {
	y := []float64{3, -0.5, 2, 7}
	p := []float64{2.5, 0, 2, 8}
	// errors -0.5, 0.5, 0, 1 → squared 0.25, 0.25, 0, 1
	if got := RMSE(y, p, nil); !near(got, math.Sqrt(1.5/4)) {
		t.Errorf("RMSE %v", got)
	}
	if got := MAE(y, p, nil); !near(got, 0.5) {
		t.Errorf("MAE %v", got)
	}
	// mean 2.875; SST = 0.015625+11.390625+0.765625+17.015625 = 29.1875
	if got := R2(y, p, nil); !near(got, 1-1.5/29.1875) {
		t.Errorf("R2 %v (scikit-learn's r2_score gives 0.9486081370449679)", got)
	}
	w := []float64{1, 2, 0, 1}
	if got := MAE(y, p, w); !near(got, (0.5+1+1)/4) {
		t.Errorf("weighted MAE %v", got)
	}
	// A weight of 2 is the same as the row twice.
	y2 := []float64{3, -0.5, -0.5, 7}
	p2 := []float64{2.5, 0, 0, 8}
	if a, b := RMSE(y, p, w), RMSE(y2, p2, nil); !near(a, b) {
		t.Errorf("weighted RMSE %v, repeated rows %v", a, b)
	}
	if a, b := R2(y, p, w), R2(y2, p2, nil); !near(a, b) {
		t.Errorf("weighted R2 %v, repeated rows %v", a, b)
	}
}

func TestClassificationMetricsByHand(t *testing.T) {
	// true:  0 0 1 1 1 2
	// pred:  0 1 1 1 2 2
	y := []float64{0, 0, 1, 1, 1, 2}
	p := []float64{0, 1, 1, 1, 2, 2}
	c, err := NewConfusion(3, y, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Accuracy(); !near(got, 4.0/6) || !near(Accuracy(y, p, nil), 4.0/6) {
		t.Errorf("accuracy %v", got)
	}
	// class 1: predicted 3 times, right 2 → precision 2/3; truly 3, found 2 → recall 2/3
	if !near(c.Precision(1), 2.0/3) || !near(c.Recall(1), 2.0/3) || !near(c.F1(1), 2.0/3) {
		t.Errorf("class 1: precision %v recall %v F1 %v", c.Precision(1), c.Recall(1), c.F1(1))
	}
	// class 2: precision 1/2, recall 1, F1 2/3; class 0: precision 1, recall 1/2, F1 2/3
	if !near(c.MacroPrecision(), (1+2.0/3+0.5)/3) || !near(c.MacroRecall(), (0.5+2.0/3+1)/3) || !near(c.MacroF1(), 2.0/3) {
		t.Errorf("macro: precision %v recall %v F1 %v", c.MacroPrecision(), c.MacroRecall(), c.MacroF1())
	}
	if _, err := NewConfusion(3, []float64{0, 3}, []float64{0, 1}, nil); err == nil || !strings.Contains(err.Error(), "3 at row 1 is not a class index in [0, 3)") {
		t.Errorf("bad label: %v", err)
	}
	// log-loss: −(log .8 + log .6)/2
	ll, err := LogLoss([]float64{0, 1}, []float64{0.8, 0.2, 0.4, 0.6}, 2, nil)
	if err != nil || !near(ll, -(math.Log(0.8)+math.Log(0.6))/2) {
		t.Errorf("log-loss %v, %v", ll, err)
	}
	ll, _ = LogLoss([]float64{1}, []float64{1, 0}, 2, nil)
	if !near(ll, -math.Log(probEps)) {
		t.Errorf("log-loss of a certain miss %v, want the clipped %v", ll, -math.Log(probEps))
	}
}

// aucBrute counts every positive–negative pair.
func aucBrute(y, s, w []float64) float64 {
	var num, den float64
	for i := range y {
		for j := range y {
			if y[i] != 1 || y[j] != 0 {
				continue
			}
			wij := weight(w, i) * weight(w, j)
			den += wij
			switch {
			case s[i] > s[j]:
				num += wij
			case s[i] == s[j]:
				num += wij / 2
			}
		}
	}
	return num / den
}

func TestAUCExactWithTies(t *testing.T) {
	// Scikit-learn's roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) is 0.75.
	if got, err := AUC([]float64{0, 0, 1, 1}, []float64{0.1, 0.4, 0.35, 0.8}, nil); err != nil || !near(got, 0.75) {
		t.Errorf("AUC %v, %v; want 0.75", got, err)
	}
	// All tied: one half.
	if got, _ := AUC([]float64{0, 1, 0, 1}, []float64{1, 1, 1, 1}, nil); !near(got, 0.5) {
		t.Errorf("all-tied AUC %v", got)
	}
	r := rand.New(rand.NewPCG(1, 1))
	for trial := 0; trial < 50; trial++ {
		n := 1 + r.IntN(60)
		y, s, w := make([]float64, n), make([]float64, n), make([]float64, n)
		for i := range y {
			y[i] = float64(r.IntN(2))
			s[i] = float64(r.IntN(5)) // many ties
			w[i] = r.Float64() + 0.1
		}
		y[0], y[n-1] = 0, 1
		if n == 1 {
			continue
		}
		for _, ww := range [][]float64{nil, w} {
			got, err := AUC(y, s, ww)
			if err != nil {
				t.Fatal(err)
			}
			if want := aucBrute(y, s, ww); !near(got, want) {
				t.Fatalf("trial %d: AUC %v, pair count %v", trial, got, want)
			}
		}
	}
	if _, err := AUC([]float64{1, 1}, []float64{0.2, 0.3}, nil); err == nil {
		t.Error("AUC without negatives: no error")
	}
	if _, err := AUC([]float64{0, 2}, []float64{0.2, 0.3}, nil); err == nil || !strings.Contains(err.Error(), "label 2 at row 1") {
		t.Errorf("AUC with label 2: %v", err)
	}
}

// TestEvaluateMatchesSliceMetrics: the engine aggregation gives what the
// slice functions give on the same predictions, dense or sparse, for any
// partitioning.
func TestEvaluateMatchesSliceMetrics(t *testing.T) {
	lin, _, _ := linearData(31, 1000, 5, 1, true)
	bin := softmaxData(32, 1000, 5, []float64{1, -1, 0.5, 0, 0.3}, []float64{0.2}, 0.3, true)
	multi := softmaxData(33, 1000, 3, []float64{1, 0, -1, 0, 1, 0, -1, -1, 1}, []float64{0, 0, 0}, 0, true)
	for i := range bin.x { // tied scores: a coarse feature
		bin.x[i] = math.Round(bin.x[i])
	}
	e := newEngine(t, 3)
	ctx := context.Background()
	lm, err := LinearRegression{RegParam: 0.1}.Fit(ctx, e, lin.dense(t, e, 4))
	if err != nil {
		t.Fatal(err)
	}
	bm, err := LogisticRegression{RegParam: 0.01}.Fit(ctx, e, bin.dense(t, e, 4))
	if err != nil {
		t.Fatal(err)
	}
	mm, err := LogisticRegression{RegParam: 0.01}.Fit(ctx, e, multi.dense(t, e, 4))
	if err != nil {
		t.Fatal(err)
	}
	for _, parts := range []int{1, 5} {
		for _, sparse := range []bool{false, true} {
			name := fmt.Sprintf("parts=%d/sparse=%v", parts, sparse)
			t.Run(name, func(t *testing.T) {
				get := func(s synth, m Model) *Metrics {
					d := s.dense(t, e, parts)
					if sparse {
						d = s.sparse(t, e, parts)
					}
					ev, err := Evaluate(ctx, e, d, m)
					if err != nil {
						t.Fatal(err)
					}
					return ev
				}
				// Regression.
				pred := make([]float64, lin.rows)
				lm.PredictBatch(pred, lin.x, lin.rows)
				ev := get(lin, lm)
				if !near(ev.RMSE, RMSE(lin.y, pred, lin.w)) || !near(ev.MAE, MAE(lin.y, pred, lin.w)) || !near(ev.R2, R2(lin.y, pred, lin.w)) {
					t.Errorf("regression: engine %+v, slices RMSE %v MAE %v R2 %v", ev, RMSE(lin.y, pred, lin.w), MAE(lin.y, pred, lin.w), R2(lin.y, pred, lin.w))
				}
				if !math.IsNaN(ev.Accuracy) || ev.Rows != lin.rows {
					t.Errorf("regression metrics: accuracy %v, rows %d", ev.Accuracy, ev.Rows)
				}
				// Binary.
				proba := make([]float64, 2*bin.rows)
				bm.ProbaBatch(proba, bin.x, bin.rows)
				cls := make([]float64, bin.rows)
				bm.PredictBatch(cls, bin.x, bin.rows)
				score := make([]float64, bin.rows)
				for i := range score {
					score[i] = proba[2*i+1]
				}
				ev = get(bin, bm)
				auc, _ := AUC(bin.y, score, bin.w)
				ll, _ := LogLoss(bin.y, proba, 2, bin.w)
				conf, _ := NewConfusion(2, bin.y, cls, bin.w)
				if !near(ev.AUC, auc) || !near(ev.LogLoss, ll) || !near(ev.Accuracy, conf.Accuracy()) ||
					!near(ev.F1, conf.F1(1)) || !near(ev.Precision, conf.Precision(1)) || !near(ev.Recall, conf.Recall(1)) {
					t.Errorf("binary: engine %+v; slices AUC %v log-loss %v accuracy %v F1 %v", ev, auc, ll, conf.Accuracy(), conf.F1(1))
				}
				// Multinomial.
				proba = make([]float64, 3*multi.rows)
				mm.ProbaBatch(proba, multi.x, multi.rows)
				cls = make([]float64, multi.rows)
				mm.PredictBatch(cls, multi.x, multi.rows)
				ev = get(multi, mm)
				ll, _ = LogLoss(multi.y, proba, 3, multi.w)
				conf, _ = NewConfusion(3, multi.y, cls, multi.w)
				if !near(ev.LogLoss, ll) || !near(ev.Accuracy, conf.Accuracy()) || !near(ev.F1, conf.MacroF1()) || !math.IsNaN(ev.AUC) {
					t.Errorf("multinomial: engine %+v; slices log-loss %v accuracy %v macro F1 %v", ev, ll, conf.Accuracy(), conf.MacroF1())
				}
				if _, err := ev.Value("auc"); err == nil {
					t.Error("AUC of a 3-class model: no error")
				}
				if v, err := ev.Value("f1"); err != nil || v != ev.F1 {
					t.Errorf("Value(f1) = %v, %v", v, err)
				}
			})
		}
	}
}

// denseOnly is a model without a CSR path, so that Evaluate must write
// sparse rows into its dense scratch.
type denseOnly struct{ LinearModel }

func init() { RegisterModel("test.dense-only", func() Model { return new(denseOnly) }) }

func (*denseOnly) Algorithm() string { return "test.dense-only" }
func (m *denseOnly) PredictBatch(dst, x []float64, rows int) {
	m.LinearModel.PredictBatch(dst, x, rows)
}
func (m *denseOnly) MarshalBinary() ([]byte, error) {
	enc, err := m.LinearModel.MarshalBinary()
	if err != nil {
		return nil, err
	}
	_, payload, err := ParseModel(enc)
	return AppendModel(nil, "test.dense-only", 1, payload), err
}
func (m *denseOnly) UnmarshalBinary(data []byte) error {
	_, payload, err := ParseModel(data)
	if err != nil {
		return err
	}
	return m.LinearModel.UnmarshalBinary(AppendModel(nil, "linear", linearPayloadVersion, payload))
}

// predictSparse hides LinearModel's: this model has no CSR path.
//
//lint:ignore U1000 it is there to hide the embedded method, not to be called
func (*denseOnly) predictSparse() {}

func TestEvaluateSparseWithoutCSRPath(t *testing.T) {
	s, _, _ := linearData(34, 700, 6, 1, false)
	for i := range s.x {
		if i%3 != 0 {
			s.x[i] = 0
		}
	}
	e := newEngine(t, 2)
	lm, err := LinearRegression{}.Fit(context.Background(), e, s.dense(t, e, 3))
	if err != nil {
		t.Fatal(err)
	}
	m := &denseOnly{LinearModel: *lm}
	if _, ok := Model(m).(sparseRower); ok {
		t.Fatal("denseOnly still has the CSR path")
	}
	want, err := Evaluate(context.Background(), e, s.dense(t, e, 3), lm)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Evaluate(context.Background(), e, s.sparse(t, e, 3), m)
	if err != nil {
		t.Fatal(err)
	}
	if !near(got.RMSE, want.RMSE) || !near(got.R2, want.R2) {
		t.Fatalf("sparse through the dense scratch: RMSE %v R2 %v; dense %v %v", got.RMSE, got.R2, want.RMSE, want.R2)
	}
}

// signModel is a binary ClassPredictor without probabilities: class 1
// where the linear model's value is positive. marginModel adds its values
// as margins, which make it a marginer.
type signModel struct{ LinearModel }

type marginModel struct{ signModel }

func init() {
	RegisterModel("test.sign", func() Model { return new(signModel) })
	RegisterModel("test.margin", func() Model { return new(marginModel) })
}

func (*signModel) Algorithm() string   { return "test.sign" }
func (*marginModel) Algorithm() string { return "test.margin" }
func (*signModel) NumClasses() int     { return 2 }
func (m *signModel) PredictBatch(dst, x []float64, rows int) {
	m.LinearModel.PredictBatch(dst, x, rows)
	for i, v := range dst {
		dst[i] = 0
		if v > 0 {
			dst[i] = 1
		}
	}
}
func (m *signModel) MarshalBinary() ([]byte, error) { return m.marshal("test.sign") }
func (m *marginModel) MarshalBinary() ([]byte, error) {
	return m.marshal("test.margin")
}
func (m *signModel) marshal(algorithm string) ([]byte, error) {
	enc, err := m.LinearModel.MarshalBinary()
	if err != nil {
		return nil, err
	}
	_, payload, err := ParseModel(enc)
	return AppendModel(nil, algorithm, 1, payload), err
}
func (m *signModel) UnmarshalBinary(data []byte) error {
	_, payload, err := ParseModel(data)
	if err != nil {
		return err
	}
	return m.LinearModel.UnmarshalBinary(AppendModel(nil, "linear", linearPayloadVersion, payload))
}
func (m *marginModel) Margins(dst, x []float64, rows int) { m.LinearModel.PredictBatch(dst, x, rows) }

// predictSparse hides LinearModel's: the CSR path would predict values.
//
//lint:ignore U1000 it is there to hide the embedded method, not to be called
func (*signModel) predictSparse() {}

// TestEvaluateClassPredictorWithoutProbabilities: a ClassPredictor that is
// not a Classifier gets the confusion metrics and, when it has margins,
// the AUC of its margins; its log-loss is NaN, and asking for it is an
// error.
func TestEvaluateClassPredictorWithoutProbabilities(t *testing.T) {
	s := softmaxData(35, 800, 4, []float64{1, -1, 0.5, 0.2}, []float64{0.1}, 0.3, true)
	e := newEngine(t, 2)
	ctx := context.Background()
	lm, err := LinearRegression{}.Fit(ctx, e, s.dense(t, e, 3))
	if err != nil {
		t.Fatal(err)
	}
	lm.Intercept -= 0.5 // the value of a 0/1 label: margin 0 at one half
	margin := make([]float64, s.rows)
	lm.PredictBatch(margin, s.x, s.rows)
	cls := make([]float64, s.rows)
	(&signModel{*lm}).PredictBatch(cls, s.x, s.rows)
	conf, _ := NewConfusion(2, s.y, cls, s.w)
	auc, _ := AUC(s.y, margin, s.w)
	for _, c := range []struct {
		name    string
		m       Model
		wantAUC float64
	}{
		{"margins", &marginModel{signModel{*lm}}, auc},
		{"no margins", &signModel{*lm}, math.NaN()},
	} {
		for _, sparse := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/sparse=%v", c.name, sparse), func(t *testing.T) {
				ds := s.dense(t, e, 3)
				if sparse {
					ds = s.sparse(t, e, 3)
				}
				ev, err := Evaluate(ctx, e, ds, c.m)
				if err != nil {
					t.Fatal(err)
				}
				if !near(ev.Accuracy, conf.Accuracy()) || !near(ev.F1, conf.F1(1)) || !math.IsNaN(ev.RMSE) {
					t.Errorf("accuracy %v F1 %v RMSE %v; slices %v %v", ev.Accuracy, ev.F1, ev.RMSE, conf.Accuracy(), conf.F1(1))
				}
				if !(near(ev.AUC, c.wantAUC) || math.IsNaN(ev.AUC) && math.IsNaN(c.wantAUC)) {
					t.Errorf("AUC %v, want %v", ev.AUC, c.wantAUC)
				}
				if _, err := ev.Value("logloss"); !math.IsNaN(ev.LogLoss) || err == nil {
					t.Errorf("log-loss %v (%v) of a model without probabilities", ev.LogLoss, err)
				}
			})
		}
	}
}
