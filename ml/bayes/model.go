package bayes

import (
	"fmt"
	"math"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"

	"github.com/flintml/flint/ml"
)

// Algorithm is the name of naive Bayes models in ml's model envelope.
const Algorithm = "naive_bayes"

func init() { ml.RegisterModel(Algorithm, func() ml.Model { return new(Model) }) }

// Model is a fitted naive Bayes classifier. It predicts without an engine;
// predictions read it only, so one model may serve any number of
// goroutines. Its exported fields must not be modified once it has
// predicted.
//
// The joint log-likelihood of row x and class c, from which every
// prediction follows, is
//
//	multinomial: ClassLogPrior_c + Σⱼ xⱼ·FeatureLogProb_cj
//	Bernoulli:   ClassLogPrior_c + Σⱼ xⱼ·log θ_cj + (1−xⱼ)·log(1−θ_cj),  log θ_cj = FeatureLogProb_cj
//	Gaussian:    ClassLogPrior_c − ½ Σⱼ log(2π·Var_cj) + (xⱼ − Theta_cj)²/Var_cj
//
// (scikit-learn's _joint_log_likelihood). Prediction applies the formula
// to whatever it is given: it does not check that multinomial values are
// counts or that Bernoulli values are 0 or 1, as scikit-learn's
// BernoulliNB(binarize=None) does not.
type Model struct {
	Type     string // Multinomial, Bernoulli or Gaussian
	Classes  int    // 2 or more
	Features int
	// Smoothing is the α the multinomial or Bernoulli model was fitted
	// with (0 for Gaussian), and Epsilon what the Gaussian model added to
	// every variance (0 for the others).
	Smoothing, Epsilon float64
	// ClassCount is the weight of each class's training rows
	// (scikit-learn's class_count_), ClassLogPrior the log of its share
	// of the total (−Inf for a class without rows).
	ClassCount, ClassLogPrior []float64
	// FeatureLogProb is log θ_cj, Classes×Features row-major (multinomial
	// and Bernoulli; scikit-learn's feature_log_prob_, MLlib's theta).
	FeatureLogProb []float64
	// Theta and Var are the Gaussian model's per-class means and variances
	// (ε included), Classes×Features row-major (scikit-learn's theta_ and
	// var_, MLlib's theta and sigma).
	Theta, Var []float64

	once sync.Once
	lin  []float64 // Classes×Features: the coefficients of x in the joint log-likelihood (not Gaussian)
	bias []float64 // Classes: the constant term
	ivar []float64 // Gaussian: 1/Var
	zero []float64 // Gaussian: the joint log-likelihood of the all-zero row
}

var _ ml.Classifier = (*Model)(nil)

// Algorithm implements ml.Model.
func (*Model) Algorithm() string { return Algorithm }

// NumFeatures implements ml.Model.
func (m *Model) NumFeatures() int { return m.Features }

// NumClasses implements ml.Classifier.
func (m *Model) NumClasses() int { return m.Classes }

// prepare derives, once, the terms predictions use.
func (m *Model) prepare() {
	m.once.Do(func() {
		k, d := m.Classes, m.Features
		m.bias = append([]float64(nil), m.ClassLogPrior...)
		switch m.Type {
		case Multinomial:
			m.lin = m.FeatureLogProb
		case Bernoulli:
			// log θ·x + log(1−θ)·(1−x) = (log θ − log(1−θ))·x + log(1−θ)
			m.lin = make([]float64, k*d)
			for c := 0; c < k; c++ {
				var neg float64
				for j, lp := range m.FeatureLogProb[c*d : (c+1)*d] {
					ln := log1mExp(lp)
					m.lin[c*d+j] = lp - ln
					neg += ln
				}
				m.bias[c] += neg
			}
		case Gaussian:
			m.ivar, m.zero = make([]float64, k*d), make([]float64, k)
			for c := 0; c < k; c++ {
				var s, q float64
				for j, v := range m.Var[c*d : (c+1)*d] {
					s += math.Log(2 * math.Pi * v)
					m.ivar[c*d+j] = 1 / v
					mu := m.Theta[c*d+j]
					q += mu * mu / v
				}
				m.bias[c] -= 0.5 * s
				m.zero[c] = m.bias[c] - 0.5*q
			}
		}
	})
}

// log1mExp is log(1 − eᵃ) for a ≤ 0, accurate near both ends (Mächler).
func log1mExp(a float64) float64 {
	if a > -math.Ln2 {
		return math.Log(-math.Expm1(a))
	}
	return math.Log1p(-math.Exp(a))
}

func (m *Model) check(what string, dst, x []float64, rows, per int) {
	if len(x) != rows*m.Features || len(dst) != rows*per {
		panic(fmt.Sprintf("bayes: Model.%s: %d values and %d outputs for %d rows of %d features", what, len(x), len(dst), rows, m.Features))
	}
}

// JointLogLikelihood writes the joint log-likelihood log p(x, c) of each
// row of the rows×Features row-major x and each class into dst,
// rows×Classes row-major.
func (m *Model) JointLogLikelihood(dst, x []float64, rows int) {
	m.check("JointLogLikelihood", dst, x, rows, m.Classes)
	m.prepare()
	k, d := m.Classes, m.Features
	if m.Type != Gaussian {
		if rows > 0 && d > 0 {
			blas64.Gemm(blas.NoTrans, blas.Trans, 1,
				blas64.General{Rows: rows, Cols: d, Stride: d, Data: x},
				blas64.General{Rows: k, Cols: d, Stride: d, Data: m.lin},
				0, blas64.General{Rows: rows, Cols: k, Stride: k, Data: dst})
		} else {
			clear(dst)
		}
		for i := 0; i < rows; i++ {
			for c, b := range m.bias {
				dst[i*k+c] += b
			}
		}
		return
	}
	for i := 0; i < rows; i++ {
		xi := x[i*d : (i+1)*d]
		for c := 0; c < k; c++ {
			mu, iv := m.Theta[c*d:(c+1)*d], m.ivar[c*d:(c+1)*d]
			var s float64
			for j, v := range xi {
				dv := v - mu[j]
				s += dv * dv * iv[j]
			}
			dst[i*k+c] = m.bias[c] - 0.5*s
		}
	}
}

// chunk is how many rows PredictBatch takes at a time.
const chunk = 64

// PredictBatch implements ml.Model: the class index of each row, the class
// of largest joint log-likelihood (the lowest index among ties).
func (m *Model) PredictBatch(dst, x []float64, rows int) {
	m.check("PredictBatch", dst, x, rows, 1)
	k, d := m.Classes, m.Features
	buf := make([]float64, min(rows, chunk)*k)
	for lo := 0; lo < rows; lo += chunk {
		hi := min(lo+chunk, rows)
		jb := buf[:(hi-lo)*k]
		m.JointLogLikelihood(jb, x[lo*d:hi*d], hi-lo)
		for i := lo; i < hi; i++ {
			dst[i] = float64(argmax(jb[(i-lo)*k : (i-lo+1)*k]))
		}
	}
}

// ProbaBatch implements ml.Classifier: the posterior probabilities,
// exp(jll_c − log Σ_c' exp jll_c'), the sum taken as a log-sum-exp.
func (m *Model) ProbaBatch(dst, x []float64, rows int) {
	m.check("ProbaBatch", dst, x, rows, m.Classes)
	m.JointLogLikelihood(dst, x, rows)
	k := m.Classes
	for i := 0; i < rows; i++ {
		normalize(dst[i*k : (i+1)*k])
	}
}

// Predict returns the class index of one dense row.
func (m *Model) Predict(x []float64) int {
	var dst [1]float64
	m.PredictBatch(dst[:], x, 1)
	return int(dst[0])
}

// Proba writes the class probabilities of one dense row into dst.
func (m *Model) Proba(dst, x []float64) { m.ProbaBatch(dst, x, 1) }

// sparseJLL writes the joint log-likelihoods of one CSR row (increasing
// indices below Features) into dst, in time proportional to its
// non-zeros: the Gaussian terms of the absent features are those of
// xⱼ = 0, summed once per class by prepare.
func (m *Model) sparseJLL(dst []float64, ind []int32, val []float64) {
	if len(dst) != m.Classes || len(ind) != len(val) {
		panic(fmt.Sprintf("bayes: Model: %d outputs for %d classes, %d indices for %d values", len(dst), m.Classes, len(ind), len(val)))
	}
	m.prepare()
	d := m.Features
	for c := range dst {
		if m.Type != Gaussian {
			w, s := m.lin[c*d:(c+1)*d], m.bias[c]
			for t, j := range ind {
				s += val[t] * w[j]
			}
			dst[c] = s
			continue
		}
		// The row's terms are those of the all-zero row (zero[c]) plus,
		// for each non-zero, (v−μ)² − μ² = v(v − 2μ) over the variance.
		mu, iv := m.Theta[c*d:(c+1)*d], m.ivar[c*d:(c+1)*d]
		var q float64
		for t, j := range ind {
			v := val[t]
			q += v * (v - 2*mu[j]) * iv[j]
		}
		dst[c] = m.zero[c] - 0.5*q
	}
}

// PredictSparse returns the class index of one CSR row: its non-zeros'
// indices (increasing, below Features) and values.
func (m *Model) PredictSparse(ind []int32, val []float64) int {
	jll := make([]float64, m.Classes)
	m.sparseJLL(jll, ind, val)
	return argmax(jll)
}

// ProbaSparse writes the class probabilities of one CSR row into dst.
func (m *Model) ProbaSparse(dst []float64, ind []int32, val []float64) {
	m.sparseJLL(dst, ind, val)
	normalize(dst)
}

func argmax(v []float64) int {
	best := 0
	for c := 1; c < len(v); c++ {
		if v[c] > v[best] {
			best = c
		}
	}
	return best
}

// normalize turns joint log-likelihoods into probabilities in place.
func normalize(v []float64) {
	mx := math.Inf(-1)
	for _, x := range v {
		mx = max(mx, x)
	}
	var s float64
	for _, x := range v {
		s += math.Exp(x - mx)
	}
	lse := mx + math.Log(s)
	for c, x := range v {
		v[c] = math.Exp(x - lse)
	}
}
