package transfer_test

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fsxsync/fsxsync/fsx"
	"github.com/fsxsync/fsxsync/transfer"
)

// faultFS is the real file system, except that listing the directories in fail fails with err, as a directory
// without read permission does for a user who is not root, or one on a file system that answers EIO.
type faultFS struct {
	fsx.OSFS
	fail map[string]bool
	err  error
}

func (f faultFS) ReadDirNames(dir string) ([]string, error) {
	if f.fail[filepath.Clean(dir)] {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: f.err}
	}
	return f.OSFS.ReadDirNames(dir)
}

// runFaulted is runSyncErr with the local side walked through fsys.
func runFaulted(t *testing.T, store transfer.ObjectStore, src, dst string, del bool, fsys fsx.FS) (*transfer.Report, error) {
	t.Helper()
	s, err := transfer.ParseLocation(src)
	if err != nil {
		t.Fatal(err)
	}
	d, err := transfer.ParseLocation(dst)
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	o := transfer.Options{Src: s, Dst: d, Recursive: true, Compare: transfer.CompareNewer, Delete: del, Concurrency: 4,
		Log: slog.New(slog.NewTextHandler(&log, nil))}
	transfer.SetWalkFS(&o, fsys)
	rep, err := transfer.Run(context.Background(), store, o)
	t.Logf("log:\n%s", log.String())
	return rep, err
}

// checkDirFailure checks that the report's only failure is the unreadable directory key, with its path and reason.
func checkDirFailure(t *testing.T, rep *transfer.Report, key, path string, reason error) {
	t.Helper()
	if rep.Failed.Files != 1 || len(rep.Failures) != 1 {
		t.Fatalf("failed %d, failures %+v; want the one directory", rep.Failed.Files, rep.Failures)
	}
	f := rep.Failures[0]
	if f.Key != key || f.Op != "read directory" || !strings.Contains(f.Error, path) || !strings.Contains(f.Error, reason.Error()) {
		t.Errorf("failure %+v; want key %q, op \"read directory\", an error naming %s and saying %q", f, key, path, reason)
	}
	if rep.Fatal != "" {
		t.Errorf("fatal %q; want none", rep.Fatal)
	}
}

// An upload with --delete from a tree with a directory that cannot be read: the directory is one failure, named
// with its path and reason; everything else is uploaded and deleted as usual; and the objects under the directory's
// prefix are kept, whatever they are, since what the directory holds is not known. Names that sort around "secret/"
// without being below it ("secret-x", "secret.x", "secret0/") are not protected.
func TestUnreadableDirectoryUpload(t *testing.T) {
	mtime := time.Unix(1700000000, 0)
	for _, reason := range []syscall.Errno{syscall.EACCES, syscall.EIO} {
		t.Run(reason.Error(), func(t *testing.T) {
			store, bucket := newStore(t)
			src := t.TempDir()
			writeTree(t, src, map[string][]byte{
				"a.txt": []byte("a"), "keep/b.txt": []byte("b"), "secret/c.txt": []byte("c"), "secret/sub/e.txt": []byte("e"),
				"secret-x": []byte("x"), "secret.x": []byte("x"), "secret0/d.txt": []byte("d"),
			}, mtime)
			remote := "s3://" + bucket + "/p"
			runSync(t, store, src, remote, runCfg{})
			if _, err := store.PutSmall(context.Background(), "p/secret/only-in-s3", []byte("s"), nil); err != nil {
				t.Fatal(err)
			}
			// Locally: one file removed inside the unreadable directory (its object must stay all the same), one
			// directory removed elsewhere and one file next to it (their objects must go), one file added.
			for _, p := range []string{"secret/c.txt", "keep", "secret.x"} {
				if err := os.RemoveAll(filepath.Join(src, p)); err != nil {
					t.Fatal(err)
				}
			}
			writeTree(t, src, map[string][]byte{"new.txt": []byte("new")}, mtime)

			secret := filepath.Join(src, "secret")
			rep, err := runFaulted(t, store, src, remote, true, faultFS{fail: map[string]bool{secret: true}, err: reason})
			if err != nil {
				t.Fatalf("run: %v; want the directory's failure in the report, not a fatal error", err)
			}
			checkDirFailure(t, rep, "secret/", secret, reason)
			if rep.Transferred.Files != 1 || rep.Deleted.Files != 2 {
				t.Errorf("transferred %d, deleted %d; want new.txt uploaded, keep/b.txt and secret.x deleted", rep.Transferred.Files, rep.Deleted.Files)
			}
			// a.txt, secret-x and secret0/d.txt are unchanged; the keys under secret/ were not compared at all.
			if rep.Skipped.Files != 3 {
				t.Errorf("skipped %d, want 3", rep.Skipped.Files)
			}
			got := objectKeys(t, srv(t).Client(), bucket, "p/")
			want := []string{"p/a.txt", "p/new.txt", "p/secret-x", "p/secret/c.txt", "p/secret/only-in-s3",
				"p/secret/sub/e.txt", "p/secret0/d.txt"}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("objects\n got %q\nwant %q", got, want)
			}
		})
	}
}

// A download with --delete into a tree with a directory that cannot be read: the directory is one failure; nothing
// under it is deleted, and what the source has under it is copied as if absent there (as root, through a fault
// injected in the walk, the writes succeed; for a user who cannot write there, each file fails on its own).
// Everything else is downloaded and deleted as usual.
func TestUnreadableDirectoryDownload(t *testing.T) {
	store, bucket := newStore(t)
	mtime := time.Unix(1700000000, 0)
	up := t.TempDir()
	writeTree(t, up, map[string][]byte{"a.txt": []byte("a"), "secret/c.txt": []byte("new c"), "z.txt": []byte("z")}, mtime)
	remote := "s3://" + bucket + "/p"
	runSync(t, store, up, remote, runCfg{})

	dst := t.TempDir()
	writeTree(t, dst, map[string][]byte{"a.txt": []byte("a"), "stale.txt": []byte("gone at the source"),
		"secret/local-only.txt": []byte("keep me"), "secret/sub/deep.txt": []byte("keep me too"), "secret0": []byte("gone")}, mtime)
	secret := filepath.Join(dst, "secret")
	rep, err := runFaulted(t, store, remote, dst, true, faultFS{fail: map[string]bool{secret: true}, err: syscall.EACCES})
	if err != nil {
		t.Fatalf("run: %v; want the directory's failure in the report, not a fatal error", err)
	}
	checkDirFailure(t, rep, "secret/", secret, syscall.EACCES)
	if rep.Transferred.Files != 2 || rep.Deleted.Files != 2 {
		t.Errorf("transferred %d, deleted %d; want secret/c.txt and z.txt downloaded, stale.txt and secret0 deleted", rep.Transferred.Files, rep.Deleted.Files)
	}
	for p, want := range map[string]string{"a.txt": "a", "z.txt": "z", "secret/c.txt": "new c",
		"secret/local-only.txt": "keep me", "secret/sub/deep.txt": "keep me too"} {
		if b, err := os.ReadFile(filepath.Join(dst, p)); err != nil || string(b) != want {
			t.Errorf("%s: %q, %v; want %q", p, b, err, want)
		}
	}
	for _, p := range []string{"stale.txt", "secret0"} {
		if _, err := os.Lstat(filepath.Join(dst, p)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: %v; want it deleted", p, err)
		}
	}
}

// What stays fatal: the root itself cannot be read (nothing at all is known), and a walk cut off by its context.
// Neither may delete anything.
func TestUnreadableRootAndCancelledWalkAreFatal(t *testing.T) {
	store, bucket := newStore(t)
	src := t.TempDir()
	writeTree(t, src, map[string][]byte{"a.txt": []byte("a"), "d/b.txt": []byte("b")}, time.Unix(1700000000, 0))
	remote := "s3://" + bucket + "/p"
	runSync(t, store, src, remote, runCfg{})
	for _, tc := range []struct {
		name string
		dir  string
		err  error
	}{
		{"root unreadable", src, syscall.EACCES},
		{"cancelled", filepath.Join(src, "d"), context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := runFaulted(t, store, src, remote, true, faultFS{fail: map[string]bool{tc.dir: true}, err: tc.err})
			if err == nil || !errors.Is(err, tc.err) {
				t.Fatalf("run: %v; want a fatal error saying %v", err, tc.err)
			}
			if rep.Deleted.Files != 0 || rep.Failed.Files != 0 || rep.Fatal == "" {
				t.Errorf("deleted %d, failed %d, fatal %q; want nothing deleted and the fatal error", rep.Deleted.Files, rep.Failed.Files, rep.Fatal)
			}
			if n := len(objectKeys(t, srv(t).Client(), bucket, "p/")); n != 2 {
				t.Errorf("%d objects left, want 2", n)
			}
		})
	}
}
