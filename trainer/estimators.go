package trainer

import (
	"context"
	"fmt"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/features"
	"github.com/flintml/flint/ml"
)

// estimator is one algorithm with its hyper-parameters, as the job runs it.
type estimator interface {
	// fit trains on ds, reporting each iteration, checkpointing to ck
	// (nil: no checkpoints).
	fit(ctx context.Context, x cluster.Cluster, ds *cluster.Dataset, progress func(ml.Progress) bool, ck *checkpointer) (ml.Model, error)
	// with returns the estimator with grid parameters set.
	with(p ml.Params) (estimator, error)
	// estimator is the ml.Estimator for cross-validation, reporting each
	// iteration of its fits to progress (nil: none).
	estimator(progress func(ml.Progress) bool) ml.Estimator
	maxIter() int
}

// estimator builds the chosen supervised algorithm from the spec.
func (j *job) estimator(pipe *features.Pipeline) (estimator, error) {
	a := j.spec.Algorithm
	switch {
	case a.LinearRegression != nil:
		return &linearEst{p: a.LinearRegression.Regularised}, nil
	case a.LogisticRegression != nil:
		return &logisticEst{p: *a.LogisticRegression, classes: len(pipe.Classes)}, nil
	}
	return newExtraEstimator(j.spec, pipe)
}

func settings(r Regularised, progress func(ml.Progress) bool) (ml.Settings, error) {
	m, err := ml.ParseMethod(r.Solver)
	if r.Solver == "normal" {
		m, err = ml.LBFGS, nil
	}
	if err != nil {
		return ml.Settings{}, err
	}
	return ml.Settings{Method: m, MaxIter: r.MaxIter, Tol: r.Tol, StepSize: r.StepSize, MiniBatchFraction: r.MiniBatch,
		Seed: seedOr(r.Seed), Progress: progress}, nil
}

func setRegularised(r *Regularised, p ml.Params) error {
	for name, v := range p {
		switch name {
		case "reg_param":
			r.RegParam = v
		case "elastic_net_param":
			r.ElasticNetParam = v
		case "max_iter":
			r.MaxIter = int(v)
		default:
			return fmt.Errorf("trainer: grid parameter %q does not apply", name)
		}
	}
	return nil
}

type linearEst struct{ p Regularised }

func (e *linearEst) build(progress func(ml.Progress) bool) (ml.LinearRegression, error) {
	s, err := settings(e.p, progress)
	if err != nil {
		return ml.LinearRegression{}, err
	}
	solver := "auto"
	switch e.p.Solver {
	case "normal":
		solver = "normal"
	case "gd", "sgd":
		solver = "iterative"
	}
	return ml.LinearRegression{RegParam: e.p.RegParam, ElasticNetParam: e.p.ElasticNetParam,
		NoIntercept: e.p.FitIntercept != nil && !*e.p.FitIntercept, Standardization: boolOr(e.p.Standardization, true),
		Solver: solver, Optimizer: s}, nil
}

func (e *linearEst) fit(ctx context.Context, x cluster.Cluster, ds *cluster.Dataset, progress func(ml.Progress) bool, ck *checkpointer) (ml.Model, error) {
	lr, err := e.build(progress)
	if err != nil {
		return nil, err
	}
	ck.optimizer(ctx, &lr.Optimizer)
	return lr.Fit(ctx, x, ds)
}

func (e *linearEst) with(p ml.Params) (estimator, error) {
	c := *e
	return &c, setRegularised(&c.p, p)
}

func (e *linearEst) estimator(progress func(ml.Progress) bool) ml.Estimator {
	lr, _ := e.build(progress)
	return lr
}
func (e *linearEst) maxIter() int {
	if e.p.Solver == "normal" {
		return 1 // a direct solve reports itself as one iteration
	}
	return iterOr(e.p.MaxIter, 100)
}

type logisticEst struct {
	p       LogisticParams
	classes int
}

func (e *logisticEst) build(progress func(ml.Progress) bool) (ml.LogisticRegression, error) {
	s, err := settings(e.p.Regularised, progress)
	if err != nil {
		return ml.LogisticRegression{}, err
	}
	return ml.LogisticRegression{RegParam: e.p.RegParam, ElasticNetParam: e.p.ElasticNetParam,
		NoIntercept: e.p.FitIntercept != nil && !*e.p.FitIntercept, Standardization: boolOr(e.p.Standardization, true),
		Family: e.p.Family, Classes: e.classes, Optimizer: s}, nil
}

func (e *logisticEst) fit(ctx context.Context, x cluster.Cluster, ds *cluster.Dataset, progress func(ml.Progress) bool, ck *checkpointer) (ml.Model, error) {
	lr, err := e.build(progress)
	if err != nil {
		return nil, err
	}
	ck.optimizer(ctx, &lr.Optimizer)
	return lr.Fit(ctx, x, ds)
}

func (e *logisticEst) with(p ml.Params) (estimator, error) {
	c := *e
	return &c, setRegularised(&c.p.Regularised, p)
}

func (e *logisticEst) estimator(progress func(ml.Progress) bool) ml.Estimator {
	lr, _ := e.build(progress)
	return lr
}
func (e *logisticEst) maxIter() int { return iterOr(e.p.MaxIter, 100) }

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
