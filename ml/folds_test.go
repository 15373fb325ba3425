package ml

import (
	"context"
	"math"
	"testing"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/ml/internal/openblas"
)

// copying hides the engine's fold views, so cluster.Folds copies the folds
// as it does on executors that make no views.
type copying struct{ e *cluster.Engine }

func (c copying) MapPartitions(ctx context.Context, ds *cluster.Dataset, task string, b any) ([]any, error) {
	return c.e.MapPartitions(ctx, ds, task, b)
}

func (c copying) DerivePartitions(ctx context.Context, ds *cluster.Dataset, name, transform string, arg any) (*cluster.Dataset, error) {
	return c.e.DerivePartitions(ctx, ds, name, transform, arg)
}

func (c copying) Drop(ds *cluster.Dataset) { c.e.Drop(ds) }

// Golden fold metrics, taken with the copying k-fold split (before folds
// became views) on the data of TestFoldViewsMatchCopies.
var (
	goldenRMSE    = []float64{0.49263986712041596, 0.49002303589642965, 0.4894916574197187, 0.5133786422288195, 0.4986393825373219}
	goldenLogLoss = []float64{0.38088849580489953, 0.348373960542233, 0.3432249214105113, 0.4008513408827929, 0.38188732521308005}
	goldenAcc     = []float64{0.8452380952380952, 0.8675282714054927, 0.8731942215088283, 0.8244766505636071, 0.8375912408759124}
)

// TestFoldViewsMatchCopies: 5-fold cross-validation on fold views scores
// what the copying split scored (the same rows in each fold; the training
// rows come fold by fold, so sums may differ in the last bits), the same
// for any number of workers, and the views add nothing to the engine's
// cached bytes.
func TestFoldViewsMatchCopies(t *testing.T) {
	ctx := context.Background()
	type run struct {
		name   string
		x      func(e *cluster.Engine) cluster.Deriver
		exact  bool
		cached bool // folds must not add cached bytes
	}
	runs := []run{
		// The goldens are the bits of the default build's amd64 kernels;
		// the openblas build's products (see ml/internal/openblas), and
		// gonum's and Go's where those kernels are not (noasm, or a CPU
		// without AVX2), differ in their last bits.
		{name: "copies", x: func(e *cluster.Engine) cluster.Deriver { return copying{e} }, exact: !openblas.Enabled && hasAVX2},
		{name: "views", x: func(e *cluster.Engine) cluster.Deriver { return e }, cached: true},
	}
	for _, r := range runs {
		var first [][]float64
		for _, workers := range []int{1, 3} {
			// Fresh slices for each engine: FromDense shares them, and the
			// views reorder the rows.
			lin, _, _ := linearData(51, 3001, 6, 0.5, true)
			cls := softmaxData(52, 2999, 5, []float64{1, -2, 0.5, 0, 1, 0.3, 0.2, -1, 1, 0.5, -0.7, 1, 0, -0.5, 2}, []float64{0.1, -0.2, 0.3}, 0.2, false)
			e := newEngine(t, workers)
			x := r.x(e)
			dl, dc := lin.dense(t, e, 4), cls.dense(t, e, 5)
			before := e.Cached()
			folds, err := KFold(ctx, x, dc, 5, 9)
			if err != nil {
				t.Fatal(err)
			}
			if grew := e.Cached() - before; r.cached && grew != 0 {
				t.Errorf("%s: 5 folds of %d cached bytes added %d bytes", r.name, before, grew)
			} else if !r.cached && grew < 4*dc.Bytes() {
				t.Errorf("%s: 5 copied folds of %d bytes added only %d bytes", r.name, dc.Bytes(), grew)
			}
			DropFolds(x, folds)
			if e.Cached() != before {
				t.Errorf("%s: dropping the folds left %d bytes", r.name, e.Cached()-before)
			}
			var got [][]float64
			for _, c := range []struct {
				ds     *cluster.Dataset
				est    Estimator
				metric string
				want   []float64
				tol    float64
			}{
				{dl, LinearRegression{RegParam: 0.1}, "rmse", goldenRMSE, 1e-12},
				{dc, LogisticRegression{RegParam: 0.01}, "logloss", goldenLogLoss, 1e-9},
				{dc, LogisticRegression{RegParam: 0.01}, "accuracy", goldenAcc, 0},
			} {
				cv, err := CrossValidate(ctx, x, c.ds, c.est, 5, 9, c.metric)
				if err != nil {
					t.Fatal(err)
				}
				for i, v := range cv.Folds {
					tol := c.tol
					if r.exact {
						tol = 0
					}
					if math.Abs(v-c.want[i]) > tol*math.Abs(c.want[i]) {
						t.Errorf("%s, %d workers: fold %d %s %v, golden %v", r.name, workers, i, c.metric, v, c.want[i])
					}
				}
				got = append(got, cv.Folds)
			}
			if first == nil {
				first = got
				continue
			}
			for i := range got {
				for j := range got[i] {
					if got[i][j] != first[i][j] {
						t.Errorf("%s: metric %d fold %d is %v with 3 workers, %v with 1", r.name, i, j, got[i][j], first[i][j])
					}
				}
			}
		}
	}
}
