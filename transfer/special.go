package transfer

import (
	"io/fs"
	"path/filepath"
	"sync"

	"github.com/fsxsync/fsxsync/fsx"
)

// specialFiles is the set of special files (FIFOs, sockets, devices) an upload met in its source tree and skipped.
// A set rather than a count, so that a second pass over the tree (after an S3 listing out of order) neither warns
// nor counts twice.
type specialFiles struct {
	mu   sync.Mutex
	keys map[string]struct{}
}

// add records key and says whether it was new.
func (s *specialFiles) add(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[key]; ok {
		return false
	}
	if s.keys == nil {
		s.keys = map[string]struct{}{}
	}
	s.keys[key] = struct{}{}
	return true
}

// count is the number of special files recorded.
func (s *specialFiles) count() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(len(s.keys))
}

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
