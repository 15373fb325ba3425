package disk

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/flintml/flint/log"
)

// readView is a snapshot of what a reader may read.
type readView struct {
	seg     *segment // holds a reference; nil when offset is the high watermark
	size    int64    // readable bytes of seg
	index   []indexEntry
	notify  chan struct{} // closed on the next append, when seg is nil
	avgSize int64         // average bytes a record takes on disk
}

// view snapshots the partition for a read at offset.
func (p *partition) view(offset int64, wantNotify bool) (readView, error) {
	p.smu.RLock()
	defer p.smu.RUnlock()
	earliest := p.earliest()
	if offset < earliest || offset > p.hw {
		return readView{}, &log.OffsetOutOfRangeError{Topic: p.topic.name, Partition: p.id, Offset: offset, Earliest: earliest, Latest: p.hw}
	}
	if offset == p.hw {
		v := readView{}
		if wantNotify {
			v.notify = p.notify
			p.notifyUsed.Store(true)
		}
		return v, nil
	}
	i := sort.Search(len(p.segs), func(i int) bool { return p.segs[i].base > offset }) - 1
	s := p.segs[i]
	s.refs.Add(1)
	avg := int64(64)
	if p.statRecs > 0 {
		avg = max(p.statBytes/p.statRecs, 4)
	}
	return readView{seg: s, size: s.size, index: s.index, avgSize: avg}, nil
}

// waitChan returns a channel closed on the next append.
func (p *partition) waitChan() chan struct{} {
	p.smu.RLock()
	defer p.smu.RUnlock()
	p.notifyUsed.Store(true)
	return p.notify
}

// read implements Log.Read on this partition. On a read-only log, it looks
// at the files first when offset is past what it has seen (or below it),
// checks that retention has not removed the segment it reads, and a read
// that waits polls every readOnlyPoll.
func (p *partition) read(ctx context.Context, offset int64, opt log.ReadOptions) ([]log.Record, error) {
	opt = opt.WithDefaults()
	ro := p.l.cfg.ReadOnly
	var timer, poll <-chan time.Time
	checked := false // the segment was checked for removal, on a read-only log
	for {
		if ro && p.stale(offset) {
			if err := p.refresh(); err != nil {
				return nil, fmt.Errorf("disk: read %s at offset %d: %w", p, offset, err)
			}
		}
		v, err := p.view(offset, opt.Wait > 0 && !ro)
		if err != nil {
			return nil, err
		}
		if v.seg != nil {
			if ro && !checked && unlinked(v.seg.f) {
				// Retention removed it: learn what is left.
				v.seg.release()
				checked = true
				if err := p.refresh(); err != nil {
					return nil, fmt.Errorf("disk: read %s at offset %d: %w", p, offset, err)
				}
				continue
			}
			recs, err := p.readSegment(v, offset, opt)
			v.seg.release()
			return recs, err
		}
		if opt.Wait <= 0 {
			return nil, nil
		}
		if timer == nil {
			t := time.NewTimer(opt.Wait)
			defer t.Stop()
			timer = t.C
			if ro {
				tick := time.NewTicker(readOnlyPoll)
				defer tick.Stop()
				poll = tick.C
			}
		}
		select {
		case <-v.notify:
		case <-poll:
		case <-timer:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-p.l.closing:
			return nil, log.ErrClosed
		}
	}
}

// readSegment reads records from offset on out of v.seg: one pread sized
// from the limits usually does; records alias the buffers read into.
func (p *partition) readSegment(v readView, offset int64, opt log.ReadOptions) ([]log.Record, error) {
	seg := v.seg
	k := lookupOffset(v.index, offset-seg.base)
	pos := int64(v.index[k].pos)
	// Bytes to read: those before offset from the index entry on, then
	// enough for the limits, with slack for record overhead and one index
	// interval.
	budget := min(int64(opt.MaxBytes), int64(opt.MaxRecords)*v.avgSize)
	want := (offset-seg.base-int64(v.index[k].rel))*v.avgSize + budget + budget/8 + indexInterval
	out := opt.Records[:0]
	if out == nil {
		out = make([]log.Record, 0, min(int64(opt.MaxRecords), budget/v.avgSize+1))
	}
	size := 0        // payload bytes in out
	expect := offset // offset the next decoded record must have
	// Preads go into opt.Buffer from its start while they fit, each after
	// the bytes the records of the ones before alias (taken); one that
	// does not fit allocates.
	taken := 0
	for pos < v.size {
		n := min(max(want, batchHeaderSize), v.size-pos)
		var buf []byte
		inBuffer := int64(cap(opt.Buffer)-taken) >= n
		if inBuffer {
			buf = opt.Buffer[taken : taken+int(n) : taken+int(n)]
		} else {
			buf = make([]byte, n)
		}
		if _, err := seg.f.ReadAt(buf, pos); err != nil {
			return nil, fmt.Errorf("disk: read %s at offset %d: %s at byte %d: %w", p, offset, seg.path, pos, err)
		}
		used := 0
		for used < len(buf) {
			h, err := parseHeader(buf[used:])
			if err == io.ErrUnexpectedEOF || (err == nil && h.size > len(buf)-used) {
				break // continue with a new read from this batch
			}
			if err != nil {
				return nil, p.corrupt(seg, pos+int64(used), offset, err)
			}
			batch := buf[used : used+h.size]
			if h.next() <= expect {
				used += h.size // before offset
				continue
			}
			if h.base > expect {
				return nil, p.corrupt(seg, pos+int64(used), offset, fmt.Errorf("%w: batch starts at offset %d, expected %d", ErrMalformed, h.base, expect))
			}
			if err := checkCRC(batch, h); err != nil {
				return nil, p.corrupt(seg, pos+int64(used), offset, err)
			}
			rr := newRecordReader(batch, h)
			var skip log.Record
			for rr.i < h.count {
				r := &skip
				if h.base+int64(rr.i) >= expect {
					out = append(out, log.Record{})
					r = &out[len(out)-1]
				}
				if err := rr.next(r, r != &skip); err != nil {
					return nil, p.corrupt(seg, pos+int64(used), offset, err)
				}
				if r == &skip {
					continue
				}
				r.Topic, r.Partition = p.topic.name, p.id
				rs := r.Size()
				if len(out) > 1 && size+rs > opt.MaxBytes {
					return out[:len(out)-1], nil
				}
				size += rs
				expect = r.Offset + 1
				if len(out) == opt.MaxRecords || size >= opt.MaxBytes {
					return out, nil
				}
			}
			used += h.size
		}
		if used == 0 {
			// The batch at pos is bigger than what was read: read it whole.
			n, err := p.wholeBatch(v, buf, pos, offset)
			if err != nil {
				return nil, err
			}
			want = n
			continue
		}
		pos += int64(used)
		if inBuffer {
			taken += used // the rest was not decoded and will be read again
		}
		left := min(int64(opt.MaxBytes-size), int64(opt.MaxRecords-len(out))*v.avgSize)
		want = left + left/8 + batchHeaderSize
	}
	return out, nil
}

// wholeBatch returns the size of the batch at pos of v.seg, whose start is
// in buf, checking that it ends within the readable bytes: a length that
// runs past them is damage below the high watermark.
func (p *partition) wholeBatch(v readView, buf []byte, pos, offset int64) (int64, error) {
	h, err := parseHeader(buf)
	if err != nil {
		return 0, p.corrupt(v.seg, pos, offset, err)
	}
	if pos+int64(h.size) > v.size {
		return 0, p.corrupt(v.seg, pos, offset, fmt.Errorf("%w: a batch of %d bytes runs past the %d bytes of the segment", ErrMalformed, h.size, v.size))
	}
	return int64(h.size), nil
}

// corrupt wraps a decoding failure found by a read.
func (p *partition) corrupt(seg *segment, pos, offset int64, err error) error {
	return fmt.Errorf("disk: read %s at offset %d: %w", p, offset, &CorruptionError{Segment: seg.path, Offset: pos, Err: err})
}

// offsetForTime implements Log.OffsetForTime on this partition.
func (p *partition) offsetForTime(ts int64) (int64, error) {
	if p.l.cfg.ReadOnly {
		if err := p.refresh(); err != nil {
			return 0, fmt.Errorf("disk: offset for time in %s: %w", p, err)
		}
	}
	p.smu.RLock()
	var seg *segment
	for _, s := range p.segs {
		if s.maxTime >= ts {
			seg = s
			break
		}
	}
	if seg == nil {
		hw := p.hw
		p.smu.RUnlock()
		return hw, nil
	}
	seg.refs.Add(1)
	index, size := seg.index, seg.size
	p.smu.RUnlock()
	defer seg.release()

	// Every record before the batch found by the time index is older than
	// ts; the first batch whose newest record is not holds the answer.
	sc := newScanner(seg.f, int64(index[lookupTime(index, ts)].pos), size, 64<<10)
	for {
		pos, h, batch, err := sc.next()
		if err != nil {
			if err == io.EOF {
				err = fmt.Errorf("%w: no record at or after time %d although the segment's newest is", ErrMalformed, ts)
			}
			return 0, fmt.Errorf("disk: offset for time in %s: %w", p, &CorruptionError{Segment: seg.path, Offset: pos, Err: err})
		}
		if h.maxTime < ts {
			continue
		}
		if err := checkCRC(batch, h); err != nil {
			return 0, fmt.Errorf("disk: offset for time in %s: %w", p, &CorruptionError{Segment: seg.path, Offset: pos, Err: err})
		}
		rr := newRecordReader(batch, h)
		var r log.Record
		for {
			if err := rr.next(&r, false); err != nil {
				return 0, fmt.Errorf("disk: offset for time in %s: %w", p, &CorruptionError{Segment: seg.path, Offset: pos, Err: err})
			}
			if r.Time.UnixNano() >= ts {
				return r.Offset, nil
			}
		}
	}
}

// Read returns records of a partition from offset on; see log.Log. The
// records' byte slices share the buffers the read went into.
func (l *Log) Read(ctx context.Context, topicName string, partition int, offset int64, opt log.ReadOptions) ([]log.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := l.begin(); err != nil {
		return nil, err
	}
	defer l.end()
	p, err := l.partition(topicName, partition)
	if err != nil {
		return nil, err
	}
	return p.read(ctx, offset, opt)
}

// Offsets returns the earliest and latest offsets of a partition.
func (l *Log) Offsets(ctx context.Context, topicName string, partition int) (log.PartitionInfo, error) {
	if err := ctx.Err(); err != nil {
		return log.PartitionInfo{}, err
	}
	if err := l.begin(); err != nil {
		return log.PartitionInfo{}, err
	}
	defer l.end()
	p, err := l.partition(topicName, partition)
	if err != nil {
		return log.PartitionInfo{}, err
	}
	if l.cfg.ReadOnly {
		if err := p.refresh(); err != nil {
			return log.PartitionInfo{}, fmt.Errorf("disk: offsets of %s: %w", p, err)
		}
	}
	return p.info(), nil
}

// OffsetForTime returns the first offset whose record time is at or after
// at, or the high watermark if there is none. Retention may have removed
// earlier matches; the answer is never below the earliest offset.
func (l *Log) OffsetForTime(ctx context.Context, topicName string, partition int, at time.Time) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := l.begin(); err != nil {
		return 0, err
	}
	defer l.end()
	p, err := l.partition(topicName, partition)
	if err != nil {
		return 0, err
	}
	return p.offsetForTime(at.UnixNano())
}
