package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fsxsync/fsxsync/fsx"
)

// maxLinkTarget bounds a symlink object's body: PATH_MAX on Linux.
const maxLinkTarget = 4096

// userAgent is written into every object's metadata, as FSx writes "aws-fsx-lustre".
const userAgent = "fsxsync"

// metaFor returns the FSx-format metadata of a local file.
func metaFor(mode fs.FileMode, uid, gid uint32, mtime time.Time) map[string]string {
	return fsx.EncodeMeta(fsx.Meta{Mode: fsx.StatMode(mode), UID: uid, GID: gid, HasUID: true, HasGID: true,
		Mtime: mtime, UserAgent: userAgent})
}

// upload sends one local entry to S3.
func (e *engine) upload(ctx context.Context, it *item) result {
	src := it.src
	r := result{it: it, action: ActionCopy, op: "upload"}
	switch {
	case src.IsDir():
		meta := metaFor(src.Mode, src.UID, src.GID, src.Mtime)
		r.op = "upload directory marker"
		_, r.err = e.store.PutSmall(ctx, it.objectKey, nil, meta)
		return r
	case src.Mode&fs.ModeSymlink != 0:
		r.op = "upload symlink"
		target, err := os.Readlink(it.localPath)
		if err != nil {
			r.err = err
			return r
		}
		etag, err := e.store.PutSmall(ctx, it.objectKey, []byte(target), metaFor(src.Mode, src.UID, src.GID, src.Mtime))
		r.err, r.bytes = err, int64(len(target))
		if err == nil {
			r.state = &stateRecord{Key: it.key, Size: int64(len(target)), ETag: etag, Mtime: src.Mtime}
		}
		return r
	}
	// The walk saw a regular file, but the path may hold a FIFO or a device by now: OpenRegular neither blocks on
	// nor reads anything else. A link is opened through only when the walk followed it (--follow-symlinks).
	f, err := fsx.OpenRegular(it.localPath, e.o.FollowSymlinks)
	if err != nil {
		r.err = err
		return r
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		r.err = err
		return r
	}
	cur := localEntry(it.key, fi)
	body := &stableReader{f: f, size: cur.Size, mtime: cur.Mtime, ctime: ctimeOf(fi), path: it.localPath,
		onRead: func(n int64) { e.moved(it, n) }}
	etag, err := e.store.Upload(ctx, it.objectKey, body, cur.Size, metaFor(cur.Mode, cur.UID, cur.GID, cur.Mtime), e.partSizeFor(ctx, it.localPath, cur.Size))
	if err != nil {
		r.err = err
		return r
	}
	r.bytes = cur.Size
	r.state = &stateRecord{Key: it.key, Size: cur.Size, ETag: etag, Mtime: cur.Mtime}
	return r
}

// ChangedError reports a source file that changed while it was read, so its upload was abandoned.
type ChangedError struct{ Path, What string }

func (e *ChangedError) Error() string {
	return fmt.Sprintf("%s changed while it was being uploaded (%s); not uploaded, run again", e.Path, e.What)
}

// stableReader reads a file and fails, instead of reaching EOF, when the file changed under it: then the upload
// (single request or multipart, whose completion needs this EOF) is abandoned rather than stored torn.
type stableReader struct {
	f     *os.File
	size  int64
	mtime time.Time
	ctime time.Time // the inode change time: unlike mtime, nobody can set it back after rewriting the file
	path  string
	n     int64
	// onRead, when set, is told how many bytes each Read returned (progress counting).
	onRead func(int64)
}

// ReadAt reads the file at an offset, for the parts of a large upload, each read in place by its own goroutine.
func (s *stableReader) ReadAt(p []byte, off int64) (int, error) { return s.f.ReadAt(p, off) }

// Sent counts bytes a large upload stored, for progress (each part once, however often it was read).
func (s *stableReader) Sent(n int64) {
	if s.onRead != nil {
		s.onRead(n)
	}
}

// Verify reports a file that changed since it was opened: it grew (a byte past the end), or its size, mtime or ctime
// differ. A large upload calls it after its last part, before completing.
func (s *stableReader) Verify() error {
	var b [1]byte
	if n, _ := s.f.ReadAt(b[:], s.size); n > 0 {
		return &ChangedError{Path: s.path, What: "it grew"}
	}
	return s.sameFile()
}

// sameFile compares the open file's size, mtime and ctime with what they were when the upload began.
func (s *stableReader) sameFile() error {
	fi, err := s.f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() != s.size {
		return &ChangedError{Path: s.path, What: fmt.Sprintf("its size changed to %d bytes from %d", fi.Size(), s.size)}
	}
	if !fi.ModTime().Equal(s.mtime) || !ctimeOf(fi).Equal(s.ctime) {
		return &ChangedError{Path: s.path, What: "its mtime or ctime changed"}
	}
	return nil
}

// ctimeOf returns a file's inode change time, or the zero time where the system does not say.
func ctimeOf(fi fs.FileInfo) time.Time {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return time.Unix(st.Ctim.Sec, st.Ctim.Nsec)
	}
	return time.Time{}
}

func (s *stableReader) Read(p []byte) (int, error) {
	if rem := s.size - s.n; int64(len(p)) > rem+1 {
		// Ask for one byte more than the expected size, to notice a file that grew.
		p = p[:rem+1]
	}
	n, err := s.f.Read(p)
	s.n += int64(n)
	if s.onRead != nil {
		s.onRead(int64(n))
	}
	if s.n > s.size {
		return n, &ChangedError{Path: s.path, What: "it grew"}
	}
	if err == io.EOF {
		if s.n != s.size {
			return n, &ChangedError{Path: s.path, What: fmt.Sprintf("it shrank to %d bytes from %d", s.n, s.size)}
		}
		if serr := s.sameFile(); serr != nil {
			return n, serr
		}
	}
	return n, err
}

// download fetches one object (or creates one directory) under the local root.
func (e *engine) download(ctx context.Context, it *item) result {
	r := result{it: it, action: ActionCopy, op: "download"}
	root := e.localRoot()
	if !e.o.Recursive {
		root = filepath.Dir(it.localPath)
	}
	if it.src.IsDir() {
		r.op = "create directory"
		if r.err = e.dirs.mkdirAll(root, it.localPath); r.err != nil {
			return r
		}
		// The listing has no metadata; a marker's mode and mtime are worth one HEAD, applied after the run.
		if info, err := e.store.Head(ctx, it.objectKey); err == nil {
			ent := Entry{Key: it.key}
			applyObjectMeta(&ent, info)
			r.dirAttr = &dirAttr{path: it.localPath, mode: e.keepMode(ent.Mode), setMode: ent.HasMode, mtime: ent.Mtime}
		}
		return r
	}
	if r.err = e.dirs.mkdirAll(root, filepath.Dir(it.localPath)); r.err != nil {
		return r
	}
	tmp, err := fsx.CreateTemp(it.localPath)
	if err != nil {
		r.err = err
		return r
	}
	info, err := e.store.Download(ctx, it.objectKey, countingFile{File: tmp, onWrite: func(n int64) { e.moved(it, n) }}, it.src.Size)
	if err == nil && info.Size != it.src.Size && it.src.Size >= 0 {
		err = fmt.Errorf("download s3://%s/%s: got %d bytes, the listing said %d", e.store.Bucket(), it.objectKey, info.Size, it.src.Size)
	}
	if err != nil {
		fsx.Discard(tmp)
		r.err = err
		return r
	}
	ent := Entry{Key: it.key}
	applyObjectMeta(&ent, info)
	ent.Size = info.Size
	r.bytes = info.Size
	r.state = &stateRecord{Key: it.key, Size: info.Size, ETag: info.ETag, Mtime: ent.Mtime}
	if ent.Mode&fs.ModeSymlink != 0 {
		r.op = "create symlink"
		r.err = commitSymlink(tmp, it.localPath, ent.Mtime)
		return r
	}
	mode := e.keepMode(ent.Mode)
	if !ent.HasMode {
		// No POSIX metadata: the mode any new file would get, not the temp file's private 0600.
		mode = e.defaultMode
	}
	// The mode is always set, even to 000 (a file its owner locked), which is a mode like any other.
	attrs := fsx.Attrs{Mode: mode, SetMode: true, Mtime: ent.Mtime}
	if ent.HasOwner && e.o.PreserveOwner && os.Geteuid() == 0 {
		attrs.Chown, attrs.UID, attrs.GID = true, int(ent.UID), int(ent.GID)
	}
	r.err = fsx.CommitWith(tmp, it.localPath, attrs)
	if r.err == nil && ent.HasOwner && !attrs.Chown && int(ent.UID) == os.Getuid() && int(ent.GID) != os.Getgid() {
		// The caller's own file: its group is the caller's to set, when the caller is in that group.
		_ = os.Lchown(it.localPath, -1, int(ent.GID))
	}
	return r
}

// keepMode returns the mode bits to apply from an object: permission bits and the sticky bit, and setuid/setgid only
// with --preserve-setid, since a tool that copies data should not hand out privileges an object asks for. The
// sticky bit grants nothing: on a shared directory (1777) it is what keeps users from deleting each other's files,
// so dropping it would loosen the tree.
func (e *engine) keepMode(m fs.FileMode) fs.FileMode {
	keep := fs.ModePerm | fs.ModeSticky
	if e.o.PreserveSetid {
		keep |= fs.ModeSetuid | fs.ModeSetgid
	}
	return m & keep
}

// dirAttr is a directory's mode and mtime, applied after the run.
type dirAttr struct {
	path    string
	mode    fs.FileMode
	setMode bool // the object gave a mode, which may be 0
	mtime   time.Time
}

// applyDirAttrs applies directories' modes and mtimes deepest first: a path sorts after its parent, so descending
// order puts every directory before the one holding it.
func applyDirAttrs(attrs []dirAttr, log *slog.Logger) {
	sort.Slice(attrs, func(i, j int) bool { return attrs[i].path > attrs[j].path })
	for _, a := range attrs {
		if a.setMode {
			if err := os.Chmod(a.path, a.mode); err != nil {
				log.Warn("could not set a directory's attributes", "error", err.Error())
			}
		}
		if !a.mtime.IsZero() {
			if err := os.Chtimes(a.path, time.Time{}, a.mtime); err != nil {
				log.Warn("could not set a directory's attributes", "error", err.Error())
			}
		}
	}
}

// commitSymlink turns a downloaded symlink object (body = target) into a link, atomically: the link is created
// under a temporary name and renamed over the final one.
func commitSymlink(tmp *os.File, final string, mtime time.Time) error {
	defer fsx.Discard(tmp)
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return err
	}
	target, err := io.ReadAll(io.LimitReader(tmp, maxLinkTarget+1))
	if err != nil {
		return err
	}
	if len(target) == 0 || len(target) > maxLinkTarget {
		return fmt.Errorf("symlink object for %s has a %d-byte target", final, len(target))
	}
	linkTmp := tmp.Name() + ".link"
	if err := os.Symlink(string(target), linkTmp); err != nil {
		return err
	}
	ts := []unix.Timespec{unix.NsecToTimespec(mtime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	_ = unix.UtimesNanoAt(unix.AT_FDCWD, linkTmp, ts, unix.AT_SYMLINK_NOFOLLOW)
	if fi, err := os.Lstat(final); err == nil && fi.IsDir() {
		os.Remove(linkTmp)
		return fmt.Errorf("%s is a directory; not replaced by a symlink", final)
	}
	if err := os.Rename(linkTmp, final); err != nil {
		os.Remove(linkTmp)
		return err
	}
	return nil
}

// dirCache creates local directories for downloads without ever following a symlink: a key "link/x" must not be
// written through a local symlink "link" to somewhere outside the destination. Directories already checked in this
// run are remembered (one entry per directory, not per file).
type dirCache struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (c *dirCache) mkdirAll(root, dir string) error {
	c.mu.Lock()
	ok := c.seen[dir]
	c.mu.Unlock()
	if ok {
		return nil
	}
	rel, err := filepath.Rel(root, dir)
	if err != nil || strings.HasPrefix(rel, "..") {
		return fmt.Errorf("%s is outside %s", dir, root)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	cur := root
	if rel != "." {
		for _, part := range strings.Split(rel, string(filepath.Separator)) {
			cur = filepath.Join(cur, part)
			fi, err := os.Lstat(cur)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				if err := os.Mkdir(cur, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
					return err
				}
				continue
			case err != nil:
				return err
			case fi.Mode()&fs.ModeSymlink != 0:
				return fmt.Errorf("%s is a symlink; fsxsync does not write through links", cur)
			case !fi.IsDir():
				return fmt.Errorf("%s is a file, so it cannot hold %s (a key and a directory of the same name)", cur, dir)
			}
		}
	}
	// Check the final one too: a concurrent worker may have raced us to create it.
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return &os.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
	}
	c.mu.Lock()
	if c.seen == nil {
		c.seen = map[string]bool{}
	}
	c.seen[dir] = true
	c.mu.Unlock()
	return nil
}

// countingFile is a download's temp file that reports the bytes written into it (progress counting). It stays an
// io.ReaderAt, which the checksum check may need.
type countingFile struct {
	*os.File
	onWrite func(int64)
}

func (c countingFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := c.File.WriteAt(p, off)
	c.onWrite(int64(n))
	return n, err
}
