package stream

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

// online runs events through Apply, as a processor would, and returns the
// values after each event at the key's stream time, checking them against
// the naive reference. Every seventh event the key's state goes through
// its encoding and on from the decoded copy, as after a restart.
func online(t *testing.T, agg *Aggregator, evs []Event) (values [][]float64, times []int64) {
	t.Helper()
	def := agg.Definition()
	states := map[string]*State{}
	naive := map[string]*naiveKey{}
	values = make([][]float64, len(evs))
	times = make([]int64, len(evs))
	var buf []byte
	for i, ev := range cloneEvents(evs) {
		s, nk := states[ev.Key], naive[ev.Key]
		if s == nil {
			s, nk = agg.NewState(), &naiveKey{def: def}
			states[ev.Key], naive[ev.Key] = s, nk
		}
		want := nk.apply(evs[i])
		if got := agg.Apply(s, &ev); got != want {
			t.Fatalf("event %d (%s at %d): Apply says %d, the reference %d", i, ev.Key, ev.Time, got, want)
		}
		if i%7 == 0 {
			buf = agg.AppendState(buf[:0], s)
			d, err := agg.DecodeState(buf)
			if err != nil {
				t.Fatalf("event %d: decoding the state: %v", i, err)
			}
			if !reflect.DeepEqual(d, s) && !sameState(d, s) {
				t.Fatalf("event %d: the decoded state differs from the encoded one", i)
			}
			states[ev.Key], s = d, d
		}
		times[i], _ = s.Time()
		values[i] = make([]float64, len(def.Features))
		agg.Value(s, times[i], values[i])
		for j, f := range def.Features {
			if want := nk.value(f, times[i]); !sameBits(values[i][j], want) {
				t.Fatalf("event %d (%s at %d, stream time %d): %s = %v, the reference says %v",
					i, ev.Key, ev.Time, times[i], f.Name, values[i][j], want)
			}
		}
	}
	return values, times
}

// sameState compares states bit for bit (DeepEqual fails on NaN cells).
func sameState(a, b *State) bool {
	if a.time != b.time || a.applied != b.applied || a.late != b.late || a.dropped != b.dropped ||
		len(a.cells) != len(b.cells) || !reflect.DeepEqual(a.regs, b.regs) {
		return false
	}
	for i := range a.cells {
		if !sameBits(a.cells[i], b.cells[i]) {
			return false
		}
	}
	return true
}

// TestOnlineMatchesReferenceAndAsOf: for seeded streams with late and
// out-of-order events, every value after every event equals the naive
// reference bit for bit, and equals the as-of value at its stream time
// whenever the key's next event moves the stream time on; as-of values at
// other times equal the reference replayed to the same point.
func TestOnlineMatchesReferenceAndAsOf(t *testing.T) {
	def := testDefinition(t)
	agg := NewAggregator(def)
	for _, tc := range []struct {
		name       string
		seed       uint64
		events     int
		keys       int
		wantLate   bool
		wantDroped bool
	}{
		{"one key", 1, 600, 1, true, true},
		{"three keys", 2, 1200, 3, true, true},
		{"many keys, sparse", 3, 800, 40, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs := genEvents(def, tc.seed, tc.events, tc.keys)
			values, times := online(t, agg, evs)

			// Labels at the stream time each event leaves, where the next
			// event of the key moves it on.
			var labels []Label
			var want [][]float64
			for i, ev := range evs {
				next := -1
				for j := i + 1; j < len(evs); j++ {
					if evs[j].Key == ev.Key && evs[j].Time > times[i] {
						next = j
						break
					}
					if evs[j].Key == ev.Key && evs[j].Time >= times[i]-def.Lateness {
						break // an event the as-of value would include
					}
				}
				if next >= 0 || i == lastOfKey(evs, ev.Key) {
					labels = append(labels, Label{Key: ev.Key, Time: times[i]})
					want = append(want, values[i])
				}
			}
			// Labels at random times, answered by replaying the reference,
			// and labels of a key that has no events.
			rng := rand.New(rand.NewPCG(tc.seed, 99))
			for range 150 {
				ev := evs[rng.IntN(len(evs))]
				l := Label{Key: ev.Key, Time: ev.Time + rng.Int64N(40_000) - 20_000}
				if rng.IntN(10) == 0 { // an hour before or after: often before every event, or after all
					l.Time = ev.Time + (2*rng.Int64N(2)-1)*3_600_000
				}
				labels = append(labels, l)
				want = append(want, referenceAsOf(def, evs, l))
			}
			labels = append(labels, Label{Key: "no events", Time: evs[0].Time})
			want = append(want, referenceAsOf(def, evs, labels[len(labels)-1]))
			checkAsOf(t, agg, evs, labels, want)
			if tc.wantLate || tc.wantDroped {
				late, dropped := countOutcomes(agg, evs)
				if tc.wantLate && late == 0 || tc.wantDroped && dropped == 0 {
					t.Fatalf("the stream has %d late and %d dropped events; the test needs both", late, dropped)
				}
			}
		})
	}
}

func lastOfKey(evs []Event, key string) int {
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Key == key {
			return i
		}
	}
	return -1
}

func countOutcomes(agg *Aggregator, evs []Event) (late, dropped int) {
	states := map[string]*State{}
	for _, ev := range cloneEvents(evs) {
		if states[ev.Key] == nil {
			states[ev.Key] = agg.NewState()
		}
		switch agg.Apply(states[ev.Key], &ev) {
		case Late:
			late++
		case Dropped:
			dropped++
		}
	}
	return late, dropped
}

// referenceAsOf replays the reference over the label's key until an event
// would move the stream time past the label's time.
func referenceAsOf(def *Definition, evs []Event, l Label) []float64 {
	nk := &naiveKey{def: def}
	for _, ev := range evs {
		if ev.Key != l.Key {
			continue
		}
		if ev.Time > l.Time && (!nk.started || ev.Time > nk.time) {
			break
		}
		nk.apply(ev)
	}
	out := make([]float64, len(def.Features))
	for j, f := range def.Features {
		out[j] = nk.value(f, l.Time)
	}
	return out
}

func checkAsOf(t *testing.T, agg *Aggregator, evs []Event, labels []Label, want [][]float64) {
	t.Helper()
	def := agg.Definition()
	nf := len(def.Features)
	out := make([]float64, len(labels)*nf)
	if err := agg.AsOf(cloneEvents(evs), labels, out); err != nil {
		t.Fatal(err)
	}
	for i, l := range labels {
		for j, f := range def.Features {
			if got := out[i*nf+j]; !sameBits(got, want[i][j]) {
				t.Fatalf("label %d (%s as of %d): %s = %v, want %v", i, l.Key, l.Time, f.Name, got, want[i][j])
			}
		}
	}
}

// TestDistinctCountWithinError: distinct_count's estimate stays within four
// standard errors (1.04/√m) of the exact count, for the generated streams
// and for large cardinalities at every precision.
func TestDistinctCountWithinError(t *testing.T) {
	def := testDefinition(t)
	evs := genEvents(def, 5, 800, 2)
	nk := map[string]*naiveKey{}
	for _, ev := range evs {
		if nk[ev.Key] == nil {
			nk[ev.Key] = &naiveKey{def: def}
		}
		k := nk[ev.Key]
		k.apply(ev)
		for _, f := range def.Features {
			if f.Aggregate != DistinctCount {
				continue
			}
			var all []Event
			for _, g := range k.window(f, k.time) {
				all = append(all, g...)
			}
			checkHLL(t, f.Precision, k.value(f, k.time), exactDistinct(def, f, all))
		}
	}
	for _, tc := range []struct {
		p uint8
		n int
	}{{4, 1000}, {8, 100}, {8, 50_000}, {10, 2000}, {10, 200_000}, {14, 1_000_000}, {16, 30_000}} {
		regs := make([]uint8, 1<<tc.p)
		for i := range tc.n {
			hllAdd(regs, tc.p, hashString("item-"+itoa(i)))
		}
		sum, zeros := 0.0, 0
		for _, r := range regs {
			sum += pow2neg[r]
			if r == 0 {
				zeros++
			}
		}
		checkHLL(t, tc.p, hllEstimate(sum, zeros, len(regs)), tc.n)
	}
}

func checkHLL(t *testing.T, p uint8, got float64, exact int) {
	t.Helper()
	bound := 4 * 1.04 / math.Sqrt(float64(int(1)<<p)) * float64(exact)
	if math.Abs(got-float64(exact)) > max(bound, 1) {
		t.Fatalf("precision %d: distinct_count estimates %.1f for %d distinct values; the error bound is %.1f", p, got, exact, bound)
	}
}

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	for {
		n--
		b[n] = byte('0' + i%10)
		if i /= 10; i == 0 {
			return string(b[n:])
		}
	}
}
