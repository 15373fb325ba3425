package stream

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/flintml/flint/log"
)

// tableDefYAML enriches the processor tests' card events with a merchants
// table: a category (a filter) and a risk score (aggregated).
const tableDefYAML = `name: cards
source:
  topic: tx
  key: card
  time: at
  fields: {card: string, at: timestamp, amount: number, merchant: string}
tables:
  - {name: m, topic: merchants, key: merchant, fields: {category: string, risk: number}}
lateness: 2m
features:
  - {name: risk_1h, aggregate: mean, field: m_risk, window: {sliding: 1h, resolution: 1m}}
  - {name: gambling_1h, aggregate: sum, field: amount, window: {sliding: 1h, resolution: 1m}, where: [{field: m_category, op: "==", value: gambling}]}
  - {name: tx_10m, aggregate: count, window: {sliding: 10m, resolution: 1m}}
`

// merchantRecords are versions of merchants m0 … m11: a first record at
// base, new versions an hour later for some, and a deletion.
func merchantRecords(base time.Time) []log.Record {
	var recs []log.Record
	for m := 0; m < 12; m++ {
		cat := []string{"grocery", "gambling", "travel"}[m%3]
		recs = append(recs, log.Record{Key: []byte(fmt.Sprintf("m%d", m)), Time: base.Add(-time.Minute),
			Value: []byte(fmt.Sprintf(`{"category":%q,"risk":%d}`, cat, m))})
	}
	for m := 0; m < 12; m += 2 {
		recs = append(recs, log.Record{Key: []byte(fmt.Sprintf("m%d", m)), Time: base.Add(time.Hour),
			Value: []byte(fmt.Sprintf(`{"category":"gambling","risk":%d}`, 100+m))})
	}
	recs = append(recs, log.Record{Key: []byte("m5"), Time: base.Add(30 * time.Minute), Value: nil}) // m5 closes
	return recs
}

// A stream–table join: events are enriched with the version of their
// merchant's record at their time. The processor's feature table and
// states equal the offline run over the same versions, and the
// point-in-time join's values equal a replay of the enriched events —
// so the version in force at each event, not the latest, is used.
func TestTableJoinOnlineEqualsOffline(t *testing.T) {
	def, err := Parse("cards.yaml", []byte(tableDefYAML))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	l := openDisk(t, filepath.Join(dir, "log"))
	defer l.Close()
	ctx := context.Background()
	for topic, n := range map[string]int{"tx": 3, "merchants": 2} {
		if err := l.CreateTopic(ctx, topic, log.TopicConfig{Partitions: n}); err != nil {
			t.Fatal(err)
		}
	}
	base := time.UnixMilli(1_700_000_000_000)
	if err := l.Append(ctx, "merchants", merchantRecords(base)); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, l, makeEvents(4, 900, 25, base))
	exp := offline(t, def, l)
	r := startProcessor(t, l, def, filepath.Join(dir, "state"), 64)
	tableHas(t, l, "features.cards.table", len(exp.table))
	r.halt(t)
	got, err := readTable(t, l, "features.cards.table")
	if err != nil {
		t.Fatal(err)
	}
	checkTable(t, exp, got)
	s, err := OpenStore(filepath.Join(dir, "state"), NewAggregator(def))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	agg := NewAggregator(def)
	_ = s.Each(func(key string, st Stored) bool {
		n++
		if e := exp.states[key]; e.State == nil || !bytes.Equal(agg.AppendState(nil, st.State), agg.AppendState(nil, e.State)) {
			t.Errorf("key %q: the store's state differs from the offline run's", key)
		}
		return true
	})
	s.Close()
	if n != len(exp.states) {
		t.Errorf("the store holds %d keys, the offline run %d", n, len(exp.states))
	}

	// The enrichment changes values: without the table versions a
	// gambling sum would be 0 everywhere, and every hour-later version
	// counts.
	gambling, late := 0, 0
	for _, e := range exp.table {
		if e.val.Values[1] > 0 {
			gambling++
		}
		if e.val.Values[0] > 50 {
			late++
		}
	}
	if gambling == 0 || late == 0 {
		t.Fatalf("%d values with gambling spend, %d with the later risk versions: the test data should have both", gambling, late)
	}

	// The point-in-time join on the events themselves equals a replay of
	// the enriched events, each answered before it is applied.
	tables := NewTables(def)
	ends, err := tables.Ends(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	if err := tables.CatchUp(ctx, l, ends); err != nil {
		t.Fatal(err)
	}
	rows := joined(t, l, "tx", JoinArg{Definition: tableDefYAML, File: "cards.yaml", OnEvents: true, TableEnds: ends})
	evs := eventsOf(t, def, l)
	for i := range evs {
		tables.Enrich(&evs[i])
	}
	nf := len(def.Features)
	ref := make([]float64, len(evs)*nf)
	NewAggregator(def).BeforeEach(evs, ref)
	k := 0
	for _, row := range rows {
		if _, ok := row["risk_1h"]; !ok {
			continue // a malformed event
		}
		checkRow(t, def, row, ref[k*nf:(k+1)*nf], fmt.Sprintf("event %d", k))
		k++
	}
	if k != len(evs) {
		t.Fatalf("%d joined rows, %d events", k, len(evs))
	}
}

// Enrich takes the version in force at the event's time: the latest at or
// before it, nothing before the first or after a deletion, the last in log
// order among equal times.
func TestTablesEnrichByVersion(t *testing.T) {
	def, err := Parse("cards.yaml", []byte(tableDefYAML))
	if err != nil {
		t.Fatal(err)
	}
	l := openDisk(t, t.TempDir())
	defer l.Close()
	ctx := context.Background()
	if err := l.CreateTopic(ctx, "merchants", log.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	at := func(ms int64) time.Time { return time.UnixMilli(ms) }
	recs := []log.Record{
		{Key: []byte("m1"), Time: at(2000), Value: []byte(`{"category":"travel","risk":2}`)},
		{Key: []byte("m1"), Time: at(1000), Value: []byte(`{"category":"grocery","risk":1}`)}, // late: an earlier version
		{Key: []byte("m1"), Time: at(2000), Value: []byte(`{"category":"travel","risk":3}`)},  // same time, later in the log
		{Key: []byte("m1"), Time: at(3000)},                                                   // deleted
		{Key: []byte("m1"), Time: at(4000), Value: []byte(`{"risk":4}`)},                      // back, no category
	}
	if err := l.Append(ctx, "merchants", recs); err != nil {
		t.Fatal(err)
	}
	tables := NewTables(def)
	if err := tables.CatchUp(ctx, l, nil); err != nil {
		t.Fatal(err)
	}
	mi, _ := def.StrIndex("merchant")
	ci, _ := def.StrIndex("m_category")
	ri, _ := def.NumIndex("m_risk")
	for _, c := range []struct {
		time int64
		cat  string
		risk float64 // -1: NaN
	}{{999, "", -1}, {1000, "grocery", 1}, {1999, "grocery", 1}, {2000, "travel", 3}, {2999, "travel", 3}, {3000, "", -1}, {4500, "", 4}} {
		ev := def.NewEvent()
		ev.Str[mi], ev.Time = "m1", c.time
		tables.Enrich(&ev)
		got := ev.Num[ri]
		if ev.Str[ci] != c.cat || (c.risk < 0) != (got != got) || (c.risk >= 0 && got != c.risk) {
			t.Errorf("at %d: category %q risk %v; want %q %v", c.time, ev.Str[ci], got, c.cat, c.risk)
		}
	}
}
