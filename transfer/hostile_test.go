package transfer_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/fsxsync/fsxsync/fsx"
	"github.com/fsxsync/fsxsync/internal/s3test"
	"github.com/fsxsync/fsxsync/transfer"
	"github.com/fsxsync/fsxsync/transfer/s3store"
)

// Keys that real S3 stores verbatim but that are not plain local paths, served by gofakes3 (versitygw's posix
// backend normalises or refuses them). Nothing may be written outside the destination; keys with empty or "."
// segments land at their cleaned path, as with aws-cli; each key with no safe path is reported; the rest of the tree
// downloads.
func TestHostileKeysOnDownload(t *testing.T) {
	fake, err := s3test.StartFake()
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Stop()
	c := fake.Client()
	bucket := fake.NewBucket(t)
	put := func(key, body string, meta map[string]string) {
		t.Helper()
		_, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
			Body: strings.NewReader(body), Metadata: meta})
		if err != nil {
			t.Fatalf("put %q: %v", key, err)
		}
	}
	hostile := []string{"p/../x", "p/a/../../x", "p/a/.", "p/" + strings.Repeat("n", 300)}
	// These map to a clean path inside the destination (see fsx.CleanKey), where aws-cli puts them too.
	cleaned := map[string]string{"p//abs": "abs", "p/a//b": "a/b", "p/./c": "c"}
	for k := range cleaned {
		put(k, "clean", nil)
	}
	// A key with a NUL byte cannot be stored verbatim even by gofakes3 (it becomes U+FFFD); fsx.LocalPath's own
	// tests cover its refusal.
	// A backslash is an ordinary character in a Linux name: that key is safe and lands as one file.
	put("p/back\\slash", "fine", nil)
	for _, k := range hostile {
		put(k, "evil", nil)
	}
	put("p/good.txt", "good", nil)
	put("p/dir/inner.txt", "inner", nil)
	// A key and a "directory" of the same name: the file wins, the key below it is reported.
	put("p/same", "file", nil)
	put("p/same/below", "below", nil)
	// A symlink object pointing at /etc followed by a key under it: the link is made, nothing is written through it.
	put("p/etc-link", "/etc", fsx.EncodeMeta(fsx.Meta{Mode: 0o120777}))
	put("p/etc-link/fsxsync-pwned", "evil", nil)

	parent := t.TempDir()
	dst := filepath.Join(parent, "dst")
	store := s3store.New(c, bucket, s3store.Options{})
	rep, err := runSyncErr(context.Background(), store, "s3://"+bucket+"/p", dst, runCfg{})
	if err != nil {
		t.Fatal(err)
	}
	failed := map[string]string{}
	for _, f := range rep.Failures {
		failed[f.Key] = f.Error
	}
	for _, k := range append(hostile, "p/same/below", "p/etc-link/fsxsync-pwned") {
		rel := strings.TrimPrefix(k, "p/")
		if _, ok := failed[rel]; !ok {
			t.Errorf("key %q not reported as failed; failures: %v", k, failed)
		}
	}
	for _, k := range []string{"p/../x", "p/a/../../x"} {
		if msg := failed[strings.TrimPrefix(k, "p/")]; !strings.Contains(msg, "escapes the destination") {
			t.Errorf("key %q: failure %q does not say it escapes the destination", k, msg)
		}
	}
	for k, f := range cleaned {
		if msg, ok := failed[strings.TrimPrefix(k, "p/")]; ok {
			t.Errorf("key %q failed: %s", k, msg)
		}
		if b, err := os.ReadFile(filepath.Join(dst, f)); err != nil || string(b) != "clean" {
			t.Errorf("key %q: %s = %q, %v; want its body", k, f, b, err)
		}
	}
	for _, f := range []string{"good.txt", "dir/inner.txt", "same", "back\\slash"} {
		if _, err := os.Stat(filepath.Join(dst, f)); err != nil {
			t.Errorf("%s not downloaded: %v", f, err)
		}
	}
	if target, err := os.Readlink(filepath.Join(dst, "etc-link")); err != nil || target != "/etc" {
		t.Errorf("etc-link = %q, %v; want a symlink to /etc", target, err)
	}
	if _, err := os.Stat("/etc/fsxsync-pwned"); err == nil {
		t.Fatal("a key was written through a symlink to /etc")
	}
	// Nothing outside dst: the parent holds only dst.
	entries, _ := os.ReadDir(parent)
	if len(entries) != 1 {
		t.Errorf("files written outside the destination: %v", entries)
	}
	if rep.Transferred.Files != 8 {
		t.Errorf("transferred %d, want 8 (good.txt, dir/inner.txt, same, etc-link, back\\slash, abs, a/b, c)", rep.Transferred.Files)
	}
}

// slowStore wraps a store and makes downloads hang after writing part of the body, so a test can cancel mid-way.
type slowStore struct {
	transfer.ObjectStore
	started chan struct{}
	once    atomic.Bool
}

func (s *slowStore) Download(ctx context.Context, key string, w io.WriterAt, _ int64) (transfer.ObjectInfo, error) {
	w.WriteAt(bytes.Repeat([]byte("x"), 1000), 0)
	if s.once.CompareAndSwap(false, true) {
		close(s.started)
	}
	<-ctx.Done()
	return transfer.ObjectInfo{}, ctx.Err()
}

func TestInterruptedDownloadLeavesNoPartialFile(t *testing.T) {
	store, bucket := newStore(t)
	src, dst := t.TempDir(), t.TempDir()
	writeTree(t, src, map[string][]byte{"a.bin": randBytes(3000), "b.bin": randBytes(3000)}, time.Unix(1700000000, 0))
	runSync(t, store, src, "s3://"+bucket+"/x", runCfg{})
	// An existing good copy of b.bin must survive the interrupted run untouched.
	os.WriteFile(filepath.Join(dst, "b.bin"), []byte("old good copy"), 0o644)

	slow := &slowStore{ObjectStore: store, started: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-slow.started
		cancel()
	}()
	_, err := runSyncErr(ctx, slow, "s3://"+bucket+"/x", dst, runCfg{compare: transfer.CompareAlways})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	entries, _ := os.ReadDir(dst)
	if len(entries) != 1 || entries[0].Name() != "b.bin" {
		t.Errorf("destination holds %v, want only the old b.bin", entries)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "b.bin")); string(b) != "old good copy" {
		t.Errorf("b.bin = %q, want the old copy", b)
	}
}

// A byte flipped in the server's copy of an object must fail the download's checksum verification, and the good local
// copy must stay. Both a single-part and a multipart object are checked.
func TestCorruptObjectFailsVerification(t *testing.T) {
	store, bucket := newStore(t)
	src, dst := t.TempDir(), t.TempDir()
	files := map[string][]byte{"small.bin": randBytes(4096), "multi.bin": randBytes(11 << 20)}
	writeTree(t, src, files, time.Unix(1700000000, 0))
	runSync(t, store, src, "s3://"+bucket+"/c", runCfg{})
	for name := range files {
		backing := filepath.Join(srv(t).Dir, "root", bucket, "c", name)
		f, err := os.OpenFile(backing, os.O_RDWR, 0)
		if err != nil {
			t.Fatalf("open versitygw's backing file: %v", err)
		}
		b := make([]byte, 1)
		f.ReadAt(b, 100)
		b[0] ^= 0xff
		f.WriteAt(b, 100)
		f.Close()
		os.WriteFile(filepath.Join(dst, name), []byte("good old copy"), 0o644)
	}
	rep, err := runSyncErr(context.Background(), store, "s3://"+bucket+"/c", dst, runCfg{compare: transfer.CompareAlways})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed.Files != 2 {
		t.Errorf("failed %d files, want 2: %+v", rep.Failed.Files, rep.Failures)
	}
	for name := range files {
		if b, _ := os.ReadFile(filepath.Join(dst, name)); string(b) != "good old copy" {
			t.Errorf("%s was replaced by a corrupt download", name)
		}
	}
	if entries, _ := os.ReadDir(dst); len(entries) != 2 {
		t.Errorf("temp files left: %v", entries)
	}
}

// A "folder" object (key ending in "/") that holds bytes, as some tools make: a local directory cannot hold them,
// so the key is a per-key failure naming it and its size, never counted as transferred, and the rest of the tree
// downloads. Served by gofakes3: versitygw's posix backend stores "dir/" keys as directories and drops their bodies.
func TestFolderObjectWithContent(t *testing.T) {
	fake, err := s3test.StartFake()
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Stop()
	c := fake.Client()
	bucket := fake.NewBucket(t)
	for key, body := range map[string]string{
		"p/notes/":       "twelve bytes",
		"p/empty/":       "",
		"p/notes/inside": "in",
		"p/plain.txt":    "plain",
	} {
		if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
			Body: strings.NewReader(body)}); err != nil {
			t.Fatalf("put %q: %v", key, err)
		}
	}
	dst := t.TempDir()
	store := s3store.New(c, bucket, s3store.Options{})
	rep, err := runSyncErr(context.Background(), store, "s3://"+bucket+"/p", dst, runCfg{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Failures) != 1 || rep.Failures[0].Key != "notes/" {
		t.Fatalf("failures = %+v, want exactly notes/", rep.Failures)
	}
	if msg := rep.Failures[0].Error; !strings.Contains(msg, `"notes/"`) || !strings.Contains(msg, "12 bytes") {
		t.Errorf("failure %q does not name the key and its 12 bytes", msg)
	}
	if rep.Failed.Files != 1 {
		t.Errorf("failed = %d, want 1", rep.Failed.Files)
	}
	// plain.txt, notes/inside and the empty folder object (made as a directory, as every directory marker is).
	if rep.Transferred.Files != 3 {
		t.Errorf("transferred %d, want 3 (plain.txt, notes/inside, empty/); the folder object with bytes must not count", rep.Transferred.Files)
	}
	for _, f := range []string{"plain.txt", "notes/inside"} {
		if _, err := os.Stat(filepath.Join(dst, f)); err != nil {
			t.Errorf("%s not downloaded: %v", f, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dst, "empty")); err != nil || !fi.IsDir() {
		t.Errorf("empty folder object: %v, want a directory", err)
	}
}
