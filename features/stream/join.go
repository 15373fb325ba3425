package stream

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/features"
	"github.com/flintml/flint/log"
)

// JoinName is the cluster join (cluster.Source.Join) that answers label
// records with a definition's features as of their time: the point-in-time
// training set of a job with features, and flint features backfill.
const JoinName = "stream.asof"

// JoinArg is a point-in-time join's cluster.Source.JoinArg. The source
// is a partition of the label topic; its keys' events are the same
// partition of the definition's source topic (both keyed by the entity key
// with the same partitioner and partition count), read from EventFrom to
// EventTo.
type JoinArg struct {
	// Definition is the definition's YAML, File the file it came from.
	Definition string
	File       string
	// EventFrom and EventTo bound the events read, offsets of the same
	// partition of the definition's source topic.
	EventFrom, EventTo int64
	// OnEvents says the labels are the events themselves (a label field on
	// the events; the source is a range of the definition's topic, within
	// the events read): each is answered with its key's values at its time
	// just before it is applied (BeforeEach), as a server following the
	// stream answers for it before it arrives. Otherwise the label records
	// hold Key and Time fields, answered by AsOf.
	OnEvents bool
	// Key is the label records' entity key field, Time their event-time
	// field ("" for the record timestamp).
	Key, Time string
	// Partitions is the number of partitions of both topics: a label whose
	// key belongs in another partition is an error, since its events are
	// not in this one.
	Partitions int
	// TableEnds pins the definition's tables: every partition of each
	// table topic is read up to these offsets.
	TableEnds map[string]map[int]int64 `json:",omitempty"`
}

func init() { cluster.RegisterJoin(JoinName, asOfJoin) }

// JoinSource makes the source of a point-in-time join of one label
// partition (the label topic's range) with the events of its keys.
func JoinSource(labels cluster.Source, arg JoinArg) (cluster.Source, error) {
	b, err := json.Marshal(arg)
	if err != nil {
		return cluster.Source{}, err
	}
	labels.Join, labels.JoinArg = JoinName, b
	return labels, nil
}

// PlanJoin turns the planned log sources of label records (cluster.PlanLog
// of their topic) into point-in-time joins with the definition's events:
// label partition p with event partition p, pinned to the events there
// now. Both topics must have the same partition count (a key's labels and
// events then share a partition number, as flint ingest --key places
// them). When the labels are the definition's own topic, each event is
// its own label.
func PlanJoin(ctx context.Context, l log.Log, labels []cluster.Source, e Enrichment, def *Definition) ([]cluster.Source, error) {
	if len(labels) == 0 {
		return labels, nil
	}
	if labels[0].Kind != "log" {
		return nil, fmt.Errorf("the records must come from a topic keyed by %s, not files", e.Key)
	}
	topic := labels[0].Topic
	events := def.EventTopic()
	info, err := l.Describe(ctx, events)
	if err != nil {
		return nil, fmt.Errorf("describe topic %s of definition %q: %w", events, def.Name, cluster.LogUnavailable(ctx, err))
	}
	rec, err := l.Describe(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("describe topic %s: %w", topic, cluster.LogUnavailable(ctx, err))
	}
	n := len(info.Partitions)
	if len(rec.Partitions) != n {
		return nil, fmt.Errorf("topic %s has %d partitions and topic %s of definition %q %d: a key's records and events must share a partition number, so give both the same count",
			topic, len(rec.Partitions), events, def.Name, n)
	}
	var tableEnds map[string]map[int]int64
	if len(def.Tables) > 0 {
		if tableEnds, err = NewTables(def).Ends(ctx, l); err != nil {
			return nil, err
		}
	}
	out := make([]cluster.Source, len(labels))
	for i, s := range labels {
		arg := JoinArg{Definition: e.Definition, File: e.File, Key: e.Key, Time: e.Time, Partitions: n, OnEvents: topic == events,
			TableEnds: tableEnds}
		p := info.Partitions[s.LogPartition]
		arg.EventFrom, arg.EventTo = p.Earliest, p.Latest
		if arg.OnEvents {
			arg.EventTo = s.To // the records' own events and those before them
		}
		if out[i], err = JoinSource(s, arg); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// asOfJoin answers every label record of the source with the features as
// of its time (AsOf: never an event after it) and hands it on with the
// features appended as JSON fields named after them (null for a NaN value:
// an empty window's mean, say). A label record whose key or time does not
// decode is handed on unchanged, for the job's schema to refuse; an event
// that does not decode is skipped, as the processor skips it.
//
// It streams: events are decoded one at a time into one reused Event and
// applied as they are read, so what it holds is each key's state and the
// labels' keys, times and values, never the partition's records.
func asOfJoin(ctx context.Context, l cluster.LogReader, s cluster.Source, fn func([]byte, func() string) error) error {
	var a JoinArg
	if err := json.Unmarshal(s.JoinArg, &a); err != nil {
		return fmt.Errorf("stream: join argument of %s: %w", s, err)
	}
	def, err := Parse(a.File, []byte(a.Definition))
	if err != nil {
		return err
	}
	ev, err := newEventReader(ctx, l, def, a.TableEnds)
	if err != nil {
		return err
	}
	if a.OnEvents {
		if s.Topic != def.EventTopic() {
			return fmt.Errorf("stream: join of %s on its own events, but definition %q's events are in topic %s", s, def.Name, def.EventTopic())
		}
		return joinOnEvents(ctx, l, s, a, def, ev, fn)
	}
	return joinLabels(ctx, l, s, a, def, ev, fn)
}

// joinOnEvents hands on the records of s, each event answered just before
// it is applied (BeforeEach): what a server following the stream returns
// for it before it arrives. The events before s.From are applied first.
func joinOnEvents(ctx context.Context, l cluster.LogReader, s cluster.Source, a JoinArg, def *Definition, ev *eventReader, fn func([]byte, func() string) error) error {
	b := NewAggregator(def).newBefore()
	names := def.FeatureNames()
	vals := make([]float64, len(names))
	var buf []byte
	return eachRecord(ctx, l, s.Topic, s.LogPartition, min(a.EventFrom, s.From), max(a.EventTo, s.To), ev.buf, func(r *log.Record) error {
		answered := false
		if r.Offset >= a.EventFrom && r.Offset < a.EventTo && ev.decode(r) {
			b.step(&ev.ev, vals)
			answered = true
		}
		if r.Offset < s.From || r.Offset >= s.To {
			return nil
		}
		if answered {
			buf = appendFeatures(buf[:0], r.Value, names, vals)
			return fn(buf, recordWhere(s.Topic, s.LogPartition, r.Offset))
		}
		return fn(r.Value, recordWhere(s.Topic, s.LogPartition, r.Offset))
	})
}

// joinLabels answers the label records of s in three streaming passes:
// their keys and times, then the events (replayed through AsOf's code),
// then the records again, handed on with their values.
func joinLabels(ctx context.Context, l cluster.LogReader, s cluster.Source, a JoinArg, def *Definition, ev *eventReader, fn func([]byte, func() string) error) error {
	dec := newLabelDecoder(a.Key, a.Time)
	var (
		labels []Label
		at     []int64 // the offsets of the answered label records
	)
	err := eachRecord(ctx, l, s.Topic, s.LogPartition, s.From, s.To, ev.buf, func(r *log.Record) error {
		lb, ok := dec.decode(r)
		if !ok {
			return nil
		}
		if q := log.Partition([]byte(lb.Key), a.Partitions); a.Partitions > 0 && q != s.LogPartition {
			return fmt.Errorf("stream: label record %s/%d at offset %d has key %q, which belongs in partition %d: the label topic must be keyed by the entity key (flint ingest --key %s) so that its events and labels share partitions",
				s.Topic, s.LogPartition, r.Offset, lb.Key, q, orField(a.Key, def.Source.Key))
		}
		labels, at = append(labels, lb), append(at, r.Offset)
		return nil
	})
	if err != nil {
		return err
	}
	nf := len(def.Features)
	vals := make([]float64, len(labels)*nf)
	rp := NewAggregator(def).newReplay(labels, vals)
	err = eachRecord(ctx, l, def.EventTopic(), s.LogPartition, a.EventFrom, a.EventTo, ev.buf, func(r *log.Record) error {
		if ev.decode(r) {
			rp.add(&ev.ev)
		}
		return nil
	})
	if err != nil {
		return err
	}
	rp.finish()
	names := def.FeatureNames()
	var buf []byte
	next := 0
	return eachRecord(ctx, l, s.Topic, s.LogPartition, s.From, s.To, ev.buf, func(r *log.Record) error {
		if next < len(at) && at[next] == r.Offset {
			buf = appendFeatures(buf[:0], r.Value, names, vals[next*nf:(next+1)*nf])
			next++
			return fn(buf, recordWhere(s.Topic, s.LogPartition, r.Offset))
		}
		return fn(r.Value, recordWhere(s.Topic, s.LogPartition, r.Offset))
	})
}

// recordWhere names a record's place for error messages.
func recordWhere(topic string, partition int, offset int64) func() string {
	return func() string { return fmt.Sprintf("%s/%d@%d", topic, partition, offset) }
}

// noTime marks a label whose record did not decode.
const noTime = math.MinInt64

// eventReader decodes event records into one reused Event, enriched from
// the definition's tables: an event that does not decode is skipped, as the
// processor skips it. It holds the join's read buffer too.
type eventReader struct {
	dec    *RecordDecoder
	tables *Tables
	ev     Event
	buf    []byte // the join's log read buffer (eachRecord)
}

// newEventReader prepares the decoder, with the definition's tables read
// up to the pinned ends.
func newEventReader(ctx context.Context, l cluster.LogReader, def *Definition, ends map[string]map[int]int64) (*eventReader, error) {
	e := &eventReader{dec: NewRecordDecoder(def), ev: def.NewEvent(), buf: make([]byte, 0, 2*joinReadBytes)}
	if len(def.Tables) > 0 {
		e.tables = NewTables(def)
		if err := e.tables.CatchUp(ctx, l, ends); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// decode decodes r into e.ev and reports whether it is an event.
func (e *eventReader) decode(r *log.Record) bool {
	if e.dec.Decode(r, &e.ev) != nil {
		return false
	}
	if e.tables != nil {
		e.tables.Enrich(&e.ev)
	}
	return true
}

// labelDecoder decodes the key and time fields of label records, through
// the features package as every field value is.
type labelDecoder struct {
	schema    features.Schema
	row       []features.Value
	timeField bool
}

func newLabelDecoder(key, timeField string) *labelDecoder {
	schema := features.Schema{Format: "json", IgnoreUnknown: true, Fields: []features.Field{{Name: key, Type: features.Categorical}}}
	if timeField != "" {
		schema.Fields = append(schema.Fields, features.Field{Name: timeField, Type: features.Timestamp})
	}
	return &labelDecoder{schema: schema, row: schema.NewRow(), timeField: timeField != ""}
}

// decode returns r's label, or false when its fields do not decode.
func (d *labelDecoder) decode(r *log.Record) (Label, bool) {
	if d.schema.Decode(d.row, r.Value) != nil {
		return Label{Time: noTime}, false
	}
	t := r.Time.UnixMilli()
	if d.timeField {
		t = int64(math.Round(d.row[1].Num * 1000))
	}
	return Label{Key: d.row[0].Str, Time: t}, true
}

// joinReadBytes bounds the payload of one log read of a join.
const joinReadBytes = 8 << 20

// eachRecord calls fn with each record [from, to) of a partition, read in
// chunks into buf when it is big enough (twice joinReadBytes: the framing
// and the part of a batch before the first offset are read too). A record
// aliases buf: it is valid only during the call.
func eachRecord(ctx context.Context, l cluster.LogReader, topic string, partition int, from, to int64, buf []byte, fn func(*log.Record) error) error {
	for off := from; off < to; {
		recs, err := l.Read(ctx, topic, partition, off, log.ReadOptions{MaxRecords: 10000, MaxBytes: joinReadBytes, Buffer: buf})
		if err != nil {
			return fmt.Errorf("stream: read %s/%d at offset %d: %w", topic, partition, off, cluster.LogUnavailable(ctx, err))
		}
		if len(recs) == 0 {
			return fmt.Errorf("stream: read %s/%d: no records at offset %d below the end of the range %d", topic, partition, off, to)
		}
		for i := range recs {
			r := &recs[i]
			if r.Offset >= to {
				return nil
			}
			if err := fn(r); err != nil {
				return err
			}
			off = r.Offset + 1
		}
	}
	return nil
}

// readRange reads the records [from, to) of a partition.
func readRange(ctx context.Context, l cluster.LogReader, topic string, partition int, from, to int64) ([]log.Record, error) {
	out := make([]log.Record, 0, min(max(to-from, 0), 1<<16))
	err := eachRecord(ctx, l, topic, partition, from, to, nil, func(r *log.Record) error {
		out = append(out, *r)
		return nil
	})
	return out, err
}

// appendFeatures appends to dst the JSON object value with the features
// added as fields: its members, then "name":value for each feature (null
// for NaN, which JSON cannot hold). A value that is not an object is
// copied unchanged, for the job's schema to refuse.
func appendFeatures(dst, value []byte, names []string, vals []float64) []byte {
	i, j := 0, len(value)
	for i < j && isSpace(value[i]) {
		i++
	}
	for j > i && isSpace(value[j-1]) {
		j--
	}
	if j-i < 2 || value[i] != '{' || value[j-1] != '}' {
		return append(dst, value...)
	}
	dst = append(dst, value[i:j-1]...)
	empty := true
	for k := i + 1; k < j-1; k++ {
		if !isSpace(value[k]) {
			empty = false
			break
		}
	}
	for f, name := range names {
		if !empty || f > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendQuote(dst, name)
		dst = append(dst, ':')
		if v := vals[f]; math.IsNaN(v) || math.IsInf(v, 0) {
			dst = append(dst, "null"...)
		} else {
			dst = strconv.AppendFloat(dst, v, 'g', -1, 64)
		}
	}
	return append(dst, '}')
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func orField(f, def string) string {
	if f == "" {
		return def
	}
	return f
}

// Enrichment says how records are joined with a definition's features:
// a training job's records as of their time, and, stored with the model
// it trains, the rows a server predicts for, so that both get their
// features the same way.
type Enrichment struct {
	// Definition is the definition's YAML, File the file it came from.
	Definition string `json:"definition"`
	File       string `json:"file"`
	// Key is the records' entity key field; Time their time field ("" for
	// the record timestamp at training, and the request time at serving).
	Key  string `json:"key"`
	Time string `json:"time,omitempty"`
}

// Parse parses the enrichment's definition.
func (e Enrichment) Parse() (*Definition, error) { return Parse(e.File, []byte(e.Definition)) }

// ArtifactSection is the name of the model artefact section
// (models.Artifact.Extra) that holds a model's Enrichment, as JSON.
const ArtifactSection = "features"
