package trainer

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/flintml/flint/features"
	"github.com/flintml/flint/log"
)

// Spec is a training job, as written in a YAML file.
type Spec struct {
	Name        string                   `yaml:"name" doc:"Job name; also the default model name. Letters, digits, '.', '_' and '-'." required:"true"`
	Description string                   `yaml:"description" doc:"Free text, stored with the model."`
	Source      Source                   `yaml:"source" doc:"Where the training records come from: a log topic or files." required:"true"`
	Schema      features.Schema          `yaml:"schema" doc:"The fields of a record and how records are encoded." required:"true"`
	Transforms  []features.TransformSpec `yaml:"transforms" doc:"Feature transforms, fitted on the training data and stored with the model."`
	Algorithm   Algorithm                `yaml:"algorithm" doc:"The algorithm and its hyper-parameters: exactly one of its fields." required:"true"`
	Evaluation  Evaluation               `yaml:"evaluation" doc:"How the model is evaluated: held-out split or cross-validation, metrics, and a hyper-parameter grid."`
	Engine      EngineSpec               `yaml:"engine" doc:"Resources of the engine that trains."`
	Output      Output                   `yaml:"output" doc:"Where the trained model is published."`
	OnBadRecord string                   `yaml:"on_bad_record" doc:"What a record that does not fit the schema does: fail (default; the error names topic, partition, offset or file and line, and the field), skip (counted and reported), or dead_letter (skipped and appended to dead_letter_topic)."`
	DeadLetter  string                   `yaml:"dead_letter_topic" doc:"The log topic bad records go to with on_bad_record: dead_letter."`

	file string         // the file the spec was read from, for CheckSources
	pos  map[string]Pos // field path → position, for CheckSources
}

// Source names the training records.
type Source struct {
	Topic string   `yaml:"topic" doc:"Log topic to read."`
	From  string   `yaml:"from" doc:"First offset to read in every partition: earliest (default) or a number."`
	To    string   `yaml:"to" doc:"Offset to stop before in every partition: latest (default, the end when the job starts) or a number."`
	Split int      `yaml:"split" doc:"Dataset partitions per log partition (default 1)."`
	Files []string `yaml:"files" doc:"Files to read instead of a topic: one record per line (JSON or CSV as the schema says)."`
	// Partitions fixes how many dataset partitions the files are cut into.
	Partitions int `yaml:"partitions" doc:"Dataset partitions the files are cut into (default one per worker). Results depend on the partitioning only: fix it to train the same model bit for bit on any number of workers, in process or remote."`
	// Header skips the first line of each file.
	Header bool `yaml:"header" doc:"Skip the first line of each file (a CSV header)."`
}

// Algorithm holds exactly one algorithm's parameters.
type Algorithm struct {
	LinearRegression   *LinearParams   `yaml:"linear_regression" doc:"Least-squares linear regression."`
	LogisticRegression *LogisticParams `yaml:"logistic_regression" doc:"Binary or multinomial logistic regression."`
	KMeans             *KMeansParams   `yaml:"kmeans" doc:"k-means clustering."`
	ALS                *ALSParams      `yaml:"als" doc:"Alternating least squares matrix factorisation for recommendation."`
	MLP                *MLPParams      `yaml:"mlp" doc:"A multilayer perceptron classifier trained with autodiff gradients."`
}

// Name returns the name of the chosen algorithm, or "" if none or several.
func (a Algorithm) Name() string {
	names := a.names()
	if len(names) != 1 {
		return ""
	}
	return names[0]
}

func (a Algorithm) names() []string {
	var n []string
	if a.LinearRegression != nil {
		n = append(n, "linear_regression")
	}
	if a.LogisticRegression != nil {
		n = append(n, "logistic_regression")
	}
	if a.KMeans != nil {
		n = append(n, "kmeans")
	}
	if a.ALS != nil {
		n = append(n, "als")
	}
	if a.MLP != nil {
		n = append(n, "mlp")
	}
	return n
}

// Regularised holds the parameters linear models share (MLlib's names).
type Regularised struct {
	RegParam        float64 `yaml:"reg_param" doc:"Regularisation strength λ (default 0)."`
	ElasticNetParam float64 `yaml:"elastic_net_param" doc:"Mix of L1 in the penalty, 0 (L2, default) to 1 (L1)."`
	FitIntercept    *bool   `yaml:"fit_intercept" doc:"Fit an unregularised intercept (default true)."`
	Standardization *bool   `yaml:"standardization" doc:"Standardise features inside the optimiser (default true); coefficients are reported on the original scale."`
	MaxIter         int     `yaml:"max_iter" doc:"Most iterations (default 100)."`
	Tol             float64 `yaml:"tol" doc:"Convergence tolerance (default 1e-6)."`
	Solver          string  `yaml:"solver" doc:"lbfgs (default; OWL-QN with L1), gd, sgd, or normal (closed form, linear regression without L1 only)."`
	StepSize        float64 `yaml:"step_size" doc:"Step size for sgd (default 1)."`
	MiniBatch       float64 `yaml:"mini_batch_fraction" doc:"Fraction of rows sampled per sgd iteration (default 1)."`
	Seed            uint64  `yaml:"seed" doc:"Seed for sampling (default 1)."`
}

// LinearParams configures linear regression.
type LinearParams struct {
	Regularised `yaml:",inline"`
}

// LogisticParams configures logistic regression.
type LogisticParams struct {
	Regularised `yaml:",inline"`
	Family      string `yaml:"family" doc:"auto (default: binomial for 2 classes), binomial or multinomial."`
}

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

// ALSParams configures alternating least squares.
type ALSParams struct {
	User          string  `yaml:"user" doc:"Field holding the user id: a numeric field of integer ids, or a categorical field of string ids (UUIDs, SKUs), mapped to integers in sorted order and stored with the model." required:"true"`
	Item          string  `yaml:"item" doc:"Field holding the item id: numeric (integer ids) or categorical (string ids), as for user." required:"true"`
	Rating        string  `yaml:"rating" doc:"Field holding the rating (or interaction strength for implicit feedback)." required:"true"`
	Rank          int     `yaml:"rank" doc:"Number of latent factors (default 10)."`
	RegParam      float64 `yaml:"reg_param" doc:"Regularisation λ, scaled by each user's and item's number of ratings (default 0.1)."`
	Implicit      bool    `yaml:"implicit_prefs" doc:"Treat ratings as implicit feedback (confidence weighting)."`
	Alpha         float64 `yaml:"alpha" doc:"Confidence scale for implicit feedback (default 1)."`
	Nonnegative   bool    `yaml:"nonnegative" doc:"Constrain factors to be non-negative."`
	MaxIter       int     `yaml:"max_iter" doc:"Iterations (default 10)."`
	ColdStart     string  `yaml:"cold_start_strategy" doc:"nan (default: predictions for unseen users or items are NaN) or drop (left out of evaluation)."`
	Seed          uint64  `yaml:"seed" doc:"Seed (default 1)."`
	RankingK      int     `yaml:"ranking_k" doc:"k for precision@k, recall@k and NDCG@k (default 10). The job reports them (precision_at_k, recall_at_k, ndcg_at_k, map) beside the same metrics of recommending the most-rated training items to the same users (precision_at_k_popular, recall_at_k_popular, ndcg_at_k_popular, map_popular), so a model worse than that trivial answer shows."`
	ExcludeRated  *bool   `yaml:"exclude_rated" doc:"Leave items a user rated in training out of their ranking evaluation (default true)."`
	MaxBroadcastB int64   `yaml:"max_broadcast_bytes" doc:"Bound on the factor matrix broadcast to workers (default 1 GiB)."`
	Biases        bool    `yaml:"biases" doc:"Learn a bias per user and per item with the factors (biased matrix factorisation): a rating is predicted as the mean rating + user bias + item bias + the factors' dot product; the biases are regularised by reg_param. Explicit feedback only, not with nonnegative."`
}

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

// Evaluation says how the model is judged.
type Evaluation struct {
	TestFraction float64              `yaml:"test_fraction" doc:"Fraction of rows held out for testing (default 0.2; 0 with folds)."`
	Folds        int                  `yaml:"folds" doc:"k for k-fold cross-validation over the grid (0: a single held-out split)."`
	Seed         uint64               `yaml:"seed" doc:"Seed of the split (default 1)."`
	Metrics      []string             `yaml:"metrics" doc:"Metrics to report; the first one chooses among grid points. Default: accuracy (classification), rmse (regression), inertia (kmeans), rmse (als)."`
	Grid         map[string][]float64 `yaml:"grid" doc:"Hyper-parameters to search: a parameter name of the algorithm and the values to try."`
}

// EngineSpec sizes the engine.
type EngineSpec struct {
	Workers     int      `yaml:"workers" doc:"Worker goroutines (default: one per core)."`
	MemoryLimit ByteSize `yaml:"memory_limit" doc:"Bound on cached partitions, e.g. 4GiB (default: none)."`
	// CheckpointEvery applies when the job runs with checkpoints (on a
	// flint driver, or flint train --checkpoint-every).
	CheckpointEvery int `yaml:"checkpoint_every" doc:"Iterations between checkpoints of the optimiser state when the job runs with checkpoints (flint driver; default 10)."`
}

// Output says where the model goes.
type Output struct {
	Model string             `yaml:"model" doc:"Model name in the registry (default: the job name)."`
	Alias string             `yaml:"alias" doc:"Alias to move to the new version when the thresholds pass, e.g. production."`
	Min   map[string]float64 `yaml:"min" doc:"Metric floors, e.g. accuracy: 0.83; the alias moves only if every one holds."`
	Max   map[string]float64 `yaml:"max" doc:"Metric ceilings, e.g. rmse: 1.0."`
}

// ByteSize is a size in bytes written with a unit: 512MiB, 4GiB, 1000000.
type ByteSize int64

// UnmarshalText parses a size.
func (b *ByteSize) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("want a size such as 512MiB or 4GiB, got %q", string(text))
	}
	*b = ByteSize(n * float64(mult))
	return nil
}

// LoadSpec reads and validates a job spec file.
func LoadSpec(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseSpec(path, data)
}

// ParseSpec parses and validates a job spec. Every problem is reported at
// once as SpecErrors, each naming file:line:column and the field path.
func ParseSpec(file string, data []byte) (*Spec, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, SpecErrors{syntaxError(file, data, err)}
	}
	d := &decoder{file: file, pos: map[string]Pos{}}
	var s Spec
	if root.Kind == 0 || len(root.Content) == 0 {
		return nil, SpecErrors{{File: file, Msg: "the file is empty"}}
	}
	d.decode(&root, reflectValue(&s), "")
	s.validate(d)
	if len(d.errs) > 0 {
		slices.SortStableFunc(d.errs, func(a, b SpecError) int {
			if a.Pos.Line != b.Pos.Line {
				return a.Pos.Line - b.Pos.Line
			}
			return a.Pos.Col - b.Pos.Col
		})
		return nil, d.errs
	}
	s.file, s.pos = file, d.pos
	return &s, nil
}

// at reports a problem at the position of path (or its nearest ancestor).
func (d *decoder) at(path, format string, args ...any) {
	p := path
	for {
		if pos, ok := d.pos[p]; ok {
			d.errs = append(d.errs, SpecError{File: d.file, Pos: pos, Path: path, Msg: fmt.Sprintf(format, args...)})
			return
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			d.errs = append(d.errs, SpecError{File: d.file, Pos: d.pos[""], Path: path, Msg: fmt.Sprintf(format, args...)})
			return
		}
		p = p[:i]
	}
}

// validate checks values the types cannot: required fields, ranges,
// references between fields.
func (s *Spec) validate(d *decoder) {
	if s.Name == "" {
		d.at("name", "required")
	} else if err := log.ValidTopicName(s.Name); err != nil {
		d.at("name", "%q: use letters, digits, '.', '_' and '-'", s.Name)
	}
	src := s.Source
	switch {
	case src.Topic == "" && len(src.Files) == 0:
		d.at("source", "give a topic or files")
	case src.Topic != "" && len(src.Files) > 0:
		d.at("source", "give a topic or files, not both")
	case src.Topic != "":
		if err := log.ValidTopicName(src.Topic); err != nil {
			d.at("source.topic", "%v", err)
		}
		if src.Header {
			d.at("source.header", "only files have headers")
		}
	}
	for _, f := range []struct{ path, v, word string }{{"source.from", src.From, "earliest"}, {"source.to", src.To, "latest"}} {
		if f.v == "" || f.v == f.word {
			continue
		}
		if n, err := strconv.ParseInt(f.v, 10, 64); err != nil || n < 0 {
			d.at(f.path, "want %s or an offset, got %q", f.word, f.v)
		}
		if len(src.Files) > 0 {
			d.at(f.path, "offsets apply to topics, not files")
		}
	}
	if src.Split < 0 {
		d.at("source.split", "must not be negative, got %d", src.Split)
	}
	if src.Partitions < 0 {
		d.at("source.partitions", "must not be negative, got %d", src.Partitions)
	}
	if src.Partitions > 0 && len(src.Files) == 0 {
		d.at("source.partitions", "applies to files; a topic has one dataset partition per log partition (times source.split)")
	}
	if err := s.Schema.Validate(); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			path, msg, ok := strings.Cut(line, ": ")
			if !ok {
				path, msg = "", line
			}
			d.at(join("schema", path), "%s", msg)
		}
	} else if s.Algorithm.ALS == nil {
		// The transforms compile against the schema as they will at
		// training: an input naming no field is found here, not after the
		// source has been read.
		if _, err := features.New(s.Schema, s.Transforms); err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				path, msg, ok := strings.Cut(line, ": ")
				if !ok || !strings.HasPrefix(path, "transforms[") {
					path, msg = "transforms", line
				}
				d.at(path, "%s", msg)
			}
		}
	}
	switch s.OnBadRecord {
	case "", "fail", "skip":
		if s.DeadLetter != "" {
			d.at("dead_letter_topic", "only used with on_bad_record: dead_letter")
		}
	case "dead_letter":
		if s.DeadLetter == "" {
			d.at("on_bad_record", "dead_letter needs dead_letter_topic")
		} else if err := log.ValidTopicName(s.DeadLetter); err != nil {
			d.at("dead_letter_topic", "%v", err)
		}
	default:
		d.at("on_bad_record", "want fail, skip or dead_letter, got %q", s.OnBadRecord)
	}
	s.validateAlgorithm(d)
	ev := s.Evaluation
	if ev.TestFraction < 0 || ev.TestFraction >= 1 {
		d.at("evaluation.test_fraction", "must be in [0, 1), got %v", ev.TestFraction)
	}
	if ev.Folds == 1 || ev.Folds < 0 {
		d.at("evaluation.folds", "want 0 (no cross-validation) or at least 2, got %d", ev.Folds)
	}
	known := metricsFor(s.Algorithm.Name())
	for i, m := range ev.Metrics {
		if known != nil && !slices.Contains(known, m) {
			d.at(fmt.Sprintf("evaluation.metrics[%d]", i), "%q is not a metric of %s: want one of %s", m, s.Algorithm.Name(), strings.Join(known, ", "))
		}
	}
	grid := gridParams(s.Algorithm.Name())
	for name, values := range ev.Grid {
		if grid != nil && !slices.Contains(grid, name) {
			d.at("evaluation.grid."+name, "not a grid parameter of %s: want one of %s", s.Algorithm.Name(), strings.Join(grid, ", "))
		}
		if len(values) == 0 {
			d.at("evaluation.grid."+name, "no values")
		}
	}
	if s.Engine.CheckpointEvery < 0 {
		d.at("engine.checkpoint_every", "must not be negative, got %d", s.Engine.CheckpointEvery)
	}
	if s.Engine.Workers < 0 {
		d.at("engine.workers", "must not be negative, got %d", s.Engine.Workers)
	}
	if s.Output.Model != "" {
		if err := log.ValidTopicName(s.Output.Model); err != nil {
			d.at("output.model", "%q: use letters, digits, '.', '_' and '-'", s.Output.Model)
		}
	}
	if s.Output.Alias != "" {
		if err := log.ValidTopicName(s.Output.Alias); err != nil || s.Output.Alias[0] >= '0' && s.Output.Alias[0] <= '9' {
			d.at("output.alias", "%q: start with a letter; use letters, digits, '.', '_' and '-'", s.Output.Alias)
		}
	}
	for _, m := range []struct {
		path string
		th   map[string]float64
	}{{"output.min", s.Output.Min}, {"output.max", s.Output.Max}} {
		for name := range m.th {
			if known != nil && !slices.Contains(known, name) {
				d.at(m.path+"."+name, "%q is not a metric of %s", name, s.Algorithm.Name())
			}
		}
	}
}

func (s *Spec) validateAlgorithm(d *decoder) {
	names := s.Algorithm.names()
	switch len(names) {
	case 0:
		d.at("algorithm", "choose one of linear_regression, logistic_regression, kmeans, als, mlp")
		return
	case 1:
	default:
		d.at("algorithm", "choose one algorithm, not %s", strings.Join(names, " and "))
		return
	}
	a := s.Algorithm
	label := s.Schema.Label
	needLabel := func(path string) {
		if label == "" {
			d.at(path, "a supervised algorithm needs schema.label")
		}
	}
	reg := func(path string, r Regularised, linear bool) {
		if r.RegParam < 0 {
			d.at(path+".reg_param", "must not be negative, got %v", r.RegParam)
		}
		if r.ElasticNetParam < 0 || r.ElasticNetParam > 1 {
			d.at(path+".elastic_net_param", "must be in [0, 1], got %v", r.ElasticNetParam)
		}
		if r.MaxIter < 0 {
			d.at(path+".max_iter", "must not be negative, got %d", r.MaxIter)
		}
		if r.Tol < 0 {
			d.at(path+".tol", "must not be negative, got %v", r.Tol)
		}
		switch r.Solver {
		case "", "lbfgs", "gd", "sgd":
		case "normal":
			if !linear {
				d.at(path+".solver", "normal (closed form) is for linear regression")
			} else if r.ElasticNetParam > 0 && r.RegParam > 0 {
				d.at(path+".solver", "normal cannot solve an L1 penalty; use lbfgs")
			}
		default:
			d.at(path+".solver", "want lbfgs, gd, sgd or normal, got %q", r.Solver)
		}
		if r.MiniBatch < 0 || r.MiniBatch > 1 {
			d.at(path+".mini_batch_fraction", "must be in (0, 1], got %v", r.MiniBatch)
		}
		if r.StepSize < 0 {
			d.at(path+".step_size", "must be positive, got %v", r.StepSize)
		}
	}
	switch {
	case a.LinearRegression != nil:
		needLabel("algorithm.linear_regression")
		reg("algorithm.linear_regression", a.LinearRegression.Regularised, true)
	case a.LogisticRegression != nil:
		needLabel("algorithm.logistic_regression")
		reg("algorithm.logistic_regression", a.LogisticRegression.Regularised, false)
		switch a.LogisticRegression.Family {
		case "", "auto", "binomial", "multinomial":
		default:
			d.at("algorithm.logistic_regression.family", "want auto, binomial or multinomial, got %q", a.LogisticRegression.Family)
		}
	case a.KMeans != nil:
		k := a.KMeans
		if k.K < 2 {
			d.at("algorithm.kmeans.k", "want at least 2 clusters, got %d", k.K)
		}
		switch k.Init {
		case "", "k-means||", "k-means++", "random":
		default:
			d.at("algorithm.kmeans.init", "want k-means||, k-means++ or random, got %q", k.Init)
		}
		if k.MaxIter < 0 || k.Runs < 0 || k.InitSteps < 0 || k.Tol < 0 {
			d.at("algorithm.kmeans", "max_iter, runs, init_steps and tol must not be negative")
		}
	case a.ALS != nil:
		p := a.ALS
		for _, f := range []struct{ path, name string }{{"user", p.User}, {"item", p.Item}, {"rating", p.Rating}} {
			path := "algorithm.als." + f.path
			switch {
			case f.name == "":
				d.at(path, "required: the schema field holding the %s", f.path)
			case s.Schema.Index(f.name) < 0:
				d.at(path, "no schema field named %q", f.name)
			}
		}
		for _, f := range []struct{ path, name string }{{"user", p.User}, {"item", p.Item}} {
			if i := s.Schema.Index(f.name); i >= 0 && s.Schema.Fields[i].Type != features.Numeric && s.Schema.Fields[i].Type != features.Categorical {
				d.at("algorithm.als."+f.path, "field %q must be numeric (integer ids) or categorical (string ids), not %s", f.name, s.Schema.Fields[i].Type)
			}
		}
		if i := s.Schema.Index(p.Rating); i >= 0 && s.Schema.Fields[i].Type != features.Numeric {
			d.at("algorithm.als.rating", "field %q must be numeric (ratings)", p.Rating)
		}
		if p.Biases && (p.Implicit || p.Nonnegative) {
			d.at("algorithm.als.biases", "biases apply to explicit feedback without nonnegative factors; drop implicit_prefs and nonnegative, or biases")
		}
		if p.Rank < 0 || p.MaxIter < 0 || p.RegParam < 0 || p.Alpha < 0 || p.RankingK < 0 || p.MaxBroadcastB < 0 {
			d.at("algorithm.als", "rank, max_iter, reg_param, alpha, ranking_k and max_broadcast_bytes must not be negative")
		}
		switch p.ColdStart {
		case "", "nan", "drop":
		default:
			d.at("algorithm.als.cold_start_strategy", "want nan or drop, got %q", p.ColdStart)
		}
		if len(s.Transforms) > 0 {
			d.at("transforms", "als reads user, item and rating fields directly; it takes no transforms")
		}
	case a.MLP != nil:
		needLabel("algorithm.mlp")
		p := a.MLP
		for i, h := range p.Hidden {
			if h < 1 {
				d.at(fmt.Sprintf("algorithm.mlp.hidden_layers[%d]", i), "want at least 1 unit, got %d", h)
			}
		}
		switch p.Activation {
		case "", "relu", "tanh", "sigmoid":
		default:
			d.at("algorithm.mlp.activation", "want relu, tanh or sigmoid, got %q", p.Activation)
		}
		switch p.Optimizer {
		case "", "adam", "sgd":
		default:
			d.at("algorithm.mlp.optimizer", "want adam or sgd, got %q", p.Optimizer)
		}
		if p.LearningRate < 0 || p.BatchSize < 0 || p.MaxIter < 0 || p.L2 < 0 || p.Tol < 0 {
			d.at("algorithm.mlp", "learning_rate, batch_size, max_iter, l2 and tol must not be negative")
		}
	}
}

// metricsFor lists the metrics an algorithm reports.
func metricsFor(algo string) []string {
	switch algo {
	case "linear_regression":
		return []string{"rmse", "mae", "r2"}
	case "logistic_regression", "mlp":
		return []string{"accuracy", "f1", "precision", "recall", "logloss", "auc"}
	case "kmeans":
		return []string{"inertia", "silhouette"}
	case "als":
		return []string{"rmse", "precision_at_k", "recall_at_k", "ndcg_at_k", "map",
			"precision_at_k_popular", "recall_at_k_popular", "ndcg_at_k_popular", "map_popular"}
	}
	return nil
}

// gridParams lists the parameters a grid may search.
func gridParams(algo string) []string {
	switch algo {
	case "linear_regression", "logistic_regression":
		return []string{"reg_param", "elastic_net_param", "max_iter"}
	case "kmeans":
		return []string{"k", "max_iter"}
	case "als":
		return []string{"rank", "reg_param", "alpha", "max_iter"}
	case "mlp":
		return []string{"learning_rate", "l2", "batch_size", "max_iter"}
	}
	return nil
}
