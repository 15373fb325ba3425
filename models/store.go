package models

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Errors shared by the registry and every Store. Backends map their own
// errors onto these, so callers test with errors.Is and never import a
// backend's error types.
var (
	// ErrNotFound: no such key, model, version or alias.
	ErrNotFound = errors.New("models: not found")
	// ErrConflict: a conditional write lost a race (the object changed, or
	// exists when it should not). The registry retries on it.
	ErrConflict = errors.New("models: conflicting update")
	// ErrInvalidKey: a store key that is empty, too long, or could escape
	// the store's root.
	ErrInvalidKey = errors.New("models: invalid key")
	// ErrInvalidName: a model name or alias that does not match the rules
	// in CheckName.
	ErrInvalidName = errors.New("models: invalid name")
	// ErrInUse: a version that an alias points at cannot be deleted.
	ErrInUse = errors.New("models: version in use")
)

// Store holds the registry's blobs and manifests. models/local and models/s3
// implement it; models/storetest is the suite both pass. Keys are checked by
// CheckKey. A Store must be safe for concurrent use by several goroutines,
// and (for PutIf) by several processes sharing the same storage.
type Store interface {
	// Put stores exactly size bytes read from r under key, replacing what
	// was there. Readers see the old object or the whole new one, never
	// part of it; a Put that fails (short reader, canceled ctx, dead
	// server, crashed process) leaves no visible object.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Get opens key for reading; a missing key is ErrNotFound.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// List returns the objects whose keys start with prefix (a plain string
	// prefix, not necessarily ending in "/"), sorted by key.
	List(ctx context.Context, prefix string) ([]Entry, error)
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error

	// Load reads a small object whole, with its tag: an opaque string that
	// changes whenever the object does. A missing key is ErrNotFound.
	Load(ctx context.Context, key string) (data []byte, tag string, err error)
	// PutIf replaces key with data only if its current tag is tag, or, when
	// tag is "", only if key does not exist. Otherwise it returns an error
	// wrapping ErrConflict and changes nothing. It returns the new tag.
	// This compare-and-swap is the registry's only synchronisation.
	PutIf(ctx context.Context, key string, data []byte, tag string) (newTag string, err error)
}

// Sweeper is optional: a Store that can leave debris behind when a writer
// dies (temporary files, incomplete multipart uploads) removes debris older
// than minAge. Registry.GC calls it when the Store has it.
type Sweeper interface {
	Sweep(ctx context.Context, minAge time.Duration) (removed int, err error)
}

// Entry describes one stored object.
type Entry struct {
	Key      string
	Size     int64
	Modified time.Time
}

// MaxKeyLen is the longest key a Store accepts (S3 limits object names to
// 1024 bytes, and models/s3 needs room for its prefix), and
// MaxKeyComponentLen the longest component between slashes (file systems
// limit names to 255 bytes, and models/local needs room for its lock files'
// names).
const (
	MaxKeyLen          = 768
	MaxKeyComponentLen = 200
)

// CheckKey reports whether key is a valid store key: at most MaxKeyLen bytes
// of components separated by single slashes, each at most
// MaxKeyComponentLen bytes, starting with an ASCII letter or digit
// and made of letters, digits, '.', '_' and '-', with no ".." anywhere. Such
// a key cannot name a parent directory, an absolute path, or a hidden or
// temporary file (backends use names starting with '.' for their own
// files). Errors wrap ErrInvalidKey and quote the key.
func CheckKey(key string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w %q: %s", ErrInvalidKey, key, why)
	}
	switch {
	case key == "":
		return bad("empty")
	case len(key) > MaxKeyLen:
		return bad(fmt.Sprintf("longer than %d bytes", MaxKeyLen))
	case strings.Contains(key, ".."):
		return bad(`contains ".."`)
	}
	for _, c := range strings.Split(key, "/") {
		if c == "" {
			return bad("empty path component")
		}
		if len(c) > MaxKeyComponentLen {
			return bad(fmt.Sprintf("a component is longer than %d bytes", MaxKeyComponentLen))
		}
		if !alnum(c[0]) {
			return bad(fmt.Sprintf("component %q must start with a letter or digit", c))
		}
		for i := 1; i < len(c); i++ {
			if !alnum(c[i]) && c[i] != '.' && c[i] != '_' && c[i] != '-' {
				return bad(fmt.Sprintf("character %q not allowed", c[i]))
			}
		}
	}
	return nil
}

func alnum(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9'
}
