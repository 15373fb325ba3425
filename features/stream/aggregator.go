package stream

import (
	"fmt"
	"hash/fnv"
)

// Event is one event of a stream, decoded. Num holds the schema's number
// and timestamp fields in schema order, then one slot per derived field
// (Apply writes them); Str holds the string fields in schema order. Use
// Definition.NumIndex and StrIndex to find a field, and NewEvent to make
// slices of the right lengths.
type Event struct {
	Key  string // the entity the event belongs to; AsOf groups by it
	Time int64  // event time, milliseconds since the Unix epoch
	Num  []float64
	Str  []string
}

// MaxTime bounds event times: |Time| ≤ MaxTime (about 285,000 years from
// 1970), so every time is exact as a float64. Apply drops events outside.
const MaxTime = 1 << 53

// Outcome is what Apply did with an event.
type Outcome uint8

// The outcomes of Apply.
const (
	Applied Outcome = iota + 1 // at or after the stream time
	Late                       // before the stream time but within the lateness: applied
	Dropped                    // later than the lateness allows, or its time is out of range
)

// Aggregator computes a definition's features. It holds no per-key data
// and is safe for concurrent use; each key's data is a State.
type Aggregator struct {
	def         *Definition
	derived     []cderived
	feats       []compiled
	nCells      int
	nRegs       int
	fingerprint uint64
}

// compiled is a feature laid out in a State: its ring of nb buckets of
// width float64 cells at cells[cell:] and m registers each at regs[reg:].
type compiled struct {
	agg   Aggregate
	kind  WindowKind
	step  int64
	span  int64 // window buckets: Size/Step (1 for tumbling)
	nb    int64 // ring buckets
	width int
	cell  int
	p     uint8
	m     int
	reg   int
	num   int // Event.Num slot of the field, -1 if none
	str   int // Event.Str slot of the field, -1 if none
	where []cfilter
}

type cfilter struct {
	num, str int // one is -1
	cmp      Cmp
	c        float64
	s        string
}

// cellWidth is how many float64 cells a bucket of each aggregate holds.
var cellWidth = [...]int{Count: 1, Sum: 1, Mean: 2, Min: 2, Max: 2, Variance: 3, Last: 3, First: 3,
	DistinctCount: 0, TimeSinceLast: 2}

// NewAggregator lays out a definition's features in a State.
func NewAggregator(def *Definition) *Aggregator {
	a := &Aggregator{def: def}
	for _, d := range def.Derived {
		cd := cderived{op: d.Op}
		for j, arg := range d.Args {
			cd.slot[j], _ = a.slotOf(arg.Field)
			cd.c[j] = arg.Const
		}
		a.derived = append(a.derived, cd)
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "flint stream state layout v%d", stateVersion)
	for _, f := range def.Features {
		c := compiled{agg: f.Aggregate, kind: f.Window.Kind, step: f.Window.Step, span: f.Window.Size / f.Window.Step,
			nb: int64(f.Window.buckets()), width: cellWidth[f.Aggregate], cell: a.nCells, p: f.Precision, reg: a.nRegs,
			num: -1, str: -1}
		if f.Aggregate == DistinctCount {
			c.m = 1 << f.Precision
		}
		c.num, c.str = a.slotOf(f.Field)
		for _, w := range f.Where {
			cf := cfilter{cmp: w.Cmp, c: w.Num, s: w.Str}
			cf.num, cf.str = a.slotOf(w.Field)
			c.where = append(c.where, cf)
		}
		a.nCells += int(c.nb) * c.width
		a.nRegs += int(c.nb) * c.m
		a.feats = append(a.feats, c)
		fmt.Fprintf(h, "|%d %d %d %d %d", c.agg, c.kind, c.step, c.nb, c.p)
	}
	a.fingerprint = h.Sum64()
	return a
}

func (a *Aggregator) slotOf(field string) (num, str int) {
	s, ok := a.def.slots[field]
	switch {
	case !ok:
		return -1, -1
	case s.str:
		return -1, s.i
	}
	return s.i, -1
}

// Definition returns the definition the aggregator computes.
func (a *Aggregator) Definition() *Definition { return a.def }

// NewState returns the state of a key that has seen no event.
func (a *Aggregator) NewState() *State {
	return &State{cells: make([]float64, a.nCells), regs: make([]uint8, a.nRegs)}
}

// floorDiv is ⌊t/d⌋ for d > 0, also for negative t.
func floorDiv(t, d int64) int64 {
	q := t / d
	if t%d < 0 {
		q--
	}
	return q
}

func mod(b, n int64) int64 {
	r := b % n
	if r < 0 {
		r += n
	}
	return r
}

// Apply adds an event to a key's state and says whether it was applied.
// It first writes the event's derived fields into ev.Num. ev.Num and ev.Str
// must have the lengths the definition's NumSlots and StrSlots say; Apply
// panics otherwise, as for any index out of range.
func (a *Aggregator) Apply(s *State, ev *Event) Outcome {
	def := a.def
	if len(ev.Num) < def.NumSlots() || len(ev.Str) < def.StrSlots() {
		panic(fmt.Sprintf("stream: an event has %d number and %d string slots; definition %q needs %d and %d",
			len(ev.Num), len(ev.Str), def.Name, def.NumSlots(), def.StrSlots()))
	}
	t := ev.Time
	if t > MaxTime || t < -MaxTime {
		s.dropped++
		return Dropped
	}
	out := Applied
	if s.applied > 0 && t < s.time {
		if t < s.time-def.Lateness {
			s.dropped++
			return Dropped
		}
		out = Late
		s.late++
	}
	for i := range a.derived {
		ev.Num[def.nNum+i] = a.derived[i].eval(ev.Num)
	}
	if s.applied == 0 {
		s.time = t
	} else if t > s.time {
		a.roll(s, t)
		s.time = t
	}
	s.applied++
	for i := range a.feats {
		f := &a.feats[i]
		if !f.pass(ev) {
			continue
		}
		b := floorDiv(t, f.step)
		if b <= floorDiv(s.time, f.step)-f.nb {
			continue // before every window the state can still answer
		}
		f.update(s, mod(b, f.nb), ev)
	}
	return out
}

// cderived is a derived field with its operands resolved: a slot of
// Event.Num, or -1 and a constant.
type cderived struct {
	op   Op
	slot [2]int
	c    [2]float64
}

func (d *cderived) eval(num []float64) float64 {
	x, y := d.c[0], d.c[1]
	if d.slot[0] >= 0 {
		x = num[d.slot[0]]
	}
	if d.slot[1] >= 0 {
		y = num[d.slot[1]]
	}
	switch d.op {
	case Add:
		return x + y
	case Sub:
		return x - y
	case Mul:
		return x * y
	}
	return x / y
}

// roll clears the buckets that the stream time's move to t brings in.
func (a *Aggregator) roll(s *State, t int64) {
	for i := range a.feats {
		f := &a.feats[i]
		old, head := floorDiv(s.time, f.step), floorDiv(t, f.step)
		n := head - old
		if n >= f.nb { // the whole ring
			clear(s.cells[f.cell : f.cell+int(f.nb)*f.width])
			clear(s.regs[f.reg : f.reg+int(f.nb)*f.m])
			continue
		}
		for b := head - n + 1; b <= head; b++ {
			k := mod(b, f.nb)
			clear(s.cells[f.cell+int(k)*f.width : f.cell+int(k+1)*f.width])
			clear(s.regs[f.reg+int(k)*f.m : f.reg+int(k+1)*f.m])
		}
	}
}

func (f *compiled) pass(ev *Event) bool {
	for i := range f.where {
		w := &f.where[i]
		if w.str >= 0 {
			if (ev.Str[w.str] == w.s) != (w.cmp == Eq) {
				return false
			}
			continue
		}
		x := ev.Num[w.num]
		var ok bool
		switch w.cmp {
		case Eq:
			ok = x == w.c
		case Ne:
			ok = x != w.c
		case Lt:
			ok = x < w.c
		case Le:
			ok = x <= w.c
		case Gt:
			ok = x > w.c
		case Ge:
			ok = x >= w.c
		}
		if !ok {
			return false
		}
	}
	return true
}

// update adds an event to bucket slot k of the feature.
func (f *compiled) update(s *State, k int64, ev *Event) {
	c := s.cells[f.cell+int(k)*f.width : f.cell+int(k+1)*f.width]
	t := float64(ev.Time)
	var x float64
	if f.num >= 0 {
		if x = ev.Num[f.num]; x != x {
			return // NaN is a missing value
		}
	}
	switch f.agg {
	case Count:
		c[0]++
	case Sum:
		c[0] += x
	case Mean:
		c[0]++
		c[1] += x
	case Min:
		if c[0] == 0 || x < c[1] {
			c[1] = x
		}
		c[0]++
	case Max:
		if c[0] == 0 || x > c[1] {
			c[1] = x
		}
		c[0]++
	case Variance: // Welford
		c[0]++
		d := x - c[1]
		c[1] += d / c[0]
		c[2] += d * (x - c[1])
	case Last:
		if c[0] == 0 || t >= c[1] {
			c[1], c[2] = t, x
		}
		c[0]++
	case First:
		if c[0] == 0 || t < c[1] {
			c[1], c[2] = t, x
		}
		c[0]++
	case TimeSinceLast:
		if c[0] == 0 || t > c[1] {
			c[1] = t
		}
		c[0]++
	case DistinctCount:
		var h uint64
		if f.str >= 0 {
			h = hashString(ev.Str[f.str])
		} else {
			h = hashFloat(x)
		}
		hllAdd(s.regs[f.reg+int(k)*f.m:f.reg+int(k+1)*f.m], f.p, h)
	}
}

// Value writes the features' values as of time at into out, one per
// feature in definition order; out must have room for them. A time before
// the state's stream time is taken as the stream time. An empty window's
// count, sum and distinct_count are 0 and its other aggregates NaN.
func (a *Aggregator) Value(s *State, at int64, out []float64) {
	at = min(max(at, -MaxTime), MaxTime)
	if s.applied > 0 && at < s.time {
		at = s.time
	}
	for i := range a.feats {
		f := &a.feats[i]
		bt := floorDiv(at, f.step)
		lo, hi := bt-f.span, bt
		switch f.kind {
		case Tumbling:
			lo = bt
		case Hopping:
			hi = bt - 1
		}
		n := int64(0)
		if s.applied > 0 {
			head := floorDiv(s.time, f.step)
			lo, hi = max(lo, head-f.nb+1), min(hi, head)
			n = max(hi-lo+1, 0)
		}
		out[i] = f.value(s, lo, n, at)
	}
}
