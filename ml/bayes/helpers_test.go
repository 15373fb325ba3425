package bayes

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/internal/datasets"
)

// newEngine starts an engine that the test closes.
func newEngine(t testing.TB, workers int) *cluster.Engine {
	t.Helper()
	e := cluster.NewEngine(cluster.Config{Workers: workers})
	t.Cleanup(func() { e.Close() })
	return e
}

// data is a data set held as flat slices.
type data struct {
	rows, cols int
	x, y, w    []float64
}

func fromSet(s *datasets.Set) data { return data{rows: s.Rows, cols: s.Cols, x: s.X, y: s.Y} }

// load caches d on c in parts partitions of contiguous rows, dense or CSR
// (zeros left out).
func (d data) load(t testing.TB, c cluster.Cluster, parts int, sparse bool) *cluster.Dataset {
	t.Helper()
	blocks := make([]*cluster.Block, parts)
	for p := range blocks {
		lo, hi := p*d.rows/parts, (p+1)*d.rows/parts
		bb := cluster.NewDenseBuilder(d.cols, hi-lo)
		if sparse {
			bb = cluster.NewSparseBuilder(d.cols)
		}
		for i := lo; i < hi; i++ {
			w := 1.0
			if d.w != nil {
				w = d.w[i]
			}
			row := d.x[i*d.cols : (i+1)*d.cols]
			var err error
			if sparse {
				ind, val := toSparse(row)
				err = bb.AddSparse(ind, val, d.y[i], w)
			} else {
				err = bb.AddDense(row, d.y[i], w)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		blocks[p] = bb.Block()
	}
	ds, err := c.FromBlocks(context.Background(), "test", blocks)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// toSparse returns the non-zeros of a dense row.
func toSparse(row []float64) ([]int32, []float64) {
	var ind []int32
	var val []float64
	for j, v := range row {
		if v != 0 {
			ind = append(ind, int32(j))
			val = append(val, v)
		}
	}
	return ind, val
}

func sklearnSet(t testing.TB, name string) data {
	t.Helper()
	s, err := datasets.Sklearn(name)
	if err != nil {
		t.Fatal(err)
	}
	return fromSet(s)
}

// binarized returns d with every feature replaced by 1 where it exceeds
// threshold, else 0.
func (d data) binarized(threshold float64) data {
	x := make([]float64, len(d.x))
	for i, v := range d.x {
		if v > threshold {
			x[i] = 1
		}
	}
	d.x = x
	return d
}

// skFit is one fit of testdata/sklearn_nb.json, written by
// bench/peers/nb_reference.py.
type skFit struct {
	Name           string    `json:"name"`
	Data           string    `json:"data"`
	Transform      string    `json:"transform"`
	Call           string    `json:"call"`
	ModelType      string    `json:"model_type"`
	Rows           int       `json:"rows"`
	Features       int       `json:"features"`
	Classes        int       `json:"classes"`
	Smoothing      float64   `json:"smoothing"`
	VarSmoothing   float64   `json:"var_smoothing"`
	Epsilon        float64   `json:"epsilon"`
	ClassCount     []float64 `json:"class_count"`
	ClassLogPrior  []float64 `json:"class_log_prior"`
	FeatureLogProb []float64 `json:"feature_log_prob"`
	Theta          []float64 `json:"theta"`
	Var            []float64 `json:"var"`
	Predict        []int     `json:"predict"`
	Proba          []float64 `json:"proba"`
	Accuracy       float64   `json:"train_accuracy"`
}

type skReference struct {
	Sklearn string  `json:"sklearn"`
	Numpy   string  `json:"numpy"`
	Fits    []skFit `json:"fits"`
}

func readReference(t testing.TB) *skReference {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "sklearn_nb.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r skReference
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("testdata/sklearn_nb.json: %v", err)
	}
	return &r
}

// maxRelErr is the largest |got−want|/|want| over the elements (an exact
// zero counts 0 when got is zero too, +Inf otherwise), and where.
func maxRelErr(got, want []float64) (float64, int) {
	worst, at := 0.0, -1
	for i := range want {
		diff := math.Abs(got[i] - want[i])
		if got[i] == want[i] {
			diff = 0 // equal infinities too
		}
		r := diff / math.Abs(want[i])
		if diff == 0 {
			r = 0
		}
		if math.IsNaN(r) || r > worst || at < 0 {
			worst, at = r, i
		}
	}
	return worst, at
}

func maxAbsDiff(got, want []float64) (float64, int) {
	worst, at := 0.0, -1
	for i := range want {
		d := math.Abs(got[i] - want[i])
		if math.IsNaN(d) || d > worst || at < 0 {
			worst, at = d, i
		}
	}
	return worst, at
}

// fit fits cfg on ds, failing the test on error.
func fit(t testing.TB, e cluster.Executor, ds *cluster.Dataset, cfg Config) *Model {
	t.Helper()
	m, err := Fit(context.Background(), e, ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func encode(t testing.TB, m *Model) []byte {
	t.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
