package bayes

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/ml"
)

// Model types for Config.ModelType.
const (
	Multinomial = "multinomial" // counts: θ_cj = (N_cj + α)/(N_c + α·D)
	Bernoulli   = "bernoulli"   // binary features: θ_cj = (N_cj + α)/(W_c + 2α)
	Gaussian    = "gaussian"    // real features: per-class means and variances
)

// MaxClasses bounds the labels of a dataset fitted with Config.Classes 0,
// so that a stray label such as 1e9 is an error rather than a model of a
// billion classes.
const MaxClasses = 1 << 16

// MaxParams bounds classes × features (each statistic of the pass, and
// each parameter matrix of the model, holds that many float64s: 512 MiB),
// so that a stray label in wide data is an error, not an allocation that
// takes every worker's memory.
const MaxParams = 1 << 26

// Config configures Fit. Zero fields take the defaults given. A Config is a
// plain value and is not modified by Fit.
type Config struct {
	// ModelType is Multinomial ("multinomial", the default, as MLlib and
	// scikit-learn's MultinomialNB), Bernoulli ("bernoulli") or Gaussian
	// ("gaussian").
	ModelType string
	// Smoothing is the additive (Laplace/Lidstone) smoothing α of the
	// multinomial and Bernoulli models: MLlib's smoothing, scikit-learn's
	// alpha. 0 means 1, both libraries' default; it must not be negative.
	// (Both accept 0, which scikit-learn before 1.4 raises to 1e-10. Give
	// a small positive value for that.) The Gaussian model ignores it.
	Smoothing float64
	// VarSmoothing is the fraction of the largest feature variance that
	// the Gaussian model adds to every variance, for numerical stability:
	// scikit-learn's var_smoothing. 0 means 1e-9, scikit-learn's default
	// (MLlib uses 1e-9 too); it must not be negative. The other models
	// ignore it.
	VarSmoothing float64
	// Classes is the number of classes: labels must be 0 … Classes−1. 0
	// takes the largest label plus one (at least 2; labels must then be
	// below MaxClasses). A class without rows gets prior probability 0.
	Classes int
	// Progress, if not nil, is called once, on the goroutine that called
	// Fit, when the fit is done: Iter 1, Evals 1 (the one pass over the
	// data), Loss the mean negative joint log-likelihood of the training
	// rows under the fitted model (see the package documentation), and
	// GradNorm NaN. Its result is ignored: there is nothing left to stop.
	Progress func(ml.Progress) bool
}

func (c Config) withDefaults() Config {
	if c.ModelType == "" {
		c.ModelType = Multinomial
	}
	if c.Smoothing == 0 {
		c.Smoothing = 1
	}
	if c.VarSmoothing == 0 {
		c.VarSmoothing = 1e-9
	}
	return c
}

// kind returns the model type of c (with defaults applied).
func (c Config) kind() kind {
	switch c.ModelType {
	case Bernoulli:
		return bernoulliKind
	case Gaussian:
		return gaussianKind
	}
	return multinomialKind
}

// validate checks c (with defaults applied); errors name the field and
// the value found.
func (c Config) validate() error {
	switch {
	case c.ModelType != Multinomial && c.ModelType != Bernoulli && c.ModelType != Gaussian:
		return fmt.Errorf("bayes: Config.ModelType %q: want %q, %q or %q", c.ModelType, Multinomial, Bernoulli, Gaussian)
	case !(c.Smoothing > 0 && c.Smoothing <= math.MaxFloat64):
		return fmt.Errorf("bayes: Config.Smoothing must be a finite number >= 0 (0 means 1), got %v", c.Smoothing)
	case !(c.VarSmoothing > 0 && c.VarSmoothing <= math.MaxFloat64):
		return fmt.Errorf("bayes: Config.VarSmoothing must be a finite number >= 0 (0 means 1e-9), got %v", c.VarSmoothing)
	case c.Classes < 0 || c.Classes == 1 || c.Classes > MaxClasses:
		return fmt.Errorf("bayes: Config.Classes must be 0 (from the labels) or in [2, %d], got %d", MaxClasses, c.Classes)
	}
	return nil
}

// Fit fits a naive Bayes model to the rows of ds (labels as class indices,
// weights as sample weights) in one pass over the data: a registered
// cluster task, so it runs the same on the in-process engine and on remote
// workers. Rows may be dense or sparse (CSR, read without densifying).
//
// The model is a function of the data and its partitioning only: the same
// dataset in the same partitions gives a bit-identical model for any
// number of workers. Errors of the data (a negative count, a non-binary
// Bernoulli feature, a label out of range) name the row, its partition
// and the value.
func Fit(ctx context.Context, x cluster.Executor, ds *cluster.Dataset, cfg Config) (*Model, error) {
	start := time.Now()
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if ds.Rows() == 0 {
		return nil, fmt.Errorf("bayes: dataset %q has no rows", ds.Name())
	}
	if ds.Cols() == 0 {
		return nil, fmt.Errorf("bayes: dataset %q has no features", ds.Name())
	}
	if cfg.Classes*ds.Cols() > MaxParams {
		return nil, fmt.Errorf("bayes: Config.Classes = %d classes of the %d features of dataset %q are more than %d parameters (MaxParams)", cfg.Classes, ds.Cols(), ds.Name(), MaxParams)
	}
	a := fitArg{Kind: cfg.kind(), D: ds.Cols(), Classes: cfg.Classes, Given: cfg.Classes > 0}
	if !a.Given {
		a.Classes = MaxClasses
	}
	p, err := cluster.Aggregate(ctx, x, ds, fitTask, &a)
	if err != nil {
		return nil, err
	}
	k := cfg.Classes
	if k == 0 {
		k = max(len(p.Count), 2)
	}
	p.grow(a.Kind == gaussianKind, k, a.D)
	var total float64
	for _, w := range p.Count {
		total += w
	}
	if !(total > 0) {
		return nil, fmt.Errorf("bayes: the weights of dataset %q sum to %v; want > 0", ds.Name(), total)
	}
	m, err := build(cfg, a.Kind, k, a.D, p, total)
	if err != nil {
		return nil, fmt.Errorf("bayes: dataset %q: %w", ds.Name(), err)
	}
	if cfg.Progress != nil {
		cfg.Progress(ml.Progress{Iter: 1, Loss: trainLoss(m, p, total), GradNorm: math.NaN(), Evals: 1, Elapsed: time.Since(start)})
	}
	return m, nil
}

// build turns the statistics of k classes (p grown to k) into a model.
func build(cfg Config, kd kind, k, d int, p *fitPartial, total float64) (*Model, error) {
	m := &Model{Type: kd.String(), Classes: k, Features: d,
		ClassCount: p.Count[:k:k], ClassLogPrior: make([]float64, k)}
	lt := math.Log(total)
	for c, w := range m.ClassCount {
		m.ClassLogPrior[c] = math.Log(w) - lt // −Inf for a class without rows, as scikit-learn
	}
	switch kd {
	case multinomialKind:
		m.Smoothing = cfg.Smoothing
		m.FeatureLogProb = multinomialLogProb(p.Sum[:k*d], k, d, cfg.Smoothing)
	case bernoulliKind:
		m.Smoothing = cfg.Smoothing
		m.FeatureLogProb = make([]float64, k*d)
		for c, w := range m.ClassCount {
			ld := math.Log(w + 2*cfg.Smoothing)
			for j, n := range p.Sum[c*d : (c+1)*d] {
				m.FeatureLogProb[c*d+j] = math.Log(n+cfg.Smoothing) - ld
			}
		}
	case gaussianKind:
		if err := gaussianParams(m, p, cfg.VarSmoothing); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// multinomialLogProb is log θ_cj = log(N_cj + α) − log Σⱼ(N_cj + α).
func multinomialLogProb(sum []float64, k, d int, alpha float64) []float64 {
	flp := make([]float64, k*d)
	for c := 0; c < k; c++ {
		var tot float64
		for _, n := range sum[c*d : (c+1)*d] {
			tot += n + alpha
		}
		lt := math.Log(tot)
		for j, n := range sum[c*d : (c+1)*d] {
			flp[c*d+j] = math.Log(n+alpha) - lt
		}
	}
	return flp
}

// gaussianParams sets the means and the variances plus ε, ε being
// varSmoothing times the largest variance of a feature over all rows
// (the classes' moments merged by Chan's formula, in class order).
func gaussianParams(m *Model, p *fitPartial, varSmoothing float64) error {
	k, d := m.Classes, m.Features
	all := &fitPartial{D: d, Gauss: true}
	for c := 0; c < k; c++ {
		one := &fitPartial{D: d, Gauss: true, Count: []float64{p.Count[c]},
			Mean: p.Mean[c*d : (c+1)*d], M2: p.M2[c*d : (c+1)*d]}
		combineFit(all, one)
	}
	var largest float64
	for _, q := range all.M2 {
		largest = max(largest, q/all.Count[0])
	}
	eps := varSmoothing * largest
	if !(eps > 0 && eps <= math.MaxFloat64) {
		return fmt.Errorf("gaussian naive Bayes: every feature is constant over the rows of positive weight (largest variance %v)", largest)
	}
	m.Epsilon = eps
	m.Theta = p.Mean[: k*d : k*d]
	m.Var = make([]float64, k*d)
	for c, w := range p.Count[:k] {
		for j := 0; j < d; j++ {
			v := 0.0
			if w > 0 {
				v = p.M2[c*d+j] / w
			}
			m.Var[c*d+j] = v + eps
		}
	}
	return nil
}

// trainLoss is the mean negative joint log-likelihood of the training
// rows, −(1/W) Σᵢ wᵢ log p(xᵢ, yᵢ) under m, from the statistics of the
// pass alone (every term is linear in the rows' sums, or in the Gaussian
// case their sums of squared deviations).
func trainLoss(m *Model, p *fitPartial, total float64) float64 {
	d := m.Features
	var ll float64
	for c, w := range m.ClassCount {
		if w == 0 {
			continue
		}
		ll += w * m.ClassLogPrior[c]
		switch m.Type {
		case Multinomial:
			for j, n := range p.Sum[c*d : (c+1)*d] {
				ll += n * m.FeatureLogProb[c*d+j]
			}
		case Bernoulli:
			for j, n := range p.Sum[c*d : (c+1)*d] {
				lp := m.FeatureLogProb[c*d+j]
				ll += n*lp + (w-n)*log1mExp(lp)
			}
		case Gaussian:
			for j := 0; j < d; j++ {
				v := m.Var[c*d+j]
				ll -= 0.5 * (w*math.Log(2*math.Pi*v) + p.M2[c*d+j]/v)
			}
		}
	}
	return -ll / total
}

// Estimator fits naive Bayes models with its Config; it implements
// ml.Estimator, so ml.CrossValidate takes it. (A job's grid over
// smoothing and var_smoothing is the trainer's.)
type Estimator struct {
	Config Config
}

var _ ml.Estimator = Estimator{}

// FitModel implements ml.Estimator.
func (e Estimator) FitModel(ctx context.Context, x cluster.Executor, ds *cluster.Dataset) (ml.Model, error) {
	return Fit(ctx, x, ds, e.Config)
}
