package join

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flintml/flint/log"
	"github.com/flintml/flint/serving/predlog"
)

// Config configures a Joiner. Zero fields take the defaults their comments
// name.
type Config struct {
	// Log holds the three topics. Required.
	Log log.Log
	// Predictions is the prediction log's topic (flint serve
	// --prediction-log), Labels the label events' topic, Out the topic the
	// joined rows are appended to (created when missing). Required, and
	// three different topics.
	Predictions, Labels, Out string
	// Group is the consumer group. Default "flint-join-" + Out.
	Group string
	// StateDir is the Pebble store of the waiting rows and the offsets.
	// Required.
	StateDir string
	// Window is how long a prediction waits for its label, and a label for
	// its prediction, in record time. Default 24h.
	Window time.Duration
	// LabelField is the name the label takes in the out records. Default
	// "label".
	LabelField string
	// PollWait is how long one poll waits for records. Default 500ms.
	PollWait time.Duration
	// Logger receives progress and skipped records. Default slog.Default().
	Logger *slog.Logger
}

// DefaultWindow is Config.Window's default.
const DefaultWindow = 24 * time.Hour

func (c Config) withDefaults() Config {
	if c.Group == "" {
		c.Group = "flint-join-" + c.Out
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.LabelField == "" {
		c.LabelField = "label"
	}
	if c.PollWait == 0 {
		c.PollWait = 500 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Log == nil {
		bad("Log: required")
	}
	for _, t := range []struct{ name, v string }{{"Predictions", c.Predictions}, {"Labels", c.Labels}, {"Out", c.Out}} {
		if err := log.ValidTopicName(t.v); err != nil {
			bad("%s: %v", t.name, err)
		}
	}
	if c.Predictions == c.Labels || c.Predictions == c.Out || c.Labels == c.Out {
		bad("Predictions, Labels and Out: want three topics, got %q, %q and %q", c.Predictions, c.Labels, c.Out)
	}
	if _, err := jsonString(c.LabelField); err != nil {
		bad("LabelField: %v", err)
	}
	if c.StateDir == "" {
		bad("StateDir: required")
	}
	if c.Window < 0 || c.PollWait < 0 {
		bad("Window and PollWait: must be > 0, got %v and %v", c.Window, c.PollWait)
	}
	return errors.Join(errs...)
}

// Stats counts what a Joiner did since Open.
type Stats struct {
	Predictions        int64 // prediction rows read from the prediction log
	Joined             int64 // rows appended to the out topic (or found there, published before a restart)
	ExpiredPredictions int64 // predictions whose label did not come within the window
	UnmatchedLabels    int64 // labels whose prediction did not come within the window
	Malformed          int64 // input records that are not a prediction or a label
}

// Joiner joins predictions and labels (see the package documentation).
// Open it, Run it, Close it.
type Joiner struct {
	cfg  Config
	db   *pebble.DB
	cons log.Consumer

	next      map[log.TopicPartition]int64 // next input offsets (the store's, then this run's)
	marks     map[int]int64
	now       int64            // newest record time read, unix ns
	rows      []predlog.Record // scratch of prediction: one record's rows
	published map[string]bool  // joins found past the marks at Open

	mu      sync.Mutex
	stats   Stats
	results *prometheus.CounterVec

	// life orders Run and Close: Close stops a Run under way and waits
	// for it before closing the store, so a deferred Close beside a Run
	// in another goroutine never pulls the store from under a step.
	life    sync.Mutex
	closed  bool
	stop    context.CancelFunc // the running Run's, nil when none runs
	stopped chan struct{}      // closed when that Run returns
}

// Open checks cfg, opens the state store, creates the out topic when
// missing, notes the joins already published past the store's marks and
// joins the consumer group.
func Open(ctx context.Context, cfg Config) (*Joiner, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	for _, t := range []string{cfg.Predictions, cfg.Labels} {
		if _, err := cfg.Log.Describe(ctx, t); err != nil {
			return nil, fmt.Errorf("join: topic %q: %w", t, err)
		}
	}
	if err := cfg.Log.CreateTopic(ctx, cfg.Out, log.TopicConfig{}); err != nil && !errors.Is(err, log.ErrTopicExists) {
		return nil, fmt.Errorf("join: create the out topic %q: %w", cfg.Out, err)
	}
	db, err := openStore(cfg.StateDir, fmt.Sprintf("predictions=%s labels=%s out=%s label=%s", cfg.Predictions, cfg.Labels, cfg.Out, cfg.LabelField))
	if err != nil {
		return nil, err
	}
	j := &Joiner{cfg: cfg, db: db, next: map[log.TopicPartition]int64{}, marks: map[int]int64{}, published: map[string]bool{},
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flint_join_records_total",
			Help: "Records of flint predictions join by result: joined (rows appended), expired_prediction, unmatched_label, malformed (inputs that are neither).",
		}, []string{"result"})}
	for _, r := range []string{"joined", "expired_prediction", "unmatched_label", "malformed"} {
		j.results.WithLabelValues(r)
	}
	if err := j.recover(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	j.cons, err = cfg.Log.JoinGroup(ctx, log.GroupConfig{Group: cfg.Group, Topics: []string{cfg.Predictions, cfg.Labels}})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("join: join consumer group %q: %w", cfg.Group, err)
	}
	return j, nil
}

// recover reads the stream time and the marks, sets the marks of out
// partitions that have none at their end, and notes the joins published
// past them.
func (j *Joiner) recover(ctx context.Context) error {
	now, _, err := getInt(j.db, timeKey)
	if err != nil {
		return err
	}
	j.now = now
	info, err := j.cfg.Log.Describe(ctx, j.cfg.Out)
	if err != nil {
		return fmt.Errorf("join: out topic %q: %w", j.cfg.Out, err)
	}
	b := j.db.NewBatch()
	defer b.Close()
	for _, p := range info.Partitions {
		m, ok, err := getInt(j.db, markKey(p.ID))
		if err != nil {
			return err
		}
		if !ok {
			m = p.Latest
			if err := setInt(b, markKey(p.ID), m); err != nil {
				return err
			}
		}
		j.marks[p.ID] = m
		for off := max(m, p.Earliest); off < p.Latest; {
			recs, err := j.cfg.Log.Read(ctx, j.cfg.Out, p.ID, off, log.ReadOptions{})
			if err != nil {
				return fmt.Errorf("join: read out topic %s/%d from its mark %d: %w", j.cfg.Out, p.ID, off, err)
			}
			for i := range recs {
				if id := header(&recs[i], HeaderJoin); id != "" {
					j.published[id] = true
				}
			}
			if len(recs) == 0 {
				break
			}
			off = recs[len(recs)-1].Offset + 1
		}
	}
	if len(j.published) > 0 {
		j.cfg.Logger.Info("join: found joins published before a restart; they are not appended again", "rows", len(j.published))
	}
	return b.Commit(pebble.Sync)
}

// The out records' headers.
const (
	HeaderJoin       = "flint-join" // request id + "/" + row
	HeaderModel      = "flint-model"
	HeaderVersion    = "flint-version"
	HeaderPrediction = "flint-prediction"
)

func header(r *log.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// Collectors are the joiner's Prometheus metrics.
func (j *Joiner) Collectors() []prometheus.Collector { return []prometheus.Collector{j.results} }

// Stats returns the counts since Open.
func (j *Joiner) Stats() Stats {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.stats
}

// Run joins until ctx ends or Close is called (then it returns nil), or a
// step fails. One Run at a time.
func (j *Joiner) Run(ctx context.Context) error {
	j.life.Lock()
	if j.closed {
		j.life.Unlock()
		return errors.New("join: Run after Close")
	}
	ctx, stop := context.WithCancel(ctx)
	stopped := make(chan struct{})
	j.stop, j.stopped = stop, stopped
	j.life.Unlock()
	defer func() {
		stop()
		close(stopped)
	}()
	for ctx.Err() == nil {
		if err := j.step(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
	return nil
}

// Close stops a Run under way, waiting for its step to end, then leaves
// the group and closes the store.
func (j *Joiner) Close() error {
	j.life.Lock()
	j.closed = true
	stop, stopped := j.stop, j.stopped
	j.life.Unlock()
	if stop != nil {
		stop()
		<-stopped
	}
	return errors.Join(j.cons.Close(), j.db.Close())
}

// step is one batch: poll, join, expire, append, commit the store, commit
// the group.
func (j *Joiner) step(ctx context.Context) error {
	recs, err := j.cons.Poll(ctx, log.ReadOptions{Wait: j.cfg.PollWait})
	if err != nil {
		return fmt.Errorf("join: poll %s and %s: %w", j.cfg.Predictions, j.cfg.Labels, err)
	}
	if len(recs) == 0 {
		return nil
	}
	b := j.db.NewIndexedBatch()
	defer b.Close()
	var st Stats
	var outs []log.Record
	touched := map[log.TopicPartition]bool{}
	for i := range recs {
		r := &recs[i]
		tp := log.TopicPartition{Topic: r.Topic, Partition: r.Partition}
		next, err := j.nextOffset(tp)
		if err != nil {
			return err
		}
		if r.Offset < next {
			continue // applied before a restart; the group had not committed it
		}
		j.next[tp], touched[tp] = r.Offset+1, true
		j.now = max(j.now, r.Time.UnixNano())
		if r.Topic == j.cfg.Predictions {
			outs, err = j.prediction(b, r, outs, &st)
		} else {
			outs, err = j.label(b, r, outs, &st)
		}
		if err != nil {
			return err
		}
	}
	if err := j.expire(b, &st); err != nil {
		return err
	}
	if err := j.publish(ctx, b, outs); err != nil {
		return err
	}
	for tp := range touched {
		if err := setInt(b, offsetKey(tp.Topic, tp.Partition), j.next[tp]); err != nil {
			return err
		}
	}
	if err := setInt(b, timeKey, j.now); err != nil {
		return err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("join: commit the state store in %s: %w", j.cfg.StateDir, err)
	}
	if err := j.cons.Commit(ctx, recs...); err != nil && !errors.Is(err, log.ErrNotAssigned) {
		// The store holds the offsets; the group's are for a successor
		// without it.
		j.cfg.Logger.Warn("join: commit the group's offsets", "group", j.cfg.Group, "err", err)
	}
	j.count(st)
	return nil
}

func (j *Joiner) nextOffset(tp log.TopicPartition) (int64, error) {
	if n, ok := j.next[tp]; ok {
		return n, nil
	}
	n, _, err := getInt(j.db, offsetKey(tp.Topic, tp.Partition))
	if err != nil {
		return 0, err
	}
	j.next[tp] = n
	return n, nil
}

func (j *Joiner) count(st Stats) {
	j.mu.Lock()
	j.stats.Predictions += st.Predictions
	j.stats.Joined += st.Joined
	j.stats.ExpiredPredictions += st.ExpiredPredictions
	j.stats.UnmatchedLabels += st.UnmatchedLabels
	j.stats.Malformed += st.Malformed
	j.mu.Unlock()
	j.results.WithLabelValues("joined").Add(float64(st.Joined))
	j.results.WithLabelValues("expired_prediction").Add(float64(st.ExpiredPredictions))
	j.results.WithLabelValues("unmatched_label").Add(float64(st.UnmatchedLabels))
	j.results.WithLabelValues("malformed").Add(float64(st.Malformed))
}

// publish appends the joined rows not already published, and moves the
// marks of the partitions it appended to past them.
func (j *Joiner) publish(ctx context.Context, b *pebble.Batch, outs []log.Record) error {
	fresh := outs[:0]
	for _, o := range outs {
		id := header(&o, HeaderJoin)
		if j.published[id] {
			delete(j.published, id)
			continue
		}
		fresh = append(fresh, o)
	}
	if len(fresh) == 0 {
		return nil
	}
	if err := j.cfg.Log.Append(ctx, j.cfg.Out, fresh); err != nil {
		return fmt.Errorf("join: append %d rows to %s: %w", len(fresh), j.cfg.Out, err)
	}
	for _, o := range fresh {
		if o.Offset+1 > j.marks[o.Partition] {
			j.marks[o.Partition] = o.Offset + 1
			if err := setInt(b, markKey(o.Partition), o.Offset+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// prediction applies one prediction log record: each of its rows joins
// the label that waits for it, or waits (in format 1, one row a value).
func (j *Joiner) prediction(b *pebble.Batch, r *log.Record, outs []log.Record, st *Stats) ([]log.Record, error) {
	rows, err := predlog.DecodeRows(j.rows[:0], r.Value)
	j.rows = rows[:0]
	defer clear(rows) // they point into r.Value
	if err != nil {
		st.Malformed++
		j.cfg.Logger.Warn("join: skipped a prediction record", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
		return outs, nil
	}
	for _, rec := range rows {
		st.Predictions++
		rk := rowKey(rec.ID, rec.Row)
		label, ok, err := j.take(b, kindLabel, rk)
		if err != nil {
			return outs, err
		}
		if ok {
			if outs, err = j.joined(outs, rec, label, st); err != nil {
				return outs, err
			}
			continue
		}
		if _, _, err := j.take(b, kindPrediction, rk); err != nil { // a prediction logged twice: the newer waits
			return outs, err
		}
		if err := j.wait(b, kindPrediction, rk, r.Time.UnixNano(), predlog.AppendRow(nil, rec)); err != nil {
			return outs, err
		}
	}
	return outs, nil
}

// label applies one label record.
func (j *Joiner) label(b *pebble.Batch, r *log.Record, outs []log.Record, st *Stats) ([]log.Record, error) {
	lab, err := DecodeLabel(r.Value)
	if err != nil {
		st.Malformed++
		j.cfg.Logger.Warn("join: skipped a label record", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "err", err)
		return outs, nil
	}
	rk := rowKey(lab.ID, lab.Row)
	pv, ok, err := j.take(b, kindPrediction, rk)
	if err != nil {
		return outs, err
	}
	if ok {
		rec, err := predlog.Decode(pv)
		if err != nil {
			return outs, fmt.Errorf("join: a stored prediction of %s row %d: %w", lab.ID, lab.Row, err)
		}
		return j.joined(outs, rec, lab.Label, st)
	}
	if _, _, err := j.take(b, kindLabel, rk); err != nil { // a second label: the newer one counts
		return outs, err
	}
	return outs, j.wait(b, kindLabel, rk, r.Time.UnixNano(), lab.Label)
}

// take removes a waiting row of kind from the store, returning its value.
func (j *Joiner) take(b *pebble.Batch, kind byte, rk []byte) ([]byte, bool, error) {
	v, ok, err := get(b, waitKey(kind, rk))
	if !ok || err != nil {
		return nil, false, err
	}
	at := int64(bytesToUint(v[:8]))
	if err := errors.Join(b.Delete(waitKey(kind, rk), nil), b.Delete(expiryKey(at, kind, rk), nil)); err != nil {
		return nil, false, err
	}
	return v[8:], true, nil
}

// wait stores a row of kind until its match comes or the window closes.
func (j *Joiner) wait(b *pebble.Batch, kind byte, rk []byte, t int64, value []byte) error {
	at := t + int64(j.cfg.Window)
	v := append(uintToBytes(uint64(at)), value...)
	return errors.Join(b.Set(waitKey(kind, rk), v, nil), b.Set(expiryKey(at, kind, rk), nil, nil))
}

// expire drops the rows whose window closed before the newest record time.
func (j *Joiner) expire(b *pebble.Batch, st *Stats) error {
	it, err := b.NewIter(&pebble.IterOptions{LowerBound: []byte("e"), UpperBound: expiryKey(j.now, 0, nil)})
	if err != nil {
		return fmt.Errorf("join: read the state store: %w", err)
	}
	var dead [][]byte
	for it.First(); it.Valid(); it.Next() {
		dead = append(dead, append([]byte(nil), it.Key()...))
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("join: read the state store: %w", err)
	}
	for _, k := range dead {
		kind, rk := k[9], k[10:]
		if err := errors.Join(b.Delete(k, nil), b.Delete(waitKey(kind, rk), nil)); err != nil {
			return err
		}
		if kind == kindPrediction {
			st.ExpiredPredictions++
		} else {
			st.UnmatchedLabels++
		}
	}
	return nil
}

// joined adds the out record of a prediction and its label.
func (j *Joiner) joined(outs []log.Record, rec predlog.Record, label []byte, st *Stats) ([]log.Record, error) {
	v, err := withLabel(rec.Fields, j.cfg.LabelField, label)
	if err != nil {
		return outs, fmt.Errorf("join: the fields of %s row %d: %w", rec.ID, rec.Row, err)
	}
	st.Joined++
	return append(outs, log.Record{Key: []byte(rec.ID), Value: v, Time: rec.Time, Headers: []log.Header{
		{Key: HeaderJoin, Value: []byte(rec.ID + "/" + strconv.Itoa(rec.Row))},
		{Key: HeaderModel, Value: []byte(rec.Model)},
		{Key: HeaderVersion, Value: []byte(strconv.Itoa(rec.Version))},
		{Key: HeaderPrediction, Value: bytes.Clone(rec.Prediction)},
	}}), nil
}

// Label is one label event.
type Label struct {
	ID    string          `json:"id"`
	Row   int             `json:"row"`
	Label json.RawMessage `json:"label"`
}

// DecodeLabel reads a label event. The error says which field is missing
// or malformed.
func DecodeLabel(value []byte) (Label, error) {
	var l Label
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return Label{}, fmt.Errorf(`label event: %w (want {"id": "REQUEST-ID", "row": N, "label": VALUE})`, err)
	}
	if dec.More() {
		return Label{}, errors.New("label event: data after the JSON object")
	}
	switch {
	case l.ID == "":
		return Label{}, errors.New(`label event: "id" is missing or empty`)
	case l.Row < 0:
		return Label{}, fmt.Errorf(`label event %s: "row" is %d, want >= 0`, l.ID, l.Row)
	case len(l.Label) == 0 || string(l.Label) == "null":
		return Label{}, fmt.Errorf(`label event %s row %d: "label" is missing or null`, l.ID, l.Row)
	}
	return l, nil
}
