package ml

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/flintml/flint/cluster"
)

// TestFoldsPartitionTheRows: the k test folds are disjoint and cover the
// dataset, each fold's training rows are the rest, and the folds are the
// same for any number of workers.
func TestFoldsPartitionTheRows(t *testing.T) {
	s, _, _ := linearData(41, 997, 3, 0.1, false)
	for i := range s.y {
		s.y[i] = float64(i) // the row id, to follow rows through the split
	}
	var first [][]float64
	for _, workers := range []int{1, 3} {
		e := newEngine(t, workers)
		ds := s.dense(t, e, 4)
		folds, err := makeFolds(context.Background(), e, ds, 5, 7)
		if err != nil {
			t.Fatal(err)
		}
		seen := make([]int, s.rows)
		var ids [][]float64
		for i, f := range folds {
			test := rowIDs(t, e, f.test)
			train := rowIDs(t, e, f.train)
			if len(test)+len(train) != s.rows {
				t.Fatalf("fold %d: %d test + %d train rows of %d", i, len(test), len(train), s.rows)
			}
			if len(test) < s.rows/5-60 || len(test) > s.rows/5+60 {
				t.Errorf("fold %d has %d test rows, want about %d", i, len(test), s.rows/5)
			}
			for _, id := range test {
				seen[int(id)]++
			}
			ids = append(ids, test)
		}
		for id, n := range seen {
			if n != 1 {
				t.Fatalf("row %d is in %d test folds", id, n)
			}
		}
		if first == nil {
			first = ids
		} else {
			for i := range ids {
				if maxAbsDiff(ids[i], first[i]) != 0 || len(ids[i]) != len(first[i]) {
					t.Fatalf("fold %d differs between 1 and 3 workers", i)
				}
			}
		}
		dropFolds(e, folds)
	}
}

func rowIDs(t *testing.T, e *cluster.Engine, ds *cluster.Dataset) []float64 {
	var ids []float64
	for p := 0; p < ds.NumPartitions(); p++ {
		b, err := e.Block(ds, p)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, b.Y...)
	}
	return ids
}

func TestCrossValidate(t *testing.T) {
	s, _, _ := linearData(42, 2000, 4, 0.5, false)
	e := newEngine(t, 2)
	ds := s.dense(t, e, 4)
	cv, err := CrossValidate(context.Background(), e, ds, LinearRegression{}, 4, 1, "rmse")
	if err != nil {
		t.Fatal(err)
	}
	if len(cv.Folds) != 4 {
		t.Fatalf("%d fold metrics", len(cv.Folds))
	}
	// The noise has standard deviation 0.5: that is what OLS should score.
	for i, v := range cv.Folds {
		if math.Abs(v-0.5) > 0.05 {
			t.Errorf("fold %d: RMSE %.4f, want about 0.5", i, v)
		}
	}
	if m, _ := meanStd(cv.Folds); m != cv.Mean {
		t.Errorf("mean %v of folds %v", cv.Mean, cv.Folds)
	}
	before := e.Cached()
	if _, err := CrossValidate(context.Background(), e, ds, LinearRegression{}, 3, 1, "rmse"); err != nil {
		t.Fatal(err)
	}
	if after := e.Cached(); after != before {
		t.Errorf("cross-validation left %d bytes of fold datasets cached", after-before)
	}
	if _, err := CrossValidate(context.Background(), e, ds, LinearRegression{}, 1, 1, "rmse"); err == nil || !strings.Contains(err.Error(), "at least 2 folds") {
		t.Errorf("one fold: %v", err)
	}
	if _, err := CrossValidate(context.Background(), e, ds, LinearRegression{}, 3, 1, "speed"); err == nil || !strings.Contains(err.Error(), `unknown metric "speed"`) {
		t.Errorf("unknown metric: %v", err)
	}
}

// TestGridSearchPicksTheBest: on data with many noise features and few
// rows, some regularisation beats none and far too much loses; the search
// reports every fold of every combination in the grid's order.
func TestGridSearchPicksTheBest(t *testing.T) {
	coef := make([]float64, 30)
	coef[0], coef[1], coef[2] = 2, -1.5, 1
	s := softmaxData(43, 300, 30, coef, []float64{0}, 0, false)
	e := newEngine(t, 2)
	ds := s.dense(t, e, 3)
	g := GridSearch{
		Grid: map[string][]float64{"regParam": {0, 0.02, 5}, "elasticNetParam": {0, 1}},
		Build: func(p Params) (Estimator, error) {
			return LogisticRegression{RegParam: p["regParam"], ElasticNetParam: p["elasticNetParam"]}, nil
		},
		Folds:  4,
		Seed:   3,
		Metric: "logloss",
	}
	res, err := g.Run(context.Background(), e, ds)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Trials) != 6 || res.LargerIsBetter {
		t.Fatalf("%d trials, larger is better %v", len(res.Trials), res.LargerIsBetter)
	}
	// Names sorted (elasticNetParam, regParam), the last varying fastest.
	order := []Params{
		{"elasticNetParam": 0, "regParam": 0}, {"elasticNetParam": 0, "regParam": 0.02}, {"elasticNetParam": 0, "regParam": 5},
		{"elasticNetParam": 1, "regParam": 0}, {"elasticNetParam": 1, "regParam": 0.02}, {"elasticNetParam": 1, "regParam": 5},
	}
	for i, tr := range res.Trials {
		if tr.Params.String() != order[i].String() {
			t.Errorf("trial %d is %v, want %v", i, tr.Params, order[i])
		}
		if len(tr.Folds) != 4 {
			t.Errorf("trial %d has %d fold metrics", i, len(tr.Folds))
		}
		t.Logf("%v: log-loss %.4f ± %.4f %v", tr.Params, tr.Mean, tr.Std, tr.Folds)
	}
	if res.Best["regParam"] != 0.02 {
		t.Errorf("best %v (mean %.4f), want regParam 0.02", res.Best, res.BestMean)
	}
	for _, tr := range res.Trials {
		if tr.Mean < res.BestMean {
			t.Errorf("%v scored %.4f, better than the best %.4f", tr.Params, tr.Mean, res.BestMean)
		}
	}
	g.Grid["regParam"] = nil
	if _, err := g.Run(context.Background(), e, ds); err == nil || !strings.Contains(err.Error(), `"regParam" has no values`) {
		t.Errorf("empty values: %v", err)
	}
}
