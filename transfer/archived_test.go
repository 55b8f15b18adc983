package transfer

import (
	"errors"
	"strings"
	"testing"
)

// Which objects S3 cannot read until they are restored (S3 User Guide, "Working with archived objects").
func TestObjectArchived(t *testing.T) {
	tests := []struct {
		name string
		o    ObjectInfo
		want bool
	}{
		{"standard", ObjectInfo{}, false},
		{"standard, named", ObjectInfo{StorageClass: "STANDARD"}, false},
		{"glacier", ObjectInfo{StorageClass: "GLACIER"}, true},
		{"deep archive", ObjectInfo{StorageClass: "DEEP_ARCHIVE"}, true},
		{"glacier, restore under way", ObjectInfo{StorageClass: "GLACIER", Restore: RestoreOngoing}, true},
		{"glacier, restored", ObjectInfo{StorageClass: "GLACIER", Restore: RestoreDone}, false},
		{"deep archive, restored", ObjectInfo{StorageClass: "DEEP_ARCHIVE", Restore: RestoreDone}, false},
		{"glacier instant retrieval is read like standard", ObjectInfo{StorageClass: "GLACIER_IR"}, false},
		{"intelligent-tiering, frequent access", ObjectInfo{StorageClass: "INTELLIGENT_TIERING"}, false},
		{"intelligent-tiering, archive access", ObjectInfo{StorageClass: "INTELLIGENT_TIERING", ArchiveStatus: "ARCHIVE_ACCESS"}, true},
		{"intelligent-tiering, deep archive access", ObjectInfo{StorageClass: "INTELLIGENT_TIERING", ArchiveStatus: "DEEP_ARCHIVE_ACCESS"}, true},
		{"intelligent-tiering, restore under way", ObjectInfo{StorageClass: "INTELLIGENT_TIERING", Restore: RestoreOngoing}, true},
		{"intelligent-tiering, restored", ObjectInfo{StorageClass: "INTELLIGENT_TIERING", ArchiveStatus: "ARCHIVE_ACCESS", Restore: RestoreDone}, false},
	}
	for _, tt := range tests {
		if got := tt.o.Archived(); got != tt.want {
			t.Errorf("%s: Archived() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestParseArchiveRestore(t *testing.T) {
	tests := []struct {
		in      string
		want    ArchiveRestore
		wantErr string
	}{
		{"7", ArchiveRestore{7, "Standard"}, ""},
		{"1", ArchiveRestore{1, "Standard"}, ""},
		{"3:Bulk", ArchiveRestore{3, "Bulk"}, ""},
		{"3:bulk", ArchiveRestore{3, "Bulk"}, ""},
		{"30:EXPEDITED", ArchiveRestore{30, "Expedited"}, ""},
		{"2:standard", ArchiveRestore{2, "Standard"}, ""},
		{"36500", ArchiveRestore{36500, "Standard"}, ""},
		{"0", ArchiveRestore{}, "a whole number from 1 to 36500"},
		{"-1", ArchiveRestore{}, "a whole number from 1 to 36500"},
		{"36501", ArchiveRestore{}, "a whole number from 1 to 36500"},
		{"seven", ArchiveRestore{}, "DAYS is how many days"},
		{"1.5", ArchiveRestore{}, "DAYS is how many days"},
		{":Bulk", ArchiveRestore{}, "DAYS is how many days"},
		{"7:Slow", ArchiveRestore{}, `the retrieval tier "Slow" is not one of Standard (the default), Bulk or Expedited`},
		{"7:", ArchiveRestore{}, `the retrieval tier "" is not one of`},
	}
	for _, tt := range tests {
		got, err := ParseArchiveRestore(tt.in)
		switch {
		case tt.wantErr == "" && (err != nil || got != tt.want):
			t.Errorf("%q: %+v, %v; want %+v", tt.in, got, err, tt.want)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) || KindOf(err) != KindUsage):
			t.Errorf("%q: %v; want a usage error saying %q", tt.in, err, tt.wantErr)
		}
	}
}

// Archived objects are counted apart: not transferred, not skipped as unchanged, not failed; a restore request that
// failed is a failure.
func TestReportCountsArchived(t *testing.T) {
	r := newReport(Options{})
	src := &Entry{Key: "a", Size: 100, StorageClass: "GLACIER", Archived: true}
	dst := &Entry{Key: "a", Size: 90}
	r.add(result{it: &item{key: "a", src: src, dst: dst}, action: ActionArchived})
	r.add(result{it: &item{key: "b", src: src}, action: ActionArchived, restore: restoreRequested})
	r.add(result{it: &item{key: "c", src: src}, action: ActionArchived, restore: restoreInProgress})
	r.add(result{it: &item{key: "d", src: src}, action: ActionArchived, err: errors.New("restore failed"), op: "restore"})
	want := ArchivedCount{Files: 3, Bytes: 300, RestoreRequested: 1, RestoreInProgress: 1}
	if r.Archived != want || r.Skipped.Files != 0 || r.Transferred.Files != 0 || r.Failed.Files != 1 {
		t.Errorf("archived %+v skipped %+v transferred %+v failed %+v; want archived %+v and one failure",
			r.Archived, r.Skipped, r.Transferred, r.Failed, want)
	}
	r.finish(nil)
	if s := r.Summary(); !strings.Contains(s, ", 3 archived objects skipped (300 B; restore requested for 1, in progress for 1: run again once done)") {
		t.Errorf("summary %q does not count the archived objects", s)
	}
	plain := newReport(Options{})
	plain.add(result{it: &item{key: "a", src: src}, action: ActionArchived})
	if s := plain.Summary(); !strings.Contains(s, ", 1 archived object skipped (100 B; restore them first: --restore-archived DAYS)") {
		t.Errorf("summary %q does not say how to restore", s)
	}
	if s := newReport(Options{}).Summary(); strings.Contains(s, "archived") {
		t.Errorf("a run without archived objects mentions them: %q", s)
	}
}
