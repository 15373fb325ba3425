//go:build unix && !linux

package disk

import "syscall"

// datasync falls back to fsync where fdatasync is not offered.
func datasync(fd int) error {
	for {
		err := syscall.Fsync(fd)
		if err != syscall.EINTR {
			return err
		}
	}
}
