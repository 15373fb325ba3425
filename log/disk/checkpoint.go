package disk

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flintml/flint/log"
)

// The recovery points, as Kafka's recovery-point-offset-checkpoint: per
// partition, the place up to which its segments and their index files are
// known to be on stable storage and clean. Open trusts what lies before it
// (rebuilding nothing and checking no CRC there) and verifies only what
// lies after, so opening costs what was written since the last checkpoint,
// not what is stored. doc.go's "Recovery points" describes the file.

// recoveryPointsName is the file in Dir that holds the recovery points.
// It is reserved: no topic may take the name.
const recoveryPointsName = ".recovery-points"

// recoveryPointsHeader is the first line of the file: its format, version 1.
const recoveryPointsHeader = "flint-recovery-points 1"

// recoveryPoint says that every segment of a partition whose base offset is
// below base, and the first pos bytes of the segment whose base offset is
// base (which end at offset next), hold whole, valid batches on stable
// storage, with their index entries written and synced.
//
// segs holds, for every segment up to that one, by base offset, what Open
// needs to take it up without reading it: its size, next offset and newest
// record time, and the count and CRC-32C of its index entries, so that the
// index files are trusted only as they were when the point was set.
type recoveryPoint struct {
	base, pos, next int64
	segs            map[int64]segPoint
}

// segPoint is a segment's state when a recovery point was set.
type segPoint struct {
	sum                 indexSum
	size, next, maxTime int64
}

// indexSum is the count of a segment's first index entries and the CRC-32C
// of their encoding (the .idx entry then the .tix entry of each).
type indexSum struct {
	n   int
	crc uint32
}

// sumEntries extends sum, over the first sum.n of entries, to the first n.
func sumEntries(sum indexSum, entries []indexEntry, n int) indexSum {
	var b []byte
	for _, e := range entries[sum.n:n] {
		b = appendTix(appendIdx(b, e), e)
	}
	return indexSum{n: n, crc: crc32.Update(sum.crc, castagnoli, b)}
}

// pointLocked is the recovery point at the end of the partition, once its
// active segment and index files are synced. p.mu is held.
func (p *partition) pointLocked() recoveryPoint {
	act := p.active()
	rp := recoveryPoint{base: act.base, pos: act.size, next: act.next, segs: make(map[int64]segPoint, len(p.segs))}
	for _, s := range p.segs {
		if s.sum.n < len(s.index) {
			s.sum = sumEntries(s.sum, s.index, len(s.index))
		}
		rp.segs[s.base] = segPoint{sum: s.sum, size: s.size, next: s.next, maxTime: s.maxTime}
	}
	return rp
}

// readRecoveryPoints reads the recovery points of the log in dir. A
// missing file means none; a damaged one is logged and ignored, so that
// Open checks everything, as it would without it.
func (l *Log) readRecoveryPoints() map[log.TopicPartition]recoveryPoint {
	path := filepath.Join(l.cfg.Dir, recoveryPointsName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var points map[log.TopicPartition]recoveryPoint
	if err == nil {
		points, err = parseRecoveryPoints(b)
	}
	if err != nil {
		l.logger.Warn("disk: ignoring the recovery points; Open checks every segment", "file", path, "err", err)
		return nil
	}
	return points
}

// parseRecoveryPoints decodes the recovery points file: the header line,
// then "TOPIC PARTITION BASE POS NEXT" lines, then "crc32c HEX", the
// CRC-32C of everything before that line.
func parseRecoveryPoints(b []byte) (map[log.TopicPartition]recoveryPoint, error) {
	i := bytes.LastIndex(b, []byte("crc32c "))
	if i < 0 {
		return nil, errors.New("no crc32c line")
	}
	want, err := strconv.ParseUint(strings.TrimSpace(string(b[i+len("crc32c "):])), 16, 32)
	if err != nil {
		return nil, fmt.Errorf("bad crc32c line at byte %d", i)
	}
	if got := crc32.Checksum(b[:i], castagnoli); uint32(want) != got {
		return nil, fmt.Errorf("checksum mismatch: stored %08x, computed %08x", want, got)
	}
	sc := bufio.NewScanner(bytes.NewReader(b[:i]))
	if !sc.Scan() || sc.Text() != recoveryPointsHeader {
		return nil, fmt.Errorf("first line is not %q", recoveryPointsHeader)
	}
	points := map[log.TopicPartition]recoveryPoint{}
	line := 1
	for sc.Scan() {
		line++
		var tp log.TopicPartition
		var k int
		rp := recoveryPoint{segs: map[int64]segPoint{}}
		if _, err := fmt.Sscanf(sc.Text(), "%s %d %d %d %d %d", &tp.Topic, &tp.Partition, &rp.base, &rp.pos, &rp.next, &k); err != nil {
			return nil, fmt.Errorf("line %d: %v", line, err)
		}
		for range k {
			line++
			var base int64
			var sp segPoint
			if !sc.Scan() {
				return nil, fmt.Errorf("line %d: missing", line)
			}
			if _, err := fmt.Sscanf(sc.Text(), "%d %d %x %d %d %d", &base, &sp.sum.n, &sp.sum.crc, &sp.size, &sp.next, &sp.maxTime); err != nil {
				return nil, fmt.Errorf("line %d: %v", line, err)
			}
			rp.segs[base] = sp
		}
		points[tp] = rp
	}
	return points, nil
}

// formatRecoveryPoints encodes points as parseRecoveryPoints reads them,
// in topic and partition order.
func formatRecoveryPoints(points map[log.TopicPartition]recoveryPoint) []byte {
	tps := make([]log.TopicPartition, 0, len(points))
	for tp := range points {
		tps = append(tps, tp)
	}
	slices.SortFunc(tps, func(a, b log.TopicPartition) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return a.Partition - b.Partition
	})
	var b bytes.Buffer
	b.WriteString(recoveryPointsHeader + "\n")
	for _, tp := range tps {
		rp := points[tp]
		fmt.Fprintf(&b, "%s %d %d %d %d %d\n", tp.Topic, tp.Partition, rp.base, rp.pos, rp.next, len(rp.segs))
		bases := make([]int64, 0, len(rp.segs))
		for base := range rp.segs {
			bases = append(bases, base)
		}
		slices.Sort(bases)
		for _, base := range bases {
			sp := rp.segs[base]
			fmt.Fprintf(&b, "%d %d %08x %d %d %d\n", base, sp.sum.n, sp.sum.crc, sp.size, sp.next, sp.maxTime)
		}
	}
	fmt.Fprintf(&b, "crc32c %08x\n", crc32.Checksum(b.Bytes(), castagnoli))
	return b.Bytes()
}

// writeRecoveryPoints replaces the recovery points file with the points of
// the partitions that have one.
func (l *Log) writeRecoveryPoints() error {
	points := map[log.TopicPartition]recoveryPoint{}
	for _, p := range l.allPartitions() {
		if rp := p.point.Load(); rp != nil {
			points[log.TopicPartition{Topic: p.topic.name, Partition: p.id}] = *rp
		}
	}
	if err := writeFileAtomic(filepath.Join(l.cfg.Dir, recoveryPointsName), formatRecoveryPoints(points), false); err != nil {
		return fmt.Errorf("disk: write recovery points: %w", err)
	}
	return nil
}

// forgetRecoveryPoint removes a partition's recovery point from the file
// of the log in dir, so that the next Open checks all of it.
func forgetRecoveryPoint(dir, topicName string, id int) error {
	path := filepath.Join(dir, recoveryPointsName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	points, err := parseRecoveryPoints(b)
	if err != nil {
		return os.Remove(path) // Open would ignore it anyway
	}
	delete(points, log.TopicPartition{Topic: topicName, Partition: id})
	return writeFileAtomic(path, formatRecoveryPoints(points), false)
}

// checkpointLoop advances and writes the recovery points every
// Config.RecoveryPointEvery.
func (l *Log) checkpointLoop(ctx context.Context) {
	defer l.wg.Done()
	tick := time.NewTicker(l.cfg.RecoveryPointEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		moved := false
		for _, p := range l.allPartitions() {
			m, err := p.advancePoint()
			if err != nil {
				l.logger.Error("disk: sync for the recovery point failed; the partition refuses appends until the log is reopened", "partition", p.String(), "err", err)
			}
			moved = moved || m
		}
		if moved {
			if err := l.writeRecoveryPoints(); err != nil {
				l.logger.Error("disk: recovery points not written; the next Open checks more", "err", err)
			}
		}
	}
}

// advancePoint syncs the partition's active segment and index files and
// moves its recovery point to their end; it reports whether it moved.
func (p *partition) advancePoint() (bool, error) {
	if p.damaged() != nil {
		return false, nil
	}
	p.mu.Lock()
	seg := p.active()
	if old := p.point.Load(); p.failed != nil || (old != nil && old.base == seg.base && old.pos == seg.size) {
		p.mu.Unlock()
		return false, nil
	}
	rp := p.pointLocked()
	// The index files are small: sync them holding p.mu, which keeps a
	// roll from closing them meanwhile. The segment is synced without it.
	err := seg.syncIndex(p.l.fsync)
	if err == nil {
		seg.refs.Add(1)
	}
	p.mu.Unlock()
	if err != nil {
		return false, p.fail(err)
	}
	defer seg.release()
	if err := p.sealRolled(); err != nil { // the segments before seg first
		return false, p.fail(err)
	}
	if err := p.l.fsync(seg.f); err != nil {
		return false, p.fail(fmt.Errorf("fdatasync %s: %w", seg.path, err))
	}
	p.point.Store(&rp)
	return true, nil
}

// fail makes the partition refuse appends after a failed sync.
func (p *partition) fail(err error) error {
	p.mu.Lock()
	p.failed = err
	p.mu.Unlock()
	p.point.Store(nil)
	return fmt.Errorf("disk: sync %s: %w", p, err)
}

// syncIndex writes the pending index entries of the active segment and
// fsyncs its index files. p.mu is held.
func (s *segment) syncIndex(sync func(*os.File) error) error {
	if err := s.flushIndex(); err != nil {
		return fmt.Errorf("write index of %s: %w", s.path, err)
	}
	for _, f := range []*os.File{s.idxFile, s.tixFile} {
		if f != nil {
			if err := sync(f); err != nil {
				return fmt.Errorf("fdatasync %s: %w", f.Name(), err)
			}
		}
	}
	return nil
}

// resume sets s, a segment of size bytes just opened, up to go on from its
// recovery point instead of from byte 0: its state and index as they were
// at the point, the index read from its files. It reports whether it did;
// the caller then verifies from s.size on (nothing, for a segment before
// the point's), and starts over from 0 if the batch there is not what the
// point says.
func (p *partition) resume(s *segment, size int64, rp recoveryPoint, ok bool) bool {
	sp, have := rp.segs[s.base]
	switch {
	case !ok || !have || s.base > rp.base || sp.size > size || sp.next < s.base:
		return false
	case s.base == rp.base && (sp.size != rp.pos || sp.next != rp.next):
		return false
	case s.base < rp.base && sp.size != size:
		return false // a segment before the point's changed since
	}
	entries, err := loadIndex(s.path, sp.size)
	if err != nil || len(entries) == 0 || len(entries) != sp.sum.n || sumEntries(indexSum{}, entries, len(entries)) != sp.sum {
		return false // the index files changed since the point was set
	}
	s.index = slices.Clip(entries)
	s.sum = sp.sum
	s.ix = indexer{lastPos: int64(entries[len(entries)-1].pos), maxTime: sp.maxTime}
	s.size, s.next, s.maxTime = sp.size, sp.next, sp.maxTime
	p.statBytes += s.size
	p.statRecs += s.next - s.base
	return true
}

// unresume undoes resume, for a verification from byte 0.
func (p *partition) unresume(s *segment, statBytes, statRecs int64) {
	s.index, s.ix, s.sum = nil, newIndexer(), indexSum{}
	s.size, s.next, s.maxTime = 0, s.base, math.MinInt64
	p.statBytes, p.statRecs = statBytes, statRecs
}

// loadIndex reads the index entries of the segment at segPath whose
// position is below limit, checking that the two files agree and that
// positions and offsets increase from the first batch on.
func loadIndex(segPath string, limit int64) ([]indexEntry, error) {
	idxPath, tixPath := segmentIndexPaths(segPath)
	idx, err := os.ReadFile(idxPath)
	if err != nil {
		return nil, err
	}
	tix, err := os.ReadFile(tixPath)
	if err != nil {
		return nil, err
	}
	if len(idx)%idxEntrySize != 0 || len(tix)%tixEntrySize != 0 || len(idx)/idxEntrySize != len(tix)/tixEntrySize {
		return nil, fmt.Errorf("index files of %s have %d and %d bytes", segPath, len(idx), len(tix))
	}
	var out []indexEntry
	for i := 0; i < len(idx)/idxEntrySize; i++ {
		e := indexEntry{
			rel:       binary.LittleEndian.Uint32(idx[i*idxEntrySize:]),
			pos:       binary.LittleEndian.Uint32(idx[i*idxEntrySize+4:]),
			maxBefore: int64(binary.LittleEndian.Uint64(tix[i*tixEntrySize:])),
		}
		if int64(e.pos) >= limit {
			break
		}
		first := i == 0 && (e.rel != 0 || e.pos != 0 || e.maxBefore != math.MinInt64)
		if first || binary.LittleEndian.Uint32(tix[i*tixEntrySize+8:]) != e.rel {
			return nil, fmt.Errorf("index entry %d of %s is inconsistent", i, segPath)
		}
		if n := len(out); n > 0 && (e.rel <= out[n-1].rel || e.pos < out[n-1].pos+indexInterval || e.maxBefore < out[n-1].maxBefore) {
			return nil, fmt.Errorf("index entry %d of %s is out of order", i, segPath)
		}
		out = append(out, e)
	}
	return out, nil
}
