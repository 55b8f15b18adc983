package s3store

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/fsxsync/fsxsync/transfer"
	"golang.org/x/sync/errgroup"
)

// Large objects move in parts, in parallel, straight between the file and the connection: each part of an upload
// is a section of the file read in place (io.SectionReader, which the SDK can rewind to sign or to retry), and each
// part of a download a ranged GET written at its offset. No part is ever held in memory whole, so one 1 GiB upload
// needs about 25 MiB instead of (parts in flight + 2) part buffers, and every part is read from the file by its own
// goroutine rather than one after the other.

// sourceFile is what a large upload reads: a file at any offset, and a check, once every part is read, that it did
// not change meanwhile (see stableReader).
type sourceFile interface {
	io.ReaderAt
	Verify() error
	// Sent reports n more bytes stored (a part acknowledged), for progress.
	Sent(n int64)
}

// abortTimeout bounds the AbortMultipartUpload sent after a failure, which may happen after ctx was cancelled.
const abortTimeout = 10 * time.Second

// putMultipart uploads size bytes of src as a multipart upload of ps-byte parts, partConcurrency at once, with a
// FULL_OBJECT CRC32C: the SDK computes each part's CRC as it reads the part (in the same pass as the SigV4 payload
// hash), S3 verifies and returns it, and the parts' CRCs combine into the whole object's, which S3 checks again at
// completion. A failure, or a source that changed, aborts the upload: nothing is stored under the key.
func (s *Store) putMultipart(ctx context.Context, key string, src sourceFile, size int64, meta map[string]string, ps int64) (string, error) {
	in := &s3.CreateMultipartUploadInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key), Metadata: meta,
		ChecksumAlgorithm: s3types.ChecksumAlgorithmCrc32c, ChecksumType: s3types.ChecksumTypeFullObject,
	}
	// The encryption is asked for once, here: the parts and the completion inherit it (UploadPart takes only SSE-C
	// headers, S3 API Reference: UploadPart).
	s.enc.OnCreate(in)
	created, err := s.client.CreateMultipartUpload(ctx, in)
	if err != nil {
		return "", err
	}
	etag, err := s.sendParts(ctx, key, created.UploadId, src, size, ps)
	if err != nil {
		// A part that failed because the file changed under it (the server saw a payload that no longer matched
		// its signature, or the body came up short) is best reported as what it is.
		if verr := src.Verify(); verr != nil {
			err = verr
		}
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
		defer cancel()
		_, _ = s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
			Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: created.UploadId})
		return "", err
	}
	return etag, nil
}

// sendParts uploads every part and completes the upload.
func (s *Store) sendParts(ctx context.Context, key string, uploadID *string, src sourceFile, size, ps int64) (string, error) {
	n := int((size + ps - 1) / ps)
	parts := make([]s3types.CompletedPart, n)
	crcs := make([]uint32, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.partConcurrency)
	for i := range n {
		off := int64(i) * ps
		length := min(ps, size-off)
		g.Go(func() error {
			out, err := s.client.UploadPart(gctx, &s3.UploadPartInput{
				Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: uploadID,
				PartNumber: aws.Int32(int32(i + 1)), ContentLength: aws.Int64(length),
				Body:              &partBody{SectionReader: io.NewSectionReader(src, off, length), src: src},
				ChecksumAlgorithm: s3types.ChecksumAlgorithmCrc32c,
			})
			if err != nil {
				return fmt.Errorf("part %d: %w", i+1, err)
			}
			crc, err := s.partCRC(out.ChecksumCRC32C, src, off, length)
			if err != nil {
				return fmt.Errorf("part %d: %w", i+1, err)
			}
			crcs[i] = crc
			src.Sent(length)
			parts[i] = s3types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag,
				ChecksumCRC32C: aws.String(crcBase64(crc))}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return "", err
	}
	// Every byte was read: now is the last moment to notice a file that changed, before the object exists.
	if err := src.Verify(); err != nil {
		return "", err
	}
	full := crcs[0]
	for i := 1; i < n; i++ {
		full = crc32Combine(full, crcs[i], min(ps, size-int64(i)*ps))
	}
	out, err := s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: uploadID,
		MultipartUpload: &s3types.CompletedMultipartUpload{Parts: parts},
		ChecksumCRC32C:  aws.String(crcBase64(full)), ChecksumType: s3types.ChecksumTypeFullObject,
	})
	if err != nil {
		return "", err
	}
	return trimETag(aws.ToString(out.ETag)), nil
}

// partBody is one part of a large upload. The SDK reads it once to hash it (SigV4 over HTTP) and again to send it,
// and again on a retry, rewinding it each time: a rewind is where a file that changed shows up, so that a part is
// not sent (or retried ten times) from a file that is no longer the one being uploaded.
type partBody struct {
	*io.SectionReader
	src sourceFile
}

// Read passes reads through, and at the end checks the file: a streaming upload (HTTPS, trailing checksum) sends its
// last chunk only after this returns io.EOF.
func (p *partBody) Read(b []byte) (int, error) {
	n, err := p.SectionReader.Read(b)
	if err == io.EOF {
		if verr := p.src.Verify(); verr != nil {
			return n, verr
		}
	}
	return n, err
}

func (p *partBody) Seek(offset int64, whence int) (int64, error) {
	if offset == 0 && whence == io.SeekStart {
		if err := p.src.Verify(); err != nil {
			return 0, err
		}
	}
	return p.SectionReader.Seek(offset, whence)
}

// partCRC returns a part's CRC32C as S3 acknowledged it, or, when the server did not say, computes it from the file.
func (s *Store) partCRC(acked *string, src io.ReaderAt, off, length int64) (uint32, error) {
	if v := aws.ToString(acked); v != "" {
		b, err := base64.StdEncoding.DecodeString(v)
		if err == nil && len(b) == 4 {
			return binary.BigEndian.Uint32(b), nil
		}
	}
	buf := s.bufs.get(copyBufferSize)
	defer s.bufs.put(buf)
	h := crc32.New(castagnoli)
	if _, err := io.CopyBuffer(h, io.NewSectionReader(src, off, length), *buf); err != nil {
		return 0, err
	}
	return h.Sum32(), nil
}

// getMultipart downloads an object in ranged GETs of ps bytes, partConcurrency at once, each written at its offset
// through a pooled buffer while its CRC32C is computed; the parts' CRCs combine into the whole object's, which is
// compared with the FULL_OBJECT checksum S3 keeps (a HEAD asks for it, with the size and metadata). Every GET is
// conditional on the ETag the HEAD saw, so an object replaced mid-way fails instead of mixing two versions.
func (s *Store) getMultipart(ctx context.Context, key string, w io.WriterAt) (transfer.ObjectInfo, error) {
	h, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key),
		ChecksumMode: s3types.ChecksumModeEnabled})
	if err != nil {
		return transfer.ObjectInfo{}, err
	}
	if h.ChecksumType == s3types.ChecksumTypeComposite {
		// Another tool's multipart object with per-part checksums and no whole-object one: the transfer manager
		// fetches it by part number, so that the SDK can check each part against S3's.
		return s.downloadParts(ctx, key, w)
	}
	info := transfer.ObjectInfo{Key: key, Size: aws.ToInt64(h.ContentLength), ETag: trimETag(aws.ToString(h.ETag)),
		LastModified: aws.ToTime(h.LastModified), Metadata: h.Metadata}
	ps := PartSizeFor(s.partSize, info.Size)
	n := int((info.Size + ps - 1) / ps)
	crcs := make([]uint32, n)
	// An object without a whole-object checksum (another tool's upload) has nothing to check the bytes against:
	// computing their CRC would cost about 9% of a download's time for nothing.
	sum := aws.ToString(h.ChecksumCRC32C) != ""
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.partConcurrency)
	for i := range n {
		off := int64(i) * ps
		length := min(ps, info.Size-off)
		g.Go(func() error {
			crc, err := s.getRange(gctx, key, h.ETag, w, off, length, sum)
			if err != nil {
				return fmt.Errorf("bytes %d-%d: %w", off, off+length-1, err)
			}
			crcs[i] = crc
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return info, err
	}
	if want := aws.ToString(h.ChecksumCRC32C); want != "" {
		full := uint32(0)
		if n > 0 {
			full = crcs[0]
		}
		for i := 1; i < n; i++ {
			full = crc32Combine(full, crcs[i], min(ps, info.Size-int64(i)*ps))
		}
		if got := crcBase64(full); got != want {
			return info, &ChecksumError{Key: key, Want: want, Got: got}
		}
	}
	return info, nil
}

// getRange fetches bytes [off, off+length) into w at off and returns their CRC32C. A body cut short is fetched again
// from the range's start, a few times (the SDK retries failed requests, not broken bodies).
func (s *Store) getRange(ctx context.Context, key string, etag *string, w io.WriterAt, off, length int64, sum bool) (uint32, error) {
	buf := s.bufs.get(copyBufferSize)
	defer s.bufs.put(buf)
	for attempt := 1; ; attempt++ {
		crc, cut, err := s.getRangeOnce(ctx, key, etag, w, off, length, *buf, sum)
		if err == nil || !cut || attempt == bodyAttempts || ctx.Err() != nil {
			return crc, err
		}
	}
}

func (s *Store) getRangeOnce(ctx context.Context, key string, etag *string, w io.WriterAt, off, length int64, buf []byte, sum bool) (uint32, bool, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key),
		IfMatch: etag, Range: aws.String(fmt.Sprintf("bytes=%d-%d", off, off+length-1))})
	if err != nil {
		return 0, false, err
	}
	defer out.Body.Close()
	crc, got, cut, err := copyAt(w, out.Body, off, buf, sum)
	if err != nil {
		return 0, cut, err
	}
	if got != length {
		return 0, true, fmt.Errorf("got %d bytes of %d: %w", got, length, io.ErrUnexpectedEOF)
	}
	return crc, false, nil
}

// copyAt copies r into w from offset off through buf and returns the CRC32C of what it copied (when sum is set) and
// how much. cut reports a read error (a body broken off), as opposed to a write error.
//
// It fills buf before each write: over HTTPS a read returns one TLS record (16 KiB at most), so writing after every
// read would cost four pwrite calls per 64 KiB buffer instead of one.
func copyAt(w io.WriterAt, r io.Reader, off int64, buf []byte, sum bool) (crc uint32, n int64, cut bool, err error) {
	for {
		m, rerr := fill(r, buf)
		if m > 0 {
			if _, err := w.WriteAt(buf[:m], off+n); err != nil {
				return 0, n, false, err
			}
			if sum {
				crc = crc32.Update(crc, castagnoli, buf[:m])
			}
			n += int64(m)
		}
		if rerr == io.EOF {
			return crc, n, false, nil
		}
		if rerr != nil {
			return 0, n, true, rerr
		}
	}
}

// fill reads r into buf until buf is full or a read fails, and returns how much it read and the error, io.EOF
// included, unchanged (unlike io.ReadFull, which would turn a body's own io.ErrUnexpectedEOF into a clean end).
func fill(r io.Reader, buf []byte) (int, error) {
	m := 0
	for m < len(buf) {
		k, err := r.Read(buf[m:])
		m += k
		if err != nil {
			return m, err
		}
	}
	return m, nil
}
