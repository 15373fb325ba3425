package disk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"sort"
)

// indexInterval is the spacing of the sparse indexes: a batch gets an entry
// when it starts at least this many bytes after the batch of the previous
// entry (and the first batch of a segment always gets one).
const indexInterval = 4096

// Sizes of one entry in the .idx and .tix files.
const (
	idxEntrySize = 8  // rel uint32 | pos uint32
	tixEntrySize = 12 // maxBefore int64 | rel uint32
)

// indexEntry is one entry of a segment's sparse indexes, kept in memory for
// every segment (16 bytes per ~4 KiB of records).
type indexEntry struct {
	rel uint32 // first offset of the batch, minus the segment's base offset
	pos uint32 // byte position of the batch in the segment file
	// maxBefore is the greatest record time (unix ns) of the batches of the
	// segment before this one: math.MinInt64 for the first.
	maxBefore int64
}

// indexer decides where index entries go. Fed the batches of a segment in
// order, it produces the same entries whether they are written by Append or
// rebuilt by Open, which is what lets Open compare the files with a rebuild.
type indexer struct {
	lastPos int64 // position of the last entry's batch, -1 before the first
	maxTime int64 // greatest record time so far
}

func newIndexer() indexer { return indexer{lastPos: -1, maxTime: math.MinInt64} }

// add accounts for the batch h at pos of the segment whose base offset is
// base, and returns its index entry if it gets one.
func (ix *indexer) add(base, pos int64, h batchHeader) (indexEntry, bool) {
	defer func() { ix.maxTime = max(ix.maxTime, h.maxTime) }()
	if ix.lastPos >= 0 && pos-ix.lastPos < indexInterval {
		return indexEntry{}, false
	}
	ix.lastPos = pos
	return indexEntry{rel: uint32(h.base - base), pos: uint32(pos), maxBefore: ix.maxTime}, true
}

func appendIdx(dst []byte, e indexEntry) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, e.rel)
	return binary.LittleEndian.AppendUint32(dst, e.pos)
}

func appendTix(dst []byte, e indexEntry) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, uint64(e.maxBefore))
	return binary.LittleEndian.AppendUint32(dst, e.rel)
}

// lookupOffset returns the index of the last entry whose offset is at or
// before rel (relative to the segment's base). entries must not be empty.
func lookupOffset(entries []indexEntry, rel int64) int {
	i := sort.Search(len(entries), func(i int) bool { return int64(entries[i].rel) > rel })
	return max(i-1, 0)
}

// lookupTime returns the index of the entry to scan from for the first
// record whose time is at or after ts: the last entry before which every
// record of the segment is older than ts.
func lookupTime(entries []indexEntry, ts int64) int {
	// maxBefore never decreases, so the entries with maxBefore < ts form a
	// prefix; the first record at or after ts lies after the last of them.
	i := sort.Search(len(entries), func(i int) bool { return entries[i].maxBefore >= ts })
	return max(i-1, 0)
}

// segmentIndexPaths returns the .idx and .tix paths of a segment file.
func segmentIndexPaths(segPath string) (idx, tix string) {
	stem := segPath[:len(segPath)-len(segExt)]
	return stem + idxExt, stem + tixExt
}

// reconcileIndexFiles makes the .idx and .tix files of segPath hold exactly
// entries, rewriting a file that is missing or differs, and reports which
// files it rewrote. The files are only ever trusted this way: compared with
// a rebuild from the segment.
func reconcileIndexFiles(segPath string, entries []indexEntry, noSync bool) (rewritten []string, err error) {
	idxPath, tixPath := segmentIndexPaths(segPath)
	idx := make([]byte, 0, len(entries)*idxEntrySize)
	tix := make([]byte, 0, len(entries)*tixEntrySize)
	for _, e := range entries {
		idx = appendIdx(idx, e)
		tix = appendTix(tix, e)
	}
	for _, f := range []struct {
		path string
		want []byte
	}{{idxPath, idx}, {tixPath, tix}} {
		have, err := os.ReadFile(f.path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return rewritten, fmt.Errorf("read index %s: %w", f.path, err)
		}
		if err == nil && bytes.Equal(have, f.want) {
			continue
		}
		if err := writeFileAtomic(f.path, f.want, noSync); err != nil {
			return rewritten, fmt.Errorf("rebuild index %s: %w", f.path, err)
		}
		rewritten = append(rewritten, f.path)
	}
	return rewritten, nil
}

// scanner walks the batches of a segment file sequentially through a
// reusable buffer. It checks headers but not CRCs.
type scanner struct {
	r      io.ReaderAt
	pos    int64 // position of the next batch
	end    int64 // end of the data to scan
	buf    []byte
	bufPos int64 // file position of buf[0]
	chunk  int
}

func newScanner(r io.ReaderAt, start, end int64, chunk int) *scanner {
	return &scanner{r: r, pos: start, end: end, chunk: chunk}
}

// fill makes buf hold at least n bytes from s.pos, or up to s.end.
func (s *scanner) fill(n int) error {
	if s.pos >= s.bufPos && s.pos+int64(n) <= s.bufPos+int64(len(s.buf)) {
		return nil
	}
	size := int(min(int64(max(n, s.chunk)), s.end-s.pos))
	if cap(s.buf) < size {
		s.buf = make([]byte, size)
	}
	s.buf = s.buf[:size]
	s.bufPos = s.pos
	if _, err := s.r.ReadAt(s.buf, s.pos); err != nil {
		return err
	}
	return nil
}

// next returns the position, header and bytes (valid until the next call)
// of the next batch. It returns io.EOF at the end of the data, and
// io.ErrUnexpectedEOF when the data ends inside a batch.
func (s *scanner) next() (pos int64, h batchHeader, batch []byte, err error) {
	pos = s.pos
	if s.pos >= s.end {
		return pos, h, nil, io.EOF
	}
	if s.end-s.pos < batchHeaderSize {
		return pos, h, nil, io.ErrUnexpectedEOF
	}
	if err := s.fill(batchHeaderSize); err != nil {
		return pos, h, nil, err
	}
	h, err = parseHeader(s.buf[s.pos-s.bufPos:])
	if err != nil {
		return pos, h, nil, err
	}
	if int64(h.size) > s.end-s.pos {
		return pos, h, nil, io.ErrUnexpectedEOF
	}
	if err := s.fill(h.size); err != nil {
		return pos, h, nil, err
	}
	off := s.pos - s.bufPos
	batch = s.buf[off : off+int64(h.size)]
	s.pos += int64(h.size)
	return pos, h, batch, nil
}
