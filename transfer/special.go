package transfer

import (
	"io/fs"
	"path/filepath"

	"github.com/fsxsync/fsxsync/fsx"
)

// specialFound is told of each special file the local walk of an upload's source finds (after the filters). It is
// never opened: a FIFO with no writer would block the open for ever, and a device is no data to copy. Each one gets
// one warning naming it and its type, is counted in the summary and the report, and makes the run exit non-zero
// (7), as aws-cli warns and exits 2 for the files it skips. Another shard's file is that shard's to report.
func (e *engine) specialFound(root, key string, mode fs.FileMode) {
	if !e.owns(key) || !e.special.add(key) {
		return
	}
	e.o.Log.Warn("skipped a special file: it has no S3 form and is never read",
		"path", filepath.Join(root, filepath.FromSlash(key)), "type", fsx.TypeName(mode))
}
