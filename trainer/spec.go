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
	Features    *FeaturesSpec            `yaml:"features" doc:"Streaming features joined to every record as of its time (point in time), from a feature definition; served from the entity key alone."`
	Transforms  []features.TransformSpec `yaml:"transforms" doc:"Feature transforms, fitted on the training data and stored with the model."`
	Algorithm   Algorithm                `yaml:"algorithm" doc:"The algorithm and its hyper-parameters: exactly one of its fields." required:"true"`
	Evaluation  Evaluation               `yaml:"evaluation" doc:"How the model is evaluated: held-out split or cross-validation, metrics, and a hyper-parameter grid."`
	Engine      EngineSpec               `yaml:"engine" doc:"Resources of the engine that trains."`
	Output      Output                   `yaml:"output" doc:"Where the trained model is published."`
	OnBadRecord string                   `yaml:"on_bad_record" doc:"What a record that does not fit the schema does: fail (default; the error names topic, partition, offset or file and line, and the field), skip (counted and reported), or dead_letter (skipped and appended to dead_letter_topic)."`
	DeadLetter  string                   `yaml:"dead_letter_topic" doc:"The log topic bad records go to with on_bad_record: dead_letter."`
	Trigger     *Trigger                 `yaml:"trigger" doc:"When flint driver (or flint train --follow) runs the job again: every interval, every N new records on the source topic, or both (whichever comes first). Runs of one job never overlap; a trigger that fires during a run is coalesced into one run after it."`
	WarmStart   *bool                    `yaml:"warm_start" doc:"Start the fit from the parameters of the model's previous version (the version behind promote.alias, else the latest) when it has the same algorithm and shape: linear_regression, logistic_regression, linear_svc (coefficients), kmeans (centres), mlp (weights) and als (user and item factors and biases of the same rank, matched by id: integer ids by value, string ids by name; new ids start from seeded factors). Default true for a job with a trigger, else false. The result reports the iterations used and those saved against the newest cold fit recorded in the model's history."`
	Promote     *Promote                 `yaml:"promote" doc:"Champion/challenger promotion: the new version and the version behind the alias are scored on the same most recent records, held out of training by time; the alias moves only if the new version is better by the margin and passes output.min and output.max. Every decision, with both metrics, is recorded in the model's alias history (flint models history)."`

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
	// Window bounds a topic source to its most recent records.
	Window *Window `yaml:"window" doc:"Read only the most recent records of the topic: records (the last N of each partition) or last (a duration of log time before the run starts). Not with from or to."`
}

// Evaluation says how the model is judged and its hyper-parameters chosen.
// The rows the metrics are reported on are never the rows a grid point is
// chosen by.
type Evaluation struct {
	TestFraction *float64             `yaml:"test_fraction" doc:"Fraction of the rows held out (a seeded random share) to report the metrics on (default 0.2). 0 trains on every row; the metrics are then those of the training rows, and with folds the cross-validation means beside them are the honest figure."`
	Test         *Source              `yaml:"test" doc:"Records to report the metrics on instead of a random share of the source: files, a topic, or an offset range (from, to) of the source's topic. The transforms are fitted on the training records only."`
	Folds        int                  `yaml:"folds" doc:"k for k-fold cross-validation of the training rows (0: none). With a grid, each point is scored by the mean over the folds; without, the model is cross-validated and the folds' mean and standard deviation of each metric are reported as <metric>_cv_mean and <metric>_cv_std. The folds are views of the cached training rows, not copies: on the in-process engine all k at once, on remote workers one at a time (each worker rearranges the rows it holds for each fold in turn), so cross-validation caches no more bytes than the rows."`
	Validation   float64              `yaml:"validation_fraction" doc:"With a grid and no folds: the share of the training rows each grid point is scored on, fitted on the rest (default 0.25)."`
	Refit        *bool                `yaml:"refit" doc:"After a grid search, fit the chosen point again on all the training rows and publish that model (default true). false publishes the model the search fitted on the training rows less the validation share (not with folds)."`
	Seed         uint64               `yaml:"seed" doc:"Seed of the splits and folds (default 1)."`
	Metrics      []string             `yaml:"metrics" doc:"Metrics to report; the first one chooses among grid points. Default: rmse (linear regression), accuracy (classifiers), inertia and silhouette (kmeans; a grid chooses by silhouette), every metric (als)."`
	Grid         map[string][]float64 `yaml:"grid" doc:"Hyper-parameters to search: a parameter name of the algorithm and the values to try. A point that fails (a singular system, a NaN metric) is logged and skipped."`
}

// testFraction is the share of rows held out for the report: 0 when
// evaluation.test names the records instead.
func (e Evaluation) testFraction() float64 {
	switch {
	case e.Test != nil:
		return 0
	case e.TestFraction != nil:
		return *e.TestFraction
	}
	return 0.2
}

// validationFraction is the share of the training rows a grid scores its
// points on (without folds).
func (e Evaluation) validationFraction() float64 {
	if e.Validation == 0 {
		return 0.25
	}
	return e.Validation
}

func (e Evaluation) refit() bool { return e.Refit == nil || *e.Refit }

// testSource is evaluation.test with an offset range of the source topic
// completed by the topic, or nil.
func (e Evaluation) testSource(src Source) *Source {
	if e.Test == nil {
		return nil
	}
	t := *e.Test
	if t.Topic == "" && len(t.Files) == 0 {
		t.Topic = src.Topic
		if t.Split == 0 {
			t.Split = src.Split
		}
	}
	return &t
}

// EngineSpec sizes the engine.
type EngineSpec struct {
	Workers     int      `yaml:"workers" doc:"Worker goroutines (default: one per core)."`
	MemoryLimit ByteSize `yaml:"memory_limit" doc:"Bound on cached partitions, e.g. 4GiB (default: none)."`
	// CheckpointEvery applies when the job runs with checkpoints (on a
	// flint driver, or flint train --checkpoint-every).
	CheckpointEvery int `yaml:"checkpoint_every" doc:"Iterations between checkpoints of the optimiser state when the job runs with checkpoints (flint driver; default 10)."`
	// Precision is the storage type of cached dense feature rows.
	Precision string `yaml:"precision" doc:"Storage of the cached dense feature rows: float64 (default) or float32, half the memory and half the bytes each pass reads; each value is rounded to float32 when decoded; the softmax and k-means (Lloyd) passes multiply in float32 SIMD lanes, within a stated tolerance of float64, while sums over rows and the other passes stay float64. float32 applies to linear_regression, logistic_regression, linear_svc and kmeans; sparse rows stay float64."`
}

// float32Algorithms are the algorithms that read float32 rows
// (engine.precision: float32).
var float32Algorithms = []string{"linear_regression", "logistic_regression", "linear_svc", "kmeans"}

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
	checkSource(d, "source", s.Source, false)
	name, a, chosen := s.Algorithm.chosen()
	if err := s.Schema.Validate(); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			path, msg, ok := strings.Cut(line, ": ")
			if !ok {
				path, msg = "", line
			}
			d.at(join("schema", path), "%s", msg)
		}
	} else if !chosen || a.input() == featureRows {
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
	switch names := s.Algorithm.names(); {
	case len(names) == 0:
		d.at("algorithm", "choose one of %s", strings.Join(algorithmNames(), ", "))
	case !chosen:
		d.at("algorithm", "choose one algorithm, not %s", strings.Join(names, " and "))
	default:
		a.check(s, "algorithm."+name, d.at)
	}
	s.validateEvaluation(d, name, a)
	if f := s.Features; f != nil {
		switch {
		case f.Definition == "":
			d.at("features.definition", "required: the feature definition file")
		case s.Source.Topic == "":
			d.at("features", "the records must come from a topic keyed by the entity key, not files")
		case chosen && a.input() != featureRows:
			d.at("features", "%s reads its own fields; it takes no streaming features", name)
		}
	}
	if s.Engine.CheckpointEvery < 0 {
		d.at("engine.checkpoint_every", "must not be negative, got %d", s.Engine.CheckpointEvery)
	}
	if s.Engine.Workers < 0 {
		d.at("engine.workers", "must not be negative, got %d", s.Engine.Workers)
	}
	switch s.Engine.Precision {
	case "", "float64":
	case "float32":
		if chosen && !slices.Contains(float32Algorithms, name) {
			d.at("engine.precision", "%s reads float64 rows only; float32 applies to %s", name, strings.Join(float32Algorithms, ", "))
		}
	default:
		d.at("engine.precision", "want float64 or float32, got %q", s.Engine.Precision)
	}
	s.validateOutput(d, name, a)
	s.validateLoop(d, name, a)
}

// checkSource checks a source section; test says it is evaluation.test,
// which may give only an offset range of the job's topic.
func checkSource(d *decoder, path string, src Source, test bool) {
	switch {
	case src.Topic == "" && len(src.Files) == 0:
		if !test {
			d.at(path, "give a topic or files")
		}
	case src.Topic != "" && len(src.Files) > 0:
		d.at(path, "give a topic or files, not both")
	case src.Topic != "":
		if err := log.ValidTopicName(src.Topic); err != nil {
			d.at(path+".topic", "%v", err)
		}
		if src.Header {
			d.at(path+".header", "only files have headers")
		}
	}
	for _, f := range []struct{ key, v, word string }{{"from", src.From, "earliest"}, {"to", src.To, "latest"}} {
		if f.v == "" || f.v == f.word {
			continue
		}
		if n, err := strconv.ParseInt(f.v, 10, 64); err != nil || n < 0 {
			d.at(path+"."+f.key, "want %s or an offset, got %q", f.word, f.v)
		}
		if len(src.Files) > 0 {
			d.at(path+"."+f.key, "offsets apply to topics, not files")
		}
	}
	if src.Split < 0 {
		d.at(path+".split", "must not be negative, got %d", src.Split)
	}
	if src.Partitions < 0 {
		d.at(path+".partitions", "must not be negative, got %d", src.Partitions)
	}
	if src.Partitions > 0 && len(src.Files) == 0 {
		d.at(path+".partitions", "applies to files; a topic has one dataset partition per log partition (times source.split)")
	}
}

// validateEvaluation checks the evaluation section against the chosen
// algorithm (nil when none is).
func (s *Spec) validateEvaluation(d *decoder, name string, a algo) {
	ev := s.Evaluation
	if f := ev.TestFraction; f != nil && (*f < 0 || *f >= 1) {
		d.at("evaluation.test_fraction", "must be in [0, 1), got %v", *f)
	}
	if t := ev.Test; t != nil {
		checkSource(d, "evaluation.test", *t, true)
		if ev.TestFraction != nil {
			d.at("evaluation.test_fraction", "give test_fraction or test, not both")
		}
		if t.Topic == "" && len(t.Files) == 0 {
			switch {
			case s.Source.Topic == "":
				d.at("evaluation.test", "give a topic or files: an offset range alone applies to a topic source")
			case t.From == "" && t.To == "":
				d.at("evaluation.test", "give a topic, files, or an offset range (from, to) of the source topic")
			}
		}
	}
	if ev.Folds == 1 || ev.Folds < 0 {
		d.at("evaluation.folds", "want 0 (no cross-validation) or at least 2, got %d", ev.Folds)
	}
	if ev.Validation < 0 || ev.Validation >= 1 {
		d.at("evaluation.validation_fraction", "must be in (0, 1), got %v", ev.Validation)
	}
	if ev.Validation > 0 && (len(ev.Grid) == 0 || ev.Folds > 0) {
		d.at("evaluation.validation_fraction", "applies to a grid searched without folds")
	}
	if ev.Refit != nil && !*ev.Refit && (len(ev.Grid) == 0 || ev.Folds > 0) {
		d.at("evaluation.refit", "false applies to a grid searched on a validation share: with folds (or no grid) there is no fitted model to keep")
	}
	if a == nil {
		return
	}
	known := a.metrics()
	for i, m := range ev.Metrics {
		if !slices.Contains(known, m) {
			d.at(fmt.Sprintf("evaluation.metrics[%d]", i), "%q is not a metric of %s: want one of %s", m, name, strings.Join(known, ", "))
		}
	}
	grid := a.gridParams()
	for gname, values := range ev.Grid {
		if !slices.Contains(grid, gname) {
			d.at("evaluation.grid."+gname, "not a grid parameter of %s: want one of %s", name, strings.Join(grid, ", "))
		}
		if len(values) == 0 {
			d.at("evaluation.grid."+gname, "no values")
		}
	}
}

func (s *Spec) validateOutput(d *decoder, name string, a algo) {
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
	if a == nil {
		return
	}
	known := a.metrics()
	for _, m := range []struct {
		path string
		th   map[string]float64
	}{{"output.min", s.Output.Min}, {"output.max", s.Output.Max}} {
		for metric := range m.th {
			base := strings.TrimSuffix(strings.TrimSuffix(metric, "_cv_mean"), "_cv_std")
			if !slices.Contains(known, base) {
				d.at(m.path+"."+metric, "%q is not a metric of %s", metric, name)
			}
		}
	}
}
