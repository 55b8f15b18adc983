package s3store

import (
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"strings"

	tm "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	"github.com/fsxsync/fsxsync/transfer"
)

// ChecksumError reports a download whose bytes do not match the checksum S3 stored for the object.
type ChecksumError struct{ Key, Want, Got string }

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("checksum mismatch for %s: S3 has CRC32C %s, the downloaded bytes have %s", e.Key, e.Want, e.Got)
}

// Download writes the object at key into w (parts in parallel) and returns what S3 said about it. sizeHint is the
// size the listing gave (-1 when unknown): an object smaller than a part is fetched with one plain GetObject. The
// bytes are verified against the object's whole-object CRC32C when it has one: the SDK checks single-part responses
// itself but skips the parts of a multipart object, so the CRC is also computed here as the parts land (no second
// read).
func (s *Store) Download(ctx context.Context, key string, w io.WriterAt, sizeHint int64) (transfer.ObjectInfo, error) {
	var info transfer.ObjectInfo
	var err error
	if sizeHint >= 0 && sizeHint < s.partSize {
		info, err = s.getSingle(ctx, key, w, singleBufferSize(sizeHint))
	} else {
		info, err = s.getMultipart(ctx, key, w)
	}
	if err != nil {
		return info, s.fail("download", key, err)
	}
	return info, nil
}

// downloadParts fetches an object with the transfer manager, by part number, verifying what can be verified: the
// SDK checks each part's own checksum where S3 returns one, and the whole object's CRC32C is computed as the parts
// land (S3 returns none on part GETs of a multipart object, so a HEAD asks for it).
func (s *Store) downloadParts(ctx context.Context, key string, w io.WriterAt) (transfer.ObjectInfo, error) {
	cw := newCRCWriterAt(w)
	out, err := s.tm.DownloadObject(ctx, &tm.DownloadObjectInput{
		Bucket:       aws.String(s.bucket),
		Key:          aws.String(key),
		WriterAt:     cw,
		ChecksumMode: tmtypes.ChecksumModeEnabled,
	})
	if err != nil {
		return transfer.ObjectInfo{}, err
	}
	info := transfer.ObjectInfo{
		Key:          key,
		Size:         aws.ToInt64(out.ContentLength),
		ETag:         trimETag(aws.ToString(out.ETag)),
		LastModified: aws.ToTime(out.LastModified),
		Metadata:     out.Metadata,
	}
	want, typ, err := s.wholeChecksum(ctx, key, info.ETag, aws.ToString(out.ChecksumCRC32C), s3types.ChecksumType(out.ChecksumType))
	if err != nil {
		return info, err
	}
	if want != "" && typ != s3types.ChecksumTypeComposite {
		crc, err := cw.sum(info.Size)
		if err != nil {
			// The SDK fetched a part again after a cut connection and rewrote it from its start, so the running
			// CRCs overlap. Read the file back once instead: rare, and exact.
			ra, ok := w.(io.ReaderAt)
			if !ok {
				return info, err
			}
			h := crc32.New(castagnoli)
			if _, rerr := io.Copy(h, io.NewSectionReader(ra, 0, info.Size)); rerr != nil {
				return info, fmt.Errorf("checksum: %w", rerr)
			}
			crc = h.Sum32()
		}
		if got := crcBase64(crc); got != want {
			return info, &ChecksumError{Key: key, Want: want, Got: got}
		}
	}
	return info, nil
}

// getSingle fetches an object in one GetObject, copying the body through a pooled buffer and computing its CRC32C on
// the way; a multipart object (another tool's, with small parts) gets its whole-object checksum from a HEAD, as in
// Download. The SDK retries a request that fails, but not a body cut short after the answer began, so that is
// retried here, from the start, a few times (as the transfer manager does for its parts).
func (s *Store) getSingle(ctx context.Context, key string, w io.WriterAt, bufSize int) (transfer.ObjectInfo, error) {
	buf := s.bufs.get(bufSize)
	defer s.bufs.put(buf)
	var info transfer.ObjectInfo
	var crc uint32
	var out *s3.GetObjectOutput
	for attempt := 1; ; attempt++ {
		var err error
		var cut bool
		out, info, crc, cut, err = s.getOnce(ctx, key, w, *buf)
		if err == nil {
			break
		}
		if !cut || attempt == bodyAttempts || ctx.Err() != nil {
			return info, err
		}
	}
	want, typ, err := s.wholeChecksum(ctx, key, info.ETag, aws.ToString(out.ChecksumCRC32C), out.ChecksumType)
	if err != nil {
		return info, err
	}
	if want != "" && typ != s3types.ChecksumTypeComposite {
		if got := crcBase64(crc); got != want {
			return info, &ChecksumError{Key: key, Want: want, Got: got}
		}
	}
	return info, nil
}

// wholeChecksum returns the object's CRC32C and its type: the one a GET returned, or, for a multipart object whose
// GETs carry none, the one a HEAD (conditional on the same ETag) returns.
func (s *Store) wholeChecksum(ctx context.Context, key, etag, got string, typ s3types.ChecksumType) (string, s3types.ChecksumType, error) {
	if got != "" || !strings.Contains(etag, "-") {
		return got, typ, nil
	}
	h, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key),
		IfMatch: aws.String(`"` + etag + `"`), ChecksumMode: s3types.ChecksumModeEnabled})
	if err != nil {
		return "", "", fmt.Errorf("checksum: %w", Classify(err))
	}
	return aws.ToString(h.ChecksumCRC32C), h.ChecksumType, nil
}

// bodyAttempts is how many times a GetObject whose body was cut short is tried.
const bodyAttempts = 4

// getOnce is one GetObject of the whole object into w from offset 0. cut reports a body that broke off after the
// answer began (worth another try); other errors are the request's, already retried by the SDK.
func (s *Store) getOnce(ctx context.Context, key string, w io.WriterAt, buf []byte) (*s3.GetObjectOutput, transfer.ObjectInfo, uint32, bool, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key),
		ChecksumMode: s3types.ChecksumModeEnabled}, withoutSDKValidation)
	if err != nil {
		return nil, transfer.ObjectInfo{}, 0, false, err
	}
	defer out.Body.Close()
	info := withArchive(transfer.ObjectInfo{
		Key:          key,
		Size:         aws.ToInt64(out.ContentLength),
		ETag:         trimETag(aws.ToString(out.ETag)),
		LastModified: aws.ToTime(out.LastModified),
		Metadata:     out.Metadata,
	}, out.StorageClass, out.Restore, "")
	// Without a checksum on the object (another tool's upload) and without a multipart ETag (whose checksum a HEAD
	// may still give), there is nothing to check the bytes against: do not spend the CPU on a CRC.
	sum := aws.ToString(out.ChecksumCRC32C) != "" || strings.Contains(info.ETag, "-")
	crc, off, cut, err := copyAt(w, out.Body, 0, buf, sum)
	if err != nil {
		return out, info, 0, cut, err
	}
	if off != info.Size {
		return out, info, 0, true, fmt.Errorf("got %d bytes of %d: %w", off, info.Size, io.ErrUnexpectedEOF)
	}
	return out, info, crc, false, nil
}

// withoutSDKValidation asks S3 for the object's checksum (ChecksumMode) but leaves checking it to getSingle, which
// computes the CRC32C as it writes anyway: the SDK would compute it a second time, which cost 18% of the client's
// CPU on 1 MiB downloads (pprof of BenchmarkMiB1000).
func withoutSDKValidation(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
		_, err := stack.Deserialize.Remove("AWSChecksum:ValidateOutputPayloadChecksum")
		return err
	})
}

// copyBufferSize is the buffer a part's GetObject body is copied through, one per part in flight: up to
// concurrency x part concurrency of them (256 by default) when many large files download at once, so it stays small.
const copyBufferSize = 64 << 10

// maxSingleBuffer is the largest buffer a single-GET object's body is copied through. Whole objects are at most
// concurrency (32) in flight, and with 32 streams a larger buffer takes more per read and per write: on 1,000 x 1 MiB
// over plain HTTP (bench-compare, pinned, 8 runs) 256 KiB instead of 64 KiB cut fsxsync's CPU from 0.81 to 0.71
// CPU-s (the floor: 0.63), for 11 MiB more peak RSS.
const maxSingleBuffer = 256 << 10

// singleBufferSize is the copy buffer for an object of size bytes fetched in one GET: the object's size rounded up
// to the pool's classes, from 64 KiB to maxSingleBuffer.
func singleBufferSize(size int64) int {
	return int(min(max(size, copyBufferSize), maxSingleBuffer))
}

// GetSmall reads a small object whole (a symlink's target); it refuses objects larger than limit.
func (s *Store) GetSmall(ctx context.Context, key string, limit int64) ([]byte, transfer.ObjectInfo, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key),
		ChecksumMode: s3types.ChecksumModeEnabled})
	if err != nil {
		return nil, transfer.ObjectInfo{}, s.fail("get", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, limit+1))
	if err != nil {
		return nil, transfer.ObjectInfo{}, s.fail("get", key, err)
	}
	if int64(len(b)) > limit {
		return nil, transfer.ObjectInfo{}, s.fail("get", key, fmt.Errorf("object is larger than %d bytes", limit))
	}
	return b, transfer.ObjectInfo{Key: key, Size: int64(len(b)), ETag: trimETag(aws.ToString(out.ETag)),
		LastModified: aws.ToTime(out.LastModified), Metadata: out.Metadata}, nil
}
