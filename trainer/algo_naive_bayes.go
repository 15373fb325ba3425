package trainer

import (
	"context"

	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/ml/bayes"
)

// NaiveBayesParams configures naive Bayes, as MLlib's NaiveBayes with
// scikit-learn's formulas.
type NaiveBayesParams struct {
	ModelType    string  `yaml:"model_type" doc:"multinomial (default: counts or frequencies, which must be non-negative), bernoulli (features must be exactly 0 or 1) or gaussian (any finite values)."`
	Smoothing    float64 `yaml:"smoothing" doc:"Additive (Laplace/Lidstone) smoothing of the multinomial and Bernoulli models, MLlib's smoothing and scikit-learn's alpha (default 1)."`
	VarSmoothing float64 `yaml:"var_smoothing" doc:"gaussian: the fraction of the largest feature variance added to every variance (default 1e-9, as scikit-learn)."`
}

func (p *NaiveBayesParams) check(s *Spec, path string, at func(path, format string, args ...any)) {
	needLabel(s, path, at)
	switch p.ModelType {
	case "", bayes.Multinomial, bayes.Bernoulli, bayes.Gaussian:
	default:
		at(path+".model_type", "want multinomial, bernoulli or gaussian, got %q", p.ModelType)
	}
	if p.Smoothing < 0 || p.VarSmoothing < 0 {
		at(path, "smoothing and var_smoothing must not be negative")
	}
}

func (p *NaiveBayesParams) gridParams() []string { return []string{"smoothing", "var_smoothing"} }
func (p *NaiveBayesParams) metrics() []string    { return classificationMetrics }
func (p *NaiveBayesParams) reports() []string    { return []string{"accuracy"} }
func (p *NaiveBayesParams) selectBy() string     { return "accuracy" }
func (p *NaiveBayesParams) input() inputKind     { return featureRows }
func (p *NaiveBayesParams) maxIter() int         { return 1 } // one pass over the rows

func (p *NaiveBayesParams) with(g ml.Params) (algo, error) {
	c := *p
	for name, v := range g {
		switch name {
		case "smoothing":
			c.Smoothing = v
		case "var_smoothing":
			c.VarSmoothing = v
		default:
			return nil, unknownGrid(p, name)
		}
	}
	return &c, nil
}

func (p *NaiveBayesParams) fit(ctx context.Context, f *fitEnv, d data) (fitted, error) {
	cfg := bayes.Config{ModelType: p.ModelType, Smoothing: p.Smoothing, VarSmoothing: p.VarSmoothing,
		Classes: f.classes(), Progress: func(pr ml.Progress) bool {
			pr.Stop = "one pass: naive Bayes is fitted in closed form"
			f.progress(pr)
			return false
		}}
	return fitModel(bayes.Fit(ctx, f.engine, d.(rowsData).ds, cfg))
}
