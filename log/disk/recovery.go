package disk

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// CorruptionError reports damage that Open may not repair on its own: a bad
// batch anywhere but in the torn tail of a partition's last segment (or a
// read that finds one later). It matches its cause with errors.Is
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
// crash leaves when it interrupts a write.
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

// openPartition opens the segments of a partition directory, verifying every
// batch of every segment: damage in the last segment is a torn tail and is
// truncated; damage elsewhere fails with a *CorruptionError. It rebuilds
// index files that do not match their segment.
func (l *Log) openPartition(t *topic, id int) (*partition, []Recovery, error) {
	p := &partition{l: l, topic: t, id: id, dir: filepath.Join(t.dir, strconv.Itoa(id)), notify: make(chan struct{})}
	entries, err := os.ReadDir(p.dir)
	if err != nil {
		return nil, nil, fmt.Errorf("open partition %s: %w", p, err)
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
				return nil, nil, fmt.Errorf("open partition %s: unexpected segment file %s", p, filepath.Join(p.dir, name))
			}
			bases = append(bases, base)
		case idxExt, tixExt, ".tmp":
			if ext == ".tmp" || !names[stem+segExt] {
				// An index without its segment (retention was interrupted)
				// or a temporary file of an interrupted rewrite.
				if err := os.Remove(filepath.Join(p.dir, name)); err != nil {
					return nil, nil, fmt.Errorf("open partition %s: remove leftover: %w", p, err)
				}
			}
		}
	}
	slices.Sort(bases)
	var recs []Recovery
	ok := false
	defer func() {
		if !ok {
			for _, s := range p.segs {
				s.release()
			}
		}
	}()
	for i, base := range bases {
		s, rec, err := l.openSegment(p, base, i == len(bases)-1)
		if err != nil {
			return nil, nil, err
		}
		p.segs = append(p.segs, s)
		if rec != nil {
			recs = append(recs, *rec)
		}
		if i > 0 {
			if prev := p.segs[i-1]; prev.next != base {
				return nil, nil, &CorruptionError{Segment: s.path, Offset: 0,
					Err: fmt.Errorf("%w: segment starts at offset %d but the previous one, %s, ends at %d", ErrMalformed, base, prev.path, prev.next)}
			}
		}
	}
	if len(p.segs) == 0 {
		s, err := createSegment(p.dir, 0)
		if err != nil {
			return nil, nil, fmt.Errorf("open partition %s: %w", p, err)
		}
		p.segs = append(p.segs, s)
		if l.cfg.Sync != SyncUnsafeNever {
			if err := syncDir(p.dir); err != nil {
				return nil, nil, fmt.Errorf("open partition %s: %w", p, err)
			}
		}
	}
	p.hw = p.active().next
	ok = true
	return p, recs, nil
}

// openSegment opens and verifies one segment; last says it is the
// partition's last, whose torn tail is truncated rather than reported as
// corruption.
func (l *Log) openSegment(p *partition, base int64, last bool) (*segment, *Recovery, error) {
	path := filepath.Join(p.dir, segmentName(base))
	flag := os.O_RDONLY
	if last {
		flag = os.O_RDWR
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open partition %s: %w", p, err)
	}
	s := &segment{base: base, path: path, f: f, next: base, maxTime: math.MinInt64, ix: newIndexer()}
	s.refs.Store(1)
	fail := func(err error) (*segment, *Recovery, error) {
		f.Close()
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		return fail(fmt.Errorf("open partition %s: %w", p, err))
	}
	var (
		rec *Recovery
		sc  = newScanner(f, 0, fi.Size(), scanChunk)
	)
	for {
		pos, h, batch, err := sc.next()
		if err == io.EOF {
			break
		}
		if err == nil {
			err = validateBatch(batch, h)
		}
		if err == nil && h.base != s.next {
			// A batch with a valid CRC in the wrong place is no torn write.
			return fail(&CorruptionError{Segment: path, Offset: pos,
				Err: fmt.Errorf("%w: batch has offsets %d to %d, expected %d next", ErrMalformed, h.base, h.next()-1, s.next)})
		}
		if err != nil {
			if pe := (*os.PathError)(nil); errors.As(err, &pe) {
				return fail(fmt.Errorf("open partition %s: %w", p, err)) // an I/O error, not damage
			}
			if !last {
				return fail(&CorruptionError{Segment: path, Offset: pos, Err: err})
			}
			// The torn tail of the last segment: what a crash leaves.
			if terr := f.Truncate(pos); terr != nil {
				return fail(fmt.Errorf("open partition %s: truncate torn tail of %s at byte %d: %w", p, path, pos, terr))
			}
			if l.cfg.Sync != SyncUnsafeNever {
				if serr := fdatasync(f); serr != nil {
					return fail(fmt.Errorf("open partition %s: fdatasync %s: %w", p, path, serr))
				}
			}
			rec = &Recovery{Segment: path, TruncatedAt: pos, BytesDropped: fi.Size() - pos, Err: err}
			l.logger.Warn("disk: truncated the torn tail of a segment", "segment", path, "at_byte", pos, "bytes_dropped", rec.BytesDropped, "reason", err)
			break
		}
		if e, ok := s.ix.add(base, pos, h); ok {
			s.index = append(s.index, e)
		}
		s.size += int64(h.size)
		s.next = h.next()
		s.maxTime = max(s.maxTime, h.maxTime)
		p.statBytes += int64(h.size)
		p.statRecs += int64(h.count)
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
