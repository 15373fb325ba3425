package stream

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

const benchDefinition = `name: bench
source:
  topic: tx
  key: card
  time: at
  fields: {card: string, at: timestamp, amount: number, merchant: string}
lateness: 1m
features:
  - {name: tx_1h, aggregate: count, window: {sliding: 1h, resolution: 1m}}
  - {name: spend_1h, aggregate: sum, field: amount, window: {sliding: 1h, resolution: 1m}}
  - {name: basket_7d, aggregate: mean, field: amount, window: {sliding: 7d, resolution: 1h}}
  - {name: max_1d, aggregate: max, field: amount, window: {sliding: 1d, resolution: 1h}}
  - {name: last_amount_1d, aggregate: last, field: amount, window: {sliding: 1d, resolution: 1h}}
`

// BenchmarkApply measures events per second on one core for five
// aggregates over sliding windows, over 10,000 keys with 5% of events out
// of order: Apply alone (what a processor does per event), and Apply then
// Value (when it also emits the key's values after every event). The
// second definition swaps max for a 30-day distinct_count, whose Value
// merges 31 buckets of 1024 registers.
func BenchmarkApply(b *testing.B) {
	for _, tc := range []struct{ name, src string }{
		{"count,sum,mean,max,last", benchDefinition},
		{"count,sum,mean,distinct_count,last", strings.Replace(benchDefinition,
			"{name: max_1d, aggregate: max, field: amount, window: {sliding: 1d, resolution: 1h}}",
			"{name: merchants_30d, aggregate: distinct_count, field: merchant, window: {sliding: 30d, resolution: 1d}}", 1)},
	} {
		def, err := Parse("bench.yaml", []byte(tc.src))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) { benchApply(b, def) })
	}
}

func benchApply(b *testing.B, def *Definition) {
	agg := NewAggregator(def)
	const keys, n = 10_000, 1 << 16
	rng := rand.New(rand.NewPCG(1, 2))
	evs := make([]Event, n)
	key := make([]int, n)
	at := make([]int64, n)
	ia, _ := def.NumIndex("amount")
	im, _ := def.StrIndex("merchant")
	merchants := make([]string, 5000)
	for i := range merchants {
		merchants[i] = fmt.Sprintf("merchant-%d", i)
	}
	t := int64(1_700_000_000_000)
	for i := range evs {
		t += rng.Int64N(200) // 10,000 keys, about one event per key every 17 minutes
		evs[i] = def.NewEvent()
		key[i], at[i] = rng.IntN(keys), t
		if rng.IntN(20) == 0 {
			at[i] -= rng.Int64N(120_000)
		}
		evs[i].Num[ia] = float64(rng.IntN(20_000)) / 100
		evs[i].Str[im] = merchants[rng.IntN(len(merchants))]
	}
	span := t - at[0] + 1
	for _, withValue := range []bool{false, true} {
		name := "apply"
		if withValue {
			name = "apply+value"
		}
		b.Run(name, func(b *testing.B) {
			states := make([]*State, keys)
			for i := range states {
				states[i] = agg.NewState()
				clear(states[i].regs) // touch the pages now, not in the timed loop
				clear(states[i].cells)
			}
			out := make([]float64, len(def.Features))
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				j := i % n
				ev := &evs[j]
				ev.Time = at[j] + int64(i/n)*span
				s := states[key[j]]
				agg.Apply(s, ev)
				if withValue {
					tm, _ := s.Time()
					agg.Value(s, tm, out)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
