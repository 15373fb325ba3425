package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/flintml/flint/features/stream"
	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/models"
)

// run is the one flow every algorithm goes through: plan → pin sources →
// fit the pipeline → cache → select (grid and/or cross-validation) →
// refit → evaluate → publish.
func (j *job) run(ctx context.Context) (*Result, error) {
	spec := j.spec
	name, a, _ := spec.Algorithm.chosen()
	res := &Result{Model: orDefault(spec.Output.Model, spec.Name), Algorithm: name}

	j.obs.Phase("planning the source")
	sources, testSources, err := j.pinSources(ctx)
	if err != nil {
		return nil, err
	}
	res.Lineage = lineage(sources)
	if spec.Promote != nil {
		res.Holdout = lineage(testSources)
		j.holdout = holdoutSources(testSources)
	}
	if spec.warmStart() || spec.Promote != nil {
		if j.prev, err = j.loadPrevious(ctx, res.Model); err != nil {
			return nil, err
		}
	}
	j.warm = j.newWarmState(res)

	env := &fitEnv{job: j, engine: j.engine, progress: func(ml.Progress) {}}
	all, test, err := j.prepare(ctx, a, env, sources, testSources, res)
	if err != nil {
		return nil, err
	}
	train, test, err := j.holdOut(ctx, all, test, res)
	if err != nil {
		return nil, err
	}
	res.TrainRows = train.rows()
	if test != nil {
		res.TestRows = test.rows()
	}

	metrics := spec.Evaluation.Metrics
	if len(metrics) == 0 {
		metrics = a.reports()
	}
	if spec.Promote != nil && !slices.Contains(metrics, spec.promoteMetric(a)) {
		metrics = append(slices.Clone(metrics), spec.promoteMetric(a))
	}
	model, cv, err := j.choose(ctx, a, env, train, metrics, res)
	if err != nil {
		return nil, err
	}

	profile, err := j.profile(ctx, env, train)
	if err != nil {
		return nil, err
	}

	j.obs.Phase("evaluating")
	evalOn := test
	if evalOn == nil {
		evalOn = train
	} else {
		train.drop() // only the held-out rows are needed from here (ALS's ratings stay with the model)
	}
	if res.Metrics, err = model.score(ctx, env, evalOn, metrics); err != nil {
		return nil, fmt.Errorf("%w (evaluating on the %s)", err, res.EvaluatedOn)
	}
	for k, v := range cv {
		res.Metrics[k] = v
	}

	j.obs.Phase("publishing")
	art := &models.Artifact{FlintVersion: j.opt.FlintVersion, Metrics: res.Metrics, Spec: j.opt.SpecText, Lineage: res.Lineage}
	if art.Algorithm, art.Params, err = model.encode(env); err != nil {
		return nil, err
	}
	if env.pipe != nil {
		if art.Pipeline, err = json.Marshal(env.pipe); err != nil {
			return nil, err
		}
	}
	art.Extra = map[string][]byte{}
	if env.features != nil {
		sec, err := artifactSection(*env.features)
		if err != nil {
			return nil, err
		}
		art.Extra[stream.ArtifactSection] = sec
	}
	if profile != nil {
		art.Extra[profileSection] = profile
	}
	if art.Extra[trainingSection], err = json.Marshal(j.training(j.warm, res)); err != nil {
		return nil, err
	}
	if spec.Promote != nil {
		if err := j.challenge(ctx, env, evalOn, res); err != nil {
			return nil, err
		}
	}
	evalOn.drop()
	return j.publish(ctx, res, art)
}

// choose selects the parameters (a grid search) or cross-validates the
// algorithm's own (folds without a grid), and fits the model the job
// publishes: again on all the training rows after a search unless refit
// is false. cv holds the cross-validation figures to report.
func (j *job) choose(ctx context.Context, a algo, env *fitEnv, train data, metrics []string, res *Result) (model fitted, cv map[string]float64, err error) {
	ev := j.spec.Evaluation
	cv = map[string]float64{}
	final := a
	switch {
	case len(ev.Grid) > 0:
		sel := j.selectMetric(a)
		j.obs.Phase(fmt.Sprintf("searching %d grid points", gridSize(ev.Grid)))
		var best *Trial
		if final, model, best, err = j.search(ctx, a, env, train, sel, res); err != nil {
			return nil, nil, err
		}
		if len(best.Folds) > 0 {
			cv[sel+"_cv_mean"], cv[sel+"_cv_std"] = best.Score, best.Std
		}
	case ev.Folds > 0:
		j.obs.Phase(fmt.Sprintf("cross-validating on %d folds", ev.Folds))
		if cv, err = j.crossValidate(ctx, a, env, train, metrics); err != nil {
			return nil, nil, err
		}
	}
	if model == nil {
		res.Refit = len(ev.Grid) > 0
		j.obs.Phase("training " + res.Algorithm)
		if model, err = j.fitFinal(ctx, final, env, train, res); err != nil {
			return nil, nil, err
		}
	}
	return model, cv, nil
}

// holdOut returns the training rows and the rows the metrics are reported
// on: the test source's when evaluation.test is given, a seeded random
// share of test_fraction (default 0.2), or none for test_fraction: 0 (the
// metrics are then the training rows').
func (j *job) holdOut(ctx context.Context, all, test data, res *Result) (data, data, error) {
	if test != nil {
		res.EvaluatedOn = "test source"
		if j.spec.Promote != nil {
			res.EvaluatedOn = "held-out recent records"
		}
		return all, test, nil
	}
	frac := j.spec.Evaluation.testFraction()
	if frac == 0 {
		res.EvaluatedOn = "training rows"
		return all, nil, nil
	}
	train, test, err := all.splitOff(ctx, frac, seedOr(j.spec.Evaluation.Seed)) // all is released: the halves hold its rows
	if err != nil {
		return nil, nil, err
	}
	if train.rows() == 0 || test.rows() == 0 {
		return nil, nil, fmt.Errorf("trainer: evaluation.test_fraction %v of %d rows leaves %d to train on and %d to test on; both need rows", frac, all.rows(), train.rows(), test.rows())
	}
	res.EvaluatedOn = "held-out rows"
	return train, test, nil
}

// selectMetric is the metric a grid chooses by: the first of
// evaluation.metrics, else the algorithm's.
func (j *job) selectMetric(a algo) string {
	if m := j.spec.Evaluation.Metrics; len(m) > 0 {
		return m[0]
	}
	return a.selectBy()
}

// fitFinal fits the model the job publishes, with checkpoints, and records
// how many iterations it ran and why it stopped.
func (j *job) fitFinal(ctx context.Context, a algo, env *fitEnv, train data, res *Result) (fitted, error) {
	var last ml.Progress
	seen := false
	fe := *env
	fe.ckpt = j.ckpt
	fe.warm = j.warm
	fe.progress = func(p ml.Progress) {
		last, seen = p, true
		j.obs.Iteration(0, p, a.maxIter())
	}
	m, err := a.fit(ctx, &fe, train)
	if err != nil {
		return nil, fmt.Errorf("trainer: %s: %w", res.Algorithm, err)
	}
	if seen {
		res.Iterations, res.Stop = last.Iter, stopReason(last, a.maxIter())
	}
	return m, nil
}

// stopReason is why a fit whose last report was p stopped.
func stopReason(p ml.Progress, maxIter int) string {
	if p.Stop != "" {
		return p.Stop
	}
	if p.Iter >= maxIter {
		return fmt.Sprintf("max_iter %d reached", maxIter)
	}
	return "converged"
}

// crossValidate fits a on each of k folds of train and returns the mean
// and standard deviation of each metric over the folds' test rows, as
// <metric>_cv_mean and <metric>_cv_std.
func (j *job) crossValidate(ctx context.Context, a algo, env *fitEnv, train data, metrics []string) (map[string]float64, error) {
	ev := j.spec.Evaluation
	folds, err := train.folds(ctx, ev.Folds, seedOr(ev.Seed))
	if err != nil {
		return nil, err
	}
	defer folds.drop()
	per := map[string][]float64{}
	k := folds.len()
	for i := range k {
		f, done, err := folds.fold(ctx, i)
		if err != nil {
			return nil, fmt.Errorf("trainer: fold %d of %d: %w", i+1, k, err)
		}
		fe := *env
		fe.progress = func(p ml.Progress) { j.obs.Iteration(1, p, a.maxIter()) }
		s, err := fitScore(ctx, a, &fe, f, metrics)
		done()
		if err != nil {
			return nil, fmt.Errorf("trainer: fold %d of %d: %w", i+1, k, err)
		}
		for _, n := range metrics {
			per[n] = append(per[n], s[n])
		}
	}
	out := map[string]float64{}
	for n, v := range per {
		out[n+"_cv_mean"], out[n+"_cv_std"] = ml.MeanStd(v)
	}
	return out, nil
}

var errAllTrialsFailed = errors.New("trainer: every grid point failed")
