package online

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/flintml/flint/features"
	"github.com/flintml/flint/log"
	"github.com/flintml/flint/models"
)

// Options wires a runner to the log and the registry.
type Options struct {
	// Log holds the source topic and the consumer group. Required.
	Log log.Log
	// Registry receives the versions. Required.
	Registry *models.Registry
	// SpecText is the spec's YAML, stored with every version.
	SpecText string
	// FlintVersion is stored with every version.
	FlintVersion string
	// Logger receives a line per version and per resume; nil discards.
	Logger *slog.Logger
	// PollWait is how long a poll waits for records at the end of the
	// topic; a batch that is not full is applied when a poll comes back
	// empty. 0 means 200ms.
	PollWait time.Duration
	// OnPublish, when set, is called on Run's goroutine after each version
	// is published and its offsets committed.
	OnPublish func(Published)
}

// Published describes a version just published.
type Published struct {
	Model   string
	Version int
	Records int64 // records the model has consumed since its first version, bad ones included
	Rows    int64 // rows it learnt from
	Lineage []models.Source
	// Pipeline is the fitted pipeline the version carries; read only.
	Pipeline *features.Pipeline
	// Width is the number of features of a row after the pipeline.
	Width int
	// Predict writes the in-memory model's prediction of each row of x
	// (rows×Width feature vectors) into dst: the value, the class index or
	// the cluster. It is valid during the callback only.
	Predict func(dst, x []float64)
}

// runner is one online job. It is owned by the goroutine that calls Run.
type runner struct {
	spec  *Spec
	opt   Options
	log   *slog.Logger
	name  string
	group string

	pipe *features.Pipeline
	tr   *features.Transformer
	row  features.Row
	dim  int
	l    learner

	x, y, w []float64 // the batch being filled, capacity spec.batch() rows
	n       int       // rows in it

	fitBuf []log.Record // records read before the transforms were fitted

	offs    map[int][]partRange // per partition: the offset ranges consumed since the first version, ascending
	seen    map[int]bool        // partitions this run has taken a record of
	held    map[int]int64       // per partition: the resumed version holds offsets below this
	records int64               // records consumed, bad ones included
	bad     int64               // records skipped (on_bad_record: skip)
	since   int64               // records since the last version
	last    time.Time           // when the last version was published (or the run began)

	c log.Consumer
}

// Run consumes the spec's topic in its consumer group and publishes a
// version every publish.every_records records or publish.every, until ctx
// is cancelled (then it returns nil; records since the last version are
// read again by the next run). It resumes from the latest version of the
// model when there is one. See the package documentation for the
// guarantees.
func Run(ctx context.Context, spec *Spec, opt Options) error {
	if opt.Log == nil || opt.Registry == nil {
		return errors.New("online: Options.Log and Options.Registry are required")
	}
	r := &runner{spec: spec, opt: opt, log: opt.Logger, name: spec.ModelName(), group: spec.GroupName(),
		offs: map[int][]partRange{}, seen: map[int]bool{}, held: map[int]int64{}}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	err := r.run(ctx)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (r *runner) run(ctx context.Context) error {
	if err := r.resume(ctx); err != nil {
		return err
	}
	start := log.StartEarliest
	if r.spec.Source.Start == "latest" {
		start = log.StartLatest
	}
	c, err := r.opt.Log.JoinGroup(ctx, log.GroupConfig{Group: r.group, Topics: []string{r.spec.Source.Topic}, StartAt: start})
	if err != nil {
		return fmt.Errorf("online: join group %q on topic %q: %w", r.group, r.spec.Source.Topic, err)
	}
	defer c.Close()
	r.c = c
	r.last = time.Now()
	wait := r.opt.PollWait
	if wait <= 0 {
		wait = 200 * time.Millisecond
	}
	for {
		recs, err := c.Poll(ctx, log.ReadOptions{MaxRecords: r.spec.batch(), Wait: wait})
		if err != nil {
			return fmt.Errorf("online: poll topic %q in group %q: %w", r.spec.Source.Topic, r.group, err)
		}
		if err := r.take(ctx, recs); err != nil {
			return err
		}
		idle := len(recs) == 0
		if idle && r.pipe != nil && r.tr == nil && len(r.fitBuf) > 0 {
			if err := r.fit(ctx); err != nil { // the stream paused before fit_records: fit on what came
				return err
			}
		}
		if r.n > 0 && (idle || r.timeDue()) {
			r.apply()
		}
		if r.due() {
			if err := r.publish(ctx); err != nil {
				return err
			}
		}
	}
}

// take handles polled records: those the resumed version holds are
// dropped, the rest buffered for the fit or added to the batch.
func (r *runner) take(ctx context.Context, recs []log.Record) error {
	for i := range recs {
		rec := &recs[i]
		if rec.Offset < r.held[rec.Partition] {
			continue // in the version already: published, then the run stopped before the commit
		}
		if r.tr == nil {
			rec.Value = slices.Clone(rec.Value)
			rec.Key, rec.Headers = nil, nil
			r.fitBuf = append(r.fitBuf, *rec)
			if len(r.fitBuf) >= r.spec.fitRecords() {
				if err := r.fit(ctx); err != nil {
					return err
				}
			}
			continue
		}
		if err := r.add(ctx, rec); err != nil {
			return err
		}
	}
	return nil
}

// add decodes a record into the batch, applies the batch when it is full
// and publishes when a version is due.
func (r *runner) add(ctx context.Context, rec *log.Record) error {
	if err := r.decode(rec.Value); err != nil {
		if r.spec.OnBadRecord != "skip" {
			return fmt.Errorf("online: %s/%d offset %d: %w", rec.Topic, rec.Partition, rec.Offset, err)
		}
		r.bad++
	} else {
		r.n++
	}
	r.extend(rec.Partition, rec.Offset)
	r.records++
	r.since++
	if r.n == r.spec.batch() {
		r.apply()
		if r.due() {
			return r.publish(ctx)
		}
	}
	return nil
}

// extend adds offset to the partition's ranges. Within a run a group
// reads a partition in order, so the last range grows (over gaps the log
// itself has, such as Kafka's transaction markers); the first record of a
// run starts a new range unless it follows the version's, as when the
// group's committed offset was moved past what the model holds.
func (r *runner) extend(partition int, offset int64) {
	rs := r.offs[partition]
	first := !r.seen[partition]
	r.seen[partition] = true
	if n := len(rs); n > 0 && (!first || rs[n-1].To == offset) {
		rs[n-1].To = offset + 1
		return
	}
	r.offs[partition] = append(rs, partRange{Partition: partition, From: offset, To: offset + 1})
}

// decode writes the record's features, label and weight into row r.n of
// the batch.
func (r *runner) decode(value []byte) error {
	p := r.pipe
	if err := p.Schema.Decode(r.row, value); err != nil {
		return err
	}
	y, err := p.Label(r.row)
	if err != nil {
		return err
	}
	if r.spec.Algorithm.Logistic != nil && y != 0 && y != 1 {
		return fmt.Errorf("label %v: streaming_logistic is binary and wants 0 or 1 (or a categorical label of two classes)", y)
	}
	w, err := p.Weight(r.row)
	if err != nil {
		return err
	}
	if err := r.tr.Transform(r.x[r.n*r.dim:(r.n+1)*r.dim], r.row); err != nil {
		return err
	}
	r.y[r.n], r.w[r.n] = y, w
	return nil
}

// apply folds the batch into the model.
func (r *runner) apply() {
	n := r.n
	r.l.update(r.x[:n*r.dim], r.y[:n], r.w[:n])
	r.n = 0
}

func (r *runner) timeDue() bool {
	return r.spec.Publish.Every > 0 && time.Since(r.last) >= r.spec.Publish.Every
}

// due reports whether a version is to be published now: the batch is
// applied, and every_records records or every have passed since the last.
func (r *runner) due() bool {
	if r.since == 0 || r.n > 0 || r.tr == nil {
		return false
	}
	if !r.l.ready() {
		return false // k-means before any row: nothing to publish
	}
	n := r.spec.publishRecords()
	return (n > 0 && r.since >= n) || r.timeDue()
}

// partitions returns the consumed offset ranges, by partition and offset.
func (r *runner) partitions() []partRange {
	var out []partRange
	for _, rs := range r.offs {
		out = append(out, rs...)
	}
	slices.SortFunc(out, func(a, b partRange) int {
		if a.Partition != b.Partition {
			return a.Partition - b.Partition
		}
		return int(a.From - b.From)
	})
	return out
}

// publish publishes the model as the next version, moves the alias, and
// then commits the offsets the version holds.
func (r *runner) publish(ctx context.Context) error {
	alg, params, err := r.l.encode()
	if err != nil {
		return err
	}
	pj, err := json.Marshal(r.pipe)
	if err != nil {
		return err
	}
	st := state{Format: stateFormat, Algorithm: r.spec.Algorithm.name(), Group: r.group, Topic: r.spec.Source.Topic,
		Records: r.records, Bad: r.bad, Offsets: r.partitions()}
	r.l.save(&st)
	sec, err := json.Marshal(st)
	if err != nil {
		return err
	}
	metrics := r.l.metrics()
	metrics["records"], metrics["rows"], metrics["bad_records"] = float64(st.Records), float64(st.Rows), float64(r.bad)
	lin := lineage(st.Topic, st.Offsets)
	art := &models.Artifact{Algorithm: alg, FlintVersion: r.opt.FlintVersion, Pipeline: pj, Params: params, Metrics: metrics,
		Spec: r.opt.SpecText, Lineage: lin, Extra: map[string][]byte{StateSection: sec}}
	var v int
	if err := r.retry(ctx, "publish "+r.name, func() (err error) {
		v, err = r.opt.Registry.Publish(ctx, r.name, art)
		return err
	}); err != nil {
		return err
	}
	if a := r.spec.Output.Alias; a != "" {
		if err := r.retry(ctx, fmt.Sprintf("move alias %s of %s to version %d", a, r.name, v), func() error {
			return r.opt.Registry.SetAlias(ctx, r.name, a, v)
		}); err != nil {
			return err
		}
	}
	commit := make([]log.Record, 0, len(r.offs))
	for p, rs := range r.offs {
		commit = append(commit, log.Record{Topic: st.Topic, Partition: p, Offset: rs[len(rs)-1].To - 1})
	}
	if err := r.c.Commit(ctx, commit...); err != nil {
		// Harmless for the model: the next run skips what the version holds.
		r.log.Warn("online: commit failed; the next run reads these records again and skips those the version holds",
			"model", r.name, "version", v, "err", err)
	}
	r.since, r.last = 0, time.Now()
	r.log.Info("online: published", "model", r.name, "version", v, "records", st.Records, "rows", st.Rows, "batches", st.Batches)
	if r.opt.OnPublish != nil {
		r.opt.OnPublish(Published{Model: r.name, Version: v, Records: st.Records, Rows: st.Rows, Lineage: lin, Pipeline: r.pipe, Width: r.dim,
			Predict: r.l.predictBatch})
	}
	return nil
}

// Backoff between attempts of a failed store operation.
const (
	firstBackoff = 100 * time.Millisecond
	maxBackoff   = 30 * time.Second
)

// retry runs op until it succeeds, waiting firstBackoff, doubling up to
// maxBackoff, between attempts, so a store outage stalls the runner
// instead of ending it (nothing is committed meanwhile). It gives up only
// when ctx ends.
func (r *runner) retry(ctx context.Context, what string, op func() error) error {
	wait := firstBackoff
	for {
		err := op()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("online: %s: %w", what, err)
		}
		r.log.Warn("online: store operation failed; retrying", "op", what, "in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("online: %s: %w", what, err)
		case <-t.C:
		}
		wait = min(2*wait, maxBackoff)
	}
}
