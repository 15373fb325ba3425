package stream

import (
	"fmt"
	"math"

	"github.com/flintml/flint/features"
	"github.com/flintml/flint/log"
)

// RecordDecoder turns source records (JSON objects, as flint ingest
// appends them) into events, reading the definition's fields and skipping
// any others (a label, say). Field values decode only through the features
// package (features.Schema.Decode), as at training and serving: number
// fields are numeric, string fields categorical and timestamp fields
// timestamps (RFC 3339 text or Unix seconds, kept as milliseconds). The key
// and time fields are required; a missing number is NaN (a missing value)
// and a missing string "". It is not safe for concurrent use.
type RecordDecoder struct {
	def    *Definition
	schema features.Schema
	row    features.Row
	slots  []slot // per schema field: where it goes in an Event
	key    int    // schema index of the key field
	time   int    // schema index of the time field, -1 for the record's timestamp
}

// SourceSchema is the schema of the definition's source records, in the
// features package's terms: its fields (numbers numeric, strings
// categorical, timestamps timestamps), the key and time fields required,
// the others optional, and fields it does not name skipped.
func (def *Definition) SourceSchema() features.Schema {
	s := features.Schema{Format: "json", IgnoreUnknown: true}
	for _, f := range def.Source.Fields {
		ff := features.Field{Name: f.Name, Optional: f.Name != def.Source.Key && f.Name != def.Source.Time}
		switch f.Type {
		case Number:
			ff.Type = features.Numeric
		case String:
			ff.Type = features.Categorical
		default:
			ff.Type = features.Timestamp
		}
		s.Fields = append(s.Fields, ff)
	}
	return s
}

// NewRecordDecoder returns a decoder for a definition's source records.
func NewRecordDecoder(def *Definition) *RecordDecoder {
	d := &RecordDecoder{def: def, schema: def.SourceSchema(), time: -1}
	for i, f := range def.Source.Fields {
		d.slots = append(d.slots, def.slots[f.Name])
		if f.Name == def.Source.Key {
			d.key = i
		}
		if f.Name == def.Source.Time {
			d.time = i
		}
	}
	d.row = d.schema.NewRow()
	return d
}

// Decode fills ev (from Definition.NewEvent) from a record. A record that
// does not fit the schema returns an error naming its topic, partition,
// offset and field.
func (d *RecordDecoder) Decode(r *log.Record, ev *Event) error {
	if err := d.schema.Decode(d.row, r.Value); err != nil {
		return fmt.Errorf("stream: record %s/%d at offset %d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	for i, v := range d.row {
		s := d.slots[i]
		switch {
		case s.str:
			ev.Str[s.i] = v.Str
		case d.def.Source.Fields[i].Type == Timestamp:
			ev.Num[s.i] = math.Round(v.Num * 1000)
		default:
			ev.Num[s.i] = v.Num
		}
	}
	ev.Key = features.KeyText(d.row[d.key], d.schema.Fields[d.key]) // as flint ingest keys the record
	if d.time >= 0 {
		t := ev.Num[d.slots[d.time].i]
		if !(t >= -MaxTime && t <= MaxTime) {
			return fmt.Errorf("stream: record %s/%d at offset %d: field %q: time %v ms is out of range", r.Topic, r.Partition, r.Offset, d.def.Source.Time, t)
		}
		ev.Time = int64(t)
	} else {
		ev.Time = r.Time.UnixMilli()
	}
	return nil
}
