// Package atomicfile writes a command's output file whole or not at all:
// under a temporary name beside it, synced, renamed over the path, and the
// directory synced, so a failed or interrupted run leaves any older file
// in place and no partial one, and a file a command reports written
// survives a crash.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// File is an output file being written; Commit or Abort ends it.
type File struct {
	*os.File
	path string
}

// Create starts the file that Commit will put at path. It refuses a path
// that is a directory, and names the directory it cannot create a file in.
func Create(path string) (*File, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("%s is a directory; name a file", path)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".partial-*")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("cannot create a file in %s: %w", dir, err)
	}
	// Mode 0644, as other tools' output files are; CreateTemp makes 0600.
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &File{File: f, path: path}, nil
}

// Commit syncs the file, renames it to its path (replacing an older file)
// and syncs the directory. On an error the temporary file is removed and
// the path is left as it was.
func (f *File) Commit() error {
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		if err = os.Rename(f.Name(), f.path); err != nil {
			var le *os.LinkError
			if errors.As(err, &le) {
				err = le.Err
			}
		}
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	return SyncDir(filepath.Dir(f.path))
}

// Abort removes the unfinished file; the path is left as it was.
func (f *File) Abort() {
	f.Close()
	os.Remove(f.Name())
}

// SyncDir fsyncs a directory, making the creation, renaming and removal of
// its entries durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
