package trainer

import (
	"context"

	"github.com/flintml/flint/ml"
)

// LogisticParams configures logistic regression.
type LogisticParams struct {
	Regularised `yaml:",inline"`
	Family      string `yaml:"family" doc:"auto (default: binomial for 2 classes), binomial or multinomial."`
}

func (p *LogisticParams) check(s *Spec, path string, at func(path, format string, args ...any)) {
	needLabel(s, path, at)
	p.Regularised.check(path, false, at)
	switch p.Family {
	case "", "auto", "binomial", "multinomial":
	default:
		at(path+".family", "want auto, binomial or multinomial, got %q", p.Family)
	}
}

func (p *LogisticParams) gridParams() []string { return regularisedGrid }
func (p *LogisticParams) metrics() []string    { return classificationMetrics }
func (p *LogisticParams) reports() []string    { return []string{"accuracy"} }
func (p *LogisticParams) selectBy() string     { return "accuracy" }
func (p *LogisticParams) input() inputKind     { return featureRows }
func (p *LogisticParams) maxIter() int         { return iterOr(p.MaxIter, 100) }

func (p *LogisticParams) with(g ml.Params) (algo, error) {
	c := *p
	for name, v := range g {
		if !c.set(name, v) {
			return nil, unknownGrid(p, name)
		}
	}
	return &c, nil
}

func (p *LogisticParams) fit(ctx context.Context, f *fitEnv, d data) (fitted, error) {
	s, err := p.settings(ctx, f)
	if err != nil {
		return nil, err
	}
	ds := d.(rowsData).ds
	k := 1
	if p.Family == "multinomial" || (p.Family != "binomial" && f.classes() > 2) {
		k = f.classes()
	}
	lr := ml.LogisticRegression{RegParam: p.RegParam, ElasticNetParam: p.ElasticNetParam, NoIntercept: !p.intercept(),
		Standardization: boolOr(p.Standardization, true), Family: p.Family, Classes: f.classes(), Optimizer: s,
		WarmStart: f.warm.glm(k, ds.Cols())}
	return fitModel(lr.FitModel(ctx, f.engine, ds))
}
