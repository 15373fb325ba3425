package trainer

import (
	"context"
	"fmt"
	"math"

	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/ml/kmeans"
)

// KMeansParams configures k-means.
type KMeansParams struct {
	K         int     `yaml:"k" doc:"Number of clusters." required:"true"`
	Init      string  `yaml:"init" doc:"k-means|| (default), k-means++ or random."`
	InitSteps int     `yaml:"init_steps" doc:"Rounds of k-means|| (default 2)."`
	MaxIter   int     `yaml:"max_iter" doc:"Most Lloyd iterations (default 20)."`
	Tol       float64 `yaml:"tol" doc:"Stop when no centre moves more than this (default 1e-4)."`
	Runs      int     `yaml:"runs" doc:"Independent runs with different seeds; the best is kept (default 1)."`
	Seed      uint64  `yaml:"seed" doc:"Seed (default 1)."`
}

func (p *KMeansParams) check(s *Spec, path string, at func(path, format string, args ...any)) {
	if p.K < 2 {
		at(path+".k", "want at least 2 clusters, got %d", p.K)
	}
	switch p.Init {
	case "", "k-means||", "k-means++", "random":
	default:
		at(path+".init", "want k-means||, k-means++ or random, got %q", p.Init)
	}
	if p.MaxIter < 0 || p.Runs < 0 || p.InitSteps < 0 || p.Tol < 0 {
		at(path, "max_iter, runs, init_steps and tol must not be negative")
	}
}

func (p *KMeansParams) gridParams() []string { return []string{"k", "max_iter"} }
func (p *KMeansParams) metrics() []string    { return []string{"inertia", "silhouette"} }
func (p *KMeansParams) reports() []string    { return p.metrics() }

// selectBy is the silhouette: inertia always falls as k grows.
func (p *KMeansParams) selectBy() string { return "silhouette" }
func (p *KMeansParams) input() inputKind { return featureRows }
func (p *KMeansParams) maxIter() int     { return iterOr(p.MaxIter, 20) }

func (p *KMeansParams) with(g ml.Params) (algo, error) {
	c := *p
	for name, v := range g {
		switch name {
		case "k":
			c.K = int(v)
		case "max_iter":
			c.MaxIter = int(v)
		default:
			return nil, unknownGrid(p, name)
		}
	}
	return &c, nil
}

func (p *KMeansParams) fit(ctx context.Context, f *fitEnv, d data) (fitted, error) {
	cfg := kmeans.Config{K: p.K, Init: p.Init, InitSteps: p.InitSteps, MaxIter: p.MaxIter,
		Tol: p.Tol, Runs: p.Runs, Seed: seedOr(p.Seed), SilhouetteSample: -1}
	cfg.Progress = func(pr kmeans.Progress) {
		// k-means has no gradient: its progress is the cost alone.
		f.progress(ml.Progress{Iter: pr.Iter, Loss: pr.Cost, GradNorm: math.NaN(), Elapsed: pr.Elapsed, Stop: pr.Stop})
	}
	wire(ctx, f.ckpt, &cfg.Checkpointing)
	ds := d.(rowsData).ds
	if c := f.warm.centres(p.K, ds.Cols()); c != nil {
		cfg.InitialCentres, cfg.Init, cfg.Runs = c, "", 1 // one run, from the previous centres
	}
	m, err := kmeans.Fit(ctx, f.engine, ds, cfg)
	if err != nil {
		return nil, err
	}
	return kmeansFit{m, seedOr(p.Seed)}, nil
}

// kmeansFit is a fitted k-means model.
type kmeansFit struct {
	m    *kmeans.Model
	seed uint64
}

// silhouetteSample is the number of rows the silhouette is measured on.
const silhouetteSample = 1000

func (k kmeansFit) score(ctx context.Context, f *fitEnv, d data, names []string) (map[string]float64, error) {
	ds := d.(rowsData).ds
	inertia, sil, err := k.m.Score(ctx, f.engine, ds, silhouetteSample, k.seed^0x5111)
	if err != nil {
		return nil, err
	}
	all := map[string]float64{"inertia": inertia, "silhouette": sil}
	out := make(map[string]float64, len(names))
	for _, n := range names {
		v := all[n]
		if math.IsNaN(v) {
			return nil, fmt.Errorf("trainer: metric %s is NaN on %d rows: %s", n, ds.Rows(), nanCause(n))
		}
		out[n] = v
	}
	return out, nil
}

func (k kmeansFit) encode(*fitEnv) (string, []byte, error) {
	params, err := k.m.MarshalBinary()
	return "kmeans", params, err
}
