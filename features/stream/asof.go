package stream

import (
	"fmt"
	"slices"
)

// Label asks for a key's feature values as of a time (milliseconds since
// the Unix epoch): a training row's label time.
type Label struct {
	Key  string
	Time int64
}

// AsOf computes the features for every label from events in log order,
// by the code that computes them online: each key's events go through
// Apply, and a label at t is answered with Value(t) just before the first
// of its key's events that would move the key's stream time past t (or
// after the last). So the value as of t uses exactly the events a serving
// replica had applied when the key's stream time reached t, as it stood
// before any event after t arrived: no event after t, and no event at or
// before t that arrived after the stream time passed t.
//
// out receives len(labels) rows of len(Definition.Features) values, row i
// at out[i*nf:]. Apply writes derived fields into the events. Keys without
// labels are skipped; labels of keys without events get empty windows.
func (a *Aggregator) AsOf(events []Event, labels []Label, out []float64) error {
	nf := len(a.feats)
	if len(out) < len(labels)*nf {
		return fmt.Errorf("stream: AsOf needs %d output values for %d labels of %d features; out has %d",
			len(labels)*nf, len(labels), nf, len(out))
	}
	for i := range events {
		if ev := &events[i]; len(ev.Num) < a.def.NumSlots() || len(ev.Str) < a.def.StrSlots() {
			return fmt.Errorf("stream: event %d has %d number and %d string slots; definition %q needs %d and %d",
				i, len(ev.Num), len(ev.Str), a.def.Name, a.def.NumSlots(), a.def.StrSlots())
		}
	}
	r := a.newReplay(labels, out)
	for i := range events {
		r.add(&events[i])
	}
	r.finish()
	return nil
}

// replay is AsOf taking its events one at a time, in log order: the
// streaming join feeds it events as it reads them, so a partition's events
// need not be held.
type replay struct {
	a      *Aggregator
	labels []Label
	out    []float64
	keys   map[string]*replayKey
}

// newReplay prepares the labels' keys, each with its labels by time; out
// must hold len(labels) rows of the definition's features.
func (a *Aggregator) newReplay(labels []Label, out []float64) *replay {
	keys := map[string]*replayKey{}
	for i, l := range labels {
		k := keys[l.Key]
		if k == nil {
			k = &replayKey{state: a.NewState()}
			keys[l.Key] = k
		}
		k.labels = append(k.labels, i)
	}
	for _, k := range keys {
		slices.SortStableFunc(k.labels, func(x, y int) int {
			return cmpInt64(labels[x].Time, labels[y].Time)
		})
	}
	return &replay{a: a, labels: labels, out: out, keys: keys}
}

// add answers the labels of ev's key that ev would move past, then applies
// ev; events of keys without labels are skipped.
func (r *replay) add(ev *Event) {
	k := r.keys[ev.Key]
	if k == nil {
		return
	}
	if r.a.advances(k.state, ev.Time) {
		k.answer(r.a, r.labels, r.out, ev.Time)
	}
	r.a.Apply(k.state, ev)
}

// finish answers the labels after every key's last event.
func (r *replay) finish() {
	for _, k := range r.keys {
		k.answer(r.a, r.labels, r.out, MaxTime+1)
	}
}

// advances reports whether applying an event at t would move the stream
// time forward.
func (a *Aggregator) advances(s *State, t int64) bool {
	return t <= MaxTime && t >= -MaxTime && (s.applied == 0 || t > s.time)
}

func cmpInt64(x, y int64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// replayKey is one key's replay: its state and its labels by time, the
// first next of them not answered yet.
type replayKey struct {
	state  *State
	labels []int
	next   int
}

// answer writes the values of the key's labels before time until.
func (k *replayKey) answer(a *Aggregator, labels []Label, out []float64, until int64) {
	nf := len(a.feats)
	for ; k.next < len(k.labels); k.next++ {
		i := k.labels[k.next]
		if labels[i].Time >= until {
			return
		}
		a.Value(k.state, labels[i].Time, out[i*nf:(i+1)*nf])
	}
}

// BeforeEach writes, for every event in log order, its key's values at the
// event's time just before the event is applied (the values a server
// following the stream returns for a request at that time, before the
// event arrives), then applies it: out receives len(events) rows of
// len(Definition.Features) values. Apply writes derived fields into the
// events.
func (a *Aggregator) BeforeEach(events []Event, out []float64) {
	nf := len(a.feats)
	b := a.newBefore()
	for i := range events {
		b.step(&events[i], out[i*nf:(i+1)*nf])
	}
}

// before is BeforeEach taking its events one at a time, in log order.
type before struct {
	a      *Aggregator
	states map[string]*State
}

func (a *Aggregator) newBefore() *before { return &before{a: a, states: map[string]*State{}} }

// step writes ev's key's values at ev's time into out, then applies ev.
func (b *before) step(ev *Event, out []float64) {
	st := b.states[ev.Key]
	if st == nil {
		st = b.a.NewState()
		b.states[ev.Key] = st
	}
	b.a.Value(st, ev.Time, out)
	b.a.Apply(st, ev)
}
