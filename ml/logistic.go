package ml

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/floats"

	"github.com/flintml/flint/cluster"
)

// LogisticRegression fits a binary (binomial) or multinomial (softmax)
// logistic model by minimising, over a dataset's rows with weights wᵢ,
//
//	(1/Σwᵢ) Σᵢ wᵢ·ℓᵢ + λ(α‖W‖₁ + (1−α)/2 ‖W‖²)
//
// with ℓᵢ the log-loss of row i: log(1+e^{mᵢ}) − yᵢmᵢ for binomial labels
// yᵢ ∈ {0, 1}, log Σₖ e^{mᵢₖ} − mᵢ_{yᵢ} for multinomial labels
// yᵢ ∈ {0, …, K−1}. λ = RegParam and α = ElasticNetParam as in MLlib;
// intercepts are not penalised. scikit-learn's LogisticRegression(C=c)
// minimises the same objective times c·n, so RegParam = 1/(c·n) reproduces
// it (with Standardization false, the default here).
type LogisticRegression struct {
	// RegParam is λ; 0 (the default) fits without a penalty.
	RegParam float64
	// ElasticNetParam is α in [0, 1]: 0 is L2, 1 is L1.
	ElasticNetParam float64
	// NoIntercept fits without intercepts (MLlib's fitIntercept=false).
	NoIntercept bool
	// Standardization penalises the coefficients of standardised features
	// (MLlib's default, standardization=true); the zero value penalises
	// them as they apply to the features given, as scikit-learn does.
	Standardization bool
	// Family is "auto" (the default: binomial for two classes, multinomial
	// for more), "binomial" or "multinomial".
	Family string
	// Classes is the number of classes; 0 takes the largest label plus one.
	Classes int
	// Threshold is the binomial model's decision threshold on P(y=1); 0
	// means 0.5.
	Threshold float64
	// Optimizer configures the optimiser (L-BFGS, or OWL-QN with an L1
	// term, by default).
	Optimizer Settings
	// WarmStart, when set, starts the fit from an earlier model's
	// coefficients and intercepts (LogisticModel.Coef and Intercept)
	// instead of zero coefficients.
	WarmStart *WarmStart
}

// maxClasses bounds the label values a dataset may hold when Classes is
// not given, so that a stray label such as 1e9 is an error rather than a
// billion-class model.
const maxClasses = 1 << 16

// Validate checks the hyper-parameters.
func (lr LogisticRegression) Validate() error {
	if err := lr.spec(2).validate(); err != nil {
		return err
	}
	switch lr.Family {
	case "", "auto", "binomial", "multinomial":
	default:
		return fmt.Errorf("ml: logistic: Family %q: want auto, binomial or multinomial", lr.Family)
	}
	if lr.Classes < 0 || lr.Classes == 1 || lr.Classes > maxClasses {
		return fmt.Errorf("ml: logistic: Classes must be 0 (from the labels) or in [2, %d], got %d", maxClasses, lr.Classes)
	}
	if lr.Family == "binomial" && lr.Classes > 2 {
		return fmt.Errorf("ml: logistic: Family binomial needs 2 classes, got Classes %d", lr.Classes)
	}
	if lr.Threshold < 0 || lr.Threshold >= 1 || math.IsNaN(lr.Threshold) {
		return fmt.Errorf("ml: logistic: Threshold must be in (0, 1) (0 means 0.5), got %v", lr.Threshold)
	}
	return nil
}

func (lr LogisticRegression) spec(classes int) glmSpec {
	g := glmSpec{what: "logistic", kind: logisticLoss, k: 1, classes: classes, regParam: lr.RegParam,
		elasticNet: lr.ElasticNetParam, noIntercept: lr.NoIntercept, standardization: lr.Standardization, opt: lr.Optimizer, start: lr.WarmStart}
	if lr.Family == "multinomial" || (lr.Family != "binomial" && classes > 2) {
		g.kind, g.k = softmaxLoss, classes
	}
	return g
}

// Fit fits the model to the dataset's rows (labels as class indices,
// weights as sample weights).
func (lr LogisticRegression) Fit(ctx context.Context, x cluster.Executor, ds *cluster.Dataset) (*LogisticModel, error) {
	if err := lr.Validate(); err != nil {
		return nil, err
	}
	limit := lr.Classes
	if limit == 0 {
		limit = maxClasses
		if lr.Family == "binomial" {
			limit = 2
		}
	}
	sum, err := summarize(ctx, x, ds, summaryArg{Classes: limit, What: "logistic"})
	if err != nil {
		return nil, err
	}
	classes := lr.Classes
	if classes == 0 {
		classes = max(len(sum.Class), 2) // the largest label plus one
	}
	counts := make([]float64, classes)
	copy(counts, sum.Class)
	g := lr.spec(classes)
	threshold := lr.Threshold
	if threshold == 0 {
		threshold = 0.5
	}
	m := &LogisticModel{Classes: classes, Multinomial: g.kind == softmaxLoss, Threshold: threshold}

	// Start the intercepts at their optimum for zero coefficients: the log
	// odds (binomial) or log class weights, centred (multinomial).
	var init func(b []float64)
	if g.kind == logisticLoss {
		p0, p1 := counts[0], counts[1]
		if !lr.NoIntercept && (p0 == 0 || p1 == 0) {
			// One class only: as MLlib, zero coefficients and an infinite
			// intercept; no optimisation can do better.
			icpt := math.Inf(1)
			if p1 == 0 {
				icpt = math.Inf(-1)
			}
			m.Coef, m.Intercept = make([]float64, ds.Cols()), []float64{icpt}
			m.Summary = &Summary{Solver: "none", Status: Converged, Stop: "every label is the same class: nothing to fit"}
			return m, nil
		}
		init = func(b []float64) {
			if p0 > 0 && p1 > 0 {
				b[0] = math.Log(p1 / p0)
			}
		}
	} else {
		init = func(b []float64) {
			var mean float64
			var n int
			for c, w := range counts {
				if w > 0 {
					b[c] = math.Log(w)
					mean += b[c]
					n++
				}
			}
			mean /= float64(n)
			for c, w := range counts {
				if w > 0 {
					b[c] -= mean
				} else {
					b[c] = -mean - 20 // an absent class: far below the rest
				}
			}
		}
	}
	fit, err := fitGLM(ctx, x, ds, g, sum, init)
	if err != nil {
		return nil, err
	}
	if m.Multinomial && !lr.NoIntercept {
		// Softmax is unchanged by a shift of all intercepts; centre them
		// as MLlib does.
		mean := floats.Sum(fit.icpt) / float64(len(fit.icpt))
		for c := range fit.icpt {
			fit.icpt[c] -= mean
		}
	}
	m.Coef, m.Intercept = fit.coef, fit.icpt
	m.Summary = newSummary(fit.res, lr.Optimizer, lr.RegParam*lr.ElasticNetParam > 0)
	return m, nil
}

// FitModel implements Estimator.
func (lr LogisticRegression) FitModel(ctx context.Context, x cluster.Executor, ds *cluster.Dataset) (Model, error) {
	return lr.Fit(ctx, x, ds)
}

// LogisticModel is a fitted logistic regression. A binomial model has one
// row of coefficients: P(y=1|x) = σ(x·Coef + Intercept[0]). A multinomial
// model has Classes rows: P(y=k|x) ∝ exp(x·Coefₖ + Interceptₖ).
type LogisticModel struct {
	Classes     int
	Multinomial bool
	Coef        []float64 // rows×features, row-major; rows = 1 (binomial) or Classes
	Intercept   []float64 // one per row of Coef
	Threshold   float64   // binomial: predict 1 when P(y=1) > Threshold
	// Summary describes the fit; it is nil for a decoded model.
	Summary *Summary
}

func init() { RegisterModel("logistic", func() Model { return new(LogisticModel) }) }

// Algorithm implements Model.
func (*LogisticModel) Algorithm() string { return "logistic" }

// NumClasses implements Classifier.
func (m *LogisticModel) NumClasses() int { return m.Classes }

// NumFeatures implements Model.
func (m *LogisticModel) NumFeatures() int {
	if len(m.Intercept) == 0 {
		return 0
	}
	return len(m.Coef) / len(m.Intercept)
}

func (m *LogisticModel) check(what string, dst, x []float64, rows, per int) {
	d := m.NumFeatures()
	if len(x) != rows*d || len(dst) != rows*per {
		panic(fmt.Sprintf("ml: LogisticModel.%s: %d values and %d outputs for %d rows of %d features", what, len(x), len(dst), rows, d))
	}
}

// margins writes the rows×len(Intercept) margins of x into dst.
func (m *LogisticModel) margins(dst, x []float64, rows int) {
	k, d := len(m.Intercept), m.NumFeatures()
	for i := 0; i < rows; i++ {
		copy(dst[i*k:(i+1)*k], m.Intercept)
	}
	if d == 0 || rows == 0 {
		return
	}
	xb := blas64.General{Rows: rows, Cols: d, Stride: d, Data: x}
	for c := 0; c < k; c++ {
		blas64.Gemv(blas.NoTrans, 1, xb, blas64.Vector{N: d, Inc: 1, Data: m.Coef[c*d : (c+1)*d]},
			1, blas64.Vector{N: rows, Inc: k, Data: dst[c:]})
	}
}

// ProbaBatch implements Classifier.
func (m *LogisticModel) ProbaBatch(dst, x []float64, rows int) {
	m.check("ProbaBatch", dst, x, rows, m.Classes)
	if !m.Multinomial {
		mg := dst[:rows] // margins in the first rows slots, then spread out backwards
		m.margins(mg, x, rows)
		for i := rows - 1; i >= 0; i-- {
			p := sigmoid(mg[i])
			dst[2*i], dst[2*i+1] = 1-p, p
		}
		return
	}
	m.margins(dst, x, rows)
	k := m.Classes
	for i := 0; i < rows; i++ {
		softmaxInPlace(dst[i*k : (i+1)*k])
	}
}

// Proba writes the class probabilities of one row into dst.
func (m *LogisticModel) Proba(dst, x []float64) { m.ProbaBatch(dst, x, 1) }

// Predict returns the class index of one row.
func (m *LogisticModel) Predict(x []float64) float64 {
	var dst [1]float64
	m.PredictBatch(dst[:], x, 1)
	return dst[0]
}

// PredictBatch implements Model: the class index of each row.
func (m *LogisticModel) PredictBatch(dst, x []float64, rows int) {
	m.check("PredictBatch", dst, x, rows, 1)
	if !m.Multinomial {
		m.margins(dst, x, rows)
		for i, mg := range dst {
			dst[i] = m.binaryClass(sigmoid(mg))
		}
		return
	}
	k := m.Classes
	const chunk = 64
	buf := make([]float64, min(rows, chunk)*k)
	d := m.NumFeatures()
	for lo := 0; lo < rows; lo += chunk {
		hi := min(lo+chunk, rows)
		mb := buf[:(hi-lo)*k]
		m.margins(mb, x[lo*d:hi*d], hi-lo)
		for i := lo; i < hi; i++ {
			dst[i] = float64(floats.MaxIdx(mb[(i-lo)*k : (i-lo+1)*k]))
		}
	}
}

func (m *LogisticModel) binaryClass(p float64) float64 {
	if p > m.Threshold {
		return 1
	}
	return 0
}

// predictSparse implements sparseRower: the class of one CSR row in pred[0]
// and its probabilities in proba.
func (m *LogisticModel) predictSparse(pred, proba []float64, ind []int32, val []float64) {
	d := m.NumFeatures()
	for c := range m.Intercept {
		w := m.Coef[c*d : (c+1)*d]
		s := m.Intercept[c]
		for t, j := range ind {
			s += val[t] * w[j]
		}
		proba[c] = s
	}
	if !m.Multinomial {
		p := sigmoid(proba[0])
		proba[0], proba[1] = 1-p, p
		pred[0] = m.binaryClass(p)
		return
	}
	pred[0] = float64(floats.MaxIdx(proba))
	softmaxInPlace(proba)
}

func sigmoid(m float64) float64 {
	if m >= 0 {
		return 1 / (1 + math.Exp(-m))
	}
	e := math.Exp(m)
	return e / (1 + e)
}

func softmaxInPlace(v []float64) {
	mx := floats.Max(v)
	var s float64
	for c := range v {
		v[c] = math.Exp(v[c] - mx)
		s += v[c]
	}
	floats.Scale(1/s, v)
}

const logisticPayloadVersion = 1

// MarshalBinary encodes the model (see AppendModel for the envelope). The
// payload is uint32 classes, uint32 features, uint8 multinomial,
// float64 threshold, then the coefficients and the intercepts as float64.
func (m *LogisticModel) MarshalBinary() ([]byte, error) {
	rows := len(m.Intercept)
	if rows == 0 || len(m.Coef)%rows != 0 {
		return nil, fmt.Errorf("ml: LogisticModel: %d coefficients do not make %d rows", len(m.Coef), rows)
	}
	p := make([]byte, 0, 17+8*(len(m.Coef)+rows))
	p = binary.LittleEndian.AppendUint32(p, uint32(m.Classes))
	p = binary.LittleEndian.AppendUint32(p, uint32(len(m.Coef)/rows))
	var multi byte
	if m.Multinomial {
		multi = 1
	}
	p = append(p, multi)
	p = appendF64s(p, []float64{m.Threshold})
	p = appendF64s(p, m.Coef)
	p = appendF64s(p, m.Intercept)
	return AppendModel(nil, "logistic", logisticPayloadVersion, p), nil
}

// UnmarshalBinary decodes what MarshalBinary encoded.
func (m *LogisticModel) UnmarshalBinary(data []byte) error {
	r, err := openPayload(data, "logistic", logisticPayloadVersion)
	if err != nil {
		return err
	}
	classes := int(r.u32())
	d := int(r.u32())
	multi := r.u8()
	threshold := r.f64()
	if r.err == nil && (classes < 2 || classes > maxClasses || multi > 1 || (multi == 0 && classes != 2)) {
		return fmt.Errorf("ml: encoded logistic model has %d classes (multinomial flag %d)", classes, multi)
	}
	rows := 1
	if multi == 1 {
		rows = classes
	}
	coef := r.f64s(rows * d)
	icpt := r.f64s(rows)
	if err := r.done(); err != nil {
		return err
	}
	*m = LogisticModel{Classes: classes, Multinomial: multi == 1, Coef: coef, Intercept: icpt, Threshold: threshold}
	return nil
}
