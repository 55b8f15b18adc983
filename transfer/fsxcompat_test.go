package transfer_test

import (
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/fsxsync/fsxsync/transfer"
)

// Objects written the way an FSx for Lustre data repository export writes them (the headers as documented) download
// with the right type, mode, mtime and owner.
func TestFSxExportedObjectsDownload(t *testing.T) {
	store, bucket := newStore(t)
	c := srv(t).Client()
	put := func(key, body string, md map[string]string) {
		t.Helper()
		_, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
			Body: strings.NewReader(body), Metadata: md})
		if err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
	}
	put("exp/file.txt", "exported by FSx", map[string]string{"file-permissions": "0100640", "file-owner": "1234",
		"file-group": "5678", "file-mtime": "1595002920123456789ns", "file-atime": "1595002920123456789ns", "user-agent": "aws-fsx-lustre"})
	put("exp/ms.txt", "millisecond mtime", map[string]string{"file-permissions": "0100600", "file-mtime": "1595002920123"})
	put("exp/setuid", "a program", map[string]string{"file-permissions": "0104755", "file-mtime": "1595002920000000000ns"})
	put("exp/dir/", "", map[string]string{"file-permissions": "040750", "file-mtime": "1595000000000000000ns"})
	put("exp/dir/inner.txt", "inside", map[string]string{"file-permissions": "0100644", "file-mtime": "1595001000000000000ns"})
	put("exp/link", "file.txt", map[string]string{"file-permissions": "0120777", "file-mtime": "1595002000000000000ns"})
	put("exp/rclone.txt", "written by rclone", map[string]string{"mtime": "1595002920.5"})
	// Mode 000 is a mode like any other (not "no mode"), and the sticky bit of a shared directory is kept.
	put("exp/locked", "no one may read this", map[string]string{"file-permissions": "0100000", "file-mtime": "1595002920000000000ns"})
	put("exp/shared/", "", map[string]string{"file-permissions": "041777", "file-mtime": "1595000000000000000ns"})

	dst := t.TempDir()
	rep, err := transfer.Run(context.Background(), store, transfer.Options{Src: transfer.Location{Bucket: bucket, Key: "exp"}, Dst: transfer.Location{Local: dst},
		Recursive: true, PreserveOwner: true})
	if err != nil || rep.Failed.Files != 0 {
		t.Fatalf("download: %v %+v", err, rep.Failures)
	}
	check := func(rel string, mode fs.FileMode, mtime time.Time) {
		t.Helper()
		fi, err := os.Lstat(filepath.Join(dst, rel))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != mode {
			t.Errorf("%s: mode %v, want %v", rel, fi.Mode(), mode)
		}
		if !fi.ModTime().Equal(mtime) {
			t.Errorf("%s: mtime %v, want %v", rel, fi.ModTime().UnixNano(), mtime.UnixNano())
		}
	}
	check("file.txt", 0o640, time.Unix(0, 1595002920123456789))
	check("ms.txt", 0o600, time.UnixMilli(1595002920123))
	check("setuid", 0o755, time.Unix(1595002920, 0)) // setuid is not applied without --preserve-setid
	check("dir", fs.ModeDir|0o750, time.Unix(0, 1595000000000000000))
	check("dir/inner.txt", 0o644, time.Unix(0, 1595001000000000000))
	check("link", fs.ModeSymlink|0o777, time.Unix(0, 1595002000000000000))
	check("rclone.txt", 0o644, time.Unix(1595002920, 5e8))
	check("locked", 0, time.Unix(1595002920, 0))
	check("shared", fs.ModeDir|fs.ModeSticky|0o777, time.Unix(0, 1595000000000000000))
	if target, _ := os.Readlink(filepath.Join(dst, "link")); target != "file.txt" {
		t.Errorf("link -> %q, want file.txt", target)
	}
	if os.Geteuid() == 0 {
		fi, _ := os.Lstat(filepath.Join(dst, "file.txt"))
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != 1234 || st.Gid != 5678 {
			t.Errorf("file.txt owner %d:%d, want 1234:5678 (--preserve-owner as root)", st.Uid, st.Gid)
		}
	}

	// With --preserve-setid the bit is kept.
	dst2 := t.TempDir()
	if _, err := transfer.Run(context.Background(), store, transfer.Options{Src: transfer.Location{Bucket: bucket, Key: "exp"}, Dst: transfer.Location{Local: dst2},
		Recursive: true, PreserveSetid: true}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Lstat(filepath.Join(dst2, "setuid")); fi.Mode() != fs.ModeSetuid|0o755 {
		t.Errorf("setuid with --preserve-setid: mode %v", fi.Mode())
	}
}

// A tree uploaded by fsxsync carries the metadata an FSx import reads, as the exact header strings FSx writes.
func TestUploadWritesFSxHeaders(t *testing.T) {
	store, bucket := newStore(t)
	src := t.TempDir()
	mt := time.Unix(0, 1700000000123456789)
	writeTree(t, src, map[string][]byte{"f.txt": []byte("x"), "empty/": nil, "full/g.txt": []byte("y")}, mt)
	os.Chmod(filepath.Join(src, "f.txt"), 0o640)
	os.Chtimes(filepath.Join(src, "empty"), mt, mt)
	os.Symlink("f.txt", filepath.Join(src, "link"))
	if _, err := transfer.Run(context.Background(), store, transfer.Options{Src: transfer.Location{Local: src}, Dst: transfer.Location{Bucket: bucket, Key: "up"},
		Recursive: true}); err != nil {
		t.Fatal(err)
	}
	head := func(key string) map[string]string {
		t.Helper()
		out, err := srv(t).Client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("head %s: %v", key, err)
		}
		return out.Metadata
	}
	uid, gid := strconv.Itoa(os.Getuid()), strconv.Itoa(os.Getgid())
	want := map[string]map[string]string{
		"up/f.txt":      {"file-permissions": "0100640", "file-mtime": "1700000000123456789ns", "file-owner": uid, "file-group": gid, "user-agent": "fsxsync"},
		"up/empty/":     {"file-permissions": "040755", "file-mtime": "1700000000123456789ns"},
		"up/link":       {"file-permissions": "0120777"},
		"up/full/g.txt": {"file-permissions": "0100640"},
	}
	for key, hdrs := range want {
		md := head(key)
		for k, v := range hdrs {
			if md[k] != v {
				t.Errorf("%s: x-amz-meta-%s = %q, want %q", key, k, md[k], v)
			}
		}
	}
	body, _ := srv(t).Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("up/link")})
	if b, _ := io.ReadAll(body.Body); string(b) != "f.txt" {
		t.Errorf("symlink object body %q, want the target f.txt", b)
	}
	if contains(objectKeys(t, srv(t).Client(), bucket, "up/"), "up/full/") {
		t.Error("a marker was uploaded for a non-empty directory without --dir-markers")
	}
}

// --dir-markers uploads a marker for every directory, as FSx export does; --follow-symlinks uploads a link's target.
func TestDirMarkersAndFollowSymlinks(t *testing.T) {
	store, bucket := newStore(t)
	src := t.TempDir()
	writeTree(t, src, map[string][]byte{"a/b/c.txt": []byte("c"), "top.txt": []byte("top")}, time.Unix(1700000000, 0))
	os.Symlink("top.txt", filepath.Join(src, "link"))
	os.Symlink("a", filepath.Join(src, "dirlink"))
	if _, err := transfer.Run(context.Background(), store, transfer.Options{Src: transfer.Location{Local: src}, Dst: transfer.Location{Bucket: bucket, Key: "m"},
		Recursive: true, DirMarkers: true, FollowSymlinks: true}); err != nil {
		t.Fatal(err)
	}
	keys := objectKeys(t, srv(t).Client(), bucket, "m/")
	for _, k := range []string{"m/a/", "m/a/b/", "m/a/b/c.txt", "m/top.txt", "m/link"} {
		if !contains(keys, k) {
			t.Errorf("%s missing; have %v", k, keys)
		}
	}
	if contains(keys, "m/dirlink") {
		t.Error("a link to a directory was followed or stored despite --follow-symlinks")
	}
	body, _ := srv(t).Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("m/link")})
	if b, _ := io.ReadAll(body.Body); string(b) != "top" {
		t.Errorf("followed link body %q, want the target's content", b)
	}
	// A second sync with the same flags moves nothing.
	rep, err := transfer.Run(context.Background(), store, transfer.Options{Src: transfer.Location{Local: src}, Dst: transfer.Location{Bucket: bucket, Key: "m"},
		Recursive: true, DirMarkers: true, FollowSymlinks: true})
	if err != nil || rep.Transferred.Files != 0 {
		t.Errorf("second sync: %v, transferred %d", err, rep.Transferred.Files)
	}
}
