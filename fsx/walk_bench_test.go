package fsx

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// latencyFS adds a fixed delay to every call, as a network file system such as Lustre does: each readdir and
// each lstat is a round trip to a metadata server.
type latencyFS struct {
	inner FS
	delay time.Duration
}

func (l latencyFS) ReadDirNames(dir string) ([]string, error) {
	time.Sleep(l.delay)
	return l.inner.ReadDirNames(dir)
}

func (l latencyFS) Lstat(path string) (fs.FileInfo, error) {
	time.Sleep(l.delay)
	return l.inner.Lstat(path)
}

// benchTree is a tree of dirs directories of files empty files each, created on first use.
type benchTree struct {
	dirs, files int
	once        sync.Once
	root        string
	err         error
}

// get creates the tree under parent the first time and returns its root.
func (bt *benchTree) get(b *testing.B, parent string) string {
	b.Helper()
	bt.once.Do(func() {
		bt.root = filepath.Join(parent, fmt.Sprintf("tree-%dx%d", bt.dirs, bt.files))
		for d := range bt.dirs {
			dir := filepath.Join(bt.root, fmt.Sprintf("dir%04d", d))
			if bt.err = os.MkdirAll(dir, 0o755); bt.err != nil {
				return
			}
			for f := range bt.files {
				if bt.err = os.WriteFile(filepath.Join(dir, fmt.Sprintf("file%05d", f)), nil, 0o644); bt.err != nil {
					return
				}
			}
		}
	})
	if bt.err != nil {
		b.Fatalf("create tree: %v", bt.err)
	}
	return bt.root
}

// BenchmarkWalkLatency walks trees on disk through a file system that adds 1 ms to every call, serially and with
// the default and a larger number of workers. Run it with -benchtime 1x: the 100k serial walk takes about 100 s.
func BenchmarkWalkLatency(b *testing.B) {
	parent := b.TempDir()
	trees := []struct {
		name string
		tree *benchTree
	}{
		{"10k", &benchTree{dirs: 10, files: 1000}},
		{"100k", &benchTree{dirs: 100, files: 1000}},
	}
	modes := []struct {
		name    string
		workers int
	}{
		{"serial", 1},
		{"parallel", 0},
		{"parallel64", 64},
	}
	for _, tr := range trees {
		b.Run(tr.name, func(b *testing.B) {
			for _, mode := range modes {
				b.Run(mode.name, func(b *testing.B) {
					root := tr.tree.get(b, parent)
					opts := WalkOptions{FS: latencyFS{inner: OSFS{}, delay: time.Millisecond}, Workers: mode.workers}
					b.ResetTimer()
					entries := 0
					for range b.N {
						err := Walk(context.Background(), root, opts, func(Entry) error {
							entries++
							return nil
						}, nil)
						if err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(entries)/b.Elapsed().Seconds(), "entries/s")
				})
			}
		})
	}
}

// BenchmarkWalkLocal walks a tree on the local disk without added latency, to show the walk's own overhead.
func BenchmarkWalkLocal(b *testing.B) {
	tree := &benchTree{dirs: 10, files: 1000}
	root := tree.get(b, b.TempDir())
	for _, workers := range []int{1, 0} {
		b.Run(fmt.Sprint("workers=", workers), func(b *testing.B) {
			b.ResetTimer()
			entries := 0
			for range b.N {
				err := Walk(context.Background(), root, WalkOptions{Workers: workers}, func(Entry) error {
					entries++
					return nil
				}, nil)
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(entries)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}
