package stream

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/flintml/flint/log"
)

// batch is the work of one poll: the states it loaded, those it changed
// in the order first changed, and the feature-table records it makes.
type batch struct {
	states map[string]*batchState
	order  []string // the changed keys
	table  []log.Record
	last   map[int]log.Record // per source partition, its last record
	// arena holds the bytes of the batch's output records (keys, values,
	// headers), which refer into it: one allocation per batch, not four
	// per record.
	arena   []byte
	headers []log.Header
	// encoded is every changed state's encoding, made once for both the
	// changelog and the store.
	encoded []encodedState
}

// batchState is a key's state in a batch, whether the batch changed it,
// and (EmitLatest) the source position of its last event applied in the
// batch, whose table record is due unless already published.
type batchState struct {
	Stored
	dirty     bool
	emit      bool
	published bool
	last      SourcePos
}

// reset empties the batch for a poll of n records, keeping its memory
// (the log does not keep appended records' bytes once Append returns).
func (b *batch) reset(n, values int) {
	if b.states == nil {
		b.states, b.last = map[string]*batchState{}, map[int]log.Record{}
	}
	clear(b.states)
	clear(b.last)
	clear(b.table) // drop references into older arenas
	b.order, b.table, b.headers, b.encoded = b.order[:0], slices.Grow(b.table[:0], n), slices.Grow(b.headers[:0], n), b.encoded[:0]
	b.arena = slices.Grow(b.arena[:0], n*(24+tableValueSize(values)))
}

// bytes copies b into the batch's arena and returns the copy. The arena
// grows by a fresh block when full, so earlier copies stay valid.
func (b *batch) bytes(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if cap(b.arena)-len(b.arena) < n {
		b.arena = make([]byte, 0, max(2*cap(b.arena), n))
	}
	start := len(b.arena)
	for _, p := range parts {
		b.arena = append(b.arena, p...)
	}
	return b.arena[start:len(b.arena):len(b.arena)]
}

// header returns a one-element header slice of the source position,
// backed by the batch.
func (b *batch) header(p int, o int64) []log.Header {
	var buf [2 * binary.MaxVarintLen64]byte
	v := binary.AppendUvarint(binary.AppendUvarint(buf[:0], uint64(p)), uint64(o))
	if len(b.headers) == cap(b.headers) {
		b.headers = make([]log.Header, 0, max(2*cap(b.headers), 64))
	}
	b.headers = append(b.headers, log.Header{Key: SourceHeader, Value: b.bytes(v)})
	return b.headers[len(b.headers)-1 : len(b.headers) : len(b.headers)]
}

// load returns a key's state for the batch: changed already in it, stored,
// or new (Offset −1).
func (p *Processor) load(b *batch, key string) (*batchState, error) {
	if st := b.states[key]; st != nil {
		return st, nil
	}
	if st := p.cache.get(key); st != nil {
		st.dirty, st.emit = false, false
		b.states[key] = st
		return st, nil
	}
	st, ok, err := p.store.Get(key)
	if err != nil {
		return nil, err
	}
	if !ok {
		st = Stored{Offset: -1, State: p.agg.NewState()}
		p.metrics.Keys.Inc()
	}
	bs := &batchState{Stored: st}
	b.states[key] = bs
	return bs, nil
}

// publishTimeout bounds publishing a batch's outputs once begun.
const publishTimeout = time.Minute

// process applies a poll's records, publishes their outputs, then commits
// the states and the offsets in one synced store batch.
func (p *Processor) process(ctx context.Context, c log.Consumer, recs []log.Record) error {
	if len(recs) == 0 {
		return nil
	}
	if p.tables != nil {
		// The table records in the log now, before the events they apply to.
		if err := p.tables.CatchUp(ctx, p.cfg.Log, nil); err != nil {
			return err
		}
	}
	b := &p.batch
	b.reset(len(recs), len(p.vals))
	committed := false
	defer func() {
		if !committed {
			// The batch changed these states in place, and they were not
			// stored: the next batch reads them from the store again.
			p.cache.forget(b.states)
		}
	}()
	start := map[int]int64{}
	for i := range recs {
		r := &recs[i]
		o := p.owned[r.Partition]
		if o == nil {
			return fmt.Errorf("stream: definition %q: a record of %s/%d arrived before the partition was prepared", p.cfg.Definition.Name, r.Topic, r.Partition)
		}
		if _, ok := start[r.Partition]; !ok {
			start[r.Partition] = o.next
		}
		if r.Offset > o.next {
			if err := p.fillGap(ctx, b, r.Partition, r.Offset); err != nil {
				return err
			}
		}
		if err := p.apply(b, r); err != nil {
			return err
		}
	}
	if len(b.last) == 0 {
		return nil // all delivered again below the committed point
	}
	if p.revoked(c, b) {
		for q, n := range start {
			p.owned[q].next = n
		}
		return nil
	}
	if p.cfg.Emit == EmitLatest {
		p.latest(b)
	}
	changelog := p.changelog(b)
	// Once its outputs start to go out, a batch is finished even if ctx
	// ends (a graceful stop): the store then ends where the outputs do and a
	// restart has nothing to re-derive. A crash at any point stays safe.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), publishTimeout)
	defer cancel()
	marks := map[markSpot]int64{}
	for _, out := range []struct {
		topic, point string
		recs         []log.Record
	}{{p.cfg.Table, "table", b.table}, {p.cfg.Changelog, "changelog", changelog}} {
		if len(out.recs) == 0 {
			continue
		}
		if err := p.cfg.Log.Append(pctx, out.topic, out.recs); err != nil {
			return fmt.Errorf("stream: definition %q: append %d records to %q: %w", p.cfg.Definition.Name, len(out.recs), out.topic, err)
		}
		for i := range out.recs {
			s := markSpot{out.topic, out.recs[i].Partition}
			marks[s] = max(marks[s], out.recs[i].Offset+1)
		}
		p.metrics.Published.WithLabelValues(out.topic).Add(float64(len(out.recs)))
		p.crash(out.point)
	}
	commit := storeCommit{Encoded: b.encoded, Offsets: map[int]int64{}, Marks: marks}
	for q := range b.last {
		commit.Offsets[q] = p.owned[q].next
	}
	if err := p.store.commit(commit); err != nil {
		return err
	}
	for s, m := range marks {
		p.marks[s] = m
	}
	committed = true
	p.cache.keep(b.states)
	p.metrics.Commits.Inc()
	p.crash("commit")
	last := make([]log.Record, 0, len(b.last))
	for _, r := range b.last {
		last = append(last, r)
	}
	// The group's offsets only tell a successor without this store where
	// every output is published: a failed commit costs it more re-reading.
	if err := c.Commit(ctx, last...); err != nil && !errors.Is(err, log.ErrNotAssigned) && ctx.Err() == nil {
		p.cfg.Logger.Warn("features: commit the group's offsets", "definition", p.cfg.Definition.Name, "err", err)
	}
	return nil
}

// apply applies one record to its key's state and makes its feature-table
// record, unless an earlier run already published it.
func (p *Processor) apply(b *batch, r *log.Record) error {
	o := p.owned[r.Partition]
	if r.Offset < o.next {
		return nil // committed already: delivered again after a rebalance or restart
	}
	o.next = r.Offset + 1
	b.last[r.Partition] = log.Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}
	ev := &p.ev
	if err := p.dec.Decode(r, ev); err != nil {
		p.counts[outcomeBad].Inc()
		p.warnBad(err)
		return nil
	}
	if p.cfg.Repartition {
		p.repartition(b, r, ev.Key)
		return nil
	}
	if p.tables != nil {
		p.tables.Enrich(ev)
	}
	if q := log.Partition([]byte(ev.Key), p.nIn); q != r.Partition {
		return fmt.Errorf("stream: definition %q: record %s/%d at offset %d has key %q, which belongs in partition %d: the source topic must be keyed by the definition's key field %q (flint ingest --key), or the definition must say source.repartition: true",
			p.cfg.Definition.Name, r.Topic, r.Partition, r.Offset, ev.Key, q, p.cfg.Definition.Source.Key)
	}
	st, err := p.load(b, ev.Key)
	if err != nil {
		return err
	}
	if st.Partition == r.Partition && r.Offset <= st.Offset {
		p.counts[outcomeSkipped].Inc()
		delete(p.published, SourcePos{r.Partition, r.Offset})
		if m, ok := p.clPublished[ev.Key]; ok && m <= st.Offset {
			delete(p.clPublished, ev.Key)
		}
		return nil // restored from a changelog state that includes it
	}
	out := p.agg.Apply(st.State, ev)
	st.Partition, st.Offset = r.Partition, r.Offset
	if !st.dirty {
		st.dirty = true
		b.order = append(b.order, ev.Key)
	}
	p.counts[out].Inc()
	if out == Dropped {
		return nil
	}
	src := SourcePos{r.Partition, r.Offset}
	published := false
	if len(p.published) > 0 && p.published[src] {
		delete(p.published, src)
		published = true
	}
	if p.cfg.Emit == EmitLatest {
		st.emit, st.published, st.last = true, published, src
		return nil
	}
	if published {
		return nil
	}
	p.agg.Value(st.State, st.State.time, p.vals)
	p.tv = AppendTableValue(p.tv[:0], TableValue{Time: st.State.time, Values: p.vals})
	b.table = append(b.table, log.Record{Key: b.bytes([]byte(ev.Key)), Value: b.bytes(p.tv), Headers: b.header(r.Partition, r.Offset)})
	return nil
}

// The outcomes counted beside Apply's (Applied, Late, Dropped).
const (
	outcomeBad = Dropped + 1 + iota
	outcomeSkipped
	outcomeRepartitioned
	nOutcomes
)

var outcomeNames = [...]string{Applied: "applied", Late: "late", Dropped: "dropped",
	outcomeBad: "bad", outcomeSkipped: "skipped", outcomeRepartitioned: "repartitioned"}

// repartition makes the event-topic record of a source record: the same
// value and timestamp, keyed by the key field, unless an earlier run
// already published it.
func (p *Processor) repartition(b *batch, r *log.Record, key string) {
	p.counts[outcomeRepartitioned].Inc()
	src := SourcePos{r.Partition, r.Offset}
	if p.published[src] {
		delete(p.published, src)
		return
	}
	b.table = append(b.table, log.Record{Key: b.bytes([]byte(key)), Value: b.bytes(r.Value), Time: r.Time,
		Headers: b.header(r.Partition, r.Offset)})
}

// latest makes the feature-table records of EmitLatest: each changed
// key's values after its last event applied in the batch, unless an
// earlier run published that one.
func (p *Processor) latest(b *batch) {
	for _, k := range b.order {
		st := b.states[k]
		if !st.emit || st.published {
			continue
		}
		p.agg.Value(st.State, st.State.time, p.vals)
		p.tv = AppendTableValue(p.tv[:0], TableValue{Time: st.State.time, Values: p.vals})
		b.table = append(b.table, log.Record{Key: b.bytes([]byte(k)), Value: b.bytes(p.tv), Headers: b.header(st.last.Partition, st.last.Offset)})
	}
}

// changelog encodes the batch's changed states (for the changelog and the
// store) and makes its changelog records: each changed key's state once,
// unless an earlier run already published it or a newer one.
func (p *Processor) changelog(b *batch) []log.Record {
	recs := make([]log.Record, 0, len(b.order))
	for _, k := range b.order {
		st := b.states[k]
		p.tv = p.agg.AppendStored(p.tv[:0], st.Stored)
		val := b.bytes(p.tv)
		b.encoded = append(b.encoded, encodedState{k, val})
		if m, ok := p.clPublished[k]; ok {
			if m >= st.Offset {
				if m == st.Offset {
					delete(p.clPublished, k)
				}
				continue
			}
			delete(p.clPublished, k)
		}
		recs = append(recs, log.Record{Key: b.bytes([]byte(k)), Value: val, Headers: b.header(st.Partition, st.Offset)})
	}
	return recs
}

// fillGap applies, straight from the log, the records of a partition
// between the next offset to apply and a record the group delivered
// beyond it (after a dropped batch, the consumer's position is past
// records this processor never committed).
func (p *Processor) fillGap(ctx context.Context, b *batch, q int, upto int64) error {
	topic := p.input
	for o := p.owned[q]; o.next < upto; {
		recs, err := p.cfg.Log.Read(ctx, topic, q, o.next, log.ReadOptions{MaxRecords: int(min(upto-o.next, 1000))})
		if err != nil {
			return fmt.Errorf("stream: definition %q: read %s/%d at offset %d: %w", p.cfg.Definition.Name, topic, q, o.next, err)
		}
		if len(recs) == 0 {
			return nil
		}
		for i := range recs {
			if recs[i].Offset >= upto {
				return nil
			}
			if err := p.apply(b, &recs[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// revoked reports whether a rebalance took any of the batch's partitions
// away (or is under way) while it was applied. The batch is then dropped
// unpublished (its states were not stored): a new owner takes the
// partitions from the group's committed offsets, and records the group
// delivers to this processor again are applied from the store's offsets,
// the gap read from the log.
func (p *Processor) revoked(c log.Consumer, b *batch) bool {
	assigned := map[int]bool{}
	for _, tp := range c.Assignment() {
		assigned[tp.Partition] = true
	}
	for q := range b.last {
		if !assigned[q] {
			p.cfg.Logger.Info("features: a rebalance took partitions away during a batch; it is dropped unpublished",
				"definition", p.cfg.Definition.Name, "partition", q)
			return true
		}
	}
	return false
}

func (p *Processor) crash(point string) {
	if p.crashPoint != nil {
		p.crashPoint(point)
	}
}

func (p *Processor) warnBad(err error) {
	p.cfg.Logger.Warn("features: a source record does not fit the definition's schema; it is skipped and counted",
		"definition", p.cfg.Definition.Name, "err", err)
}
