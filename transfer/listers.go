package transfer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/fsxsync/fsxsync/fsx"
)

// batchSize is how many entries travel through a channel at once; one send per entry would cost more than the
// comparison itself on a no-op sync.
const batchSize = 512

// batcher collects entries and sends them in batches.
type batcher struct {
	out   chan<- []Entry
	batch []Entry
}

func (b *batcher) add(ctx context.Context, e Entry) error {
	b.batch = append(b.batch, e)
	if len(b.batch) >= batchSize {
		return b.flush(ctx)
	}
	return nil
}

func (b *batcher) flush(ctx context.Context) error {
	if len(b.batch) == 0 {
		return nil
	}
	select {
	case b.out <- b.batch:
		b.batch = make([]Entry, 0, batchSize)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// localEntry converts an lstat result to an Entry with the given key.
func localEntry(key string, fi fs.FileInfo) Entry {
	e := Entry{Key: key, Size: fi.Size(), Mtime: fi.ModTime(), MtimeKnown: true, Mode: fi.Mode()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		e.UID, e.GID = st.Uid, st.Gid
	}
	if fi.IsDir() {
		e.Size = 0
	}
	return e
}

// listLocal walks root in key order and sends the entries that pass the filter. Special files (sockets, FIFOs,
// devices) have no S3 form and are left out. A missing root is an empty tree (a download into a new directory).
// localListOptions shape the local listing.
type localListOptions struct {
	dirMarkers     bool // every directory wants a marker, not only empty ones
	followSymlinks bool // a link to a file is listed as that file
	log            *slog.Logger
	onTemp         func(key string) // a temp file of an earlier run was found
	fs             fsx.FS           // the file system to walk; nil is the operating system's (tests fault it)
	// onSpecial, when set, is told of each special file (FIFO, socket, device) that passes the filter; special files
	// are never sent on, since they have no S3 form.
	onSpecial func(key string, mode fs.FileMode)
}

func listLocal(ctx context.Context, root string, f *Filter, lo localListOptions, out chan<- []Entry) error {
	if _, err := os.Stat(root); errors.Is(err, fs.ErrNotExist) {
		close(out)
		return nil
	}
	b := &batcher{out: out, batch: make([]Entry, 0, batchSize)}
	err := fsx.Walk(ctx, root, fsx.WalkOptions{FS: lo.fs, OnTemp: lo.onTemp}, func(fe fsx.Entry) error {
		if !f.MatchLocal(root, fe.Key) {
			return nil
		}
		if fe.IsSymlink() && lo.followSymlinks {
			// Follow a link to a regular file only: following links to directories could loop, and would copy a
			// tree twice under two names.
			fi, err := os.Stat(filepath.Join(root, filepath.FromSlash(fe.Key)))
			if err != nil || !fi.Mode().IsRegular() {
				lo.log.Warn("--follow-symlinks follows links to files only; left out", "key", fe.Key)
				return nil
			}
			return b.add(ctx, localEntry(fe.Key, fi))
		}
		if fsx.IsSpecial(fe.Mode) {
			if lo.onSpecial != nil {
				lo.onSpecial(fe.Key, fe.Mode)
			}
			return nil
		}
		e := Entry{Key: fe.Key, Size: fe.Size, Mtime: fe.Mtime, MtimeKnown: true, Mode: fe.Mode,
			UID: fe.UID, GID: fe.GID, Marker: fe.IsDir() && (fe.NumChildren == 0 || lo.dirMarkers)}
		if fe.IsDir() {
			e.Size = 0
		}
		return b.add(ctx, e)
	}, func(key string, err error) error {
		if !strings.HasSuffix(key, "/") || ctx.Err() != nil || KindOf(err) == KindCancelled {
			// A child whose lstat failed could be a file or a directory, so nothing marks what it hides; and a walk
			// cut off by its context is not a directory failing.
			return fmt.Errorf("walk %s: %s: %w", root, key, err)
		}
		// A directory that could not be read fails alone and the rest goes on. It must not look like an empty one,
		// or a --delete run would remove its copy at the destination: its entry tells the merge that nothing below
		// it is known (see merge). One the filters exclude (lost+found, say) is not a failure, but its entry is
		// sent all the same, since keys below an excluded directory may still be included.
		e := Entry{Key: key, Unknown: true}
		if f.MatchLocal(root, key) {
			e.ReadErr = fmt.Errorf("read directory: %w", err)
		}
		return b.add(ctx, e)
	})
	return finish(ctx, b, out, err)
}

// finish ends a lister's stream: the last batch, then the close that tells the merge the side has no more keys. A
// lister that failed does not close its stream, so that the merge cannot take a side cut short for a side that
// ended (a download --delete would then remove every local file the listing did not reach); it sees the run's
// context cancelled instead, which the failure caused.
func finish(ctx context.Context, b *batcher, out chan<- []Entry, err error) error {
	if err == nil {
		err = b.flush(ctx)
	}
	if err != nil {
		return err
	}
	close(out)
	return nil
}

// listS3 lists the prefix in key order and sends the entries that pass the filter, with their POSIX mtime filled in
// from the state file when the object is the one fsxsync last saw there (same size and ETag).
func listS3(ctx context.Context, store ObjectStore, prefix string, f *Filter, st *stateReader, out chan<- []Entry) error {
	b := &batcher{out: out, batch: make([]Entry, 0, batchSize)}
	err := store.List(ctx, prefix, func(objs []ObjectInfo) error {
		for _, o := range objs {
			key := strings.TrimPrefix(o.Key, prefix)
			if key == "" || !f.Match(key) {
				// The key equal to the prefix is the marker of the root directory itself.
				continue
			}
			e := Entry{Key: key, Size: o.Size, ETag: o.ETag, LastModified: o.LastModified,
				Mtime: o.LastModified, Marker: strings.HasSuffix(key, "/")}
			noteArchive(&e, o)
			if e.IsDir() {
				e.MtimeKnown = true
			} else if rec, ok := st.lookup(key); ok && rec.Size == o.Size && rec.ETag == o.ETag {
				e.Mtime, e.MtimeKnown = rec.Mtime, true
			}
			if err := b.add(ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
	return finish(ctx, b, out, err)
}

// listS3Sorted lists the prefix in whatever order S3 gives (directory buckets list keys in no particular order, S3
// API Reference: ListObjectsV2), sorts the listing within budget bytes of memory, spilling sorted runs to tempDir
// past it, and then sends it on as listS3 does. Nothing reaches the merge before the whole listing is in: any key
// may still come.
func listS3Sorted(ctx context.Context, store ObjectStore, prefix string, f *Filter, st *stateReader, budget int64, tempDir string, log *slog.Logger, out chan<- []Entry) error {
	s := newListSorter(budget, tempDir)
	defer s.close()
	if err := store.List(ctx, prefix, s.add); err != nil {
		return err
	}
	if n := s.duplicates(); n > 0 {
		log.Warn("the S3 listing gave some keys more than once; each is used once", "repeats", n)
	}
	sorted := sortedStore{ObjectStore: store, emit: s.emit}
	return listS3(ctx, sorted, prefix, f, st, out)
}

// sortedStore is a store whose List is a sorted listing already read.
type sortedStore struct {
	ObjectStore
	emit func(context.Context, func([]ObjectInfo) error) error
}

func (s sortedStore) List(ctx context.Context, _ string, fn func([]ObjectInfo) error) error {
	return s.emit(ctx, fn)
}

// applyObjectMeta fills an entry from a HeadObject or GetObject answer: the POSIX mtime and mode from FSx-format
// metadata when present, else LastModified.
func applyObjectMeta(e *Entry, info ObjectInfo) {
	e.Size, e.ETag, e.LastModified = info.Size, info.ETag, info.LastModified
	noteArchive(e, info)
	e.Mtime, e.MtimeKnown = info.LastModified, true
	// A malformed field is left empty by DecodeMeta and treated as absent; the well-formed ones still count.
	m, _ := fsx.DecodeMeta(info.Metadata)
	if !m.Mtime.IsZero() {
		e.Mtime = m.Mtime
	}
	if m.Mode != 0 {
		e.Mode, e.HasMode = fsx.FileMode(m.Mode), true
	}
	if m.HasUID && m.HasGID {
		e.UID, e.GID, e.HasOwner = m.UID, m.GID, true
	}
}

// localPath maps a relative key under root; see fsx.LocalPath.
func localPath(root, key string) (string, error) { return fsx.LocalPath(root, key) }
