package trainer

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/flintml/flint/ml"
)

// Trial is one grid point of a search: its score by the selection metric
// (the mean over the folds with cross-validation, else on the validation
// rows), or why it failed.
type Trial struct {
	Params ml.Params `json:"params"`
	Metric string    `json:"metric"`
	Score  float64   `json:"score"`
	Std    float64   `json:"std,omitempty"`   // over the folds
	Folds  []float64 `json:"folds,omitempty"` // each fold's score
	Err    string    `json:"error,omitempty"` // the point failed: it is skipped
}

// search scores every grid point on rows that are never the ones the job
// reports on: by k-fold cross-validation of the training rows with
// evaluation.folds, else on a validation share of them
// (evaluation.validation_fraction). A point whose fit or score fails is
// logged and skipped; the search fails only when every point does. It
// returns the chosen parameters and, when evaluation.refit is false, the
// model the search fitted with them (nil: refit on all the training rows).
func (j *job) search(ctx context.Context, a algo, env *fitEnv, train data, metric string, res *Result) (algo, fitted, *Trial, error) {
	ev := j.spec.Evaluation
	larger, _ := largerIsBetter(metric)
	points := combinations(ev.Grid)
	var (
		folds    foldSet
		fitPart  data
		valPart  data
		err      error
		bestFit  fitted
		bestIdx  = -1
		keepBest = !ev.refit()
		fits     = make([]fitted, len(points))
	)
	trials := make([]Trial, len(points))
	for i, p := range points {
		trials[i] = Trial{Params: p, Metric: metric}
	}
	if ev.Folds > 0 {
		if folds, err = train.folds(ctx, ev.Folds, seedOr(ev.Seed)); err != nil {
			return nil, nil, nil, err
		}
		defer folds.drop()
		if err := j.crossValidateTrials(ctx, a, env, trials, folds); err != nil {
			return nil, nil, nil, err
		}
	} else {
		// A seed of its own, so the validation share is not the test
		// split's pattern again.
		if fitPart, valPart, err = train.split(ctx, ev.validationFraction(), seedOr(ev.Seed)^0x5bd1e995); err != nil {
			return nil, nil, nil, err
		}
		defer fitPart.drop()
		defer valPart.drop()
		for i := range trials {
			m, err := j.trial(ctx, a, env, i+1, &trials[i], fitPart, valPart)
			if err != nil {
				if ctx.Err() != nil {
					return nil, nil, nil, ctx.Err()
				}
				trials[i].Err = err.Error()
			}
			fits[i] = m
		}
	}
	for i, t := range trials {
		if t.Err != "" {
			j.log.Warn("trainer: grid point failed; skipping it", "params", t.Params.String(), "err", t.Err)
		} else {
			if len(t.Folds) > 0 {
				j.log.Info("trainer: grid point", "params", t.Params.String(), metric, t.Score, "std", t.Std)
			} else {
				j.log.Info("trainer: grid point", "params", t.Params.String(), metric, t.Score)
			}
			if bestIdx < 0 || (larger && t.Score > res.Trials[bestIdx].Score) || (!larger && t.Score < res.Trials[bestIdx].Score) {
				bestIdx = len(res.Trials)
				if keepBest {
					bestFit = fits[i]
				}
			}
		}
		res.Trials = append(res.Trials, t)
	}
	if bestIdx < 0 {
		var why []string
		for _, t := range res.Trials {
			why = append(why, fmt.Sprintf("%s: %s", t.Params, t.Err))
		}
		return nil, nil, nil, fmt.Errorf("%w: %s", errAllTrialsFailed, strings.Join(why, "; "))
	}
	best := &res.Trials[bestIdx]
	res.Best = best.Params
	chosen, err := a.with(best.Params)
	if err != nil {
		return nil, nil, nil, err
	}
	return chosen, bestFit, best, nil
}

// trial scores one grid point by a fit on fitPart scored on valPart, and
// returns the fitted model.
func (j *job) trial(ctx context.Context, a algo, env *fitEnv, n int, t *Trial, fitPart, valPart data) (fitted, error) {
	pa, err := a.with(t.Params)
	if err != nil {
		return nil, err
	}
	fe := *env
	fe.progress = func(pr ml.Progress) { j.obs.Iteration(n, pr, pa.maxIter()) }
	m, err := pa.fit(ctx, &fe, fitPart)
	if err != nil {
		return nil, err
	}
	s, err := m.score(ctx, &fe, valPart, []string{t.Metric})
	if err != nil {
		return nil, fmt.Errorf("%w (on the validation rows)", err)
	}
	t.Score = s[t.Metric]
	return m, nil
}

// crossValidateTrials scores every grid point by cross-validation, fold
// by fold: each fold is made once and every point not failed yet is
// fitted on it and scored, so folds that are copies (a remote cluster's)
// are made one at a time and dropped before the next. A point that fails
// on a fold gets the error and is not fitted again.
func (j *job) crossValidateTrials(ctx context.Context, a algo, env *fitEnv, trials []Trial, folds foldSet) error {
	pas := make([]algo, len(trials))
	for n := range trials {
		var err error
		if pas[n], err = a.with(trials[n].Params); err != nil {
			trials[n].Err = err.Error()
		}
	}
	k := folds.len()
	for i := range k {
		f, done, err := folds.fold(ctx, i)
		if err != nil {
			return fmt.Errorf("trainer: fold %d of %d: %w", i+1, k, err)
		}
		for n := range trials {
			t := &trials[n]
			if t.Err != "" {
				continue
			}
			fe := *env
			fe.progress = func(pr ml.Progress) { j.obs.Iteration(n+1, pr, pas[n].maxIter()) }
			s, err := fitScore(ctx, pas[n], &fe, f, []string{t.Metric})
			if err != nil {
				if ctx.Err() != nil {
					done()
					return ctx.Err()
				}
				t.Err = fmt.Sprintf("fold %d of %d: %v", i+1, k, err)
				continue
			}
			t.Folds = append(t.Folds, s[t.Metric])
		}
		done()
	}
	for n := range trials {
		if trials[n].Err == "" {
			trials[n].Score, trials[n].Std = ml.MeanStd(trials[n].Folds)
		}
	}
	return nil
}

// fitScore fits a on a fold's training rows and scores it on its test
// rows.
func fitScore(ctx context.Context, a algo, env *fitEnv, f fold, metrics []string) (map[string]float64, error) {
	m, err := a.fit(ctx, env, f.train)
	if err != nil {
		return nil, err
	}
	return m.score(ctx, env, f.test, metrics)
}

// largerIsBetter says which way a metric improves; ok is false for a name
// that is no metric.
func largerIsBetter(metric string) (larger, ok bool) {
	switch metric {
	case "inertia", "rmse", "mae", "logloss":
		return false, true
	case "silhouette", "r2", "accuracy", "f1", "precision", "recall", "auc",
		"precision_at_k", "recall_at_k", "ndcg_at_k", "map":
		return true, true
	}
	return ml.LargerIsBetter(metric)
}

// combinations lists a grid's points, names sorted, the last varying fastest.
func combinations(grid map[string][]float64) []ml.Params {
	names := make([]string, 0, len(grid))
	for n := range grid {
		names = append(names, n)
	}
	sort.Strings(names)
	out := []ml.Params{{}}
	for _, n := range names {
		var next []ml.Params
		for _, c := range out {
			for _, v := range grid[n] {
				p := ml.Params{n: v}
				for k, cv := range c {
					p[k] = cv
				}
				next = append(next, p)
			}
		}
		out = next
	}
	return out
}

func gridSize(g map[string][]float64) int {
	n := 1
	for _, v := range g {
		n *= len(v)
	}
	return n
}
