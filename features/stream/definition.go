package stream

import (
	"fmt"
	"strings"
)

// FieldType is the type of a field of a stream's events.
type FieldType uint8

// The field types. Number and timestamp fields travel in Event.Num (a
// timestamp as milliseconds since the Unix epoch), string fields in
// Event.Str.
const (
	Number FieldType = iota + 1
	String
	Timestamp
)

var fieldTypeNames = map[string]FieldType{"number": Number, "string": String, "timestamp": Timestamp}

func (t FieldType) String() string {
	for name, v := range fieldTypeNames {
		if v == t {
			return name
		}
	}
	return fmt.Sprintf("FieldType(%d)", uint8(t))
}

// Field is one field of the source's schema.
type Field struct {
	Name string
	Type FieldType
}

// Source is where a definition's events come from: a log topic, the field
// that keys the aggregates, the field that carries event time ("" for the
// record's own timestamp) and the schema's fields, in the order the
// definition lists them.
type Source struct {
	Topic  string
	Key    string
	Time   string
	Fields []Field
	// Repartition says the topic is not keyed by Key: a repartition stage
	// re-appends its records keyed by Key to EventTopic, which the
	// aggregates are computed from.
	Repartition bool
}

// EventTopic is the topic the aggregates are computed from: the source
// topic, or, when it is repartitioned, "features.NAME.repartition", where
// the repartition stage appends its records keyed by the key field. A
// point-in-time join reads its events from it.
func (d *Definition) EventTopic() string {
	if d.Source.Repartition {
		return "features." + d.Name + ".repartition"
	}
	return d.Source.Topic
}

// Table is a keyed table topic events are enriched from (a stream–table
// join, as Kafka Streams joins a KStream with a KTable): each event gets,
// as fields NAME_FIELD, the values of the table record keyed by the
// event's Key field with the latest record time at or before the event's
// time (a temporal join: versions are kept, so a replay gives the same
// answer). A table record's key is its record key; its value a JSON
// object of Fields (null or an empty value deletes the key from then on).
type Table struct {
	Name   string
	Topic  string
	Key    string  // the event field whose value is the table key
	Fields []Field // number or string
}

// JoinedName is the event field a table's field becomes.
func (t Table) JoinedName(field string) string { return t.Name + "_" + field }

// Op is a derived field's arithmetic operation.
type Op uint8

// The operations of derived fields.
const (
	Add Op = iota + 1
	Sub
	Mul
	Div
)

var opNames = []string{Add: "add", Sub: "sub", Mul: "mul", Div: "div"}

func (o Op) String() string { return opNames[o] }

// Operand is a derived field's operand: a number field (or an earlier
// derived field) or a constant.
type Operand struct {
	Field string // "" for a constant
	Const float64
}

// Derived is a number field computed from each event before aggregation:
// Args[0] Op Args[1] in IEEE 754 double arithmetic (so x/0 is ±Inf or NaN).
type Derived struct {
	Name string
	Op   Op
	Args [2]Operand
}

// Aggregate is what a feature computes over its window.
type Aggregate uint8

// The aggregates.
const (
	Count Aggregate = iota + 1
	Sum
	Mean
	Min
	Max
	Variance
	Last
	First
	DistinctCount
	TimeSinceLast
)

var aggregateNames = []string{Count: "count", Sum: "sum", Mean: "mean", Min: "min", Max: "max",
	Variance: "variance", Last: "last", First: "first", DistinctCount: "distinct_count",
	TimeSinceLast: "time_since_last"}

func (a Aggregate) String() string { return aggregateNames[a] }

// WindowKind is the shape of a feature's window.
type WindowKind uint8

// The window kinds; the package documentation defines which events each
// includes.
const (
	Sliding WindowKind = iota + 1
	Tumbling
	Hopping
)

var windowNames = []string{Sliding: "sliding", Tumbling: "tumbling", Hopping: "hopping"}

func (k WindowKind) String() string { return windowNames[k] }

// Window is a feature's window. Size and Step are in milliseconds; Step is
// the bucket width: the resolution of a sliding window, the size of a
// tumbling one and the hop of a hopping one. Size is a whole number of
// Steps.
type Window struct {
	Kind WindowKind
	Size int64
	Step int64
}

// buckets is how many buckets of Step the window's state keeps: the
// window's own buckets plus the one being filled.
func (w Window) buckets() int {
	if w.Kind == Tumbling {
		return 1
	}
	return int(w.Size/w.Step) + 1
}

// Cmp is a filter's comparison.
type Cmp uint8

// The comparisons; strings allow only Eq and Ne.
const (
	Eq Cmp = iota + 1
	Ne
	Lt
	Le
	Gt
	Ge
)

var cmpNames = []string{Eq: "==", Ne: "!=", Lt: "<", Le: "<=", Gt: ">", Ge: ">="}

func (c Cmp) String() string { return cmpNames[c] }

// Filter keeps the events whose Field compares to a constant: Num for a
// number field, Str for a string field. A comparison with NaN is false
// (so != NaN is true), as in IEEE 754.
type Filter struct {
	Field string
	Cmp   Cmp
	Num   float64
	Str   string
}

// Feature is one aggregate over a window of one field, of the events that
// pass every filter in Where.
type Feature struct {
	Name      string
	Aggregate Aggregate
	Field     string // "" for count and time_since_last
	Precision uint8  // distinct_count only: log2 of the HyperLogLog's registers per bucket
	Window    Window
	Where     []Filter
}

// Definition is a validated feature definition, as Parse returns it. Its
// fields describe it; change none of them.
type Definition struct {
	Name     string
	Source   Source
	Tables   []Table
	Lateness int64 // milliseconds
	Derived  []Derived
	Features []Feature

	slots map[string]slot // field or derived name → where its value is in an Event
	nNum  int             // schema number and timestamp fields
	nStr  int             // schema string fields
}

// slot is where a field's value is in an Event: Num[i] or Str[i].
type slot struct {
	str bool
	i   int
}

// NumIndex returns the index in Event.Num of a number or timestamp field,
// and false for any other name.
func (d *Definition) NumIndex(field string) (int, bool) {
	s, ok := d.slots[field]
	if !ok || s.str || s.i >= d.nNum {
		return 0, false
	}
	return s.i, true
}

// StrIndex returns the index in Event.Str of a string field, and false for
// any other name.
func (d *Definition) StrIndex(field string) (int, bool) {
	s, ok := d.slots[field]
	if !ok || !s.str {
		return 0, false
	}
	return s.i, true
}

// NumSlots is the length an Event.Num must have: the schema's number and
// timestamp fields, then one slot per derived field, which Apply fills.
func (d *Definition) NumSlots() int { return d.nNum + len(d.Derived) }

// StrSlots is the length an Event.Str must have.
func (d *Definition) StrSlots() int { return d.nStr }

// NewEvent returns an event with slices of the lengths the definition
// needs; reuse it for every event.
func (d *Definition) NewEvent() Event {
	return Event{Num: make([]float64, d.NumSlots()), Str: make([]string, d.StrSlots())}
}

// FeatureNames returns the features' names in definition order: the order
// of the values Value writes.
func (d *Definition) FeatureNames() []string {
	names := make([]string, len(d.Features))
	for i, f := range d.Features {
		names[i] = f.Name
	}
	return names
}

// Pos is a position in a definition file, 1-based.
type Pos struct{ Line, Col int }

// DefError is one problem with a definition, at a position and field path.
type DefError struct {
	File string
	Pos  Pos
	Path string // e.g. "features[2].window.resolution"
	Msg  string
}

func (e DefError) Error() string {
	loc := e.File
	if e.Pos.Line > 0 {
		loc = fmt.Sprintf("%s:%d:%d", e.File, e.Pos.Line, e.Pos.Col)
	}
	if e.Path == "" {
		return loc + ": " + e.Msg
	}
	return loc + ": " + e.Path + ": " + e.Msg
}

// DefErrors is every problem found in a definition, in file order.
type DefErrors []DefError

func (es DefErrors) Error() string {
	if len(es) == 1 {
		return es[0].Error()
	}
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return fmt.Sprintf("%d problems in the feature definition:\n  %s", len(es), strings.Join(lines, "\n  "))
}
