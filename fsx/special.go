package fsx

import (
	"fmt"
	"io/fs"
)

// IsSpecial reports whether mode is that of a special file: a FIFO, a socket, a character or block device, or a
// type the platform does not name. Such files have no S3 form, and opening one can block for ever (a FIFO with no
// writer) or act on a device, so fsxsync never opens them.
func IsSpecial(mode fs.FileMode) bool {
	switch mode.Type() {
	case 0, fs.ModeDir, fs.ModeSymlink:
		return false
	}
	return true
}

// TypeName names the type of a file for messages: "regular file", "directory", "FIFO", "socket", ...
func TypeName(mode fs.FileMode) string {
	switch mode.Type() {
	case 0:
		return "regular file"
	case fs.ModeDir:
		return "directory"
	case fs.ModeSymlink:
		return "symlink"
	case fs.ModeNamedPipe:
		return "FIFO"
	case fs.ModeSocket:
		return "socket"
	case fs.ModeDevice | fs.ModeCharDevice:
		return "character device"
	case fs.ModeDevice:
		return "block device"
	}
	return "file of unknown type"
}

// NotRegularError reports a path that was to be read as a regular file but is something else, found when it was
// opened: a FIFO, a socket, a device, or (when links are not followed) a symlink.
type NotRegularError struct {
	Path string
	Mode fs.FileMode
}

func (e *NotRegularError) Error() string {
	return fmt.Sprintf("%s is a %s, not a regular file; not read", e.Path, TypeName(e.Mode))
}
