package stream

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/features"
	"github.com/flintml/flint/log"
)

// Tables hold the versions of a definition's tables (Definition.Tables)
// and enrich events from them: an event at time t gets, for each table,
// the values of its key's record with the latest record time at or before
// t (the last in log order among equal times); none (NaN numbers, empty
// strings) when the key has no record by then, or its latest is a
// deletion. Every version is kept, so the answer for an event does not
// depend on when it is asked: the processor, a point-in-time join and a
// replay all give it, as long as a table record is in the log before the
// events of its time are processed (the usual case for reference data: a
// record appended later with an earlier time changes the joins computed
// after it, not those before).
type Tables struct {
	def    *Definition
	tables []*versions
}

// versions is one table: every key's versions by time, and how far each
// partition of its topic has been read.
type versions struct {
	t      Table
	schema features.Schema
	row    features.Row
	byKey  map[string][]version
	read   map[int]int64 // partition → next offset
	slots  []slot        // event slot of each field
	keyNum bool          // the event's key field is a number
	keyIdx int
}

// version is a table record: its time, and its field values (nil for a
// deletion).
type version struct {
	time int64
	num  []float64
	str  []string
	del  bool
}

// NewTables returns empty tables for def, to be filled by CatchUp.
func NewTables(def *Definition) *Tables {
	ts := &Tables{def: def}
	for _, t := range def.Tables {
		v := &versions{t: t, byKey: map[string][]version{}, read: map[int]int64{},
			schema: features.Schema{Format: "json", IgnoreUnknown: true}}
		for _, f := range t.Fields {
			ff := features.Field{Name: f.Name, Type: features.Numeric, Optional: true}
			if f.Type == String {
				ff.Type = features.Categorical
			}
			v.schema.Fields = append(v.schema.Fields, ff)
			v.slots = append(v.slots, def.slots[t.JoinedName(f.Name)])
		}
		v.row = v.schema.NewRow()
		ks := def.slots[t.Key]
		v.keyNum, v.keyIdx = !ks.str, ks.i
		ts.tables = append(ts.tables, v)
	}
	return ts
}

// CatchUp reads every table's topic from where it stopped up to the
// offsets of ends (table topic → partition → offset), or to each
// partition's end when ends is nil.
func (ts *Tables) CatchUp(ctx context.Context, l cluster.LogReader, ends map[string]map[int]int64) error {
	for _, v := range ts.tables {
		if err := v.catchUp(ctx, l, ends[v.t.Topic], ends == nil); err != nil {
			return err
		}
	}
	return nil
}

// Ends returns the current end of every partition of every table topic:
// what a point-in-time join pins.
func (ts *Tables) Ends(ctx context.Context, l cluster.LogReader) (map[string]map[int]int64, error) {
	out := map[string]map[int]int64{}
	for _, v := range ts.tables {
		info, err := l.Describe(ctx, v.t.Topic)
		if err != nil {
			return nil, fmt.Errorf("describe table topic %s of definition %q: %w", v.t.Topic, ts.def.Name, err)
		}
		m := map[int]int64{}
		for _, p := range info.Partitions {
			m[p.ID] = p.Latest
		}
		out[v.t.Topic] = m
	}
	return out, nil
}

func (v *versions) catchUp(ctx context.Context, l cluster.LogReader, ends map[int]int64, toEnd bool) error {
	parts := ends
	if toEnd {
		info, err := l.Describe(ctx, v.t.Topic)
		if errors.Is(err, log.ErrUnknownTopic) {
			return nil // no table record yet
		}
		if err != nil {
			return fmt.Errorf("stream: table %s: describe %s: %w", v.t.Name, v.t.Topic, err)
		}
		parts = map[int]int64{}
		for _, p := range info.Partitions {
			parts[p.ID] = p.Latest
			v.read[p.ID] = max(v.read[p.ID], p.Earliest)
		}
	}
	changed := map[string]bool{}
	for q, end := range parts {
		recs, err := readRange(ctx, l, v.t.Topic, q, v.read[q], end)
		if err != nil {
			return fmt.Errorf("stream: table %s: %w", v.t.Name, err)
		}
		for i := range recs {
			v.add(&recs[i])
			changed[string(recs[i].Key)] = true
		}
		if end > v.read[q] {
			v.read[q] = end
		}
	}
	for k := range changed { // versions by time; equal times in log order (stable)
		vs := v.byKey[k]
		sort.SliceStable(vs, func(i, j int) bool { return vs[i].time < vs[j].time })
	}
	return nil
}

// add takes one table record as a version of its key.
func (v *versions) add(r *log.Record) {
	ver := version{time: r.Time.UnixMilli()}
	if len(r.Value) == 0 || string(r.Value) == "null" || v.schema.Decode(v.row, r.Value) != nil {
		ver.del = true // a deletion, or a record that does not decode: the key has no values from then on
	} else {
		ver.num = make([]float64, len(v.row))
		ver.str = make([]string, len(v.row))
		for i, val := range v.row {
			if v.t.Fields[i].Type == String {
				ver.str[i] = val.Str
			} else {
				ver.num[i] = val.Num // NaN when missing
			}
		}
	}
	k := string(r.Key)
	v.byKey[k] = append(v.byKey[k], ver)
}

// Enrich fills the event's table fields as of its time.
func (ts *Tables) Enrich(ev *Event) {
	for _, v := range ts.tables {
		var key string
		if v.keyNum {
			key = features.KeyText(features.Value{Num: ev.Num[v.keyIdx]}, features.Field{Type: features.Numeric})
		} else {
			key = ev.Str[v.keyIdx]
		}
		var cur *version
		if vs := v.byKey[key]; len(vs) > 0 {
			// The last version at or before the event's time.
			i := sort.Search(len(vs), func(i int) bool { return vs[i].time > ev.Time }) - 1
			if i >= 0 && !vs[i].del {
				cur = &vs[i]
			}
		}
		for i, s := range v.slots {
			switch {
			case s.str && cur != nil:
				ev.Str[s.i] = cur.str[i]
			case s.str:
				ev.Str[s.i] = ""
			case cur != nil:
				ev.Num[s.i] = cur.num[i]
			default:
				ev.Num[s.i] = math.NaN()
			}
		}
	}
}
