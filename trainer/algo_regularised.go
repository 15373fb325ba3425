package trainer

import (
	"context"

	"github.com/flintml/flint/ml"
)

// Regularised holds the parameters linear models share (MLlib's names).
type Regularised struct {
	RegParam        float64 `yaml:"reg_param" doc:"Regularisation strength λ (default 0)."`
	ElasticNetParam float64 `yaml:"elastic_net_param" doc:"Mix of L1 in the penalty, 0 (L2, default) to 1 (L1)."`
	FitIntercept    *bool   `yaml:"fit_intercept" doc:"Fit an unregularised intercept (default true)."`
	Standardization *bool   `yaml:"standardization" doc:"Standardise features inside the optimiser (default true); coefficients are reported on the original scale."`
	MaxIter         int     `yaml:"max_iter" doc:"Most iterations (default 100)."`
	Tol             float64 `yaml:"tol" doc:"Convergence tolerance (default 1e-6)."`
	Solver          string  `yaml:"solver" doc:"lbfgs (default; OWL-QN with L1), gd, sgd, or normal (closed form, linear regression without L1 only)."`
	StepSize        float64 `yaml:"step_size" doc:"Step size for sgd (default 1)."`
	MiniBatch       float64 `yaml:"mini_batch_fraction" doc:"Fraction of rows sampled per sgd iteration (default 1)."`
	Seed            uint64  `yaml:"seed" doc:"Seed for sampling (default 1)."`
}

// check reports problems of the shared parameters; normal says whether
// the closed-form solver applies (linear regression).
func (r *Regularised) check(path string, normal bool, at func(path, format string, args ...any)) {
	if r.RegParam < 0 {
		at(path+".reg_param", "must not be negative, got %v", r.RegParam)
	}
	if r.ElasticNetParam < 0 || r.ElasticNetParam > 1 {
		at(path+".elastic_net_param", "must be in [0, 1], got %v", r.ElasticNetParam)
	}
	if r.MaxIter < 0 {
		at(path+".max_iter", "must not be negative, got %d", r.MaxIter)
	}
	if r.Tol < 0 {
		at(path+".tol", "must not be negative, got %v", r.Tol)
	}
	switch r.Solver {
	case "", "lbfgs", "gd", "sgd":
	case "normal":
		if !normal {
			at(path+".solver", "normal (closed form) is for linear regression")
		} else if r.ElasticNetParam > 0 && r.RegParam > 0 {
			at(path+".solver", "normal cannot solve an L1 penalty; use lbfgs")
		}
	default:
		at(path+".solver", "want lbfgs, gd, sgd or normal, got %q", r.Solver)
	}
	if r.MiniBatch < 0 || r.MiniBatch > 1 {
		at(path+".mini_batch_fraction", "must be in (0, 1], got %v", r.MiniBatch)
	}
	if r.StepSize < 0 {
		at(path+".step_size", "must be positive, got %v", r.StepSize)
	}
}

// regularisedGrid are the grid parameters of Regularised.
var regularisedGrid = []string{"reg_param", "elastic_net_param", "max_iter"}

// set sets one grid parameter; ok is false for a name it does not have.
func (r *Regularised) set(name string, v float64) bool {
	switch name {
	case "reg_param":
		r.RegParam = v
	case "elastic_net_param":
		r.ElasticNetParam = v
	case "max_iter":
		r.MaxIter = int(v)
	default:
		return false
	}
	return true
}

// settings are the optimiser settings of the parameters, reporting
// progress and checkpointing through f.
func (r *Regularised) settings(ctx context.Context, f *fitEnv) (ml.Settings, error) {
	m, err := ml.ParseMethod(r.Solver)
	if r.Solver == "normal" {
		m, err = ml.LBFGS, nil
	}
	if err != nil {
		return ml.Settings{}, err
	}
	s := ml.Settings{Method: m, MaxIter: r.MaxIter, Tol: r.Tol, StepSize: r.StepSize, MiniBatchFraction: r.MiniBatch,
		Seed: seedOr(r.Seed), Progress: f.progressFunc()}
	f.ckpt.optimizer(ctx, &s)
	return s, nil
}

func (r *Regularised) intercept() bool { return r.FitIntercept == nil || *r.FitIntercept }

// classificationMetrics and regressionMetrics are what ml.Evaluate measures.
var (
	classificationMetrics = []string{"accuracy", "f1", "precision", "recall", "logloss", "auc"}
	regressionMetrics     = []string{"rmse", "mae", "r2"}
)

func iterOr(n, def int) int {
	if n == 0 {
		return def
	}
	return n
}

func boolOr(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

func seedOr(s uint64) uint64 {
	if s == 0 {
		return 1
	}
	return s
}
