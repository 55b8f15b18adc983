package transfer_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/fsxsync/fsxsync/internal/testenv"
	"github.com/fsxsync/fsxsync/transfer"
	"github.com/fsxsync/fsxsync/transfer/s3store"
)

// The throughput benchmarks move real bytes through the versitygw started by the first benchmark that needs it (run `make bench`, which puts
// the server and the data on tmpfs). Each iteration copies to a fresh prefix or directory.

func benchCopy(b *testing.B, src, dst transfer.Location, bytes int64, files int, o transfer.Options) {
	o.Src, o.Dst, o.Recursive, o.Compare, o.Out = src, dst, true, transfer.CompareAlways, io.Discard
	rep, err := transfer.Run(context.Background(), benchStore, o)
	if err != nil {
		b.Fatal(err)
	}
	if rep.Failed.Files != 0 || rep.Transferred.Files != int64(files) {
		b.Fatalf("transferred %d failed %d (%v), want %d", rep.Transferred.Files, rep.Failed.Files, rep.Failures, files)
	}
}

var benchStore transfer.ObjectStore

func setupBenchStore(b *testing.B, o s3store.Options) string {
	bucket := srv(b).NewBucket(b)
	benchStore = s3store.New(srv(b).Client(), bucket, o)
	return bucket
}

func benchTransfer(b *testing.B, name string, files int, size int64, o transfer.Options, so s3store.Options) {
	dir := testenv.BenchDir(b, name)
	for i := 0; i < files; i++ {
		p := filepath.Join(dir, "src", fmt.Sprintf("d%02d/f%05d", i%100, i))
		if files == 1 {
			p = filepath.Join(dir, "src", "big.bin")
		}
		testenv.WriteRandomFile(b, p, size, uint64(i))
	}
	total := int64(files) * size
	bucket := setupBenchStore(b, so)
	// The server keeps its data on tmpfs, which is memory: drop the bucket's data after this benchmark.
	b.Cleanup(func() { os.RemoveAll(filepath.Join(srv(b).Dir, "root", bucket)) })
	b.Run("upload", func(b *testing.B) {
		b.SetBytes(total)
		for b.Loop() {
			// Each iteration overwrites the same keys, so the server holds one copy.
			benchCopy(b, transfer.Location{Local: filepath.Join(dir, "src")}, transfer.Location{Bucket: bucket, Key: "up0"}, total, files, o)
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
			benchCopy(b, transfer.Location{Bucket: bucket, Key: "up0"}, transfer.Location{Local: out}, total, files, o)
		}
		b.ReportMetric(float64(files*b.N)/b.Elapsed().Seconds(), "files/s")
	})
}

func BenchmarkOneGiB(b *testing.B) {
	benchTransfer(b, "1gib", 1, 1<<30, transfer.Options{}, s3store.Options{})
}

func BenchmarkSmallFiles10k(b *testing.B) {
	benchTransfer(b, "10k", 10000, 16<<10, transfer.Options{}, s3store.Options{})
}

func BenchmarkMiB1000(b *testing.B) {
	benchTransfer(b, "1000x1mib", 1000, 1<<20, transfer.Options{}, s3store.Options{})
}

// BenchmarkTuning sweeps the levers the defaults were chosen from: files in flight, part size and parts in flight.
func BenchmarkTuning(b *testing.B) {
	if os.Getenv("FSXSYNC_BENCH_TUNING") == "" {
		b.Skip("set FSXSYNC_BENCH_TUNING=1 to sweep concurrency and part sizes")
	}
	for _, c := range []int{8, 16, 32, 64} {
		b.Run(fmt.Sprintf("small/concurrency=%d", c), func(b *testing.B) {
			benchTransfer(b, "10k", 10000, 16<<10, transfer.Options{Concurrency: c}, s3store.Options{})
		})
	}
	for _, ps := range []int64{8 << 20, 16 << 20, 32 << 20, 64 << 20} {
		for _, pc := range []int{4, 8, 16} {
			b.Run(fmt.Sprintf("1gib/part=%dMiB/parts=%d", ps>>20, pc), func(b *testing.B) {
				benchTransfer(b, "1gib", 1, 1<<30, transfer.Options{PartSize: ps}, s3store.Options{PartSize: ps, PartConcurrency: pc})
			})
		}
	}
}
