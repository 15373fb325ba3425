package ml

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
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

// synth is a synthetic data set held as flat slices.
type synth struct {
	rows, cols int
	x, y, w    []float64
}

// gaussianX returns rows×cols features: standard normals scaled per column
// by scale[j] and shifted by shift[j] (so that standardisation matters),
// with a fraction zero of the entries set to 0.
func gaussianX(r *rand.Rand, rows, cols int, zero float64) []float64 {
	x := make([]float64, rows*cols)
	for i := range x {
		j := i % cols
		if r.Float64() < zero {
			continue
		}
		x[i] = r.NormFloat64()*float64(1+j%3) + float64(j%4) - 1
	}
	return x
}

// linearData draws y = x·beta + b + noise·N(0,1).
func linearData(seed uint64, rows, cols int, noise float64, weights bool) (synth, []float64, float64) {
	r := rand.New(rand.NewPCG(seed, 1))
	s := synth{rows: rows, cols: cols, x: gaussianX(r, rows, cols, 0), y: make([]float64, rows)}
	beta := make([]float64, cols)
	for j := range beta {
		beta[j] = r.NormFloat64()
	}
	b := 0.7
	for i := 0; i < rows; i++ {
		var m float64
		for j := 0; j < cols; j++ {
			m += s.x[i*cols+j] * beta[j]
		}
		s.y[i] = m + b + noise*r.NormFloat64()
	}
	if weights {
		s.w = make([]float64, rows)
		for i := range s.w {
			s.w[i] = 0.25 + 2*r.Float64()
		}
	}
	return s, beta, b
}

// softmaxData draws labels from a softmax model with coefficients coef
// (k×cols) and intercepts icpt; k = 1 means binary logistic.
func softmaxData(seed uint64, rows, cols int, coef, icpt []float64, zero float64, weights bool) synth {
	r := rand.New(rand.NewPCG(seed, 2))
	s := synth{rows: rows, cols: cols, x: gaussianX(r, rows, cols, zero), y: make([]float64, rows)}
	k := len(icpt)
	m := make([]float64, k)
	for i := 0; i < rows; i++ {
		for c := 0; c < k; c++ {
			m[c] = icpt[c]
			for j := 0; j < cols; j++ {
				m[c] += s.x[i*cols+j] * coef[c*cols+j]
			}
		}
		if k == 1 {
			if r.Float64() < sigmoid(m[0]) {
				s.y[i] = 1
			}
			continue
		}
		softmaxInPlace(m)
		u, acc := r.Float64(), 0.0
		s.y[i] = float64(k - 1)
		for c := 0; c < k; c++ {
			acc += m[c]
			if u < acc {
				s.y[i] = float64(c)
				break
			}
		}
	}
	if weights {
		s.w = make([]float64, rows)
		for i := range s.w {
			s.w[i] = 0.25 + 2*r.Float64()
		}
	}
	return s
}

// load caches s as a dense dataset of parts partitions.
func (s synth) dense(t testing.TB, e *cluster.Engine, parts int) *cluster.Dataset {
	t.Helper()
	ds, err := e.FromDense(context.Background(), "synth", s.x, s.rows, s.cols, s.y, s.w, parts)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// sparse caches s as CSR blocks of parts partitions (zeros dropped).
func (s synth) sparse(t testing.TB, e *cluster.Engine, parts int) *cluster.Dataset {
	t.Helper()
	blocks := make([]*cluster.Block, parts)
	for p := range blocks {
		lo, hi := p*s.rows/parts, (p+1)*s.rows/parts
		bb := cluster.NewSparseBuilder(s.cols)
		for i := lo; i < hi; i++ {
			var ind []int32
			var val []float64
			for j := 0; j < s.cols; j++ {
				if v := s.x[i*s.cols+j]; v != 0 {
					ind = append(ind, int32(j))
					val = append(val, v)
				}
			}
			w := 1.0
			if s.w != nil {
				w = s.w[i]
			}
			if err := bb.AddSparse(ind, val, s.y[i], w); err != nil {
				t.Fatal(err)
			}
		}
		blocks[p] = bb.Block()
	}
	ds, err := e.FromBlocks(context.Background(), "synth-sparse", blocks)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func setOf(t testing.TB, s *datasets.Set) synth {
	return synth{rows: s.Rows, cols: s.Cols, x: s.X, y: s.Y}
}

var fashion struct {
	once        sync.Once
	train, test *datasets.Set
	err         error
}

// fashionMNIST loads Fashion-MNIST once per test binary.
func fashionMNIST(t testing.TB) (train, test *datasets.Set) {
	t.Helper()
	fashion.once.Do(func() {
		fashion.train, fashion.err = datasets.FashionMNIST("train")
		if fashion.err == nil {
			fashion.test, fashion.err = datasets.FashionMNIST("test")
		}
	})
	if fashion.err != nil {
		t.Fatal(fashion.err)
	}
	return fashion.train, fashion.test
}

func sklearnSet(t testing.TB, name string) *datasets.Set {
	t.Helper()
	s, err := datasets.Sklearn(name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// long reports whether the long tests run (make test-long sets FLINT_LONG=1).
func long() bool { return os.Getenv("FLINT_LONG") == "1" }

func relErr(got, want []float64) float64 {
	var num, den float64
	for i := range got {
		num += (got[i] - want[i]) * (got[i] - want[i])
		den += want[i] * want[i]
	}
	return math.Sqrt(num / math.Max(den, 1e-300))
}

func maxAbsDiff(a, b []float64) float64 {
	var m float64
	for i := range a {
		m = math.Max(m, math.Abs(a[i]-b[i]))
	}
	return m
}

func datasetsDiabetes() (synth, error) {
	d, err := datasets.Diabetes()
	if err != nil {
		return synth{}, err
	}
	return synth{rows: d.Rows, cols: d.Cols, x: d.X, y: d.Y}, nil
}

// reference is testdata/sklearn_glm.json, written by
// bench/peers/glm_reference.py.
type reference struct {
	Sklearn string `json:"sklearn"`
	Lasso   []struct {
		Data      string    `json:"data"`
		Call      string    `json:"call"`
		Alpha     float64   `json:"alpha"`
		L1Ratio   float64   `json:"l1_ratio"`
		Coef      []float64 `json:"coef"`
		Intercept float64   `json:"intercept"`
	} `json:"lasso"`
	Logistic []struct {
		Data      string    `json:"data"`
		Call      string    `json:"call"`
		C         float64   `json:"C"`
		Rows      int       `json:"rows"`
		Classes   int       `json:"classes"`
		RegParam  float64   `json:"reg_param"`
		Coef      []float64 `json:"coef"`
		Intercept []float64 `json:"intercept"`
		Objective float64   `json:"objective"`
		Accuracy  float64   `json:"train_accuracy"`
	} `json:"logistic"`
}

func readReference(t testing.TB) *reference {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "sklearn_glm.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r reference
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("testdata/sklearn_glm.json: %v", err)
	}
	return &r
}
