// Package monitor watches a served model through its prediction log: how
// far the rows it is asked about have drifted from those it was trained on,
// and, once labels have been joined to its predictions, how right it is.
// flint monitor runs it.
//
// # Drift
//
// The monitor consumes the prediction log (package predlog) in a consumer
// group. Each row of the watched model goes through the fitted pipeline of
// the version that predicted it (the one stored with the model, so the
// vector is the one the model saw) and is counted into a window over the
// bins of that version's training profile (the artefact's "profile"
// section; package features/drift). Every Window rows the window is read:
// the population stability index of each feature is a gauge
// (flint_monitor_psi{model,version,feature}), the largest another
// (flint_monitor_psi_max), and the window starts again. A reading whose
// largest index passes Threshold is drift: OnDrift is called with it (flint
// monitor fires the retraining job's trigger on the driver), at most once
// per Cooldown of prediction time.
//
// # Quality
//
// The topic of joined predictions (package predlog/join: the row's fields
// with the label, the model, version and prediction in headers) gives the
// model's accuracy (a classifier: the predicted class index equals the
// label's) or root mean squared error (a regression) per version, over
// windows of LabeledWindow labelled rows: flint_monitor_accuracy and
// flint_monitor_rmse{model,version}.
//
// # Restarts
//
// Offsets are committed after each poll's rows are counted; windows live in
// memory. A restarted monitor starts its windows empty and reads on from
// the committed offsets: readings are statistics over recent rows, and
// losing part of a window to a restart moves the next reading later, it
// does not change what a full window reports.
package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"time"

	"github.com/flintml/flint/features"
	"github.com/flintml/flint/features/drift"
	"github.com/flintml/flint/log"
	"github.com/flintml/flint/models"
	"github.com/flintml/flint/serving/predlog"
	"github.com/flintml/flint/serving/predlog/join"
)

// ProfileSection is the artefact section holding the training profile
// (drift.Profile as JSON), as the trainer writes it.
const ProfileSection = "profile"

// Config configures a Monitor. Zero fields take the defaults given.
type Config struct {
	Log      log.Log
	Registry *models.Registry
	// Model is the model watched; rows of other models are passed over.
	Model string
	// Predictions is the prediction log topic (flint serve
	// --prediction-log). Required.
	Predictions string
	// Labeled is the topic of joined predictions (flint predictions join
	// --out); "" watches drift only.
	Labeled string
	// Group is the consumer group; default "monitor.MODEL".
	Group string
	// Window is how many served rows a drift reading is taken over;
	// default 1000.
	Window int
	// LabeledWindow is how many labelled rows a quality reading is taken
	// over; default 500.
	LabeledWindow int
	// Threshold is the largest feature PSI that counts as drift; default
	// 0.25.
	Threshold float64
	// OnDrift is called with a reading past Threshold; nil: the drift is
	// only logged and measured. An error is logged, and the next reading
	// past the threshold calls it again.
	OnDrift func(ctx context.Context, r Reading) error
	// Cooldown is the least prediction time between two OnDrift calls;
	// default 10 minutes.
	Cooldown time.Duration
	// PollWait is how long a poll waits for records; default 500ms.
	PollWait time.Duration
	Logger   *slog.Logger
}

func (c *Config) defaults() error {
	if c.Log == nil || c.Registry == nil || c.Model == "" || c.Predictions == "" {
		return errors.New("monitor: a monitor needs a log, a registry, a model name and the prediction log topic")
	}
	if c.Group == "" {
		c.Group = "monitor." + c.Model
	}
	if c.Window <= 0 {
		c.Window = 1000
	}
	if c.LabeledWindow <= 0 {
		c.LabeledWindow = 500
	}
	if c.Threshold <= 0 {
		c.Threshold = 0.25
	}
	if c.Cooldown <= 0 {
		c.Cooldown = 10 * time.Minute
	}
	if c.PollWait <= 0 {
		c.PollWait = 500 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Reading is one drift reading: a window of served rows of one version.
type Reading struct {
	Model   string
	Version int
	Rows    int64
	// PSI is every feature's index, by name.
	PSI map[string]float64
	// Max is the largest index, of feature Feature.
	Max     float64
	Feature string
	// At is the prediction time of the window's last row.
	At time.Time
}

// Quality is one quality reading: a window of labelled rows of one
// version.
type Quality struct {
	Model    string
	Version  int
	Rows     int64
	Accuracy float64 // classifiers; NaN otherwise
	RMSE     float64 // regressions; NaN otherwise
}

// Monitor watches one model. It is used by one goroutine (Run).
type Monitor struct {
	cfg      Config
	metrics  *Metrics
	versions map[int]*version
	lastFire time.Time
	rows     []predlog.Record // scratch of served: one record's rows
	// Readings and Qualities, when set (by tests), get every reading.
	readings  func(Reading)
	qualities func(Quality)
}

// New returns a monitor; Run starts it.
func New(cfg Config) (*Monitor, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	return &Monitor{cfg: cfg, metrics: newMetrics(), versions: map[int]*version{}}, nil
}

// Metrics returns the monitor's metrics.
func (m *Monitor) Metrics() *Metrics { return m.metrics }

// Run consumes the topics until ctx ends (then it returns nil) or an
// error stops it.
func (m *Monitor) Run(ctx context.Context) error {
	topics := []string{m.cfg.Predictions}
	if m.cfg.Labeled != "" {
		topics = append(topics, m.cfg.Labeled)
	}
	c, err := m.cfg.Log.JoinGroup(ctx, log.GroupConfig{Group: m.cfg.Group, Topics: topics})
	if err != nil {
		return fmt.Errorf("monitor: join group %q on %v: %w", m.cfg.Group, topics, err)
	}
	defer c.Close()
	for ctx.Err() == nil {
		recs, err := c.Poll(ctx, log.ReadOptions{MaxRecords: 1000, Wait: m.cfg.PollWait})
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("monitor: poll %v: %w", topics, err)
		}
		for i := range recs {
			if err := m.record(ctx, &recs[i]); err != nil {
				return err
			}
		}
		if len(recs) > 0 {
			if err := c.Commit(ctx, recs...); err != nil && !errors.Is(err, log.ErrNotAssigned) && ctx.Err() == nil {
				m.cfg.Logger.Warn("monitor: commit the group's offsets", "group", m.cfg.Group, "err", err)
			}
		}
	}
	return nil
}

// record counts one record of either topic. Only a store that cannot be
// read stops the monitor; a record that does not fit is counted and
// passed over.
func (m *Monitor) record(ctx context.Context, r *log.Record) error {
	var err error
	if r.Topic == m.cfg.Predictions {
		err = m.served(ctx, r)
	} else {
		err = m.labeled(ctx, r)
	}
	var bad *badRecord
	if errors.As(err, &bad) {
		m.metrics.bad.WithLabelValues(r.Topic).Inc()
		m.cfg.Logger.Warn("monitor: passing over a record", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", bad.err)
		return nil
	}
	return err
}

// badRecord is a record the monitor cannot read.
type badRecord struct{ err error }

func (b *badRecord) Error() string { return b.err.Error() }

func bad(format string, args ...any) error { return &badRecord{fmt.Errorf(format, args...)} }

// served counts the rows of a prediction log record into their version's
// drift window. A row that does not fit passes over the rest of its
// record.
func (m *Monitor) served(ctx context.Context, r *log.Record) error {
	rows, err := predlog.DecodeRows(m.rows[:0], r.Value)
	m.rows = rows[:0]
	defer clear(rows) // they point into r.Value
	if err != nil {
		return &badRecord{err}
	}
	for i := range rows {
		if err := m.servedRow(ctx, &rows[i]); err != nil {
			return err
		}
	}
	return nil
}

// servedRow counts one row.
func (m *Monitor) servedRow(ctx context.Context, rec *predlog.Record) error {
	if rec.Model != m.cfg.Model {
		return nil
	}
	v, err := m.version(ctx, rec.Version)
	if err != nil || v.win == nil {
		if err == nil && v.err != nil {
			m.metrics.bad.WithLabelValues(m.cfg.Predictions).Inc() // said once, when the version was loaded
		}
		return err
	}
	if err := v.vector(rec.Fields); err != nil {
		return bad("request %s row %d: %w", rec.ID, rec.Row, err)
	}
	if err := v.win.Add(v.vec); err != nil {
		return &badRecord{err}
	}
	m.metrics.rows.WithLabelValues(m.cfg.Model, strconv.Itoa(rec.Version), "served").Inc()
	if v.win.Rows() < int64(m.cfg.Window) {
		return nil
	}
	m.read(ctx, rec.Version, v, rec.Time)
	return nil
}

// read takes a version's drift reading and starts its window again.
func (m *Monitor) read(ctx context.Context, ver int, v *version, at time.Time) {
	psi := v.win.PSI()
	rd := Reading{Model: m.cfg.Model, Version: ver, Rows: v.win.Rows(), PSI: make(map[string]float64, len(psi)), At: at, Max: -1}
	vs := strconv.Itoa(ver)
	for j, x := range psi {
		name := v.names[j]
		rd.PSI[name] = x
		m.metrics.psi.WithLabelValues(m.cfg.Model, vs, name).Set(x)
		if x > rd.Max {
			rd.Max, rd.Feature = x, name
		}
	}
	m.metrics.psiMax.WithLabelValues(m.cfg.Model, vs).Set(rd.Max)
	v.win.Reset()
	if m.readings != nil {
		m.readings(rd)
	}
	if rd.Max <= m.cfg.Threshold {
		return
	}
	m.cfg.Logger.Warn("monitor: the served rows have drifted", "model", m.cfg.Model, "version", ver,
		"feature", rd.Feature, "psi", rd.Max, "threshold", m.cfg.Threshold, "rows", rd.Rows)
	if m.cfg.OnDrift == nil || (!m.lastFire.IsZero() && at.Sub(m.lastFire) < m.cfg.Cooldown) {
		return
	}
	if err := m.cfg.OnDrift(ctx, rd); err != nil {
		m.cfg.Logger.Warn("monitor: act on the drift", "model", m.cfg.Model, "err", err)
		return
	}
	m.lastFire = at
	m.metrics.fired.WithLabelValues(m.cfg.Model).Inc()
}

// labeled counts a joined row into its version's quality window.
func (m *Monitor) labeled(ctx context.Context, r *log.Record) error {
	if header(r, join.HeaderModel) != m.cfg.Model {
		return nil
	}
	ver, err := strconv.Atoi(header(r, join.HeaderVersion))
	if err != nil {
		return bad("header %s is not a version number: %w", join.HeaderVersion, err)
	}
	v, err := m.version(ctx, ver)
	if err != nil || v.err != nil {
		if err == nil {
			m.metrics.bad.WithLabelValues(r.Topic).Inc()
		}
		return err
	}
	label, err := v.label(r.Value)
	if err != nil {
		return &badRecord{err}
	}
	var pred struct {
		Index *int     `json:"index"`
		Value *float64 `json:"value"`
	}
	if err := json.Unmarshal([]byte(header(r, join.HeaderPrediction)), &pred); err != nil {
		return bad("header %s: %w", join.HeaderPrediction, err)
	}
	switch {
	case pred.Index != nil: // a classifier's
		v.classified++
		if float64(*pred.Index) == label {
			v.correct++
		}
	case pred.Value != nil:
		d := *pred.Value - label
		v.sqErr += d * d
	default:
		return bad("header %s holds neither a class index nor a value: %s", join.HeaderPrediction, header(r, join.HeaderPrediction))
	}
	v.labeled++
	vs := strconv.Itoa(ver)
	m.metrics.rows.WithLabelValues(m.cfg.Model, vs, "labeled").Inc()
	if v.labeled < int64(m.cfg.LabeledWindow) {
		return nil
	}
	q := Quality{Model: m.cfg.Model, Version: ver, Rows: v.labeled, Accuracy: math.NaN(), RMSE: math.NaN()}
	if v.classified > 0 {
		q.Accuracy = float64(v.correct) / float64(v.classified)
		m.metrics.accuracy.WithLabelValues(m.cfg.Model, vs).Set(q.Accuracy)
	}
	if n := v.labeled - v.classified; n > 0 {
		q.RMSE = math.Sqrt(v.sqErr / float64(n))
		m.metrics.rmse.WithLabelValues(m.cfg.Model, vs).Set(q.RMSE)
	}
	v.labeled, v.classified, v.correct, v.sqErr = 0, 0, 0, 0
	if m.qualities != nil {
		m.qualities(q)
	}
	return nil
}

func header(r *log.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// version returns what the monitor needs of a model version, loading it
// from the registry the first time. A version the registry does not have
// is a bad record; a registry that cannot be read is an error.
func (m *Monitor) version(ctx context.Context, ver int) (*version, error) {
	if v := m.versions[ver]; v != nil {
		return v, nil
	}
	art, _, err := m.cfg.Registry.Get(ctx, m.cfg.Model, ver)
	if errors.Is(err, models.ErrNotFound) {
		return nil, bad("model %s has no version %d in the registry", m.cfg.Model, ver)
	}
	if err != nil {
		return nil, fmt.Errorf("monitor: read model %s version %d: %w", m.cfg.Model, ver, err)
	}
	v, err := newVersion(art)
	if err != nil {
		// A version the monitor cannot read (a model of pairs, a damaged
		// section) is said once and its rows passed over; the others go on.
		m.cfg.Logger.Warn("monitor: a version it cannot measure; its rows are passed over", "model", m.cfg.Model, "version", ver, "err", err)
		v = &version{err: err}
	} else if v.win == nil {
		m.cfg.Logger.Warn("monitor: a version without a training profile: its drift is not measured (trained before profiles, or on sparse or very wide vectors)",
			"model", m.cfg.Model, "version", ver)
	}
	m.versions[ver] = v
	m.forgetOld()
	return v, nil
}

// maxVersions bounds the versions a monitor keeps loaded: a model retrained
// every hour for months would otherwise grow it without end.
const maxVersions = 8

// forgetOld drops the oldest versions beyond maxVersions: old versions are
// rarely served once newer ones are, and one that is comes back from the
// registry with empty windows.
func (m *Monitor) forgetOld() {
	for len(m.versions) > maxVersions {
		oldest := -1
		for v := range m.versions {
			if oldest < 0 || v < oldest {
				oldest = v
			}
		}
		delete(m.versions, oldest)
	}
}

// version is one model version's pipeline, profile and running counts.
type version struct {
	err        error // why the version cannot be measured; the rest is then empty
	pipe       *features.Pipeline
	schema     features.Schema // the pipeline's, as JSON objects, the label optional
	tr         *features.Transformer
	row        features.Row
	vec        []float64
	win        *drift.Window // nil without a profile
	names      []string
	labelField int

	labeled, classified, correct int64
	sqErr                        float64
}

func newVersion(art *models.Artifact) (*version, error) {
	if len(art.Pipeline) == 0 {
		return nil, errors.New("it has no feature pipeline (a model of pairs, such as ALS, is not monitored)")
	}
	pipe := new(features.Pipeline)
	if err := json.Unmarshal(art.Pipeline, pipe); err != nil {
		return nil, fmt.Errorf("its feature pipeline: %w", err)
	}
	v := &version{pipe: pipe, schema: pipe.Schema, tr: pipe.NewTransformer(), vec: make([]float64, pipe.Width()),
		names: pipe.FeatureNames(), labelField: -1}
	v.schema.Format, v.schema.IgnoreUnknown = "json", true
	v.schema.Fields = append([]features.Field(nil), pipe.Schema.Fields...)
	for i := range v.schema.Fields {
		if v.schema.Fields[i].Name == pipe.Schema.Label {
			v.schema.Fields[i].Optional = true // served rows have none
			v.labelField = i
		}
	}
	v.row = v.schema.NewRow()
	if sec, ok := art.Extra[ProfileSection]; ok {
		var p drift.Profile
		if err := json.Unmarshal(sec, &p); err != nil {
			return nil, fmt.Errorf("its %q section: %w", ProfileSection, err)
		}
		if len(p.Columns) != pipe.Width() {
			return nil, fmt.Errorf("its profile has %d columns; the pipeline makes %d features", len(p.Columns), pipe.Width())
		}
		v.win = drift.NewWindow(&p)
	}
	return v, nil
}

// vector decodes a row's raw fields and turns them into the version's
// feature vector (v.vec).
func (v *version) vector(fields []byte) error {
	if err := v.schema.Decode(v.row, fields); err != nil {
		return err
	}
	return v.tr.Transform(v.vec, v.row)
}

// label decodes a joined row and returns its label as the pipeline reads
// it: the class index, or the number.
func (v *version) label(value []byte) (float64, error) {
	if err := v.schema.Decode(v.row, value); err != nil {
		return 0, err
	}
	if v.labelField < 0 || v.row[v.labelField].Missing {
		return 0, fmt.Errorf("the joined row has no value of the label field %q", v.pipe.Schema.Label)
	}
	return v.pipe.Label(v.row)
}
