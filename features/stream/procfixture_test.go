package stream

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flintml/flint/log"
)

// procDefYAML is the definition the processor tests run: every window kind,
// a filter-free mix of aggregates, a HyperLogLog and a lateness that some
// events exceed.
const procDefYAML = `name: cards
source:
  topic: tx
  key: card
  time: at
  fields: {card: string, at: timestamp, amount: number, merchant: string}
lateness: 2m
derived:
  - {name: amount_eur, mul: [amount, 0.92]}
features:
  - {name: tx_10m, aggregate: count, window: {sliding: 10m, resolution: 1m}}
  - {name: spend_1h, aggregate: sum, field: amount_eur, window: {tumbling: 1h}}
  - {name: merchants_1h, aggregate: distinct_count, field: merchant, precision: 6, window: {sliding: 1h, resolution: 10m}}
  - {name: last_amount, aggregate: last, field: amount, window: {sliding: 30m, resolution: 5m}}
  - {name: mean_amount, aggregate: mean, field: amount, window: {hopping: 20m, every: 5m}}
  - {name: var_amount, aggregate: variance, field: amount, window: {sliding: 1h, resolution: 5m}}
`

func procDef(t testing.TB) *Definition {
	t.Helper()
	def, err := Parse("cards.yaml", []byte(procDefYAML))
	if err != nil {
		t.Fatal(err)
	}
	return def
}

// writeDefFile writes the definition where a child process can read it.
func writeDefFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cards.yaml")
	if err := os.WriteFile(path, []byte(procDefYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// makeEvents returns n source records of keys c0 … c(keys-1) keyed by
// card: times that mostly rise with jitter (some late, some beyond the
// lateness), a missing amount now and then, and a malformed record every
// 97th.
func makeEvents(seed uint64, n, keys int, base time.Time) []log.Record {
	r := rand.New(rand.NewPCG(seed, 1))
	recs := make([]log.Record, n)
	for i := range recs {
		card := fmt.Sprintf("c%d", r.IntN(keys))
		at := base.Add(time.Duration(i)*7*time.Second - time.Duration(r.IntN(180))*time.Second)
		amount := fmt.Sprintf("%.2f", r.Float64()*200-20)
		if r.IntN(20) == 0 {
			amount = "null"
		}
		v := fmt.Sprintf(`{"card":%q,"at":%.3f,"amount":%s,"merchant":"m%d"}`,
			card, float64(at.UnixMilli())/1000, amount, r.IntN(12))
		if i%97 == 96 {
			v = `{"card":` + fmt.Sprintf("%q", card) + `,"at":"yesterday"}`
		}
		recs[i] = log.Record{Key: []byte(card), Value: []byte(v)}
	}
	return recs
}

// appendEvents appends records to the source topic in small calls, as a
// stream of producers would.
func appendEvents(t testing.TB, l log.Log, recs []log.Record) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < len(recs); i += 50 {
		if err := l.Append(ctx, "tx", recs[i:min(i+50, len(recs))]); err != nil {
			t.Fatal(err)
		}
	}
}

// tableRec is a feature-table record's content.
type tableRec struct {
	key string
	val TableValue
}

// expected is what an uninterrupted run must end with, computed offline
// from the source topic by the same Apply and Value.
type expected struct {
	table  map[SourcePos]tableRec
	states map[string]Stored
}

// readAll reads every record of a topic, partition by partition.
func readAll(t testing.TB, l log.Log, topic string) [][]log.Record {
	t.Helper()
	ctx := context.Background()
	info, err := l.Describe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]log.Record, len(info.Partitions))
	for _, pi := range info.Partitions {
		for off := pi.Earliest; off < pi.Latest; {
			recs, err := l.Read(ctx, topic, pi.ID, off, log.ReadOptions{MaxRecords: 1000})
			if err != nil {
				t.Fatal(err)
			}
			out[pi.ID] = append(out[pi.ID], recs...)
			off = recs[len(recs)-1].Offset + 1
		}
	}
	return out
}

func offline(t *testing.T, def *Definition, l log.Log) expected {
	t.Helper()
	agg, dec := NewAggregator(def), NewRecordDecoder(def)
	exp := expected{table: map[SourcePos]tableRec{}, states: map[string]Stored{}}
	tables := NewTables(def) // a definition's tables, as of the end of their topics
	if err := tables.CatchUp(context.Background(), l, nil); err != nil {
		t.Fatal(err)
	}
	vals := make([]float64, len(def.Features))
	for q, recs := range readAll(t, l, def.EventTopic()) {
		for i := range recs {
			r := &recs[i]
			ev := def.NewEvent()
			if dec.Decode(r, &ev) != nil {
				continue
			}
			tables.Enrich(&ev)
			st, ok := exp.states[ev.Key]
			if !ok {
				st = Stored{State: agg.NewState()}
			}
			out := agg.Apply(st.State, &ev)
			st.Partition, st.Offset = q, r.Offset
			exp.states[ev.Key] = st
			if out == Dropped {
				continue
			}
			agg.Value(st.State, st.State.time, vals)
			exp.table[SourcePos{q, r.Offset}] = tableRec{ev.Key, TableValue{st.State.time, append([]float64(nil), vals...)}}
		}
	}
	return exp
}

// readTable reads the feature table, failing on a record published twice
// or without its source header.
func readTable(t *testing.T, l log.Log, topic string) (map[SourcePos]tableRec, error) {
	t.Helper()
	got := map[SourcePos]tableRec{}
	for _, recs := range readAll(t, l, topic) {
		for i := range recs {
			src, ok := RecordSource(&recs[i])
			if !ok {
				return nil, fmt.Errorf("feature-table record %d/%d has no source header", recs[i].Partition, recs[i].Offset)
			}
			if _, dup := got[src]; dup {
				return nil, fmt.Errorf("the feature table holds source %v twice (second at %d/%d)", src, recs[i].Partition, recs[i].Offset)
			}
			v, err := DecodeTableValue(recs[i].Value)
			if err != nil {
				return nil, err
			}
			got[src] = tableRec{string(recs[i].Key), v}
		}
	}
	return got, nil
}

func sameFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) && !(math.IsNaN(a[i]) && math.IsNaN(b[i])) {
			return false
		}
	}
	return true
}

// checkTable compares the feature table with the offline run's.
func checkTable(t *testing.T, exp expected, got map[SourcePos]tableRec) {
	t.Helper()
	bad := 0
	for src, e := range exp.table {
		g, ok := got[src]
		switch {
		case !ok:
			t.Errorf("the feature table misses the value after source %v (key %s)", src, e.key)
		case g.key != e.key || g.val.Time != e.val.Time || !sameFloats(g.val.Values, e.val.Values):
			t.Errorf("the feature table's value after source %v is %s %+v; want %s %+v", src, g.key, g.val, e.key, e.val)
		default:
			continue
		}
		if bad++; bad > 10 {
			t.Fatal("too many differences")
		}
	}
	for src := range got {
		if _, ok := exp.table[src]; !ok {
			t.Errorf("the feature table has a value after source %v, which applies no event", src)
		}
	}
}

// checkTableLatest checks a feature table emitted with EmitLatest against
// the offline run's every-event table: each record is the value after the
// event it names, and each key's last value is there.
func checkTableLatest(t *testing.T, exp expected, got map[SourcePos]tableRec) {
	t.Helper()
	newest := map[string]SourcePos{}
	for src, e := range exp.table {
		if n, ok := newest[e.key]; !ok || src.Offset > n.Offset {
			newest[e.key] = src
		}
		g, ok := got[src]
		if ok && (g.key != e.key || g.val.Time != e.val.Time || !sameFloats(g.val.Values, e.val.Values)) {
			t.Errorf("the feature table's value after source %v is %s %+v; want %s %+v", src, g.key, g.val, e.key, e.val)
		}
	}
	for src := range got {
		if _, ok := exp.table[src]; !ok {
			t.Errorf("the feature table has a value after source %v, which applies no event", src)
		}
	}
	for key, src := range newest {
		if _, ok := got[src]; !ok {
			t.Errorf("the feature table misses key %s's newest value, after source %v", key, src)
		}
	}
	if len(got) >= len(exp.table) && len(exp.table) > 2*len(newest) {
		t.Errorf("the feature table holds %d values of %d events: emitting the latest per poll left none out", len(got), len(exp.table))
	}
}

// checkStates compares a store's states with the offline run's, byte for
// byte, and the values at each key's stream time with AsOf's.
func checkStates(t *testing.T, def *Definition, dir string, exp expected, events [][]log.Record) {
	t.Helper()
	agg := NewAggregator(def)
	s, err := OpenStore(dir, agg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n := 0
	err = s.Each(func(key string, st Stored) bool {
		n++
		e, ok := exp.states[key]
		if !ok {
			t.Errorf("the store holds key %q, which no event has", key)
			return true
		}
		if st.Partition != e.Partition || st.Offset != e.Offset ||
			!bytes.Equal(agg.AppendState(nil, st.State), agg.AppendState(nil, e.State)) {
			t.Errorf("key %q: the store's state (source %d/%d) differs from the offline run's (%d/%d)", key, st.Partition, st.Offset, e.Partition, e.Offset)
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(exp.states) {
		t.Errorf("the store holds %d keys; the offline run %d", n, len(exp.states))
	}
	checkStoreAsOf(t, def, s, exp, events)
}

// checkStoreAsOf asks AsOf for every key's values at its stream time, from the
// events in log order, and compares them with Value on the stored state.
func checkStoreAsOf(t *testing.T, def *Definition, s *Store, exp expected, events [][]log.Record) {
	t.Helper()
	agg, dec := NewAggregator(def), NewRecordDecoder(def)
	var evs []Event
	for _, recs := range events {
		for i := range recs {
			ev := def.NewEvent()
			if dec.Decode(&recs[i], &ev) == nil {
				evs = append(evs, ev)
			}
		}
	}
	var labels []Label
	for k, st := range exp.states {
		labels = append(labels, Label{k, st.State.time})
	}
	nf := len(def.Features)
	want := make([]float64, len(labels)*nf)
	if err := agg.AsOf(evs, labels, want); err != nil {
		t.Fatal(err)
	}
	got := make([]float64, nf)
	for i, l := range labels {
		st, ok, err := s.Get(l.Key)
		if err != nil || !ok {
			t.Fatalf("key %q: %v %v", l.Key, ok, err)
		}
		agg.Value(st.State, l.Time, got)
		if !sameFloats(got, want[i*nf:(i+1)*nf]) {
			t.Errorf("key %q at %d: the store's values %v; AsOf %v", l.Key, l.Time, got, want[i*nf:(i+1)*nf])
		}
	}
}

// waitFor polls cond until it holds, failing after timeout with what cond
// last said.
func waitFor(t testing.TB, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s: %s", timeout, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkChangelog checks that every key's changelog records have strictly
// rising source offsets (so a compacted changelog keeps the newest state)
// and that the last is the offline run's final state.
func checkChangelog(t *testing.T, def *Definition, l log.Log, exp expected) {
	t.Helper()
	agg := NewAggregator(def)
	last := map[string]Stored{}
	for _, recs := range readAll(t, l, "features.cards.changelog") {
		for i := range recs {
			r := &recs[i]
			src, ok := RecordSource(r)
			if !ok {
				t.Fatalf("changelog record %d/%d has no source header", r.Partition, r.Offset)
			}
			st, err := agg.DecodeStored(r.Value)
			if err != nil {
				t.Fatalf("changelog record %d/%d: %v", r.Partition, r.Offset, err)
			}
			if st.Partition != src.Partition || st.Offset != src.Offset {
				t.Fatalf("changelog record %d/%d: its state follows source %d/%d; its header says %v", r.Partition, r.Offset, st.Partition, st.Offset, src)
			}
			if prev, ok := last[string(r.Key)]; ok && prev.Offset >= st.Offset {
				t.Fatalf("changelog record %d/%d: key %q's source offset %d does not rise from %d", r.Partition, r.Offset, r.Key, st.Offset, prev.Offset)
			}
			last[string(r.Key)] = st
		}
	}
	if len(last) != len(exp.states) {
		t.Errorf("the changelog holds %d keys; the offline run %d", len(last), len(exp.states))
	}
	for k, e := range exp.states {
		st := last[k]
		if st.State == nil || st.Offset != e.Offset || !bytes.Equal(agg.AppendState(nil, st.State), agg.AppendState(nil, e.State)) {
			t.Errorf("key %q: the changelog's last state differs from the offline run's final state", k)
		}
	}
}
