package bayes

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/ml"
)

// synthetic draws rows×cols features for k classes: counts (Poisson-ish
// small integers), binary or Gaussian values with the given offset, with
// a fraction of zeros, and weights in [0.25, 2.25) when weighted.
func synthetic(seed uint64, rows, cols, k int, mt string, offset float64, weighted bool) data {
	r := rand.New(rand.NewPCG(seed, 7))
	d := data{rows: rows, cols: cols, x: make([]float64, rows*cols), y: make([]float64, rows)}
	for i := range rows {
		c := r.IntN(k)
		d.y[i] = float64(c)
		for j := range cols {
			if r.Float64() < 0.3 {
				continue
			}
			switch mt {
			case Multinomial:
				d.x[i*cols+j] = float64(r.IntN(3 + (c+j)%5))
			case Bernoulli:
				if r.Float64() < 0.2+0.6*float64((c+j)%3)/2 {
					d.x[i*cols+j] = 1
				}
			default:
				d.x[i*cols+j] = offset + r.NormFloat64()*float64(1+j%3) + float64(c)
			}
		}
	}
	if weighted {
		d.w = make([]float64, rows)
		for i := range d.w {
			d.w[i] = 0.25 + 2*r.Float64()
		}
	}
	return d
}

// TestSameBitsForAnyWorkerCount: the same dataset in the same partitions
// gives byte-identical encoded models on 1 and 4 workers, for every model
// type, dense and CSR, with and without weights.
func TestSameBitsForAnyWorkerCount(t *testing.T) {
	for _, mt := range []string{Multinomial, Bernoulli, Gaussian} {
		for _, sparse := range []bool{false, true} {
			for _, weighted := range []bool{false, true} {
				name := fmt.Sprintf("type=%s/sparse=%v/weighted=%v", mt, sparse, weighted)
				t.Run(name, func(t *testing.T) {
					d := synthetic(11, 3000, 12, 4, mt, 1e3, weighted)
					var first []byte
					for _, workers := range []int{1, 4} {
						e := newEngine(t, workers)
						got := encode(t, fit(t, e, d.load(t, e, 7, sparse), Config{ModelType: mt}))
						if first == nil {
							first = got
						} else if !bytes.Equal(got, first) {
							t.Errorf("%d workers: the encoded model differs from 1 worker's", workers)
						}
					}
				})
			}
		}
	}
}

// TestSparseMatchesDense: CSR rows give the dense rows' model to rounding,
// and the same predictions.
func TestSparseMatchesDense(t *testing.T) {
	e := newEngine(t, 2)
	for _, mt := range []string{Multinomial, Bernoulli, Gaussian} {
		t.Run(mt, func(t *testing.T) {
			d := synthetic(12, 2000, 9, 3, mt, 5, true)
			dm := fit(t, e, d.load(t, e, 3, false), Config{ModelType: mt})
			sm := fit(t, e, d.load(t, e, 3, true), Config{ModelType: mt})
			for _, p := range [][2][]float64{{sm.FeatureLogProb, dm.FeatureLogProb}, {sm.Theta, dm.Theta}, {sm.Var, dm.Var}, {sm.ClassLogPrior, dm.ClassLogPrior}} {
				if r, at := maxRelErr(p[0], p[1]); r > 1e-12 {
					t.Errorf("parameter %d: sparse %v, dense %v", at, p[0][at], p[1][at])
				}
			}
			k := dm.Classes
			pd, ps := make([]float64, k), make([]float64, k)
			for i := range d.rows {
				x := d.x[i*d.cols : (i+1)*d.cols]
				ind, val := toSparse(x)
				dm.Proba(pd, x)
				dm.ProbaSparse(ps, ind, val)
				if diff, _ := maxAbsDiff(ps, pd); diff > 1e-9 || dm.Predict(x) != dm.PredictSparse(ind, val) {
					t.Fatalf("row %d: sparse probabilities %v, dense %v", i, ps, pd)
				}
			}
		})
	}
}

// TestWeightsAreReplication: integer weights give the model of the data
// with each row repeated that many times.
func TestWeightsAreReplication(t *testing.T) {
	e := newEngine(t, 2)
	for _, mt := range []string{Multinomial, Bernoulli, Gaussian} {
		t.Run(mt, func(t *testing.T) {
			d := synthetic(13, 500, 6, 3, mt, 100, false)
			d.w = make([]float64, d.rows)
			var rep data
			rep.cols = d.cols
			for i := range d.rows {
				d.w[i] = float64(i % 4) // 0 too: the row counts for nothing
				for range i % 4 {
					rep.x = append(rep.x, d.x[i*d.cols:(i+1)*d.cols]...)
					rep.y = append(rep.y, d.y[i])
					rep.rows++
				}
			}
			wm := fit(t, e, d.load(t, e, 3, false), Config{ModelType: mt})
			rm := fit(t, e, rep.load(t, e, 3, false), Config{ModelType: mt})
			for _, p := range [][2][]float64{{wm.ClassCount, rm.ClassCount}, {wm.FeatureLogProb, rm.FeatureLogProb}, {wm.Theta, rm.Theta}, {wm.Var, rm.Var}} {
				if r, at := maxRelErr(p[0], p[1]); r > 1e-11 {
					t.Errorf("parameter %d: weighted %v, replicated %v (relative %.3g)", at, p[0][at], p[1][at], r)
				}
			}
		})
	}
}

// TestGaussianLargeOffset: features around 1e9 with unit spread keep their
// variances (sums of squares would lose every digit).
func TestGaussianLargeOffset(t *testing.T) {
	const offset = 1e9
	d := synthetic(14, 4000, 5, 3, Gaussian, offset, false)
	for i := range d.x {
		if d.x[i] == 0 {
			d.x[i] = offset // no zeros: they would dominate the variance
		}
	}
	e := newEngine(t, 3)
	m := fit(t, e, d.load(t, e, 13, false), Config{ModelType: Gaussian, VarSmoothing: 1e-300})
	// The reference: two passes over each class's rows, after removing the
	// offset exactly (the values are offset + small numbers).
	k, c := m.Classes, d.cols
	for cl := range k {
		for j := range c {
			var n, s float64
			for i := range d.rows {
				if int(d.y[i]) == cl {
					n++
					s += d.x[i*c+j] - offset
				}
			}
			mean := s / n
			var q float64
			for i := range d.rows {
				if int(d.y[i]) == cl {
					dv := d.x[i*c+j] - offset - mean
					q += dv * dv
				}
			}
			want, got := q/n, m.Var[cl*c+j]-m.Epsilon
			if r := math.Abs(got-want) / want; r > 1e-6 {
				t.Errorf("class %d feature %d: variance %v, want %v (relative %.3g)", cl, j, got, want, r)
			}
		}
	}
}

// TestDataErrors: every error of the data names what is wrong and where.
func TestDataErrors(t *testing.T) {
	base := func(mt string) data { return synthetic(15, 40, 4, 3, mt, 0, false) }
	set := func(d data, row, col int, v float64) data {
		d.x = append([]float64(nil), d.x...)
		d.x[row*d.cols+col] = v
		return d
	}
	label := func(d data, row int, y float64) data {
		d.y = append([]float64(nil), d.y...)
		d.y[row] = y
		return d
	}
	wide := data{rows: 2, cols: 2000, x: make([]float64, 4000), y: []float64{0, 60000}}
	cases := []struct {
		name string
		d    data
		cfg  Config
		want []string
	}{
		{"negative count", set(base(Multinomial), 25, 2, -3), Config{}, []string{"multinomial", "feature 2 of row 5 in partition 1", "is -3", ">= 0"}},
		{"NaN count", set(base(Multinomial), 3, 1, math.NaN()), Config{}, []string{"feature 1 of row 3 in partition 0", "NaN"}},
		{"infinite count", set(base(Multinomial), 3, 1, math.Inf(1)), Config{}, []string{"feature 1 of row 3 in partition 0", "+Inf"}},
		{"non-binary", set(base(Bernoulli), 33, 3, 0.5), Config{ModelType: Bernoulli}, []string{"bernoulli", "feature 3 of row 13 in partition 1", "is 0.5", "0 or 1"}},
		{"binary 2", set(base(Bernoulli), 0, 0, 2), Config{ModelType: Bernoulli}, []string{"feature 0 of row 0 in partition 0", "is 2"}},
		{"gaussian NaN", set(base(Gaussian), 21, 0, math.NaN()), Config{ModelType: Gaussian}, []string{"feature 0 of row 1 in partition 1", "finite"}},
		{"label beyond Classes", label(base(Multinomial), 30, 3), Config{Classes: 3}, []string{"label 3 of row 10 in partition 1", "[0, 3) (Config.Classes)"}},
		{"negative label", label(base(Gaussian), 2, -1), Config{ModelType: Gaussian}, []string{"label -1 of row 2 in partition 0", "not a class index"}},
		{"fractional label", label(base(Bernoulli), 2, 1.5), Config{ModelType: Bernoulli}, []string{"label 1.5 of row 2"}},
		{"huge label", label(base(Multinomial), 2, 1e9), Config{}, []string{"label 1e+09 of row 2", "[0, 65536)"}},
		{"too many parameters", wide, Config{}, []string{"label 60000 of row 0 in partition 1 makes 60001 classes of 2000 features, more than 67108864 parameters"}},
	}
	e := newEngine(t, 2)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, sparse := range []bool{false, true} {
				_, err := Fit(context.Background(), e, c.d.load(t, e, 2, sparse), c.cfg)
				if err == nil {
					t.Fatalf("sparse=%v: no error", sparse)
				}
				for _, w := range c.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("sparse=%v: error %q does not say %q", sparse, err, w)
					}
				}
			}
		})
	}
}

// TestConfigAndDatasetErrors: bad configurations and unusable datasets.
func TestConfigAndDatasetErrors(t *testing.T) {
	e := newEngine(t, 2)
	ok := synthetic(16, 30, 3, 2, Multinomial, 0, false).load(t, e, 2, false)
	constant := data{rows: 4, cols: 2, x: []float64{1, 2, 1, 2, 1, 2, 1, 2}, y: []float64{0, 1, 0, 1}}
	zeroW := synthetic(17, 10, 3, 2, Multinomial, 0, false)
	zeroW.w = make([]float64, zeroW.rows)
	negW := synthetic(18, 10, 3, 2, Multinomial, 0, false)
	negW.w = make([]float64, negW.rows)
	negW.w[7] = -1
	wide := data{rows: 2, cols: 2000, x: make([]float64, 4000), y: []float64{0, 1}}
	empty, err := e.FromBlocks(context.Background(), "empty", []*cluster.Block{cluster.NewDenseBuilder(3, 0).Block()})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		ds   *cluster.Dataset
		cfg  Config
		want string
	}{
		{"model type", ok, Config{ModelType: "complement"}, `Config.ModelType "complement"`},
		{"smoothing", ok, Config{Smoothing: -1}, "Config.Smoothing must be a finite number >= 0 (0 means 1), got -1"},
		{"smoothing NaN", ok, Config{Smoothing: math.NaN()}, "Config.Smoothing"},
		{"var smoothing", ok, Config{ModelType: Gaussian, VarSmoothing: math.Inf(1)}, "Config.VarSmoothing"},
		{"one class", ok, Config{Classes: 1}, "Config.Classes must be 0 (from the labels) or in [2, 65536], got 1"},
		{"too many parameters", wide.load(t, e, 1, true), Config{Classes: 1 << 16}, "Config.Classes = 65536 classes of the 2000 features"},
		{"no rows", empty, Config{}, `dataset "empty" has no rows`},
		{"zero weights", zeroW.load(t, e, 2, false), Config{}, "sum to 0"},
		{"negative weight", negW.load(t, e, 2, false), Config{}, "weight -1 of row 2 in partition 1"},
		{"constant features", constant.load(t, e, 1, false), Config{ModelType: Gaussian}, "every feature is constant"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Fit(context.Background(), e, c.ds, c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one saying %q", err, c.want)
			}
		})
	}
}

// TestClasses: Config.Classes adds classes without rows, which get prior
// probability 0; inferring takes the largest label plus one, at least 2.
func TestClasses(t *testing.T) {
	e := newEngine(t, 2)
	d := synthetic(19, 200, 4, 2, Multinomial, 0, false)
	m := fit(t, e, d.load(t, e, 2, false), Config{Classes: 4})
	if m.Classes != 4 || !math.IsInf(m.ClassLogPrior[3], -1) || m.ClassCount[2] != 0 {
		t.Fatalf("Classes 4: %d classes, priors %v, counts %v", m.Classes, m.ClassLogPrior, m.ClassCount)
	}
	p := make([]float64, 4*d.rows)
	m.ProbaBatch(p, d.x, d.rows)
	for i := range d.rows {
		if p[i*4+2] != 0 || p[i*4+3] != 0 || math.Abs(p[i*4]+p[i*4+1]-1) > 1e-12 {
			t.Fatalf("row %d: probabilities %v", i, p[i*4:i*4+4])
		}
	}
	for i := range d.y {
		d.y[i] = 0
	}
	m = fit(t, e, d.load(t, e, 2, false), Config{})
	if m.Classes != 2 || !math.IsInf(m.ClassLogPrior[1], -1) {
		t.Errorf("labels all 0: %d classes, priors %v; want 2 classes, the second empty", m.Classes, m.ClassLogPrior)
	}
}

// TestCrossValidate runs ml.CrossValidate over the Estimator.
func TestCrossValidate(t *testing.T) {
	e := newEngine(t, 2)
	digits := sklearnSet(t, "digits")
	ds := digits.load(t, e, 4, false)
	for _, c := range []Config{{Classes: 10}, {ModelType: Gaussian, Classes: 10}} {
		cv, err := ml.CrossValidate(context.Background(), e, ds, Estimator{Config: c}, 3, 5, "accuracy")
		if err != nil {
			t.Fatal(err)
		}
		if cv.Mean < 0.75 || len(cv.Folds) != 3 {
			t.Errorf("%+v: CV accuracy %.4f ± %.4f over %d folds", c, cv.Mean, cv.Std, len(cv.Folds))
		}
		t.Logf("%s: CV accuracy %.4f ± %.4f", c.withDefaults().ModelType, cv.Mean, cv.Std)
	}
}
