package online

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/ml/kmeans"
	"github.com/flintml/flint/ml/streaming"
	"github.com/flintml/flint/models"
)

// StateSection is the artefact section holding what a restart needs
// beyond the model's parameters: the algorithm, counters, k-means weights
// and the offsets the version holds.
const StateSection = "online"

// stateFormat is the version of the state section's encoding.
const stateFormat = 1

// state is the StateSection, as JSON.
type state struct {
	Format    int         `json:"format"`
	Algorithm string      `json:"algorithm"`
	Group     string      `json:"group"`
	Topic     string      `json:"topic"`
	Records   int64       `json:"records"` // records consumed, bad ones included
	Bad       int64       `json:"bad"`     // records skipped as bad
	Rows      int64       `json:"rows"`    // rows the model learnt from
	Batches   int64       `json:"batches"`
	Weights   []float64   `json:"weights,omitempty"` // streaming_kmeans: the clusters' weights
	Offsets   []partRange `json:"offsets"`           // the offset ranges [from, to) consumed since the first version, by partition and offset
}

// partRange is offsets [From, To) of one partition the model holds.
type partRange struct {
	Partition int   `json:"partition"`
	From      int64 `json:"from"`
	To        int64 `json:"to"`
}

// decodeState reads a StateSection, checking what a restart relies on.
func decodeState(b []byte) (*state, error) {
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("section %q: %w", StateSection, err)
	}
	if st.Format != stateFormat {
		return nil, fmt.Errorf("section %q: format %d, this Flint reads %d", StateSection, st.Format, stateFormat)
	}
	if st.Records < 0 || st.Rows < 0 || st.Batches < 0 || st.Bad < 0 {
		return nil, fmt.Errorf("section %q: negative counters", StateSection)
	}
	for i, r := range st.Offsets {
		if r.Partition < 0 || r.From < 0 || r.To <= r.From {
			return nil, fmt.Errorf("section %q: bad offset range %+v", StateSection, r)
		}
		if i > 0 {
			q := st.Offsets[i-1]
			if q.Partition > r.Partition || q.Partition == r.Partition && q.To > r.From {
				return nil, fmt.Errorf("section %q: offset ranges %+v and %+v are out of order or overlap", StateSection, q, r)
			}
		}
	}
	for _, w := range st.Weights {
		if !(w >= 0) || math.IsInf(w, 0) {
			return nil, fmt.Errorf("section %q: weight %v is not a finite number >= 0", StateSection, w)
		}
	}
	return &st, nil
}

// learner is a streaming model behind one interface.
type learner interface {
	// update folds a batch in: x rows×dim, y labels (k-means ignores
	// them), w weights.
	update(x, y, w []float64)
	// predictBatch writes one prediction per row of x into dst: the value,
	// the class index or the cluster, as serving answers.
	predictBatch(dst, x []float64)
	// encode returns the artefact's algorithm and parameters, in the
	// encodings the batch trainer writes and serving reads.
	encode() (string, []byte, error)
	// ready reports whether there is a model to publish.
	ready() bool
	// metrics describes the model for the artefact.
	metrics() map[string]float64
	// save writes what a restart needs into st; restore reads it back,
	// with the parameters of the version.
	save(st *state)
	restore(params []byte, st *state) error
}

// newLearner builds the spec's model for rows of dim features.
func newLearner(a Algorithm, dim int) (learner, error) {
	switch {
	case a.KMeans != nil:
		m, err := streaming.NewKMeans(a.KMeans.config(dim))
		return &kmeansLearner{m}, err
	case a.Linear != nil:
		m, err := streaming.NewLinear(a.Linear.config(dim))
		return &linearLearner{m}, err
	case a.Logistic != nil:
		m, err := streaming.NewLogistic(a.Logistic.config(dim))
		return &logisticLearner{m}, err
	}
	return nil, errors.New("online: no algorithm")
}

type kmeansLearner struct{ m *streaming.KMeans }

func (l *kmeansLearner) update(x, _, w []float64)      { l.m.Update(x, w) }
func (l *kmeansLearner) predictBatch(dst, x []float64) { l.m.PredictBatch(dst, x) }
func (l *kmeansLearner) ready() bool                   { return l.m.Ready() }
func (l *kmeansLearner) encode() (string, []byte, error) {
	if !l.m.Ready() {
		return "", nil, errors.New("online: k-means has no centres yet")
	}
	b, err := l.m.Model().MarshalBinary()
	return "kmeans", b, err // the name the batch trainer gives (trainer/algo_kmeans.go)
}
func (l *kmeansLearner) metrics() map[string]float64 {
	return map[string]float64{"batch_cost": l.m.Cost, "decay": l.m.Decay()}
}
func (l *kmeansLearner) save(st *state) {
	st.Rows, st.Batches = l.m.Rows, l.m.Batches
	st.Weights = append([]float64(nil), l.m.Weights()...)
}
func (l *kmeansLearner) restore(params []byte, st *state) error {
	var km kmeans.Model
	if err := km.UnmarshalBinary(params); err != nil {
		return err
	}
	if km.K != l.m.K() || km.Dim != l.m.Dim() {
		return fmt.Errorf("the version has k = %d over %d features, the spec k = %d over %d", km.K, km.Dim, l.m.K(), l.m.Dim())
	}
	if err := l.m.SetCentres(km.Centres, st.Weights); err != nil {
		return err
	}
	l.m.Rows, l.m.Batches = st.Rows, st.Batches
	return nil
}

type linearLearner struct{ m *streaming.Linear }

func (l *linearLearner) update(x, y, w []float64)      { l.m.Update(x, y, w) }
func (l *linearLearner) predictBatch(dst, x []float64) { l.m.PredictBatch(dst, x) }
func (l *linearLearner) ready() bool                   { return true }
func (l *linearLearner) encode() (string, []byte, error) {
	m := l.m.Model()
	b, err := m.MarshalBinary()
	return m.Algorithm(), b, err
}
func (l *linearLearner) metrics() map[string]float64 {
	return map[string]float64{"sgd_steps": float64(l.m.Steps)}
}
func (l *linearLearner) save(st *state) { st.Rows, st.Batches = l.m.Rows, l.m.Batches }
func (l *linearLearner) restore(params []byte, st *state) error {
	m, err := ml.UnmarshalModel(params)
	if err != nil {
		return err
	}
	lm, ok := m.(*ml.LinearModel)
	if !ok {
		return fmt.Errorf("the version holds a %s model, not linear", m.Algorithm())
	}
	if err := l.m.SetWeights(lm.Coef, lm.Intercept); err != nil {
		return err
	}
	l.m.Rows, l.m.Batches = st.Rows, st.Batches
	return nil
}

type logisticLearner struct{ m *streaming.Logistic }

func (l *logisticLearner) update(x, y, w []float64)      { l.m.Update(x, y, w) }
func (l *logisticLearner) predictBatch(dst, x []float64) { l.m.PredictBatch(dst, x) }
func (l *logisticLearner) ready() bool                   { return true }
func (l *logisticLearner) encode() (string, []byte, error) {
	m := l.m.Model()
	b, err := m.MarshalBinary()
	return m.Algorithm(), b, err
}
func (l *logisticLearner) metrics() map[string]float64 {
	return map[string]float64{"sgd_steps": float64(l.m.Steps)}
}
func (l *logisticLearner) save(st *state) { st.Rows, st.Batches = l.m.Rows, l.m.Batches }
func (l *logisticLearner) restore(params []byte, st *state) error {
	m, err := ml.UnmarshalModel(params)
	if err != nil {
		return err
	}
	lm, ok := m.(*ml.LogisticModel)
	if !ok || lm.Multinomial || len(lm.Intercept) != 1 {
		return fmt.Errorf("the version holds a %s model, not binary logistic", m.Algorithm())
	}
	if err := l.m.SetWeights(lm.Coef, lm.Intercept[0]); err != nil {
		return err
	}
	l.m.Rows, l.m.Batches = st.Rows, st.Batches
	return nil
}

// lineage turns the state's offsets into the artefact's lineage.
func lineage(topic string, offs []partRange) []models.Source {
	out := make([]models.Source, len(offs))
	for i, r := range offs {
		out[i] = models.Source{Kind: "log", Topic: topic, Partition: r.Partition, From: r.From, To: r.To}
	}
	return out
}
