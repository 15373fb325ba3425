package trainer

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/flintml/flint/features"
	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/ml/als"
)

// ALSParams configures alternating least squares.
type ALSParams struct {
	User          string   `yaml:"user" doc:"Field holding the user id: a numeric field of integer ids, or a categorical field of string ids (UUIDs, SKUs), mapped to integers in sorted order and stored with the model." required:"true"`
	Item          string   `yaml:"item" doc:"Field holding the item id: numeric (integer ids) or categorical (string ids), as for user." required:"true"`
	Rating        string   `yaml:"rating" doc:"Field holding the rating (or interaction strength for implicit feedback)." required:"true"`
	Rank          int      `yaml:"rank" doc:"Number of latent factors (default 10)."`
	RegParam      float64  `yaml:"reg_param" doc:"Regularisation λ, scaled by each user's and item's number of ratings (default 0.1)."`
	Implicit      bool     `yaml:"implicit_prefs" doc:"Treat ratings as implicit feedback (confidence weighting)."`
	Alpha         float64  `yaml:"alpha" doc:"Confidence scale for implicit feedback (default 1)."`
	Nonnegative   bool     `yaml:"nonnegative" doc:"Constrain factors to be non-negative."`
	MaxIter       int      `yaml:"max_iter" doc:"Iterations (default 10)."`
	Tol           float64  `yaml:"tol" doc:"Stop before max_iter once the objective (squared errors plus the regularisation) changes by no more than this fraction of itself from one iteration to the next (default 0: run max_iter iterations). Each row's solve yields its term of the objective, so measuring it costs next to nothing. A warm start saves iterations only with tol."`
	ColdStart     string   `yaml:"cold_start_strategy" doc:"nan (default, as MLlib: a prediction for a user or item the training ratings lack is NaN, and so is an error metric of held-out ratings holding one, which fails the job naming how many) or drop (such ratings are left out of evaluation)."`
	Seed          uint64   `yaml:"seed" doc:"Seed (default 1)."`
	RankingK      int      `yaml:"ranking_k" doc:"k for precision@k, recall@k and NDCG@k (default 10). The job reports them (precision_at_k, recall_at_k, ndcg_at_k, map) beside the same metrics of recommending the most-rated training items to the same users (precision_at_k_popular, recall_at_k_popular, ndcg_at_k_popular, map_popular), so a model worse than that trivial answer shows."`
	Relevance     *float64 `yaml:"relevance_threshold" doc:"A held-out rating counts as relevant to its user in the ranking metrics when it is above this (default 3.5 for explicit ratings, the middle of a 1–5 scale; 0 for implicit feedback: any interaction)."`
	ExcludeRated  *bool    `yaml:"exclude_rated" doc:"Leave items a user rated in training out of their ranking evaluation (default true)."`
	MaxBroadcastB int64    `yaml:"max_broadcast_bytes" doc:"Bound on the factor matrix broadcast to workers (default 1 GiB)."`
	Biases        bool     `yaml:"biases" doc:"Learn a bias per user and per item with the factors (biased matrix factorisation): a rating is predicted as the mean rating + user bias + item bias + the factors' dot product; the biases are regularised by reg_param. Explicit feedback only, not with nonnegative."`
}

func (p *ALSParams) check(s *Spec, path string, at func(path, format string, args ...any)) {
	for _, f := range []struct{ key, name string }{{"user", p.User}, {"item", p.Item}, {"rating", p.Rating}} {
		switch {
		case f.name == "":
			at(path+"."+f.key, "required: the schema field holding the %s", f.key)
		case s.Schema.Index(f.name) < 0:
			at(path+"."+f.key, "no schema field named %q", f.name)
		}
	}
	for _, f := range []struct{ key, name string }{{"user", p.User}, {"item", p.Item}} {
		if i := s.Schema.Index(f.name); i >= 0 && s.Schema.Fields[i].Type != features.Numeric && s.Schema.Fields[i].Type != features.Categorical {
			at(path+"."+f.key, "field %q must be numeric (integer ids) or categorical (string ids), not %s", f.name, s.Schema.Fields[i].Type)
		}
	}
	if i := s.Schema.Index(p.Rating); i >= 0 && s.Schema.Fields[i].Type != features.Numeric {
		at(path+".rating", "field %q must be numeric (ratings)", p.Rating)
	}
	if p.Biases && (p.Implicit || p.Nonnegative) {
		at(path+".biases", "biases apply to explicit feedback without nonnegative factors; drop implicit_prefs and nonnegative, or biases")
	}
	if p.Rank < 0 || p.MaxIter < 0 || p.RegParam < 0 || p.Alpha < 0 || p.RankingK < 0 || p.MaxBroadcastB < 0 || p.Tol < 0 {
		at(path, "rank, max_iter, reg_param, alpha, ranking_k, max_broadcast_bytes and tol must not be negative")
	}
	switch p.ColdStart {
	case "", "nan", "drop":
	default:
		at(path+".cold_start_strategy", "want nan or drop, got %q", p.ColdStart)
	}
	if len(s.Transforms) > 0 {
		at("transforms", "als reads user, item and rating fields directly; it takes no transforms")
	}
}

var alsAccuracy = []string{"rmse", "mae", "r2"}

func (p *ALSParams) gridParams() []string { return []string{"rank", "reg_param", "alpha", "max_iter"} }
func (p *ALSParams) metrics() []string {
	return append(slices.Clone(alsAccuracy), "precision_at_k", "recall_at_k", "ndcg_at_k", "map",
		"precision_at_k_popular", "recall_at_k_popular", "ndcg_at_k_popular", "map_popular")
}
func (p *ALSParams) reports() []string { return p.metrics() }
func (p *ALSParams) selectBy() string  { return "rmse" }
func (p *ALSParams) input() inputKind  { return ratingRows }
func (p *ALSParams) maxIter() int      { return iterOr(p.MaxIter, 10) }

func (p *ALSParams) with(g ml.Params) (algo, error) {
	c := *p
	for name, v := range g {
		switch name {
		case "rank":
			c.Rank = int(v)
		case "reg_param":
			c.RegParam = v
		case "alpha":
			c.Alpha = v
		case "max_iter":
			c.MaxIter = int(v)
		default:
			return nil, unknownGrid(p, name)
		}
	}
	return &c, nil
}

func (p *ALSParams) fit(ctx context.Context, f *fitEnv, d data) (fitted, error) {
	cfg := als.Config{Rank: p.Rank, MaxIter: p.MaxIter, Tol: p.Tol, Lambda: p.RegParam, Implicit: p.Implicit, Alpha: p.Alpha,
		NonNegative: p.Nonnegative, Seed: seedOr(p.Seed), ColdStart: p.ColdStart, MaxBroadcastBytes: p.MaxBroadcastB,
		KeepRated: true, Biases: p.Biases, Start: f.warm.als(p, f.ratings)}
	cfg.Progress = func(pr als.Progress) {
		// The loss is the objective with tol, else NaN.
		f.progress(ml.Progress{Iter: pr.Iter, Loss: pr.Loss, GradNorm: math.NaN(), Elapsed: pr.Elapsed, Stop: pr.Stop})
	}
	wire(ctx, f.ckpt, &cfg.Checkpointing)
	train := d.(ratingsData)
	m, err := als.Fit(ctx, f.engine, train, cfg)
	if err != nil {
		return nil, err
	}
	return &alsFit{m: m, p: p, train: train}, nil
}

// alsFit is a fitted factorisation with the ratings it was fitted on (the
// ranking metrics leave them out of each user's candidates).
type alsFit struct {
	m     *als.Model
	p     *ALSParams
	train ratingsData
}

// relevance is the rating above which a held-out rating is relevant.
func (p *ALSParams) relevance() float64 {
	switch {
	case p.Relevance != nil:
		return *p.Relevance
	case p.Implicit:
		return 0
	}
	return 3.5
}

// score measures the model on the held-out ratings: RMSE, MAE and R², and
// the ranking metrics at k of its recommendations beside those of
// recommending the most-rated training items to the same users (the
// "_popular" metrics), so that a model worse than that trivial answer
// shows.
func (a *alsFit) score(_ context.Context, _ *fitEnv, d data, names []string) (map[string]float64, error) {
	test := d.(ratingsData)
	all := map[string]float64{}
	acc := a.m.Accuracy(test)
	all["rmse"], all["mae"], all["r2"] = acc.RMSE, acc.MAE, acc.R2
	k := a.p.RankingK
	if k == 0 {
		k = 10
	}
	threshold := a.p.relevance()
	relevant := func(r als.Rating) bool { return r.Value > threshold }
	if rk, err := als.EvaluateRanking(a.m, a.train, test, k, relevant); err == nil {
		all["precision_at_k"], all["recall_at_k"], all["ndcg_at_k"], all["map"] = rk.Precision, rk.Recall, rk.NDCG, rk.MAP
	}
	if rk, err := als.EvaluatePopular(a.train, test, k, relevant); err == nil {
		all["precision_at_k_popular"], all["recall_at_k_popular"], all["ndcg_at_k_popular"], all["map_popular"] = rk.Precision, rk.Recall, rk.NDCG, rk.MAP
	}
	out := map[string]float64{}
	for _, n := range names {
		v, ok := all[n]
		switch {
		case slices.Contains(alsAccuracy, n) && math.IsNaN(v):
			return nil, a.nanError(n, acc, len(test))
		case !ok || math.IsNaN(v):
			return nil, fmt.Errorf("trainer: metric %s is NaN on %d ratings: no user has a rating above the relevance threshold %v (algorithm.als.relevance_threshold) among them", n, len(test), threshold)
		}
		out[n] = v
	}
	out["rated_test_pairs"] = float64(acc.N)
	return out, nil
}

// nanError says why the error metrics of held-out ratings are NaN.
func (a *alsFit) nanError(metric string, acc als.Accuracy, n int) error {
	if acc.Unseen > 0 && a.m.ColdStart != als.ColdStartDrop {
		return fmt.Errorf("trainer: metric %s is NaN: %d of the %d ratings scored have a user or item the training ratings lack, and algorithm.als.cold_start_strategy is nan; set it to drop to leave them out of evaluation", metric, acc.Unseen, n)
	}
	if acc.N == 0 {
		return fmt.Errorf("trainer: metric %s is NaN: none of the %d ratings scored has both its user and its item in the training ratings", metric, n)
	}
	return fmt.Errorf("trainer: metric %s is NaN: the %d ratings scored are all equal", metric, acc.N)
}

func (a *alsFit) encode(f *fitEnv) (string, []byte, error) {
	if k := f.ratings; k != nil {
		if err := a.m.SetKeys(k.users, k.items); err != nil {
			return "", nil, fmt.Errorf("trainer: als: %w", err)
		}
	}
	params, err := a.m.MarshalBinary()
	return "als", params, err
}
