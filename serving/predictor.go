package serving

import (
	"fmt"

	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/models"
)

// outputKind is what a predictor's predictions are.
type outputKind int

const (
	regression     outputKind = iota + 1 // a value per row
	classification                       // a class index per row, and class probabilities
	clustering                           // a cluster index per row
)

func (k outputKind) String() string {
	switch k {
	case regression:
		return "regression"
	case classification:
		return "classification"
	case clustering:
		return "clustering"
	}
	return "none"
}

// predictor is what serving calls to predict rows: feature vectors in,
// predictions out, in the request's goroutine. It is built from an
// artefact's Params by decodeModel and must be safe for concurrent use.
type predictor interface {
	output() outputKind
	// numFeatures is the length of a feature vector; the artefact's
	// pipeline must produce exactly that many.
	numFeatures() int
	// numClasses is the number of classes of a classifier, else 0.
	numClasses() int
	// predict writes one prediction per row of the rows×numFeatures
	// row-major x into pred (the value, class index or cluster index) and,
	// for a classifier when proba is not nil, the rows×numClasses class
	// probabilities into proba. It must not keep x, pred or proba.
	predict(pred, proba, x []float64, rows int) error
}

// recommender is what the recommendation routes call. The ALS adapter
// implements it; user and item ids arrive as the strings in the query, and
// the adapter parses them. Errors that are the client's fault (an id that
// is not a number, a user or item not seen in training) must be a
// *requestError with status 400 or 404; anything else is a 500.
type recommender interface {
	// Recommend returns the k items with the highest predicted score for
	// user, best first; with excludeSeen, leaving out the items the user
	// rated in training.
	Recommend(user string, k int, excludeSeen bool) ([]scored, error)
	// SimilarItems returns the k items most similar to item (not item
	// itself), most similar first.
	SimilarItems(item string, k int) ([]scored, error)
}

// popularity is what a recommender may also implement: the fallback of
// fallback=popular for a user not seen in training.
type popularity interface {
	// Popular returns the k items rated most in training, scored by their
	// number of ratings.
	Popular(k int) ([]scored, error)
}

// pairScorer is a predictor whose rows are (user, item) pairs of ids (an
// ALS model). Its artefact has no feature pipeline: serving gives it one
// of two fields, "user" and "item" (numeric for integer ids, categorical
// for string ids), and resolves each pair to the model's ids (integers,
// names it knows, or the model's cold-start strategy) before it is scored:
// predict's rows are those ids.
type pairScorer interface {
	predictor
	// named reports, for the user (0) and the item (1), whether the
	// model's ids of that side are string names.
	named() [2]bool
	// byName returns the id of a name of side j, and whether training saw it.
	byName(j int, name string) (int64, bool)
	// knownID reports whether training saw the integer id of side j.
	knownID(j int, id int64) bool
	// coldStart is the model's strategy for a pair it does not know:
	// als.ColdStartNaN (the request is refused, 422, naming the row) or
	// als.ColdStartDrop (the pair is left out of the answer).
	coldStart() string
}

// scored is an item id with its score.
type scored struct {
	ID    string
	Score float64
}

// adapter decodes the Params of an algorithm that ml.UnmarshalModel does
// not know into a predictor, a recommender, or both (adapters.go).
type adapter func(params []byte) (any, error)

// decodeModel turns an artefact's Params into what serves it. Params in
// the ml model envelope (ml.ParseModel) go to the adapter of the envelope's
// algorithm if there is one, else to ml.UnmarshalModel; other Params go to
// the adapter named by Artifact.Algorithm.
func decodeModel(adapters map[string]adapter, a *models.Artifact) (any, error) {
	name := a.Algorithm
	h, _, err := ml.ParseModel(a.Params)
	if err == nil {
		name = h.Algorithm
	}
	if f, ok := adapters[name]; ok {
		v, err := f(a.Params)
		if err != nil {
			return nil, fmt.Errorf("decode %s model: %w", name, err)
		}
		return v, nil
	}
	if err != nil {
		return nil, fmt.Errorf("decode %s model: no decoder for it, and its params are not an ml model (%w)", a.Algorithm, err)
	}
	m, err := ml.UnmarshalModel(a.Params)
	if err != nil {
		return nil, fmt.Errorf("decode %s model: %w", name, err)
	}
	return newMLPredictor(m), nil
}

// mlPredictor adapts an ml.Model (and an ml.ClassPredictor or
// ml.Classifier) to predictor.
type mlPredictor struct {
	m  ml.Model
	cp ml.ClassPredictor // nil for a regressor
	c  ml.Classifier     // nil for a model without probabilities (a linear SVM)
}

// clusterer is optional: an ml.Model whose predictions are cluster
// indices (k-means, were it registered with ml.RegisterModel) says so by
// having it.
type clusterer interface {
	NumClusters() int
}

func newMLPredictor(m ml.Model) *mlPredictor {
	p := &mlPredictor{m: m}
	p.cp, _ = m.(ml.ClassPredictor)
	p.c, _ = m.(ml.Classifier)
	return p
}

// probabilities says whether the model gives class probabilities.
func (p *mlPredictor) probabilities() bool { return p.c != nil }

// hasProbabilities says whether a classification predictor gives class
// probabilities: those of ml.Classifier models do, others (a linear SVM)
// give classes only.
func hasProbabilities(p predictor) bool {
	pp, ok := p.(interface{ probabilities() bool })
	return ok && pp.probabilities()
}

func (p *mlPredictor) output() outputKind {
	if p.cp != nil {
		return classification
	}
	if _, ok := p.m.(clusterer); ok {
		return clustering
	}
	return regression
}

func (p *mlPredictor) numFeatures() int { return p.m.NumFeatures() }

func (p *mlPredictor) numClasses() int {
	if p.cp == nil {
		return 0
	}
	return p.cp.NumClasses()
}

func (p *mlPredictor) predict(pred, proba, x []float64, rows int) error {
	// PredictBatch applies the model's own decision rule (a binomial
	// logistic model's threshold), so it is called even when the
	// probabilities are wanted too.
	p.m.PredictBatch(pred, x, rows)
	if p.c != nil && proba != nil {
		p.c.ProbaBatch(proba, x, rows)
	}
	return nil
}
