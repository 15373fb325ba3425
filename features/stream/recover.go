package stream

import (
	"context"
	"fmt"
	"time"

	"github.com/flintml/flint/log"
)

// prepare makes source partitions ready to process: it finds where each
// resumes, restores from the changelog the states of those the store does
// not hold (or holds stale: the group committed beyond the store), and
// collects the outputs already in the log beyond the resume points, so
// that re-deriving them publishes none twice. Outputs are looked for from
// the store's marks (what this processor appended after its last commit)
// and from RestoreSkew before the time of the first record to re-derive
// (what another processor that owned the partition meanwhile appended).
func (p *Processor) prepare(ctx context.Context, parts []int) error {
	p.cache.clear() // a restore or an adopted state may replace what it holds
	src := p.input
	committed, err := p.cfg.Log.Committed(ctx, p.cfg.Group, src)
	if err != nil {
		return fmt.Errorf("stream: read group %q's committed offsets of %q: %w", p.cfg.Group, src, err)
	}
	next := map[int]int64{}
	from := map[markSpot]int64{} // where to look for outputs already published
	lower := func(s markSpot, o int64) {
		if f, ok := from[s]; !ok || o < f {
			from[s] = o
		}
	}
	var restore []int
	for _, q := range parts {
		o, ok, err := p.store.Offset(q)
		if err != nil {
			return err
		}
		c, hasC := committed[q]
		switch {
		case ok && (!hasC || c <= o):
			next[q] = o
		case hasC:
			next[q], restore = c, append(restore, q)
		default:
			pi, err := p.cfg.Log.Offsets(ctx, src, q)
			if err != nil {
				return fmt.Errorf("stream: read the offsets of %s/%d: %w", src, q, err)
			}
			next[q], restore = pi.Earliest, append(restore, q)
		}
		for s, m := range p.marks {
			lower(s, m)
		}
		// Another processor may have owned the partition since: its outputs
		// beyond next[q] follow records appended at or after that record.
		t, ok, err := p.recordTime(ctx, src, q, next[q])
		if err != nil {
			return fmt.Errorf("stream: read %s/%d at offset %d: %w", src, q, next[q], err)
		}
		if !ok {
			continue // nothing after the resume point: nothing to re-derive
		}
		for s := range p.marks {
			at, err := p.cfg.Log.OffsetForTime(ctx, s.topic, s.p, t.Add(-p.cfg.RestoreSkew))
			if err != nil {
				return fmt.Errorf("stream: find the offset of %s/%d at %s: %w", s.topic, s.p, t.Add(-p.cfg.RestoreSkew), err)
			}
			lower(s, at)
		}
	}
	if len(restore) > 0 {
		if err := p.restore(ctx, restore, next); err != nil {
			return err
		}
	}
	if err := p.findPublished(ctx, from, next); err != nil {
		return err
	}
	for _, q := range parts {
		p.owned[q] = &owned{next: next[q]}
	}
	p.cfg.Logger.Info("features: partitions assigned", "definition", p.cfg.Definition.Name, "partitions", parts,
		"restored", restore, "already_published", len(p.published)+len(p.clPublished))
	return nil
}

// recordTime returns the time of the record at an offset, and false if the
// partition ends before it.
func (p *Processor) recordTime(ctx context.Context, topic string, q int, off int64) (time.Time, bool, error) {
	recs, err := p.cfg.Log.Read(ctx, topic, q, off, log.ReadOptions{MaxRecords: 1})
	if err != nil || len(recs) == 0 {
		return time.Time{}, false, err
	}
	return recs[0].Time, true, nil
}

// scan reads a partition from an offset to the end it had when the scan
// began, calling fn with every record.
func (p *Processor) scan(ctx context.Context, topic string, q int, from int64, fn func(*log.Record) error) error {
	pi, err := p.cfg.Log.Offsets(ctx, topic, q)
	if err != nil {
		return fmt.Errorf("stream: read the offsets of %s/%d: %w", topic, q, err)
	}
	for off := max(from, pi.Earliest); off < pi.Latest; {
		recs, err := p.cfg.Log.Read(ctx, topic, q, off, log.ReadOptions{MaxRecords: 1000, MaxBytes: 8 << 20})
		if err != nil {
			return fmt.Errorf("stream: read %s/%d at offset %d: %w", topic, q, off, err)
		}
		for i := range recs {
			if recs[i].Offset >= pi.Latest {
				return nil
			}
			if err := fn(&recs[i]); err != nil {
				return err
			}
			off = recs[i].Offset + 1
		}
	}
	return nil
}

// restore loads, for every key of the given source partitions, its newest
// state in the changelog (the one of the highest source offset), and
// commits them with the partitions' resume offsets.
func (p *Processor) restore(ctx context.Context, parts []int, next map[int]int64) error {
	want := map[int]bool{}
	for _, q := range parts {
		want[q] = true
	}
	best := map[string]Stored{}
	topic := p.cfg.Changelog
	for q := range p.nOut[topic] {
		err := p.scan(ctx, topic, q, 0, func(r *log.Record) error {
			src, ok := RecordSource(r)
			if !ok || !want[src.Partition] {
				return nil
			}
			if cur, ok := best[string(r.Key)]; ok && cur.Offset >= src.Offset {
				return nil
			}
			st, err := p.agg.DecodeStored(r.Value)
			if err != nil {
				return fmt.Errorf("stream: changelog record %s/%d at offset %d: %w", topic, q, r.Offset, err)
			}
			best[string(r.Key)] = st
			return nil
		})
		if err != nil {
			return err
		}
	}
	c := storeCommit{States: best, Offsets: map[int]int64{}}
	for _, q := range parts {
		c.Offsets[q] = next[q]
	}
	if err := p.store.commit(c); err != nil {
		return err
	}
	p.cfg.Logger.Info("features: restored from the changelog", "definition", p.cfg.Definition.Name,
		"partitions", parts, "keys", len(best))
	return nil
}

// findPublished reads the output partitions from the given offsets and
// records which outputs of the prepared partitions, beyond their resume
// points, are already there. A changelog state there newer than the
// store's (another processor owned the partition meanwhile) replaces it.
func (p *Processor) findPublished(ctx context.Context, from map[markSpot]int64, next map[int]int64) error {
	adopt := map[string]Stored{}
	for s, f := range from {
		err := p.scan(ctx, s.topic, s.p, f, func(r *log.Record) error {
			src, ok := RecordSource(r)
			if n, mine := next[src.Partition]; !ok || !mine || src.Offset < n {
				return nil
			}
			if s.topic == p.cfg.Table {
				p.published[src] = true
				return nil
			}
			key := string(r.Key)
			if m, ok := p.clPublished[key]; ok && src.Offset <= m {
				return nil
			}
			p.clPublished[key] = src.Offset
			cur, ok, err := p.store.Get(key)
			if err != nil {
				return err
			}
			if ok && cur.Partition == src.Partition && cur.Offset >= src.Offset {
				return nil
			}
			st, err := p.agg.DecodeStored(r.Value)
			if err != nil {
				return fmt.Errorf("stream: changelog record %s/%d at offset %d: %w", s.topic, s.p, r.Offset, err)
			}
			adopt[key] = st
			return nil
		})
		if err != nil {
			return err
		}
	}
	if len(adopt) == 0 {
		return nil
	}
	p.cfg.Logger.Info("features: took newer states from the changelog", "definition", p.cfg.Definition.Name, "keys", len(adopt))
	return p.store.commit(storeCommit{States: adopt})
}
