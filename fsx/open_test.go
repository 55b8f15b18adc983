//go:build unix

package fsx

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// OpenRegular opens regular files only, and never blocks on what it refuses: a FIFO with no writer would block a
// plain open for ever.
func TestOpenRegular(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink("file", link); err != nil {
		t.Fatal(err)
	}
	fifoLink := filepath.Join(dir, "fifo-link")
	if err := os.Symlink("fifo", fifoLink); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path    string
		follow  bool
		refused fs.FileMode // the type reported, when the open is refused
	}{
		{file, false, 0},
		{link, true, 0},
		{fifo, false, fs.ModeNamedPipe},
		{fifo, true, fs.ModeNamedPipe},
		{fifoLink, true, fs.ModeNamedPipe},
		{link, false, fs.ModeSymlink},
		{dir, false, fs.ModeDir},
		{"/dev/null", false, fs.ModeDevice | fs.ModeCharDevice},
	}
	for _, tt := range tests {
		done := make(chan struct{})
		var f *os.File
		var err error
		go func() {
			defer close(done)
			f, err = OpenRegular(tt.path, tt.follow)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("OpenRegular(%s, follow %v) blocked", tt.path, tt.follow)
		}
		if tt.refused == 0 {
			if err != nil {
				t.Errorf("OpenRegular(%s, follow %v): %v", tt.path, tt.follow, err)
				continue
			}
			b := make([]byte, 8)
			n, rerr := f.Read(b)
			f.Close()
			if rerr != nil || string(b[:n]) != "data" {
				t.Errorf("read %s: %q, %v", tt.path, b[:n], rerr)
			}
			continue
		}
		var nr *NotRegularError
		if !errors.As(err, &nr) || nr.Mode.Type() != tt.refused.Type() {
			t.Errorf("OpenRegular(%s, follow %v) = %v, want a NotRegularError for a %s", tt.path, tt.follow, err, TypeName(tt.refused))
		}
		if f != nil {
			f.Close()
		}
	}
}

// Reading the names of a path that is a FIFO fails at once instead of blocking in open(2).
func TestReadDirNamesOfFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := OSFS{}.ReadDirNames(fifo)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, syscall.ENOTDIR) {
			t.Errorf("ReadDirNames of a FIFO: %v, want ENOTDIR", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ReadDirNames of a FIFO blocked")
	}
}

func TestIsSpecial(t *testing.T) {
	for mode, want := range map[fs.FileMode]bool{
		0o644: false, fs.ModeDir | 0o755: false, fs.ModeSymlink: false, fs.ModeNamedPipe: true, fs.ModeSocket: true,
		fs.ModeDevice: true, fs.ModeDevice | fs.ModeCharDevice: true, fs.ModeIrregular: true,
	} {
		if got := IsSpecial(mode); got != want {
			t.Errorf("IsSpecial(%v) = %v, want %v", mode, got, want)
		}
	}
}
