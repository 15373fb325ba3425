package disk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// A crash leaves at most one torn batch, at the very end of a partition's
// last segment: appends write whole batches at the end of the file, so
// nothing intact can follow an interrupted write. A bad batch with an intact
// batch after it is therefore damage (a flipped bit, a lost page, a write
// from something else), and Open refuses it rather than truncate the valid
// records after it. These functions find such intact batches.

// batchMark is the magic byte and the three reserved bytes, at crcStart of
// every batch: what a search for batches looks for before parsing.
var batchMark = []byte{batchMagic, 0, 0, 0}

// findIntact returns the position of the first batch at or after byte from
// (and before end) of r that is whole, well formed, passes its CRC and has
// a base offset of at least minBase. ok is false when there is none. err
// reports I/O errors only.
func findIntact(r io.ReaderAt, from, end, minBase int64) (pos int64, h batchHeader, ok bool, err error) {
	const chunk = 1 << 20
	buf := make([]byte, chunk+len(batchMark)-1)
	// The mark sits crcStart bytes into a batch; search from there.
	for at := from + crcStart; at+int64(len(batchMark)) <= end; at += chunk {
		n := int(min(int64(len(buf)), end-at))
		if _, err := r.ReadAt(buf[:n], at); err != nil && err != io.EOF {
			return 0, h, false, err
		}
		b := buf[:n]
		for i := 0; ; {
			j := bytes.Index(b[i:], batchMark)
			if j < 0 {
				break
			}
			cand := at + int64(i+j) - crcStart
			h, ok, err := intactAt(r, cand, end, minBase)
			if err != nil || ok {
				return cand, h, ok, err
			}
			i += j + 1
		}
	}
	return 0, batchHeader{}, false, nil
}

// intactAt says whether a whole, valid batch with base offset at least
// minBase starts at byte pos of r and ends by end.
func intactAt(r io.ReaderAt, pos, end, minBase int64) (batchHeader, bool, error) {
	if end-pos < batchHeaderSize {
		return batchHeader{}, false, nil
	}
	hb := make([]byte, batchHeaderSize)
	if _, err := r.ReadAt(hb, pos); err != nil {
		return batchHeader{}, false, err
	}
	h, err := parseHeader(hb)
	if err != nil || int64(h.size) > end-pos || h.base < minBase {
		return h, false, nil
	}
	batch := make([]byte, h.size)
	if _, err := r.ReadAt(batch, pos); err != nil {
		return h, false, err
	}
	return h, validateBatch(batch, h) == nil, nil
}

// intactEnd returns the offset after the last record of the intact batches
// found in r from byte from to end, looking past bad bytes (0 when there
// are none): how far the records that damage hides reach.
func intactEnd(r io.ReaderAt, from, end, minBase int64) (int64, error) {
	var last int64
	for from < end {
		pos, h, ok, err := findIntact(r, from, end, minBase)
		if err != nil || !ok {
			return last, err
		}
		last = max(last, h.next())
		minBase = h.next()
		from = pos + int64(h.size)
	}
	return last, nil
}

// notTorn turns bad, the first bad batch of a segment whose size is end,
// into damage when an intact batch follows it, and returns nil when bad
// may be a torn tail.
func notTorn(r io.ReaderAt, bad *CorruptionError, end, next int64) (*CorruptionError, error) {
	pos, _, ok, err := findIntact(r, bad.Offset+1, end, next)
	if err != nil || !ok {
		return nil, err
	}
	return &CorruptionError{Segment: bad.Segment, Offset: bad.Offset,
		Err: fmt.Errorf("%w (an intact batch follows at byte %d, so this is damage, not the torn tail of a crash)", bad.Err, pos)}, nil
}

// recheck is notTorn for a read-only log, whose Open may read a batch
// while the writer writes it, and the batch after it once written: when an
// intact batch follows bad, the last segment's first bad batch, it reads
// on from bad again. A batch still bad, with an intact one after it, is
// damage, returned as err; otherwise recheck returns the first bad batch
// now, nil if none.
func (p *partition) recheck(s *segment, bad *CorruptionError, size int64) (*CorruptionError, error) {
	dmg, err := notTorn(s.f, bad, size, s.next)
	if err != nil || dmg == nil {
		return bad, err
	}
	again, err := p.scan(s, size, false)
	if err != nil || again == nil {
		return nil, err
	}
	if dmg, err = notTorn(s.f, again, size, s.next); err != nil {
		return nil, err
	}
	if dmg != nil {
		return nil, dmg
	}
	return again, nil
}

// isDamage reports whether err is damage to the files of a partition, which
// Open confines to that partition, as opposed to an I/O error.
func isDamage(err error) bool {
	var ce *CorruptionError
	return errors.As(err, &ce)
}

// openOrIsolate opens a partition as openPartition does, except that damage
// (a *CorruptionError) does not fail: it returns a partition that holds no
// segment and answers every operation with the damage, so that the other
// partitions and topics of the log stay usable. Open logs it as an error.
func (l *Log) openOrIsolate(t *topic, id int) (*partition, []Recovery, error) {
	p, recs, err := l.openPartition(t, id)
	if err == nil || !isDamage(err) {
		return p, recs, err
	}
	p = l.newPartition(t, id)
	p.damage = fmt.Errorf("disk: partition %s is damaged and refuses every operation until it is repaired: %w", p, err)
	l.logger.Error("disk: damaged partition isolated; the others are open", "partition", p.String(), "err", err)
	return p, nil, nil
}

// damaged returns the damage that isolated p, or nil.
func (p *partition) damaged() error { return p.damage }
