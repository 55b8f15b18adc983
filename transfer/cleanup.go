package transfer

import (
	"context"
	"os"
	"path"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/fsxsync/fsxsync/fsx"
)

// What a killed run (kill -9, a node crash) leaves behind is cleaned up by the next run of the same sync: temp files
// in the download destination, and multipart uploads left open under the upload destination. Only leftovers of
// keys this run owns are touched (its shard's keys: another task of the same array may be writing the others right
// now), and for uploads only those started before this run began.

// UploadInfo is one open multipart upload.
type UploadInfo struct {
	Key, UploadID string
	Initiated     time.Time
}

// cleaner counts what was cleaned up; the lister goroutine and the run's own goroutine both add to it.
type cleaner struct{ n atomic.Int64 }

// tempFound removes a temp file the local walk found, when its target key is this run's.
func (e *engine) tempFound(root, tempKey string) {
	dir, base := path.Split(tempKey)
	target, ok := fsx.TempTarget(base)
	if e.dir != Download || (!ok && e.o.Shard != nil && e.o.Shard.Partial()) || (ok && !e.owns(dir+target)) {
		return
	}
	if err := os.Remove(filepath.Join(root, filepath.FromSlash(tempKey))); err == nil {
		e.cleaned.n.Add(1)
	}
}

// abortLeftoverUploads aborts multipart uploads under the destination prefix that this run owns and that began
// before it: parts of an upload a killed run could not abort, which cost storage until someone does.
func (e *engine) abortLeftoverUploads(ctx context.Context, before time.Time) {
	lister, ok := e.store.(interface {
		ListUploads(ctx context.Context, prefix string) ([]UploadInfo, error)
		AbortUpload(ctx context.Context, key, uploadID string) error
	})
	if !ok {
		return
	}
	ups, err := lister.ListUploads(ctx, e.prefix())
	if k := KindOf(err); err != nil && (k == KindUnreachable || k == KindCancelled) {
		// The listing of the tree meets the same and says so; a note about uploads first would only confuse.
		return
	}
	if err != nil {
		// Listing uploads needs s3:ListBucketMultipartUploads, which a role may well lack: cleanup is a courtesy.
		e.o.Log.Info("could not look for multipart uploads left by an interrupted run", "error", Brief(err))
		return
	}
	for _, u := range ups {
		key := u.Key[len(e.prefix()):]
		if !u.Initiated.Before(before) || !e.owns(key) {
			continue
		}
		if err := lister.AbortUpload(ctx, u.Key, u.UploadID); err == nil {
			e.cleaned.n.Add(1)
		}
	}
}
