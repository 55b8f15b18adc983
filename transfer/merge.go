package transfer

import (
	"context"
	"fmt"
	"strings"

	"github.com/fsxsync/fsxsync/fsx"
)

// stream reads a sorted stream of entries that a lister sends in batches.
type stream struct {
	name string
	ch   <-chan []Entry
	buf  []Entry
	i    int
	last string
	done bool
}

// peek returns the next entry without consuming it, or nil at the end of the stream.
func (s *stream) peek(ctx context.Context) (*Entry, error) {
	for !s.done && s.i >= len(s.buf) {
		select {
		case b, ok := <-s.ch:
			if !ok {
				s.done = true
				break
			}
			s.buf, s.i = b, 0
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if s.done {
		return nil, nil
	}
	return &s.buf[s.i], nil
}

// next consumes the entry peek returned, checking the order: the whole design (and --delete's safety) rests on both
// streams being strictly sorted, so a violation stops the merge instead of deleting what it failed to match.
func (s *stream) next() (*Entry, error) {
	e := &s.buf[s.i]
	s.i++
	if s.last != "" && e.Key <= s.last {
		return nil, &OrderError{Side: s.name, Key: e.Key, After: s.last}
	}
	s.last = e.Key
	return e, nil
}

// OrderError says that a listing came in an order the merge cannot use: Key arrived after After, which does not
// sort before it (or is the same key). Real S3 lists a general purpose bucket in key order, so for an S3 listing
// this means a directory bucket or a server that does not sort; the engine then lists again and sorts the listing
// itself (see runTree).
type OrderError struct {
	Side       string // "source" or "destination"
	Key, After string
}

func (e *OrderError) Error() string {
	return fmt.Sprintf("%s listing out of order: %q after %q; stopping so nothing is deleted by mistake", e.Side, e.Key, e.After)
}

// merge walks two sorted streams in step, as a zipper, and hands each key with its source and destination entries
// to fn. It holds only the current batch of each stream in memory.
//
// A directory that exists on one side as an entry ("a/") and on the other only through the keys below it is given
// an implied entry on that side, so that it is neither created nor deleted. When checkConflicts is set (downloads),
// a source key that is a file ("a") followed by keys below it ("a/b") marks those keys as conflicts: one local path
// cannot be both, the file wins, the rest is reported.
//
// A local directory the walk could not read comes as an Unknown entry, in the place of its key ("a/"), and nothing
// below it comes from the local side. Its item carries its ReadErr, so the directory is reported as failed (unless
// the filters exclude it), and every key below it from the other side is given an Unknown local entry: keys with
// the prefix "a/" sort together right after "a/" itself ("a-b" and "a0" do not have the prefix), so one prefix
// remembered until a key without it arrives covers them all. Decide then deletes nothing there, on either side.
func merge(ctx context.Context, srcCh, dstCh <-chan []Entry, checkConflicts bool, fn func(*item) error) error {
	src := &stream{name: "source", ch: srcCh}
	dst := &stream{name: "destination", ch: dstCh}
	var files []string // source file keys that are string prefixes of the current key: possible conflicts
	unread := ""       // the key of a local directory that could not be read, while the keys lie below it
	seq := 0
	for {
		s, err := src.peek(ctx)
		if err != nil {
			return err
		}
		d, err := dst.peek(ctx)
		if err != nil {
			return err
		}
		if s == nil && d == nil {
			return nil
		}
		it := &item{seq: seq}
		seq++
		switch {
		case d == nil || (s != nil && s.Key < d.Key):
			it.key = s.Key
			if it.src, err = src.next(); err != nil {
				return err
			}
			if s.IsDir() {
				it.dst = impliedDir(ctx, dst, s.Key)
			}
		case s == nil || d.Key < s.Key:
			it.key = d.Key
			if it.dst, err = dst.next(); err != nil {
				return err
			}
			if d.IsDir() {
				it.src = impliedDir(ctx, src, d.Key)
			}
		default:
			it.key = s.Key
			if it.src, err = src.next(); err != nil {
				return err
			}
			if it.dst, err = dst.next(); err != nil {
				return err
			}
		}
		if checkConflicts && it.src != nil {
			files = popNonPrefixes(files, it.key)
			for _, f := range files {
				// A key that is not canonical ("same/../x") maps to its cleaned path, not below f; it is checked
				// against the keys that map to the same path at the end of the pass (deferred.go).
				if strings.HasPrefix(it.key, f+"/") && fsx.IsCanonicalKey(it.key) {
					it.err = fmt.Errorf("conflict: key %q is below key %q, which is a file; one local path cannot be both (the file was kept, this key skipped)", it.key, f)
					break
				}
			}
			if !it.src.IsDir() {
				files = append(files, it.key)
			}
		}
		unread = markUnreadable(it, unread)
		if err := fn(it); err != nil {
			return err
		}
	}
}

// markUnreadable handles local directories that could not be read, for merge: it fails the item of such a
// directory, gives the items below it an Unknown local entry, and returns the prefix to remember for the next item.
func markUnreadable(it *item, unread string) string {
	if unread != "" && !strings.HasPrefix(it.key, unread) {
		unread = ""
	}
	for _, e := range [...]*Entry{it.src, it.dst} {
		if e != nil && e.Unknown {
			// Only an unreadable directory comes Unknown from a stream; the filters may have spared it the failure.
			if e.ReadErr != nil {
				it.err, it.errOp = e.ReadErr, "read directory"
			}
			return it.key
		}
	}
	if unread != "" {
		// Only one side is local, and the walk sent nothing from below the directory, so that side is the one
		// missing; the other side's entry stays as it is.
		unknown := &Entry{Key: it.key, Unknown: true}
		switch {
		case it.src == nil:
			it.src = unknown
		case it.dst == nil:
			it.dst = unknown
		}
	}
	return unread
}

// impliedDir returns an implied directory entry when the other stream's next key lies below dir.
func impliedDir(ctx context.Context, other *stream, dir string) *Entry {
	n, err := other.peek(ctx)
	if err != nil || n == nil || !strings.HasPrefix(n.Key, dir) {
		return nil
	}
	return &Entry{Key: dir, Implied: true}
}

// popNonPrefixes drops the keys that are not string prefixes of key: keys arrive sorted, so once a key stops being
// a prefix of the current one, no later key can lie below it.
func popNonPrefixes(files []string, key string) []string {
	for len(files) > 0 && !strings.HasPrefix(key, files[len(files)-1]) {
		files = files[:len(files)-1]
	}
	return files
}
