package trainer

import (
	"context"

	"github.com/flintml/flint/ml"
)

// LinearSVCParams configures the linear support vector machine.
type LinearSVCParams struct {
	RegParam        float64 `yaml:"reg_param" doc:"L2 regularisation strength λ of the mean hinge loss + λ/2·‖w‖² (default 0)."`
	FitIntercept    *bool   `yaml:"fit_intercept" doc:"Fit an unregularised intercept (default true)."`
	Standardization *bool   `yaml:"standardization" doc:"Standardise features inside the optimiser (default true); coefficients are reported on the original scale."`
	Threshold       float64 `yaml:"threshold" doc:"A row is class 1 when its margin is above this (default 0)."`
	MaxIter         int     `yaml:"max_iter" doc:"Most iterations, over every smoothing stage of lbfgs and gd together (default 1000)."`
	Tol             float64 `yaml:"tol" doc:"Convergence tolerance of each stage (default 1e-6)."`
	Solver          string  `yaml:"solver" doc:"lbfgs (default) or gd, on the hinge smoothed in stages down to a width of 1e-6; or sgd, on the exact hinge (as MLlib's SVMWithSGD)."`
	StepSize        float64 `yaml:"step_size" doc:"Step size for sgd (default 1)."`
	MiniBatch       float64 `yaml:"mini_batch_fraction" doc:"Fraction of rows sampled per sgd iteration (default 1)."`
	Seed            uint64  `yaml:"seed" doc:"Seed for sampling (default 1)."`
}

func (p *LinearSVCParams) check(s *Spec, path string, at func(path, format string, args ...any)) {
	needLabel(s, path, at)
	r := p.regularised()
	r.check(path, false, at)
}

// regularised is the parameters the linear models share, for their checks
// and optimiser settings.
func (p *LinearSVCParams) regularised() Regularised {
	return Regularised{RegParam: p.RegParam, FitIntercept: p.FitIntercept, Standardization: p.Standardization, MaxIter: p.MaxIter,
		Tol: p.Tol, Solver: p.Solver, StepSize: p.StepSize, MiniBatch: p.MiniBatch, Seed: p.Seed}
}

func (p *LinearSVCParams) gridParams() []string { return []string{"reg_param", "max_iter"} }

// metrics are the classification metrics but log-loss: the SVM has margins,
// not probabilities.
func (p *LinearSVCParams) metrics() []string {
	return []string{"accuracy", "f1", "precision", "recall", "auc"}
}
func (p *LinearSVCParams) reports() []string { return []string{"accuracy"} }
func (p *LinearSVCParams) selectBy() string  { return "accuracy" }
func (p *LinearSVCParams) input() inputKind  { return featureRows }
func (p *LinearSVCParams) maxIter() int      { return iterOr(p.MaxIter, 1000) }

func (p *LinearSVCParams) with(g ml.Params) (algo, error) {
	c := *p
	for name, v := range g {
		switch name {
		case "reg_param":
			c.RegParam = v
		case "max_iter":
			c.MaxIter = int(v)
		default:
			return nil, unknownGrid(p, name)
		}
	}
	return &c, nil
}

func (p *LinearSVCParams) fit(ctx context.Context, f *fitEnv, d data) (fitted, error) {
	r := p.regularised()
	fe := *f
	if r.Solver != "sgd" {
		fe.ckpt = nil // a smoothing stage cannot be checkpointed: a resumed job fits again
	}
	s, err := r.settings(ctx, &fe)
	if err != nil {
		return nil, err
	}
	ds := d.(rowsData).ds
	svc := ml.LinearSVC{RegParam: p.RegParam, NoIntercept: !r.intercept(), Standardization: boolOr(p.Standardization, true),
		Threshold: p.Threshold, Optimizer: s, WarmStart: f.warm.glm(1, ds.Cols())}
	return fitModel(svc.FitModel(ctx, f.engine, ds))
}
