// Command floor is the yardstick of scripts/bench/compare: the least a client must do to move a tree through S3
// with aws-sdk-go-v2, so that its time is what any client can reach on a given server.
//
//	floor -endpoint URL -bucket B -mode upload   -dir DIR -prefix P   # every file under DIR to s3://B/P<relative path>
//	floor -endpoint URL -bucket B -mode download -dir DIR -prefix P   # every object under P to DIR/<key minus P>
//	floor -endpoint URL -bucket B -mode noop     -dir DIR -prefix P   # one listing + one lstat a file, compare sizes
//
// It does concurrent PutObject/GetObject calls, and for files larger than -part-size a multipart upload or ranged
// GetObjects whose parts share the same worker pool. It has none of what a real tool needs: no retries, no
// checksums beyond what S3 requires, no temp files and renames, no metadata, no comparison beyond sizes. Credentials
// are AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, the region AWS_REGION (default us-east-1); over HTTPS it trusts
// the CA bundle in AWS_CA_BUNDLE, as the SDK's default configuration would. -single-put sends every file, however
// large, in one PutObject. It prints one summary line; the orchestrator times the whole process.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"
)

func main() {
	endpoint := flag.String("endpoint", "", "S3 endpoint URL, e.g. http://127.0.0.1:7070 (required)")
	bucket := flag.String("bucket", "", "bucket (required)")
	mode := flag.String("mode", "", "upload, download or noop (required)")
	dir := flag.String("dir", "", "local directory (required)")
	prefix := flag.String("prefix", "", "key prefix; end it with / to make it a folder")
	// 32: on the 2-core loopback setup 16-32 were fastest for both small files and parts; 64 and more were slower.
	workers := flag.Int("workers", 32, "requests in flight at once (files or parts)")
	partSize := flag.Int64("part-size", 16<<20, "files larger than this move in parts of this size")
	singlePut := flag.Bool("single-put", false, "upload every file in one PutObject, whatever its size (up to S3's 5 GiB)")
	flag.Parse()
	if *endpoint == "" || *bucket == "" || *dir == "" || *workers < 1 || *partSize < 5<<20 {
		flag.Usage()
		os.Exit(2)
	}

	client, err := newClient(*endpoint, *workers)
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
	c := &floor{
		s3:        client,
		singlePut: *singlePut,
		bucket:    *bucket,
		dir:       *dir,
		prefix:    *prefix,
		workers:   *workers,
		partSize:  *partSize,
	}
	start := time.Now()
	var files, bytes int64
	ctx := context.Background()
	switch *mode {
	case "upload":
		files, bytes, err = c.upload(ctx)
	case "download":
		files, bytes, err = c.download(ctx)
	case "noop":
		files, err = c.noop(ctx)
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
	fmt.Printf("floor %s: %d files, %d bytes in %.3fs\n", *mode, files, bytes, time.Since(start).Seconds())
}

// newClient returns an S3 client that does no more than a request needs: one attempt, checksums only where S3
// requires them, path-style addressing (a loopback endpoint has no bucket DNS names), and a transport that keeps
// one idle connection for every worker so no request waits for a new TCP connection. s3.New does not read
// AWS_CA_BUNDLE (config.LoadDefaultConfig does, for fsxsync), so the floor adds the bundle to its own transport.
func newClient(endpoint string, workers int) (*s3.Client, error) {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConns = 2 * workers
	transport.MaxIdleConnsPerHost = 2 * workers
	if bundle := os.Getenv("AWS_CA_BUNDLE"); bundle != "" {
		pem, err := os.ReadFile(bundle)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("AWS_CA_BUNDLE %s: no certificates", bundle)
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	region := os.Getenv("AWS_REGION")
	if region == "" {
		region = "us-east-1"
	}
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(endpoint),
		Region:       region,
		Credentials: credentials.NewStaticCredentialsProvider(
			os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), ""),
		UsePathStyle:               true,
		HTTPClient:                 &http.Client{Transport: transport},
		Retryer:                    aws.NopRetryer{},
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}), nil
}

type floor struct {
	s3        *s3.Client
	singlePut bool // no multipart uploads
	bucket    string
	dir       string
	prefix    string
	workers   int
	partSize  int64
}

// localFile is a regular file under dir: its key relative to dir ('/'-separated) and its size.
type localFile struct {
	rel  string
	size int64
}

// walk lists the regular files under dir. WalkDir's DirEntry.Info is the lstat a sync needs anyway.
func (c *floor) walk() ([]localFile, error) {
	var files []localFile
	err := filepath.WalkDir(c.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(c.dir, p)
		if err != nil {
			return err
		}
		files = append(files, localFile{filepath.ToSlash(rel), fi.Size()})
		return nil
	})
	return files, err
}

// list returns the size of every object under prefix, by key relative to prefix: one ListObjectsV2 pagination.
func (c *floor) list(ctx context.Context) (map[string]int64, error) {
	objects := make(map[string]int64)
	pages := s3.NewListObjectsV2Paginator(c.s3, &s3.ListObjectsV2Input{Bucket: &c.bucket, Prefix: &c.prefix})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", c.bucket, c.prefix, err)
		}
		for _, o := range page.Contents {
			rel := strings.TrimPrefix(aws.ToString(o.Key), c.prefix)
			if rel == "" || strings.HasSuffix(rel, "/") {
				continue // a directory marker
			}
			objects[rel] = aws.ToInt64(o.Size)
		}
	}
	return objects, nil
}

// upload puts every local file: small files with one PutObject each, large ones as a multipart upload whose parts
// are jobs in the same pool. An os.File and a SectionReader are seekable, so the SDK hashes the body for SigV4
// (plain HTTP requires a signed payload) without buffering it.
func (c *floor) upload(ctx context.Context) (files, bytes int64, err error) {
	local, err := c.walk()
	if err != nil {
		return 0, 0, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.workers)
	var multiparts []*multipart
	for _, f := range local {
		files, bytes = files+1, bytes+f.size
		key := c.prefix + f.rel
		src := filepath.Join(c.dir, filepath.FromSlash(f.rel))
		if f.size <= c.partSize || c.singlePut {
			g.Go(func() error { return c.putObject(gctx, src, key) })
			continue
		}
		m, err := c.startMultipart(gctx, src, key, f.size)
		if err != nil {
			g.Wait()
			return 0, 0, err
		}
		multiparts = append(multiparts, m)
		for i := range m.parts {
			g.Go(func() error { return c.uploadPart(gctx, m, i) })
		}
	}
	if err := g.Wait(); err != nil {
		return 0, 0, err
	}
	for _, m := range multiparts {
		m.file.Close()
		_, err := c.s3.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
			Bucket: &c.bucket, Key: &m.key, UploadId: &m.uploadID,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: m.parts},
		})
		if err != nil {
			return 0, 0, fmt.Errorf("complete %s: %w", m.key, err)
		}
	}
	return files, bytes, nil
}

func (c *floor) putObject(ctx context.Context, src, key string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: &c.bucket, Key: &key, Body: f}); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// multipart is one large file being uploaded: parts[i] is filled by the worker that uploads part i+1.
type multipart struct {
	key, uploadID string
	file          *os.File
	size          int64
	parts         []types.CompletedPart
}

func (c *floor) startMultipart(ctx context.Context, src, key string, size int64) (*multipart, error) {
	f, err := os.Open(src)
	if err != nil {
		return nil, err
	}
	out, err := c.s3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &c.bucket, Key: &key})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("create multipart %s: %w", key, err)
	}
	n := (size + c.partSize - 1) / c.partSize
	return &multipart{key: key, uploadID: aws.ToString(out.UploadId), file: f, size: size,
		parts: make([]types.CompletedPart, n)}, nil
}

func (c *floor) uploadPart(ctx context.Context, m *multipart, i int) error {
	off := int64(i) * c.partSize
	n := min(c.partSize, m.size-off)
	out, err := c.s3.UploadPart(ctx, &s3.UploadPartInput{
		Bucket: &c.bucket, Key: &m.key, UploadId: &m.uploadID,
		PartNumber: aws.Int32(int32(i + 1)), ContentLength: aws.Int64(n),
		Body: io.NewSectionReader(m.file, off, n),
	})
	if err != nil {
		return fmt.Errorf("upload part %d of %s: %w", i+1, m.key, err)
	}
	m.parts[i] = types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(int32(i + 1))}
	return nil
}

// download gets every object under prefix into dir: small objects with one GetObject each, large ones as ranged
// GetObjects written in place with WriteAt. Directories are made before the transfers start, so no worker waits on
// another's MkdirAll.
func (c *floor) download(ctx context.Context) (files, bytes int64, err error) {
	objects, err := c.list(ctx)
	if err != nil {
		return 0, 0, err
	}
	made := make(map[string]bool)
	for rel := range objects {
		d := path.Dir(rel)
		if !made[d] {
			if err := os.MkdirAll(filepath.Join(c.dir, filepath.FromSlash(d)), 0o755); err != nil {
				return 0, 0, err
			}
			made[d] = true
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.workers)
	var large []*os.File
	for rel, size := range objects {
		files, bytes = files+1, bytes+size
		key := c.prefix + rel
		dst := filepath.Join(c.dir, filepath.FromSlash(rel))
		if size <= c.partSize {
			g.Go(func() error { return c.getObject(gctx, key, dst) })
			continue
		}
		f, err := os.Create(dst)
		if err == nil {
			err = f.Truncate(size)
		}
		if err != nil {
			g.Wait()
			return 0, 0, err
		}
		large = append(large, f)
		for off := int64(0); off < size; off += c.partSize {
			g.Go(func() error { return c.getRange(gctx, key, f, off, min(c.partSize, size-off)) })
		}
	}
	err = g.Wait()
	for _, f := range large {
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		return 0, 0, err
	}
	return files, bytes, nil
}

func (c *floor) getObject(ctx context.Context, key, dst string) error {
	out, err := c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: &c.bucket, Key: &key})
	if err != nil {
		return fmt.Errorf("get %s: %w", key, err)
	}
	defer out.Body.Close()
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	if err := copyBody(f, out.Body); err != nil {
		f.Close()
		return fmt.Errorf("get %s: %w", key, err)
	}
	return f.Close()
}

func (c *floor) getRange(ctx context.Context, key string, f *os.File, off, n int64) error {
	rng := fmt.Sprintf("bytes=%d-%d", off, off+n-1)
	out, err := c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: &c.bucket, Key: &key, Range: &rng})
	if err != nil {
		return fmt.Errorf("get %s %s: %w", key, rng, err)
	}
	defer out.Body.Close()
	if err := copyBody(io.NewOffsetWriter(f, off), out.Body); err != nil {
		return fmt.Errorf("get %s %s: %w", key, rng, err)
	}
	return nil
}

// buffers holds the 256 KiB buffers response bodies are copied through: io.Copy's own 32 KiB would cost eight
// times the read and write system calls on a large object.
var buffers = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

func copyBody(w io.Writer, r io.Reader) error {
	buf := buffers.Get().(*[]byte)
	defer buffers.Put(buf)
	// Hide any ReaderFrom or WriterTo, so the copy goes through buf.
	_, err := io.CopyBuffer(struct{ io.Writer }{w}, struct{ io.Reader }{r}, *buf)
	return err
}

// noop is the work of a sync that finds nothing to do: list the prefix and lstat every local file (the two run at
// once), then compare sizes. It fails if any file differs, since then the sync would not have been a no-op.
func (c *floor) noop(ctx context.Context) (files int64, err error) {
	var objects map[string]int64
	var listErr error
	listed := make(chan struct{})
	go func() {
		objects, listErr = c.list(ctx)
		close(listed)
	}()
	local, walkErr := c.walk()
	<-listed
	if err := errors.Join(listErr, walkErr); err != nil {
		return 0, err
	}
	differ := 0
	for _, f := range local {
		if size, ok := objects[f.rel]; !ok || size != f.size {
			differ++
		}
	}
	if differ > 0 {
		return 0, fmt.Errorf("noop: %d of %d files differ from s3://%s/%s", differ, len(local), c.bucket, c.prefix)
	}
	return int64(len(local)), nil
}
