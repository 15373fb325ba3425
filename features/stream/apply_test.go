package stream

import (
	"math"
	"testing"
)

const smallDefinition = `name: small
source: {topic: t, key: k, fields: {k: string, v: number, s: string}}
lateness: 5s
features:
  - {name: n, aggregate: count, window: {sliding: 60s, resolution: 10s}}
  - {name: sum, aggregate: sum, field: v, window: {sliding: 60s, resolution: 10s}}
  - {name: mean, aggregate: mean, field: v, window: {sliding: 60s, resolution: 10s}}
  - {name: min, aggregate: min, field: v, window: {sliding: 60s, resolution: 10s}}
  - {name: max, aggregate: max, field: v, window: {sliding: 60s, resolution: 10s}}
  - {name: var, aggregate: variance, field: v, window: {sliding: 60s, resolution: 10s}}
  - {name: last, aggregate: last, field: v, window: {sliding: 60s, resolution: 10s}}
  - {name: first, aggregate: first, field: v, window: {sliding: 60s, resolution: 10s}}
  - {name: distinct, aggregate: distinct_count, field: s, window: {sliding: 60s, resolution: 10s}}
  - {name: since, aggregate: time_since_last, window: {sliding: 60s, resolution: 10s}}
`

func smallAggregator(t *testing.T) *Aggregator {
	t.Helper()
	def, err := Parse("small.yaml", []byte(smallDefinition))
	if err != nil {
		t.Fatal(err)
	}
	return NewAggregator(def)
}

// TestApplyOutcomes: which events are applied, late or dropped, and the
// counters and values that follow, for a lateness of 5s.
func TestApplyOutcomes(t *testing.T) {
	agg := smallAggregator(t)
	s := agg.NewState()
	ev := agg.Definition().NewEvent()
	for i, step := range []struct {
		time int64
		v    float64
		want Outcome
	}{
		{10_000, 1, Applied},
		{8_000, 2, Late},          // 2s before the stream time
		{4_000, 3, Dropped},       // 6s before
		{5_000, 4, Late},          // exactly the lateness before: still in
		{20_000, 5, Applied},      // moves the stream time on
		{20_000, 6, Applied},      // at the stream time is not late
		{MaxTime + 1, 7, Dropped}, // out of range
		{-MaxTime - 1, 8, Dropped},
		{14_999, math.NaN(), Dropped}, // 5.001s late
		{15_000, math.NaN(), Late},    // a NaN value: counted, not aggregated
	} {
		ev.Time, ev.Num[0] = step.time, step.v
		if got := agg.Apply(s, &ev); got != step.want {
			t.Fatalf("step %d (time %d): Apply says %d, want %d", i, step.time, got, step.want)
		}
	}
	applied, late, dropped := s.Counts()
	if applied != 6 || late != 3 || dropped != 4 {
		t.Fatalf("counts: %d applied, %d late, %d dropped; want 6, 3, 4", applied, late, dropped)
	}
	got := make([]float64, 10)
	agg.Value(s, 20_000, got)
	mean := (1 + 2 + 4 + 5 + 6) / 5.0
	variance := ((1-mean)*(1-mean) + (2-mean)*(2-mean) + (4-mean)*(4-mean) + (5-mean)*(5-mean) + (6-mean)*(6-mean)) / 5
	want := []float64{6, 18, mean, 1, 6, variance, 6, 4, 1, 0}
	for i, name := range agg.Definition().FeatureNames() {
		if name == "var" && math.Abs(got[i]-want[i]) < 1e-12 {
			continue
		}
		if !sameBits(got[i], want[i]) {
			t.Errorf("%s = %v, want %v", name, got[i], want[i])
		}
	}
}

// TestValueEmptyAndEarly: an empty window's values; a time before the
// stream time is read as the stream time; far later, every window empties.
func TestValueEmptyAndEarly(t *testing.T) {
	agg := smallAggregator(t)
	nan := math.NaN()
	empty := []float64{0, 0, nan, nan, nan, nan, nan, nan, 0, nan}
	s := agg.NewState()
	ev := agg.Definition().NewEvent()
	ev.Time, ev.Num[0], ev.Str[1] = 100_000, 3, "a"
	agg.Apply(s, &ev)
	for _, tc := range []struct {
		name  string
		state *State
		at    int64
		want  []float64
	}{
		{"new state", agg.NewState(), 0, empty},
		{"at the event", s, 100_000, []float64{1, 3, 3, 3, 3, 0, 3, 3, 1, 0}},
		{"before the stream time", s, -5, []float64{1, 3, 3, 3, 3, 0, 3, 3, 1, 0}},
		{"in the window's last bucket", s, 169_999, []float64{1, 3, 3, 3, 3, 0, 3, 3, 1, 69.999}},
		{"past the window", s, 170_000, empty},
		{"far past", s, MaxTime + 10, empty},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make([]float64, len(tc.want))
			agg.Value(tc.state, tc.at, got)
			for i, name := range agg.Definition().FeatureNames() {
				if !sameBits(got[i], tc.want[i]) && !(math.IsNaN(got[i]) && math.IsNaN(tc.want[i])) {
					t.Errorf("%s = %v, want %v", name, got[i], tc.want[i])
				}
			}
		})
	}
}

// TestApplyShortEvent: an event without the slots the definition needs is
// a programming error, and the panic says which lengths were wanted.
func TestApplyShortEvent(t *testing.T) {
	agg := smallAggregator(t)
	defer func() {
		want := `stream: an event has 0 number and 0 string slots; definition "small" needs 1 and 2`
		if r := recover(); r != want {
			t.Fatalf("panic %v, want %q", r, want)
		}
	}()
	agg.Apply(agg.NewState(), &Event{})
}
