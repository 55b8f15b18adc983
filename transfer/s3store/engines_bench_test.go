//go:build enginesbench

package s3store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	tm "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/fsxsync/fsxsync/internal/s3test"
	"github.com/fsxsync/fsxsync/internal/testenv"
	"github.com/fsxsync/fsxsync/transfer"
	"github.com/fsxsync/fsxsync/transfer/s3store"
	"golang.org/x/sync/errgroup"
)

// BenchmarkEngines compares three ways to move the 1 GiB and the 1,000 x 1 MiB data sets with the same client and
// server: the SDK's feature/s3/transfermanager (what the design card names), its predecessor feature/s3/manager, and
// fsxsync's own paths in s3store.Store (parts read and written in place; single requests through pooled buffers for
// objects below a part). All three send and check a CRC32C. B/op is the memory each allocates per data set, the best
// proxy for peak RSS a benchmark has. It is behind the enginesbench build tag because it is the one user of the
// deprecated feature/s3/manager, which is the point of the comparison; `make bench` does not run it. Run
//
//	TMPDIR=/dev/shm FSXSYNC_VERSITYGW=.tools/bin/versitygw go test -tags enginesbench -run '^$' -bench Engines -benchtime 3x ./transfer/s3store
func BenchmarkEngines(b *testing.B) {
	for _, set := range []struct {
		name  string
		files int
		size  int64
	}{{"1GiB", 1, 1 << 30}, {"1000x1MiB", 1000, 1 << 20}} {
		dir := testenv.BenchDir(b, "engines-"+set.name)
		var paths []string
		for i := range set.files {
			p := filepath.Join(dir, fmt.Sprintf("f%04d", i))
			testenv.WriteRandomFile(b, p, set.size, uint64(i))
			paths = append(paths, p)
		}
		bucket := srv(b).NewBucket(b)
		b.Cleanup(func() { os.RemoveAll(filepath.Join(srv(b).Dir, "root", bucket)) })
		client := srv(b).Client()
		store := s3store.New(client, bucket, s3store.Options{})
		tmc := tm.New(client, func(o *tm.Options) {
			o.PartSizeBytes, o.MultipartUploadThreshold, o.Concurrency = transfer.DefaultPartSize, transfer.DefaultPartSize, transfer.DefaultPartConcurrency
			o.ChecksumAlgorithm = tmtypes.ChecksumAlgorithmCrc32c
			o.GetObjectType = tmtypes.GetObjectParts
		})
		up := manager.NewUploader(client, func(u *manager.Uploader) {
			u.PartSize, u.Concurrency = transfer.DefaultPartSize, transfer.DefaultPartConcurrency
		})
		down := manager.NewDownloader(client, func(d *manager.Downloader) {
			d.PartSize, d.Concurrency = transfer.DefaultPartSize, transfer.DefaultPartConcurrency
		})
		engines := []struct {
			name     string
			upload   func(ctx context.Context, key, path string, size int64) error
			download func(ctx context.Context, key, path string, size int64) error
		}{
			{"transfermanager",
				func(ctx context.Context, key, path string, size int64) error {
					return withFile(path, false, func(f *os.File) error {
						_, err := tmc.UploadObject(ctx, &tm.UploadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
							Body: f, ChecksumType: tmtypes.ChecksumTypeFullObject})
						return err
					})
				},
				func(ctx context.Context, key, path string, size int64) error {
					return withFile(path, true, func(f *os.File) error {
						_, err := tmc.DownloadObject(ctx, &tm.DownloadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
							WriterAt: f, ChecksumMode: tmtypes.ChecksumModeEnabled})
						return err
					})
				}},
			{"manager",
				func(ctx context.Context, key, path string, size int64) error {
					return withFile(path, false, func(f *os.File) error {
						_, err := up.Upload(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: f,
							ChecksumAlgorithm: "CRC32C"})
						return err
					})
				},
				func(ctx context.Context, key, path string, size int64) error {
					return withFile(path, true, func(f *os.File) error {
						_, err := down.Download(ctx, f, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
							ChecksumMode: "ENABLED"})
						return err
					})
				}},
			{"fsxsync",
				func(ctx context.Context, key, path string, size int64) error {
					return withFile(path, false, func(f *os.File) error {
						_, err := store.Upload(ctx, key, benchFile{f}, size, nil, transfer.DefaultPartSize)
						return err
					})
				},
				func(ctx context.Context, key, path string, size int64) error {
					return withFile(path, true, func(f *os.File) error {
						_, err := store.Download(ctx, key, f, size)
						return err
					})
				}},
		}
		for _, eng := range engines {
			each := func(b *testing.B, fn func(ctx context.Context, key, path string, size int64) error, out bool) {
				g, ctx := errgroup.WithContext(context.Background())
				g.SetLimit(transfer.DefaultConcurrency)
				for i, p := range paths {
					key := fmt.Sprintf("%s/f%04d", eng.name, i)
					if out {
						p = filepath.Join(dir, "out-"+filepath.Base(p))
					}
					g.Go(func() error { return fn(ctx, key, p, set.size) })
				}
				if err := g.Wait(); err != nil {
					b.Fatal(err)
				}
			}
			b.Run(set.name+"/"+eng.name+"/upload", func(b *testing.B) {
				b.SetBytes(int64(set.files) * set.size)
				b.ReportAllocs()
				for b.Loop() {
					each(b, eng.upload, false)
				}
			})
			b.Run(set.name+"/"+eng.name+"/download", func(b *testing.B) {
				b.SetBytes(int64(set.files) * set.size)
				b.ReportAllocs()
				for b.Loop() {
					each(b, eng.download, true)
				}
			})
		}
	}
}

// withFile opens path (or creates it, for a download), runs fn with it and closes it.
func withFile(path string, create bool, fn func(*os.File) error) error {
	open := os.Open
	if create {
		open = os.Create
	}
	f, err := open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return fn(f)
}

// benchFile is a file as the store's part paths read it; the engine's own reader also checks that the file did not
// change, which a benchmark's files never do.
type benchFile struct{ *os.File }

func (benchFile) Verify() error { return nil }
func (benchFile) Sent(int64)    {}

// srv is the versitygw instance shared by this package's benchmarks, started by the first one that needs it.
func srv(t testing.TB) *s3test.Server { return s3test.Shared(t) }

func TestMain(m *testing.M) {
	code := m.Run()
	s3test.StopShared()
	os.Exit(code)
}
