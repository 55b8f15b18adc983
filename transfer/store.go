package transfer

import (
	"context"
	"io"
	"time"
)

// ObjectStore is the S3 side as the engine uses it. s3store.Store implements it against S3; tests may substitute a
// fake. Every error it returns carries its kind (see KindOf): a missing object is KindNotFound, a refused permission
// KindDenied, and so on, so the engine never looks at S3's error codes itself.
type ObjectStore interface {
	Bucket() string
	// List calls fn for every object under prefix in key order, one page at a time.
	List(ctx context.Context, prefix string, fn func([]ObjectInfo) error) error
	Head(ctx context.Context, key string) (ObjectInfo, error)
	// Upload stores size bytes of body under key with the given user metadata, in parts of partSize when it is
	// larger than one part, and returns the new object's ETag.
	Upload(ctx context.Context, key string, body io.Reader, size int64, meta map[string]string, partSize int64) (string, error)
	// Download writes the object to w and verifies it against the checksum S3 stored, if any.
	Download(ctx context.Context, key string, w io.WriterAt, sizeHint int64) (ObjectInfo, error)
	PutSmall(ctx context.Context, key string, body []byte, meta map[string]string) (string, error)
	GetSmall(ctx context.Context, key string, limit int64) ([]byte, ObjectInfo, error)
	Delete(ctx context.Context, key string) error
}

// ObjectInfo is what S3 says about one object.
type ObjectInfo struct {
	Key          string
	Size         int64
	ETag         string // without quotes
	LastModified time.Time
	// Metadata is the user metadata (keys without "x-amz-meta-"); nil when not fetched (listings carry none).
	Metadata map[string]string
	// StorageClass is the storage class S3 gave (GLACIER, DEEP_ARCHIVE, INTELLIGENT_TIERING, ...); empty when S3 did
	// not say, which means STANDARD.
	StorageClass string
	// Restore is what S3 said about a restore of an archived object (the listing's RestoreStatus, or HeadObject's
	// x-amz-restore).
	Restore RestoreState
	// ArchiveStatus is HeadObject's x-amz-archive-status (ARCHIVE_ACCESS, DEEP_ARCHIVE_ACCESS): an
	// INTELLIGENT_TIERING object in one of its archive tiers. Listings never say it; see Archived.
	ArchiveStatus string
}

// RestoreState is the state of an archived object's restore.
type RestoreState uint8

// The restore states.
const (
	// RestoreNone: no restore was asked for, or S3 did not say.
	RestoreNone RestoreState = iota
	// RestoreOngoing: a restore was asked for and is not finished (ongoing-request="true").
	RestoreOngoing
	// RestoreDone: a restored copy is available to read (ongoing-request="false").
	RestoreDone
)

// Share is this task's share of the keys when several tasks split one transfer (Slurm arrays and multi-task steps).
// slurm.Shard implements it; a nil Share is every key.
type Share interface {
	// Owns reports whether this task moves key.
	Owns(key string) bool
	// Partial reports whether other tasks own some keys.
	Partial() bool
}

// RetryCounter counts the requests the store retried; the report gives the number.
type RetryCounter interface {
	Retries() int64
}

// Multipart defaults, chosen by measurement against a local server (see docs/performance.md, "Tuning").
const (
	DefaultPartSize        = 16 << 20
	DefaultPartConcurrency = 8
)

// owns reports whether this task moves key.
func (e *engine) owns(key string) bool { return e.o.Shard == nil || e.o.Shard.Owns(key) }
