package transfer_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/fsxsync/fsxsync/fsx"
	"github.com/fsxsync/fsxsync/transfer"
)

// lustreStandIn sets up fsx's stand-in lfs (testdata/lfs in package fsx) with a files.tsv describing src's files:
// the engine then sees src as a Lustre tree with stripes and HSM states.
func lustreStandIn(t *testing.T, src string) *fsx.LFS {
	t.Helper()
	from, err := filepath.Abs(filepath.Join("..", "fsx", "testdata", "lfs"))
	if err != nil {
		t.Fatal(err)
	}
	fix := t.TempDir()
	if err := os.CopyFS(fix, os.DirFS(from)); err != nil {
		t.Fatal(err)
	}
	rows := []string{
		src + "/released/*\tplain-4x4M\treleased\tarchived",
		src + "/stuck/*\tplain-1x1M\treleased\tnever",
		src + "/big.bin\tpfl-16x16M\tarchived\t-",
		src + "/*\tplain-1x1M\tarchived\t-",
	}
	if err := os.WriteFile(filepath.Join(fix, "files.tsv"), []byte(strings.Join(rows, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FSXSYNC_LFS_FIXTURES", fix)
	return &fsx.LFS{Path: filepath.Join(fix, "lfs")}
}

func TestUploadFromLustre(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, map[string][]byte{
		"plain/a.txt": []byte("a"), "released/r1.dat": []byte("r1"), "released/r2.dat": []byte("r2"),
		"stuck/s.dat": []byte("s"), "big.bin": randBytes(40 << 20),
	}, time.Unix(1700000000, 0))
	lfs := lustreStandIn(t, src)

	// Default: released files are restored in bulk before they are read; one that never comes back fails, alone.
	store, bucket := newStore(t)
	rep, err := transfer.Run(context.Background(), store, transfer.Options{Src: transfer.Location{Local: src}, Dst: transfer.Location{Bucket: bucket, Key: "l"},
		Recursive: true, LFS: lfs, RestoreTimeout: 3 * time.Second, PartSize: 5 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Released.Restored != 2 || rep.Released.StillReleased != 1 || rep.Failed.Files != 1 {
		t.Errorf("released %+v, failed %d (%+v); want 2 restored, 1 still released and failed", rep.Released, rep.Failed.Files, rep.Failures)
	}
	if len(rep.Failures) == 1 && !strings.Contains(rep.Failures[0].Error, "--released=read") {
		t.Errorf("failure does not say what to do: %s", rep.Failures[0].Error)
	}
	if !strings.Contains(rep.Summary(), "2 restored") {
		t.Errorf("summary does not count released files: %s", rep.Summary())
	}
	// The 40 MiB file on 16 MiB stripes goes up in stripe-aligned 16 MiB parts (3), not 5 MiB ones (8).
	h, err := srv(t).Client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("l/big.bin")})
	if err != nil {
		t.Fatal(err)
	}
	if etag := aws.ToString(h.ETag); !strings.HasSuffix(strings.Trim(etag, `"`), "-3") {
		t.Errorf("big.bin ETag %s: want 3 parts of 16 MiB (stripe-aligned)", etag)
	}

	// --released=skip leaves them out and counts them (the first run restored two; one is still released).
	store2, bucket2 := newStore(t)
	rep, err = transfer.Run(context.Background(), store2, transfer.Options{Src: transfer.Location{Local: src}, Dst: transfer.Location{Bucket: bucket2, Key: "l"},
		Recursive: true, LFS: lfs, Released: transfer.ReleasedSkip})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Released.Skipped != 1 || rep.Failed.Files != 0 {
		t.Errorf("skip: released %+v, failed %d", rep.Released, rep.Failed.Files)
	}
	if keys := objectKeys(t, srv(t).Client(), bucket2, "l/"); contains(keys, "l/stuck/s.dat") || !contains(keys, "l/plain/a.txt") {
		t.Errorf("skip uploaded %v", keys)
	}
}
