package transfer

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"strings"

	"github.com/fsxsync/fsxsync/fsx"
)

// Keys that are not canonical ("x/../ok2", "a//b", "./x", "/x") download to the cleaned path aws-cli uses (see
// fsx.CleanKey), but they cannot take part in the merge like other keys: the merge pairs keys, and the local walk
// reports the file at the cleaned path under the clean key ("ok2"), so "x/../ok2" would look absent locally and the
// local "ok2" absent in S3 (a delete with --delete, which may even come first in key order). A download therefore
// holds such keys back until both listings have ended, and settles them then: each is checked for collisions with
// the keys that map to the same path (or to a file above it or a directory below it), compared with what is at its
// cleaned path like any other key, and the held deletes of paths they claim are dropped. They are rare, so they are
// kept, with their clean key in front, in a listSorter that spills to disk past its budget, and come back ordered by
// the local path they map to.

// deferredKeys holds the download items whose key is not canonical until the end of the pass.
type deferredKeys struct {
	s *listSorter
	n int
}

func newDeferredKeys(budget int64, dir string) *deferredKeys {
	return &deferredKeys{s: newListSorter(budget, dir)}
}

// deferredSep separates the clean key from the original key in a held record. CleanKey refuses keys with a NUL byte,
// and NUL sorts before every other byte, so records sort by clean key first, then by original key.
const deferredSep = "\x00"

// add holds one item whose key is not canonical. Only what the listing said of the object is kept: the state file
// does not know it (its mtime is then fetched by a HEAD when sizes match, as for any object the state lacks).
func (d *deferredKeys) add(it *item) error {
	d.n++
	s := it.src
	return d.s.add([]ObjectInfo{{Key: it.cleanKey + deferredSep + it.key, Size: s.Size, ETag: s.ETag,
		LastModified: s.LastModified, StorageClass: s.StorageClass, Restore: s.Restore}})
}

// deferredKey is one held key as it comes back: its clean key, its own key and its S3 entry.
type deferredKey struct {
	clean string
	src   Entry
}

// all returns the held keys in the order of their clean keys.
func (d *deferredKeys) all(ctx context.Context) iter.Seq2[*deferredKey, error] {
	return func(yield func(*deferredKey, error) bool) {
		if d.n == 0 {
			return
		}
		stop := errors.New("stopped")
		err := d.s.emit(ctx, func(objs []ObjectInfo) error {
			for _, o := range objs {
				clean, key, _ := strings.Cut(o.Key, deferredSep)
				src := Entry{Key: key, Size: o.Size, ETag: o.ETag, LastModified: o.LastModified, Mtime: o.LastModified,
					Marker: strings.HasSuffix(key, "/")}
				noteArchive(&src, o)
				if src.IsDir() {
					src.MtimeKnown = true
				}
				if !yield(&deferredKey{clean: clean, src: src}, nil) {
					return stop
				}
			}
			return nil
		})
		if err != nil && err != stop {
			yield(nil, err)
		}
	}
}

func (d *deferredKeys) close() { d.s.close() }

// finishPass runs at the end of a download pass, once both listings have ended in order: it settles the keys that
// are not canonical (see deferredKeys) and replays the held deletes, in the order of local paths, dropping every
// delete of a path that such a key maps to. held and def may be nil.
func (e *engine) finishPass(ctx context.Context, held *heldDeletes, def *deferredKeys, emit func(*item) error) error {
	if def == nil {
		def = &deferredKeys{}
	}
	next, stop := iter.Pull2(def.all(ctx))
	defer stop()
	var settle deferredSettler
	var pending *deferredKey
	advance := func() error {
		pending = nil
		dk, err, ok := next()
		if ok && err == nil {
			pending = dk
		}
		return err
	}
	if err := advance(); err != nil {
		return err
	}
	// settleUpTo settles the held keys whose clean key sorts before key, or all of them when all is set, and says
	// whether one of them maps to key itself.
	settleUpTo := func(key string, all bool) (bool, error) {
		claimed := false
		for pending != nil && (all || pending.clean <= key) {
			claimed = claimed || pending.clean == key
			if err := emit(e.settleDeferred(ctx, &settle, pending)); err != nil {
				return false, err
			}
			if err := advance(); err != nil {
				return false, err
			}
		}
		return claimed, nil
	}
	if held != nil {
		err := held.replay(ctx, func(it *item) error {
			claimed, err := settleUpTo(it.key, false)
			if err != nil || claimed {
				// A local path that a key maps to is never deleted: that key is downloaded there, or compared
				// with it, or reported as a collision, and either way the file is not an orphan.
				return err
			}
			e.placeItem(it)
			return emit(it)
		})
		if err != nil {
			return err
		}
	}
	_, err := settleUpTo("", true)
	return err
}

// deferredSettler remembers what the keys settled so far in a pass claimed, for the collisions among them: they
// come in the order of their clean keys, so a key that maps to the same path as another comes right after it, and a
// key below a file comes after that file's key while it is still a prefix (as in merge).
type deferredSettler struct {
	lastClean, lastKey string   // the clean key and key of the last key that claimed its path
	files              []string // clean keys of held file keys that are string prefixes of the current one
	fileKeys           []string // the original key of each entry of files
}

// settleDeferred makes the item of one held key: a failure when it collides with another key, else a download to
// (or a comparison with) its cleaned path.
func (e *engine) settleDeferred(ctx context.Context, st *deferredSettler, dk *deferredKey) *item {
	src := dk.src
	it := &item{seq: -1, key: src.Key, src: &src, action: ActionCopy}
	e.placeItem(it)
	if it.err != nil {
		return it
	}
	if dk.clean == st.lastClean && !(src.IsDir() && strings.HasSuffix(st.lastKey, "/")) {
		// Two directory markers of one directory are harmless; anything else would overwrite the first key's file.
		it.err = collisionError(it.key, dk.clean, st.lastKey)
		return it
	}
	for len(st.files) > 0 && !strings.HasPrefix(dk.clean, st.files[len(st.files)-1]) {
		st.files, st.fileKeys = st.files[:len(st.files)-1], st.fileKeys[:len(st.fileKeys)-1]
	}
	for i, f := range st.files {
		if strings.HasPrefix(dk.clean, f+"/") {
			it.err = fmt.Errorf("key %q maps to local path %q, below the path key %q maps to, which is a file; it was not downloaded",
				it.key, dk.clean, st.fileKeys[i])
			return it
		}
	}
	if it.err = e.collidesInS3(ctx, it.key, dk.clean); it.err != nil {
		return it
	}
	st.lastClean, st.lastKey = dk.clean, it.key
	if !src.IsDir() {
		st.files, st.fileKeys = append(st.files, dk.clean), append(st.fileKeys, it.key)
	}
	// What is at the cleaned path now, compared as the merge compares any local entry with its key.
	if fi, err := os.Lstat(it.localPath); err == nil {
		k := strings.TrimSuffix(dk.clean, "/")
		if fi.IsDir() {
			k += "/"
		}
		dst := localEntry(k, fi)
		it.dst = &dst
	}
	it.action = Decide(it.src, it.dst, e.o.Compare, false)
	return it
}

// collisionError says that key maps to the local path clean, which other maps to (or is) too.
func collisionError(key, clean, other string) error {
	return fmt.Errorf("key %q maps to the same path as key %q (local path %q); it was not downloaded", key, other, clean)
}

// collidesInS3 checks whether a canonical key in S3 maps to the same local path as key (clean, the key itself
// without its trailing '/' for a marker), to a file above it, or, for a file, to a path below it. It returns the
// item's error: a collision, or the error of a request that failed.
func (e *engine) collidesInS3(ctx context.Context, key, clean string) error {
	prefix := e.prefix()
	exists := func(k string) (bool, error) {
		_, err := e.store.Head(ctx, prefix+k)
		if err == nil {
			return true, nil
		}
		if IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	name := strings.TrimSuffix(clean, "/")
	if found, err := exists(name); err != nil || found {
		if found {
			return collisionError(key, clean, name)
		}
		return err
	}
	for i := strings.IndexByte(name, '/'); i >= 0; i = nextSlash(name, i) {
		if found, err := exists(name[:i]); err != nil || found {
			if found {
				return fmt.Errorf("key %q maps to local path %q, below the path of key %q, which is a file; it was not downloaded",
					key, clean, name[:i])
			}
			return err
		}
	}
	if strings.HasSuffix(clean, "/") {
		return nil
	}
	// A file cannot be where other keys need a directory. Keys under "name/" may still map elsewhere ("name/../x"),
	// so each is cleaned; the first that lies below ends the listing.
	below := ""
	errFound := errors.New("found")
	err := e.store.List(ctx, prefix+name+"/", func(objs []ObjectInfo) error {
		for _, o := range objs {
			c, err := fsx.CleanKey(strings.TrimPrefix(o.Key, prefix))
			if err == nil && strings.HasPrefix(c, name+"/") {
				below = strings.TrimPrefix(o.Key, prefix)
				return errFound
			}
		}
		return nil
	})
	if below != "" {
		return fmt.Errorf("key %q maps to local path %q, which key %q needs as a directory; it was not downloaded", key, clean, below)
	}
	if err != nil && !errors.Is(err, errFound) {
		return err
	}
	return nil
}

// nextSlash returns the index of the '/' after the one at i in s, or -1.
func nextSlash(s string, i int) int {
	j := strings.IndexByte(s[i+1:], '/')
	if j < 0 {
		return -1
	}
	return i + 1 + j
}
