package stream

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// This file holds the generated streams and the naive reference: it keeps
// every accepted event and recomputes each value from the raw list, with
// no ring, no clearing and no encoding. Where the arithmetic is floating
// point it adds in the one order the package documents — events of a
// bucket in arrival order, buckets oldest first — so it must agree bit for
// bit.

const testLateness = 5000 // ms

// testDefinition has every aggregate over every window kind, with derived
// fields and filters.
func testDefinition(t testing.TB) *Definition {
	t.Helper()
	var b strings.Builder
	b.WriteString(`name: generated
source:
  topic: events
  key: k
  time: at
  fields: {k: string, at: timestamp, x: number, y: number, s: string}
lateness: 5s
derived:
  - {name: z, mul: [x, 2.5]}
  - {name: w, add: [z, y]}
features:
`)
	windows := []string{"{sliding: 60s, resolution: 10s}", "{tumbling: 30s}", "{hopping: 60s, every: 20s}"}
	for wi, w := range windows {
		for a := Count; a <= TimeSinceLast; a++ {
			fmt.Fprintf(&b, "  - name: %s_%d\n    aggregate: %s\n    window: %s\n", a, wi, a, w)
			switch {
			case a == DistinctCount && wi == 1:
				b.WriteString("    field: z\n    precision: 8\n")
			case a == DistinctCount:
				b.WriteString("    field: s\n")
			case a != Count && a != TimeSinceLast:
				fmt.Fprintf(&b, "    field: %s\n", []string{"x", "z", "w"}[(int(a)+wi)%3])
			}
			switch (int(a) + wi) % 4 {
			case 1:
				b.WriteString("    where: [{field: y, op: \">\", value: 0.3}]\n")
			case 2:
				b.WriteString("    where: [{field: s, op: \"!=\", value: s3}, {field: x, op: \"<=\", value: 40}]\n")
			}
		}
	}
	def, err := Parse("generated.yaml", []byte(b.String()))
	if err != nil {
		t.Fatalf("the generated definition does not parse: %v", err)
	}
	return def
}

// genEvents makes a seeded stream over keys, with out-of-order events
// (some within the lateness, some beyond), equal times, NaNs and a small
// vocabulary of strings.
func genEvents(def *Definition, seed uint64, n, keys int) []Event {
	rng := rand.New(rand.NewPCG(seed, 7))
	clock := make([]int64, keys)
	for i := range clock {
		clock[i] = 1_700_000_000_000 + rng.Int64N(60_000)
	}
	ix, _ := def.NumIndex("x")
	iy, _ := def.NumIndex("y")
	iat, _ := def.NumIndex("at")
	is, _ := def.StrIndex("s")
	ik, _ := def.StrIndex("k")
	evs := make([]Event, n)
	for i := range evs {
		k := rng.IntN(keys)
		ev := def.NewEvent()
		ev.Key = fmt.Sprintf("key%d", k)
		switch r := rng.Float64(); {
		case r < 0.2: // out of order, within or beyond the lateness
			ev.Time = clock[k] - rng.Int64N(2*testLateness)
		case r < 0.25: // the same time again
			ev.Time = clock[k]
		case r < 0.27: // a long gap: windows empty out
			clock[k] += 90_000 + rng.Int64N(60_000)
			ev.Time = clock[k]
		default:
			clock[k] += rng.Int64N(4000)
			ev.Time = clock[k]
		}
		ev.Num[ix] = math.Round(rng.NormFloat64()*2000) / 100
		if rng.IntN(50) == 0 {
			ev.Num[ix] = math.NaN()
		}
		ev.Num[iy] = rng.Float64()
		ev.Num[iat] = float64(ev.Time)
		ev.Str[is] = fmt.Sprintf("s%d", rng.IntN(25))
		ev.Str[ik] = ev.Key
		evs[i] = ev
	}
	return evs
}

// cloneEvents copies events, slices included, since Apply writes derived
// fields into them.
func cloneEvents(evs []Event) []Event {
	out := make([]Event, len(evs))
	for i, ev := range evs {
		out[i] = Event{Key: ev.Key, Time: ev.Time,
			Num: append([]float64(nil), ev.Num...), Str: append([]string(nil), ev.Str...)}
	}
	return out
}

// naiveKey is the reference's state of a key: every accepted event.
type naiveKey struct {
	def      *Definition
	accepted []Event
	time     int64
	started  bool
}

func (k *naiveKey) apply(ev Event) Outcome {
	if ev.Time > MaxTime || ev.Time < -MaxTime || k.started && ev.Time < k.time-k.def.Lateness {
		return Dropped
	}
	out := Applied
	if k.started && ev.Time < k.time {
		out = Late
	}
	ev = cloneEvents([]Event{ev})[0]
	for i, d := range k.def.Derived {
		var v [2]float64
		for j, a := range d.Args {
			v[j] = a.Const
			if a.Field != "" {
				v[j] = ev.Num[k.def.slots[a.Field].i]
			}
		}
		ev.Num[k.def.nNum+i] = map[Op]float64{Add: v[0] + v[1], Sub: v[0] - v[1], Mul: v[0] * v[1], Div: v[0] / v[1]}[d.Op]
	}
	k.accepted = append(k.accepted, ev)
	if !k.started || ev.Time > k.time {
		k.time, k.started = ev.Time, true
	}
	return out
}

func (k *naiveKey) passes(f Feature, ev Event) bool {
	for _, w := range f.Where {
		s := k.def.slots[w.Field]
		if s.str {
			if (ev.Str[s.i] == w.Str) != (w.Cmp == Eq) {
				return false
			}
			continue
		}
		x := ev.Num[s.i]
		ok := map[Cmp]bool{Eq: x == w.Num, Ne: x != w.Num, Lt: x < w.Num, Le: x <= w.Num, Gt: x > w.Num, Ge: x >= w.Num}[w.Cmp]
		if !ok {
			return false
		}
	}
	return true
}

// window returns the events of feature f's window at time T, grouped by
// bucket oldest first, each group in arrival order.
func (k *naiveKey) window(f Feature, T int64) [][]Event {
	w := f.Window
	bucket := func(t int64) int64 { return int64(math.Floor(float64(t) / float64(w.Step))) }
	B := bucket(T)
	lo, hi := B-w.Size/w.Step, B
	switch w.Kind {
	case Tumbling:
		lo = B
	case Hopping:
		hi = B - 1
	}
	var groups [][]Event
	for b := lo; b <= hi; b++ {
		var g []Event
		for _, ev := range k.accepted {
			if bucket(ev.Time) != b || !k.passes(f, ev) {
				continue
			}
			if f.Field != "" {
				if s := k.def.slots[f.Field]; !s.str && math.IsNaN(ev.Num[s.i]) {
					continue
				}
			}
			g = append(g, ev)
		}
		groups = append(groups, g)
	}
	return groups
}

// value is the reference value of feature f at time T.
func (k *naiveKey) value(f Feature, T int64) float64 {
	if k.started && T < k.time {
		T = k.time
	}
	groups := k.window(f, T)
	num := func(ev Event) float64 { return ev.Num[k.def.slots[f.Field].i] }
	var all []Event
	for _, g := range groups {
		all = append(all, g...)
	}
	switch f.Aggregate {
	case Count:
		return float64(len(all))
	case Sum, Mean:
		total := 0.0
		for _, g := range groups {
			part := 0.0
			for _, ev := range g {
				part += num(ev)
			}
			total += part
		}
		if f.Aggregate == Sum {
			return total
		}
		if len(all) == 0 {
			return math.NaN()
		}
		return total / float64(len(all))
	case DistinctCount:
		return naiveHLL(k.def, f, all)
	}
	if len(all) == 0 {
		return math.NaN()
	}
	switch f.Aggregate {
	case Min, Max:
		best := num(all[0])
		for _, ev := range all[1:] {
			if x := num(ev); f.Aggregate == Min && x < best || f.Aggregate == Max && x > best {
				best = x
			}
		}
		return best
	case Variance:
		return naiveVariance(groups, num)
	case Last, First, TimeSinceLast:
		best := all[0]
		for _, ev := range all[1:] {
			if f.Aggregate == First && ev.Time < best.Time || f.Aggregate != First && ev.Time >= best.Time {
				best = ev
			}
		}
		if f.Aggregate == TimeSinceLast {
			return float64(T-best.Time) / 1000
		}
		return num(best)
	}
	panic("unknown aggregate")
}

// naiveVariance: Welford within a bucket, Chan's combination across.
func naiveVariance(groups [][]Event, num func(Event) float64) float64 {
	var n, mean, m2 float64
	for _, g := range groups {
		var bn, bmean, bm2 float64
		for _, ev := range g {
			x := num(ev)
			bn++
			d := x - bmean
			bmean += d / bn
			bm2 += d * (x - bmean)
		}
		if bn == 0 {
			continue
		}
		if n == 0 {
			n, mean, m2 = bn, bmean, bm2
			continue
		}
		tot := n + bn
		d := bmean - mean
		mean += d * bn / tot
		m2 += bm2 + d*d*n*bn/tot
		n = tot
	}
	return m2 / n
}

func naiveHLL(def *Definition, f Feature, evs []Event) float64 {
	m := 1 << f.Precision
	regs := make([]uint8, m)
	s := def.slots[f.Field]
	for _, ev := range evs {
		if s.str {
			hllAdd(regs, f.Precision, hashString(ev.Str[s.i]))
		} else {
			hllAdd(regs, f.Precision, hashFloat(ev.Num[s.i]))
		}
	}
	sum, zeros := 0.0, 0
	for _, r := range regs {
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	return hllEstimate(sum, zeros, m)
}

// exactDistinct counts the distinct values of f's field in evs.
func exactDistinct(def *Definition, f Feature, evs []Event) int {
	seen := map[string]bool{}
	s := def.slots[f.Field]
	for _, ev := range evs {
		if s.str {
			seen[ev.Str[s.i]] = true
		} else {
			x := ev.Num[s.i]
			if x == 0 {
				x = 0
			}
			seen[fmt.Sprint(math.Float64bits(x))] = true
		}
	}
	return len(seen)
}

func sameBits(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }
