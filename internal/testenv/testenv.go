// Package testenv holds what the tests share about where they run. It is the one place that reads CI: under CI=true a test
// whose server or tool is missing fails, so that CI cannot pass without it; elsewhere it skips, loudly, so that the
// pure tests run on a fresh clone where `make tools` never ran.
package testenv

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// InCI reports whether the tests run in CI (.ci/run exports CI=true).
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing ends t because something it needs could not be had: what names it (e.g. "versitygw"), err says why. Under
// CI the test fails; elsewhere it is skipped with the reason and the fix.
func Missing(t testing.TB, what string, err error) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s is needed and CI=true: %v", what, err)
	}
	t.Skipf("SKIPPING: %s is needed: %v (run `make tools`, or `make test`, which builds it)", what, err)
}

// BenchDir is a directory on tmpfs (when there is one) kept between benchmark runs of one process:
// $FSXSYNC_BENCH_DIR/NAME, else fsxsync-bench/NAME under /dev/shm or the temp directory.
func BenchDir(b *testing.B, name string) string {
	root := os.Getenv("FSXSYNC_BENCH_DIR")
	if root == "" {
		root = "/dev/shm"
		if _, err := os.Stat(root); err != nil {
			root = os.TempDir()
		}
		root = filepath.Join(root, "fsxsync-bench")
	}
	d := filepath.Join(root, name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		b.Fatal(err)
	}
	return d
}

// WriteRandomFile makes a file of size pseudo-random bytes from seed at path (the same bytes for the same seed),
// unless one of that size is there already: benchmark data sets are made once and reused.
func WriteRandomFile(b *testing.B, path string, size int64, seed uint64) {
	if fi, err := os.Stat(path); err == nil && fi.Size() == size {
		return
	}
	os.MkdirAll(filepath.Dir(path), 0o755)
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	buf := make([]byte, 1<<20)
	for left := size; left > 0; left -= int64(len(buf)) {
		r.Read(buf)
		if _, err := f.Write(buf[:min(int64(len(buf)), left)]); err != nil {
			b.Fatal(err)
		}
	}
}
