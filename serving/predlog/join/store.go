package join

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/cockroachdb/pebble/v2"
)

// The joiner's Pebble keys:
//
//	"p" + id + 0 + row (4 bytes BE)           a waiting prediction: expiry (8 bytes BE, unix ns) + its record value
//	"l" + id + 0 + row                        a waiting label: expiry + the label's JSON
//	"e" + expiry + kind ('p' or 'l') + id + 0 + row   the expiry index (empty value)
//	"o" + topic + 0 + partition               the next input offset (8 bytes BE)
//	"w" + partition                           the out partition's mark (8 bytes BE)
//	"t"                                       the newest record time read (unix ns, 8 bytes BE)
//	"m"                                       meta: the inputs, out topic and label field
const (
	kindPrediction = 'p'
	kindLabel      = 'l'
)

// rowKey is a row's id in the store: id + 0 + row.
func rowKey(id string, row int) []byte {
	b := append([]byte(id), 0)
	return binary.BigEndian.AppendUint32(b, uint32(row))
}

func waitKey(kind byte, rk []byte) []byte { return append([]byte{kind}, rk...) }

func expiryKey(at int64, kind byte, rk []byte) []byte {
	b := binary.BigEndian.AppendUint64([]byte("e"), uint64(at))
	return append(append(b, kind), rk...)
}

func offsetKey(topic string, p int) []byte {
	return binary.BigEndian.AppendUint32(append([]byte("o"+topic), 0), uint32(p))
}

func markKey(p int) []byte { return binary.BigEndian.AppendUint32([]byte("w"), uint32(p)) }

var timeKey = []byte("t")

// ErrStoreLocked is the error of Open on a state directory another joiner
// has open.
var ErrStoreLocked = errors.New("join: the state store is locked by another process (a running joiner?)")

func openStore(dir string, meta string) (*pebble.DB, error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}})
	if err != nil && (errors.Is(err, syscall.EAGAIN) || strings.Contains(err.Error(), "lock held by current process")) {
		return nil, fmt.Errorf("%w: %s", ErrStoreLocked, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("join: open the state store in %s: %w", dir, err)
	}
	got, ok, err := get(db, []byte("m"))
	switch {
	case err != nil:
		_ = db.Close()
		return nil, err
	case !ok:
		if err := db.Set([]byte("m"), []byte(meta), pebble.Sync); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("join: write the state store's header in %s: %w", dir, err)
		}
	case string(got) != meta:
		_ = db.Close()
		return nil, fmt.Errorf("join: the state store in %s belongs to another join (%s, not %s): give another --state directory", dir, got, meta)
	}
	return db, nil
}

// get reads k from a database or an indexed batch; the value is a copy.
func get(r pebble.Reader, k []byte) ([]byte, bool, error) {
	v, c, err := r.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("join: read the state store: %w", err)
	}
	v = append([]byte(nil), v...)
	return v, true, c.Close()
}

func getInt(r pebble.Reader, k []byte) (int64, bool, error) {
	v, ok, err := get(r, k)
	if !ok || err != nil {
		return 0, ok, err
	}
	if len(v) != 8 {
		return 0, false, fmt.Errorf("join: state store entry %q has %d bytes, want 8", k, len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), true, nil
}

func setInt(b *pebble.Batch, k []byte, v int64) error {
	return b.Set(k, binary.BigEndian.AppendUint64(nil, uint64(v)), nil)
}

// quietLogger drops Pebble's informational lines and keeps its errors.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}
func (quietLogger) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pebble: "+format+"\n", args...)
}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}
