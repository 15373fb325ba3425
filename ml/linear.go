package ml

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"

	"github.com/flintml/flint/cluster"
)

// LinearRegression fits y ≈ x·β + b by minimising, over a dataset's rows
// with weights wᵢ,
//
//	(1/2Σwᵢ) Σᵢ wᵢ(yᵢ − xᵢ·β − b)² + λ(α‖β‖₁ + (1−α)/2 ‖β‖²)
//
// λ = RegParam and α = ElasticNetParam as in MLlib; the intercept is not
// penalised. The zero value is ordinary least squares with an intercept.
type LinearRegression struct {
	// RegParam is λ, the strength of the penalty; 0 (the default) fits
	// without one.
	RegParam float64
	// ElasticNetParam is α in [0, 1]: 0 is ridge (L2), 1 is lasso (L1).
	ElasticNetParam float64
	// NoIntercept fits through the origin (MLlib's fitIntercept=false).
	NoIntercept bool
	// Standardization applies the penalty to the coefficients of the
	// standardised features, as MLlib's standardization=true (its default)
	// and glmnet's standardize=TRUE do. The zero value penalises the
	// coefficients of the features as given, as scikit-learn does. Either
	// way the optimiser works on standardised features and the model
	// returned applies to the original ones.
	Standardization bool
	// Solver is "auto" (the default): the normal equations when there are
	// at most 4096 features, no L1 term and Optimizer.Method is LBFGS, and
	// the iterative solver otherwise; "normal": the normal equations,
	// solved by Cholesky (or an SVD when they are singular); "iterative":
	// Optimizer's method (MLlib's "l-bfgs").
	Solver string
	// Optimizer configures the iterative solver.
	Optimizer Settings
	// WarmStart, when set, starts the iterative solver from an earlier
	// model's coefficients and intercept instead of zero; the normal
	// equations, solved directly, do not use it.
	WarmStart *WarmStart
}

// maxNormalFeatures is where "auto" stops choosing the normal equations,
// as in MLlib.
const maxNormalFeatures = 4096

func (lr LinearRegression) spec() glmSpec {
	return glmSpec{what: "linear", kind: squaredLoss, k: 1, regParam: lr.RegParam, elasticNet: lr.ElasticNetParam,
		noIntercept: lr.NoIntercept, standardization: lr.Standardization, opt: lr.Optimizer, start: lr.WarmStart}
}

// Validate checks the hyper-parameters.
func (lr LinearRegression) Validate() error {
	if err := lr.spec().validate(); err != nil {
		return err
	}
	switch lr.Solver {
	case "", "auto", "iterative":
	case "normal":
		if lr.RegParam > 0 && lr.ElasticNetParam > 0 {
			return fmt.Errorf("ml: linear: the normal solver cannot fit an L1 penalty (ElasticNetParam %v); use Solver \"iterative\"", lr.ElasticNetParam)
		}
	default:
		return fmt.Errorf("ml: linear: Solver %q: want auto, normal or iterative", lr.Solver)
	}
	return nil
}

// Fit fits the model to the dataset's rows (labels as targets, weights as
// sample weights).
func (lr LinearRegression) Fit(ctx context.Context, x cluster.Executor, ds *cluster.Dataset) (*LinearModel, error) {
	if err := lr.Validate(); err != nil {
		return nil, err
	}
	solver := lr.Solver
	if solver == "" || solver == "auto" {
		solver = "iterative"
		if ds.Cols() <= maxNormalFeatures && (lr.RegParam == 0 || lr.ElasticNetParam == 0) && lr.Optimizer.Method == LBFGS {
			solver = "normal"
		}
	}
	if solver == "normal" {
		return lr.fitNormal(ctx, x, ds)
	}
	sum, err := summarize(ctx, x, ds, summaryArg{What: "linear"})
	if err != nil {
		return nil, err
	}
	fit, err := fitGLM(ctx, x, ds, lr.spec(), sum, func(b []float64) { b[0] = sum.YMean })
	if err != nil {
		return nil, err
	}
	return &LinearModel{Coef: fit.coef, Intercept: fit.icpt[0], Summary: newSummary(fit.res, lr.Optimizer, lr.RegParam*lr.ElasticNetParam > 0)}, nil
}

// FitModel implements Estimator.
func (lr LinearRegression) FitModel(ctx context.Context, x cluster.Executor, ds *cluster.Dataset) (Model, error) {
	return lr.Fit(ctx, x, ds)
}

// Summary describes the fit that produced a model. It is not part of the
// model's encoding.
type Summary struct {
	Solver      string // "normal", "lbfgs", "owlqn", "gd" or "sgd"
	Iterations  int
	Evaluations int     // passes over the data
	Loss        float64 // final objective, penalty included
	History     []float64
	Status      Status // 0 for the normal equations
	// Stop says why the optimiser stopped (Result.Stop); for the normal
	// equations, "solved the normal equations".
	Stop    string
	Elapsed time.Duration
}

func newSummary(r *Result, s Settings, l1 bool) *Summary {
	solver := s.Method.String()
	if s.Method == LBFGS && l1 {
		solver = "owlqn"
	}
	return &Summary{Solver: solver, Iterations: r.Iterations, Evaluations: r.Evaluations, Loss: r.F,
		History: r.History, Status: r.Status, Stop: r.Stop, Elapsed: r.Elapsed}
}

// gramPartial holds the weighted means and centred cross-products of the
// features and the label, combined pairwise like summaryPartial.
type gramPartial struct {
	Weight float64
	W2     float64   // Σ wᵢ²
	Mean   []float64 // d
	YMean  float64
	Cxx    []float64 // d×d, Σ wᵢ(xᵢ−μ)(xᵢ−μ)ᵀ; upper triangle filled
	Cxy    []float64 // d, Σ wᵢ(xᵢ−μ)(yᵢ−ȳ)
	Cyy    float64
}

type gramArg struct{ D int }

var gramTask = cluster.Register(&cluster.Task[gramArg, gramPartial]{
	Name: "ml.linear.gram",
	New: func(a *gramArg) *gramPartial {
		return &gramPartial{Mean: make([]float64, a.D), Cxx: make([]float64, a.D*a.D), Cxy: make([]float64, a.D)}
	},
	Map:     gramMap,
	Combine: combineGram,
})

func gramMap(ctx context.Context, p cluster.Part, a *gramArg, acc *gramPartial) error {
	b := p.Block
	d := a.D
	if b.Cols != d {
		return fmt.Errorf("ml: linear: partition %d has %d features, want %d", p.Index, b.Cols, d)
	}
	var wsum, w2, ysum float64
	for i := 0; i < b.Rows; i++ {
		w := b.Weight(i)
		if !(w >= 0) || math.IsInf(w, 0) {
			return fmt.Errorf("ml: linear: weight %v at row %d of partition %d is not a finite number >= 0", w, i, p.Index)
		}
		w2 += w * w
		if y := b.Y[i]; math.IsNaN(y) || math.IsInf(y, 0) {
			return fmt.Errorf("ml: linear: label %v at row %d of partition %d is not a finite number", y, i, p.Index)
		}
		wsum += w
		ysum += w * b.Y[i]
	}
	if wsum == 0 {
		return nil
	}
	acc.Weight, acc.W2 = wsum, w2
	acc.YMean = ysum / wsum
	// Means.
	var row []float64 // a float32 row, widened
	if b.Float32() {
		row = make([]float64, d)
	}
	for i := 0; i < b.Rows; i++ {
		w := b.Weight(i)
		if b.Sparse() {
			ind, val := b.SparseRow(i)
			for t, j := range ind {
				acc.Mean[j] += w * val[t]
			}
		} else {
			floats.AddScaled(acc.Mean, w, b.DenseRow(i, row))
		}
	}
	floats.Scale(1/wsum, acc.Mean)
	// Centred cross-products: blocks of √wᵢ(xᵢ−μ) through a rank-k update.
	const br = 64
	z := make([]float64, br*d)
	zy := make([]float64, br)
	for lo := 0; lo < b.Rows; lo += br {
		if err := ctx.Err(); err != nil {
			return err
		}
		hi := min(lo+br, b.Rows)
		n := hi - lo
		for i := 0; i < n; i++ {
			row := z[i*d : (i+1)*d]
			if b.Sparse() {
				clear(row)
				ind, val := b.SparseRow(lo + i)
				for t, j := range ind {
					row[j] = val[t]
				}
			} else {
				copy(row, b.DenseRow(lo+i, row))
			}
			floats.Sub(row, acc.Mean)
			sw := math.Sqrt(b.Weight(lo + i))
			floats.Scale(sw, row)
			zy[i] = sw * (b.Y[lo+i] - acc.YMean)
			acc.Cyy += zy[i] * zy[i]
		}
		zb := blas64.General{Rows: n, Cols: d, Stride: d, Data: z[:n*d]}
		blas64.Syrk(blas.Trans, 1, zb, 1, blas64.Symmetric{Uplo: blas.Upper, N: d, Stride: d, Data: acc.Cxx})
		blas64.Gemv(blas.Trans, 1, zb, blas64.Vector{N: n, Inc: 1, Data: zy[:n]}, 1, blas64.Vector{N: d, Inc: 1, Data: acc.Cxy})
	}
	return nil
}

func combineGram(dst, src *gramPartial) {
	wa, wb := dst.Weight, src.Weight
	dst.W2 += src.W2
	if wb == 0 {
		return
	}
	if wa == 0 {
		*dst = gramPartial{Weight: wb, W2: dst.W2, Mean: append(dst.Mean[:0], src.Mean...), YMean: src.YMean,
			Cxx: append(dst.Cxx[:0], src.Cxx...), Cxy: append(dst.Cxy[:0], src.Cxy...), Cyy: src.Cyy}
		return
	}
	w := wa + wb
	f := wa * wb / w
	d := len(dst.Mean)
	delta := make([]float64, d)
	floats.SubTo(delta, src.Mean, dst.Mean)
	dy := src.YMean - dst.YMean
	for i := 0; i < d; i++ {
		row := dst.Cxx[i*d : (i+1)*d]
		floats.Add(row[i:], src.Cxx[i*d+i:(i+1)*d])
		floats.AddScaled(row[i:], f*delta[i], delta[i:])
	}
	floats.Add(dst.Cxy, src.Cxy)
	floats.AddScaled(dst.Cxy, f*dy, delta)
	dst.Cyy += src.Cyy + f*dy*dy
	floats.AddScaled(dst.Mean, wb/w, delta)
	dst.YMean += dy * wb / w
	dst.Weight = w
}

// fitNormal solves the normal equations of the ridge problem,
// (A + λ·D)β = c with A and c the (centred, when fitting an intercept)
// weighted second moments over Σwᵢ and D the identity, or diag(sⱼ²) under
// Standardization.
func (lr LinearRegression) fitNormal(ctx context.Context, x cluster.Executor, ds *cluster.Dataset) (*LinearModel, error) {
	start := time.Now()
	d := ds.Cols()
	if d == 0 {
		return nil, fmt.Errorf("ml: linear: dataset %q has no features", ds.Name())
	}
	g, err := cluster.Aggregate(ctx, x, ds, gramTask, &gramArg{D: d})
	if err != nil {
		return nil, err
	}
	if g.Weight <= 0 {
		return nil, fmt.Errorf("ml: linear: the weights of dataset %q sum to %v; want > 0 (or no rows)", ds.Name(), g.Weight)
	}
	inv := 1 / g.Weight
	a := mat.NewSymDense(d, nil)
	c := mat.NewVecDense(d, nil)
	for i := 0; i < d; i++ {
		for j := i; j < d; j++ {
			v := g.Cxx[i*d+j] * inv
			if lr.NoIntercept {
				v += g.Mean[i] * g.Mean[j]
			}
			a.SetSym(i, j, v)
		}
		ci := g.Cxy[i] * inv
		if lr.NoIntercept {
			ci += g.Mean[i] * g.YMean
		}
		c.SetVec(i, ci)
	}
	if lam := lr.RegParam; lam > 0 {
		for j := 0; j < d; j++ {
			pen := 1.0
			if lr.Standardization {
				// sⱼ², the unbiased weighted variance the iterative solver
				// standardises by (1 for a constant feature).
				if den := g.Weight - g.W2/g.Weight; den > 0 && g.Cxx[j*d+j] > 0 {
					pen = g.Cxx[j*d+j] / den
				}
			}
			a.SetSym(j, j, a.At(j, j)+lam*pen)
		}
	}
	beta := mat.NewVecDense(d, nil)
	var ch mat.Cholesky
	solved := ch.Factorize(a)
	if solved {
		var cond mat.Condition
		switch err := ch.SolveVecTo(beta, c); {
		case errors.As(err, &cond):
			solved = false // factored, but too ill-conditioned to trust
		case err != nil:
			return nil, fmt.Errorf("ml: linear: normal equations: %w", err)
		}
	}
	if !solved {
		// Singular or nearly (collinear features, such as every one-hot
		// column beside the intercept, with no penalty): the minimum-norm
		// solution by SVD.
		var svd mat.SVD
		if !svd.Factorize(a, mat.SVDFull) {
			return nil, fmt.Errorf("ml: linear: the SVD of the normal equations did not converge")
		}
		vals := svd.Values(nil)
		rank := 0
		for _, s := range vals {
			if s > vals[0]*float64(d)*1e-14 {
				rank++
			}
		}
		var sol mat.Dense
		svd.SolveTo(&sol, c, rank)
		beta.CopyVec(sol.ColView(0))
	}
	coef := append([]float64(nil), beta.RawVector().Data...)
	icpt := 0.0
	if !lr.NoIntercept {
		icpt = g.YMean - floats.Dot(coef, g.Mean)
	}
	// The objective at the solution: ½(βᵀAβ − 2βᵀc + yy) + penalty.
	yy := g.Cyy * inv
	if lr.NoIntercept {
		yy += g.YMean * g.YMean
	}
	av := mat.NewVecDense(d, nil)
	av.MulVec(a, beta) // includes the ridge term
	loss := 0.5 * (mat.Dot(beta, av) - 2*mat.Dot(beta, c) + yy)
	elapsed := time.Since(start)
	const stop = "solved the normal equations"
	if lr.Optimizer.Progress != nil { // the one "iteration" of a direct solve
		lr.Optimizer.Progress(Progress{Iter: 1, Loss: loss, GradNorm: math.NaN(), Evals: 1, Elapsed: elapsed, Stop: stop})
	}
	return &LinearModel{Coef: coef, Intercept: icpt,
		Summary: &Summary{Solver: "normal", Evaluations: 1, Loss: loss, History: []float64{loss}, Stop: stop, Elapsed: elapsed}}, nil
}

// LinearModel predicts x·Coef + Intercept.
type LinearModel struct {
	Coef      []float64
	Intercept float64
	// Summary describes the fit; it is nil for a decoded model.
	Summary *Summary
}

func init() { RegisterModel("linear", func() Model { return new(LinearModel) }) }

// Algorithm implements Model.
func (*LinearModel) Algorithm() string { return "linear" }

// NumFeatures implements Model.
func (m *LinearModel) NumFeatures() int { return len(m.Coef) }

// Predict returns the prediction for one row. It panics if len(x) is not
// NumFeatures.
func (m *LinearModel) Predict(x []float64) float64 {
	if len(x) != len(m.Coef) {
		panic(fmt.Sprintf("ml: LinearModel.Predict: row has %d features, the model %d", len(x), len(m.Coef)))
	}
	return floats.Dot(m.Coef, x) + m.Intercept
}

// PredictBatch implements Model. It panics on mismatched lengths.
func (m *LinearModel) PredictBatch(dst, x []float64, rows int) {
	d := len(m.Coef)
	if len(x) != rows*d || len(dst) != rows {
		panic(fmt.Sprintf("ml: LinearModel.PredictBatch: %d values and %d outputs for %d rows of %d features", len(x), len(dst), rows, d))
	}
	if rows == 0 {
		return
	}
	for i := range dst {
		dst[i] = m.Intercept
	}
	if d == 0 {
		return
	}
	blas64.Gemv(blas.NoTrans, 1, blas64.General{Rows: rows, Cols: d, Stride: d, Data: x},
		blas64.Vector{N: d, Inc: 1, Data: m.Coef}, 1, blas64.Vector{N: rows, Inc: 1, Data: dst})
}

// predictSparse implements sparseRower.
func (m *LinearModel) predictSparse(pred, _ []float64, ind []int32, val []float64) {
	s := m.Intercept
	for t, j := range ind {
		s += val[t] * m.Coef[j]
	}
	pred[0] = s
}

const linearPayloadVersion = 1

// MarshalBinary encodes the model (see AppendModel for the envelope). The
// payload is uint32 features, float64 intercept, float64 coefficients.
func (m *LinearModel) MarshalBinary() ([]byte, error) {
	p := make([]byte, 0, 12+8*len(m.Coef))
	p = binary.LittleEndian.AppendUint32(p, uint32(len(m.Coef)))
	p = appendF64s(p, []float64{m.Intercept})
	p = appendF64s(p, m.Coef)
	return AppendModel(nil, "linear", linearPayloadVersion, p), nil
}

// UnmarshalBinary decodes what MarshalBinary encoded.
func (m *LinearModel) UnmarshalBinary(data []byte) error {
	r, err := openPayload(data, "linear", linearPayloadVersion)
	if err != nil {
		return err
	}
	d := int(r.u32())
	icpt := r.f64()
	coef := r.f64s(d)
	if err := r.done(); err != nil {
		return err
	}
	*m = LinearModel{Coef: coef, Intercept: icpt}
	return nil
}
