package ml

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"

	"github.com/flintml/flint/cluster"
)

// LinearSVC fits a linear support vector machine, MLlib's LinearSVC: for
// binary labels yᵢ ∈ {0, 1} and weights wᵢ it minimises
//
//	(1/Σwᵢ) Σᵢ wᵢ·max(0, 1 − (2yᵢ−1)(xᵢ·β + b)) + λ/2 ‖β‖²
//
// with λ = RegParam and the intercept b not penalised. A row is predicted
// 1 when its margin x·β + b exceeds Threshold.
//
// scikit-learn's LinearSVC(loss='hinge', C=c) minimises c·n times the same
// objective, except that liblinear also penalises the intercept (by
// ½(b/intercept_scaling)²): RegParam = 1/(c·n), with Standardization false,
// reproduces it up to that term.
//
// The hinge loss has a kink at margin 1, where L-BFGS, which MLlib runs on
// it, stalls short of the minimum (on breast_cancer 1% above it). Fit
// therefore minimises a hinge whose kink is smoothed into a quadratic piece
// of width μ, from μ = 1 down to 1e-6 by factors of 10, each stage starting
// where the last stopped; the minimum of each stage is within μ/2 of the
// hinge's. Summary.Loss is the exact objective at the result.
type LinearSVC struct {
	// RegParam is λ, the strength of the L2 penalty; 0 (the default) fits
	// without one.
	RegParam float64
	// NoIntercept fits through the origin (MLlib's fitIntercept=false).
	NoIntercept bool
	// Standardization penalises the coefficients of standardised features
	// (MLlib's default, standardization=true); the zero value penalises
	// them as they apply to the features given, as scikit-learn does.
	// Either way the optimiser works on standardised features and the
	// model returned applies to the original ones.
	Standardization bool
	// Threshold is the decision threshold on the margin: a row whose
	// margin is above it is class 1. 0 (the default) is MLlib's.
	Threshold float64
	// Optimizer configures the optimiser: L-BFGS by default, GD or SGD.
	// L-BFGS and GD run in stages on a hinge smoothed less and less (see
	// Fit): MaxIter bounds the stages together, and 0 means 1000 here; Tol
	// and GradTol end each stage; the Progress callback sees the stages as
	// one run. Checkpoints (CheckpointEvery, Resume) need SGD, which runs
	// once on the exact hinge.
	Optimizer Settings
	// WarmStart, when set, starts the fit (its first smoothing stage)
	// from an earlier model's coefficients and intercept instead of zero.
	WarmStart *WarmStart
}

func (s LinearSVC) spec() glmSpec {
	return glmSpec{what: "linear SVC", kind: hingeLoss, k: 1, classes: 2, regParam: s.RegParam,
		noIntercept: s.NoIntercept, standardization: s.Standardization, opt: s.Optimizer, start: s.WarmStart}
}

// Validate checks the hyper-parameters.
func (s LinearSVC) Validate() error {
	if err := s.spec().validate(); err != nil {
		return err
	}
	if math.IsNaN(s.Threshold) || math.IsInf(s.Threshold, 0) {
		return fmt.Errorf("ml: linear SVC: Threshold must be a finite number, got %v", s.Threshold)
	}
	if o := s.Optimizer; o.Method != SGD && (o.CheckpointEvery > 0 || o.Resume != nil) {
		return fmt.Errorf("ml: linear SVC: Optimizer.CheckpointEvery and Resume need Method SGD, got %v: L-BFGS and GD run several smoothing stages, which a State cannot resume", o.Method)
	}
	return nil
}

// Fit fits the model to the dataset's rows: labels 0 or 1 (anything else
// is an error naming the label, its row and partition), weights as sample
// weights. With one class only (and an intercept) the minimum is known:
// zero coefficients and the intercept ±1, every row on its margin.
func (s LinearSVC) Fit(ctx context.Context, x cluster.Executor, ds *cluster.Dataset) (*SVMModel, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	g := s.spec()
	sum, err := summarize(ctx, x, ds, summaryArg{Classes: 2, What: g.what})
	if err != nil {
		return nil, err
	}
	m := &SVMModel{Threshold: s.Threshold}
	var n0, n1 float64
	if len(sum.Class) > 0 {
		n0 = sum.Class[0]
	}
	if len(sum.Class) > 1 {
		n1 = sum.Class[1]
	}
	if !s.NoIntercept && (n0 == 0 || n1 == 0) {
		// One class only: zero coefficients and the intercept ±1 put every
		// row on its margin, at loss 0; the objective's minimum (0) with
		// the smallest penalty and intercept.
		m.Coef, m.Intercept = make([]float64, ds.Cols()), 1
		if n1 == 0 {
			m.Intercept = -1
		}
		m.Summary = &Summary{Solver: "none", Status: Converged}
		return m, nil
	}
	o, _ := newGLMObjective(x, ds, g, sum)
	v0, err := o.start(g, nil)
	if err != nil {
		return nil, err
	}
	res, err := minimizeHinge(ctx, o, v0, g.opt)
	if err != nil {
		return nil, err
	}
	fit := o.fit(res)
	m.Coef, m.Intercept = fit.coef, fit.icpt[0]
	m.Summary = newSummary(res, s.Optimizer, false)
	return m, nil
}

// The smoothing schedule of minimizeHinge: widths svmSmoothStart,
// svmSmoothStart·svmSmoothFactor, … down to svmSmoothEnd, in margin units.
const (
	svmSmoothStart  = 1.0
	svmSmoothFactor = 0.1
	svmSmoothEnd    = 1e-6
	svmMaxIter      = 1000 // Settings.MaxIter 0, for the stages together
)

// minimizeHinge minimises the hinge objective o from v0 (zero, or a warm
// start). SGD's
// subgradient steps need nothing more: it runs once on the exact hinge.
// L-BFGS and GD, which assume a continuous gradient, stall at the kink (on
// breast_cancer plain L-BFGS stops 1% above the minimum, its line search
// failing), so they run on the smoothed hinge (see hingeResiduals) with
// widths μ from svmSmoothStart down to svmSmoothEnd, each stage starting
// where the one before stopped: each stage's minimum is within μ/2 of the
// hinge's, and close to the next stage's. A last pass evaluates the exact
// objective at the result, which Result.F holds.
//
// The stages share s.MaxIter (0: svmMaxIter), and the Progress callback
// sees them as one run: iterations and passes counted from the first
// stage's start, each stage's starting point (its predecessor's end) not
// reported again; Loss is the objective of the stage's smoothing.
func minimizeHinge(ctx context.Context, o *glmObjective, v0 []float64, s Settings) (*Result, error) {
	if s.Method == SGD {
		o.arg.Smooth = 0
		return Minimize(ctx, o, v0, nil, s)
	}
	maxIter := s.MaxIter
	if maxIter == 0 {
		maxIter = svmMaxIter
	}
	total := &Result{X: v0, Status: IterationLimit}
	user := s.Progress
	stage := s
	lastStage := false
	stage.Progress = func(p Progress) bool {
		if p.Iter == 0 && total.Evaluations > 0 {
			return false // the end of the stage before
		}
		p.Iter += total.Iterations
		p.Evals += total.Evaluations
		p.Elapsed += total.Elapsed
		p.Stop = svmStop(p.Stop, lastStage, p.Iter >= maxIter, maxIter)
		return user != nil && user(p)
	}
	for mu := svmSmoothStart; ; mu *= svmSmoothFactor {
		o.arg.Smooth = mu
		lastStage = mu*svmSmoothFactor < svmSmoothEnd*(1-1e-9)
		stage.MaxIter = maxIter - total.Iterations
		res, err := Minimize(ctx, o, total.X, nil, stage)
		if res != nil {
			addStage(total, res)
			total.Stop = svmStop(res.Stop, lastStage, total.Iterations >= maxIter, maxIter)
		}
		if err != nil {
			return total, err
		}
		last := mu*svmSmoothFactor < svmSmoothEnd*(1-1e-9)
		if res.Status == Stopped {
			total.Stop = res.Stop
		}
		if last || res.Status == Stopped || total.Iterations >= maxIter {
			break
		}
	}
	// The exact objective at the result: one more pass.
	o.arg.Smooth = 0
	f, err := o.Eval(ctx, make([]float64, len(total.X)), total.X)
	total.Evaluations++
	if err != nil {
		return total, err
	}
	total.F = f
	return total, nil
}

// svmStop is the stop reason of the staged run for a stage's: none while
// another stage follows, the budget's when the stages used it up, the last
// stage's otherwise.
func svmStop(stop string, last, budget bool, maxIter int) string {
	switch {
	case stop == "":
		return ""
	case budget:
		return fmt.Sprintf("max_iter %d reached", maxIter)
	case !last:
		return ""
	}
	return stop + " (the last stage, hinge smoothed over " + strconv.FormatFloat(svmSmoothEnd, 'g', -1, 64) + ")"
}

// addStage adds the result of a stage to the run's, r.
func addStage(r, stage *Result) {
	h := stage.History
	if r.Evaluations > 0 && len(h) > 0 {
		h = h[1:] // the stage's starting point, the end of the one before
	}
	r.History = append(r.History, h...)
	r.X, r.F, r.GradNorm, r.Status = stage.X, stage.F, stage.GradNorm, stage.Status
	r.Iterations += stage.Iterations
	r.Evaluations += stage.Evaluations
	r.Elapsed += stage.Elapsed
}

// FitModel implements Estimator.
func (s LinearSVC) FitModel(ctx context.Context, x cluster.Executor, ds *cluster.Dataset) (Model, error) {
	return s.Fit(ctx, x, ds)
}

// SVMModel is a fitted linear SVM: the margin of a row is x·Coef +
// Intercept, and its class 1 when the margin is above Threshold, else 0.
//
// It is a ClassPredictor but not a Classifier: an SVM has no class
// probabilities, and it does not pretend to. Evaluate scores it with the
// confusion-matrix metrics and, from its margins, the AUC; its log-loss is
// NaN.
type SVMModel struct {
	Coef      []float64
	Intercept float64
	Threshold float64
	// Summary describes the fit; it is nil for a decoded model.
	Summary *Summary
}

func init() { RegisterModel("linear_svc", func() Model { return new(SVMModel) }) }

// Algorithm implements Model.
func (*SVMModel) Algorithm() string { return "linear_svc" }

// NumFeatures implements Model.
func (m *SVMModel) NumFeatures() int { return len(m.Coef) }

// NumClasses implements ClassPredictor: 2.
func (*SVMModel) NumClasses() int { return 2 }

func (m *SVMModel) check(what string, dst, x []float64, rows int) {
	if len(x) != rows*len(m.Coef) || len(dst) != rows {
		panic(fmt.Sprintf("ml: SVMModel.%s: %d values and %d outputs for %d rows of %d features", what, len(x), len(dst), rows, len(m.Coef)))
	}
}

// Margins writes the margin x·Coef + Intercept of each row of the
// rows×NumFeatures row-major x into dst (MLlib's rawPrediction is
// [−margin, margin]).
func (m *SVMModel) Margins(dst, x []float64, rows int) {
	m.check("Margins", dst, x, rows)
	for i := range dst {
		dst[i] = m.Intercept
	}
	d := len(m.Coef)
	if d == 0 || rows == 0 {
		return
	}
	blas64.Gemv(blas.NoTrans, 1, blas64.General{Rows: rows, Cols: d, Stride: d, Data: x},
		blas64.Vector{N: d, Inc: 1, Data: m.Coef}, 1, blas64.Vector{N: rows, Inc: 1, Data: dst})
}

// Margin returns the margin of one row.
func (m *SVMModel) Margin(x []float64) float64 {
	var dst [1]float64
	m.Margins(dst[:], x, 1)
	return dst[0]
}

// PredictBatch implements Model: the class index, 0 or 1, of each row.
func (m *SVMModel) PredictBatch(dst, x []float64, rows int) {
	m.check("PredictBatch", dst, x, rows)
	m.Margins(dst, x, rows)
	for i, mg := range dst {
		dst[i] = m.class(mg)
	}
}

// Predict returns the class index of one row.
func (m *SVMModel) Predict(x []float64) float64 { return m.class(m.Margin(x)) }

func (m *SVMModel) class(margin float64) float64 {
	if margin > m.Threshold {
		return 1
	}
	return 0
}

// predictSparse implements sparseRower: the class of one CSR row in
// pred[0] and its margin in score[0].
func (m *SVMModel) predictSparse(pred, score []float64, ind []int32, val []float64) {
	s := m.Intercept
	for t, j := range ind {
		s += val[t] * m.Coef[j]
	}
	pred[0], score[0] = m.class(s), s
}

const svmPayloadVersion = 1

// MarshalBinary encodes the model (see AppendModel for the envelope). The
// payload is uint32 features, float64 threshold, float64 intercept, then
// the coefficients as float64.
func (m *SVMModel) MarshalBinary() ([]byte, error) {
	p := make([]byte, 0, 20+8*len(m.Coef))
	p = binary.LittleEndian.AppendUint32(p, uint32(len(m.Coef)))
	p = appendF64s(p, []float64{m.Threshold, m.Intercept})
	p = appendF64s(p, m.Coef)
	return AppendModel(nil, "linear_svc", svmPayloadVersion, p), nil
}

// UnmarshalBinary decodes what MarshalBinary encoded.
func (m *SVMModel) UnmarshalBinary(data []byte) error {
	r, err := openPayload(data, "linear_svc", svmPayloadVersion)
	if err != nil {
		return err
	}
	d := int(r.u32())
	threshold := r.f64()
	icpt := r.f64()
	coef := r.f64s(d)
	if err := r.done(); err != nil {
		return err
	}
	*m = SVMModel{Coef: coef, Intercept: icpt, Threshold: threshold}
	return nil
}
