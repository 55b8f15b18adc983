package transfer

import (
	"context"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// The throughput benchmarks move real bytes through the versitygw started by TestMain (run `make bench`, which puts
// the server and the data on tmpfs). Each iteration copies to a fresh prefix or directory.

func writeRandomFile(b *testing.B, path string, size int64, seed uint64) {
	if fi, err := os.Stat(path); err == nil && fi.Size() == size {
		return
	}
	os.MkdirAll(filepath.Dir(path), 0o755)
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	r := mrand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	buf := make([]byte, 1<<20)
	for left := size; left > 0; left -= int64(len(buf)) {
		r.Read(buf)
		if _, err := f.Write(buf[:min(int64(len(buf)), left)]); err != nil {
			b.Fatal(err)
		}
	}
}

func benchCopy(b *testing.B, src, dst Location, bytes int64, files int, o Options) {
	o.Src, o.Dst, o.Recursive, o.Compare, o.Out = src, dst, true, CompareAlways, io.Discard
	rep, err := Run(context.Background(), benchStore, o)
	if err != nil {
		b.Fatal(err)
	}
	if rep.Failed.Files != 0 || rep.Transferred.Files != int64(files) {
		b.Fatalf("transferred %d failed %d (%v), want %d", rep.Transferred.Files, rep.Failed.Files, rep.Failures, files)
	}
}

var benchStore ObjectStore

func setupBenchStore(b *testing.B, o StoreOptions) string {
	bucket := srv.NewBucket(b)
	benchStore = NewS3Store(srv.Client(), bucket, o)
	return bucket
}

func benchTransfer(b *testing.B, name string, files int, size int64, o Options, so StoreOptions) {
	dir := benchDir(b, name)
	for i := 0; i < files; i++ {
		p := filepath.Join(dir, "src", fmt.Sprintf("d%02d/f%05d", i%100, i))
		if files == 1 {
			p = filepath.Join(dir, "src", "big.bin")
		}
		writeRandomFile(b, p, size, uint64(i))
	}
	total := int64(files) * size
	bucket := setupBenchStore(b, so)
	// The server keeps its data on tmpfs, which is memory: drop the bucket's data after this benchmark.
	b.Cleanup(func() { os.RemoveAll(filepath.Join(srv.Dir, "root", bucket)) })
	b.Run("upload", func(b *testing.B) {
		b.SetBytes(total)
		for b.Loop() {
			// Each iteration overwrites the same keys, so the server holds one copy.
			benchCopy(b, Location{Local: filepath.Join(dir, "src")}, Location{Bucket: bucket, Key: "up0"}, total, files, o)
		}
		b.ReportMetric(float64(files*b.N)/b.Elapsed().Seconds(), "files/s")
	})
	b.Run("download", func(b *testing.B) {
		b.SetBytes(total)
		for b.Loop() {
			out := filepath.Join(dir, "dst")
			b.StopTimer()
			os.RemoveAll(out)
			b.StartTimer()
			benchCopy(b, Location{Bucket: bucket, Key: "up0"}, Location{Local: out}, total, files, o)
		}
		b.ReportMetric(float64(files*b.N)/b.Elapsed().Seconds(), "files/s")
	})
}

func BenchmarkOneGiB(b *testing.B) {
	benchTransfer(b, "1gib", 1, 1<<30, Options{}, StoreOptions{})
}

func BenchmarkSmallFiles10k(b *testing.B) {
	benchTransfer(b, "10k", 10000, 16<<10, Options{}, StoreOptions{})
}

func BenchmarkMiB1000(b *testing.B) {
	benchTransfer(b, "1000x1mib", 1000, 1<<20, Options{}, StoreOptions{})
}

// BenchmarkTuning sweeps the levers the defaults were chosen from: files in flight, part size and parts in flight.
func BenchmarkTuning(b *testing.B) {
	if os.Getenv("FSXSYNC_BENCH_TUNING") == "" {
		b.Skip("set FSXSYNC_BENCH_TUNING=1 to sweep concurrency and part sizes")
	}
	for _, c := range []int{8, 16, 32, 64} {
		b.Run(fmt.Sprintf("small/concurrency=%d", c), func(b *testing.B) {
			benchTransfer(b, "10k", 10000, 16<<10, Options{Concurrency: c}, StoreOptions{})
		})
	}
	for _, ps := range []int64{8 << 20, 16 << 20, 32 << 20, 64 << 20} {
		for _, pc := range []int{4, 8, 16} {
			b.Run(fmt.Sprintf("1gib/part=%dMiB/parts=%d", ps>>20, pc), func(b *testing.B) {
				benchTransfer(b, "1gib", 1, 1<<30, Options{PartSize: ps}, StoreOptions{PartSize: ps, PartConcurrency: pc})
			})
		}
	}
}
