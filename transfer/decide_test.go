package transfer

import (
	"errors"
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	t0 := time.Unix(1595002920, 123456789)
	file := func(size int64, mt time.Time) *Entry {
		return &Entry{Key: "f", Size: size, Mtime: mt, MtimeKnown: true}
	}
	unknown := &Entry{Key: "f", Size: 10, Mtime: t0.Add(time.Hour)} // an object straight from a listing
	emptyDir := &Entry{Key: "d/", Marker: true, MtimeKnown: true}
	fullDir := &Entry{Key: "d/", MtimeKnown: true}
	// archived is an object in S3 Glacier that cannot be read until it is restored (a download's source).
	archived := func(size int64, mt time.Time) *Entry {
		return &Entry{Key: "f", Size: size, Mtime: mt, MtimeKnown: true, StorageClass: "GLACIER", Archived: true}
	}
	archivedUnknown := &Entry{Key: "f", Size: 10, Mtime: t0.Add(time.Hour), StorageClass: "DEEP_ARCHIVE", Archived: true}
	archivedMarker := &Entry{Key: "d/", Marker: true, MtimeKnown: true, StorageClass: "GLACIER", Archived: true}
	// Below a local directory that could not be read (see merge): the local side is unknown, and so is the directory.
	unknown0 := &Entry{Key: "f", Unknown: true}
	unreadDir := &Entry{Key: "d/", Unknown: true, ReadErr: errors.New("read directory: permission denied")}
	tests := []struct {
		name     string
		src, dst *Entry
		mode     CompareMode
		del      bool
		want     Action
	}{
		{"missing at destination", file(10, t0), nil, CompareNewer, false, ActionCopy},
		{"only at destination", nil, file(10, t0), CompareNewer, false, ActionSkip},
		{"only at destination, --delete", nil, file(10, t0), CompareNewer, true, ActionDelete},
		{"identical", file(10, t0), file(10, t0), CompareNewer, false, ActionSkip},
		{"identical, --delete", file(10, t0), file(10, t0), CompareNewer, true, ActionSkip},
		{"size differs", file(11, t0), file(10, t0), CompareNewer, false, ActionCopy},
		{"size differs, dest newer", file(11, t0), file(10, t0.Add(time.Hour)), CompareNewer, false, ActionCopy},
		{"source newer", file(10, t0.Add(time.Second)), file(10, t0), CompareNewer, false, ActionCopy},
		{"source 1ns newer", file(10, t0.Add(1)), file(10, t0), CompareNewer, false, ActionCopy},
		{"destination newer", file(10, t0), file(10, t0.Add(time.Second)), CompareNewer, false, ActionSkip},
		{"destination newer, exact", file(10, t0), file(10, t0.Add(time.Second)), CompareExact, false, ActionCopy},
		{"identical, exact", file(10, t0), file(10, t0), CompareExact, false, ActionSkip},
		{"size only, times differ", file(10, t0), file(10, t0.Add(time.Hour)), CompareSize, false, ActionSkip},
		{"size only, sizes differ", file(10, t0), file(9, t0), CompareSize, false, ActionCopy},
		{"cp copies identical files", file(10, t0), file(10, t0), CompareAlways, false, ActionCopy},
		{"object mtime unknown", file(10, t0), unknown, CompareNewer, false, ActionNeedMtime},
		{"object mtime unknown, size differs", file(9, t0), unknown, CompareNewer, false, ActionCopy},
		{"object mtime unknown, size only", file(10, t0), unknown, CompareSize, false, ActionSkip},
		{"seconds-only file system vs ns metadata", file(10, t0.Truncate(time.Second)), file(10, t0), CompareExact, false, ActionSkip},
		{"seconds-only, source a second newer", file(10, t0.Truncate(time.Second).Add(time.Second)), file(10, t0), CompareNewer, false, ActionCopy},
		{"empty directory missing", emptyDir, nil, CompareNewer, false, ActionCopy},
		{"non-empty directory needs no marker", fullDir, nil, CompareNewer, false, ActionSkip},
		{"directory on both sides", emptyDir, emptyDir, CompareAlways, false, ActionSkip},
		{"directory only at destination, --delete", nil, emptyDir, CompareNewer, true, ActionDelete},
		{"nothing", nil, nil, CompareNewer, true, ActionSkip},
		{"archived, missing at destination", archived(10, t0), nil, CompareNewer, false, ActionArchived},
		{"archived, size differs", archived(11, t0), file(10, t0), CompareNewer, false, ActionArchived},
		{"archived, source newer", archived(10, t0.Add(time.Second)), file(10, t0), CompareNewer, false, ActionArchived},
		{"archived, up to date: nothing to read", archived(10, t0), file(10, t0), CompareNewer, false, ActionSkip},
		{"archived, up to date, --delete keeps the local copy", archived(10, t0), file(10, t0), CompareNewer, true, ActionSkip},
		{"archived, destination newer, --delete", archived(10, t0), file(10, t0.Add(time.Hour)), CompareNewer, true, ActionSkip},
		{"archived, size differs, --delete", archived(11, t0), file(10, t0), CompareNewer, true, ActionArchived},
		{"archived, mtime unknown: a HEAD answers for archived objects", file(10, t0), archivedUnknown, CompareNewer, false, ActionNeedMtime},
		{"archived source, mtime unknown", archivedUnknown, file(10, t0), CompareNewer, false, ActionNeedMtime},
		{"archived, cp", archived(10, t0), file(10, t0), CompareAlways, false, ActionArchived},
		{"archived, size only, same size", archived(10, t0), file(10, t0.Add(time.Hour)), CompareSize, false, ActionSkip},
		{"archived destination (upload): compared as usual", file(11, t0), archived(10, t0), CompareNewer, false, ActionCopy},
		{"archived directory marker: made, never read", archivedMarker, nil, CompareNewer, false, ActionCopy},
		{"upload, local side unknown, --delete: the object stays", unknown0, file(10, t0), CompareNewer, true, ActionSkip},
		{"upload, local side unknown, cp: the object stays", unknown0, file(10, t0), CompareAlways, true, ActionSkip},
		{"upload, local side unknown, marker stays", unknown0, emptyDir, CompareNewer, true, ActionSkip},
		{"upload, unreadable directory, marker at destination, --delete", unreadDir, emptyDir, CompareNewer, true, ActionSkip},
		{"upload, unreadable directory, nothing at destination", unreadDir, nil, CompareNewer, true, ActionSkip},
		{"download, local side unknown: copied as if absent", file(10, t0), unknown0, CompareNewer, true, ActionCopy},
		{"download, local side unknown, size only: copied as if absent", file(10, t0), unknown0, CompareSize, false, ActionCopy},
		{"download, local side unknown, archived", archived(10, t0), unknown0, CompareNewer, true, ActionArchived},
		{"download, unreadable directory, --delete: not deleted", nil, unreadDir, CompareNewer, true, ActionSkip},
		{"download, unreadable directory, implied at source, --delete", &Entry{Key: "d/", Implied: true}, unreadDir, CompareNewer, true, ActionSkip},
		{"download, marker at source, local side unknown", emptyDir, unknown0, CompareNewer, true, ActionCopy},
		{"restored (not archived)", &Entry{Key: "f", Size: 10, Mtime: t0, MtimeKnown: true, StorageClass: "GLACIER", Restore: RestoreDone}, nil, CompareNewer, false, ActionCopy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Decide(tt.src, tt.dst, tt.mode, tt.del); got != tt.want {
				t.Errorf("Decide = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSameTime(t *testing.T) {
	base := time.Unix(1595002920, 0)
	tests := []struct {
		a, b time.Time
		want bool
	}{
		{base, base, true},
		{base.Add(123456789), base.Add(123456789), true},
		{base.Add(123456789), base, true},                // seconds-only side
		{base.Add(123000000), base.Add(123456789), true}, // milliseconds-only side
		{base.Add(124000000), base.Add(123456789), false},
		{base.Add(123456789), base.Add(123456788), false},
		{base.Add(time.Second), base, false},
	}
	for _, tt := range tests {
		if got := SameTime(tt.a, tt.b); got != tt.want {
			t.Errorf("SameTime(%v, %v) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
