package disk

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/flintml/flint/log"
)

// CorruptionError reports damage that Open may not repair on its own: a bad
// batch anywhere but in the torn tail of a partition's last segment (or a
// read that finds one later). Open confines it to its partition, whose
// operations then return it (wrapped). It matches its cause with errors.Is
// (ErrChecksum, ErrMalformed, io.ErrUnexpectedEOF).
type CorruptionError struct {
	Segment string // path of the segment file
	Offset  int64  // byte position of the bad batch in it
	Err     error
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("disk: corrupt batch in %s at byte %d: %v", e.Segment, e.Offset, e.Err)
}

func (e *CorruptionError) Unwrap() error { return e.Err }

// Recovery reports what Open cut off the end of a file: the torn tail a
// crash leaves when it interrupts a write; or a segment Open removed whole
// (TruncatedAt 0) because a crash tore the one before it before a roll's
// background fsync of it was done (doc.go, "Durability").
type Recovery struct {
	Segment      string // path of the file truncated (a segment or a group's offsets file)
	TruncatedAt  int64  // its new size: the end of its last intact batch
	BytesDropped int64  // bytes removed from TruncatedAt on
	Err          error  // why the first dropped batch was rejected
}

func (r Recovery) String() string {
	return fmt.Sprintf("%s: truncated at byte %d, dropped %d bytes (%v)", r.Segment, r.TruncatedAt, r.BytesDropped, r.Err)
}

// scanChunk is the read size of recovery scans.
const scanChunk = 1 << 20

// maxListAttempts bounds how often a read-only log lists a partition
// directory again because retention removed a segment it had just listed.
const maxListAttempts = 10

// openPartition opens the segments of a partition directory, verifying every
// batch of every segment: damage in the last segment is a torn tail and is
// truncated; damage elsewhere fails with a *CorruptionError. It rebuilds
// index files that do not match their segment.
//
// On a read-only log it changes nothing on disk: the torn tail of the last
// segment is left alone and read as not written yet, indexes are rebuilt in
// memory only, and a partition without segments (its topic being created)
// is empty until they appear.
func (l *Log) openPartition(t *topic, id int) (*partition, []Recovery, error) {
	p := l.newPartition(t, id)
	for attempt := 1; ; attempt++ {
		recs, err := p.openSegments()
		if err == nil {
			return p, recs, nil
		}
		if !l.cfg.ReadOnly || !errors.Is(err, fs.ErrNotExist) || attempt == maxListAttempts {
			return nil, nil, err
		}
		// Retention removed a segment between the listing and its opening.
	}
}

// newPartition returns partition id of t, without segments.
func (l *Log) newPartition(t *topic, id int) *partition {
	return &partition{l: l, topic: t, id: id, dir: filepath.Join(t.dir, strconv.Itoa(id)), notify: make(chan struct{})}
}

// listSegments returns the base offsets of the partition's segment files,
// sorted. Unless the log is read-only, it removes the leftovers of
// interrupted operations: an index without its segment (retention was
// interrupted), a temporary file of an interrupted rewrite.
func (p *partition) listSegments() ([]int64, error) {
	entries, err := os.ReadDir(p.dir)
	if err != nil {
		return nil, fmt.Errorf("open partition %s: %w", p, err)
	}
	var bases []int64
	names := map[string]bool{}
	for _, e := range entries {
		names[e.Name()] = true
	}
	for _, e := range entries {
		name := e.Name()
		stem, ext := strings.TrimSuffix(name, filepath.Ext(name)), filepath.Ext(name)
		switch ext {
		case segExt:
			base, err := strconv.ParseInt(stem, 10, 64)
			if err != nil || len(stem) != 20 || base < 0 {
				return nil, fmt.Errorf("open partition %s: unexpected segment file %s", p, filepath.Join(p.dir, name))
			}
			bases = append(bases, base)
		case idxExt, tixExt, ".tmp":
			if p.l.cfg.ReadOnly {
				continue
			}
			if ext == ".tmp" || !names[stem+segExt] {
				if err := os.Remove(filepath.Join(p.dir, name)); err != nil {
					return nil, fmt.Errorf("open partition %s: remove leftover: %w", p, err)
				}
			}
		}
	}
	slices.Sort(bases)
	return bases, nil
}

// openSegments lists and opens the partition's segments (see openPartition).
func (p *partition) openSegments() ([]Recovery, error) {
	l := p.l
	p.segs, p.statBytes, p.statRecs = nil, 0, 0
	bases, err := p.listSegments()
	if err != nil {
		return nil, err
	}
	var recs []Recovery
	ok := false
	defer func() {
		if !ok {
			for _, s := range p.segs {
				s.release()
			}
			p.segs = nil
		}
	}()
	for i, base := range bases {
		// The segment before the last one may be unsealed, when a crash
		// came during the background fsync of a roll (see sealRolled): unless a
		// recovery point covers it, its torn tail is truncated too, and the
		// last segment then removed.
		unsealed := i == len(bases)-2 && !l.cfg.ReadOnly && !p.covered(base)
		s, rec, err := l.openSegment(p, base, i == len(bases)-1 || unsealed)
		if err != nil {
			return nil, err
		}
		p.segs = append(p.segs, s)
		if rec != nil {
			recs = append(recs, *rec)
		}
		if i > 0 {
			if err := checkContinues(p.segs[i-1], s); err != nil {
				return nil, err
			}
		}
		if unsealed && (rec != nil || s.next < bases[i+1]) {
			drop, err := p.dropAfterUnsealed(s, bases[i+1])
			if err != nil {
				return nil, err
			}
			recs = append(recs, drop)
			break
		}
	}
	if len(p.segs) == 0 && !l.cfg.ReadOnly {
		s, err := createSegment(p.dir, 0)
		if err != nil {
			return nil, fmt.Errorf("open partition %s: %w", p, err)
		}
		p.segs = append(p.segs, s)
		if l.cfg.Sync != SyncUnsafeNever {
			if err := syncDir(p.dir); err != nil {
				return nil, fmt.Errorf("open partition %s: %w", p, err)
			}
		}
	}
	if len(p.segs) > 0 {
		p.hw = p.active().next
	}
	ok = true
	return recs, nil
}

// covered reports whether the partition's recovery point, as Open read it,
// covers the whole segment whose first offset is base.
func (p *partition) covered(base int64) bool {
	rp, ok := p.l.points[log.TopicPartition{Topic: p.topic.name, Partition: p.id}]
	_, have := rp.segs[base]
	return ok && have && base < rp.base
}

// dropAfterUnsealed removes the partition's last segment, whose first
// offset is base, when the one before it, s, lost its tail in a crash
// before a roll's background fsync of it was done (see sealRolled): what the last
// one holds follows a hole, so it is dropped, as a torn tail is, and
// reported as a Recovery that truncated it at byte 0.
func (p *partition) dropAfterUnsealed(s *segment, base int64) (Recovery, error) {
	path := filepath.Join(p.dir, segmentName(base))
	fi, err := os.Stat(path)
	if err != nil {
		return Recovery{}, fmt.Errorf("open partition %s: %w", p, err)
	}
	idx, tix := segmentIndexPaths(path)
	for _, f := range []string{path, idx, tix} {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			return Recovery{}, fmt.Errorf("open partition %s: remove the segment after a torn one: %w", p, err)
		}
	}
	if p.l.cfg.Sync != SyncUnsafeNever {
		if err := syncDir(p.dir); err != nil {
			return Recovery{}, fmt.Errorf("open partition %s: %w", p, err)
		}
	}
	rec := Recovery{Segment: path, BytesDropped: fi.Size(),
		Err: fmt.Errorf("the segment before it, %s, ends at offset %d, before this one's first, %d: a crash came before the fsync of a roll", s.path, s.next, base)}
	p.l.logger.Warn("disk: removed the segment after the torn tail of an unsealed one", "segment", path, "bytes_dropped", fi.Size(), "previous_ends_at", s.next)
	return rec, nil
}

// checkContinues reports a *CorruptionError unless segment s starts where
// prev, the segment before it, ends.
func checkContinues(prev, s *segment) error {
	if prev.next != s.base {
		return &CorruptionError{Segment: s.path, Offset: 0,
			Err: fmt.Errorf("%w: segment starts at offset %d but the previous one, %s, ends at %d", ErrMalformed, s.base, prev.path, prev.next)}
	}
	return nil
}

// openSegment opens and verifies one segment; last says it is the
// partition's last, or the unsealed one before it (see openSegments), whose
// torn tail is truncated (left alone by a read-only log) rather than
// reported as corruption.
func (l *Log) openSegment(p *partition, base int64, last bool) (*segment, *Recovery, error) {
	ro := l.cfg.ReadOnly
	path := filepath.Join(p.dir, segmentName(base))
	flag := os.O_RDONLY
	if last && !ro {
		flag = os.O_RDWR
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open partition %s: %w", p, err)
	}
	s := newSegment(base, path, f)
	fail := func(err error) (*segment, *Recovery, error) {
		f.Close()
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		return fail(fmt.Errorf("open partition %s: %w", p, err))
	}
	bad, err := p.verify(s, fi.Size())
	if err != nil {
		return fail(fmt.Errorf("open partition %s: %w", p, err))
	}
	var rec *Recovery
	switch {
	case bad == nil:
	case !last:
		return fail(bad)
	case ro:
		// The writer may be writing this batch now: to a reader it is not
		// there yet (p.refresh looks again; see scanTail).
		if bad, err = p.recheck(s, bad, fi.Size()); err != nil {
			return fail(fmt.Errorf("open partition %s: %w", p, err))
		}
		if bad == nil {
			break
		}
		if !errors.Is(bad.Err, io.ErrUnexpectedEOF) {
			p.tail = badTail{seg: s, pos: bad.Offset, size: fi.Size()}
		}
		l.logger.Debug("disk: read-only open stops before an incomplete batch", "segment", path, "at_byte", bad.Offset, "reason", bad.Err)
	default:
		// The torn tail of the last segment, what a crash leaves, unless
		// intact batches follow it.
		if dmg, err := notTorn(f, bad, fi.Size(), s.next); err != nil {
			return fail(fmt.Errorf("open partition %s: %w", p, err))
		} else if dmg != nil {
			return fail(dmg)
		}
		pos := bad.Offset
		if terr := f.Truncate(pos); terr != nil {
			return fail(fmt.Errorf("open partition %s: truncate torn tail of %s at byte %d: %w", p, path, pos, terr))
		}
		if l.cfg.Sync != SyncUnsafeNever {
			if serr := l.fsync(f); serr != nil {
				return fail(fmt.Errorf("open partition %s: fdatasync %s: %w", p, path, serr))
			}
		}
		rec = &Recovery{Segment: path, TruncatedAt: pos, BytesDropped: fi.Size() - pos, Err: bad.Err}
		l.logger.Warn("disk: truncated the torn tail of a segment", "segment", path, "at_byte", pos, "bytes_dropped", rec.BytesDropped, "reason", bad.Err)
	}
	if ro {
		return s, nil, nil // the index stays in memory
	}
	rewritten, err := reconcileIndexFiles(path, s.index, l.cfg.Sync == SyncUnsafeNever)
	if err != nil {
		return fail(fmt.Errorf("open partition %s: %w", p, err))
	}
	if len(rewritten) > 0 && s.size > 0 {
		l.logger.Info("disk: rebuilt index files", "segment", path, "files", rewritten)
	}
	return s, rec, nil
}

// verify verifies the batches of s, just opened, up to end, as scan does:
// from its recovery point when it has one (see resume), else from byte 0.
// When what lies at or before the recovery point is not what it promised,
// it verifies the whole segment.
func (p *partition) verify(s *segment, end int64) (*CorruptionError, error) {
	rp, ok := p.l.points[log.TopicPartition{Topic: p.topic.name, Partition: p.id}]
	statBytes, statRecs := p.statBytes, p.statRecs
	if !p.resume(s, end, rp, ok) {
		return p.scan(s, end, false)
	}
	trusted := end
	if s.base == rp.base {
		trusted = rp.pos
	}
	bad, err := p.scan(s, end, false)
	if err == nil && (bad == nil || bad.Offset >= trusted) {
		return bad, nil
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return nil, err
	}
	p.l.logger.Warn("disk: a segment does not match its recovery point; checking all of it", "segment", s.path)
	p.unresume(s, statBytes, statRecs)
	return p.scan(s, end, false)
}

// scan verifies the batches of s from byte s.size up to end and adds each to
// the segment with addBatch; publish says readers may be looking, so each
// is added holding p.smu and moves the high watermark. It stops at the
// first batch that is incomplete, malformed or fails its CRC and returns it
// as bad (nil when it reached end): the torn tail of a crash, or a batch
// being written, in the last segment; damage in any other. A whole batch
// with a good CRC whose offsets do not continue the segment is damage
// wherever it is, returned as err, as are I/O errors.
func (p *partition) scan(s *segment, end int64, publish bool) (bad *CorruptionError, err error) {
	sc := newScanner(s.f, s.size, end, scanChunk)
	for {
		pos, h, batch, err := sc.next()
		if err == io.EOF {
			return nil, nil
		}
		if err == nil {
			err = validateBatch(batch, h)
		}
		if err == nil && h.base != s.next {
			// A batch with a valid CRC in the wrong place is no torn write.
			return nil, &CorruptionError{Segment: s.path, Offset: pos,
				Err: fmt.Errorf("%w: batch has offsets %d to %d, expected %d next", ErrMalformed, h.base, h.next()-1, s.next)}
		}
		if err != nil {
			if pe := (*os.PathError)(nil); errors.As(err, &pe) {
				return nil, err // an I/O error, not damage
			}
			return &CorruptionError{Segment: s.path, Offset: pos, Err: err}, nil
		}
		p.l.verified.Add(int64(h.size))
		if publish {
			p.smu.Lock()
		}
		p.addBatch(s, pos, h)
		if publish {
			p.hw = s.next
			p.smu.Unlock()
		}
	}
}
