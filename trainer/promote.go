package trainer

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/features"
	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/models"
)

// Promotion is a run's champion/challenger comparison: the new version
// (the challenger) and the version behind the alias (the champion), scored
// by one metric on the same held-out recent rows, and the decision.
type Promotion struct {
	Alias  string
	Metric string
	Margin float64
	// Champion is the version behind the alias (0: none; ChampionValue is
	// then NaN).
	Champion        int
	ChampionValue   float64
	ChallengerValue float64
	LargerIsBetter  bool
	// Rows is the number of held-out rows both were scored on.
	Rows     int
	Promoted bool
	Reason   string

	beats bool // the challenger is better by the margin (or there is no champion)
}

// challenge scores the champion on the held-out rows the challenger's
// metrics are of (evalOn, from the records of j.holdout) and says whether
// the challenger beats it by the margin; publish adds the floors and
// records the decision.
func (j *job) challenge(ctx context.Context, env *fitEnv, evalOn data, res *Result) error {
	p := j.spec.Promote
	_, a, _ := j.spec.Algorithm.chosen()
	metric := j.spec.promoteMetric(a)
	larger, _ := largerIsBetter(metric)
	pr := &Promotion{Alias: p.Alias, Metric: metric, Margin: p.Margin, ChampionValue: math.NaN(),
		ChallengerValue: res.Metrics[metric], LargerIsBetter: larger, Rows: evalOn.rows()}
	res.Promotion = pr
	if j.prev == nil {
		pr.beats = true
		pr.Reason = fmt.Sprintf("no version behind alias %s: %s %.6g on %d held-out rows", p.Alias, metric, pr.ChallengerValue, pr.Rows)
		return nil
	}
	pr.Champion = j.prev.version
	j.obs.Phase(fmt.Sprintf("scoring version %d (behind %s) on the held-out records", pr.Champion, p.Alias))
	v, rows, err := j.scoreChampion(ctx, metric)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		pr.Reason = fmt.Sprintf("version %d behind %s could not be scored on the held-out rows, so the alias stays: %v", pr.Champion, p.Alias, err)
		return nil
	}
	pr.ChampionValue = v
	gain := pr.ChallengerValue - v
	if !larger {
		gain = -gain
	}
	pr.beats = gain >= p.Margin
	verb := "beats"
	if !pr.beats {
		verb = "does not beat"
	}
	pr.Reason = fmt.Sprintf("challenger %s %.6g %s champion v%d's %.6g by the margin %v (difference %+.4g) on %d held-out rows",
		metric, pr.ChallengerValue, verb, pr.Champion, v, p.Margin, gain, pr.Rows)
	if rows != pr.Rows {
		pr.Reason += fmt.Sprintf(" (the champion's pipeline kept %d of them)", rows)
	}
	return nil
}

// scoreChampion scores the previous version — through its own fitted
// pipeline — on the held-out records, and returns the metric and the
// number of rows it was scored on.
func (j *job) scoreChampion(ctx context.Context, metric string) (float64, int, error) {
	m, ok := j.prev.model.(ml.Model)
	if !ok {
		return 0, 0, fmt.Errorf("its %s parameters do not decode as a supervised model", j.prev.art.Algorithm)
	}
	pipe := new(features.Pipeline)
	if err := json.Unmarshal(j.prev.art.Pipeline, pipe); err != nil {
		return 0, 0, fmt.Errorf("its feature pipeline: %w", err)
	}
	format, err := pipe.Format(j.skipBad())
	if err != nil {
		return 0, 0, err
	}
	src := slices.Clone(j.holdout)
	for i := range src {
		src[i].Format = format
	}
	ds, err := j.load(ctx, j.spec.Name+"[champion]", src)
	if err != nil {
		return 0, 0, err
	}
	defer j.engine.Drop(ds)
	if ds.Rows() == 0 {
		return 0, 0, fmt.Errorf("no held-out record fits its schema")
	}
	ev, err := ml.Evaluate(ctx, j.engine, ds, m)
	if err != nil {
		return 0, 0, err
	}
	v, err := ev.Value(metric)
	if err != nil {
		return 0, 0, err
	}
	if math.IsNaN(v) {
		return 0, 0, fmt.Errorf("its %s is NaN on %d rows: %s", metric, ds.Rows(), nanCause(metric))
	}
	return v, ds.Rows(), nil
}

// promote records the promotion's decision in the model's alias history,
// moving the alias to version v when the challenger beat the champion
// and the floors hold.
func (j *job) promote(ctx context.Context, res *Result, v int) error {
	pr := res.Promotion
	actor := "training job " + j.spec.Name
	if why := thresholdsFail(res.Metrics, j.spec.Output); why != "" {
		pr.Reason = "thresholds failed: " + why + "; " + pr.Reason
	} else {
		pr.Promoted = pr.beats
	}
	holdout := make([]string, len(res.Holdout))
	for i, s := range res.Holdout {
		holdout[i] = s.String()
	}
	c := models.AliasChange{Actor: actor, Reason: pr.Reason, Comparison: &models.Comparison{Metric: pr.Metric, Champion: pr.Champion,
		ChampionValue: pr.ChampionValue, ChallengerValue: pr.ChallengerValue, Margin: pr.Margin, LargerIsBetter: pr.LargerIsBetter,
		Rows: pr.Rows, Holdout: holdout}}
	if !pr.Promoted {
		res.AliasHeld = pr.Reason
		j.log.Info("trainer: alias not moved", "model", res.Model, "alias", pr.Alias, "version", v, "why", pr.Reason)
		if err := j.opt.Registry.HoldAlias(ctx, res.Model, pr.Alias, v, c); err != nil {
			return fmt.Errorf("trainer: record the held alias %s of %s: %w", pr.Alias, res.Model, err)
		}
		return nil
	}
	if err := j.opt.Registry.SetAliasBy(ctx, res.Model, pr.Alias, v, c); err != nil {
		return fmt.Errorf("trainer: move alias %s of %s to version %d: %w", pr.Alias, res.Model, v, err)
	}
	res.Alias = pr.Alias
	return nil
}

// holdoutSources keeps a copy of the held-out sources before prepare sets
// their format to the new pipeline's.
func holdoutSources(src []cluster.Source) []cluster.Source { return slices.Clone(src) }
