//go:build !unix

package fsx

import "io/fs"

// ownerOf returns zeros: this platform has no numeric owner and group.
func ownerOf(fs.FileInfo) (uid, gid uint32) {
	return 0, 0
}
