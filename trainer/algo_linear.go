package trainer

import (
	"context"

	"github.com/flintml/flint/ml"
)

// LinearParams configures linear regression.
type LinearParams struct {
	Regularised `yaml:",inline"`
}

func (p *LinearParams) check(s *Spec, path string, at func(path, format string, args ...any)) {
	needLabel(s, path, at)
	p.Regularised.check(path, true, at)
}

func (p *LinearParams) gridParams() []string { return regularisedGrid }
func (p *LinearParams) metrics() []string    { return regressionMetrics }
func (p *LinearParams) reports() []string    { return []string{"rmse"} }
func (p *LinearParams) selectBy() string     { return "rmse" }
func (p *LinearParams) input() inputKind     { return featureRows }

func (p *LinearParams) with(g ml.Params) (algo, error) {
	c := *p
	for name, v := range g {
		if !c.set(name, v) {
			return nil, unknownGrid(p, name)
		}
	}
	return &c, nil
}

func (p *LinearParams) maxIter() int {
	if p.Solver == "normal" {
		return 1 // a direct solve reports itself as one iteration
	}
	return iterOr(p.MaxIter, 100)
}

func (p *LinearParams) fit(ctx context.Context, f *fitEnv, d data) (fitted, error) {
	s, err := p.settings(ctx, f)
	if err != nil {
		return nil, err
	}
	solver := "auto"
	switch p.Solver {
	case "normal":
		solver = "normal"
	case "gd", "sgd":
		solver = "iterative"
	}
	ds := d.(rowsData).ds
	lr := ml.LinearRegression{RegParam: p.RegParam, ElasticNetParam: p.ElasticNetParam, NoIntercept: !p.intercept(),
		Standardization: boolOr(p.Standardization, true), Solver: solver, Optimizer: s}
	switch {
	case f.warm == nil:
	case solver == "normal" || solver == "auto" && p.RegParam*p.ElasticNetParam == 0 && ds.Cols() <= 4096:
		// ml.LinearRegression's auto solver takes the normal equations here.
		f.warm.skip("the normal equations are solved directly, without iterations to save; give solver: gd or sgd to warm-start")
	default:
		lr.WarmStart = f.warm.glm(1, ds.Cols())
	}
	return fitModel(lr.FitModel(ctx, f.engine, ds))
}
