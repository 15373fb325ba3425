package trainer

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/features"
	"github.com/flintml/flint/features/stream"
	"github.com/flintml/flint/ml"
)

// Algorithm holds exactly one algorithm's parameters: the section under
// algorithm: in a spec. Each field is one algorithm, and the field is its
// whole registration: the type it points to (in the algorithm's own file,
// algo_*.go) implements algo, which is everything the trainer asks of an
// algorithm. Adding an algorithm is adding its file and one field here
// (the fields stand apart, so that gofmt's alignment of one never
// rewrites the others).
type Algorithm struct {
	LinearRegression *LinearParams `yaml:"linear_regression" doc:"Least-squares linear regression."`

	LogisticRegression *LogisticParams `yaml:"logistic_regression" doc:"Binary or multinomial logistic regression."`

	KMeans *KMeansParams `yaml:"kmeans" doc:"k-means clustering."`

	ALS *ALSParams `yaml:"als" doc:"Alternating least squares matrix factorisation for recommendation."`

	MLP *MLPParams `yaml:"mlp" doc:"A multilayer perceptron classifier trained with autodiff gradients."`

	NaiveBayes *NaiveBayesParams `yaml:"naive_bayes" doc:"Naive Bayes classification: multinomial, Bernoulli or Gaussian, as MLlib's NaiveBayes."`

	LinearSVC *LinearSVCParams `yaml:"linear_svc" doc:"A linear support vector machine (hinge loss, L2 penalty) for binary classification, as MLlib's LinearSVC."`
}

// algo is the contract every algorithm implements, on the type of its spec
// section. The trainer's one flow (Run) calls nothing else.
type algo interface {
	// check reports the problems of the algorithm's section of s through
	// at; path is "algorithm.<name>". The spec's other sections are
	// checked already and may be read (the schema, the transforms).
	check(s *Spec, path string, at func(path, format string, args ...any))
	// gridParams names the parameters evaluation.grid may search.
	gridParams() []string
	// with returns a copy with the grid point's values set.
	with(p ml.Params) (algo, error)
	// metrics lists the metrics the algorithm can report.
	metrics() []string
	// reports lists those it reports when evaluation.metrics is not given.
	reports() []string
	// selectBy is the metric a grid chooses by when evaluation.metrics is
	// not given.
	selectBy() string
	// maxIter is the iteration budget, shown beside progress.
	maxIter() int
	// input says what its records become: feature rows (through the
	// schema and the fitted transforms) or something of its own.
	input() inputKind
	// fit trains on d, reporting progress and checkpointing through f.
	fit(ctx context.Context, f *fitEnv, d data) (fitted, error)
}

// A fitted model, as the run scores and publishes it.
type fitted interface {
	// score measures the model on d with the named metrics.
	score(ctx context.Context, f *fitEnv, d data, names []string) (map[string]float64, error)
	// encode returns the model's algorithm name and encoded parameters,
	// as the artefact stores them (the serving side decodes them by the
	// name: ml.RegisterModel, or serving's adapters).
	encode(f *fitEnv) (algorithm string, params []byte, err error)
}

// inputKind is what an algorithm's records become.
type inputKind int

const (
	// featureRows are the rows of the schema through the fitted transforms,
	// cached on the cluster: the label (if any) and the feature vector.
	featureRows inputKind = iota
	// ratingRows are (user, item, rating) triples, for ALS.
	ratingRows
)

// fitEnv is what a fit may use beyond its data.
type fitEnv struct {
	job      *job
	engine   cluster.Cluster
	pipe     *features.Pipeline // feature rows: the fitted transforms
	progress func(ml.Progress)  // reports the fit's iterations
	ckpt     *checkpointer      // nil: the fit takes no checkpoints
	ratings  *ratingKeys        // rating rows: the names of string ids
	features *stream.Enrichment // the streaming features joined to the records, if any
	warm     *warmState         // the published fit's warm start; nil: cold
}

// classes is the number of classes of a categorical label, 0 for a
// numeric one.
func (f *fitEnv) classes() int {
	if f.pipe == nil {
		return 0
	}
	return len(f.pipe.Classes)
}

// progressFunc adapts f.progress to an ml.Settings.Progress callback.
func (f *fitEnv) progressFunc() func(ml.Progress) bool {
	return func(p ml.Progress) bool { f.progress(p); return false }
}

// chosen returns the chosen algorithm's name and parameters; ok is false
// unless exactly one is chosen.
func (a Algorithm) chosen() (name string, p algo, ok bool) {
	v := reflect.ValueOf(a)
	t := v.Type()
	n := 0
	for i := 0; i < t.NumField(); i++ {
		f := v.Field(i)
		if f.IsNil() {
			continue
		}
		n++
		name, p = yamlName(t.Field(i)), f.Interface().(algo)
	}
	return name, p, n == 1
}

// Name returns the name of the chosen algorithm, or "" if none or several.
func (a Algorithm) Name() string {
	name, _, ok := a.chosen()
	if !ok {
		return ""
	}
	return name
}

// names lists the algorithms the section gives.
func (a Algorithm) names() []string {
	var n []string
	v := reflect.ValueOf(a)
	for i := 0; i < v.NumField(); i++ {
		if !v.Field(i).IsNil() {
			n = append(n, yamlName(v.Type().Field(i)))
		}
	}
	return n
}

// algorithmNames lists every algorithm a spec may choose.
func algorithmNames() []string {
	t := reflect.TypeOf(Algorithm{})
	out := make([]string, t.NumField())
	for i := range out {
		out[i] = yamlName(t.Field(i))
	}
	return out
}

func init() {
	// Every field of Algorithm must be an algorithm: fail at start, not
	// when a spec first chooses it.
	t := reflect.TypeOf(Algorithm{})
	at := reflect.TypeOf((*algo)(nil)).Elem()
	for i := 0; i < t.NumField(); i++ {
		if f := t.Field(i); f.Type.Kind() != reflect.Pointer || !f.Type.Implements(at) {
			panic(fmt.Sprintf("trainer: Algorithm.%s (%s) does not implement the algorithm contract", f.Name, f.Type))
		}
	}
}

// unknownGrid is the error of a grid parameter an algorithm does not have.
func unknownGrid(a algo, name string) error {
	return fmt.Errorf("trainer: %q is not a grid parameter: want one of %s", name, strings.Join(a.gridParams(), ", "))
}
