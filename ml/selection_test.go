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
	var first [][]float64
	for _, workers := range []int{1, 3} {
		// Fresh slices for each engine: the folds reorder the rows of the
		// dataset, and FromDense shares them.
		s, _, _ := linearData(41, 997, 3, 0.1, false)
		for i := range s.y {
			s.y[i] = float64(i) // the row id, to follow rows through the split
		}
		e := newEngine(t, workers)
		ds := s.dense(t, e, 4)
		folds, err := KFold(context.Background(), e, ds, 5, 7)
		if err != nil {
			t.Fatal(err)
		}
		seen := make([]int, s.rows)
		var ids [][]float64
		for i, f := range folds {
			test := rowIDs(t, e, f.Test)
			train := rowIDs(t, e, f.Train)
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
		DropFolds(e, folds)
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
	if m, _ := MeanStd(cv.Folds); m != cv.Mean {
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
