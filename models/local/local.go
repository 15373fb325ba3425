package local

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/flintml/flint/internal/atomicfile"
	"github.com/flintml/flint/models"
)

// tmpPrefix starts the names of files being written. Keys cannot start a
// component with '.', so these never collide with a key and List skips them.
const tmpPrefix = ".tmp-"

// lockSuffix ends the name of a key's lock file, ".<base>.lock".
const lockSuffix = ".lock"

// Store is a models.Store in a local directory. It is safe for concurrent use
// by goroutines and by processes on the same machine (see the package doc
// for PutIf's lock).
type Store struct {
	dir string
}

// New returns a store rooted at dir, creating the directory if needed.
func New(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("local: store directory is empty")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("local: store directory %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("local: create store directory: %w", err)
	}
	return &Store{dir: abs}, nil
}

// Dir returns the store's root directory.
func (s *Store) Dir() string { return s.dir }

// path checks key and returns its file name.
func (s *Store) path(key string) (string, error) {
	if err := models.CheckKey(key); err != nil {
		return "", fmt.Errorf("local: %w", err)
	}
	return filepath.Join(s.dir, filepath.FromSlash(key)), nil
}

// Put writes the object to a temporary file beside its final name, fsyncs
// it, renames it into place and fsyncs the directory.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("local: put %s: %w", key, err)
	}
	if err := s.writeAtomic(ctx, p, r, size); err != nil {
		return fmt.Errorf("local: put %s: %w", key, err)
	}
	return nil
}

// writeAtomic writes exactly size bytes from r to path through a temporary
// file: tmp + fsync + rename + fsync dir. On error nothing is left.
func (s *Store) writeAtomic(ctx context.Context, path string, r io.Reader, size int64) (err error) {
	dir := filepath.Dir(path)
	var f *os.File
	err = s.inDir(dir, func() (err error) {
		f, err = os.CreateTemp(dir, tmpPrefix+"*")
		return err
	})
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	src := io.Reader(&ctxReader{ctx: ctx, r: r})
	if size >= 0 {
		src = io.LimitReader(src, size)
	}
	n, err := io.Copy(f, src)
	if err != nil {
		return err
	}
	if size >= 0 && n != size {
		return fmt.Errorf("reader gave %d of %d bytes: %w", n, size, io.ErrUnexpectedEOF)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

// inDir creates dir (and its parents) and calls create, which creates a
// file in it. A Delete that removed dir as empty in between makes create
// fail with fs.ErrNotExist; dir is then created again, a few times.
func (s *Store) inDir(dir string, create func() error) error {
	for try := 0; ; try++ {
		err := s.mkdirs(dir)
		if err == nil {
			err = create()
		}
		if err == nil || !errors.Is(err, fs.ErrNotExist) || try == 9 {
			return err
		}
	}
}

// removeEmptyDirs removes dir and then its parents while they are empty,
// up to but not including the store's root. It stops at the first that is
// not empty (or gone); errors are not failures of the delete that calls it.
func (s *Store) removeEmptyDirs(dir string) {
	for len(dir) > len(s.dir) && strings.HasPrefix(dir, s.dir+string(filepath.Separator)) {
		if err := os.Remove(dir); err != nil {
			return
		}
		parent := filepath.Dir(dir)
		_ = syncDir(parent)
		dir = parent
	}
}

// mkdirs creates dir and its missing parents under the root, fsyncing each
// parent so that the new entries survive a crash.
func (s *Store) mkdirs(dir string) error {
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir && len(parent) >= len(s.dir) {
		if err := s.mkdirs(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(parent)
}

// syncDir fsyncs a directory, making the creation, renaming and removal of
// its entries durable.
var syncDir = atomicfile.SyncDir

// ctxReader stops a copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Get opens the object's file.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("local: get %s: %w", key, err)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, s.mapErr("get", key, err)
	}
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		f.Close()
		return nil, fmt.Errorf("local: get %s: %w", key, models.ErrNotFound)
	}
	return f, nil
}

func (s *Store) mapErr(op, key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) || isNotDir(err) {
		return fmt.Errorf("local: %s %s: %w (%v)", op, key, models.ErrNotFound, err)
	}
	return fmt.Errorf("local: %s %s: %w", op, key, err)
}

// List walks the directory under the prefix's last complete component.
func (s *Store) List(ctx context.Context, prefix string) ([]models.Entry, error) {
	base := ""
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		base = prefix[:i]
		if err := models.CheckKey(base); err != nil {
			return nil, fmt.Errorf("local: list %q: %w", prefix, err)
		}
	}
	root := filepath.Join(s.dir, filepath.FromSlash(base))
	var out []models.Entry
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root && (errors.Is(err, fs.ErrNotExist) || isNotDir(err)) {
				return fs.SkipAll
			}
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return err
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if strings.HasPrefix(d.Name(), ".") && p != root {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil // temporary and lock files
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(s.dir, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		out = append(out, models.Entry{Key: key, Size: fi.Size(), Modified: fi.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("local: list %q: %w", prefix, err)
	}
	slices.SortFunc(out, func(a, b models.Entry) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// Delete removes the object's file and fsyncs its directory, then removes
// the directories it leaves empty, up to the store's root, so that deleted
// prefixes (a finished job's checkpoints) leave no empty folders behind.
func (s *Store) Delete(ctx context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("local: delete %s: %w", key, err)
	}
	if err := os.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) || isNotDir(err) {
			return nil
		}
		return fmt.Errorf("local: delete %s: %w", key, err)
	}
	// A concurrent Delete may have removed the directory, emptied: that
	// removal is synced into its parent.
	if err := syncDir(filepath.Dir(p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("local: delete %s: %w", key, err)
	}
	s.removeEmptyDirs(filepath.Dir(p))
	return nil
}

// Load reads the whole object; its tag is the hex SHA-256 of the contents.
func (s *Store) Load(ctx context.Context, key string) ([]byte, string, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, "", err
	}
	if err := ctx.Err(); err != nil {
		return nil, "", fmt.Errorf("local: load %s: %w", key, err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, "", s.mapErr("load", key, err)
	}
	return data, tagOf(data), nil
}

func tagOf(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// PutIf holds the key's lock file (an exclusive flock on ".<base>.lock" in
// the key's directory) while it compares the current contents' tag and
// writes the new contents atomically.
func (s *Store) PutIf(ctx context.Context, key string, data []byte, tag string) (string, error) {
	p, err := s.path(key)
	if err != nil {
		return "", err
	}
	fail := func(err error) (string, error) { return "", fmt.Errorf("local: put-if %s: %w", key, err) }
	var unlock func()
	err = s.inDir(filepath.Dir(p), func() (err error) {
		unlock, err = lockFile(ctx, filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+lockSuffix))
		return err
	})
	if err != nil {
		return fail(err)
	}
	defer unlock()
	cur, err := os.ReadFile(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if tag != "" {
			return fail(fmt.Errorf("%w: object is missing, expected tag %s", models.ErrConflict, tag))
		}
	case err != nil:
		return fail(err)
	case tag == "":
		return fail(fmt.Errorf("%w: object exists, expected it not to", models.ErrConflict))
	case tagOf(cur) != tag:
		return fail(fmt.Errorf("%w: tag is %s, expected %s", models.ErrConflict, tagOf(cur), tag))
	}
	if err := s.writeAtomic(ctx, p, bytes.NewReader(data), int64(len(data))); err != nil {
		return fail(err)
	}
	return tagOf(data), nil
}

// Sweep removes temporary files older than minAge, left by writers that
// died between creating and renaming them. Lock files are kept: they are
// empty and removing one could split a lock between two holders.
func (s *Store) Sweep(ctx context.Context, minAge time.Duration) (int, error) {
	cutoff := time.Now().Add(-minAge)
	n := 0
	err := filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if d.IsDir() || !strings.HasPrefix(d.Name(), tmpPrefix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil || (minAge > 0 && !fi.ModTime().Before(cutoff)) {
			return nil
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		n++
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("local: sweep %s: %w", s.dir, err)
	}
	return n, nil
}
