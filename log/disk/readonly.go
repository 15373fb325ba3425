package disk

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/flintml/flint/log"
)

// ErrReadOnly is what every call that would change a log opened with
// Config.ReadOnly fails with, wrapped with the operation and the topic or
// group. Test for it with errors.Is.
var ErrReadOnly = errors.New("disk: the log was opened read-only (Config.ReadOnly)")

// readOnlyPoll is how often a read of a read-only log that waits at the
// high watermark (ReadOptions.Wait) looks for new records: no append of the
// writer's process can wake it.
const readOnlyPoll = 10 * time.Millisecond

// refuse returns the error of a mutating call on a read-only log: op names
// the operation and its object, e.g. `append to topic "clicks"`.
func refuse(op string) error { return fmt.Errorf("disk: %s: %w", op, ErrReadOnly) }

// openReadOnly is Open for Config.ReadOnly: no lock, no background
// goroutines, nothing written.
func openReadOnly(cfg Config) (*Log, error) {
	fi, err := os.Stat(cfg.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("disk: open %s read-only: the log directory does not exist: %w", cfg.Dir, err)
	}
	if err != nil {
		return nil, fmt.Errorf("disk: open %s read-only: %w", cfg.Dir, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("disk: open %s read-only: not a directory", cfg.Dir)
	}
	l := &Log{
		cfg:     cfg,
		logger:  cfg.Logger,
		closing: make(chan struct{}),
		topics:  map[string]*topic{},
		stop:    func() {},
		syncs:   newSyncTimer(),
	}
	l.points = l.readRecoveryPoints()
	if err := l.openTopics(); err != nil {
		l.closeFiles()
		return nil, err
	}
	return l, nil
}

// isTopicDir says whether a name in Dir may be a topic's directory.
func isTopicDir(name string) bool {
	return name != groupsName && name != lockName && log.ValidTopicName(name) == nil
}

// discoverTopics loads into a read-only log the topics created since it
// looked last.
func (l *Log) discoverTopics() error {
	entries, err := os.ReadDir(l.cfg.Dir)
	if err != nil {
		return fmt.Errorf("disk: list topics: %w", err)
	}
	for _, e := range entries {
		if name := e.Name(); e.IsDir() && isTopicDir(name) {
			if _, ok := l.lookup(name); !ok {
				if _, err := l.loadNewTopic(name); err != nil && !errors.Is(err, log.ErrUnknownTopic) {
					return err
				}
			}
		}
	}
	return nil
}

// loadNewTopic loads into a read-only log a topic created after Open. It
// fails with log.ErrUnknownTopic while the topic has no topic.json, which
// the writer writes last.
func (l *Log) loadNewTopic(name string) (*topic, error) {
	unknown := fmt.Errorf("disk: topic %q: %w", name, log.ErrUnknownTopic)
	if !isTopicDir(name) {
		return nil, unknown
	}
	l.createMu.Lock()
	defer l.createMu.Unlock()
	if t, ok := l.lookup(name); ok {
		return t, nil
	}
	t, err := l.loadTopic(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, unknown
	}
	if err != nil {
		return nil, err
	}
	return l.addTopic(t, "open")
}

// unlinked says whether f's file was removed (by retention, for a
// segment): a descriptor keeps reading it, but no one else can.
func unlinked(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Nlink == 0
}

// badTail remembers the batch a read-only partition's scan last stopped at
// because it was malformed or failed its CRC, rather than incomplete.
type badTail struct {
	seg  *segment
	pos  int64 // its position
	size int64 // the segment's size when it was first seen bad
}

// stale says whether a read-only partition must look at the files before a
// read at offset: at or past its high watermark, or below its earliest
// offset (retention may have gone further since).
func (p *partition) stale(offset int64) bool {
	p.smu.RLock()
	defer p.smu.RUnlock()
	return offset >= p.hw || offset < p.earliest()
}

// refresh brings a read-only partition up to date with the files: batches
// appended to its last segment, segments created since (the writer rolled)
// and segments removed (retention). It verifies only the bytes it had not
// seen. When nothing changed it costs three stat calls: the first and last
// segments' descriptors, and the name a roll would create next.
func (p *partition) refresh() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	relist := len(p.segs) == 0 || unlinked(p.segs[0].f)
	if !relist {
		act := p.active()
		stopped, err := p.scanTail(act)
		if err != nil {
			return err
		}
		if stopped {
			// Stuck before a batch: a roll would say that the writer
			// finished with this segment, and so that it is damaged.
			relist = true
		} else if act.next != act.base {
			_, err := os.Stat(filepath.Join(p.dir, segmentName(act.next)))
			relist = err == nil
		}
	}
	if !relist {
		return nil
	}
	for attempt := 1; ; attempt++ {
		err := p.relist()
		if err == nil || !errors.Is(err, fs.ErrNotExist) || attempt == maxListAttempts {
			return err
		}
	}
}

// scanTail verifies and publishes what was appended to s, the active
// segment of a read-only partition, since the last look. It reports whether
// it stopped before the end, at a batch that is incomplete or bad: one the
// writer may be writing now. A bad batch seen at the same place again after
// the file grew is one the writer is done with, and so damage: that is a
// *CorruptionError. p.mu is held.
func (p *partition) scanTail(s *segment) (stopped bool, err error) {
	fi, err := s.f.Stat()
	if err != nil {
		return false, err
	}
	size := fi.Size()
	if size <= s.size {
		return false, nil
	}
	bad, err := p.scan(s, size, true)
	if err != nil {
		return false, err
	}
	if bad == nil || errors.Is(bad.Err, io.ErrUnexpectedEOF) {
		p.tail = badTail{}
		return bad != nil, nil
	}
	if p.tail.seg != s || p.tail.pos != bad.Offset {
		p.tail = badTail{seg: s, pos: bad.Offset, size: size}
	} else if size > p.tail.size {
		return false, bad
	}
	return true, nil
}

// relist lists the directory of a read-only partition: it opens the
// segments created after its last one, verifying what remained unseen of
// that one (which the writer finished before it created the next), and
// drops the segments retention removed, except the last until a newer one
// is found. p.mu is held.
func (p *partition) relist() error {
	bases, err := p.listSegments()
	if err != nil {
		return err
	}
	last := int64(-1)
	if len(p.segs) > 0 {
		last = p.active().base
	}
	for _, base := range bases {
		if base <= last {
			continue
		}
		path := filepath.Join(p.dir, segmentName(base))
		f, err := os.Open(path)
		if err != nil {
			return err // fs.ErrNotExist: retention came first
		}
		s := newSegment(base, path, f)
		if len(p.segs) > 0 {
			if err := p.seal(p.active(), s); err != nil {
				f.Close()
				return err
			}
		}
		p.smu.Lock()
		p.segs = append(p.segs, s)
		p.hw = s.next
		p.smu.Unlock()
		p.tail = badTail{}
		if _, err := p.scanTail(s); err != nil {
			return err
		}
	}
	n := 0 // segments to drop, a prefix
	for i, s := range p.segs[:max(len(p.segs)-1, 0)] {
		if unlinked(s.f) {
			n = i + 1
		}
	}
	if n > 0 {
		p.smu.Lock()
		dead := p.segs[:n]
		p.segs = slices.Clone(p.segs[n:])
		p.smu.Unlock()
		for _, s := range dead {
			s.release() // readers holding it keep reading the unlinked file
		}
	}
	return nil
}

// seal verifies the rest of prev, the last segment of a read-only
// partition until next was found after it: the writer finished prev before
// it created next, so a bad batch in it is damage.
func (p *partition) seal(prev, next *segment) error {
	fi, err := prev.f.Stat()
	if err != nil {
		return err
	}
	bad, err := p.scan(prev, fi.Size(), true)
	if err != nil {
		return err
	}
	if bad != nil {
		return bad
	}
	return checkContinues(prev, next)
}

// readCommitted is Committed on a read-only log: it reads the group's
// offsets file as it is now, the entry being written (if any) left out.
func (l *Log) readCommitted(group, topic string) (map[int]int64, error) {
	out := map[int]int64{}
	path := filepath.Join(l.cfg.Dir, groupsName, escapeGroup(group)+offsetsExt)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("disk: committed offsets of group %q: %w", group, err)
	}
	all := map[log.TopicPartition]int64{}
	decodeOffsetsEntries(b, all) // what follows the valid entries is not written yet
	for tp, off := range all {
		if tp.Topic == topic {
			out[tp.Partition] = off
		}
	}
	return out, nil
}

// readGroups is Groups on a read-only log: the groups with an offsets file.
func (l *Log) readGroups() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(l.cfg.Dir, groupsName))
	if errors.Is(err, fs.ErrNotExist) {
		return []string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("disk: list groups: %w", err)
	}
	names := []string{}
	for _, e := range entries {
		if fname, ok := strings.CutSuffix(e.Name(), offsetsExt); ok {
			if name, ok := unescapeGroup(fname); ok {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	return names, nil
}
