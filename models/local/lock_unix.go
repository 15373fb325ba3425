//go:build unix

package local

import (
	"context"
	"errors"
	"os"
	"syscall"
	"time"
)

// lockFile takes an exclusive flock on path, creating it if needed, and
// returns the function that releases it. The kernel drops the lock if the
// process dies, so a crash never leaves a store locked. Waiting polls, so
// that ctx can end it.
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	wait := 100 * time.Microsecond
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing the file releases the lock
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, &os.PathError{Op: "flock", Path: path, Err: err}
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			f.Close()
			return nil, context.Cause(ctx)
		}
		wait = min(2*wait, 5*time.Millisecond)
	}
}

func isNotDir(err error) bool { return errors.Is(err, syscall.ENOTDIR) }
