package trainer

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/features"
	"github.com/flintml/flint/ml"
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
	wire(ctx, ck, &cfg.Checkpointing)
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
		wire(ctx, ck, &cfg.Checkpointing)
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
