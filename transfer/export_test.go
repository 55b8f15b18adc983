package transfer

import "github.com/fsxsync/fsxsync/fsx"

// SetWalkFS makes a run walk its local side through fsys, for the tests of package transfer_test: running as root,
// they cannot make a directory unreadable with its mode.
func SetWalkFS(o *Options, fsys fsx.FS) { o.walkFS = fsys }
