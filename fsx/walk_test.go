package fsx

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// memRoot is where memFS trees live.
const memRoot = "/mem"

// memNode is a file, directory or symlink in a memFS.
type memNode struct {
	name  string
	mode  fs.FileMode
	size  int64
	mtime time.Time
	kids  map[string]bool // directories only
}

func (n *memNode) Name() string       { return n.name }
func (n *memNode) Size() int64        { return n.size }
func (n *memNode) Mode() fs.FileMode  { return n.mode }
func (n *memNode) ModTime() time.Time { return n.mtime }
func (n *memNode) IsDir() bool        { return n.mode.IsDir() }
func (n *memNode) Sys() any           { return nil }

// memFS is an in-memory FS for walk tests, with errors that can be injected per path. It is not changed once
// built, so concurrent calls are safe.
type memFS struct {
	nodes   map[string]*memNode // by full path
	listErr map[string]error
	statErr map[string]error
}

// newMemFS builds a tree from relative keys: "a/b" is a file, "a/b/" a directory, "a/l@" a symlink named "l".
// Parent directories are created as needed.
func newMemFS(keys ...string) *memFS {
	m := &memFS{
		nodes:   map[string]*memNode{memRoot: {name: "mem", mode: fs.ModeDir | 0o755, kids: map[string]bool{}}},
		listErr: map[string]error{},
		statErr: map[string]error{},
	}
	for _, k := range keys {
		m.add(k)
	}
	return m
}

// add adds one key as newMemFS describes. A key that would need an existing file to be a directory, or the
// other way round, cannot exist on a real file system and is skipped.
func (m *memFS) add(key string) {
	if conflicts(m, key) {
		return
	}
	mode := fs.FileMode(0o644)
	switch {
	case strings.HasSuffix(key, "/"):
		key, mode = strings.TrimSuffix(key, "/"), fs.ModeDir|0o755
	case strings.HasSuffix(key, "@"):
		key, mode = strings.TrimSuffix(key, "@"), fs.ModeSymlink|0o777
	}
	parts := strings.Split(key, "/")
	p := memRoot
	for i, part := range parts {
		parent := m.nodes[p]
		p = p + "/" + part
		if m.nodes[p] != nil {
			continue
		}
		n := &memNode{name: part, mode: fs.ModeDir | 0o755, mtime: time.Unix(int64(len(p)), 0)}
		if i == len(parts)-1 {
			n.mode, n.size = mode, int64(len(key))
		}
		if n.mode.IsDir() {
			n.kids = map[string]bool{}
		}
		parent.kids[part] = true
		m.nodes[p] = n
	}
}

// expected returns the keys a walk should emit, sorted the way S3 sorts them.
func (m *memFS) expected() []string {
	var keys []string
	for p, n := range m.nodes {
		if p == memRoot {
			continue
		}
		rel := strings.TrimPrefix(p, memRoot+"/")
		skip := false
		for _, part := range strings.Split(rel, "/") {
			skip = skip || IsTemp(part)
		}
		if skip {
			continue
		}
		if n.mode.IsDir() {
			rel += "/"
		}
		keys = append(keys, rel)
	}
	slices.Sort(keys)
	return keys
}

func (m *memFS) ReadDirNames(dir string) ([]string, error) {
	if err := m.listErr[dir]; err != nil {
		return nil, err
	}
	n := m.nodes[dir]
	if n == nil {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: fs.ErrNotExist}
	}
	if !n.mode.IsDir() {
		return nil, &fs.PathError{Op: "readdirent", Path: dir, Err: errors.New("not a directory")}
	}
	names := make([]string, 0, len(n.kids))
	for name := range n.kids {
		names = append(names, name) // map order: unsorted, as the FS interface allows
	}
	return names, nil
}

func (m *memFS) Lstat(p string) (fs.FileInfo, error) {
	if err := m.statErr[p]; err != nil {
		return nil, err
	}
	n := m.nodes[p]
	if n == nil {
		return nil, &fs.PathError{Op: "lstat", Path: p, Err: fs.ErrNotExist}
	}
	return n, nil
}

// probeFS wraps an FS to delay calls and count them.
type probeFS struct {
	inner     FS
	delay     func() time.Duration // nil: no delay
	calls     atomic.Int64
	active    atomic.Int64
	maxActive atomic.Int64
}

func (p *probeFS) enter() {
	p.calls.Add(1)
	n := p.active.Add(1)
	for {
		old := p.maxActive.Load()
		if n <= old || p.maxActive.CompareAndSwap(old, n) {
			break
		}
	}
	if p.delay != nil {
		time.Sleep(p.delay())
	}
}

func (p *probeFS) ReadDirNames(dir string) ([]string, error) {
	p.enter()
	defer p.active.Add(-1)
	return p.inner.ReadDirNames(dir)
}

func (p *probeFS) Lstat(path string) (fs.FileInfo, error) {
	p.enter()
	defer p.active.Add(-1)
	return p.inner.Lstat(path)
}

// jitter returns a random delay of up to d, so that calls finish out of order.
func jitter(d time.Duration) func() time.Duration {
	return func() time.Duration { return rand.N(d) }
}

// collect walks root and returns the emitted keys; errors from the file system fail the test.
func collect(t *testing.T, root string, opts WalkOptions) []string {
	t.Helper()
	var keys []string
	err := Walk(context.Background(), root, opts, func(e Entry) error {
		keys = append(keys, e.Key)
		return nil
	}, func(key string, err error) error {
		t.Errorf("onErr(%q, %v)", key, err)
		return nil
	})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	return keys
}

func diffKeys(t *testing.T, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Fatalf("key %d: got %q, want %q\ngot:  %q\nwant: %q", i, g, w, got, want)
		}
	}
}

// trickyKeys are names whose order changes when a directory's name gets its '/': bytes below '/' (0x2F) such as
// ' ', '!', '-', '.', and above it, in several levels, plus unicode, invalid UTF-8, empty directories, symlinks
// and temp files.
var trickyKeys = []string{
	"a/b", "a-c", "a.b", "a0", "a!", "a ", "a/x/y", "a-/z", "a--x", "a-./", "a-/", "a--/q",
	"ab", "b/", "b!/c", "b!!", "c/", "c0/", "c-", "c/.d", "d/e/f/g/h", "d/e-", "d/e.f/",
	"é", "日本/語", "with space/inner file", "with", "\xff\xfe", "\x01", "link@", "a/link@",
	"empty/", "only-temp/" + TempPrefix + "x-0000.tmp", TempPrefix + "top-1234.tmp", TempPrefix + "dir-9.tmp/inside",
}

func TestWalkOrderMem(t *testing.T) {
	m := newMemFS(trickyKeys...)
	want := m.expected()
	for _, workers := range []int{1, 2, 3, 8, 32} {
		t.Run(fmt.Sprint("workers=", workers), func(t *testing.T) {
			for range 5 {
				got := collect(t, memRoot, WalkOptions{FS: &probeFS{inner: m, delay: jitter(200 * time.Microsecond)}, Workers: workers})
				diffKeys(t, got, want)
			}
		})
	}
}

func TestWalkRandomTrees(t *testing.T) {
	// Names from a small alphabet around '/', so that many names are prefixes of others.
	alphabet := []string{"a", "b", "-", ".", "0", " ", "~"}
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 7))
		var keys []string
		for range 60 {
			depth := 1 + rng.IntN(4)
			var parts []string
			for range depth {
				name := ""
				for range 1 + rng.IntN(3) {
					name += alphabet[rng.IntN(len(alphabet))]
				}
				if name == "." || name == ".." {
					name = "x" + name
				}
				parts = append(parts, name)
			}
			key := strings.Join(parts, "/")
			if rng.IntN(4) == 0 {
				key += "/"
			}
			keys = append(keys, key)
		}
		m := newMemFS(keys...)
		got := collect(t, memRoot, WalkOptions{FS: &probeFS{inner: m, delay: jitter(50 * time.Microsecond)}, Workers: 1 + int(seed%9)})
		diffKeys(t, got, m.expected())
	}
}

// makeDiskTree creates the tricky tree on disk and returns its root.
func makeDiskTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, k := range trickyKeys {
		p := filepath.Join(root, filepath.FromSlash(strings.TrimSuffix(strings.TrimSuffix(k, "/"), "@")))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case strings.HasSuffix(k, "/"):
			err = os.MkdirAll(p, 0o755)
		case strings.HasSuffix(k, "@"):
			// A dangling link and a link to a directory: neither may be followed.
			err = os.Symlink("a", p)
		default:
			err = os.WriteFile(p, []byte(k), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestWalkOrderDisk(t *testing.T) {
	root := makeDiskTree(t)
	var want []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		if IsTemp(d.Name()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		key := KeyOf(rel)
		if d.IsDir() {
			key += "/"
		}
		want = append(want, key)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	for _, workers := range []int{0, 1, 4} {
		diffKeys(t, collect(t, root, WalkOptions{Workers: workers}), want)
	}
}

func TestWalkEntries(t *testing.T) {
	root := makeDiskTree(t)
	got := map[string]Entry{}
	err := Walk(context.Background(), root, WalkOptions{}, func(e Entry) error {
		got[e.Key] = e
		return nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	check := func(key string, isDir, isLink, isReg bool, size int64, children int) {
		t.Helper()
		e, ok := got[key]
		if !ok {
			t.Errorf("no entry %q", key)
			return
		}
		if e.IsDir() != isDir || e.IsSymlink() != isLink || e.IsRegular() != isReg {
			t.Errorf("%q: IsDir %v IsSymlink %v IsRegular %v; mode %v", key, e.IsDir(), e.IsSymlink(), e.IsRegular(), e.Mode)
		}
		if e.Size != size || e.NumChildren != children {
			t.Errorf("%q: Size %d NumChildren %d; want %d, %d", key, e.Size, e.NumChildren, size, children)
		}
		if e.Mtime.IsZero() {
			t.Errorf("%q: no mtime", key)
		}
		if e.UID != uint32(os.Getuid()) || e.GID != uint32(os.Getgid()) {
			t.Errorf("%q: owner %d:%d; want %d:%d", key, e.UID, e.GID, os.Getuid(), os.Getgid())
		}
	}
	check("a/", true, false, false, 0, 3)
	check("a/b", false, false, true, int64(len("a/b")), 0)
	check("link", false, true, false, int64(len("a")), 0)
	check("empty/", true, false, false, 0, 0)
	// The temp file is counted, so the directory does not look empty, but it is not emitted.
	check("only-temp/", true, false, false, 0, 1)
	check("日本/", true, false, false, 0, 1)
	for key := range got {
		if strings.HasPrefix(key, "link/") || strings.HasPrefix(key, "a/link/") || strings.Contains(key, TempPrefix) {
			t.Errorf("unexpected entry %q", key)
		}
	}
}

func TestWalkErrors(t *testing.T) {
	m := newMemFS("a/x", "b/y", "c", "d/z", "e")
	listErr := errors.New("permission denied")
	statErr := errors.New("stale file handle")
	m.listErr[memRoot+"/b"] = listErr
	m.statErr[memRoot+"/c"] = statErr
	m.statErr[memRoot+"/d"] = statErr

	var keys []string
	var errKeys []string
	err := Walk(context.Background(), memRoot, WalkOptions{FS: m, Workers: 4}, func(e Entry) error {
		keys = append(keys, e.Key)
		return nil
	}, func(key string, err error) error {
		if !errors.Is(err, listErr) && !errors.Is(err, statErr) {
			t.Errorf("onErr(%q, %v): unexpected error", key, err)
		}
		errKeys = append(errKeys, key)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The unreadable directory is reported with its directory key and neither it nor its contents are emitted;
	// a failed lstat is reported with the plain name, since its type is unknown.
	diffKeys(t, keys, []string{"a/", "a/x", "e"})
	diffKeys(t, errKeys, []string{"b/", "c", "d"})
}

func TestWalkAbort(t *testing.T) {
	stop := errors.New("stop here")
	m := newMemFS("a/x", "b/y", "c", "d")
	m.listErr[memRoot+"/b"] = errors.New("permission denied")

	t.Run("onErr", func(t *testing.T) {
		var keys []string
		err := Walk(context.Background(), memRoot, WalkOptions{FS: m}, func(e Entry) error {
			keys = append(keys, e.Key)
			return nil
		}, func(string, error) error { return stop })
		if !errors.Is(err, stop) {
			t.Fatalf("Walk = %v; want %v", err, stop)
		}
		diffKeys(t, keys, []string{"a/", "a/x"})
	})
	t.Run("nil onErr", func(t *testing.T) {
		err := Walk(context.Background(), memRoot, WalkOptions{FS: m}, func(Entry) error { return nil }, nil)
		if err == nil || !strings.Contains(err.Error(), "b/") || !strings.Contains(err.Error(), "permission denied") {
			t.Fatalf("Walk = %v; want the listing error for b/", err)
		}
	})
	t.Run("fn", func(t *testing.T) {
		var keys []string
		err := Walk(context.Background(), memRoot, WalkOptions{FS: m}, func(e Entry) error {
			keys = append(keys, e.Key)
			if e.Key == "a/x" {
				return stop
			}
			return nil
		}, nil)
		if err != stop {
			t.Fatalf("Walk = %v; want exactly %v", err, stop)
		}
		diffKeys(t, keys, []string{"a/", "a/x"})
	})
	t.Run("fn on a directory", func(t *testing.T) {
		err := Walk(context.Background(), memRoot, WalkOptions{FS: m}, func(e Entry) error {
			if e.IsDir() {
				return stop
			}
			return nil
		}, nil)
		if err != stop {
			t.Fatalf("Walk = %v; want exactly %v", err, stop)
		}
	})
}

func TestWalkRoot(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, root := range []string{filepath.Join(dir, "missing"), file} {
		err := Walk(context.Background(), root, WalkOptions{}, func(Entry) error { return nil }, nil)
		if err == nil || !strings.Contains(err.Error(), root) {
			t.Errorf("Walk(%s) = %v; want an error naming it", root, err)
		}
	}
	// An empty root emits nothing.
	if keys := collect(t, t.TempDir(), WalkOptions{}); len(keys) != 0 {
		t.Errorf("empty root: %q", keys)
	}
	// A symlink to a directory is walked as the directory.
	link := filepath.Join(dir, "link")
	if err := os.Symlink(makeDiskTree(t), link); err != nil {
		t.Fatal(err)
	}
	if keys := collect(t, link, WalkOptions{}); !slices.Contains(keys, "a/b") {
		t.Errorf("walk through a symlinked root found %q", keys)
	}
	if err := Walk(context.Background(), dir, WalkOptions{}, nil, nil); err == nil {
		t.Error("Walk with a nil fn succeeded")
	}
}

func TestWalkUnreadableDirDisk(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root can read any directory")
	}
	root := t.TempDir()
	for _, p := range []string{"a/x", "locked/secret", "z"} {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	locked := filepath.Join(root, "locked")
	if err := os.Chmod(locked, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(locked, 0o755) })
	var keys, errKeys []string
	err := Walk(context.Background(), root, WalkOptions{}, func(e Entry) error {
		keys = append(keys, e.Key)
		return nil
	}, func(key string, err error) error {
		if !errors.Is(err, fs.ErrPermission) {
			t.Errorf("onErr(%q, %v): want a permission error", key, err)
		}
		errKeys = append(errKeys, key)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	diffKeys(t, keys, []string{"a/", "a/x", "z"})
	diffKeys(t, errKeys, []string{"locked/"})
}

// bigTree returns a memFS with dirs directories of files files each, plus a flat directory of flat files.
func bigTree(dirs, files, flat int) *memFS {
	var keys []string
	for d := range dirs {
		for f := range files {
			keys = append(keys, fmt.Sprintf("d%04d/f%05d", d, f))
		}
	}
	for f := range flat {
		keys = append(keys, fmt.Sprintf("flat/f%06d", f))
	}
	return newMemFS(keys...)
}

func TestWalkDeterministic(t *testing.T) {
	m := bigTree(30, 30, 500)
	want := m.expected()
	for _, workers := range []int{1, 5, 64} {
		got := collect(t, memRoot, WalkOptions{FS: &probeFS{inner: m, delay: jitter(20 * time.Microsecond)}, Workers: workers})
		diffKeys(t, got, want)
	}
}

func TestWalkParallelism(t *testing.T) {
	m := bigTree(10, 20, 200)
	for _, workers := range []int{1, 4, 16} {
		p := &probeFS{inner: m, delay: func() time.Duration { return 200 * time.Microsecond }}
		collect(t, memRoot, WalkOptions{FS: p, Workers: workers})
		// At most Workers calls at once, and with latency, the walk does use them.
		if got := p.maxActive.Load(); got > int64(workers) || got < int64(workers+1)/2 {
			t.Errorf("workers=%d: %d calls in flight at most", workers, got)
		}
	}
}

func TestWalkBoundedPrefetch(t *testing.T) {
	// While fn is stuck on the first entry, the walk goes on prefetching, but only so far: never the whole tree.
	const workers = 4
	inflight, lookahead, ahead := walkLimits(workers)
	// Entries handed to fn's goroutine no longer count against the prefetch limit, so they add to it.
	queued := (outBatches + 1) * outBatchSize
	limit := int64(2*ahead + lookahead + 2*inflight + queued)
	tests := []struct {
		name     string
		fs       *memFS
		minCalls int64
	}{
		// In one flat directory, the prefetch limit is spent on lstats.
		{"flat", bigTree(0, 0, 20000), int64(ahead) / 2},
		// With many directories, it is also spent on holding the names of listed directories.
		{"many directories", bigTree(200, 100, 0), int64(lookahead + inflight)},
		{"both", bigTree(200, 100, 20000), int64(lookahead + inflight)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			total := len(tt.fs.nodes)
			p := &probeFS{inner: tt.fs}
			var callsWhileStuck int64
			first := true
			err := Walk(context.Background(), memRoot, WalkOptions{FS: p, Workers: workers}, func(Entry) error {
				if first {
					first = false
					callsWhileStuck = waitForPlateau(&p.calls)
				}
				return nil
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if callsWhileStuck > limit || callsWhileStuck < tt.minCalls {
				t.Errorf("%d calls made while fn was stuck; want between %d and %d (tree has %d entries)",
					callsWhileStuck, tt.minCalls, limit, total)
			} else {
				t.Logf("%d calls made while fn was stuck (limit %d, tree has %d entries)", callsWhileStuck, limit, total)
			}
			// One lstat per node but the root, one listing per directory: nothing is asked twice.
			want := int64(total - 1)
			for _, n := range tt.fs.nodes {
				if n.mode.IsDir() {
					want++
				}
			}
			if got := p.calls.Load(); got != want {
				t.Errorf("%d calls; want %d", got, want)
			}
		})
	}
}

// waitForPlateau waits until a counter stops growing, or for long enough that it clearly would have,
// and returns its value.
func waitForPlateau(c *atomic.Int64) int64 {
	last := int64(-1)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		n := c.Load()
		if n == last {
			break
		}
		last = n
	}
	return last
}

func TestWalkCancel(t *testing.T) {
	m := bigTree(50, 200, 0)
	p := &probeFS{inner: m, delay: func() time.Duration { return time.Millisecond }}
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	start := time.Now()
	err := Walk(ctx, memRoot, WalkOptions{FS: p, Workers: 16}, func(Entry) error {
		n++
		if n == 20 {
			cancel()
		}
		return nil
	}, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Walk = %v; want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Walk took %v to stop", d)
	}
	if n > 20 {
		t.Errorf("%d entries emitted after cancel", n-20)
	}
	// No file-system call and no goroutine outlives Walk.
	if a := p.active.Load(); a != 0 {
		t.Errorf("%d calls still running after Walk returned", a)
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("%d goroutines before Walk, %d after", before, after)
	}

	// A context cancelled up front stops the walk before it emits anything.
	err = Walk(ctx, memRoot, WalkOptions{FS: m}, func(e Entry) error {
		t.Errorf("entry %q after cancel", e.Key)
		return nil
	}, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Walk = %v; want context.Canceled", err)
	}
}

func FuzzWalkOrder(f *testing.F) {
	f.Add("a/b\na-c\na.b\na0\na/\n")
	f.Add("x/y/z\nx-/q\nx--\nx!/\n\xff\né/ü")
	f.Add("a\nab/\na b/c\n" + TempPrefix + "x.tmp")
	f.Fuzz(func(t *testing.T, spec string) {
		// Each line is a key; lines that are not safe keys are dropped, since no file system holds them.
		var keys []string
		for line := range strings.SplitSeq(spec, "\n") {
			if _, err := LocalPath("/", line); err != nil || strings.HasSuffix(line, "@") {
				continue
			}
			keys = append(keys, line)
		}
		if len(keys) > 200 {
			keys = keys[:200]
		}
		m := newMemFS(keys...)
		got := collect(t, memRoot, WalkOptions{FS: m, Workers: 3})
		diffKeys(t, got, m.expected())
	})
}

// conflicts reports whether adding key to m would need a file to be a directory or the other way round.
func conflicts(m *memFS, key string) bool {
	isDir := strings.HasSuffix(key, "/")
	key = strings.TrimSuffix(strings.TrimSuffix(key, "/"), "@")
	parts := strings.Split(key, "/")
	p := memRoot
	for i, part := range parts {
		p = path.Join(p, part)
		n := m.nodes[p]
		if n == nil {
			return false
		}
		last := i == len(parts)-1
		if !last && !n.mode.IsDir() {
			return true
		}
		if last && n.mode.IsDir() != isDir {
			return true
		}
	}
	return false
}
