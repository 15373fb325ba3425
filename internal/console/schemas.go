package console

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flintml/flint/features"
	"github.com/flintml/flint/log"
	"github.com/flintml/flint/trainer"
	"github.com/flintml/flint/trainer/jobs"
)

// A topic's schema is known to the console from, in this order:
//
//  1. Config.Schemas, given explicitly (flint's --console-schema
//     topic=FILE);
//  2. Config.Features: a feature definition's source topic has the schema
//     its processor decodes with (stream.Definition.SourceSchema);
//  3. the jobs it lists: the newest job whose spec reads the topic
//     (source.topic) gives its schema: section. Only the newest
//     maxSchemaJobs jobs are looked at, so that a driver with thousands of
//     job records does not parse them all for a topic no job reads.
//
// The record browser decodes with it through features.Schema.Decode, as
// ingest, training and serving do, and says where the schema came from.

// topicSchema is a schema and where the console found it.
type topicSchema struct {
	Schema features.Schema
	Origin string // e.g. "--console-schema", "feature definition clicks", "job 20261207-1200-0001 (clicks)"
}

const maxSchemaJobs = 200

// schemaBook finds topics' schemas. The parsed specs of jobs are kept by
// job ID, since a job's spec never changes.
type schemaBook struct {
	mu    sync.Mutex
	specs map[string]jobSource // job ID → the topic its spec reads and its schema
}

type jobSource struct {
	topic  string
	schema features.Schema
}

// schemaFor returns the schema of topic, or nil when none is known.
func (c *Console) schemaFor(topic string) *topicSchema {
	if s, ok := c.cfg.Schemas[topic]; ok {
		return &topicSchema{Schema: s, Origin: "--console-schema"}
	}
	for _, d := range c.cfg.Features {
		if d.Source.Topic == topic {
			return &topicSchema{Schema: d.SourceSchema(), Origin: "feature definition " + d.Name}
		}
	}
	if c.cfg.Jobs == nil {
		return nil
	}
	list := c.cfg.Jobs.List("") // newest first
	list = list[:min(len(list), maxSchemaJobs)]
	defer c.schemas.forgetAllBut(list)
	for _, j := range list {
		src, ok := c.jobSource(j.ID)
		if ok && src.topic == topic {
			return &topicSchema{Schema: src.schema, Origin: fmt.Sprintf("job %s (%s)", j.ID, j.Name)}
		}
	}
	return nil
}

// forgetAllBut drops the parsed specs of jobs no longer among the newest
// (those in keep), once they are twice as many as are looked at, so that a
// driver running for months keeps at most 2×maxSchemaJobs of them.
func (b *schemaBook) forgetAllBut(keep []jobs.Job) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.specs) <= 2*maxSchemaJobs {
		return
	}
	kept := make(map[string]jobSource, len(keep))
	for _, j := range keep {
		if src, ok := b.specs[j.ID]; ok {
			kept[j.ID] = src
		}
	}
	b.specs = kept
}

// jobSource returns the topic and schema of a job's spec, parsing it the
// first time. A job whose spec reads files, or does not parse, has none.
func (c *Console) jobSource(id string) (jobSource, bool) {
	b := c.schemas
	b.mu.Lock()
	src, ok := b.specs[id]
	b.mu.Unlock()
	if ok {
		return src, src.topic != ""
	}
	j, err := c.cfg.Jobs.Get(id)
	if err != nil {
		return jobSource{}, false // not cached: the job may be there later
	}
	if spec, err := trainer.ParseSpec(j.File, []byte(j.Spec)); err == nil {
		src = jobSource{topic: spec.Source.Topic, schema: spec.Schema}
	}
	b.mu.Lock()
	b.specs[id] = src
	b.mu.Unlock()
	return src, src.topic != ""
}

// decodedRecord is one record decoded with a schema: its field values as
// text, in schema order, or why it did not decode.
type decodedRecord struct {
	Fields []decodedField
	Err    string
}

type decodedField struct {
	Text    string
	Missing bool
}

// decode decodes rec's value with s. A record that does not fit gets the
// error sentence, naming the field and the record's offset.
func decode(s *features.Schema, row features.Row, rec *log.Record) decodedRecord {
	if err := s.Decode(row, rec.Value); err != nil {
		return decodedRecord{Err: fmt.Sprintf("%s/%d: record at offset %d does not fit the schema: %v", rec.Topic, rec.Partition, rec.Offset, err)}
	}
	d := decodedRecord{Fields: make([]decodedField, len(row))}
	for i, v := range row {
		d.Fields[i] = formatValue(s.Fields[i], v)
	}
	return d
}

const maxVectorShown = 16 // elements of a vector field shown

// formatValue shows one decoded field value as text.
func formatValue(f features.Field, v features.Value) decodedField {
	if v.Missing {
		return decodedField{Text: "null", Missing: true}
	}
	switch f.Type {
	case features.Categorical, features.Text:
		return decodedField{Text: v.Str}
	case features.Timestamp:
		sec, frac := math.Modf(v.Num)
		return decodedField{Text: time.Unix(int64(sec), int64(frac*1e9)).UTC().Format(time.RFC3339Nano)}
	case features.Vector:
		var b strings.Builder
		b.WriteByte('[')
		for i, x := range v.Vec {
			if i == maxVectorShown {
				fmt.Fprintf(&b, ", … %d more", len(v.Vec)-i)
				break
			}
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strconv.FormatFloat(x, 'g', 6, 64))
		}
		b.WriteByte(']')
		return decodedField{Text: b.String()}
	}
	return decodedField{Text: strconv.FormatFloat(v.Num, 'g', -1, 64)}
}
