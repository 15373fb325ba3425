package disk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flintml/flint/log"
)

var _ log.Log = (*Log)(nil)

// Names in Dir that are not topics. Topics may not take them.
const (
	lockName   = ".lock"
	groupsName = "__groups"
	metaName   = "topic.json"
)

// Log is the file-backed log.Log. It is safe for concurrent use by many
// goroutines.
type Log struct {
	cfg      Config
	logger   *slog.Logger
	lock     *os.File
	recovery []Recovery // what Open truncated; read-only after Open
	// points are the recovery points Open read; read-only after Open.
	points map[log.TopicPartition]recoveryPoint
	// verified counts the bytes of batches scan verified, for tests and
	// benchmarks of what Open checks.
	verified atomic.Int64
	syncs    *syncTimer
	// syncAhead wakes the background syncer for the partitions whose
	// ahead flag is set (see partition.syncAheadBytes).
	syncAhead chan struct{}

	// closeMu is read-locked by every operation for its duration and
	// write-locked by Close, which so waits for operations in flight.
	closeMu   sync.RWMutex
	closed    bool
	closeOnce atomic.Bool
	closing   chan struct{} // closed when Close begins: wakes blocked reads

	mu       sync.RWMutex // guards topics
	topics   map[string]*topic
	createMu sync.Mutex // serializes topic creation

	groups *coordinator

	stop context.CancelFunc // stops the background goroutines
	wg   sync.WaitGroup     // waits for them
}

// topic is a topic's configuration and partitions; immutable after creation.
type topic struct {
	name         string
	dir          string
	cfg          log.TopicConfig // Partitions and SegmentBytes filled in
	segmentBytes int64
	parts        []*partition
	partitioner  log.Partitioner
}

// topicMeta is the content of <Dir>/<topic>/topic.json.
type topicMeta struct {
	Version        int   `json:"version"`
	Partitions     int   `json:"partitions"`
	RetentionAgeNs int64 `json:"retentionAgeNs,omitempty"`
	RetentionBytes int64 `json:"retentionBytes,omitempty"`
	SegmentBytes   int64 `json:"segmentBytes,omitempty"`
}

// Open opens (creating if needed) the log in cfg.Dir. It takes an exclusive
// lock on the directory, verifies the CRC of every batch stored after the
// recovery points (doc.go, "Recovery points"), truncates torn tails (see
// Recovery), and isolates a partition with damage anywhere else: Open
// succeeds, and that partition's operations fail with a *CorruptionError.
//
// With cfg.ReadOnly, Open takes no lock and changes nothing: it verifies
// the same batches, but leaves an incomplete or bad batch at the end of a
// partition's last segment alone, as one the writer has not finished
// writing, and fails if cfg.Dir does not exist.
func Open(cfg Config) (*Log, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.ReadOnly {
		return openReadOnly(cfg)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("disk: open: %w", err)
	}
	lock, err := lockDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	l := &Log{
		cfg:     cfg,
		logger:  cfg.Logger,
		lock:    lock,
		closing: make(chan struct{}),
		topics:  map[string]*topic{},
		syncs:   newSyncTimer(),

		syncAhead: make(chan struct{}, 1),
	}
	l.points = l.readRecoveryPoints()
	if err := l.openTopics(); err != nil {
		l.closeFiles()
		return nil, err
	}
	if l.groups, err = openCoordinator(l); err != nil {
		l.closeFiles()
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	l.stop = stop
	if cfg.Sync == SyncInterval {
		l.wg.Add(1)
		go l.syncLoop(ctx)
	}
	if cfg.Sync != SyncUnsafeNever {
		l.wg.Add(1)
		go l.checkpointLoop(ctx)
	}
	l.wg.Add(1)
	go l.retentionLoop(ctx)
	return l, nil
}

// openTopics opens every topic in Dir, partitions in parallel.
func (l *Log) openTopics() error {
	entries, err := os.ReadDir(l.cfg.Dir)
	if err != nil {
		return fmt.Errorf("disk: open: %w", err)
	}
	type job struct {
		t  *topic
		id int
	}
	var jobs []job
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || !isTopicDir(name) {
			continue
		}
		t, err := l.loadTopic(name)
		if errors.Is(err, fs.ErrNotExist) && l.cfg.ReadOnly {
			continue // being created, or an interrupted CreateTopic
		}
		if errors.Is(err, fs.ErrNotExist) {
			l.logger.Warn("disk: ignoring a topic directory without "+metaName+" (an interrupted CreateTopic)", "dir", filepath.Join(l.cfg.Dir, name))
			continue
		}
		if err != nil {
			return err
		}
		l.topics[name] = t
		for i := range t.parts {
			jobs = append(jobs, job{t, i})
		}
	}
	errs := make([]error, len(jobs))
	recs := make([][]Recovery, len(jobs))
	sem := make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			j.t.parts[j.id], recs[i], errs[i] = l.openOrIsolate(j.t, j.id)
		}()
	}
	wg.Wait()
	for i := range jobs {
		l.recovery = append(l.recovery, recs[i]...)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("disk: open %s: %w", l.cfg.Dir, err)
	}
	return nil
}

// loadTopic reads a topic's metadata.
func (l *Log) loadTopic(name string) (*topic, error) {
	dir := filepath.Join(l.cfg.Dir, name)
	b, err := os.ReadFile(filepath.Join(dir, metaName))
	if err != nil {
		return nil, err
	}
	var m topicMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("disk: open topic %q: %s: %w", name, filepath.Join(dir, metaName), err)
	}
	if m.Version != 1 || m.Partitions < 1 {
		return nil, fmt.Errorf("disk: open topic %q: %s: unsupported version %d or partition count %d", name, filepath.Join(dir, metaName), m.Version, m.Partitions)
	}
	return l.newTopic(name, log.TopicConfig{
		Partitions:     m.Partitions,
		RetentionAge:   time.Duration(m.RetentionAgeNs),
		RetentionBytes: m.RetentionBytes,
		SegmentBytes:   m.SegmentBytes,
	}), nil
}

func (l *Log) newTopic(name string, cfg log.TopicConfig) *topic {
	t := &topic{name: name, dir: filepath.Join(l.cfg.Dir, name), cfg: cfg, segmentBytes: cfg.SegmentBytes}
	if t.segmentBytes == 0 {
		t.segmentBytes = l.cfg.SegmentBytes
	}
	t.cfg.SegmentBytes = t.segmentBytes
	t.parts = make([]*partition, cfg.Partitions)
	return t
}

// Recovery returns what Open truncated: one entry per torn tail cut off a
// segment or a group's offsets file. Open also logs each as a warning. A
// read-only log truncates nothing and returns none.
func (l *Log) Recovery() []Recovery { return slices.Clone(l.recovery) }

// begin starts an operation; end must follow unless it returns an error.
func (l *Log) begin() error {
	l.closeMu.RLock()
	if l.closed {
		l.closeMu.RUnlock()
		return log.ErrClosed
	}
	return nil
}

func (l *Log) end() { l.closeMu.RUnlock() }

// Close stops the background goroutines, waits for operations in flight
// (blocked reads and polls return log.ErrClosed), fsyncs each partition's
// active segment (unless the policy is SyncUnsafeNever) and releases the
// directory lock; a read-only log only closes its files. Operations after
// Close return log.ErrClosed.
func (l *Log) Close() error {
	if !l.closeOnce.CompareAndSwap(false, true) {
		return log.ErrClosed
	}
	close(l.closing)
	l.stop()
	l.wg.Wait()
	l.closeMu.Lock()
	l.closed = true
	l.closeMu.Unlock()
	var err error
	if !l.cfg.ReadOnly && l.cfg.Sync != SyncUnsafeNever {
		// Every partition's recovery point moves to its end: the next
		// Open checks nothing that was written before this Close.
		err = l.closePartitions()
		if err == nil {
			err = l.writeRecoveryPoints()
		}
	}
	return errors.Join(err, l.closeFiles())
}

// closePartitions closes every partition, setting its recovery point.
func (l *Log) closePartitions() error {
	var errs []error
	for _, p := range l.allPartitions() {
		errs = append(errs, p.close())
	}
	return errors.Join(errs...)
}

// closeFiles closes every file Open opened and releases the lock.
func (l *Log) closeFiles() error {
	var errs []error
	for _, t := range l.topics {
		for _, p := range t.parts {
			if p != nil {
				errs = append(errs, p.close())
			}
		}
	}
	if l.groups != nil {
		errs = append(errs, l.groups.close())
	}
	errs = append(errs, unlockDir(l.lock))
	return errors.Join(errs...)
}

// syncLoop fsyncs dirty partitions every SyncEvery, and those that asked
// for a sync ahead of it (see partition.syncAheadBytes) at once.
func (l *Log) syncLoop(ctx context.Context) {
	defer l.wg.Done()
	tick := time.NewTicker(l.cfg.SyncEvery)
	defer tick.Stop()
	for {
		ahead := false
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-l.syncAhead:
			ahead = true
		}
		for _, p := range l.allPartitions() {
			if ahead && !p.ahead.Swap(false) {
				continue
			}
			if p.dirty.Swap(false) || ahead {
				if err := p.sync(); err != nil {
					l.logger.Error("disk: background fsync failed; the partition refuses appends until the log is reopened", "partition", p.String(), "err", err)
				}
			}
		}
	}
}

func (l *Log) allPartitions() []*partition {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var ps []*partition
	for _, t := range l.topics {
		ps = append(ps, t.parts...)
	}
	return ps
}

// CreateTopic creates a topic; it fails with an error wrapping
// log.ErrTopicExists if there is one of that name, and with ErrReadOnly on a
// read-only log.
func (l *Log) CreateTopic(ctx context.Context, name string, cfg log.TopicConfig) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := l.begin(); err != nil {
		return err
	}
	defer l.end()
	if l.cfg.ReadOnly {
		return refuse(fmt.Sprintf("create topic %q", name))
	}
	_, err := l.createTopic(name, cfg)
	return err
}

// createTopic makes the topic's directories, then writes its metadata
// atomically: the metadata file is what makes a topic exist.
func (l *Log) createTopic(name string, cfg log.TopicConfig) (*topic, error) {
	if err := log.ValidTopicName(name); err != nil {
		return nil, fmt.Errorf("disk: create topic: %w", err)
	}
	if name == groupsName || name == lockName || name == recoveryPointsName {
		return nil, fmt.Errorf("disk: create topic: %w %q: the name is reserved by log/disk", log.ErrInvalidTopicName, name)
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = l.cfg.DefaultPartitions
	}
	switch {
	case cfg.Partitions < 1:
		return nil, fmt.Errorf("disk: create topic %q: Partitions must be >= 1, got %d", name, cfg.Partitions)
	case cfg.RetentionAge < 0:
		return nil, fmt.Errorf("disk: create topic %q: RetentionAge must be >= 0, got %v", name, cfg.RetentionAge)
	case cfg.RetentionBytes < 0:
		return nil, fmt.Errorf("disk: create topic %q: RetentionBytes must be >= 0, got %d", name, cfg.RetentionBytes)
	case cfg.SegmentBytes < 0 || cfg.SegmentBytes > MaxSegmentBytes:
		return nil, fmt.Errorf("disk: create topic %q: SegmentBytes must be 0 to %d, got %d", name, MaxSegmentBytes, cfg.SegmentBytes)
	}
	l.createMu.Lock()
	defer l.createMu.Unlock()
	if _, ok := l.lookup(name); ok {
		return nil, fmt.Errorf("disk: create topic %q: %w", name, log.ErrTopicExists)
	}
	t := l.newTopic(name, cfg)
	noSync := l.cfg.Sync == SyncUnsafeNever
	for i := range t.parts {
		if err := os.MkdirAll(filepath.Join(t.dir, strconv.Itoa(i)), 0o755); err != nil {
			return nil, fmt.Errorf("disk: create topic %q: %w", name, err)
		}
	}
	meta, _ := json.Marshal(topicMeta{
		Version:        1,
		Partitions:     cfg.Partitions,
		RetentionAgeNs: int64(cfg.RetentionAge),
		RetentionBytes: cfg.RetentionBytes,
		SegmentBytes:   cfg.SegmentBytes,
	})
	if !noSync {
		for i := range t.parts {
			if err := syncDir(filepath.Join(t.dir, strconv.Itoa(i))); err != nil {
				return nil, fmt.Errorf("disk: create topic %q: %w", name, err)
			}
		}
	}
	if err := writeFileAtomic(filepath.Join(t.dir, metaName), meta, noSync); err != nil {
		return nil, fmt.Errorf("disk: create topic %q: %w", name, err)
	}
	if !noSync {
		if err := syncDir(l.cfg.Dir); err != nil {
			return nil, fmt.Errorf("disk: create topic %q: %w", name, err)
		}
	}
	return l.addTopic(t, "create")
}

// addTopic opens the partitions of a topic found or created after Open
// and makes it known; op names the operation in errors.
func (l *Log) addTopic(t *topic, op string) (*topic, error) {
	for i := range t.parts {
		p, _, err := l.openOrIsolate(t, i)
		if err != nil {
			for _, q := range t.parts[:i] {
				q.close()
			}
			return nil, fmt.Errorf("disk: %s topic %q: %w", op, t.name, err)
		}
		t.parts[i] = p
	}
	l.mu.Lock()
	l.topics[t.name] = t
	l.mu.Unlock()
	return t, nil
}

func (l *Log) lookup(name string) (*topic, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	t, ok := l.topics[name]
	return t, ok
}

// topic returns a topic, creating it if create is set and it is missing. A
// read-only log looks for it on disk, since the writer may have created it
// after Open.
func (l *Log) topic(name string, create bool) (*topic, error) {
	if t, ok := l.lookup(name); ok {
		return t, nil
	}
	if l.cfg.ReadOnly {
		return l.loadNewTopic(name)
	}
	if !create {
		return nil, fmt.Errorf("disk: topic %q: %w", name, log.ErrUnknownTopic)
	}
	t, err := l.createTopic(name, log.TopicConfig{})
	if errors.Is(err, log.ErrTopicExists) {
		if t, ok := l.lookup(name); ok {
			return t, nil
		}
	}
	return t, err
}

func (l *Log) partition(topicName string, id int) (*partition, error) {
	t, err := l.topic(topicName, false)
	if err != nil {
		return nil, err
	}
	if id < 0 || id >= len(t.parts) {
		return nil, fmt.Errorf("disk: topic %q has %d partitions, there is no partition %d: %w", topicName, len(t.parts), id, log.ErrUnknownPartition)
	}
	p := t.parts[id]
	if err := p.damaged(); err != nil {
		return nil, err
	}
	return p, nil
}

// Topics lists the topics in lexical order. A read-only log lists Dir to
// learn of topics created since Open.
func (l *Log) Topics(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := l.begin(); err != nil {
		return nil, err
	}
	defer l.end()
	if l.cfg.ReadOnly {
		if err := l.discoverTopics(); err != nil {
			return nil, err
		}
	}
	l.mu.RLock()
	names := make([]string, 0, len(l.topics))
	for n := range l.topics {
		names = append(names, n)
	}
	l.mu.RUnlock()
	slices.Sort(names)
	return names, nil
}

// Describe returns a topic's configuration (with the partition count and
// segment size in effect) and its partitions' offset ranges.
func (l *Log) Describe(ctx context.Context, name string) (log.TopicInfo, error) {
	if err := ctx.Err(); err != nil {
		return log.TopicInfo{}, err
	}
	if err := l.begin(); err != nil {
		return log.TopicInfo{}, err
	}
	defer l.end()
	t, err := l.topic(name, false)
	if err != nil {
		return log.TopicInfo{}, err
	}
	info := log.TopicInfo{Name: name, Config: t.cfg, Partitions: make([]log.PartitionInfo, len(t.parts))}
	for i, p := range t.parts {
		if err := p.damaged(); err != nil {
			return log.TopicInfo{}, err
		}
		if l.cfg.ReadOnly {
			if err := p.refresh(); err != nil {
				return log.TopicInfo{}, fmt.Errorf("disk: describe %s: %w", p, err)
			}
		}
		info.Partitions[i] = p.info()
	}
	return info, nil
}

// selPool recycles the index lists Append sorts records by partition with.
var selPool = sync.Pool{New: func() any { return new([]int32) }}

// Append writes recs to the topic, one batch per partition written with one
// write call, and returns once they are acknowledged under the Sync policy.
// It sets Topic, Partition, Offset and Time (when zero: now) of every
// record. When records go to several partitions and one of them fails, the
// partitions before it (in partition order) have been written. A read-only
// log refuses it with ErrReadOnly.
func (l *Log) Append(ctx context.Context, name string, recs []log.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := l.begin(); err != nil {
		return err
	}
	defer l.end()
	if l.cfg.ReadOnly {
		return refuse(fmt.Sprintf("append to topic %q", name))
	}
	t, err := l.topic(name, !l.cfg.NoAutoCreate)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return nil
	}
	for i := range recs {
		recs[i].Topic = "" // set again as each partition's batch is written
	}
	t.partitioner.Assign(recs, len(t.parts))
	// One clock reading per call, without its monotonic part, so the Time
	// set here equals the one Read returns.
	now := time.Unix(0, time.Now().UnixNano())
	single := true
	for i := range recs {
		if recs[i].Time.IsZero() {
			recs[i].Time = now
		}
		single = single && recs[i].Partition == recs[0].Partition
	}
	if single {
		return t.parts[recs[0].Partition].append(recs, nil)
	}
	// Sort record indexes by partition (a counting sort: stable, so each
	// partition keeps the callers' order).
	counts := make([]int, len(t.parts)+1)
	for i := range recs {
		counts[recs[i].Partition+1]++
	}
	for i := 1; i < len(counts); i++ {
		counts[i] += counts[i-1]
	}
	sp := selPool.Get().(*[]int32)
	defer selPool.Put(sp)
	sel := slices.Grow((*sp)[:0], len(recs))[:len(recs)]
	*sp = sel
	next := slices.Clone(counts[:len(t.parts)])
	for i := range recs {
		p := recs[i].Partition
		sel[next[p]] = int32(i)
		next[p]++
	}
	for p := range t.parts {
		if counts[p] == counts[p+1] {
			continue
		}
		if err := t.parts[p].append(recs, sel[counts[p]:counts[p+1]]); err != nil {
			return err
		}
	}
	return nil
}

var _ log.Sizer = (*Log)(nil)

// PartitionSizes returns the bytes of each partition's segment files (the
// whole batches they hold; the rebuildable index files are not counted). A
// read-only log looks at the files first, as Describe does.
func (l *Log) PartitionSizes(ctx context.Context, name string) ([]int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := l.begin(); err != nil {
		return nil, err
	}
	defer l.end()
	t, err := l.topic(name, false)
	if err != nil {
		return nil, err
	}
	sizes := make([]int64, len(t.parts))
	for i, p := range t.parts {
		if err := p.damaged(); err != nil {
			return nil, err
		}
		if l.cfg.ReadOnly {
			if err := p.refresh(); err != nil {
				return nil, fmt.Errorf("disk: size of %s: %w", p, err)
			}
		}
		sizes[i] = p.bytes()
	}
	return sizes, nil
}
