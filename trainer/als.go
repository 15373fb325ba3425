package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/features"
	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/ml/als"
	"github.com/flintml/flint/models"
)

// ratingsDecoder turns records into (user, item, rating) rows through the
// job's schema, the layout package als reads. A numeric user or item field
// is its integer id; a categorical one is a name, mapped to its id in the
// sorted names of the job's records (ratingsArg.UserKeys, ItemKeys).
const ratingsDecoderName = "trainer.ratings"

type ratingsArg struct {
	Schema             features.Schema
	User, Item, Rating string
	SkipBad            bool
	// UserKeys and ItemKeys are the distinct names of a categorical user
	// or item field in the job's records, sorted (als.SortKeys): a name's
	// id is its position. nil for a numeric field.
	UserKeys, ItemKeys []string
}

type ratingsDecoder struct {
	a             ratingsArg
	row           features.Row
	user, item, r int
	ids           [2]map[string]int64 // name → id of a categorical user, item field
}

func init() {
	cluster.RegisterDecoder(ratingsDecoderName, func(arg []byte) (cluster.RowDecoder, error) {
		var a ratingsArg
		if err := json.Unmarshal(arg, &a); err != nil {
			return nil, err
		}
		d := &ratingsDecoder{a: a, row: a.Schema.NewRow(), user: a.Schema.Index(a.User), item: a.Schema.Index(a.Item), r: a.Schema.Index(a.Rating)}
		if d.user < 0 || d.item < 0 || d.r < 0 {
			return nil, errors.New("user, item or rating field missing from the schema")
		}
		for s, keys := range [][]string{a.UserKeys, a.ItemKeys} {
			if keys != nil {
				d.ids[s] = make(map[string]int64, len(keys))
				for id, k := range keys {
					d.ids[s][k] = int64(id)
				}
			}
		}
		return d, nil
	})
}

func (d *ratingsDecoder) Layout() (bool, int) { return false, 3 }

func (d *ratingsDecoder) Decode(b *cluster.Builder, v []byte) error {
	err := d.decode(b, v)
	if err != nil && d.a.SkipBad {
		b.Skip()
		return nil
	}
	return err
}

// id reads the user (side 0) or item (side 1) id of the decoded row.
func (d *ratingsDecoder) id(side int) (float64, error) {
	i, name := d.user, d.a.User
	if side == 1 {
		i, name = d.item, d.a.Item
	}
	v := d.row[i]
	if ids := d.ids[side]; ids != nil {
		id, ok := ids[v.Str]
		if v.Missing || !ok {
			return 0, &features.FieldError{Field: name, Err: fmt.Errorf("id %q is not among the names the job's records hold", v.Str)}
		}
		return float64(id), nil
	}
	x := v.Num
	if v.Missing || x != math.Trunc(x) || math.Abs(x) >= 1<<53 {
		return 0, &features.FieldError{Field: name, Err: fmt.Errorf("want an integer id, got %v", x)}
	}
	return x, nil
}

func (d *ratingsDecoder) decode(b *cluster.Builder, v []byte) error {
	if err := d.a.Schema.Decode(d.row, v); err != nil {
		return err
	}
	u, err := d.id(0)
	if err != nil {
		return err
	}
	it, err := d.id(1)
	if err != nil {
		return err
	}
	r := d.row[d.r]
	if r.Missing {
		return &features.FieldError{Field: d.a.Rating, Err: errors.New("missing")}
	}
	return b.AddDense([]float64{u, it, r.Num}, 0, 1)
}

// keysArg is the broadcast of the names scan: which of the user and item
// fields are categorical.
type keysArg struct {
	Schema               features.Schema
	User, Item           string
	UserNames, ItemNames bool
	SkipBad              bool
}

// keysPartial is the distinct names seen in some sources.
type keysPartial struct {
	Users, Items map[string]bool
	row          features.Row // scratch, not encoded
}

// keysScan collects the distinct names of the categorical user and item
// fields. The result is a set, so it is the same for any number of workers;
// sorting it (als.SortKeys) gives the ids.
var keysScan = cluster.RegisterScan(&cluster.ScanTask[keysArg, keysPartial]{
	Name: "trainer.als_names",
	New:  func(*keysArg) *keysPartial { return &keysPartial{Users: map[string]bool{}, Items: map[string]bool{}} },
	Value: func(a *keysArg, acc *keysPartial, v []byte, where func() string) error {
		if acc.row == nil {
			acc.row = a.Schema.NewRow()
		}
		row := acc.row
		if err := a.Schema.Decode(row, v); err != nil {
			if a.SkipBad {
				return nil // the decoder skips (or dead-letters) it too
			}
			return fmt.Errorf("%s: %w", where(), err)
		}
		for _, s := range []struct {
			on    bool
			field string
			set   map[string]bool
		}{{a.UserNames, a.User, acc.Users}, {a.ItemNames, a.Item, acc.Items}} {
			if f := row[a.Schema.Index(s.field)]; s.on && !f.Missing {
				s.set[f.Str] = true
			}
		}
		return nil
	},
	Combine: func(dst, src *keysPartial) {
		for k := range src.Users {
			dst.Users[k] = true
		}
		for k := range src.Items {
			dst.Items[k] = true
		}
	},
})

// alsNames returns the sorted names of the categorical user and item
// fields of the job's records (nil for a numeric field), by a scan of the
// sources when either is categorical.
func (j *job) alsNames(ctx context.Context, sources []cluster.Source, skip bool) (users, items []string, err error) {
	p, s := j.spec.Algorithm.ALS, j.spec.Schema
	categorical := func(f string) bool { return s.Fields[s.Index(f)].Type == features.Categorical }
	arg := &keysArg{Schema: s, User: p.User, Item: p.Item, UserNames: categorical(p.User), ItemNames: categorical(p.Item), SkipBad: skip}
	if !arg.UserNames && !arg.ItemNames {
		return nil, nil, nil
	}
	j.obs.Phase("collecting user and item names")
	got, err := cluster.Scan(ctx, j.engine, j.opt.Log, sources, keysScan, arg)
	if err != nil {
		return nil, nil, fmt.Errorf("trainer: als: collect the names of %s and %s: %w", p.User, p.Item, err)
	}
	sorted := func(on bool, set map[string]bool) []string {
		if !on {
			return nil
		}
		names := make([]string, 0, len(set))
		for k := range set {
			names = append(names, k)
		}
		return als.SortKeys(names)
	}
	return sorted(arg.UserNames, got.Users), sorted(arg.ItemNames, got.Items), nil
}

// runALS factorises the ratings and publishes the factors (with the names
// of string ids), its metrics beside those of a most-popular baseline.
func (j *job) runALS(ctx context.Context) (*Result, error) {
	spec := j.spec
	p := spec.Algorithm.ALS
	res := &Result{Model: spec.Output.Model, Algorithm: "als"}
	if res.Model == "" {
		res.Model = spec.Name
	}
	users, items, ratings, err := j.alsRatings(ctx, res)
	if err != nil {
		return nil, err
	}
	frac := spec.Evaluation.TestFraction
	if frac == 0 {
		frac = 0.2
	}
	train, test := als.Split(ratings, frac, seedOr(spec.Evaluation.Seed))
	res.TrainRows, res.TestRows = len(train), len(test)
	cfg := als.Config{Rank: p.Rank, MaxIter: p.MaxIter, Lambda: p.RegParam, Implicit: p.Implicit, Alpha: p.Alpha,
		NonNegative: p.Nonnegative, Seed: seedOr(p.Seed), ColdStart: p.ColdStart, MaxBroadcastBytes: p.MaxBroadcastB,
		KeepRated: true, Biases: p.Biases}
	if grid := spec.Evaluation.Grid; len(grid) > 0 {
		if cfg, err = j.alsGrid(ctx, res, cfg, train, test); err != nil {
			return nil, err
		}
	}
	j.obs.Phase("training als")
	cfg.Progress = j.alsProgress(0, cfg.MaxIter)
	wire(ctx, j.ckpt, &cfg.Checkpointing)
	m, err := als.Fit(ctx, j.engine, train, cfg)
	if err != nil {
		return nil, fmt.Errorf("trainer: als: %w", err)
	}
	j.obs.Phase("evaluating")
	res.Metrics = alsMetrics(m, train, test, p)
	if err := m.SetKeys(users, items); err != nil {
		return nil, fmt.Errorf("trainer: als: %w", err)
	}
	params, err := m.MarshalBinary()
	if err != nil {
		return nil, err
	}
	j.obs.Phase("publishing")
	return j.publish(ctx, res, &models.Artifact{Algorithm: "als", FlintVersion: j.opt.FlintVersion, Params: params,
		Metrics: res.Metrics, Spec: j.opt.SpecText, Lineage: res.Lineage})
}

// alsRatings pins the sources, collects the names of string ids, and
// reads the ratings (ids mapped to the names' positions) to the driver.
func (j *job) alsRatings(ctx context.Context, res *Result) (users, items []string, ratings []als.Rating, err error) {
	spec := j.spec
	p := spec.Algorithm.ALS
	j.obs.Phase("planning the source")
	sources, err := j.pinSources(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	res.Lineage = lineage(sources)
	skip := spec.OnBadRecord == "skip" || spec.OnBadRecord == "dead_letter"
	if users, items, err = j.alsNames(ctx, sources, skip); err != nil {
		return nil, nil, nil, err
	}
	arg, err := json.Marshal(ratingsArg{Schema: spec.Schema, User: p.User, Item: p.Item, Rating: p.Rating, SkipBad: skip,
		UserKeys: users, ItemKeys: items})
	if err != nil {
		return nil, nil, nil, err
	}
	for i := range sources {
		sources[i].Format = cluster.Format{Kind: "custom", Decoder: ratingsDecoderName, Arg: arg, Header: sources[i].Format.Header}
	}
	if spec.OnBadRecord == "dead_letter" {
		if res.DeadLetter, err = j.deadLetter(ctx, spec.Schema, sources); err != nil {
			return nil, nil, nil, err
		}
	}
	j.obs.Phase("caching ratings")
	ds, err := j.load(ctx, sources)
	if err != nil {
		return nil, nil, nil, err
	}
	res.Rows, res.Skipped = ds.Rows(), ds.Skipped()
	ratings, err = als.Collect(ctx, j.engine, ds)
	j.engine.Drop(ds)
	return users, items, ratings, err
}

// alsGrid fits every grid point and returns cfg with the one of the lowest
// held-out RMSE.
func (j *job) alsGrid(ctx context.Context, res *Result, cfg als.Config, train, test []als.Rating) (als.Config, error) {
	grid := j.spec.Evaluation.Grid
	j.obs.Phase(fmt.Sprintf("searching %d grid points", gridSize(grid)))
	best := math.Inf(1)
	for i, pt := range combinations(grid) {
		c := withALS(cfg, pt)
		c.Progress = j.alsProgress(i+1, c.MaxIter)
		m, err := als.Fit(ctx, j.engine, train, c)
		if err != nil {
			return cfg, fmt.Errorf("trainer: grid point %s: %w", pt, err)
		}
		rmse, _ := m.RMSE(test)
		j.log.Info("trainer: grid point", "params", pt.String(), "rmse", rmse)
		if rmse < best {
			best, res.Best = rmse, pt
		}
	}
	return withALS(cfg, res.Best), nil
}

// alsMetrics measures the model on the held-out ratings: RMSE, and the
// ranking metrics at k of its recommendations beside those of recommending
// the most-rated training items to the same users (the "_popular"
// metrics), so that a model worse than that trivial answer shows.
func alsMetrics(m *als.Model, train, test []als.Rating, p *ALSParams) map[string]float64 {
	rmse, n := m.RMSE(test)
	out := map[string]float64{"rmse": rmse, "rated_test_pairs": float64(n)}
	k := p.RankingK
	if k == 0 {
		k = 10
	}
	threshold := 0.0
	if !p.Implicit {
		threshold = 3.5 // an explicit rating counts as relevant above the middle of a 1–5 scale
	}
	relevant := func(r als.Rating) bool { return r.Value > threshold }
	if rk, err := als.EvaluateRanking(m, train, test, k, relevant); err == nil {
		out["precision_at_k"], out["recall_at_k"], out["ndcg_at_k"], out["map"] = rk.Precision, rk.Recall, rk.NDCG, rk.MAP
	}
	if rk, err := als.EvaluatePopular(train, test, k, relevant); err == nil {
		out["precision_at_k_popular"], out["recall_at_k_popular"], out["ndcg_at_k_popular"], out["map_popular"] = rk.Precision, rk.Recall, rk.NDCG, rk.MAP
	}
	return out
}

// alsProgress reports ALS iterations to the observer. ALS computes no loss
// while it iterates (the RMSE is measured once, on the held-out ratings).
func (j *job) alsProgress(trial, maxIter int) func(als.Progress) {
	return func(p als.Progress) {
		j.obs.Iteration(trial, ml.Progress{Iter: p.Iter, Loss: math.NaN(), GradNorm: math.NaN(), Elapsed: p.Elapsed}, iterOr(maxIter, 10))
	}
}

func withALS(c als.Config, p ml.Params) als.Config {
	for name, v := range p {
		switch name {
		case "rank":
			c.Rank = int(v)
		case "reg_param":
			c.Lambda = v
		case "alpha":
			c.Alpha = v
		case "max_iter":
			c.MaxIter = int(v)
		}
	}
	return c
}
