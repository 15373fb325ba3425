package disk

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/flintml/flint/log"
)

// File name suffixes of a segment and its indexes.
const (
	segExt = ".seg"
	idxExt = ".idx"
	tixExt = ".tix"
)

// segmentName is the file name of the segment whose first offset is base:
// zero-padded so that lexical order is offset order.
func segmentName(base int64) string { return fmt.Sprintf("%020d%s", base, segExt) }

// segment is one file of a partition.
type segment struct {
	base int64  // offset of its first record
	path string // the .seg file
	f    *os.File
	// refs counts the partition's segment list (one) and each reader in
	// flight; f is closed when it drops to zero, so retention never closes a
	// file under a reader.
	refs atomic.Int32

	// Written only with both partition.mu and partition.smu held; read with
	// either.
	size    int64        // bytes of whole batches
	next    int64        // offset after its last record
	maxTime int64        // greatest record time, math.MinInt64 when empty
	index   []indexEntry // sparse offset and time index

	// Used only with partition.mu held, and only while the segment is active.
	ix                     indexer
	idxFile, tixFile       *os.File // opened on the first flush
	idxPending, tixPending []byte   // index bytes not yet written
	// sum covers the first entries of index, for the recovery point; used
	// with partition.mu held.
	sum indexSum
}

// newSegment returns the segment of file f, at path, whose first offset is
// base, before any batch of it is accounted for (see partition.addBatch).
func newSegment(base int64, path string, f *os.File) *segment {
	s := &segment{base: base, path: path, f: f, next: base, maxTime: math.MinInt64, ix: newIndexer()}
	s.refs.Store(1)
	return s
}

func (s *segment) release() {
	if s.refs.Add(-1) == 0 {
		s.f.Close()
	}
}

// flushIndex writes the pending index entries of the active segment. The
// index files need not be durable (Open rebuilds them), so they are never
// fsynced.
func (s *segment) flushIndex() error {
	if len(s.idxPending) == 0 {
		return nil
	}
	idxPath, tixPath := segmentIndexPaths(s.path)
	var err error
	if s.idxFile == nil {
		if s.idxFile, err = os.OpenFile(idxPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err != nil {
			return err
		}
	}
	if s.tixFile == nil {
		if s.tixFile, err = os.OpenFile(tixPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err != nil {
			return err
		}
	}
	_, err1 := s.idxFile.Write(s.idxPending)
	_, err2 := s.tixFile.Write(s.tixPending)
	s.idxPending, s.tixPending = s.idxPending[:0], s.tixPending[:0]
	return errors.Join(err1, err2)
}

// closeIndex flushes, fsyncs with sync unless it is nil, and closes the
// index files of a segment that is no longer active (or of a log being
// closed).
func (s *segment) closeIndex(sync func(*os.File) error) error {
	err := s.flushIndex()
	for _, f := range []*os.File{s.idxFile, s.tixFile} {
		if f != nil {
			if sync != nil && err == nil {
				err = sync(f)
			}
			err = errors.Join(err, f.Close())
		}
	}
	s.idxFile, s.tixFile = nil, nil
	s.idxPending, s.tixPending = nil, nil
	return err
}

// partition is one partition of a topic: a list of segments, the last of
// which is active (appended to).
type partition struct {
	l     *Log
	topic *topic
	id    int
	dir   string

	// mu serializes writers: Append, roll, the bookkeeping of sync, and
	// retention. It is held across the write (and, for SyncEachAppend, the
	// fdatasync) of a batch, never while waiting for readers.
	mu       sync.Mutex
	buf      []byte // encoding buffer, reused by every Append
	failed   error  // a write or fsync failed: the partition refuses appends
	unsynced int64  // bytes written since the last fsync
	dirty    atomic.Bool
	// ahead asks the background syncer for a sync ahead of the interval
	// (see syncAheadBytes); set by the append that asked, cleared by the
	// syncer.
	ahead atomic.Bool
	// On a read-only log, mu serializes refresh instead, and guards tail.
	tail badTail

	// smu guards what readers see; it is held only to publish an append or
	// to take a snapshot, never across I/O.
	smu sync.RWMutex
	// segs lists the segments oldest first; the last is active. It is never
	// empty, except on a read-only log while a new topic's partition has
	// no segment yet.
	segs   []*segment
	hw     int64 // high watermark: offset of the next record
	notify chan struct{}
	// notifyUsed says a waiter holds notify, so the next append must close
	// and replace it. Readers set it holding smu.RLock (hence atomic); the
	// appender reads and clears it holding smu.Lock.
	notifyUsed atomic.Bool
	statBytes  int64 // bytes and records stored, to size reads
	statRecs   int64

	// damage, set by Open and never changed, isolates a damaged partition:
	// it has no segments and every operation returns damage.
	damage error

	// point is the recovery point to write, nil until a sync set it.
	point atomic.Pointer[recoveryPoint]

	// sealing is the segment a roll under SyncInterval left for the
	// background to seal (see sealRolled), nil when none is: at most one is, the
	// one before the active segment. It holds a reference to it. Set by
	// roll holding p.mu and sealMu, cleared holding sealMu.
	sealing atomic.Pointer[segment]
	// sealMu serializes sealRolled, so that whoever fsyncs the active segment
	// after sealing returns knows the segments before it are on stable
	// storage. Taken after p.mu when both are held, never before.
	sealMu sync.Mutex
}

func (p *partition) String() string { return fmt.Sprintf("%s/%d", p.topic.name, p.id) }

func (p *partition) active() *segment { return p.segs[len(p.segs)-1] }

// earliest is the partition's first offset. p.smu or p.mu is held.
func (p *partition) earliest() int64 {
	if len(p.segs) == 0 {
		return p.hw
	}
	return p.segs[0].base
}

// createSegment creates the empty segment file for base in dir.
func createSegment(dir string, base int64) (*segment, error) {
	path := filepath.Join(dir, segmentName(base))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create segment: %w", err)
	}
	// Index files of a previous life of this name (a crash during a roll)
	// would be appended to: start them empty too.
	idx, tix := segmentIndexPaths(path)
	for _, p := range []string{idx, tix} {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			f.Close()
			return nil, fmt.Errorf("create segment: %w", err)
		}
	}
	return newSegment(base, path, f), nil
}

// append writes recs[i] for each i of sel (all when sel is nil) as the
// partition's next batch(es), with one write call, and publishes them.
func (p *partition) append(recs []log.Record, sel []int32) error {
	if err := p.damaged(); err != nil {
		return err
	}
	cfg := &p.l.cfg
	p.mu.Lock()
	if p.failed != nil {
		p.mu.Unlock()
		return fmt.Errorf("disk: append to %s: an earlier write failed, reopen the log: %w", p, p.failed)
	}
	seg := p.active()
	buf, err := encodeBatches(p.buf[:0], seg.next, recs, sel, p.topic.name, p.id)
	if cap(buf) <= 2*maxBatchBytes {
		p.buf = buf // keep the buffer unless one huge Append grew it
	}
	if err != nil {
		p.mu.Unlock()
		return unappended(recs, sel, fmt.Errorf("disk: append to %s: %w", p, err))
	}
	if seg.size > 0 && seg.size+int64(len(buf)) > p.topic.segmentBytes {
		if seg, err = p.roll(); err != nil {
			p.mu.Unlock()
			return unappended(recs, sel, fmt.Errorf("disk: append to %s: roll segment: %w", p, err))
		}
	}
	if _, err := seg.f.WriteAt(buf, seg.size); err != nil {
		// Cut off whatever part was written, so the file still ends with a
		// whole batch; if even that fails, Open will.
		if terr := seg.f.Truncate(seg.size); terr != nil {
			p.failed = err
		}
		p.mu.Unlock()
		return unappended(recs, sel, fmt.Errorf("disk: append to %s: write %s at byte %d: %w", p, seg.path, seg.size, err))
	}
	if cfg.Sync == SyncEachAppend {
		if err := p.l.fsync(seg.f); err != nil {
			// After a failed fsync the state of the page cache is unknown:
			// refuse further appends rather than acknowledge on top of it.
			p.failed = err
			p.mu.Unlock()
			return unappended(recs, sel, fmt.Errorf("disk: append to %s: fdatasync %s: %w", p, seg.path, err))
		}
	}
	p.publish(seg, buf)
	p.unsynced += int64(len(buf))
	needSync := cfg.Sync == SyncInterval && cfg.SyncBytes > 0 && p.unsynced >= cfg.SyncBytes
	ahead := cfg.Sync == SyncInterval && !needSync && p.unsynced >= p.syncAheadBytes()
	if len(seg.idxPending) >= 64<<10 {
		if err := seg.flushIndex(); err != nil {
			p.l.logger.Warn("disk: write index", "segment", seg.path, "err", err)
		}
	}
	p.mu.Unlock()
	if cfg.Sync == SyncInterval {
		p.dirty.Store(true)
	}
	if ahead && !p.ahead.Swap(true) {
		select {
		case p.l.syncAhead <- struct{}{}:
		default: // the syncer is asked already
		}
	}
	if needSync {
		return p.sync()
	}
	return nil
}

// syncAheadBytes is the unsynced size at which an append under
// SyncInterval asks the background syncer to fsync the partition at once,
// without waiting for it: a quarter of the segment size, at most
// maxSyncAheadBytes. It keeps the fdatasync that seals a rolled segment
// (see sealRolled) down to what was written since, so that the segment
// waits less to be sealed, and the syncer does not fall a segment behind.
func (p *partition) syncAheadBytes() int64 {
	return min(p.topic.segmentBytes/4, maxSyncAheadBytes)
}

// maxSyncAheadBytes bounds syncAheadBytes.
const maxSyncAheadBytes = 8 << 20

// unappended clears the Topic that encodeBatches set on recs[i] for each i
// of sel (all when sel is nil), whose batch was not written, so that the
// caller of a failed Append can tell them from the records of the
// partitions that were; it returns err.
func unappended(recs []log.Record, sel []int32, err error) error {
	if sel == nil {
		for i := range recs {
			recs[i].Topic = ""
		}
		return err
	}
	for _, i := range sel {
		recs[i].Topic = ""
	}
	return err
}

// publish makes the batches in buf, just written at the end of seg, visible
// to readers, and wakes the readers waiting for them. p.mu is held.
func (p *partition) publish(seg *segment, buf []byte) {
	p.smu.Lock()
	defer p.smu.Unlock()
	for off := 0; off < len(buf); {
		h, _ := parseHeader(buf[off:]) // we just encoded it
		if e, ok := p.addBatch(seg, seg.size, h); ok {
			seg.idxPending = appendIdx(seg.idxPending, e)
			seg.tixPending = appendTix(seg.tixPending, e)
		}
		off += h.size
	}
	p.hw = seg.next
	if p.notifyUsed.Load() {
		close(p.notify)
		p.notify = make(chan struct{})
		p.notifyUsed.Store(false)
	}
}

// addBatch accounts for the batch h, written or verified at byte pos of s
// (the segment's end): its index entry, if it gets one (returned), the
// segment's size, next offset and newest time, and the partition's
// statistics. Open calls it before the partition is shared; otherwise p.mu
// and p.smu are held.
func (p *partition) addBatch(s *segment, pos int64, h batchHeader) (indexEntry, bool) {
	e, ok := s.ix.add(s.base, pos, h)
	if ok {
		s.index = append(s.index, e)
	}
	s.size = pos + int64(h.size)
	s.next = h.next()
	s.maxTime = max(s.maxTime, h.maxTime)
	p.statBytes += int64(h.size)
	p.statRecs += int64(h.count)
	return e, ok
}

// roll starts a new segment at the high watermark after the active one.
// Under SyncEachAppend it seals the old one first (its index files
// fsynced, its data already is) and fsyncs the directory before returning,
// since the next acknowledged append must survive a power failure. Under
// SyncInterval it only writes the old one's pending index entries, and
// leaves it to sealRolled, which the background syncer calls at once: the
// append that rolls waits for no fsync. doc.go's "Durability" says why
// recovery still loses only a suffix. p.mu is held.
func (p *partition) roll() (*segment, error) {
	old := p.active()
	switch p.l.cfg.Sync {
	case SyncUnsafeNever:
		if err := old.closeIndex(nil); err != nil {
			p.l.logger.Warn("disk: write index", "segment", old.path, "err", err)
		}
	case SyncEachAppend:
		if err := old.closeIndex(p.l.fsync); err != nil {
			p.l.logger.Warn("disk: write index", "segment", old.path, "err", err)
		}
		if err := p.l.fsync(old.f); err != nil {
			p.failed = err
			return nil, fmt.Errorf("fdatasync %s: %w", old.path, err)
		}
	case SyncInterval:
		if err := old.flushIndex(); err != nil {
			p.l.logger.Warn("disk: write index", "segment", old.path, "err", err)
		}
	}
	ns, err := createSegment(p.dir, old.next)
	if err != nil {
		return nil, err
	}
	if p.l.cfg.Sync == SyncEachAppend {
		if err := syncDir(p.dir); err != nil {
			ns.release()
			os.Remove(ns.path)
			return nil, err
		}
	}
	if p.l.cfg.Sync == SyncInterval {
		// At most one segment waits to be sealed: the one before this, if
		// the syncer has not got to it in a whole segment's appends, is
		// sealed here (holding p.mu, as before this change every roll did).
		p.sealMu.Lock()
		err := p.sealRolledLocked()
		if err == nil {
			old.refs.Add(1)
			p.sealing.Store(old)
		}
		p.sealMu.Unlock()
		if err != nil {
			p.failed = err // a failed fsync: as for the active segment's
			ns.release()
			os.Remove(ns.path)
			return nil, err
		}
		p.ahead.Store(true)
		select {
		case p.l.syncAhead <- struct{}{}:
		default: // the syncer is asked already
		}
	}
	p.smu.Lock()
	p.segs = append(p.segs, ns)
	p.smu.Unlock()
	return ns, nil
}

// sealRolled puts the segment a roll left behind under SyncInterval, if any, on
// stable storage: its data and index files fdatasynced, then the
// directory fsynced (which holds the active segment's new entry). Whoever
// fsyncs the active segment calls it first, so that no segment is synced
// before the one before it is. A failure makes the partition refuse
// appends, as a failed fsync of the active segment does. p.mu is not held.
func (p *partition) sealRolled() error {
	p.sealMu.Lock()
	err := p.sealRolledLocked()
	p.sealMu.Unlock() // before p.mu: roll takes them the other way round
	if err != nil {
		p.mu.Lock()
		p.failed = err
		p.mu.Unlock()
		return err
	}
	return nil
}

// sealRolledLocked is sealRolled with p.sealMu held (and p.mu held or not); it leaves
// setting p.failed to its caller.
func (p *partition) sealRolledLocked() error {
	s := p.sealing.Load()
	if s == nil {
		return nil
	}
	err := s.closeIndex(p.l.fsync)
	if err == nil {
		if err = p.l.fsync(s.f); err != nil {
			err = fmt.Errorf("fdatasync %s: %w", s.path, err)
		}
	}
	if err == nil {
		err = syncDir(p.dir)
	}
	if err != nil {
		return fmt.Errorf("seal %s: %w", s.path, err)
	}
	p.sealing.Store(nil)
	s.release()
	return nil
}

// sync fsyncs what was appended to the partition so far. The fdatasync runs
// without p.mu, so appends go on meanwhile.
func (p *partition) sync() error {
	p.mu.Lock()
	if p.failed != nil {
		p.mu.Unlock()
		return nil // already reported, and every append now fails
	}
	seg := p.active()
	seg.refs.Add(1)
	if err := seg.flushIndex(); err != nil {
		p.l.logger.Warn("disk: write index", "segment", seg.path, "err", err)
	}
	p.unsynced = 0
	p.mu.Unlock()
	defer seg.release()
	// The segments before seg first (see sealRolled); a roll since seg was taken
	// leaves seg itself to seal, which is as good.
	if err := p.sealRolled(); err != nil {
		return fmt.Errorf("disk: sync %s: %w", p, err)
	}
	if err := p.l.fsync(seg.f); err != nil {
		p.mu.Lock()
		p.failed = err
		p.mu.Unlock()
		return fmt.Errorf("disk: sync %s: fdatasync %s: %w", p, seg.path, err)
	}
	return nil
}

// close flushes, fsyncs (unless the policy is SyncUnsafeNever) and closes the
// partition's files. No operation may be in flight.
func (p *partition) close() error {
	if p.damaged() != nil {
		return nil // it has no files open
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.segs) == 0 {
		return nil // closed already
	}
	if p.l.cfg.ReadOnly {
		p.smu.Lock()
		for _, s := range p.segs {
			s.release()
		}
		p.segs = nil
		p.smu.Unlock()
		return nil
	}
	seg := p.active()
	sync := p.l.cfg.Sync != SyncUnsafeNever && p.failed == nil
	var syncFn func(*os.File) error
	if sync {
		syncFn = p.l.fsync
	}
	var err error
	p.sealMu.Lock()
	if sync {
		err = p.sealRolledLocked()
	}
	if s := p.sealing.Swap(nil); s != nil {
		// Not sealed: its index files are closed unsynced, and a failed
		// sync (or an earlier failure) keeps the point from covering it.
		sync = false
		err = errors.Join(err, s.closeIndex(nil))
		s.release()
	}
	p.sealMu.Unlock()
	err = errors.Join(err, seg.closeIndex(syncFn))
	if sync {
		if serr := p.l.fsync(seg.f); serr != nil {
			err = errors.Join(err, fmt.Errorf("fdatasync %s: %w", seg.path, serr))
		}
	}
	if sync && err == nil {
		rp := p.pointLocked()
		p.point.Store(&rp)
	} else {
		p.point.Store(nil)
	}
	p.smu.Lock()
	for _, s := range p.segs {
		s.release()
	}
	p.segs = nil
	p.smu.Unlock()
	if err != nil {
		return fmt.Errorf("disk: close %s: %w", p, err)
	}
	return nil
}

// info returns the partition's offset range.
func (p *partition) info() log.PartitionInfo {
	p.smu.RLock()
	defer p.smu.RUnlock()
	return log.PartitionInfo{ID: p.id, Earliest: p.earliest(), Latest: p.hw}
}

// bytes returns the size of the partition's segments.
func (p *partition) bytes() int64 {
	p.smu.RLock()
	defer p.smu.RUnlock()
	var n int64
	for _, s := range p.segs {
		n += s.size
	}
	return n
}
