package transfer_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/fsxsync/fsxsync/internal/s3test"
	"github.com/fsxsync/fsxsync/transfer"
	"github.com/fsxsync/fsxsync/transfer/s3store"
)

// srv is the versitygw instance shared by this package's tests, started by the first test that needs it: the pure
// tests of the engine (decide, merge, filter) run without one.
func srv(t testing.TB) *s3test.Server { return s3test.Shared(t) }

func TestMain(m *testing.M) {
	code := m.Run()
	s3test.StopShared()
	os.Exit(code)
}

// writeTree creates files (path -> content) under root; a path ending in '/' is an empty directory.
func writeTree(t testing.TB, root string, files map[string][]byte, mtime time.Time) {
	t.Helper()
	for p, data := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, data, 0o640); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(full, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

// snapshot describes a local tree: every entry with type, perm, size, mtime and content digest.
func snapshot(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		desc := fi.Mode().String()
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" %d %d %x", fi.Size(), fi.ModTime().UnixNano(), b[:min(len(b), 16)])
			if len(b) > 16 {
				desc += fmt.Sprintf(" sum=%d", sum(b))
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			desc += " -> " + target
		}
		out[filepath.ToSlash(rel)] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sum(b []byte) uint64 {
	var s uint64
	for i, c := range b {
		s = s*31 + uint64(c) + uint64(i)
	}
	return s
}

func diffSnapshots(t testing.TB, want, got map[string]string) {
	t.Helper()
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if want[k] != got[k] {
			t.Errorf("%s:\n  want %q\n   got %q", k, want[k], got[k])
		}
	}
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

type runCfg struct {
	compare transfer.CompareMode
	del     bool
	dryRun  bool
	rules   []transfer.Rule
	state   string
	part    int64
}

func runSync(t testing.TB, store transfer.ObjectStore, src, dst string, c runCfg) *transfer.Report {
	t.Helper()
	rep, err := runSyncErr(context.Background(), store, src, dst, c)
	if err != nil {
		t.Fatalf("sync %s %s: %v", src, dst, err)
	}
	if rep.Failed.Files != 0 {
		t.Fatalf("sync %s %s: %d failed: %+v", src, dst, rep.Failed.Files, rep.Failures)
	}
	return rep
}

func runSyncErr(ctx context.Context, store transfer.ObjectStore, src, dst string, c runCfg) (*transfer.Report, error) {
	s, err := transfer.ParseLocation(src)
	if err != nil {
		return nil, err
	}
	d, err := transfer.ParseLocation(dst)
	if err != nil {
		return nil, err
	}
	f, err := transfer.NewFilter(c.rules)
	if err != nil {
		return nil, err
	}
	var log bytes.Buffer
	rep, err := transfer.Run(ctx, store, transfer.Options{Src: s, Dst: d, Recursive: true, Compare: c.compare, Delete: c.del,
		DryRun: c.dryRun, Filter: f, Concurrency: 8, PartSize: c.part, StatePath: c.state, Out: &log, Log: slog.New(slog.NewTextHandler(&log, nil))})
	return rep, err
}

func newStore(t testing.TB) (*s3store.Store, string) {
	bucket := srv(t).NewBucket(t)
	return s3store.New(srv(t).Client(), bucket, s3store.Options{PartSize: 5 << 20, PartConcurrency: 4}), bucket
}

func objectKeys(t testing.TB, c *s3.Client, bucket, prefix string) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

func sampleTree() map[string][]byte {
	return map[string][]byte{
		"empty.txt":                       {},
		"small.txt":                       []byte("hello\n"),
		"with space/ünïcødé file.txt":     []byte("unicode"),
		"a-c":                             []byte("sorts before a/"),
		"a/b":                             []byte("inside a"),
		"a0":                              []byte("sorts after a/"),
		"deep/1/2/3/4/5/6/7/8/9/leaf.bin": randBytes(1000),
		"multipart.bin":                   randBytes(12<<20 + 12345),
		"exactly-one-part.bin":            randBytes(5 << 20),
		"empty-dir/":                      nil,
		"nested/empty/":                   nil,
	}
}

func TestRoundTrip(t *testing.T) {
	store, bucket := newStore(t)
	src, dst := t.TempDir(), t.TempDir()
	stateDir := t.TempDir()
	mtime := time.Unix(1700000000, 123456789)
	writeTree(t, src, sampleTree(), mtime)
	os.Symlink("small.txt", filepath.Join(src, "link-to-small"))
	remote := "s3://" + bucket + "/run1"
	upState := transfer.StatePath(stateDir, "", bucket, "run1/", src)
	downState := transfer.StatePath(stateDir, "", bucket, "run1/", dst)

	rep := runSync(t, store, src, remote, runCfg{state: upState})
	// 9 files + 1 symlink + 2 empty-directory markers ("nested/" is implied by its child).
	if rep.Transferred.Files != 12 {
		t.Errorf("upload transferred %d, want 12", rep.Transferred.Files)
	}
	keys := objectKeys(t, srv(t).Client(), bucket, "run1/")
	for _, want := range []string{"run1/empty-dir/", "run1/nested/empty/", "run1/link-to-small"} {
		if !contains(keys, want) {
			t.Errorf("object %s missing; have %v", want, keys)
		}
	}

	rep = runSync(t, store, remote, dst, runCfg{state: downState})
	if rep.Transferred.Files != 12 {
		t.Errorf("download transferred %d, want 12", rep.Transferred.Files)
	}
	diffSnapshots(t, snapshot(t, src), snapshot(t, dst))

	// Second syncs, in both directions and from both trees, move nothing and cost no HEAD request: the state file
	// knows every object's mtime.
	counting := &countingStore{ObjectStore: store}
	for _, c := range []struct{ from, to, state string }{
		{src, remote, upState}, {remote, dst, downState}, {dst, remote, downState}, {remote, src, upState},
	} {
		rep = runSync(t, counting, c.from, c.to, runCfg{state: c.state})
		if rep.Transferred.Files != 0 {
			t.Errorf("sync %s -> %s transferred %d files, want 0", c.from, c.to, rep.Transferred.Files)
		}
	}
	if n := counting.heads.Load(); n != 0 {
		t.Errorf("no-op syncs sent %d HEAD requests, want 0", n)
	}
	// Without the state file the comparison is still exact, at the price of one HEAD per same-size object.
	rep = runSync(t, counting, src, remote, runCfg{})
	if rep.Transferred.Files != 0 || counting.heads.Load() == 0 {
		t.Errorf("stateless sync transferred %d files with %d HEADs; want 0 files, some HEADs", rep.Transferred.Files, counting.heads.Load())
	}
	diffSnapshots(t, snapshot(t, src), snapshot(t, dst))
}

// countingStore counts HEAD requests.
type countingStore struct {
	transfer.ObjectStore
	heads atomic.Int64
}

func (c *countingStore) Head(ctx context.Context, key string) (transfer.ObjectInfo, error) {
	c.heads.Add(1)
	return c.ObjectStore.Head(ctx, key)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
