package ml

import (
	"context"
	"fmt"
	"math"

	"github.com/flintml/flint/cluster"
)

// glmObjective is the regularised loss of a generalised linear model as a
// function of its parameters in the standardised space, the space the
// optimiser works in:
//
//	f(v, b) = (1/Σwᵢ) Σᵢ wᵢ·ℓ(yᵢ, Vzᵢ + b) + ½ Σ l2ⱼ·v²ₖⱼ
//	zᵢⱼ = (xᵢⱼ − μⱼ)/sⱼ
//
// with sⱼ the feature's scale (its standard deviation, adjusted for the
// penalty: see fitGLM) and μⱼ its mean when an intercept is fitted (0
// otherwise, since centring without an intercept would change the model).
// The rows are never rewritten: each pass broadcasts the equivalent
// coefficients of the original features, wₖⱼ = vₖⱼ/sⱼ and
// cₖ = bₖ − Σⱼ μⱼwₖⱼ, so the kernels read the cached rows as they are (CSR
// stays sparse), and the driver maps the gradient back:
//
//	∂f/∂vₖⱼ = (Gₖⱼ − μⱼRₖ)/(sⱼΣwᵢ) + l2ⱼvₖⱼ,   ∂f/∂bₖ = Rₖ/Σwᵢ
//
// where Gₖⱼ = Σᵢ wᵢrᵢₖxᵢⱼ and Rₖ = Σᵢ wᵢrᵢₖ come back from the pass.
//
// The parameter vector is V (K×D, row-major) followed by the K intercepts
// when they are fitted.
type glmObjective struct {
	x    cluster.Executor
	ds   *cluster.Dataset
	kind lossKind
	k, d int

	intercept bool
	scale     []float64 // sⱼ
	center    []float64 // μⱼ, or zeros
	l2        []float64 // per feature, in the standardised space

	arg lossArg // the broadcast, reused
}

func (o *glmObjective) Dim() int {
	n := o.k * o.d
	if o.intercept {
		n += o.k
	}
	return n
}

// original writes the coefficients and intercepts of the original features
// that v stands for.
func (o *glmObjective) original(coef, icpt, v []float64) {
	d := o.d
	for c := 0; c < o.k; c++ {
		var shift float64
		for j := 0; j < d; j++ {
			w := v[c*d+j] / o.scale[j]
			coef[c*d+j] = w
			shift += o.center[j] * w
		}
		icpt[c] = -shift
		if o.intercept {
			icpt[c] += v[o.k*d+c]
		}
	}
}

func (o *glmObjective) Eval(ctx context.Context, grad, v []float64) (float64, error) {
	o.arg.Fraction = 0
	return o.eval(ctx, grad, v)
}

func (o *glmObjective) EvalBatch(ctx context.Context, grad, v []float64, b Batch) (float64, error) {
	o.arg.Fraction, o.arg.Seed, o.arg.Iter = b.Fraction, b.Seed, uint64(b.Iter)
	if b.Fraction >= 1 {
		o.arg.Fraction = 0
	}
	return o.eval(ctx, grad, v)
}

func (o *glmObjective) eval(ctx context.Context, grad, v []float64) (float64, error) {
	o.original(o.arg.Coef, o.arg.Intercept, v)
	p, err := cluster.Aggregate(ctx, o.x, o.ds, taskFor(o.kind), &o.arg)
	if err != nil {
		return math.NaN(), err
	}
	if p.Weight <= 0 {
		if o.arg.Fraction > 0 {
			return math.NaN(), ErrEmptyBatch
		}
		return math.NaN(), fmt.Errorf("ml: %s loss: the weights of dataset %q sum to %v; want > 0", o.kind, o.ds.Name(), p.Weight)
	}
	inv := 1 / p.Weight
	f := p.Loss * inv
	d := o.d
	for c := 0; c < o.k; c++ {
		r := p.Bias[c]
		for j := 0; j < d; j++ {
			i := c*d + j
			vj := v[i]
			grad[i] = (p.Grad[i]-o.center[j]*r)/o.scale[j]*inv + o.l2[j]*vj
			f += 0.5 * o.l2[j] * vj * vj
		}
		if o.intercept {
			grad[o.k*d+c] = r * inv
		}
	}
	return f, nil
}

// glmSpec is what the linear, logistic and linear SVM estimators share.
type glmSpec struct {
	what            string // "linear", "logistic" or "linear SVC", for errors
	kind            lossKind
	k               int // margin columns
	classes         int // for the summary's label check; 0 for regression
	regParam        float64
	elasticNet      float64
	noIntercept     bool
	standardization bool
	opt             Settings
	start           *WarmStart // nil: start from zero
}

func (g glmSpec) validate() error {
	if g.regParam < 0 || math.IsNaN(g.regParam) || math.IsInf(g.regParam, 0) {
		return fmt.Errorf("ml: %s: RegParam must be a finite number >= 0, got %v", g.what, g.regParam)
	}
	if g.elasticNet < 0 || g.elasticNet > 1 || math.IsNaN(g.elasticNet) {
		return fmt.Errorf("ml: %s: ElasticNetParam must be in [0, 1], got %v", g.what, g.elasticNet)
	}
	if err := g.opt.Validate(); err != nil {
		return fmt.Errorf("ml: %s: %w", g.what, err)
	}
	return nil
}

// glmFit is a fitted GLM in the original space, with the optimiser's result.
type glmFit struct {
	coef, icpt []float64
	res        *Result
}

// fitGLM standardises, minimises and maps the solution back. It starts
// from g.start when it is set; else init sets the starting intercepts in
// the standardised space (where the coefficients start at zero).
func fitGLM(ctx context.Context, x cluster.Executor, ds *cluster.Dataset, g glmSpec, sum *summary, init func(b []float64)) (*glmFit, error) {
	o, l1w := newGLMObjective(x, ds, g, sum)
	v0, err := o.start(g, init)
	if err != nil {
		return nil, err
	}
	// Minimize's errors name the method and iteration, and those of a pass
	// the loss, row and partition; they go back as they are.
	res, err := Minimize(ctx, o, v0, l1w, g.opt)
	if err != nil {
		return nil, err
	}
	return o.fit(res), nil
}

// fit maps the optimiser's result back to the original features.
func (o *glmObjective) fit(res *Result) *glmFit {
	f := &glmFit{coef: make([]float64, o.k*o.d), icpt: make([]float64, o.k), res: res}
	o.original(f.coef, f.icpt, res.X)
	return f
}

// newGLMObjective is the objective of g on ds in the standardised space,
// with the L1 weights of its parameters (nil without an L1 term).
func newGLMObjective(x cluster.Executor, ds *cluster.Dataset, g glmSpec, sum *summary) (*glmObjective, []float64) {
	d, k := ds.Cols(), g.k
	o := &glmObjective{x: x, ds: ds, kind: g.kind, k: k, d: d, intercept: !g.noIntercept,
		scale: make([]float64, d), center: make([]float64, d), l2: make([]float64, d)}
	o.arg = lossArg{K: k, D: d, Coef: make([]float64, k*d), Intercept: make([]float64, k)}
	l2 := g.regParam * (1 - g.elasticNet)
	l1 := g.regParam * g.elasticNet
	var l1w []float64
	if l1 > 0 {
		l1w = make([]float64, o.Dim()) // intercepts stay 0: not penalised
	}
	// The curvature of the loss in the margin, at most: 1 for the squared
	// loss, ¼ for the logistic ones. The hinge loss is piecewise linear,
	// with no curvature but at its kink; ¼ serves it as well.
	curv := 0.25
	if g.kind == squaredLoss {
		curv = 1
	}
	for j := 0; j < d; j++ {
		// sⱼ is the feature's standard deviation, as MLlib scales. When the
		// penalty is on the original coefficients, the Hessian's diagonal
		// is about curv·σⱼ² + l2; scaling by its root instead keeps a feature
		// of tiny variance (a border pixel) from being dominated by the
		// penalty, which would make the scaled problem ill-conditioned. The
		// objective and its minimiser do not depend on sⱼ, only the speed of
		// convergence does.
		s := sum.Std[j]
		if !g.standardization {
			s = math.Sqrt(s*s + l2/curv)
		}
		if !(s > 0) {
			s = 1
		}
		o.scale[j] = s
		if o.intercept {
			o.center[j] = sum.Mean[j]
		}
		// The penalty is on the original coefficients wⱼ = vⱼ/sⱼ, unless
		// Standardization asks for it on the standardised ones (MLlib's
		// default).
		pen := 1 / s
		if g.standardization {
			pen = 1
		}
		o.l2[j] = l2 * pen * pen
		if l1w != nil {
			for c := 0; c < k; c++ {
				l1w[c*d+j] = l1 * pen
			}
		}
	}
	return o, l1w
}
