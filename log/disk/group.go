package disk

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flintml/flint/log"
)

const (
	// offsetsExt is the suffix of a group's committed-offsets file in
	// <Dir>/__groups/.
	offsetsExt = ".offsets"
	// compactBytes is the size past which Commit compacts an offsets file
	// (once superseded entries make up most of it).
	compactBytes = 64 << 10
)

// coordinator is the in-process group coordinator: it divides partitions
// among the members of each group and keeps the groups' committed offsets.
type coordinator struct {
	l   *Log
	dir string

	mu     sync.Mutex // guards groups
	groups map[string]*group
}

// group is one consumer group.
type group struct {
	c    *coordinator
	name string
	path string // its offsets file

	mu        sync.Mutex // guards the fields below and the members' target and latestAt
	committed map[log.TopicPartition]int64
	file      *os.File // the offsets file, open for appending once committed to
	fileSize  int64
	members   []*member // in join order, which is member ID order
	nextSeq   int
	gen       int           // generation: incremented by every join and leave
	changed   chan struct{} // closed and replaced at every rebalance
}

// openCoordinator loads every group's committed offsets from
// <Dir>/__groups, truncating torn tails and compacting each file to one
// entry.
func openCoordinator(l *Log) (*coordinator, error) {
	c := &coordinator{l: l, dir: filepath.Join(l.cfg.Dir, groupsName), groups: map[string]*group{}}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return nil, fmt.Errorf("disk: open groups: %w", err)
	}
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return nil, fmt.Errorf("disk: open groups: %w", err)
	}
	for _, e := range entries {
		fname := e.Name()
		if strings.HasSuffix(fname, ".tmp") {
			os.Remove(filepath.Join(c.dir, fname))
			continue
		}
		if !strings.HasSuffix(fname, offsetsExt) {
			continue
		}
		name, ok := unescapeGroup(strings.TrimSuffix(fname, offsetsExt))
		if !ok {
			l.logger.Warn("disk: ignoring a file that names no group", "file", filepath.Join(c.dir, fname))
			continue
		}
		g := c.newGroup(name)
		if err := g.load(); err != nil {
			c.close()
			return nil, err
		}
		c.groups[name] = g
	}
	return c, nil
}

func (c *coordinator) newGroup(name string) *group {
	return &group{
		c:         c,
		name:      name,
		path:      filepath.Join(c.dir, escapeGroup(name)+offsetsExt),
		committed: map[log.TopicPartition]int64{},
		changed:   make(chan struct{}),
	}
}

// get returns a group, creating it (in memory) when create is set.
func (c *coordinator) get(name string, create bool) (*group, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groups[name]
	if g == nil && create {
		if n := len(escapeGroup(name)) + len(offsetsExt); n > 250 {
			return nil, fmt.Errorf("disk: group %q: the name is too long for a file name (%d bytes escaped)", name, n)
		}
		g = c.newGroup(name)
		c.groups[name] = g
	}
	return g, nil
}

func (c *coordinator) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, g := range c.groups {
		g.mu.Lock()
		if g.file != nil {
			errs = append(errs, g.file.Close())
			g.file = nil
		}
		g.mu.Unlock()
	}
	return errors.Join(errs...)
}

// escapeGroup turns a group name into a file name: letters, digits, '_'
// and '-' stay, every other byte becomes %XX.
func escapeGroup(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		ch := name[i]
		if ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_' || ch == '-' {
			b.WriteByte(ch)
		} else {
			fmt.Fprintf(&b, "%%%02X", ch)
		}
	}
	return b.String()
}

func unescapeGroup(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", false
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), b.Len() > 0
}

// The offsets file is a sequence of entries:
//
//	length uint32 | crc32c uint32 (of the payload) | payload
//	payload: uvarint count, then count × (uvarint topic length | topic | uvarint partition | uvarint offset)
//
// Later entries override earlier ones, partition by partition.
const offsetsEntryHeader = 8

func appendOffsetsEntry(dst []byte, offs map[log.TopicPartition]int64) []byte {
	tps := make([]log.TopicPartition, 0, len(offs))
	for tp := range offs {
		tps = append(tps, tp)
	}
	slices.SortFunc(tps, func(a, b log.TopicPartition) int {
		return cmpTP(a, b)
	})
	start := len(dst)
	dst = append(dst, make([]byte, offsetsEntryHeader)...)
	dst = binary.AppendUvarint(dst, uint64(len(tps)))
	for _, tp := range tps {
		dst = binary.AppendUvarint(dst, uint64(len(tp.Topic)))
		dst = append(dst, tp.Topic...)
		dst = binary.AppendUvarint(dst, uint64(tp.Partition))
		dst = binary.AppendUvarint(dst, uint64(offs[tp]))
	}
	payload := dst[start+offsetsEntryHeader:]
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(dst[start+4:], crc32.Checksum(payload, castagnoli))
	return dst
}

func cmpTP(a, b log.TopicPartition) int {
	if c := strings.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	return a.Partition - b.Partition
}

// decodeOffsetsEntries applies the whole, valid entries at the start of b to
// into and returns how many bytes they take, with why the next one (if any)
// was rejected.
func decodeOffsetsEntries(b []byte, into map[log.TopicPartition]int64) (valid int, err error) {
	for valid < len(b) {
		rest := b[valid:]
		if len(rest) < offsetsEntryHeader {
			return valid, io.ErrUnexpectedEOF
		}
		n := int(binary.LittleEndian.Uint32(rest))
		if n > len(rest)-offsetsEntryHeader {
			return valid, io.ErrUnexpectedEOF
		}
		payload := rest[offsetsEntryHeader : offsetsEntryHeader+n]
		if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(rest[4:]) {
			return valid, ErrChecksum
		}
		entry := map[log.TopicPartition]int64{}
		count, k := binary.Uvarint(payload)
		if k <= 0 {
			return valid, ErrMalformed
		}
		payload = payload[k:]
		for i := uint64(0); i < count; i++ {
			tl, k := binary.Uvarint(payload)
			if k <= 0 || tl > uint64(len(payload)-k) {
				return valid, ErrMalformed
			}
			topic := string(payload[k : k+int(tl)])
			payload = payload[k+int(tl):]
			p, k1 := binary.Uvarint(payload)
			if k1 <= 0 {
				return valid, ErrMalformed
			}
			off, k2 := binary.Uvarint(payload[k1:])
			if k2 <= 0 || p > 1<<31 || off > 1<<62 {
				return valid, ErrMalformed
			}
			payload = payload[k1+k2:]
			entry[log.TopicPartition{Topic: topic, Partition: int(p)}] = int64(off)
		}
		if len(payload) != 0 {
			return valid, ErrMalformed
		}
		for tp, off := range entry {
			into[tp] = off
		}
		valid += offsetsEntryHeader + n
	}
	return valid, nil
}

// load reads the group's offsets file, truncating a torn tail and
// rewriting the file as one entry when it holds several.
func (g *group) load() error {
	l := g.c.l
	b, err := os.ReadFile(g.path)
	if err != nil {
		return fmt.Errorf("disk: load group %q: %w", g.name, err)
	}
	valid, derr := decodeOffsetsEntries(b, g.committed)
	noSync := l.cfg.Sync == SyncUnsafeNever
	if derr != nil {
		r := Recovery{Segment: g.path, TruncatedAt: int64(valid), BytesDropped: int64(len(b) - valid), Err: derr}
		l.logger.Warn("disk: truncated the torn tail of a group's offsets file", "file", g.path, "at_byte", valid, "bytes_dropped", r.BytesDropped, "reason", derr)
		l.recovery = append(l.recovery, r)
	}
	snapshot := appendOffsetsEntry(nil, g.committed)
	if derr != nil || len(snapshot) != valid {
		// Compact (and so also drop the torn tail).
		if err := writeFileAtomic(g.path, snapshot, noSync); err != nil {
			return fmt.Errorf("disk: compact group %q offsets: %w", g.name, err)
		}
	}
	g.fileSize = int64(len(snapshot))
	return nil
}

// commit makes offs durable, then the group's committed offsets.
func (g *group) commit(offs map[log.TopicPartition]int64) error {
	l := g.c.l
	noSync := l.cfg.Sync == SyncUnsafeNever
	g.mu.Lock()
	defer g.mu.Unlock()
	entry := appendOffsetsEntry(nil, offs)
	if g.file == nil {
		_, statErr := os.Stat(g.path)
		f, err := os.OpenFile(g.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("disk: commit group %q: %w", g.name, err)
		}
		if os.IsNotExist(statErr) && !noSync {
			if err := syncDir(g.c.dir); err != nil {
				f.Close()
				return fmt.Errorf("disk: commit group %q: %w", g.name, err)
			}
		}
		g.file = f
	}
	_, err := g.file.Write(entry)
	if err == nil && !noSync {
		err = g.c.l.fsync(g.file)
	}
	if err != nil {
		// Cut off a partial entry, so later ones are not lost behind it,
		// and start over with a fresh file handle on the next commit.
		g.file.Truncate(g.fileSize)
		g.file.Close()
		g.file = nil
		return fmt.Errorf("disk: commit group %q: write %s: %w", g.name, g.path, err)
	}
	g.fileSize += int64(len(entry))
	for tp, off := range offs {
		g.committed[tp] = off
	}
	// Compact once the file is mostly superseded entries.
	if g.fileSize > compactBytes {
		snapshot := appendOffsetsEntry(nil, g.committed)
		if g.fileSize > 4*int64(len(snapshot)) {
			g.file.Close()
			g.file = nil
			if err := writeFileAtomic(g.path, snapshot, noSync); err != nil {
				// The offsets are durable in the old file either way.
				l.logger.Warn("disk: compact group offsets", "file", g.path, "err", err)
			} else {
				g.fileSize = int64(len(snapshot))
			}
		}
	}
	return nil
}

// rebalance starts a new generation and divides the partitions of the
// group's topics among its members with Kafka's range assignor: per topic,
// the members subscribed to it, in member ID order, each take a contiguous
// range, the first ones one partition more when the count does not divide.
// g.mu is held.
func (g *group) rebalance() {
	l := g.c.l
	g.gen++
	old := make(map[*member][]log.TopicPartition, len(g.members))
	var topics []string
	for _, m := range g.members {
		old[m] = m.target
		m.target = nil
		for _, t := range m.topics {
			if !slices.Contains(topics, t) {
				topics = append(topics, t)
			}
		}
	}
	slices.Sort(topics)
	for _, name := range topics {
		t, ok := l.lookup(name)
		if !ok {
			continue
		}
		var subs []*member
		for _, m := range g.members {
			if slices.Contains(m.topics, name) {
				subs = append(subs, m)
			}
		}
		per, extra := len(t.parts)/len(subs), len(t.parts)%len(subs)
		next := 0
		for i, m := range subs {
			n := per
			if i < extra {
				n++
			}
			for ; n > 0; n-- {
				m.target = append(m.target, log.TopicPartition{Topic: name, Partition: next})
				next++
			}
		}
	}
	for _, m := range g.members {
		slices.SortFunc(m.target, cmpTP)
		latest := map[log.TopicPartition]int64{}
		for _, tp := range m.target {
			if off, ok := m.latestAt[tp]; ok && slices.Contains(old[m], tp) {
				latest[tp] = off
			} else if m.start == log.StartLatest {
				if p, err := l.partition(tp.Topic, tp.Partition); err == nil {
					latest[tp] = p.info().Latest
				}
			}
		}
		m.latestAt = latest
	}
	close(g.changed)
	g.changed = make(chan struct{})
}

// member is one consumer of a group: the log.Consumer JoinGroup returns.
type member struct {
	l      *Log
	g      *group
	id     string
	topics []string
	start  log.StartAt
	closed atomic.Bool

	// Guarded by g.mu: the coordinator's decision for generation g.gen.
	target   []log.TopicPartition
	latestAt map[log.TopicPartition]int64 // StartLatest: the high watermark when assigned

	// Owned by the goroutine using the consumer.
	gen      int // generation of assigned
	assigned []log.TopicPartition
	pos      map[log.TopicPartition]int64 // next offset to read
	rr       int                          // where the next Poll starts
}

// JoinGroup makes the caller a member of a consumer group, creating the
// group's topics if they are missing (unless Config.NoAutoCreate). The
// member's ID is "<group>-<n>", n counting joins to the group since Open;
// the partitions are divided among members in that order. The new member
// receives its partitions at its first Poll or Assignment. A read-only log
// refuses it with ErrReadOnly: groups are coordinated, and commit, in the
// writer's process.
func (l *Log) JoinGroup(ctx context.Context, cfg log.GroupConfig) (log.Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := l.begin(); err != nil {
		return nil, err
	}
	defer l.end()
	if l.cfg.ReadOnly {
		return nil, refuse(fmt.Sprintf("join group %q", cfg.Group))
	}
	for _, name := range cfg.Topics {
		if _, err := l.topic(name, !l.cfg.NoAutoCreate); err != nil {
			return nil, fmt.Errorf("disk: join group %q: %w", cfg.Group, err)
		}
	}
	g, err := l.groups.get(cfg.Group, true)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.nextSeq++
	m := &member{
		l:      l,
		g:      g,
		id:     fmt.Sprintf("%s-%d", g.name, g.nextSeq),
		topics: slices.Compact(slices.Sorted(slices.Values(cfg.Topics))),
		start:  cfg.StartAt,
	}
	g.members = append(g.members, m)
	g.rebalance()
	return m, nil
}

// Committed returns a group's committed offsets for a topic, by partition.
// An unknown group has none. A read-only log reads them from the group's
// offsets file at each call.
func (l *Log) Committed(ctx context.Context, group, topic string) (map[int]int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := l.begin(); err != nil {
		return nil, err
	}
	defer l.end()
	if l.cfg.ReadOnly {
		return l.readCommitted(group, topic)
	}
	out := map[int]int64{}
	g, _ := l.groups.get(group, false)
	if g == nil {
		return out, nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for tp, off := range g.committed {
		if tp.Topic == topic {
			out[tp.Partition] = off
		}
	}
	return out, nil
}

// Groups lists, sorted, the groups that have committed offsets or have been
// joined since Open. A read-only log lists those that have committed
// offsets (it cannot know of groups joined in the writer's process).
func (l *Log) Groups(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := l.begin(); err != nil {
		return nil, err
	}
	defer l.end()
	if l.cfg.ReadOnly {
		return l.readGroups()
	}
	l.groups.mu.Lock()
	names := make([]string, 0, len(l.groups.groups))
	for n := range l.groups.groups {
		names = append(names, n)
	}
	l.groups.mu.Unlock()
	slices.Sort(names)
	return names, nil
}

// refresh takes up the group's current assignment if it changed since the
// last call: partitions kept continue where they were; new ones start at
// the group's committed offset, or by StartAt when there is none. It
// returns the channel closed at the next rebalance.
func (m *member) refresh() chan struct{} {
	g := m.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if m.gen == g.gen {
		return g.changed
	}
	pos := make(map[log.TopicPartition]int64, len(m.target))
	for _, tp := range m.target {
		if off, ok := m.pos[tp]; ok {
			pos[tp] = off
		} else if off, ok := g.committed[tp]; ok {
			pos[tp] = off
		} else if off, ok := m.latestAt[tp]; ok && m.start == log.StartLatest {
			pos[tp] = off
		} else if p, err := m.l.partition(tp.Topic, tp.Partition); err == nil {
			pos[tp] = p.info().Earliest
		}
	}
	m.assigned, m.pos, m.gen, m.rr = slices.Clone(m.target), pos, g.gen, 0
	return g.changed
}

// Assignment returns the partitions the member owns now, sorted.
func (m *member) Assignment() []log.TopicPartition {
	if m.closed.Load() || m.l.begin() != nil {
		return nil
	}
	defer m.l.end()
	m.refresh()
	return slices.Clone(m.assigned)
}

// Poll returns records from one of the member's partitions, taking them in
// turn, and waits up to opt.Wait when none has any: an append to one of
// them, a rebalance, ctx or Close ends the wait. A position below the
// partition's earliest offset (removed by retention) moves to the earliest.
func (m *member) Poll(ctx context.Context, opt log.ReadOptions) ([]log.Record, error) {
	if m.closed.Load() {
		return nil, fmt.Errorf("disk: poll %s: %w", m.id, log.ErrGroupMemberClosed)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := m.l.begin(); err != nil {
		return nil, err
	}
	defer m.l.end()
	opt = opt.WithDefaults()
	wait := opt.Wait
	opt.Wait = 0
	var timer <-chan time.Time
	for {
		changed := m.refresh()
		if m.closed.Load() {
			return nil, fmt.Errorf("disk: poll %s: %w", m.id, log.ErrGroupMemberClosed)
		}
		n := len(m.assigned)
		cases := make([]reflect.SelectCase, 0, n+4)
		for i := 0; i < n; i++ {
			k := (m.rr + i) % n
			tp := m.assigned[k]
			p, err := m.l.partition(tp.Topic, tp.Partition)
			if err != nil {
				return nil, err
			}
			if wait > 0 {
				// Taken before the read, so an append after it wakes us.
				cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(p.waitChan())})
			}
			recs, err := p.read(ctx, m.pos[tp], opt)
			var oor *log.OffsetOutOfRangeError
			if errors.As(err, &oor) {
				to := oor.Earliest
				if m.pos[tp] > oor.Latest {
					to = oor.Latest
				}
				m.l.logger.Warn("disk: consumer position out of range, moved", "group", m.g.name, "member", m.id, "partition", tp.String(), "from", m.pos[tp], "to", to)
				m.pos[tp] = to
				recs, err = p.read(ctx, to, opt)
			}
			if err != nil {
				return nil, fmt.Errorf("disk: poll %s: %w", m.id, err)
			}
			if len(recs) > 0 {
				m.pos[tp] = recs[len(recs)-1].Offset + 1
				m.rr = (k + 1) % n
				return recs, nil
			}
		}
		if wait <= 0 {
			return nil, nil
		}
		if timer == nil {
			t := time.NewTimer(wait)
			defer t.Stop()
			timer = t.C
		}
		cases = append(cases,
			reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(changed)},
			reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
			reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer)},
			reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(m.l.closing)},
		)
		switch i, _, _ := reflect.Select(cases); i {
		case len(cases) - 3:
			return nil, ctx.Err()
		case len(cases) - 2:
			return nil, nil
		case len(cases) - 1:
			return nil, log.ErrClosed
		}
	}
}

// Commit stores, for each topic-partition among recs, the offset after the
// highest record there as the group's position, fsynced before it returns
// (unless the policy is SyncUnsafeNever).
func (m *member) Commit(ctx context.Context, recs ...log.Record) error {
	if m.closed.Load() {
		return fmt.Errorf("disk: commit %s: %w", m.id, log.ErrGroupMemberClosed)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := m.l.begin(); err != nil {
		return err
	}
	defer m.l.end()
	if len(recs) == 0 {
		return nil
	}
	offs := map[log.TopicPartition]int64{}
	for _, r := range recs {
		tp := log.TopicPartition{Topic: r.Topic, Partition: r.Partition}
		if cur, ok := offs[tp]; !ok || r.Offset+1 > cur {
			offs[tp] = r.Offset + 1
		}
	}
	// Only the partitions the coordinator gives this member now are
	// committed: a partition a rebalance moved away belongs to its new
	// owner, whose position must not move backwards.
	m.g.mu.Lock()
	owned := make(map[log.TopicPartition]bool, len(m.target))
	for _, tp := range m.target {
		owned[tp] = true
	}
	m.g.mu.Unlock()
	var lost []log.TopicPartition
	for tp := range offs {
		if !owned[tp] {
			lost = append(lost, tp)
			delete(offs, tp)
		}
	}
	if len(offs) > 0 {
		if err := m.g.commit(offs); err != nil {
			return err
		}
	}
	if len(lost) > 0 {
		slices.SortFunc(lost, func(a, b log.TopicPartition) int {
			if a.Topic != b.Topic {
				return strings.Compare(a.Topic, b.Topic)
			}
			return a.Partition - b.Partition
		})
		return fmt.Errorf("disk: commit %s: %w: %v (a rebalance moved them); their offsets were not committed and their records will be delivered again", m.id, log.ErrNotAssigned, lost)
	}
	return nil
}

// Close leaves the group, so that its partitions go to the other members.
// It may be called from any goroutine, and more than once.
func (m *member) Close() error {
	if !m.closed.CompareAndSwap(false, true) {
		return nil
	}
	if m.l.begin() != nil {
		return nil // the log is closed, and its groups with it
	}
	defer m.l.end()
	g := m.g
	g.mu.Lock()
	defer g.mu.Unlock()
	g.members = slices.DeleteFunc(g.members, func(x *member) bool { return x == m })
	g.rebalance()
	return nil
}
