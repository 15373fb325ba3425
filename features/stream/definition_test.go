package stream

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
)

const exampleDefinition = `name: card_activity
source:
  topic: transactions
  key: card
  time: at
  fields: {card: string, at: timestamp, amount: number, merchant: string}
lateness: 10m
derived:
  - {name: amount_eur, mul: [amount, 0.92]}
  - {name: fee, sub: [amount_eur, 1]}
features:
  - name: tx_1h
    aggregate: count
    window: {sliding: 1h, resolution: 1m}
  - name: merchants_30d
    aggregate: distinct_count
    field: merchant
    precision: 12
    window: {sliding: 30d, resolution: 1d}
  - name: spend_today
    aggregate: sum
    field: amount_eur
    window: {tumbling: 1d}
    where: [{field: amount, op: ">", value: 0}, {field: merchant, op: "!=", value: "ACME"}]
  - name: max_hourly
    aggregate: max
    field: fee
    window: {hopping: 1h, every: 15m}
`

// TestParseExample: a definition using every section decodes to the
// definition it describes.
func TestParseExample(t *testing.T) {
	def, err := Parse("card.yaml", []byte(exampleDefinition))
	if err != nil {
		t.Fatal(err)
	}
	want := &Definition{
		Name: "card_activity",
		Source: Source{Topic: "transactions", Key: "card", Time: "at", Fields: []Field{
			{"card", String}, {"at", Timestamp}, {"amount", Number}, {"merchant", String}}},
		Lateness: 600_000,
		Derived: []Derived{
			{Name: "amount_eur", Op: Mul, Args: [2]Operand{{Field: "amount"}, {Const: 0.92}}},
			{Name: "fee", Op: Sub, Args: [2]Operand{{Field: "amount_eur"}, {Const: 1}}},
		},
		Features: []Feature{
			{Name: "tx_1h", Aggregate: Count, Window: Window{Sliding, 3_600_000, 60_000}},
			{Name: "merchants_30d", Aggregate: DistinctCount, Field: "merchant", Precision: 12,
				Window: Window{Sliding, 30 * 86_400_000, 86_400_000}},
			{Name: "spend_today", Aggregate: Sum, Field: "amount_eur", Window: Window{Tumbling, 86_400_000, 86_400_000},
				Where: []Filter{{Field: "amount", Cmp: Gt}, {Field: "merchant", Cmp: Ne, Str: "ACME"}}},
			{Name: "max_hourly", Aggregate: Max, Field: "fee", Window: Window{Hopping, 3_600_000, 900_000}},
		},
		slots: map[string]slot{"card": {true, 0}, "at": {false, 0}, "amount": {false, 1}, "merchant": {true, 1},
			"amount_eur": {false, 2}, "fee": {false, 3}},
		nNum: 2, nStr: 2,
	}
	if !reflect.DeepEqual(def, want) {
		t.Fatalf("got %+v\nwant %+v", def, want)
	}
	for _, tc := range []struct {
		field string
		num   bool
		i     int
		ok    bool
	}{{"amount", true, 1, true}, {"at", true, 0, true}, {"merchant", false, 1, true},
		{"amount_eur", true, 0, false}, {"nope", false, 0, false}} {
		var i int
		var ok bool
		if tc.num {
			i, ok = def.NumIndex(tc.field)
		} else {
			i, ok = def.StrIndex(tc.field)
		}
		if i != tc.i || ok != tc.ok {
			t.Errorf("index of %q: %d, %v; want %d, %v", tc.field, i, ok, tc.i, tc.ok)
		}
	}
	if got := def.FeatureNames(); !reflect.DeepEqual(got, []string{"tx_1h", "merchants_30d", "spend_today", "max_hourly"}) {
		t.Errorf("FeatureNames() = %v", got)
	}
}

const (
	errHead = "name: x\nsource: {topic: t, key: k, fields: {k: string, v: number, s: string}}\n"
	errOK   = "features: [{name: c, aggregate: count, window: {tumbling: 1h}}]\n"
)

// parseErrorCases are definitions with problems and every error each gets.
var parseErrorCases = []struct {
	name, src string
	want      []string
}{
	{"empty", "", []string{"d.yaml: the definition is empty"}},
	{"not YAML", "name: [\n", []string{"d.yaml:1:1: not valid YAML: did not find expected node content"}},
	{"not a mapping", "- a\n", []string{"d.yaml:1:1: want a mapping, got a list"}},
	{"missing everything", "lateness: 1m\n", []string{
		`d.yaml:1:1: missing field "name"`, `d.yaml:1:1: missing field "source"`, `d.yaml:1:1: missing field "features"`}},
	{"unknown and duplicate fields", errHead + errOK + "name: y\nlatenes: 1m\n", []string{
		"d.yaml:4:1: name: duplicate field",
		"d.yaml:5:1: latenes: unknown field; want one of name, source, tables, lateness, derived, features"}},
	{"source", "name: x\nsource:\n  topic: 5\n  key: nope\n  time: s\n  fields: {s: string, t: date, s: number}\n" + errOK, []string{
		`d.yaml:3:10: source.topic: want a non-empty string, got "5"`,
		`d.yaml:4:8: source.key: no field "nope" in source.fields`,
		`d.yaml:5:9: source.time: want a timestamp field of source.fields, got "s", a string field`,
		`d.yaml:6:26: source.fields.t: unknown type "date"; want number, string or timestamp`,
		`d.yaml:6:32: source.fields.s: duplicate field`}},
	{"field names", "name: x\nsource: {topic: t, key: k, fields: {k: string, \"\": number, [a]: number}}\n" + errOK, []string{
		`d.yaml:2:48: source.fields: want a non-empty field name, got ""`,
		`d.yaml:2:60: source.fields: want a non-empty field name, got a list`}},
	{"durations", errHead + "lateness: -1m\nfeatures:\n" +
		"  - {name: a, aggregate: count, window: {sliding: 1h, resolution: 7m}}\n" +
		"  - {name: b, aggregate: count, window: {sliding: 1h, resolution: 1.5ms}}\n" +
		"  - {name: c, aggregate: count, window: {tumbling: 0s}}\n" +
		"  - {name: d, aggregate: count, window: {hopping: 2d, every: 1h, resolution: 1m}}\n" +
		"  - {name: e, aggregate: count, window: {sliding: 30d, resolution: 1s}}\n" +
		"  - {name: f, aggregate: count, window: {tumbling: 1x}}\n" +
		"  - {name: g, aggregate: count, window: {tumbling: 106751991d}}\n", []string{
		`d.yaml:3:11: lateness: bad duration "-1m": must be more than 0`,
		`d.yaml:5:67: features[0].window.resolution: resolution 7m does not divide the window's 1h`,
		`d.yaml:6:67: features[1].window.resolution: bad duration "1.5ms": want a whole number of milliseconds`,
		`d.yaml:7:52: features[2].window.tumbling: bad duration "0s": must be more than 0`,
		`d.yaml:8:78: features[3].window.resolution: a hopping window takes no resolution`,
		`d.yaml:9:68: features[4].window.resolution: the window would keep 2592001 buckets of 1s per key; at most 10000: use a coarser resolution`,
		`d.yaml:10:52: features[5].window.tumbling: bad duration "1x": want a Go duration such as 90s, 15m or 1h, or whole days such as 7d`,
		`d.yaml:11:52: features[6].window.tumbling: bad duration "106751991d": must be at most 104249991d, the span of event times`}},
	{"windows", errHead + "features:\n" +
		"  - {name: a, aggregate: count, window: {sliding: 1h, tumbling: 1h}}\n" +
		"  - {name: b, aggregate: count, window: {hopping: 1h}}\n" +
		"  - {name: c, aggregate: count, window: {}}\n" +
		"  - {name: d, aggregate: count, window: 1h}\n" +
		"  - {name: e, aggregate: count}\n", []string{
		`d.yaml:4:41: features[0].window: missing field "resolution": a sliding window needs it`,
		`d.yaml:4:65: features[0].window.tumbling: a window has one kind; sliding is already given`,
		`d.yaml:5:41: features[1].window: missing field "every": a hopping window needs it`,
		`d.yaml:6:41: features[2].window: missing the window: want sliding (with resolution), tumbling, or hopping (with every)`,
		`d.yaml:7:41: features[3].window: want a mapping, got "1h"`,
		`d.yaml:8:5: features[4]: missing field "window"`}},
	{"aggregates and fields", errHead + "features:\n" +
		"  - {name: a, aggregate: median, window: {tumbling: 1h}}\n" +
		"  - {name: b, aggregate: sum, window: {tumbling: 1h}}\n" +
		"  - {name: c, aggregate: mean, field: s, window: {tumbling: 1h}}\n" +
		"  - {name: d, aggregate: count, field: v, window: {tumbling: 1h}}\n" +
		"  - {name: e, aggregate: max, field: w, precision: 8, window: {tumbling: 1h}}\n" +
		"  - {name: f, aggregate: distinct_count, field: s, precision: 17, window: {tumbling: 1h}}\n" +
		"  - {name: g, aggregate: distinct_count, field: s, precision: 16, window: {sliding: 1h, resolution: 1m}}\n" +
		"  - {name: a, aggregate: last, field: v, window: {tumbling: 1h}}\n" +
		"features2: []\n", []string{
		`d.yaml:4:26: features[0].aggregate: unknown aggregate "median"; want one of count, sum, mean, min, max, variance, last, first, distinct_count, time_since_last`,
		`d.yaml:5:5: features[1]: missing field "field"`,
		`d.yaml:6:39: features[2].field: field "s" is a string; want a number field`,
		`d.yaml:7:40: features[3].field: count takes no field`,
		`d.yaml:8:38: features[4].field: no field "w" in source.fields or derived`,
		`d.yaml:8:52: features[4].precision: only distinct_count takes a precision, not max`,
		`d.yaml:9:63: features[5].precision: want a whole number from 4 to 16 (2^precision registers), got "17"`,
		`d.yaml:10:75: features[6].window: distinct_count keeps 61 buckets of 65536 registers (3997696 bytes) per key; at most 1048576: use a lower precision or a coarser bucket`,
		`d.yaml:11:5: features[7].name: feature "a" is defined twice`,
		`d.yaml:12:1: features2: unknown field; want one of name, source, tables, lateness, derived, features`}},
	{"derived and filters", errHead + "derived:\n" +
		"  - {name: v, add: [v, 1]}\n" +
		"  - {name: d1, mul: [v]}\n" +
		"  - {name: d2, div: [v, s], sub: [1, 2]}\n" +
		"  - {name: d3}\n" +
		"  - {name: d4, add: [v, [1]]}\n" +
		"features:\n" +
		"  - name: a\n    aggregate: count\n    window: {tumbling: 1h}\n" +
		"    where: [{field: s, op: <, value: a}, {field: v, op: =~, value: x}, {field: s, op: ==, value: 3}, {field: q, op: ==, value: 1}, {op: ==}]\n",
		[]string{
			`d.yaml:4:12: derived[0].name: "v" is already a field`,
			`d.yaml:5:21: derived[1].mul: want two operands (a field name or a number each), got 1`,
			`d.yaml:6:25: derived[2].div[1]: field "s" is a string; want a number field`,
			`d.yaml:6:29: derived[2].sub: a derived field has one operation; div is already given`,
			`d.yaml:7:5: derived[3]: missing the operation: want one of add, sub, mul, div with two operands`,
			`d.yaml:8:25: derived[4].add[1]: want a field name or a number, got a list`,
			`d.yaml:13:28: features[0].where[0].op: field "s" is a string: want == or !=`,
			`d.yaml:13:57: features[0].where[1].op: unknown comparison "=~"; want one of == != < <= > >=`,
			`d.yaml:13:68: features[0].where[1].value: want a number, got "x"`,
			`d.yaml:13:98: features[0].where[2].value: field "s" is a string: want a string, got "3"`,
			`d.yaml:13:110: features[0].where[3].field: no field "q" in source.fields or derived`,
			`d.yaml:13:132: features[0].where[4]: missing field "field"`,
			`d.yaml:13:132: features[0].where[4]: missing field "value"`}},
}

// TestParseErrors: every problem is reported at once, in file order, with
// file:line:column, the field's path and one sentence.
func TestParseErrors(t *testing.T) {
	for _, tc := range parseErrorCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("d.yaml", []byte(tc.src))
			var errs DefErrors
			if !errors.As(err, &errs) {
				t.Fatalf("got %v, want DefErrors", err)
			}
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
			wantAll := tc.want[0]
			if len(tc.want) > 1 {
				wantAll = fmt.Sprintf("%d problems in the feature definition:\n  %s", len(tc.want), strings.Join(tc.want, "\n  "))
			}
			if err.Error() != wantAll {
				t.Fatalf("the error reads\n%s\nwant\n%s", err, wantAll)
			}
		})
	}
}

// TestDocExample: the definition in the package documentation parses.
func TestDocExample(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var yaml []string
	for _, line := range strings.Split(string(src), "\n") {
		if rest, ok := strings.CutPrefix(line, "//\t"); ok {
			yaml = append(yaml, rest)
		} else if len(yaml) > 0 {
			break
		}
	}
	def, err := Parse("doc.go", []byte(strings.Join(yaml, "\n")))
	if err != nil {
		t.Fatalf("the documented definition does not parse: %v", err)
	}
	if got := def.FeatureNames(); !reflect.DeepEqual(got, []string{"tx_1h", "merchants_30d", "spend_today"}) {
		t.Fatalf("the documented definition has features %v", got)
	}
}
