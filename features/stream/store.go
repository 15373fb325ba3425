package stream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/cockroachdb/pebble/v2"
)

// Store keeps a processor's per-key states, its input offsets and its
// publishing marks in one Pebble database, so that one synced batch
// commits them together. Keys:
//
//	"m"                          meta: definition name and layout fingerprint
//	"s" + entity key             a key's stored state (AppendStored)
//	"o" + partition (4 bytes BE) the next input offset of a source partition
//	"w" + topic + 0 + partition  where this store's next output to a topic's
//	                             partition lands at the earliest: every record
//	                             it appended after its last commit is at or
//	                             after this offset
//
// Pebble, an LSM tree written for exactly this (small random writes of
// keyed state, synced batches, a write-ahead log) and used by CockroachDB,
// is pure Go (with cgo it links a C zstd unless built with -tags
// pebblegozstd).
type Store struct {
	db  *pebble.DB
	agg *Aggregator
	dir string
}

// ErrStoreLocked is the error of OpenStore on a store another process
// (or another Store in this one) has open.
var ErrStoreLocked = errors.New("stream: the state store is locked by another process (a running processor?)")

// OpenStore opens (creating if needed) the store in dir for the
// aggregator's definition. A store written under another definition name
// or layout is refused: delete its directory and the processor restores
// from the changelog.
func OpenStore(dir string, agg *Aggregator) (*Store, error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}})
	// Pebble locks the directory with flock: EAGAIN when another process
	// holds it; an error of its own when this process does.
	if err != nil && (errors.Is(err, syscall.EAGAIN) || strings.Contains(err.Error(), "lock held by current process")) {
		return nil, fmt.Errorf("%w: %s", ErrStoreLocked, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("stream: open the state store in %s: %w", dir, err)
	}
	s := &Store{db: db, agg: agg, dir: dir}
	want := s.meta()
	got, ok, err := s.get([]byte("m"))
	switch {
	case err != nil:
		_ = db.Close()
		return nil, err
	case !ok:
		if err := db.Set([]byte("m"), want, pebble.Sync); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("stream: write the state store's header in %s: %w", dir, err)
		}
	case string(got) != string(want):
		_ = db.Close()
		return nil, fmt.Errorf("stream: the state store in %s was written for another definition or layout than %q: delete the directory to restore it from the changelog",
			dir, agg.def.Name)
	}
	return s, nil
}

func (s *Store) meta() []byte {
	b := binary.LittleEndian.AppendUint64(nil, s.agg.fingerprint)
	return append(b, s.agg.def.Name...)
}

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) get(k []byte) ([]byte, bool, error) {
	v, c, err := s.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("stream: read %q from the state store in %s: %w", k, s.dir, err)
	}
	v = append([]byte(nil), v...)
	return v, true, c.Close()
}

func stateKey(key string) []byte { return append([]byte("s"), key...) }

func offsetKey(p int) []byte { return binary.BigEndian.AppendUint32([]byte("o"), uint32(p)) }

func markKey(topic string, p int) []byte {
	b := append([]byte("w"), topic...)
	return binary.BigEndian.AppendUint32(append(b, 0), uint32(p))
}

// Stored is a key's state with the source position of the last event
// applied to it (or dropped by it): the partition and offset of its record.
type Stored struct {
	Partition int
	Offset    int64
	State     *State
}

// AppendStored appends the encoding of a stored state, the value of a
// state in the store and of a changelog record: uvarint partition, uvarint
// offset, then the state as AppendState encodes it.
func (a *Aggregator) AppendStored(dst []byte, st Stored) []byte {
	dst = binary.AppendUvarint(dst, uint64(st.Partition))
	dst = binary.AppendUvarint(dst, uint64(st.Offset))
	return a.AppendState(dst, st.State)
}

// DecodeStored decodes what AppendStored encoded.
func (a *Aggregator) DecodeStored(b []byte) (Stored, error) {
	p, n := binary.Uvarint(b)
	if n <= 0 || p > 1<<31 {
		return Stored{}, errors.New("stream: the stored state's source partition is cut short or out of range")
	}
	b = b[n:]
	o, n := binary.Uvarint(b)
	if n <= 0 || o > 1<<62 {
		return Stored{}, errors.New("stream: the stored state's source offset is cut short or out of range")
	}
	s, err := a.DecodeState(b[n:])
	if err != nil {
		return Stored{}, err
	}
	return Stored{Partition: int(p), Offset: int64(o), State: s}, nil
}

// Get returns a key's stored state, and false if the store has none.
func (s *Store) Get(key string) (Stored, bool, error) {
	v, ok, err := s.get(stateKey(key))
	if err != nil || !ok {
		return Stored{}, false, err
	}
	st, err := s.agg.DecodeStored(v)
	if err != nil {
		return Stored{}, false, fmt.Errorf("stream: key %q in the state store in %s: %w", key, s.dir, err)
	}
	return st, true, nil
}

// Offset returns the next input offset of a source partition, and false
// if the store has not committed one.
func (s *Store) Offset(p int) (int64, bool, error) {
	return s.varint(offsetKey(p))
}

// Mark returns the offset from which this store's uncommitted appends to a
// topic's partition may lie, and false if none was recorded.
func (s *Store) Mark(topic string, p int) (int64, bool, error) {
	return s.varint(markKey(topic, p))
}

func (s *Store) varint(k []byte) (int64, bool, error) {
	v, ok, err := s.get(k)
	if err != nil || !ok {
		return 0, false, err
	}
	o, n := binary.Uvarint(v)
	if n != len(v) {
		return 0, false, fmt.Errorf("stream: the state store in %s has a malformed offset under %q", s.dir, k)
	}
	return int64(o), true, nil
}

// Each calls fn with every stored state in key order until fn returns false.
func (s *Store) Each(fn func(key string, st Stored) bool) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte("s"), UpperBound: []byte("t")})
	if err != nil {
		return fmt.Errorf("stream: iterate the state store in %s: %w", s.dir, err)
	}
	for it.First(); it.Valid(); it.Next() {
		key := string(it.Key()[1:])
		st, err := s.agg.DecodeStored(it.Value())
		if err != nil {
			_ = it.Close()
			return fmt.Errorf("stream: key %q in the state store in %s: %w", key, s.dir, err)
		}
		if !fn(key, st) {
			break
		}
	}
	return it.Close()
}

// storeCommit is one atomic, synced change to the store.
type storeCommit struct {
	States  map[string]Stored
	Encoded []encodedState     // states already encoded by AppendStored
	Offsets map[int]int64      // source partition → next input offset
	Marks   map[markSpot]int64 // output partition → mark
}

// encodedState is a key's state as AppendStored encodes it.
type encodedState struct {
	key string
	val []byte
}

type markSpot struct {
	topic string
	p     int
}

// commit writes a change in one synced Pebble batch: after a crash the
// store holds all of it or none of it.
func (s *Store) commit(c storeCommit) error {
	b := s.db.NewBatch()
	defer b.Close()
	var buf []byte
	for k, st := range c.States {
		buf = s.agg.AppendStored(buf[:0], st)
		if err := b.Set(stateKey(k), buf, nil); err != nil {
			return fmt.Errorf("stream: batch a state for the store in %s: %w", s.dir, err)
		}
	}
	var key []byte
	for _, e := range c.Encoded {
		key = append(append(key[:0], 's'), e.key...) // stateKey, in one buffer: Set copies it
		if err := b.Set(key, e.val, nil); err != nil {
			return fmt.Errorf("stream: batch a state for the store in %s: %w", s.dir, err)
		}
	}
	for p, o := range c.Offsets {
		if err := b.Set(offsetKey(p), binary.AppendUvarint(nil, uint64(o)), nil); err != nil {
			return fmt.Errorf("stream: batch an offset for the store in %s: %w", s.dir, err)
		}
	}
	for m, o := range c.Marks {
		if err := b.Set(markKey(m.topic, m.p), binary.AppendUvarint(nil, uint64(o)), nil); err != nil {
			return fmt.Errorf("stream: batch a mark for the store in %s: %w", s.dir, err)
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("stream: commit to the state store in %s: %w", s.dir, err)
	}
	return nil
}

// DiskBytes is the store's size on disk.
func (s *Store) DiskBytes() uint64 { return s.db.Metrics().DiskSpaceUsage() }

// quietLogger drops Pebble's informational lines and keeps its errors on
// stderr; Fatalf panics, as Pebble's default does after logging.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}
func (quietLogger) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pebble: "+format+"\n", args...)
}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}
