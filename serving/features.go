package serving

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flintml/flint/features"
	"github.com/flintml/flint/features/stream"
	"github.com/flintml/flint/models"
)

// A model trained with streaming features (trainer's features:) stores
// how its records were joined with them (stream.Enrichment, in the
// artefact's "features" section). The server fills those features in for
// each row from a replica of the definition's states (stream.Replica, one
// per definition, following the processor's changelog in the server's
// log), as of the row's time field when it gives one and the request time
// otherwise, by the same Value training used: a row needs only the entity
// key and the request-time fields. A row that gives every feature itself
// (a backfill, a test) is served as given.

// modelFeatures fills a model's streaming features.
type modelFeatures struct {
	rep  *stream.Replica
	def  string // the definition's name, for messages and metrics
	key  int    // schema index of the entity key field
	time int    // schema index of the time field; -1: the request time
	idx  []int  // schema index of each feature, in the definition's order
}

// attachFeatures gives lm its streaming features when the artefact has
// them.
func (s *Server) attachFeatures(lm *loadedModel, a *models.Artifact) error {
	sec, ok := a.Extra[stream.ArtifactSection]
	if !ok || lm.pred == nil || lm.pipeline == nil {
		return nil
	}
	var e stream.Enrichment
	if err := json.Unmarshal(sec, &e); err != nil {
		return fmt.Errorf("the artefact's %s section: %w", stream.ArtifactSection, err)
	}
	def, err := e.Parse()
	if err != nil {
		return fmt.Errorf("the artefact's feature definition: %w", err)
	}
	f := &modelFeatures{def: def.Name, key: lm.pipeline.Schema.Index(e.Key), time: -1}
	if f.key < 0 {
		return fmt.Errorf("the entity key field %q of definition %q is not in the model's schema", e.Key, def.Name)
	}
	if e.Time != "" {
		f.time = lm.pipeline.Schema.Index(e.Time)
	}
	for _, name := range def.FeatureNames() {
		j := lm.pipeline.Schema.Index(name)
		if j < 0 {
			return fmt.Errorf("feature %q of definition %q is not in the model's schema", name, def.Name)
		}
		f.idx = append(f.idx, j)
	}
	if f.rep, err = s.replica(def, e.Definition); err != nil {
		return err
	}
	lm.feat = f
	return nil
}

// errNoLog is the error of a model with streaming features on a server
// without a log to follow their changelog in.
var errNoLog = errors.New("the model fills streaming features from a definition's changelog, but the server has no log (flint serve --log)")

// replica returns the server's replica of def's states, starting it the
// first time.
func (s *Server) replica(def *stream.Definition, text string) (*stream.Replica, error) {
	if s.cfg.Log == nil {
		return nil, errNoLog
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// One replica per definition text: versions of a model trained on an
	// edited definition of the same name (other features, another state
	// layout) must not share one.
	sum := sha256.Sum256([]byte(text))
	id := def.Name + "@" + hex.EncodeToString(sum[:4])
	if r, ok := s.replicas[id]; ok {
		return r, nil
	}
	if s.life == nil {
		return nil, errors.New("the server is not running")
	}
	r := stream.NewReplica(s.cfg.Log, def, stream.ReplicaConfig{Logger: s.log})
	if s.replicas == nil {
		s.replicas = map[string]*stream.Replica{}
	}
	s.replicas[id] = r
	labels := prometheus.Labels{"definition": def.Name, "definition_sha256": hex.EncodeToString(sum[:4])}
	s.metrics.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "flint_serving_feature_replica_keys", ConstLabels: labels,
			Help: "Entity keys the server's replica of a feature definition's states holds."},
			func() float64 { k, _, _ := r.Stats(); return float64(k) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "flint_serving_feature_replica_lag_records", ConstLabels: labels,
			Help: "Changelog records the server's replica of a feature definition had not read at its last poll."},
			func() float64 { _, lag, _ := r.Stats(); return float64(lag) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "flint_serving_feature_replica_event_age_seconds", ConstLabels: labels,
			Help: "Seconds from the newest event time in the server's replica of a feature definition's states to now: how far the replica trails the stream."},
			func() float64 {
				_, _, newest := r.Stats()
				if newest < -stream.MaxTime {
					return math.NaN()
				}
				return float64(time.Now().UnixMilli()-newest) / 1000
			}))
	go func() {
		if err := r.Run(s.life); err != nil {
			s.log.Error("serving: feature replica stopped", "definition", def.Name, "err", err)
		}
	}()
	return r, nil
}

// SyncFeatures waits until every feature replica has read its changelog
// up to its end as of the call: what a test or a deployment check waits
// for after the processor has caught up.
func (s *Server) SyncFeatures(ctx context.Context) error {
	s.mu.Lock()
	reps := make([]*stream.Replica, 0, len(s.replicas))
	for _, r := range s.replicas {
		reps = append(reps, r)
	}
	s.mu.Unlock()
	for _, r := range reps {
		if err := r.Sync(ctx); err != nil {
			return err
		}
	}
	return nil
}

// filled says whether field j is a streaming feature the server fills in.
func (lm *loadedModel) filled(j int) bool {
	return lm.feat != nil && slices.Contains(lm.feat.idx, j)
}

// reads says whether the server decodes field j of a row: the pipeline
// reads it, or it is the entity key or time of the streaming features.
func (lm *loadedModel) reads(j int) bool {
	return lm.input[j] || lm.feat != nil && (j == lm.feat.key || j == lm.feat.time)
}

// fillFeatures fills the row's streaming features from the replica unless
// the row gives every one of them.
func (lm *loadedModel) fillFeatures(w *worker, i int, form rowForm) error {
	f := lm.feat
	row := w.row
	given := func(j int) bool { return w.seen[j] == w.gen && !row[j].Missing }
	all := true
	for _, j := range f.idx {
		all = all && given(j)
	}
	if all {
		return nil
	}
	if !given(f.key) {
		return rowError(i, form, fieldErr(lm.fields[f.key].Name, "missing: the model's streaming features are looked up by this entity key"))
	}
	key := features.KeyText(row[f.key], lm.fields[f.key])
	now := time.Now().UnixMilli()
	at := now
	if f.time >= 0 && given(f.time) {
		at = int64(math.Round(row[f.time].Num * 1000))
	}
	if cap(w.feat) < len(f.idx) {
		w.feat = make([]float64, len(f.idx))
	}
	vals := w.feat[:len(f.idx)]
	st, known := f.rep.Values(key, at, vals)
	for k, j := range f.idx {
		if given(j) {
			continue
		}
		if v := vals[k]; math.IsNaN(v) {
			features.SetNull(&row[j])
		} else {
			row[j] = features.Value{Num: v}
		}
		w.seen[j] = w.gen
	}
	if known && lm.featureAge != nil {
		lm.featureAge.Observe(float64(now-st) / 1000)
	}
	return nil
}
