package cluster

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/flintml/flint/log"
)

// LogReader is the part of log.Log a dataset load needs.
type LogReader interface {
	Describe(ctx context.Context, topic string) (log.TopicInfo, error)
	Read(ctx context.Context, topic string, partition int, offset int64, opt log.ReadOptions) ([]log.Record, error)
}

// LogOptions says which records of a topic to load and how to decode them.
type LogOptions struct {
	// Format decodes each record's value into a row.
	Format Format
	// Split cuts each log partition's offset range into this many dataset
	// partitions of contiguous offsets. 0 or 1 means one dataset partition
	// per log partition.
	Split int
	// Ranges optionally fixes the offsets [From, To) to read from each log
	// partition (by partition id). Partitions absent from a non-nil Ranges
	// are not read. nil means every partition from its earliest offset to
	// its high watermark at the time of the load.
	Ranges map[int][2]int64
}

// DecodeError reports a record or line that does not decode, with where it
// was and which field was at fault.
type DecodeError struct {
	Where string // "topic/partition@offset" or "file:line"
	Err   error
}

func (e *DecodeError) Error() string { return fmt.Sprintf("decode %s: %v", e.Where, e.Err) }
func (e *DecodeError) Unwrap() error { return e.Err }

// PlanLog returns the sources LoadLog would read: one per log partition
// (or Split per log partition), each a fixed offset range. Planning pins the
// ranges, so every later pass over the sources (a fit, then the load) reads
// exactly the same records.
func PlanLog(ctx context.Context, l LogReader, topic string, opt LogOptions) ([]Source, error) {
	if err := opt.Format.Validate(); err != nil {
		return nil, err
	}
	info, err := l.Describe(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("cluster: load topic %s: %w", topic, LogUnavailable(ctx, err))
	}
	if opt.Ranges != nil {
		for id := range opt.Ranges {
			if id < 0 || id >= len(info.Partitions) {
				return nil, fmt.Errorf("cluster: load topic %s: no partition %d (it has %d)", topic, id, len(info.Partitions))
			}
		}
	}
	split := max(opt.Split, 1)
	var sources []Source
	for _, p := range info.Partitions {
		from, to := p.Earliest, p.Latest
		if opt.Ranges != nil {
			r, ok := opt.Ranges[p.ID]
			if !ok {
				continue
			}
			if r[0] < p.Earliest || r[1] > p.Latest || r[0] > r[1] {
				return nil, fmt.Errorf("cluster: load topic %s: range [%d, %d) of partition %d is outside its offsets [%d, %d)",
					topic, r[0], r[1], p.ID, p.Earliest, p.Latest)
			}
			from, to = r[0], r[1]
		}
		n := to - from
		for k := 0; k < split; k++ {
			sources = append(sources, Source{Kind: "log", Topic: topic, LogPartition: p.ID,
				From: from + n*int64(k)/int64(split), To: from + n*int64(k+1)/int64(split), Format: opt.Format})
		}
	}
	return sources, nil
}

// LoadLog caches the records of a topic as a dataset. Each worker reads its
// own partitions' offset ranges straight from the log, and every range is
// recorded in the dataset's lineage.
func (e *Engine) LoadLog(ctx context.Context, l LogReader, topic string, opt LogOptions) (*Dataset, error) {
	sources, err := PlanLog(ctx, l, topic, opt)
	if err != nil {
		return nil, err
	}
	return e.LoadSources(ctx, l, topic, sources)
}

// LoadSources caches the rows of the given sources as a dataset named
// name, one partition per source. l may be nil when no source is a log.
//
// Reads the log leaves unanswered are logged once, and reads that fail
// because the log could not be reached or timed out come back as one
// error wrapping ErrUnavailable, naming the partitions.
func (e *Engine) LoadSources(ctx context.Context, l LogReader, name string, sources []Source) (*Dataset, error) {
	what := fmt.Sprintf("load of dataset %q", name)
	l, stop := watchLog(l, what, e.cfg.Logger)
	defer stop()
	h := readBuffers.hold(len(sources))
	defer h.release()
	ds, err := e.build(ctx, name, sources, func(ctx context.Context, i int) (*Block, error) {
		h.start()
		return ReadSource(ctx, l, sources[i])
	})
	if err != nil {
		return nil, SummarizeUnavailable(what, err)
	}
	return ds, nil
}

// ReadSource decodes the rows of one source: the way a partition is built
// the first time, and rebuilt after it was lost. File and log sources can be
// read; memory sources cannot. l may be nil for file sources.
func ReadSource(ctx context.Context, l LogReader, s Source) (*Block, error) {
	return ReadSourceWithin(ctx, l, s, -1)
}

// EachValue calls fn with every record value (log) or non-blank line (file)
// of a source, in order. where describes the value's position for errors:
// "topic/partition@offset" or "file:line". The value and where are only
// valid during the call. An error from fn stops the iteration and is returned as is.
func EachValue(ctx context.Context, l LogReader, s Source, fn func(value []byte, where func() string) error) error {
	switch s.Kind {
	case "log":
		if l == nil {
			return fmt.Errorf("cluster: %s: no log to read from", s)
		}
		if s.Join != "" {
			return eachJoinedValue(ctx, l, s, fn)
		}
		return eachLogValue(ctx, l, s, fn)
	case "file":
		return eachFileLine(ctx, s, fn)
	}
	return fmt.Errorf("cluster: %s cannot be re-read", s)
}

// logReadBytes bounds the payload of one log read while a source is read:
// a few of the batches an ingest appends (1000 records each). Its buffer
// (readBufferBytes) is what a reading worker holds beside the rows it
// caches.
const logReadBytes = 4 << 20

// logReadRecords bounds the records of one log read.
const logReadRecords = 10000

// readBufferBytes is the size of a log read buffer: twice the payload
// bound leaves room for the records' framing, the part of a batch before
// the read's first offset and the rest of the batch it ends in, which
// log/disk reads too (a read that needs more allocates the rest: per
// read, never per record).
const readBufferBytes = 2 * logReadBytes

// readBuffers holds log read buffers (ReadOptions.Buffer) between the
// sources read one after another while a load or scan runs. It keeps them
// only while some source is being read or a load or scan on the Engine is
// under way (hold), and while a load or scan has sources left to start,
// no more of them than those: the last sources' buffers go as they end,
// not beside the whole cache at the end of the load, and when the last
// reader ends every one goes, so an idle worker holds none (a sync.Pool
// would keep them until two collections later, which an idle process may
// not have).
var readBuffers readBufferPool

type readBufferPool struct {
	mu      sync.Mutex
	active  int       // sources being read, plus loads and scans holding the pool
	holds   int       // loads and scans holding the pool
	toStart int       // sources of those not started yet
	free    []*[]byte // at most maxFreeReadBuffers
}

const maxFreeReadBuffers = 8

// get starts a reader and returns a free buffer, or nil when none is.
func (p *readBufferPool) get() *[]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.active++
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
		return b
	}
	return nil
}

// put ends a reader, handing back its buffer (nil: none). A buffer kept
// for no one is garbage, and the collector's pacing is told so.
func (p *readBufferPool) put(b *[]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.active--
	var dead int64
	switch {
	case p.active == 0:
		for _, f := range p.free {
			dead += int64(cap(*f))
		}
		clear(p.free)
		p.free = p.free[:0]
		if b != nil {
			dead += int64(cap(*b))
		}
	case b == nil:
	case len(p.free) < maxFreeReadBuffers && (p.holds == 0 || len(p.free) < p.toStart):
		p.free = append(p.free, b)
	default:
		dead = int64(cap(*b))
	}
	if dead > 0 {
		paceDead(dead)
	}
}

// readHold is a load's or scan's hold on the pool (hold).
type readHold struct {
	p    *readBufferPool
	left int // its sources not started yet
}

// hold keeps free buffers while the n sources of one load or scan are
// read, including the moments between one source and the next on a
// worker when none of them is being read. Call start as each source
// begins and release at the end.
func (p *readBufferPool) hold(n int) *readHold {
	p.mu.Lock()
	p.holds++
	p.toStart += n
	p.mu.Unlock()
	p.get()
	return &readHold{p: p, left: n}
}

// start says one more of the hold's sources began.
func (h *readHold) start() {
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	if h.left > 0 {
		h.left--
		h.p.toStart--
	}
}

// release ends the hold.
func (h *readHold) release() {
	h.p.mu.Lock()
	h.p.holds--
	h.p.toStart -= h.left
	h.left = 0
	h.p.mu.Unlock()
	h.p.put(nil)
}

// held is how many buffers are kept; for tests.
func (p *readBufferPool) held() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.free)
}

// logPosition names the record being handed on, for errors: one per
// source read, so naming a record allocates nothing until it is asked for.
type logPosition struct {
	s   *Source
	off int64
}

func (p *logPosition) where() string {
	return fmt.Sprintf("%s/%d@%d", p.s.Topic, p.s.LogPartition, p.off)
}

func eachLogValue(ctx context.Context, l LogReader, s Source, fn func([]byte, func() string) error) error {
	// Reads go into a pooled buffer (values are handed on and forgotten):
	// without one each read leaves its own behind as garbage, about the
	// size of the source in all. A source that one read may cover takes a
	// buffer only if one is free; one of more records than a read returns
	// takes one from its first read on. The records of one read go into a
	// slice the next read reuses.
	var buf []byte
	if p := readBuffers.get(); p != nil {
		buf = *p
	} else if s.To-s.From > logReadRecords {
		buf = make([]byte, 0, readBufferBytes)
	}
	defer func() {
		if buf != nil {
			readBuffers.put(&buf)
		} else {
			readBuffers.put(nil)
		}
	}()
	var recs []log.Record
	pos := &logPosition{s: &s}
	where := pos.where
	for off := s.From; off < s.To; {
		if off > s.From && buf == nil {
			buf = make([]byte, 0, readBufferBytes)
		}
		clear(recs) // the last read's records: let go of what they point to
		var err error
		recs, err = l.Read(ctx, s.Topic, s.LogPartition, off, log.ReadOptions{MaxRecords: logReadRecords, MaxBytes: logReadBytes, Buffer: buf, Records: recs[:0]})
		if err != nil {
			return &ReadError{Source: s, Offset: off, Err: LogUnavailable(ctx, err)}
		}
		if len(recs) == 0 {
			return fmt.Errorf("cluster: read %s: no records at offset %d below the end of the range", s, off)
		}
		for i := range recs {
			r := &recs[i]
			if r.Offset >= s.To {
				break
			}
			pos.off = r.Offset
			if err := fn(r.Value, where); err != nil {
				return err
			}
			off = r.Offset + 1
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// FileOptions says how to split and decode files.
type FileOptions struct {
	Format Format
	// Partitions is the number of dataset partitions to cut the files into
	// (by byte ranges aligned to lines). 0 means one per worker (1 for
	// PlanFiles, which knows no workers). Gzip'd files
	// (".gz") cannot be split and make one partition each.
	Partitions int
}

// PlanFiles returns the sources LoadFiles would read: byte ranges of the
// files, aligned to lines when read.
func PlanFiles(paths []string, opt FileOptions) ([]Source, error) {
	if err := opt.Format.Validate(); err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, errors.New("cluster: no files to load")
	}
	nparts := max(opt.Partitions, 1)
	var total int64
	sizes := make([]int64, len(paths))
	for i, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("cluster: %w", err)
		}
		if st.IsDir() {
			return nil, fmt.Errorf("cluster: %s is a directory, want a file", p)
		}
		sizes[i] = st.Size()
		total += st.Size()
	}
	var sources []Source
	for i, p := range paths {
		if strings.HasSuffix(p, ".gz") || total == 0 {
			sources = append(sources, Source{Kind: "file", Path: p, From: 0, To: -1, Format: opt.Format})
			continue
		}
		k := max(1, int(int64(nparts)*sizes[i]/total))
		for j := 0; j < k; j++ {
			sources = append(sources, Source{Kind: "file", Path: p,
				From: sizes[i] * int64(j) / int64(k), To: sizes[i] * int64(j+1) / int64(k), Format: opt.Format})
		}
	}
	return sources, nil
}

// LoadFiles caches CSV, JSON-lines or LIBSVM files as a dataset.
func (e *Engine) LoadFiles(ctx context.Context, paths []string, opt FileOptions) (*Dataset, error) {
	if opt.Partitions <= 0 {
		opt.Partitions = e.Workers()
	}
	sources, err := PlanFiles(paths, opt)
	if err != nil {
		return nil, err
	}
	name := paths[0]
	if len(paths) > 1 {
		name = fmt.Sprintf("%s and %d more", paths[0], len(paths)-1)
	}
	return e.LoadSources(ctx, nil, name, sources)
}

// eachFileLine calls fn with the lines that start in [From, To) of a file
// (To -1 meaning the end), skipping blank lines and, for CSV with Header,
// the file's first line. As in Hadoop's line splits, a range that does not
// start at 0 skips the line in progress: it belongs to the range before.
func eachFileLine(ctx context.Context, s Source, fn func([]byte, func() string) error) error {
	f, err := os.Open(s.Path)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	pos := int64(0)
	if strings.HasSuffix(s.Path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("cluster: %s: %w", s.Path, err)
		}
		defer zr.Close()
		r = zr
	} else if s.From > 0 {
		if _, err := f.Seek(s.From-1, io.SeekStart); err != nil {
			return fmt.Errorf("cluster: %s: %w", s.Path, err)
		}
		pos = s.From - 1
	}
	br := bufio.NewReaderSize(r, 1<<20)
	if s.From > 0 && s.To >= 0 {
		for { // the rest of the previous range's last line
			chunk, err := br.ReadSlice('\n')
			pos += int64(len(chunk))
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("cluster: %s: %w", s.Path, err)
			}
			break
		}
	}
	var long []byte
	// Line numbers for where(): the first asked for is counted from the
	// file's start (lineOf); later ones add the lines read since.
	base, baseN := int64(-1), 0
	for n := 0; ; n++ {
		if s.To >= 0 && pos >= s.To {
			return nil
		}
		start := pos
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) { // a line longer than the buffer
			long = append(long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		pos += int64(len(line))
		if len(line) > 0 {
			text := bytes.TrimRight(line, "\r\n")
			skip := len(bytes.TrimSpace(text)) == 0 || (s.Format.Header && start == 0)
			if !skip {
				where := func() string {
					if base < 0 {
						base, baseN = lineOf(s.Path, start), n
					}
					return s.Path + ":" + strconv.FormatInt(base+int64(n-baseN), 10)
				}
				if ferr := fn(text, where); ferr != nil {
					return ferr
				}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("cluster: %s: %w", s.Path, err)
		}
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
}

// lineOf returns the 1-based line number of the line starting at byte off
// (of the decompressed stream for gzip files).
func lineOf(path string, off int64) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return 0
		}
		r = zr
	}
	buf := make([]byte, 1<<20)
	var n, seen int64
	for seen < off {
		k, err := r.Read(buf[:min(int64(len(buf)), off-seen)])
		n += int64(bytes.Count(buf[:k], []byte{'\n'}))
		seen += int64(k)
		if err != nil {
			break
		}
	}
	return n + 1
}
