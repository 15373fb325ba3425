package stream

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/log"
)

// joined runs the point-in-time join of every partition of a label topic
// through cluster.EachValue, as loads and scans read it, and decodes each
// value it hands on.
func joined(t *testing.T, l log.Log, labels string, arg JoinArg) []map[string]any {
	t.Helper()
	ctx := context.Background()
	sources, err := cluster.PlanLog(ctx, l, labels, cluster.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, s := range sources {
		ev, err := l.Offsets(ctx, "tx", s.LogPartition)
		if err != nil {
			t.Fatal(err)
		}
		a := arg
		a.EventFrom, a.EventTo, a.Partitions = ev.Earliest, ev.Latest, len(sources)
		if a.OnEvents {
			a.EventFrom, a.EventTo = s.From, s.To
		}
		js, err := JoinSource(s, a)
		if err != nil {
			t.Fatal(err)
		}
		err = cluster.EachValue(ctx, l, js, func(v []byte, where func() string) error {
			var m map[string]any
			if err := json.Unmarshal(v, &m); err != nil {
				return fmt.Errorf("%s: %q: %v", where(), v, err)
			}
			out = append(out, m)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// eventsOf decodes every record of the source topic, partition after
// partition: each key's events in its log order.
func eventsOf(t *testing.T, def *Definition, l log.Log) []Event {
	t.Helper()
	dec := NewRecordDecoder(def)
	var evs []Event
	for _, recs := range readAll(t, l, "tx") {
		for i := range recs {
			ev := def.NewEvent()
			if dec.Decode(&recs[i], &ev) == nil {
				evs = append(evs, ev)
			}
		}
	}
	return evs
}

// checkRow compares a joined row's features with reference values, bit
// for bit (JSON's shortest form of a float64 reads back exactly; null is
// NaN).
func checkRow(t *testing.T, def *Definition, row map[string]any, want []float64, what string) {
	t.Helper()
	for f, name := range def.FeatureNames() {
		got := math.NaN()
		if v, ok := row[name]; !ok {
			t.Fatalf("%s: no feature %s in %v", what, name, row)
		} else if v != nil {
			got = v.(float64)
		}
		if math.Float64bits(got) != math.Float64bits(want[f]) && !(math.IsNaN(got) && math.IsNaN(want[f])) {
			t.Fatalf("%s: %s = %v, as of the label %v", what, name, got, want[f])
		}
	}
}

// A label topic keyed by card: every label record comes back with the
// features as of its time, equal bit for bit to AsOf over the whole log,
// its own fields kept.
func TestJoinLabelTopic(t *testing.T) {
	def := procDef(t)
	l := openDisk(t, t.TempDir())
	defer l.Close()
	ctx := context.Background()
	for _, topic := range []string{"tx", "labels"} {
		if err := l.CreateTopic(ctx, topic, log.TopicConfig{Partitions: 3}); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	appendEvents(t, l, makeEvents(5, 3000, 40, base))
	r := rand.New(rand.NewPCG(7, 8))
	var recs []log.Record
	var want []Label
	for i := 0; i < 600; i++ {
		card := fmt.Sprintf("c%d", r.IntN(45)) // some cards have no events
		at := base.Add(time.Duration(r.IntN(3000*7)) * time.Second)
		recs = append(recs, log.Record{Key: []byte(card), Value: []byte(fmt.Sprintf(`{"card":%q,"when":%.3f,"fraud":%d}`,
			card, float64(at.UnixMilli())/1000, r.IntN(2)))})
		want = append(want, Label{Key: card, Time: at.UnixMilli()})
	}
	if err := l.Append(ctx, "labels", recs); err != nil {
		t.Fatal(err)
	}
	rows := joined(t, l, "labels", JoinArg{Definition: procDefYAML, File: "cards.yaml", Key: "card", Time: "when"})
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	// The rows come partition by partition; find each label's reference by
	// its key and time.
	ref := make([]float64, len(want)*len(def.Features))
	if err := NewAggregator(def).AsOf(eventsOf(t, def, l), want, ref); err != nil {
		t.Fatal(err)
	}
	byLabel := map[string][]float64{}
	nf := len(def.Features)
	for i, lb := range want {
		byLabel[fmt.Sprintf("%s@%d", lb.Key, lb.Time)] = ref[i*nf : (i+1)*nf]
	}
	for _, row := range rows {
		k := fmt.Sprintf("%s@%d", row["card"], int64(math.Round(row["when"].(float64)*1000)))
		w, ok := byLabel[k]
		if !ok || row["fraud"] == nil {
			t.Fatalf("row %v is no label record", row)
		}
		checkRow(t, def, row, w, k)
	}
}

// Labels on the events themselves: each event is answered with its key's
// values just before it is applied, so a count never includes the event
// being labelled — bit for bit a naive replay that reads every key's
// values before each of its events.
func TestJoinOnEvents(t *testing.T) {
	def := procDef(t)
	l := openDisk(t, t.TempDir())
	defer l.Close()
	if err := l.CreateTopic(context.Background(), "tx", log.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	appendEvents(t, l, makeEvents(9, 1500, 20, base))
	rows := joined(t, l, "tx", JoinArg{Definition: procDefYAML, File: "cards.yaml", OnEvents: true})
	evs := eventsOf(t, def, l)
	nf := len(def.Features)
	ref := make([]float64, len(evs)*nf)
	agg := NewAggregator(def)
	states := map[string]*State{}
	for i := range evs {
		st := states[evs[i].Key]
		if st == nil {
			st = agg.NewState()
			states[evs[i].Key] = st
		}
		agg.Value(st, evs[i].Time, ref[i*nf:(i+1)*nf])
		agg.Apply(st, &evs[i])
	}
	k := 0
	seen := map[string]bool{}
	for _, row := range rows {
		if _, ok := row["tx_10m"]; !ok {
			continue // a malformed event, handed on unchanged
		}
		checkRow(t, def, row, ref[k*nf:(k+1)*nf], fmt.Sprintf("event %d", k))
		if card := row["card"].(string); !seen[card] && row["tx_10m"].(float64) != 0 {
			t.Fatalf("the first event of %s counts %v events", card, row["tx_10m"])
		}
		seen[row["card"].(string)] = true
		k++
	}
	if k != len(evs) {
		t.Fatalf("%d rows with features, %d events", k, len(evs))
	}
}

// A job reading its events from an offset on (source.from) gets each
// event's values with every earlier event of the partition applied: the
// join streams the events before the range through the state without
// handing them on.
func TestJoinOnEventsFromAnOffset(t *testing.T) {
	def := procDef(t)
	l := openDisk(t, t.TempDir())
	defer l.Close()
	ctx := context.Background()
	if err := l.CreateTopic(ctx, "tx", log.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, l, makeEvents(11, 1200, 15, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)))
	nf := len(def.Features)
	for p, recs := range readAll(t, l, "tx") {
		from := recs[len(recs)/2].Offset
		s := cluster.Source{Kind: "log", Topic: "tx", LogPartition: p, From: from, To: recs[len(recs)-1].Offset + 1}
		js, err := JoinSource(s, JoinArg{Definition: procDefYAML, File: "cards.yaml", OnEvents: true,
			EventFrom: recs[0].Offset, EventTo: s.To, Partitions: 2})
		if err != nil {
			t.Fatal(err)
		}
		// The reference: every event of the partition, each answered
		// before it is applied; those at from and after are handed on.
		dec := NewRecordDecoder(def)
		var evs []Event
		var offs []int64
		for i := range recs {
			ev := def.NewEvent()
			if dec.Decode(&recs[i], &ev) == nil {
				evs, offs = append(evs, ev), append(offs, recs[i].Offset)
			}
		}
		ref := make([]float64, len(evs)*nf)
		NewAggregator(def).BeforeEach(evs, ref)
		k := sort.Search(len(offs), func(i int) bool { return offs[i] >= from })
		handed := 0
		err = cluster.EachValue(ctx, l, js, func(v []byte, where func() string) error {
			handed++
			var row map[string]any
			if err := json.Unmarshal(v, &row); err != nil {
				return fmt.Errorf("%s: %v", where(), err)
			}
			if _, ok := row["tx_10m"]; !ok {
				return nil // a malformed event, handed on unchanged
			}
			checkRow(t, def, row, ref[k*nf:(k+1)*nf], fmt.Sprintf("partition %d event at %s", p, where()))
			k++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := int(s.To - from); handed != want {
			t.Fatalf("partition %d: %d records handed on from offset %d, want %d", p, handed, from, want)
		}
		if k != len(evs) {
			t.Fatalf("partition %d: answered up to event %d of %d", p, k, len(evs))
		}
	}
}

// A label in the wrong partition cannot see its key's events: an error
// naming the record and what to do, not silently empty windows.
func TestJoinLabelInWrongPartition(t *testing.T) {
	l := openDisk(t, t.TempDir())
	defer l.Close()
	ctx := context.Background()
	for _, topic := range []string{"tx", "labels"} {
		if err := l.CreateTopic(ctx, topic, log.TopicConfig{Partitions: 3}); err != nil {
			t.Fatal(err)
		}
	}
	// The record holds card c1 but is keyed by a key of another partition.
	right := log.Partition([]byte("c1"), 3)
	other := "k0"
	for i := 0; log.Partition([]byte(other), 3) == right; i++ {
		other = fmt.Sprintf("k%d", i)
	}
	wrong := log.Partition([]byte(other), 3)
	if err := l.Append(ctx, "labels", []log.Record{{Key: []byte(other), Value: []byte(`{"card":"c1","when":1}`)}}); err != nil {
		t.Fatal(err)
	}
	sources, err := cluster.PlanLog(ctx, l, "labels", cluster.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	js, err := JoinSource(sources[wrong], JoinArg{Definition: procDefYAML, File: "cards.yaml", Key: "card", Time: "when", Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	err = cluster.EachValue(ctx, l, js, func([]byte, func() string) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "must be keyed by the entity key (flint ingest --key card)") {
		t.Fatalf("err = %v", err)
	}
}

func TestAppendFeatures(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"a":1}`, `{"a":1,"x":1.5,"y":null}`},
		{` { } `, `{ "x":1.5,"y":null}`},
		{`[1]`, `[1]`},
		{`{"a":"}"}` + "\n", `{"a":"}","x":1.5,"y":null}`},
	} {
		got := string(appendFeatures(nil, []byte(c.in), []string{"x", "y"}, []float64{1.5, math.NaN()}))
		if got != c.want {
			t.Errorf("%q: got %s, want %s", c.in, got, c.want)
		}
	}
}
