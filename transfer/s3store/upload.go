package s3store

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Upload writes body (size bytes) to key with user metadata and returns the new object's ETag. Objects of at least
// one part size go up as a multipart upload; a failed one is aborted so no parts are left behind. Every object gets a
// FULL_OBJECT CRC32C checksum of its whole content (multipart ones too, not just a composite of the parts), computed
// while the body streams by, so any later download can verify the whole object.
func (s *Store) Upload(ctx context.Context, key string, body io.Reader, size int64, meta map[string]string, partSize int64) (string, error) {
	ps := PartSizeFor(max(partSize, s.partSize), size)
	src, isFile := body.(sourceFile)
	switch {
	case size < ps && isFile && size > bufferedMax:
		return s.putStream(ctx, key, src, size, meta)
	case size < ps:
		return s.putSingle(ctx, key, body, size, meta)
	}
	if !isFile {
		// Parts are read in place, at their offsets, and again on a retry: that needs the file, not a stream.
		return "", s.fail("upload", key, fmt.Errorf("a body of %d bytes (a part or more) must be a file that can be read at any offset, not a %T", size, body))
	}
	etag, err := s.putMultipart(ctx, key, src, size, meta, ps)
	if err != nil {
		return "", s.fail("upload", key, err)
	}
	return etag, nil
}

// putSingle uploads an object smaller than a part in one PutObject. The body is read to its end (so a source that
// changed fails here, see stableReader) into a pooled buffer, and its CRC32C computed in one pass and sent with it:
// the transfer manager would read it into a freshly grown slice for every file, which on a tree of small files costs
// more CPU than the request.
func (s *Store) putSingle(ctx context.Context, key string, body io.Reader, size int64, meta map[string]string) (string, error) {
	// One byte of room past the expected size lets a file that grew show itself (stableReader reports it).
	buf := s.bufs.get(int(size) + 1)
	defer s.bufs.put(buf)
	n, err := readFull(body, *buf)
	if err != nil {
		return "", s.fail("upload", key, err)
	}
	if int64(n) != size {
		return "", s.fail("upload", key, fmt.Errorf("read %d bytes, want %d", n, size))
	}
	data := (*buf)[:n]
	in := &s3.PutObjectInput{
		Bucket:         aws.String(s.bucket),
		Key:            aws.String(key),
		Body:           bytes.NewReader(data),
		ContentLength:  aws.Int64(int64(n)),
		Metadata:       meta,
		ChecksumCRC32C: aws.String(crcBase64(crc32.Checksum(data, castagnoli))),
	}
	s.enc.OnPut(in)
	out, err := s.client.PutObject(ctx, in)
	if err != nil {
		return "", s.fail("upload", key, err)
	}
	return trimETag(aws.ToString(out.ETag)), nil
}

// bufferedMax is the largest object putSingle reads into memory; larger ones below a part are streamed from the
// file (putStream). Buffering costs memory (a buffer per file in flight) and saves syscalls: for small files the
// syscalls dominate, for larger ones the memory does.
const bufferedMax = 256 << 10

// putStream uploads a file smaller than a part in one PutObject read in place: the SDK reads it once to compute the
// CRC32C and, over plain HTTP, the SigV4 payload hash in the same pass, rewinds it and reads it again to send it.
// partBody checks at each rewind and at each end that the file did not change; over HTTPS (one streaming pass with
// a trailing checksum) a change at the end withholds the trailer, so the request fails rather than store a mix.
func (s *Store) putStream(ctx context.Context, key string, src sourceFile, size int64, meta map[string]string) (string, error) {
	in := &s3.PutObjectInput{
		Bucket:            aws.String(s.bucket),
		Key:               aws.String(key),
		Body:              &partBody{SectionReader: io.NewSectionReader(src, 0, size), src: src},
		ContentLength:     aws.Int64(size),
		Metadata:          meta,
		ChecksumAlgorithm: s3types.ChecksumAlgorithmCrc32c,
	}
	s.enc.OnPut(in)
	out, err := s.client.PutObject(ctx, in)
	if err != nil {
		if verr := src.Verify(); verr != nil {
			err = verr
		}
		return "", s.fail("upload", key, err)
	}
	src.Sent(size)
	return trimETag(aws.ToString(out.ETag)), nil
}

// readFull reads r to its end into b and returns how much it read; a body longer than b is an error.
func readFull(r io.Reader, b []byte) (int, error) {
	n := 0
	for {
		if n == len(b) {
			return n, fmt.Errorf("the body is longer than the %d bytes expected", len(b)-1)
		}
		m, err := r.Read(b[n:])
		n += m
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// PutSmall writes a small object (a directory marker or a symlink) in one request, encrypted like every other
// upload: a bucket policy that requires encryption refuses a marker as it refuses a file.
func (s *Store) PutSmall(ctx context.Context, key string, body []byte, meta map[string]string) (string, error) {
	in := &s3.PutObjectInput{
		Bucket:            aws.String(s.bucket),
		Key:               aws.String(key),
		Body:              strings.NewReader(string(body)),
		ContentLength:     aws.Int64(int64(len(body))),
		Metadata:          meta,
		ChecksumAlgorithm: s3types.ChecksumAlgorithmCrc32c,
	}
	s.enc.OnPut(in)
	out, err := s.client.PutObject(ctx, in)
	if err != nil {
		return "", s.fail("put", key, err)
	}
	return trimETag(aws.ToString(out.ETag)), nil
}

// AbortUpload aborts one multipart upload.
func (s *Store) AbortUpload(ctx context.Context, key, uploadID string) error {
	_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(s.bucket),
		Key: aws.String(key), UploadId: aws.String(uploadID)})
	if err != nil {
		return s.fail("abort upload of", key, err)
	}
	return nil
}
