package online

import (
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/flintml/flint/features"
	"github.com/flintml/flint/log"
	"github.com/flintml/flint/ml/streaming"
	"github.com/flintml/flint/trainer"
)

// Spec is an online training job, as written in a YAML file.
type Spec struct {
	Name        string                   `yaml:"name"`          // job name; the default model name
	Description string                   `yaml:"description"`   // free text
	Source      Source                   `yaml:"source"`        // the topic and consumer group
	Schema      features.Schema          `yaml:"schema"`        // the records' fields, as a job spec's
	Transforms  []features.TransformSpec `yaml:"transforms"`    // feature transforms, as a job spec's
	FitRecords  int                      `yaml:"fit_records"`   // records the transforms are fitted on at the first start; 0 means 1000
	Algorithm   Algorithm                `yaml:"algorithm"`     // exactly one streaming algorithm
	Batch       int                      `yaml:"batch_records"` // records per mini-batch; 0 means 500
	Publish     Publish                  `yaml:"publish"`       // when a version is published
	Output      Output                   `yaml:"output"`        // where versions go
	OnBadRecord string                   `yaml:"on_bad_record"` // fail (default) or skip
}

// Source is the topic the records stream in on.
type Source struct {
	Topic string `yaml:"topic"` // required
	Group string `yaml:"group"` // consumer group; "" means "online-" + the model name
	Start string `yaml:"start"` // earliest (default) or latest: where a group with no committed offset begins
}

// Algorithm holds exactly one streaming algorithm.
type Algorithm struct {
	KMeans   *KMeansParams `yaml:"streaming_kmeans"`
	Logistic *SGDParams    `yaml:"streaming_logistic"`
	Linear   *SGDParams    `yaml:"streaming_linear"`
}

// KMeansParams configures streaming k-means (streaming.KMeansConfig).
type KMeansParams struct {
	K           int      `yaml:"k"`            // required, >= 1
	DecayFactor *float64 `yaml:"decay_factor"` // in (0, 1]; default 1
	HalfLife    float64  `yaml:"half_life"`    // > 0: the decay halves the past's weight every half_life time units
	TimeUnit    string   `yaml:"time_unit"`    // batches (default) or points
	Init        string   `yaml:"init"`         // kmeans++ (default, on the first batch) or random
	InitWeight  float64  `yaml:"init_weight"`  // weight of each random centre
	Seed        uint64   `yaml:"seed"`         // default 1
}

// SGDParams configures streaming linear or logistic regression
// (streaming.SGDConfig).
type SGDParams struct {
	StepSize          float64 `yaml:"step_size"`           // default 0.1
	Iterations        int     `yaml:"iterations"`          // steps per batch; default 50
	MiniBatchFraction float64 `yaml:"mini_batch_fraction"` // default 1
	RegParam          float64 `yaml:"reg_param"`           // L2; default 0
	Intercept         *bool   `yaml:"intercept"`           // default true
	ConvergenceTol    float64 `yaml:"convergence_tol"`     // default 0.001
	Seed              uint64  `yaml:"seed"`                // default 1
}

// Publish says when a version is published: every Records records or
// every Every, whichever comes first.
type Publish struct {
	Records int64         `yaml:"every_records"` // 0 with every 0 means 10000
	Every   time.Duration `yaml:"every"`         // e.g. 30s; 0: by records only
}

// Output names the model.
type Output struct {
	Model string `yaml:"model"` // default: the job name
	Alias string `yaml:"alias"` // moved to every version published, when given
}

// Algorithm names.
const (
	algoKMeans   = "streaming_kmeans"
	algoLogistic = "streaming_logistic"
	algoLinear   = "streaming_linear"
)

// Defaults.
const (
	defaultFitRecords = 1000
	defaultBatch      = 500
	defaultPublishN   = 10000
)

// algorithm returns the name of the chosen algorithm ("" if none or
// several).
func (a Algorithm) name() string {
	var names []string
	if a.KMeans != nil {
		names = append(names, algoKMeans)
	}
	if a.Logistic != nil {
		names = append(names, algoLogistic)
	}
	if a.Linear != nil {
		names = append(names, algoLinear)
	}
	if len(names) != 1 {
		return ""
	}
	return names[0]
}

// ModelName is the registry name versions are published under.
func (s *Spec) ModelName() string {
	if s.Output.Model != "" {
		return s.Output.Model
	}
	return s.Name
}

// GroupName is the consumer group the job reads in.
func (s *Spec) GroupName() string {
	if s.Source.Group != "" {
		return s.Source.Group
	}
	return "online-" + s.ModelName()
}

func (s *Spec) batch() int {
	if s.Batch == 0 {
		return defaultBatch
	}
	return s.Batch
}

func (s *Spec) fitRecords() int {
	if s.FitRecords == 0 {
		return defaultFitRecords
	}
	return s.FitRecords
}

func (s *Spec) publishRecords() int64 {
	if s.Publish.Records == 0 && s.Publish.Every == 0 {
		return defaultPublishN
	}
	return s.Publish.Records
}

// LoadSpec reads and validates an online job spec file.
func LoadSpec(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseSpec(path, data)
}

// ParseSpec parses and validates an online job spec. Every problem is
// reported at once (trainer.SpecErrors), each naming file:line:column and
// the field path.
func ParseSpec(file string, data []byte) (*Spec, error) {
	var s Spec
	if err := trainer.DecodeYAML(file, data, &s, s.validate); err != nil {
		return nil, err
	}
	return &s, nil
}

// validate checks what the types cannot.
func (s *Spec) validate(at func(path, format string, args ...any)) {
	if s.Name == "" {
		at("name", "required")
	} else if log.ValidTopicName(s.Name) != nil {
		at("name", "%q: use letters, digits, '.', '_' and '-'", s.Name)
	}
	if s.Output.Model != "" && log.ValidTopicName(s.Output.Model) != nil {
		at("output.model", "%q: use letters, digits, '.', '_' and '-'", s.Output.Model)
	}
	switch {
	case s.Source.Topic == "":
		at("source.topic", "required")
	case log.ValidTopicName(s.Source.Topic) != nil:
		at("source.topic", "%v", log.ValidTopicName(s.Source.Topic))
	}
	switch s.Source.Start {
	case "", "earliest", "latest":
	default:
		at("source.start", "want earliest or latest, got %q", s.Source.Start)
	}
	s.validateFeatures(at)
	if s.FitRecords < 0 {
		at("fit_records", "must not be negative, got %d", s.FitRecords)
	}
	if s.Batch < 0 {
		at("batch_records", "must not be negative, got %d", s.Batch)
	}
	if s.Publish.Records < 0 {
		at("publish.every_records", "must not be negative, got %d", s.Publish.Records)
	}
	switch s.OnBadRecord {
	case "", "fail", "skip":
	default:
		at("on_bad_record", "want fail or skip, got %q", s.OnBadRecord)
	}
	s.validateAlgorithm(at)
}

// validateFeatures checks the schema and compiles the transforms against
// it, as the batch trainer does.
func (s *Spec) validateFeatures(at func(path, format string, args ...any)) {
	report := func(prefix string, err error, keep func(path string) bool) {
		for _, line := range strings.Split(err.Error(), "\n") {
			path, msg, ok := strings.Cut(line, ": ")
			if !ok || !keep(path) {
				path, msg = "", line
			}
			at(join(prefix, path), "%s", msg)
		}
	}
	if err := s.Schema.Validate(); err != nil {
		report("schema", err, func(string) bool { return true })
		return
	}
	if _, err := features.New(s.Schema, s.Transforms); err != nil {
		report("transforms", err, func(p string) bool { return strings.HasPrefix(p, "transforms[") })
	}
}

func join(prefix, path string) string {
	switch {
	case path == "":
		return prefix
	case strings.HasPrefix(path, prefix):
		return path
	}
	return prefix + "." + path
}

func (s *Spec) validateAlgorithm(at func(path, format string, args ...any)) {
	a := s.Algorithm
	name := a.name()
	if name == "" {
		at("algorithm", "choose exactly one of %s, %s, %s", algoKMeans, algoLogistic, algoLinear)
		return
	}
	path := "algorithm." + name
	if name != algoKMeans && s.Schema.Label == "" {
		at("schema.label", "%s needs a label field", name)
	}
	if p := a.KMeans; p != nil {
		p.check(path, at)
		return
	}
	p := a.Linear
	if p == nil {
		p = a.Logistic
	}
	if p.Iterations < 0 {
		at(path+".iterations", "must not be negative, got %d", p.Iterations)
	}
	if p.StepSize < 0 {
		at(path+".step_size", "must be positive, got %v", p.StepSize)
	}
	if p.RegParam < 0 {
		at(path+".reg_param", "must not be negative, got %v", p.RegParam)
	}
	if p.MiniBatchFraction < 0 || p.MiniBatchFraction > 1 {
		at(path+".mini_batch_fraction", "want a number in (0, 1], got %v", p.MiniBatchFraction)
	}
	if math.IsNaN(p.ConvergenceTol) {
		at(path+".convergence_tol", "is NaN")
	}
}

func (p *KMeansParams) check(path string, at func(path, format string, args ...any)) {
	if p.K < 1 {
		at(path+".k", "want at least 1 cluster, got %d", p.K)
	}
	if d := p.DecayFactor; d != nil && !(*d > 0 && *d <= 1) {
		at(path+".decay_factor", "want a number in (0, 1], got %v", *d)
	}
	if p.HalfLife < 0 {
		at(path+".half_life", "must be positive, got %v", p.HalfLife)
	}
	if p.HalfLife > 0 && p.DecayFactor != nil {
		at(path+".half_life", "give decay_factor or half_life, not both")
	}
	switch p.TimeUnit {
	case "", "batches", "points":
	default:
		at(path+".time_unit", "want batches or points, got %q", p.TimeUnit)
	}
	switch p.Init {
	case "", "kmeans++", "random":
	default:
		at(path+".init", "want kmeans++ or random, got %q", p.Init)
	}
	if p.InitWeight < 0 {
		at(path+".init_weight", "must not be negative, got %v", p.InitWeight)
	}
}

// config is the k-means configuration for rows of dim features.
func (p *KMeansParams) config(dim int) streaming.KMeansConfig {
	c := streaming.KMeansConfig{K: p.K, Dim: dim, HalfLife: p.HalfLife, TimeUnit: p.TimeUnit,
		Init: p.Init, InitWeight: p.InitWeight, Seed: p.Seed}
	if p.DecayFactor != nil {
		c.Decay = *p.DecayFactor
	}
	return c
}

// config is the SGD configuration for rows of dim features.
func (p *SGDParams) config(dim int) streaming.SGDConfig {
	return streaming.SGDConfig{Dim: dim, StepSize: p.StepSize, Iterations: p.Iterations,
		MiniBatchFraction: p.MiniBatchFraction, RegParam: p.RegParam, NoIntercept: p.Intercept != nil && !*p.Intercept,
		ConvergenceTol: p.ConvergenceTol, Seed: p.Seed}
}

// String names the algorithm and its main setting, for logs.
func (a Algorithm) String() string {
	switch n := a.name(); n {
	case algoKMeans:
		return fmt.Sprintf("%s (k=%d)", n, a.KMeans.K)
	default:
		return n
	}
}
