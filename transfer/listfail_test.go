package transfer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// failingStore is an S3 side whose listing fails at once; nothing else of it may be used.
type failingStore struct{ ObjectStore }

func (failingStore) Bucket() string { return "b" }

func (failingStore) List(context.Context, string, func([]ObjectInfo) error) error {
	return WithKind(KindUnreachable, errors.New("listing failed"))
}

// A listing that fails is not a listing that ended: a download with --delete must not take the missing side for an
// empty bucket and remove the local files. The merge used to read the failed lister's closed stream as its end
// about half the time (a select between the closed channel and the cancelled context), so this runs many times.
func TestFailedListingDeletesNothing(t *testing.T) {
	dst := t.TempDir()
	for i := range 20 {
		if err := os.WriteFile(filepath.Join(dst, fmt.Sprintf("f%02d", i)), []byte("keep me"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for run := range 300 {
		rep, err := Run(context.Background(), failingStore{}, Options{Src: Location{Bucket: "b", Key: "p"},
			Dst: Location{Local: dst}, Recursive: true, Compare: CompareNewer, Delete: true})
		if KindOf(err) != KindUnreachable {
			t.Fatalf("run %d: err = %v, want the listing's failure", run, err)
		}
		if rep.Deleted.Files != 0 || rep.Failed.Files != 0 {
			t.Fatalf("run %d: deleted %d, failed %d; want nothing touched", run, rep.Deleted.Files, rep.Failed.Files)
		}
		if left, _ := os.ReadDir(dst); len(left) != 20 {
			t.Fatalf("run %d: %d of 20 local files left", run, len(left))
		}
	}
}
