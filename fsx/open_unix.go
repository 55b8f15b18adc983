//go:build unix

package fsx

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// OpenRegular opens path for reading if, and only if, it is a regular file; anything else is a *NotRegularError.
//
// The open itself must not block or act on what it opens: a file replaced by a FIFO since it was listed would block
// a plain open until some writer came, and no cancellation can end a blocked open(2). So the file is opened with
// O_NONBLOCK (a FIFO then opens at once), and O_NOFOLLOW unless follow is set, and fstat(2) of what was opened
// decides. A regular file gets its O_NONBLOCK cleared again before it is returned, so that reads behave as usual
// on every file system.
func OpenRegular(path string, follow bool) (*os.File, error) {
	flags := syscall.O_RDONLY | syscall.O_NONBLOCK | syscall.O_CLOEXEC
	if !follow {
		flags |= syscall.O_NOFOLLOW
	}
	fd, err := openRetry(path, flags)
	if errors.Is(err, syscall.ELOOP) && !follow {
		// O_NOFOLLOW refuses a final symlink with ELOOP; say what the path is rather than name a loop.
		if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode().Type() != 0 {
			return nil, &NotRegularError{Path: path, Mode: fi.Mode()}
		}
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		syscall.Close(fd)
		return nil, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if mode := FileMode(uint32(st.Mode)); !mode.IsRegular() {
		syscall.Close(fd)
		return nil, &NotRegularError{Path: path, Mode: mode}
	}
	if err := syscall.SetNonblock(fd, false); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("open %s: clear O_NONBLOCK: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// openRetry is open(2), tried again when a signal interrupts it (as os.OpenFile does).
func openRetry(path string, flags int) (int, error) {
	for {
		fd, err := syscall.Open(path, flags, 0)
		if !errors.Is(err, syscall.EINTR) {
			return fd, err
		}
	}
}

// openDir opens dir for reading its names only if it is a directory: with O_DIRECTORY, open(2) fails with ENOTDIR
// before it would wait on a FIFO or act on a device.
func openDir(dir string) (*os.File, error) {
	return os.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY, 0)
}
