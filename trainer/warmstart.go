package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/flintml/flint/ml"
	"github.com/flintml/flint/ml/als"
	"github.com/flintml/flint/ml/kmeans"
	"github.com/flintml/flint/ml/mlp"
	"github.com/flintml/flint/models"
)

// trainingSection is the artefact section that records how the model's
// fit ran: its iterations, the version it was warm-started from, and the
// cold baseline the iterations saved are counted against.
const trainingSection = "training"

// Training is the training section of an artefact (JSON).
type Training struct {
	// Iterations the published fit ran.
	Iterations int `json:"iterations"`
	// WarmFrom is the version the fit started from; 0 for a cold fit.
	WarmFrom int `json:"warm_from,omitempty"`
	// ColdIterations are the iterations of the newest cold fit in the
	// model's chain of warm starts (this fit's, when it was cold), and
	// ColdVersion its version (0: this one).
	ColdIterations int `json:"cold_iterations"`
	ColdVersion    int `json:"cold_version,omitempty"`
	// Holdout is the recent records promote.holdout kept out of training
	// and scored the versions on.
	Holdout []models.Source `json:"holdout,omitempty"`
}

// ReadOffsets returns every record range a version's run read: its
// lineage (the training records) and the records it held out for a
// promotion, from its training section.
func ReadOffsets(art *models.Artifact) []models.Source {
	out := slices.Clone(art.Lineage)
	var t Training
	if sec, ok := art.Extra[trainingSection]; ok && json.Unmarshal(sec, &t) == nil {
		out = append(out, t.Holdout...)
	}
	return out
}

// WarmStart is what a run's warm start did.
type WarmStart struct {
	// From is the version the fit started from; 0 when it started cold,
	// and Note then says why.
	From int    `json:"from"`
	Note string `json:"note,omitempty"`
	// Iterations is the iterations the fit ran; ColdIterations those of
	// the newest cold fit of the model (version ColdVersion), on the rows
	// of that version, which is what Saved is counted against:
	// ColdIterations − Iterations. It is an estimate: a cold fit of this
	// run's rows may need a few more or fewer.
	Iterations     int `json:"iterations"`
	ColdIterations int `json:"cold_iterations"`
	ColdVersion    int `json:"cold_version"`
	Saved          int `json:"saved"`
}

// previous is the version a run compares with (the champion, behind
// promote.alias) and warm-starts from: its artefact and number.
type previous struct {
	art     *models.Artifact
	version int
	model   any // the decoded parameters: an ml.Model, a *kmeans.Model or an *als.Model
	train   Training
}

// loadPrevious reads the version behind promote.alias when the job
// promotes, else the latest version; nil when there is none.
func (j *job) loadPrevious(ctx context.Context, model string) (*previous, error) {
	var art *models.Artifact
	var info models.VersionInfo
	var err error
	if p := j.spec.Promote; p != nil {
		art, info, err = j.opt.Registry.GetAlias(ctx, model, p.Alias)
	} else {
		art, info, err = j.opt.Registry.Latest(ctx, model)
	}
	if errors.Is(err, models.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("trainer: read the previous version of %s: %w", model, err)
	}
	p := &previous{art: art, version: info.Version}
	if sec, ok := art.Extra[trainingSection]; ok {
		if err := json.Unmarshal(sec, &p.train); err != nil {
			j.log.Warn("trainer: the previous version's training section does not decode", "model", model, "version", info.Version, "err", err)
		}
	}
	switch art.Algorithm {
	case "kmeans":
		km := new(kmeans.Model)
		if err := km.UnmarshalBinary(art.Params); err == nil {
			p.model = km
		}
	case "als":
		m := new(als.Model)
		if err := m.UnmarshalBinary(art.Params); err == nil {
			p.model = m
		}
	default:
		if m, err := ml.UnmarshalModel(art.Params); err == nil {
			p.model = m
		}
	}
	return p, nil
}

// warmState is a run's warm start: the model to start from, and what the
// algorithm's fit made of it.
type warmState struct {
	prev *previous
	used bool   // the fit started from prev
	why  string // why it did not
	note string // what the report should add when it did (e.g. that it saves nothing)
}

// skip records why the fit starts cold.
func (w *warmState) skip(format string, args ...any) {
	w.why = fmt.Sprintf(format, args...)
}

// glm returns the start of a linear model of k rows of d coefficients,
// or nil (recording why) when the previous model is not one of that shape.
func (w *warmState) glm(k, d int) *ml.WarmStart {
	if w == nil {
		return nil
	}
	var s *ml.WarmStart
	switch m := w.prev.model.(type) {
	case *ml.LogisticModel:
		s = &ml.WarmStart{Coef: m.Coef, Intercept: m.Intercept}
	case *ml.LinearModel:
		s = &ml.WarmStart{Coef: m.Coef, Intercept: []float64{m.Intercept}}
	case *ml.SVMModel:
		s = &ml.WarmStart{Coef: m.Coef, Intercept: []float64{m.Intercept}}
	default:
		w.skip("version %d is a %s model", w.prev.version, w.prev.art.Algorithm)
		return nil
	}
	if len(s.Coef) != k*d || len(s.Intercept) != k {
		w.skip("version %d has %d coefficients in %d rows; this fit has %d×%d (the features or classes changed)",
			w.prev.version, len(s.Coef), len(s.Intercept), k, d)
		return nil
	}
	w.used = true
	return s
}

// network returns the previous MLP's weights when its layer sizes are
// sizes, else nil (recording why).
func (w *warmState) network(sizes []int) []float64 {
	if w == nil {
		return nil
	}
	var net *mlp.Model
	switch m := w.prev.model.(type) {
	case *mlp.Classifier:
		net = m.Net
	case *mlp.Regressor:
		net = m.Net
	default:
		w.skip("version %d is a %s model", w.prev.version, w.prev.art.Algorithm)
		return nil
	}
	if !slices.Equal(net.Sizes, sizes) {
		w.skip("version %d has layer sizes %v; this fit has %v", w.prev.version, net.Sizes, sizes)
		return nil
	}
	w.used = true
	return slices.Clone(net.Params)
}

// centres returns the previous k-means centres when there are k of dim
// values each, else nil (recording why).
func (w *warmState) centres(k, dim int) []float64 {
	if w == nil {
		return nil
	}
	m, ok := w.prev.model.(*kmeans.Model)
	switch {
	case !ok:
		w.skip("version %d is a %s model", w.prev.version, w.prev.art.Algorithm)
		return nil
	case m.K != k || m.Dim != dim:
		w.skip("version %d has %d centres of %d values; this fit has k %d of %d", w.prev.version, m.K, m.Dim, k, dim)
		return nil
	}
	w.used = true
	return append([]float64(nil), m.Centres...)
}

// newWarmState returns the warm start of a run whose spec asks for one,
// nil when it does not or there is nothing to start from (res says why).
func (j *job) newWarmState(res *Result) *warmState {
	if !j.spec.warmStart() {
		return nil
	}
	if name := j.spec.Algorithm.Name(); !slices.Contains(warmStartable, name) {
		res.WarmStart = &WarmStart{Note: fmt.Sprintf("%s starts cold: warm start applies to %s", name, strings.Join(warmStartable, ", "))}
		return nil
	}
	if j.prev == nil {
		res.WarmStart = &WarmStart{Note: "no previous version to start from"}
		return nil
	}
	if j.prev.model == nil {
		res.WarmStart = &WarmStart{Note: fmt.Sprintf("version %d's %s parameters do not decode", j.prev.version, j.prev.art.Algorithm)}
		return nil
	}
	return &warmState{prev: j.prev}
}

// training returns the run's training section, completing res.WarmStart
// with the iterations saved against the newest cold fit.
func (j *job) training(w *warmState, res *Result) Training {
	t := Training{Iterations: res.Iterations, ColdIterations: res.Iterations, Holdout: res.Holdout}
	if w == nil || !w.used {
		switch {
		case w != nil:
			res.WarmStart = &WarmStart{Note: w.why, Iterations: res.Iterations}
		case res.WarmStart != nil: // newWarmState said why there is none
			res.WarmStart.Iterations = res.Iterations
		}
		return t
	}
	p := w.prev
	t.WarmFrom = p.version
	t.ColdIterations, t.ColdVersion = p.train.ColdIterations, p.train.ColdVersion
	if t.ColdVersion == 0 {
		t.ColdVersion = p.version
	}
	ws := &WarmStart{From: p.version, Iterations: res.Iterations, ColdIterations: t.ColdIterations, ColdVersion: t.ColdVersion}
	if t.ColdIterations > 0 {
		ws.Saved = t.ColdIterations - res.Iterations
		ws.Note = w.note
	} else {
		ws.Note = fmt.Sprintf("version %d records no cold fit to count the iterations saved against", p.version)
	}
	res.WarmStart = ws
	return t
}
