package fsx

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tempLeftovers returns the temp files in dir.
func tempLeftovers(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, e := range ents {
		if IsTemp(e.Name()) {
			found = append(found, e.Name())
		}
	}
	return found
}

func writeTemp(t *testing.T, final, content string) *os.File {
	t.Helper()
	f, err := CreateTemp(final)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	return f
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestIsTemp(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{".fsxsync-tmp-file-0123456789abcdef.tmp", true},
		{".fsxsync-tmp-.tmp", true},
		{".fsxsync-tmp-notes", false},
		{"fsxsync-tmp-x.tmp", false},
		{"file.tmp", false},
	}
	for _, tt := range tests {
		if got := IsTemp(tt.name); got != tt.want {
			t.Errorf("IsTemp(%q) = %v; want %v", tt.name, got, tt.want)
		}
	}
}

func TestCreateTemp(t *testing.T) {
	dir := t.TempDir()
	final := filepath.Join(dir, "new", "deeper", "file.txt")
	f, err := CreateTemp(final)
	if err != nil {
		t.Fatal(err)
	}
	defer Discard(f)
	if got := filepath.Dir(f.Name()); got != filepath.Dir(final) {
		t.Errorf("temp file in %s; want %s", got, filepath.Dir(final))
	}
	base := filepath.Base(f.Name())
	if !IsTemp(base) || !strings.HasPrefix(base, TempPrefix+"file.txt-") {
		t.Errorf("temp name %q does not look like %sfile.txt-RANDOM.tmp", base, TempPrefix)
	}
	fi, err := os.Stat(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("temp mode %v; want 0600", fi.Mode())
	}
	pfi, err := os.Stat(filepath.Dir(final))
	if err != nil || !pfi.IsDir() {
		t.Fatalf("parent not created: %v", err)
	}
	// Two temp files for the same final path must not collide.
	g, err := CreateTemp(final)
	if err != nil {
		t.Fatal(err)
	}
	defer Discard(g)
	if g.Name() == f.Name() {
		t.Errorf("two temp files share the name %s", f.Name())
	}
}

func TestCreateTempLongName(t *testing.T) {
	dir := t.TempDir()
	for _, base := range []string{strings.Repeat("a", 255), strings.Repeat("é", 127)} {
		f, err := CreateTemp(filepath.Join(dir, base))
		if err != nil {
			t.Fatalf("CreateTemp with a %d-byte name: %v", len(base), err)
		}
		name := filepath.Base(f.Name())
		if len(name) > 255 || !IsTemp(name) {
			t.Errorf("temp name %q (%d bytes) too long or not recognised", name, len(name))
		}
		if !strings.HasPrefix(name, TempPrefix+base[:10]) {
			t.Errorf("temp name %q lost the start of the base name", name)
		}
		Discard(f)
	}
}

func TestCommitReplacesExistingFile(t *testing.T) {
	dir := t.TempDir()
	final := filepath.Join(dir, "f")
	if err := os.WriteFile(final, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A reader that opened the old file keeps seeing it whole: the name is replaced, the old file is not rewritten.
	reader, err := os.Open(final)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()

	f := writeTemp(t, final, "new content")
	mtime := time.Date(2020, 7, 17, 16, 22, 0, 123456789, time.UTC)
	if err := Commit(f, final, 0o640, mtime); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, final); got != "new content" {
		t.Errorf("final content %q", got)
	}
	old := make([]byte, 16)
	n, _ := reader.Read(old)
	if string(old[:n]) != "old" {
		t.Errorf("old reader sees %q; want %q", old[:n], "old")
	}
	fi, err := os.Lstat(final)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o640 {
		t.Errorf("mode %v; want -rw-r-----", fi.Mode())
	}
	if !fi.ModTime().Equal(mtime) {
		t.Errorf("mtime %v; want %v", fi.ModTime(), mtime)
	}
	if left := tempLeftovers(t, dir); len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}
}

func TestCommitNoModeNoMtime(t *testing.T) {
	dir := t.TempDir()
	final := filepath.Join(dir, "f")
	f := writeTemp(t, final, "x")
	// Commit must also accept a file its caller already closed.
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Minute)
	if err := Commit(f, final, 0, time.Time{}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(final)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o600 {
		t.Errorf("mode %v; want the temp file's 0600", fi.Mode())
	}
	if fi.ModTime().Before(before) {
		t.Errorf("mtime %v changed although none was given", fi.ModTime())
	}
}

func TestCommitFailureLeavesExistingFile(t *testing.T) {
	dir := t.TempDir()
	final := filepath.Join(dir, "f")
	if err := os.WriteFile(final, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := writeTemp(t, final, "new")
	// Make the rename fail: the temp file disappears behind Commit's back.
	if err := os.Remove(f.Name()); err != nil {
		t.Fatal(err)
	}
	err := Commit(f, final, 0o644, time.Now())
	if err == nil || !strings.Contains(err.Error(), "commit "+final) {
		t.Fatalf("Commit = %v; want an error naming %s", err, final)
	}
	if got := readFile(t, final); got != "old" {
		t.Errorf("existing file now holds %q", got)
	}
	if left := tempLeftovers(t, dir); len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}
}

func TestCommitOntoDirectory(t *testing.T) {
	dir := t.TempDir()
	final := filepath.Join(dir, "d")
	if err := os.MkdirAll(filepath.Join(final, "inside"), 0o755); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{final, empty} {
		f := writeTemp(t, target, "file")
		if err := Commit(f, target, 0o644, time.Time{}); err == nil {
			t.Fatalf("Commit onto directory %s succeeded", target)
		}
		fi, err := os.Lstat(target)
		if err != nil || !fi.IsDir() {
			t.Errorf("directory %s changed: %v, %v", target, fi, err)
		}
	}
	if _, err := os.Stat(filepath.Join(final, "inside")); err != nil {
		t.Errorf("directory contents changed: %v", err)
	}
	if left := tempLeftovers(t, dir); len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}
}

func TestDiscard(t *testing.T) {
	dir := t.TempDir()
	final := filepath.Join(dir, "f")
	if err := os.WriteFile(final, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := writeTemp(t, final, "new")
	Discard(f)
	Discard(f) // a second call is harmless
	if got := readFile(t, final); got != "old" {
		t.Errorf("existing file now holds %q", got)
	}
	if left := tempLeftovers(t, dir); len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}
}
