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
	"github.com/flintml/flint/ml/kmeans"
	"github.com/flintml/flint/ml/mlp"
	"github.com/flintml/flint/models"
)

// newExtraEstimator builds the supervised algorithms outside package ml.
func newExtraEstimator(spec *Spec, pipe *features.Pipeline) (estimator, error) {
	if p := spec.Algorithm.MLP; p != nil {
		return &mlpEst{p: *p, classes: len(pipe.Classes)}, nil
	}
	return nil, fmt.Errorf("trainer: %s is not a supervised algorithm", spec.Algorithm.Name())
}

type mlpEst struct {
	p       MLPParams
	classes int
}

func (e *mlpEst) config(progress func(ml.Progress) bool) mlp.Config {
	p := e.p
	c := mlp.Config{Hidden: p.Hidden, Activation: mlp.Activation(p.Activation), Optimizer: mlp.Optimizer(p.Optimizer),
		LearningRate: p.LearningRate, BatchSize: p.BatchSize, MaxIter: p.MaxIter, L2: p.L2, Tol: p.Tol,
		Seed: seedOr(p.Seed), Classes: e.classes}
	if c.L2 == 0 {
		c.L2 = 1e-4
	}
	if p.Optimizer == "sgd" {
		c.Momentum = 0.9
	}
	if progress != nil {
		c.Progress = func(pr mlp.Progress) {
			progress(ml.Progress{Iter: pr.Iteration, Loss: pr.Loss, Elapsed: pr.Elapsed})
		}
	}
	return c
}

func (e *mlpEst) fit(ctx context.Context, x cluster.Cluster, ds *cluster.Dataset, progress func(ml.Progress) bool, ck *checkpointer) (ml.Model, error) {
	cfg := e.config(progress)
	wire(ctx, ck, &cfg.CheckpointEvery, &cfg.Checkpoint, &cfg.Resume)
	r, err := mlp.Train(ctx, x, ds, cfg)
	if err != nil {
		return nil, err
	}
	return mlp.AsModel(r.Model), nil
}

func (e *mlpEst) with(p ml.Params) (estimator, error) {
	c := *e
	for name, v := range p {
		switch name {
		case "learning_rate":
			c.p.LearningRate = v
		case "l2":
			c.p.L2 = v
		case "batch_size":
			c.p.BatchSize = int(v)
		case "max_iter":
			c.p.MaxIter = int(v)
		default:
			return nil, fmt.Errorf("trainer: grid parameter %q does not apply to mlp", name)
		}
	}
	return &c, nil
}

func (e *mlpEst) estimator(progress func(ml.Progress) bool) ml.Estimator {
	return mlp.Estimator{Config: e.config(progress)}
}
func (e *mlpEst) maxIter() int { return iterOr(e.p.MaxIter, 2000) }

// runKMeans clusters the feature rows and publishes the centres.
func (j *job) runKMeans(ctx context.Context, res *Result, pipe *features.Pipeline, ds *cluster.Dataset) (*Result, error) {
	p := j.spec.Algorithm.KMeans
	fit := func(trial, k, maxIter int, ck *checkpointer) (*kmeans.Model, error) {
		cfg := kmeans.Config{K: k, Init: p.Init, InitSteps: p.InitSteps, MaxIter: maxIter,
			Tol: p.Tol, Runs: p.Runs, Seed: seedOr(p.Seed)}
		cfg.Progress = func(pr kmeans.Progress) {
			// k-means has no gradient: its progress is the cost alone.
			j.obs.Iteration(trial, ml.Progress{Iter: pr.Iter, Loss: pr.Cost, GradNorm: math.NaN(), Elapsed: pr.Elapsed}, iterOr(maxIter, 20))
		}
		wire(ctx, ck, &cfg.CheckpointEvery, &cfg.Checkpoint, &cfg.Resume)
		return kmeans.Fit(ctx, j.engine, ds, cfg)
	}
	k, maxIter := p.K, p.MaxIter
	if grid := j.spec.Evaluation.Grid; len(grid) > 0 {
		// Inertia always falls as k grows, so the grid is ranked by silhouette.
		best := math.Inf(-1)
		for i, pt := range combinations(grid) {
			kk, mi := k, maxIter
			if v, ok := pt["k"]; ok {
				kk = int(v)
			}
			if v, ok := pt["max_iter"]; ok {
				mi = int(v)
			}
			m, err := fit(i+1, kk, mi, nil)
			if err != nil {
				return nil, fmt.Errorf("trainer: grid point %s: %w", pt, err)
			}
			j.log.Info("trainer: grid point", "params", pt.String(), "silhouette", m.Silhouette, "inertia", m.Inertia)
			if m.Silhouette > best {
				best, res.Best = m.Silhouette, pt
				k, maxIter = kk, mi
			}
		}
	}
	j.obs.Phase(fmt.Sprintf("training kmeans (k = %d)", k))
	m, err := fit(0, k, maxIter, j.ckpt)
	if err != nil {
		return nil, fmt.Errorf("trainer: kmeans: %w", err)
	}
	res.TrainRows = ds.Rows()
	j.engine.Drop(ds)
	res.Metrics = map[string]float64{"inertia": m.Inertia, "silhouette": m.Silhouette, "iterations": float64(m.Iterations)}
	pj, err := json.Marshal(pipe)
	if err != nil {
		return nil, err
	}
	params, err := m.MarshalBinary()
	if err != nil {
		return nil, err
	}
	j.obs.Phase("publishing")
	return j.publish(ctx, res, &models.Artifact{Algorithm: "kmeans", FlintVersion: j.opt.FlintVersion, Pipeline: pj,
		Params: params, Metrics: res.Metrics, Spec: j.opt.SpecText, Lineage: res.Lineage})
}

// ratingsDecoder turns records into (user, item, rating) rows through the
// job's schema, the layout package als reads.
const ratingsDecoderName = "trainer.ratings"

type ratingsArg struct {
	Schema             features.Schema
	User, Item, Rating string
	SkipBad            bool
}

type ratingsDecoder struct {
	a             ratingsArg
	row           features.Row
	user, item, r int
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

func (d *ratingsDecoder) decode(b *cluster.Builder, v []byte) error {
	if err := d.a.Schema.Decode(d.row, v); err != nil {
		return err
	}
	id := func(i int, name string) (float64, error) {
		x := d.row[i].Num
		if d.row[i].Missing || x != math.Trunc(x) || math.Abs(x) >= 1<<53 {
			return 0, &features.FieldError{Field: name, Err: fmt.Errorf("want an integer id, got %v", x)}
		}
		return x, nil
	}
	u, err := id(d.user, d.a.User)
	if err != nil {
		return err
	}
	it, err := id(d.item, d.a.Item)
	if err != nil {
		return err
	}
	r := d.row[d.r]
	if r.Missing {
		return &features.FieldError{Field: d.a.Rating, Err: errors.New("missing")}
	}
	return b.AddDense([]float64{u, it, r.Num}, 0, 1)
}

// runALS factorises the ratings and publishes the factors.
func (j *job) runALS(ctx context.Context) (*Result, error) {
	spec := j.spec
	p := spec.Algorithm.ALS
	res := &Result{Model: spec.Output.Model, Algorithm: "als"}
	if res.Model == "" {
		res.Model = spec.Name
	}
	j.obs.Phase("planning the source")
	sources, err := j.pinSources(ctx)
	if err != nil {
		return nil, err
	}
	res.Lineage = lineage(sources)
	skip := spec.OnBadRecord == "skip" || spec.OnBadRecord == "dead_letter"
	arg, err := json.Marshal(ratingsArg{Schema: spec.Schema, User: p.User, Item: p.Item, Rating: p.Rating, SkipBad: skip})
	if err != nil {
		return nil, err
	}
	for i := range sources {
		sources[i].Format = cluster.Format{Kind: "custom", Decoder: ratingsDecoderName, Arg: arg, Header: sources[i].Format.Header}
	}
	if spec.OnBadRecord == "dead_letter" {
		if res.DeadLetter, err = j.deadLetter(ctx, spec.Schema, sources); err != nil {
			return nil, err
		}
	}
	j.obs.Phase("caching ratings")
	ds, err := j.load(ctx, sources)
	if err != nil {
		return nil, err
	}
	res.Rows, res.Skipped = ds.Rows(), ds.Skipped()
	ratings, err := als.Collect(ctx, j.engine, ds)
	if err != nil {
		return nil, err
	}
	j.engine.Drop(ds)
	frac := spec.Evaluation.TestFraction
	if frac == 0 {
		frac = 0.2
	}
	train, test := als.Split(ratings, frac, seedOr(spec.Evaluation.Seed))
	res.TrainRows, res.TestRows = len(train), len(test)
	cfg := als.Config{Rank: p.Rank, MaxIter: p.MaxIter, Lambda: p.RegParam, Implicit: p.Implicit, Alpha: p.Alpha,
		NonNegative: p.Nonnegative, Seed: seedOr(p.Seed), ColdStart: p.ColdStart, MaxBroadcastBytes: p.MaxBroadcastB, KeepRated: true}
	if grid := spec.Evaluation.Grid; len(grid) > 0 {
		j.obs.Phase(fmt.Sprintf("searching %d grid points", gridSize(grid)))
		best := math.Inf(1)
		for i, pt := range combinations(grid) {
			c := withALS(cfg, pt)
			c.Progress = j.alsProgress(i+1, c.MaxIter)
			m, err := als.Fit(ctx, j.engine, train, c)
			if err != nil {
				return nil, fmt.Errorf("trainer: grid point %s: %w", pt, err)
			}
			rmse, _ := m.RMSE(test)
			j.log.Info("trainer: grid point", "params", pt.String(), "rmse", rmse)
			if rmse < best {
				best, res.Best = rmse, pt
			}
		}
		cfg = withALS(cfg, res.Best)
	}
	j.obs.Phase("training als")
	cfg.Progress = j.alsProgress(0, cfg.MaxIter)
	wire(ctx, j.ckpt, &cfg.CheckpointEvery, &cfg.Checkpoint, &cfg.Resume)
	m, err := als.Fit(ctx, j.engine, train, cfg)
	if err != nil {
		return nil, fmt.Errorf("trainer: als: %w", err)
	}
	j.obs.Phase("evaluating")
	rmse, n := m.RMSE(test)
	res.Metrics = map[string]float64{"rmse": rmse, "rated_test_pairs": float64(n)}
	k := p.RankingK
	if k == 0 {
		k = 10
	}
	threshold := 0.0
	if !p.Implicit {
		threshold = 3.5 // an explicit rating counts as relevant above the middle of a 1–5 scale
	}
	rk, err := als.EvaluateRanking(m, train, test, k, func(r als.Rating) bool { return r.Value > threshold })
	if err == nil {
		res.Metrics["precision_at_k"], res.Metrics["recall_at_k"], res.Metrics["ndcg_at_k"], res.Metrics["map"] = rk.Precision, rk.Recall, rk.NDCG, rk.MAP
	}
	params, err := m.MarshalBinary()
	if err != nil {
		return nil, err
	}
	j.obs.Phase("publishing")
	return j.publish(ctx, res, &models.Artifact{Algorithm: "als", FlintVersion: j.opt.FlintVersion, Params: params,
		Metrics: res.Metrics, Spec: j.opt.SpecText, Lineage: res.Lineage})
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
