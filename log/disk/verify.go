package disk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// PartitionCheck is what Verify found in one partition.
type PartitionCheck struct {
	Topic     string
	Partition int
	Segments  int   // segment files
	Batches   int64 // intact batches before any damage
	Bytes     int64 // their bytes
	Earliest  int64 // the partition's first offset
	Next      int64 // offset after the last intact record before any damage
	// TornTail is an incomplete or bad batch at the end of the last
	// segment with nothing intact after it: what a crash leaves, and what
	// the next writable Open truncates (beside a running writer, possibly
	// a batch it is writing). It is not damage.
	TornTail *CorruptionError
	// Damage is the first damage found, nil if none: what isolates the
	// partition when the log is opened.
	Damage *CorruptionError
	// Loss is what Repair drops to remove Damage; nil when Damage is.
	Loss *Loss
}

// Loss is what truncating a partition at its damage drops.
type Loss struct {
	// Truncate is the segment cut at byte At, "" when the damage is at the
	// start of a segment that is not the partition's first, which is then
	// removed whole with the segments after it.
	Truncate string
	At       int64
	Removed  []string // segment files removed whole
	Bytes    int64    // bytes dropped, in all of them
	// FirstOffset is the first offset lost: the high watermark after the
	// repair, and the offset the next append gets. EndOffset is the offset
	// after the last record known lost: the last record of the intact
	// batches after the damage. EndOffset equals FirstOffset when no intact
	// batch follows the damage, so the count of records lost is unknown.
	FirstOffset, EndOffset int64
}

// Damaged reports whether any check found damage.
func Damaged(checks []PartitionCheck) bool {
	return slices.ContainsFunc(checks, func(c PartitionCheck) bool { return c.Damage != nil })
}

// Verify reads every batch of every segment of the log in dir, ignoring
// any recovery point, and reports per partition, in topic and partition
// order, what it found. It takes no lock and changes nothing, so it may run
// beside a writer (whose batch in progress then shows as a torn tail). An
// error is one that kept it from checking: dir missing, a file unreadable.
func Verify(ctx context.Context, dir string) ([]PartitionCheck, error) {
	topics, err := listTopics(dir)
	if err != nil {
		return nil, err
	}
	var out []PartitionCheck
	for _, t := range topics {
		for id := range t.parts {
			if err := ctx.Err(); err != nil {
				return out, err
			}
			c, err := verifyPartition(filepath.Join(dir, t.name, strconv.Itoa(id)), t.name, id)
			if err != nil {
				return out, err
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// listTopics reads the metadata of the topics of the log in dir.
func listTopics(dir string) ([]*topic, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("disk: verify %s: the log directory does not exist", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("disk: verify: %w", err)
	}
	l := &Log{cfg: Config{Dir: dir}.withDefaults()}
	var out []*topic
	for _, e := range entries {
		if !e.IsDir() || !isTopicDir(e.Name()) {
			continue
		}
		t, err := l.loadTopic(e.Name())
		if errors.Is(err, fs.ErrNotExist) {
			continue // no topic.json: an interrupted CreateTopic
		}
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// segmentFiles lists the segment files of a partition directory, oldest
// first.
func segmentFiles(pdir string) ([]string, error) {
	entries, err := os.ReadDir(pdir)
	if err != nil {
		return nil, fmt.Errorf("disk: verify: %w", err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), segExt) {
			out = append(out, filepath.Join(pdir, e.Name()))
		}
	}
	slices.Sort(out)
	return out, nil
}

// verifyPartition checks every segment of the partition in pdir.
func verifyPartition(pdir, topicName string, id int) (PartitionCheck, error) {
	c := PartitionCheck{Topic: topicName, Partition: id}
	paths, err := segmentFiles(pdir)
	if err != nil {
		return c, err
	}
	c.Segments = len(paths)
	for i, path := range paths {
		base, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(path), segExt), 10, 64)
		if err != nil || base < 0 {
			return c, fmt.Errorf("disk: verify: unexpected segment file %s", path)
		}
		if i == 0 {
			c.Earliest, c.Next = base, base
		} else if base != c.Next {
			c.Damage = &CorruptionError{Segment: path, Offset: 0,
				Err: fmt.Errorf("%w: segment starts at offset %d but the previous one, %s, ends at %d", ErrMalformed, base, paths[i-1], c.Next)}
			c.Loss, err = lossFrom(paths, i, 0, c.Next)
			return c, err
		}
		bad, err := verifySegment(&c, path, i == len(paths)-1)
		if err != nil {
			return c, err
		}
		if bad != nil {
			c.Damage = bad
			c.Loss, err = lossFrom(paths, i, bad.Offset, c.Next)
			return c, err
		}
	}
	return c, nil
}

// verifySegment checks the batches of one segment, adding the intact ones
// to c, and returns the damage it finds. A torn tail of the last segment
// goes into c.TornTail instead.
func verifySegment(c *PartitionCheck, path string, last bool) (*CorruptionError, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("disk: verify: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("disk: verify: %w", err)
	}
	sc := newScanner(f, 0, fi.Size(), scanChunk)
	for {
		pos, h, batch, err := sc.next()
		if err == io.EOF {
			return nil, nil
		}
		if err == nil {
			err = validateBatch(batch, h)
			if err == nil && h.base != c.Next {
				return &CorruptionError{Segment: path, Offset: pos,
					Err: fmt.Errorf("%w: batch has offsets %d to %d, expected %d next", ErrMalformed, h.base, h.next()-1, c.Next)}, nil
			}
		}
		if pe := (*os.PathError)(nil); errors.As(err, &pe) {
			return nil, fmt.Errorf("disk: verify: %w", err)
		}
		if err != nil {
			bad := &CorruptionError{Segment: path, Offset: pos, Err: err}
			if !last {
				return bad, nil
			}
			dmg, ierr := notTorn(f, bad, fi.Size(), c.Next)
			if ierr != nil {
				return nil, fmt.Errorf("disk: verify %s: %w", path, ierr)
			}
			if dmg == nil {
				c.TornTail = bad
			}
			return dmg, nil
		}
		c.Batches++
		c.Bytes += int64(h.size)
		c.Next = h.next()
	}
}

// lossFrom is what truncating the partition at byte at of paths[i] drops;
// first is the offset the damage starts at.
func lossFrom(paths []string, i int, at, first int64) (*Loss, error) {
	loss := &Loss{Truncate: paths[i], At: at, FirstOffset: first, EndOffset: first}
	if at == 0 && i > 0 {
		loss.Truncate = ""
	}
	for j := i; j < len(paths); j++ {
		from := int64(0)
		if j == i {
			from = at
		}
		end, size, err := intactEndOf(paths[j], from, loss.EndOffset)
		if err != nil {
			return nil, err
		}
		loss.EndOffset = max(loss.EndOffset, end)
		loss.Bytes += size - from
		if j > i || loss.Truncate == "" {
			loss.Removed = append(loss.Removed, paths[j])
		}
	}
	return loss, nil
}

// intactEndOf returns intactEnd of the file at path from byte from, and the
// file's size.
func intactEndOf(path string, from, minBase int64) (end, size int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("disk: verify: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, fmt.Errorf("disk: verify: %w", err)
	}
	end, err = intactEnd(f, from, fi.Size(), minBase)
	if err != nil {
		return 0, 0, fmt.Errorf("disk: verify %s: %w", path, err)
	}
	return end, fi.Size(), nil
}

// Repair truncates every damaged partition of the log in dir at its damage
// (Loss says what that drops) and returns the checks it acted on, as
// Verify makes them. It takes the log's lock, so it fails with ErrLocked
// while the log is open for writing. Torn tails are left to Open. The
// offsets dropped are given again to the next records appended, and group
// offsets committed past the new high watermark are left as they are.
func Repair(ctx context.Context, dir string) ([]PartitionCheck, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("disk: repair %s: the log directory does not exist", dir)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	defer unlockDir(lock)
	checks, err := Verify(ctx, dir)
	if err != nil {
		return nil, err
	}
	for _, c := range checks {
		if c.Loss == nil {
			continue
		}
		// Forgotten first: a recovery point must never cover bytes that
		// are no longer there.
		if err := forgetRecoveryPoint(dir, c.Topic, c.Partition); err != nil {
			return checks, fmt.Errorf("disk: repair %s/%d: forget its recovery point: %w", c.Topic, c.Partition, err)
		}
		if err := applyLoss(c.Loss); err != nil {
			return checks, fmt.Errorf("disk: repair %s/%d: %w", c.Topic, c.Partition, err)
		}
	}
	return checks, nil
}

// applyLoss truncates and removes the files loss names, with their index
// files (Open rebuilds them), and makes that durable.
func applyLoss(loss *Loss) error {
	var pdir string
	for _, path := range loss.Removed {
		pdir = filepath.Dir(path)
		idx, tix := segmentIndexPaths(path)
		for _, p := range []string{path, idx, tix} {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	if loss.Truncate != "" {
		pdir = filepath.Dir(loss.Truncate)
		f, err := os.OpenFile(loss.Truncate, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		err = f.Truncate(loss.At)
		if err == nil {
			err = fdatasync(f)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("truncate %s at byte %d: %w", loss.Truncate, loss.At, err)
		}
		idx, tix := segmentIndexPaths(loss.Truncate)
		for _, p := range []string{idx, tix} {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return syncDir(pdir)
}
