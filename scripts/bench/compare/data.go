//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"time"
)

// dataset is a tree of files of one size, generated the same way every time.
type dataset struct {
	name  string // directory name under the work dir, and the S3 prefix src/<name>/ it is uploaded to
	files int
	size  int64 // of each file
	dirs  int   // files are spread over this many subdirectories d00, d01, ...; 0 puts a single file big.bin at the top
}

// bytes is the size of the whole tree.
func (d *dataset) bytes() int64 { return int64(d.files) * d.size }

// singleFile is the name of the only file of a dataset without subdirectories, moved with `cp` rather than `sync`.
const singleFile = "big.bin"

// rel is the '/'-separated path of file i of the dataset, relative to its root.
func (d *dataset) rel(i int) string {
	if d.dirs == 0 {
		return singleFile
	}
	return fmt.Sprintf("d%02d/f%05d", i%d.dirs, i)
}

// generate writes the dataset under dir. Every file's bytes come from a ChaCha8 stream seeded with its index, so
// two runs of the harness move the same bytes, and nothing compresses or deduplicates.
func (d *dataset) generate(dir string) error {
	buf := make([]byte, 1<<20)
	for i := 0; i < d.files; i++ {
		p := filepath.Join(dir, filepath.FromSlash(d.rel(i)))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		r := mrand.NewChaCha8([32]byte{byte(i), byte(i >> 8), byte(i >> 16), 'f', 's', 'x'})
		for left := d.size; left > 0; left -= int64(len(buf)) {
			n := min(int64(len(buf)), left)
			r.Read(buf[:n])
			if _, err := f.Write(buf[:n]); err != nil {
				f.Close()
				return err
			}
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

// ballast writes size bytes to a file in dir and deletes it. On this kind of VM, memory the guest has not touched
// recently costs about 2 s of system time per GiB the first time it is written (see
// /work/shared/reference/benchmarking.md), so a tool that happens to run first, or right after a big deletion,
// would pay for it. Writing and freeing as much as the run will write makes every timed run start from memory
// that was just in use; tmpfs gives the pages back at once on unlink.
func ballast(dir string, size int64) error {
	p := filepath.Join(dir, "ballast")
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	defer os.Remove(p)
	buf := bytes.Repeat([]byte{0xa5}, 1<<20)
	for left := size; left > 0; left -= int64(len(buf)) {
		if _, err := f.Write(buf[:min(int64(len(buf)), left)]); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// sameTree checks that dir holds exactly the dataset's files, byte for byte. It reads the server's posix backend
// directory directly for uploads (an object is a file at <root>/<bucket>/<key>) and the download directory for
// downloads, so every tool's output is checked the same way, outside the timed part of a run.
func (d *dataset) sameTree(src, dir string) error {
	a := make([]byte, 1<<20)
	b := make([]byte, 1<<20)
	for i := 0; i < d.files; i++ {
		rel := filepath.FromSlash(d.rel(i))
		if err := sameFile(filepath.Join(src, rel), filepath.Join(dir, rel), a, b); err != nil {
			return err
		}
	}
	n := 0
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			n++
		}
		return err
	})
	if err != nil {
		return err
	}
	if n != d.files {
		return fmt.Errorf("%s holds %d files, want %d", dir, n, d.files)
	}
	return nil
}

func sameFile(want, got string, a, b []byte) error {
	fw, err := os.Open(want)
	if err != nil {
		return err
	}
	defer fw.Close()
	fg, err := os.Open(got)
	if err != nil {
		return err
	}
	defer fg.Close()
	for off := int64(0); ; {
		na, errA := io.ReadFull(fw, a)
		nb, errB := io.ReadFull(fg, b)
		if na != nb || !bytes.Equal(a[:na], b[:nb]) {
			return fmt.Errorf("%s differs from %s at or after byte %d", got, want, off)
		}
		off += int64(na)
		endA := errors.Is(errA, io.EOF) || errors.Is(errA, io.ErrUnexpectedEOF)
		endB := errors.Is(errB, io.EOF) || errors.Is(errB, io.ErrUnexpectedEOF)
		switch {
		case endA && endB:
			return nil
		case errA != nil && !endA:
			return errA
		case errB != nil && !endB:
			return errB
		case endA != endB:
			return fmt.Errorf("%s and %s differ in length", got, want)
		}
	}
}

// changedSince counts the regular files under dir modified at or after t: after a no-op sync, an object the
// tool rewrote shows up as a file the server wrote during the run.
func changedSince(dir string, t time.Time) (int, error) {
	n := 0
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		fi, err := e.Info()
		if err == nil && !fi.ModTime().Before(t) {
			n++
		}
		return err
	})
	return n, err
}
