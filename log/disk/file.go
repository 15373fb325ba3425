package disk

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/flintml/flint/internal/atomicfile"
)

// ErrLocked means another Log (in this process or another) has the
// directory open. Open wraps it with the directory and, when known, the
// holder's process ID.
var ErrLocked = errors.New("disk: log directory is in use")

// lockDir takes the exclusive lock on <dir>/.lock and writes our PID into it.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("disk: open lock file: %w", err)
	}
	if err := flock(f); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another process"
			if b, rerr := os.ReadFile(path); rerr == nil {
				if pid, perr := strconv.Atoi(string(bytes.TrimSpace(b))); perr == nil {
					holder = fmt.Sprintf("process %d", pid)
					if pid == os.Getpid() {
						holder = fmt.Sprintf("this process (%d), through another disk.Log", pid)
					}
				}
			}
			return nil, fmt.Errorf("%w: %s is held by %s (lock file %s); close that log first", ErrLocked, dir, holder, path)
		}
		return nil, fmt.Errorf("disk: lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0) // informative only
	}
	return f, nil
}

func flock(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		for {
			ferr = syscall.Flock(int(fd), syscall.LOCK_EX|syscall.LOCK_NB)
			if ferr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return ferr
}

// unlockDir releases the lock: closing the file drops the flock. The PID is
// left in the file; it means nothing without the lock.
func unlockDir(f *os.File) error {
	if f == nil {
		return nil
	}
	return f.Close()
}

// fdatasync flushes f's data (and the metadata needed to read it back, such
// as its size) to stable storage.
func fdatasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = datasync(int(fd)) }); err != nil {
		return err
	}
	return serr
}

// syncDir fsyncs a directory, making the creation, renaming and removal of
// its entries durable.
var syncDir = atomicfile.SyncDir

// writeFileAtomic replaces path with data: it writes path.tmp, fsyncs it,
// renames it over path and fsyncs the directory, so a crash leaves either
// the old content or the new. noSync skips the fsyncs.
func writeFileAtomic(path string, data []byte, noSync bool) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && !noSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if noSync {
		return nil
	}
	return syncDir(filepath.Dir(path))
}
