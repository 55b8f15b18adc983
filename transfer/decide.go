package transfer

import (
	"io/fs"
	"strings"
	"time"
)

// Entry is one object or file as a lister sees it. Keys are relative to the sync root ('/'-separated); directories
// and directory-marker objects end in '/'.
type Entry struct {
	Key  string
	Size int64
	// Mtime is the POSIX modification time when MtimeKnown is true. For a local file it always is; for an object it
	// comes from its FSx-format metadata (through HeadObject, the GET response, or the sync state file), else from
	// its LastModified.
	Mtime      time.Time
	MtimeKnown bool
	// Mode carries the file type and permission bits (local files, or objects whose metadata is known).
	Mode fs.FileMode
	// Local-only facts.
	UID, GID uint32
	// Empty is true for a directory with no children and for a directory-marker object; false for a directory that
	// is only implied by the keys below it.
	Empty bool
	// S3-only facts.
	ETag         string
	LastModified time.Time
}

// IsDir reports whether the entry is a directory or a directory-marker object.
func (e *Entry) IsDir() bool { return strings.HasSuffix(e.Key, "/") }

// Action is what the engine does with one key.
type Action int

// The actions Decide can return.
const (
	// ActionSkip: the destination is up to date (or the key is not ours to touch).
	ActionSkip Action = iota
	// ActionCopy: transfer the source entry to the destination.
	ActionCopy
	// ActionDelete: remove the destination entry (only with --delete).
	ActionDelete
	// ActionNeedMtime: sizes match but an object's POSIX mtime is not known from the listing; fetch its metadata
	// (HeadObject) and decide again.
	ActionNeedMtime
)

var actionNames = [...]string{"skip", "copy", "delete", "need-mtime"}

func (a Action) String() string { return actionNames[a] }

// CompareMode says how a source and destination entry of the same key are compared.
type CompareMode int

// The compare modes.
const (
	// CompareNewer (sync's default): transfer when sizes differ or the source is newer than the destination.
	CompareNewer CompareMode = iota
	// CompareExact (--exact-timestamps): transfer when sizes or modification times differ at all.
	CompareExact
	// CompareSize (--size-only): transfer only when sizes differ.
	CompareSize
	// CompareAlways (cp): transfer every source entry.
	CompareAlways
)

// Decide is the whole sync policy for one key, as a pure function: src or dst may be nil (absent on that side).
func Decide(src, dst *Entry, mode CompareMode, del bool) Action {
	switch {
	case src == nil && dst == nil:
		return ActionSkip
	case src == nil:
		if del {
			return ActionDelete
		}
		return ActionSkip
	case dst == nil:
		if src.IsDir() && !src.Empty {
			// A non-empty directory needs no marker or mkdir of its own: its files imply it. Markers are uploaded
			// only for empty directories, so that they survive the round trip.
			return ActionSkip
		}
		return ActionCopy
	}
	if src.IsDir() {
		// Both sides have the directory; directory metadata is not compared.
		return ActionSkip
	}
	if mode == CompareAlways || src.Size != dst.Size {
		return ActionCopy
	}
	if mode == CompareSize {
		return ActionSkip
	}
	if !src.MtimeKnown || !dst.MtimeKnown {
		return ActionNeedMtime
	}
	switch mode {
	case CompareExact:
		if !SameTime(src.Mtime, dst.Mtime) {
			return ActionCopy
		}
	default:
		if Newer(src.Mtime, dst.Mtime) {
			return ActionCopy
		}
	}
	return ActionSkip
}

// precision returns the coarsest unit that t is a whole multiple of: a time with no sub-second part came from a
// system that keeps seconds (Lustre, ext3, FSx's millisecond form rounded), so comparisons with it must not count
// the digits it could not store.
func precision(t time.Time) time.Duration {
	ns := t.Nanosecond()
	switch {
	case ns == 0:
		return time.Second
	case ns%1e6 == 0:
		return time.Millisecond
	case ns%1e3 == 0:
		return time.Microsecond
	}
	return time.Nanosecond
}

func truncPair(a, b time.Time) (time.Time, time.Time) {
	p := max(precision(a), precision(b))
	return a.Truncate(p), b.Truncate(p)
}

// SameTime reports whether two modification times are equal at the precision both sides can hold.
func SameTime(a, b time.Time) bool {
	a, b = truncPair(a, b)
	return a.Equal(b)
}

// Newer reports whether a is later than b at the precision both sides can hold.
func Newer(a, b time.Time) bool {
	a, b = truncPair(a, b)
	return a.After(b)
}
