package bayes

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/flintml/flint/ml"
)

// Tolerances against scikit-learn: parameters relative, probabilities
// absolute.
const (
	paramTol = 1e-9
	probaTol = 1e-9
)

// skData loads the data set a reference fit was made on, transformed as
// the reference says.
func skData(t *testing.T, f skFit) data {
	t.Helper()
	d := sklearnSet(t, f.Data)
	switch f.Transform {
	case "none":
	case "x > 8":
		d = d.binarized(8)
	default:
		t.Fatalf("%s: unknown transform %q", f.Name, f.Transform)
	}
	if d.rows != f.Rows || d.cols != f.Features {
		t.Fatalf("%s: data is %d×%d, the reference %d×%d", f.Name, d.rows, d.cols, f.Rows, f.Features)
	}
	return d
}

// TestMatchesScikitLearn fits every reference of testdata/sklearn_nb.json
// (scikit-learn's MultinomialNB, BernoulliNB and GaussianNB on digits,
// iris and wine; see bench/peers/nb_reference.py) on 3 partitions, dense
// and CSR, and checks the parameters to 1e-9 relative, the predicted class
// of every row exactly and its probabilities to 1e-9, and that ml.Evaluate
// scores the training rows with scikit-learn's accuracy.
func TestMatchesScikitLearn(t *testing.T) {
	ref := readReference(t)
	if len(ref.Fits) != 4 {
		t.Fatalf("testdata/sklearn_nb.json has %d fits, want 4", len(ref.Fits))
	}
	e := newEngine(t, 2)
	for _, f := range ref.Fits {
		for _, sparse := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/sparse=%v", f.Name, sparse), func(t *testing.T) {
				d := skData(t, f)
				cfg := Config{ModelType: f.ModelType, Smoothing: f.Smoothing, VarSmoothing: f.VarSmoothing}
				ds := d.load(t, e, 3, sparse)
				m := fit(t, e, ds, cfg)
				if m.Classes != f.Classes || m.Features != f.Features || m.Type != f.ModelType {
					t.Fatalf("model %s of %d classes × %d features, want %s of %d × %d", m.Type, m.Classes, m.Features, f.ModelType, f.Classes, f.Features)
				}
				params := []struct {
					name      string
					got, want []float64
				}{
					{"class_count_", m.ClassCount, f.ClassCount},
					{"class_log_prior_", m.ClassLogPrior, f.ClassLogPrior},
					{"feature_log_prob_", m.FeatureLogProb, f.FeatureLogProb},
					{"theta_", m.Theta, f.Theta},
					{"var_", m.Var, f.Var},
					{"epsilon_", []float64{m.Epsilon}, []float64{f.Epsilon}},
				}
				for _, p := range params {
					if len(p.got) != len(p.want) {
						t.Fatalf("%s: %d values, scikit-learn %d", p.name, len(p.got), len(p.want))
					}
					if len(p.want) == 0 {
						continue
					}
					r, at := maxRelErr(p.got, p.want)
					t.Logf("%s: max relative difference %.3g", p.name, r)
					if !(r <= paramTol) {
						t.Errorf("%s[%d] = %v, scikit-learn %v (relative difference %.3g > %g)", p.name, at, p.got[at], p.want[at], r, paramTol)
					}
				}
				checkPredictions(t, m, d, f, sparse)
				// ml.Evaluate sends the encoded model to the partitions.
				ev, err := ml.Evaluate(context.Background(), e, ds, m)
				if err != nil {
					t.Fatal(err)
				}
				if math.Abs(ev.Accuracy-f.Accuracy) > 1e-12 {
					t.Errorf("ml.Evaluate: accuracy %v, scikit-learn %v", ev.Accuracy, f.Accuracy)
				}
			})
		}
	}
}

// checkPredictions compares the model's predictions on every training row
// with scikit-learn's: dense rows through PredictBatch and ProbaBatch, CSR
// rows through PredictSparse and ProbaSparse.
func checkPredictions(t *testing.T, m *Model, d data, f skFit, sparse bool) {
	t.Helper()
	k := m.Classes
	pred := make([]float64, d.rows)
	proba := make([]float64, d.rows*k)
	if sparse {
		for i := range d.rows {
			ind, val := toSparse(d.x[i*d.cols : (i+1)*d.cols])
			pred[i] = float64(m.PredictSparse(ind, val))
			m.ProbaSparse(proba[i*k:(i+1)*k], ind, val)
		}
	} else {
		m.PredictBatch(pred, d.x, d.rows)
		m.ProbaBatch(proba, d.x, d.rows)
	}
	wrong := 0
	for i, p := range pred {
		if int(p) != f.Predict[i] {
			if wrong < 5 {
				t.Errorf("row %d: predicted %v, scikit-learn %d", i, p, f.Predict[i])
			}
			wrong++
		}
	}
	if wrong > 0 {
		t.Errorf("%d of %d predictions differ from scikit-learn's", wrong, d.rows)
	}
	diff, at := maxAbsDiff(proba, f.Proba)
	t.Logf("predict_proba: max absolute difference %.3g", diff)
	if !(diff <= probaTol) {
		t.Errorf("row %d class %d: probability %v, scikit-learn %v (difference %.3g > %g)", at/k, at%k, proba[at], f.Proba[at], diff, probaTol)
	}
	if acc := ml.Accuracy(d.y, pred, nil); math.Abs(acc-f.Accuracy) > 1e-12 {
		t.Errorf("training accuracy %v, scikit-learn %v", acc, f.Accuracy)
	}
}

// TestProgressLoss checks the one progress report: Iter 1, and a Loss
// (computed from the pass's statistics alone) equal to the mean negative
// joint log-likelihood of the training rows computed row by row.
func TestProgressLoss(t *testing.T) {
	digits := sklearnSet(t, "digits")
	weighted := digits
	weighted.w = make([]float64, digits.rows)
	for i := range weighted.w {
		weighted.w[i] = float64(1 + i%3)
	}
	cases := []struct {
		name string
		d    data
		cfg  Config
	}{
		{"multinomial", digits, Config{}},
		{"bernoulli", digits.binarized(8), Config{ModelType: Bernoulli, Smoothing: 0.5}},
		{"gaussian", digits, Config{ModelType: Gaussian, VarSmoothing: 1e-3}},
		{"gaussian/weighted", weighted, Config{ModelType: Gaussian, VarSmoothing: 1e-3}},
		{"multinomial/weighted", weighted, Config{}},
		{"gaussian/iris", sklearnSet(t, "iris"), Config{ModelType: Gaussian}},
	}
	e := newEngine(t, 2)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []ml.Progress
			c.cfg.Progress = func(p ml.Progress) bool { got = append(got, p); return false }
			m := fit(t, e, c.d.load(t, e, 4, false), c.cfg)
			if len(got) != 1 || got[0].Iter != 1 || got[0].Evals != 1 || !math.IsNaN(got[0].GradNorm) {
				t.Fatalf("progress reports %+v, want one with Iter 1, Evals 1, GradNorm NaN", got)
			}
			jll := make([]float64, c.d.rows*m.Classes)
			m.JointLogLikelihood(jll, c.d.x, c.d.rows)
			var sum, wsum float64
			for i := range c.d.rows {
				w := 1.0
				if c.d.w != nil {
					w = c.d.w[i]
				}
				sum -= w * jll[i*m.Classes+int(c.d.y[i])]
				wsum += w
			}
			want := sum / wsum
			if r := math.Abs(got[0].Loss-want) / math.Abs(want); !(r < 1e-12) {
				t.Errorf("Loss %v, row by row %v (relative difference %.3g)", got[0].Loss, want, r)
			}
		})
	}
}
