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
	// HasMode says an object's metadata gave its mode: a file whose permissions are 000 has Mode 0 (or ModeDir).
	HasMode bool
	// UID and GID: a local file's owner, or (HasOwner) the owner an object's metadata records.
	UID, GID uint32
	HasOwner bool
	// Marker is true for a directory that is, or should be, a directory-marker object (a zero-byte "key/"): every
	// marker object, a local directory with no children, and with --dir-markers every local directory. Implied is
	// true for a directory that exists on that side only through the keys below it.
	Marker  bool
	Implied bool
	// Unknown is true for a local entry the walk could not see: a directory it could not read (ReadErr says why),
	// and, standing in for the local side, each key below it that the other side has (see merge). What is there
	// locally is not known, so Decide deletes nothing because of it, on either side, and an upload does not replace
	// the object.
	Unknown bool
	// ReadErr is why a local directory could not be read (open or readdir failed); nil when the filters exclude it.
	ReadErr error
	// S3-only facts.
	ETag         string
	LastModified time.Time
	// StorageClass and Restore are what S3 said of the object's storage class and restore (see ObjectInfo), and
	// Archived whether it cannot be read until it is restored (ObjectInfo.Archived).
	StorageClass string
	Restore      RestoreState
	Archived     bool
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
	// ActionArchived: the source is an archived object that would be copied, but S3 cannot read it until it is
	// restored: it is skipped with a warning, or its restore is asked for (see archived.go), and the destination is
	// left as it is.
	ActionArchived
)

var actionNames = [...]string{"skip", "copy", "delete", "need-mtime", "archived"}

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

// Decide is the whole sync policy for one key, as a pure function: src or dst may be nil (absent on that side). A
// source that would be copied but is archived gets ActionArchived instead: only an object can be (a download's
// source), and one that is up to date at the destination is skipped as usual, since nothing needs reading.
func Decide(src, dst *Entry, mode CompareMode, del bool) Action {
	a := decide(src, dst, mode, del)
	if a == ActionCopy && src.Archived && !src.IsDir() {
		// A directory marker is never read: a download makes the directory and HEADs the marker, which S3 answers
		// for archived objects too.
		return ActionArchived
	}
	return a
}

func decide(src, dst *Entry, mode CompareMode, del bool) Action {
	switch {
	case src != nil && src.Unknown:
		// An upload from a local directory that could not be read: the object may be the only copy of a file that is
		// still there, so it is neither replaced nor deleted.
		return ActionSkip
	case dst != nil && dst.Unknown:
		// A download into a local directory that could not be read: a key the source has is copied as if absent
		// (cp does the same; the write fails if the directory cannot be written either), and nothing is deleted.
		// The directory itself exists; its failure is reported by the engine.
		if src == nil || dst.ReadErr != nil {
			return ActionSkip
		}
		return decide(src, nil, mode, false)
	case src == nil && dst == nil:
		return ActionSkip
	case src == nil:
		if del {
			return ActionDelete
		}
		return ActionSkip
	case src.IsDir():
		// A directory that needs no marker (not empty, and no --dir-markers) is implied by its files. One that does
		// is created unless the other side has it as a marker or a real directory; directory metadata is not
		// compared.
		if src.Marker && (dst == nil || dst.Implied) {
			return ActionCopy
		}
		return ActionSkip
	case dst == nil:
		return ActionCopy
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
