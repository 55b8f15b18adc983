//go:build !unix

package fsx

import "os"

// OpenRegular opens path for reading if it is a regular file; anything else is a *NotRegularError. This platform
// has no O_NONBLOCK or O_NOFOLLOW: the type is checked before the open and again on what was opened.
func OpenRegular(path string, follow bool) (*os.File, error) {
	stat := os.Lstat
	if follow {
		stat = os.Stat
	}
	if fi, err := stat(path); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, &NotRegularError{Path: path, Mode: fi.Mode()}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, &NotRegularError{Path: path, Mode: fi.Mode()}
	}
	return f, nil
}

// openDir opens dir for reading its names; this platform has no O_DIRECTORY.
func openDir(dir string) (*os.File, error) {
	return os.Open(dir)
}
