// Package s3store is the S3 side of a transfer: the engine's transfer.ObjectStore on the AWS SDK, and the one place
// where S3's answers are mapped onto the engine's error kinds (errors.go). One file per operation: list.go,
// upload.go and download.go, with multipart.go for objects moved in parts; client.go builds the one shared client.
package s3store

import (
	"context"
	"fmt"
	"strings"
	"time"

	tm "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/fsxsync/fsxsync/transfer"
)

// Store moves objects with one shared S3 client. An object smaller than a part goes in one PutObject or GetObject
// through pooled buffers; a larger one moves in parts read from and written to the file in place, several at once
// (multipart.go). Every error it returns carries the engine's kind (Classify).
type Store struct {
	client          *s3.Client
	tm              *tm.Client // only for another tool's objects with per-part checksums (downloadParts)
	bucket          string
	partSize        int64
	partConcurrency int
	bufs            *bufPool
	enc             Encryption // what every object this store creates is encrypted with
}

// Options tune multipart transfers and say how uploads are encrypted.
type Options struct {
	PartSize        int64 // bytes per part; 0 = transfer.DefaultPartSize
	PartConcurrency int   // parts in flight per file; 0 = transfer.DefaultPartConcurrency
	// Encryption is the server-side encryption of every object uploaded (--sse); the zero value leaves it to the
	// bucket's default encryption.
	Encryption Encryption
}

const (
	// minPartSize is S3's minimum for every part but the last.
	minPartSize = 5 << 20
	maxParts    = 10000
)

// PartSizeFor returns the part size for an object of the given size: the requested size, grown so that no object
// needs more than 10,000 parts.
func PartSizeFor(requested, size int64) int64 {
	ps := max(requested, minPartSize)
	if size > ps*maxParts {
		// Round up to a whole MiB so parts stay aligned with typical stripe and page sizes.
		ps = (size/maxParts + 1 + (1<<20 - 1)) &^ (1<<20 - 1)
	}
	return ps
}

// New returns the S3 side of a transfer for one bucket.
func New(client *s3.Client, bucket string, o Options) *Store {
	if o.PartSize == 0 {
		o.PartSize = transfer.DefaultPartSize
	}
	if o.PartConcurrency == 0 {
		o.PartConcurrency = transfer.DefaultPartConcurrency
	}
	t := tm.New(client, func(to *tm.Options) {
		to.PartSizeBytes = o.PartSize
		to.Concurrency = o.PartConcurrency
		// Downloading by part number (not by byte range) lets the SDK verify each part against the checksum S3
		// stored for it.
		to.GetObjectType = tmtypes.GetObjectParts
		to.FailTimeout = 10 * time.Second
	})
	return &Store{client: client, tm: t, bucket: bucket, partSize: o.PartSize, partConcurrency: o.PartConcurrency,
		bufs: &bufPool{}, enc: o.Encryption}
}

// fail wraps an error of operation op on key with the operation, the object's URL and the engine's kind.
func (s *Store) fail(op, key string, err error) error {
	return fmt.Errorf("%s s3://%s/%s: %w", op, s.bucket, key, Classify(err))
}

// Bucket is the bucket this store works in.
func (s *Store) Bucket() string { return s.bucket }

// Head fetches one object's size, ETag, user metadata, storage class and restore state.
func (s *Store) Head(ctx context.Context, key string) (transfer.ObjectInfo, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return transfer.ObjectInfo{}, s.fail("head", key, err)
	}
	return withArchive(transfer.ObjectInfo{
		Key:          key,
		Size:         aws.ToInt64(out.ContentLength),
		ETag:         trimETag(aws.ToString(out.ETag)),
		LastModified: aws.ToTime(out.LastModified),
		Metadata:     out.Metadata,
	}, out.StorageClass, out.Restore, out.ArchiveStatus), nil
}

// Delete removes one object.
func (s *Store) Delete(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return s.fail("delete", key, err)
	}
	return nil
}

func trimETag(e string) string { return strings.Trim(e, `"`) }
