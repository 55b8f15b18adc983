package transfer_test

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/fsxsync/fsxsync/internal/s3test"
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
	benchCPU += rep.CPUSeconds
	if rep.Failed.Files != 0 || rep.Transferred.Files != int64(files) {
		b.Fatalf("transferred %d failed %d (%v), want %d", rep.Transferred.Files, rep.Failed.Files, rep.Failures, files)
	}
}

var benchStore transfer.ObjectStore

// benchCPU sums the client CPU seconds of the runs (the report's cpu_seconds: the server is another process).
var benchCPU float64

// benchConns counts the connections the benchmark client opened (TCP dials, each one a TLS handshake over HTTPS).
var benchConns atomic.Int64

// benchSrv is the gateway the throughput benchmarks talk to: plain HTTP, or with FSXSYNC_BENCH_TLS=1 HTTPS with a
// throwaway CA the client trusts (as real S3 is reached: TLS costs client CPU per byte and per connection).
func benchSrv(b *testing.B) *s3test.Server {
	if os.Getenv("FSXSYNC_BENCH_TLS") != "" {
		return s3test.SharedTLS(b)
	}
	return srv(b)
}

func setupBenchStore(b *testing.B, o transfer.Options, so s3store.Options) string {
	bucket := benchSrv(b).NewBucket(b)
	// As the CLI sizes its connection pool: every request that can be in flight at once, files x parts.
	conns := cmp.Or(o.Concurrency, transfer.DefaultConcurrency) * cmp.Or(so.PartConcurrency, transfer.DefaultPartConcurrency)
	benchStore = s3store.New(cliClient(b, bucket, conns), bucket, so)
	return bucket
}

// cliClient builds the S3 client the way the CLI does (LoadConfig and NewClient: fsxsync's connection pool, retries
// and middleware, AWS_CA_BUNDLE for the test CA), so that the benchmarks measure what users run, and counts the
// connections it opens in benchConns.
func cliClient(b *testing.B, bucket string, maxConns int) *s3.Client {
	for _, kv := range benchSrv(b).Env() {
		k, v, _ := strings.Cut(kv, "=")
		b.Setenv(k, v)
	}
	co := s3store.ClientOptions{Endpoint: benchSrv(b).Endpoint, Bucket: bucket, MaxConns: maxConns}
	cfg, err := s3store.LoadConfig(context.Background(), co)
	if err != nil {
		b.Fatal(err)
	}
	if hc, ok := cfg.HTTPClient.(*awshttp.BuildableClient); ok {
		cfg.HTTPClient = hc.WithTransportOptions(func(t *http.Transport) {
			dial := t.DialContext
			t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				benchConns.Add(1)
				return dial(ctx, network, addr)
			}
		})
	} else {
		b.Fatalf("LoadConfig's HTTP client is a %T, not the SDK's BuildableClient", cfg.HTTPClient)
	}
	return s3store.NewClient(cfg, co)
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
	bucket := setupBenchStore(b, o, so)
	// The server keeps its data on tmpfs, which is memory: drop the bucket's data after this benchmark.
	b.Cleanup(func() { os.RemoveAll(filepath.Join(benchSrv(b).Dir, "root", bucket)) })
	b.Run("upload", func(b *testing.B) {
		b.SetBytes(total)
		conns, cpu := benchConns.Load(), benchCPU
		for b.Loop() {
			// Each iteration overwrites the same keys, so the server holds one copy.
			benchCopy(b, transfer.Location{Local: filepath.Join(dir, "src")}, transfer.Location{Bucket: bucket, Key: "up0"}, total, files, o)
		}
		b.ReportMetric(float64(files*b.N)/b.Elapsed().Seconds(), "files/s")
		b.ReportMetric(float64(benchConns.Load()-conns)/float64(b.N), "conns/op")
		b.ReportMetric((benchCPU-cpu)/float64(b.N), "cpu-s/op")
	})
	b.Run("download", func(b *testing.B) {
		b.SetBytes(total)
		conns, cpu := benchConns.Load(), benchCPU
		for b.Loop() {
			out := filepath.Join(dir, "dst")
			b.StopTimer()
			os.RemoveAll(out)
			b.StartTimer()
			benchCopy(b, transfer.Location{Bucket: bucket, Key: "up0"}, transfer.Location{Local: out}, total, files, o)
		}
		b.ReportMetric(float64(files*b.N)/b.Elapsed().Seconds(), "files/s")
		b.ReportMetric(float64(benchConns.Load()-conns)/float64(b.N), "conns/op")
		b.ReportMetric((benchCPU-cpu)/float64(b.N), "cpu-s/op")
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
