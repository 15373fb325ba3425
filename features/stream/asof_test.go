package stream

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// cutOf is the log index of the first event of the label's key that moves
// the key's stream time past the label's time (len(evs) if none): as-of
// values use only events before it.
func cutOf(def *Definition, evs []Event, l Label) int {
	nk := &naiveKey{def: def}
	for i, ev := range evs {
		if ev.Key != l.Key {
			continue
		}
		if ev.Time > l.Time && (!nk.started || ev.Time > nk.time) {
			return i
		}
		nk.apply(ev)
	}
	return len(evs)
}

// TestAsOfNoLeakage: events planted in the log that a replica could not
// have seen at t never change the as-of value at t. Events of the key after
// t, planted (or changed) after the point where the key's stream time
// passes t, change nothing; nor do other keys' events, wherever and
// whenever. An event after t planted before that point ends the as-of
// prefix there: the value then uses only the events before it, never it.
func TestAsOfNoLeakage(t *testing.T) {
	def := testDefinition(t)
	agg := NewAggregator(def)
	evs := genEvents(def, 11, 700, 3)
	rng := rand.New(rand.NewPCG(11, 12))
	future := func(l Label, key string, after int64) Event {
		ev := evs[rng.IntN(len(evs))]
		ev = cloneEvents([]Event{ev})[0]
		ev.Key, ev.Time = key, after+1+rng.Int64N(100_000)
		ix, _ := def.NumIndex("x")
		ev.Num[ix] = rng.NormFloat64() * 1e6
		return ev
	}
	insert := func(log []Event, at int, ev Event) []Event {
		return slices.Insert(slices.Clone(log), at, ev)
	}
	for _, tc := range []struct {
		name      string
		plant     func(l Label, cut int) []Event
		unchanged bool // else: the value on the planted log equals the reference
	}{
		{"the key's future events after the cut", func(l Label, cut int) []Event {
			log := evs
			for range 5 {
				log = insert(log, cut+rng.IntN(len(log)-cut+1), future(l, l.Key, l.Time))
			}
			return log
		}, true},
		{"the key's events after the cut changed", func(l Label, cut int) []Event {
			log := cloneEvents(evs)
			iy, _ := def.NumIndex("y")
			for i := cut; i < len(log); i++ {
				log[i].Num[iy] = -log[i].Num[iy]
				log[i].Time += 1000
			}
			return log
		}, true},
		{"other keys' events anywhere", func(l Label, cut int) []Event {
			log := evs
			for range 20 {
				at := rng.IntN(len(log) + 1)
				log = insert(log, at, future(l, "other", l.Time-50_000))
			}
			return log
		}, true},
		{"the key's future event before the cut", func(l Label, cut int) []Event {
			return insert(evs, rng.IntN(cut+1), future(l, l.Key, l.Time))
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var labels []Label
			for range 25 {
				ev := evs[rng.IntN(len(evs))]
				labels = append(labels, Label{Key: ev.Key, Time: ev.Time + rng.Int64N(20_000) - 10_000})
			}
			nf := len(def.Features)
			base := make([]float64, len(labels)*nf)
			if err := agg.AsOf(cloneEvents(evs), labels, base); err != nil {
				t.Fatal(err)
			}
			for i, l := range labels {
				for j, want := range referenceAsOf(def, evs, l) {
					if !sameBits(base[i*nf+j], want) {
						t.Fatalf("label %d (%s as of %d): %s = %v, the reference says %v", i, l.Key, l.Time,
							def.Features[j].Name, base[i*nf+j], want)
					}
				}
			}
			for i, l := range labels {
				log := tc.plant(l, cutOf(def, evs, l))
				want := base[i*nf : (i+1)*nf]
				if !tc.unchanged {
					want = referenceAsOf(def, log, l)
				}
				checkAsOf(t, agg, log, []Label{l}, [][]float64{want})
			}
		})
	}
}

// TestAsOfErrors: AsOf says what is wrong with its arguments.
func TestAsOfErrors(t *testing.T) {
	def := testDefinition(t)
	agg := NewAggregator(def)
	for _, tc := range []struct {
		name   string
		events []Event
		out    int
		want   string
	}{
		{"short output", nil, 1, "stream: AsOf needs 60 output values for 2 labels of 30 features; out has 1"},
		{"short event", []Event{def.NewEvent(), {Num: make([]float64, 2)}}, 60,
			`stream: event 1 has 2 number and 0 string slots; definition "generated" needs 5 and 2`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := agg.AsOf(tc.events, []Label{{"a", 1}, {"b", 2}}, make([]float64, tc.out))
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got error %v, want %q", err, tc.want)
			}
		})
	}
}
