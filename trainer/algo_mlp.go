package trainer

import (
	"context"
	"fmt"

	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/ml/mlp"
)

// MLPParams configures the multilayer perceptron.
type MLPParams struct {
	Hidden       []int   `yaml:"hidden_layers" doc:"Sizes of the hidden layers (default [100])."`
	Activation   string  `yaml:"activation" doc:"relu (default), tanh or sigmoid."`
	Optimizer    string  `yaml:"optimizer" doc:"adam (default) or sgd (with momentum)."`
	LearningRate float64 `yaml:"learning_rate" doc:"Step size (default 0.001 for adam, 0.01 for sgd)."`
	BatchSize    int     `yaml:"batch_size" doc:"Rows per mini-batch (default 256)."`
	MaxIter      int     `yaml:"max_iter" doc:"Most mini-batch iterations (default 2000)."`
	L2           float64 `yaml:"l2" doc:"L2 penalty on the weights (default 1e-4)."`
	Tol          float64 `yaml:"tol" doc:"Stop when the loss improves less than this over an epoch (default 1e-4)."`
	Seed         uint64  `yaml:"seed" doc:"Seed (default 1)."`
}

func (p *MLPParams) check(s *Spec, path string, at func(path, format string, args ...any)) {
	needLabel(s, path, at)
	for i, h := range p.Hidden {
		if h < 1 {
			at(fmt.Sprintf("%s.hidden_layers[%d]", path, i), "want at least 1 unit, got %d", h)
		}
	}
	switch p.Activation {
	case "", "relu", "tanh", "sigmoid":
	default:
		at(path+".activation", "want relu, tanh or sigmoid, got %q", p.Activation)
	}
	switch p.Optimizer {
	case "", "adam", "sgd":
	default:
		at(path+".optimizer", "want adam or sgd, got %q", p.Optimizer)
	}
	if p.LearningRate < 0 || p.BatchSize < 0 || p.MaxIter < 0 || p.L2 < 0 || p.Tol < 0 {
		at(path, "learning_rate, batch_size, max_iter, l2 and tol must not be negative")
	}
}

func (p *MLPParams) gridParams() []string {
	return []string{"learning_rate", "l2", "batch_size", "max_iter"}
}
func (p *MLPParams) metrics() []string { return classificationMetrics }
func (p *MLPParams) reports() []string { return []string{"accuracy"} }
func (p *MLPParams) selectBy() string  { return "accuracy" }
func (p *MLPParams) input() inputKind  { return featureRows }
func (p *MLPParams) maxIter() int      { return iterOr(p.MaxIter, 2000) }

func (p *MLPParams) with(g ml.Params) (algo, error) {
	c := *p
	for name, v := range g {
		switch name {
		case "learning_rate":
			c.LearningRate = v
		case "l2":
			c.L2 = v
		case "batch_size":
			c.BatchSize = int(v)
		case "max_iter":
			c.MaxIter = int(v)
		default:
			return nil, unknownGrid(p, name)
		}
	}
	return &c, nil
}

func (p *MLPParams) fit(ctx context.Context, f *fitEnv, d data) (fitted, error) {
	c := mlp.Config{Hidden: p.Hidden, Activation: mlp.Activation(p.Activation), Optimizer: mlp.Optimizer(p.Optimizer),
		LearningRate: p.LearningRate, BatchSize: p.BatchSize, MaxIter: p.MaxIter, L2: p.L2, Tol: p.Tol,
		Seed: seedOr(p.Seed), Classes: f.classes()}
	if c.L2 == 0 {
		c.L2 = 1e-4
	}
	if p.Optimizer == "sgd" {
		c.Momentum = 0.9
	}
	c.Progress = func(pr mlp.Progress) {
		f.progress(ml.Progress{Iter: pr.Iteration, Loss: pr.Loss, Elapsed: pr.Elapsed, Stop: pr.Stop})
	}
	wire(ctx, f.ckpt, &c.Checkpointing)
	ds := d.(rowsData).ds
	hidden := p.Hidden
	if hidden == nil {
		hidden = []int{100} // mlp.Config's default
	}
	switch {
	case f.warm == nil:
	case f.classes() == 0:
		// mlp.Train counts the classes of a numeric label from the rows:
		// the network's shape is not known here.
		f.warm.skip("the label is numeric, so the network's outputs are known only once the rows are read; declare it categorical to warm-start")
	default:
		c.InitialParams = f.warm.network(append(append([]int{ds.Cols()}, hidden...), f.classes()))
	}
	r, err := mlp.Train(ctx, f.engine, ds, c)
	if err != nil {
		return nil, err
	}
	return modelFit{mlp.AsModel(r.Model)}, nil
}
