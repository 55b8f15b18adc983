package transfer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	tm "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"
)

// ObjectInfo is what S3 says about one object.
type ObjectInfo struct {
	Key          string
	Size         int64
	ETag         string // without quotes
	LastModified time.Time
	// Metadata is the user metadata (keys without "x-amz-meta-"); nil when not fetched (listings carry none).
	Metadata map[string]string
}

// S3Store moves objects with one shared S3 client. Uploads and downloads go through the SDK's transfer manager, which
// splits large objects into parts sent in parallel.
type S3Store struct {
	client          *s3.Client
	tm              *tm.Client
	bucket          string
	partSize        int64
	partConcurrency int
	bufs            *bufPool
}

// StoreOptions tune multipart transfers.
type StoreOptions struct {
	PartSize        int64 // bytes per part; 0 = DefaultPartSize
	PartConcurrency int   // parts in flight per file; 0 = DefaultPartConcurrency
}

// Multipart defaults, chosen by measurement against a local server (see README, "Tuning").
const (
	DefaultPartSize        = 16 << 20
	DefaultPartConcurrency = 8
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

// NewS3Store returns the S3 side of a transfer for one bucket.
func NewS3Store(client *s3.Client, bucket string, o StoreOptions) *S3Store {
	if o.PartSize == 0 {
		o.PartSize = DefaultPartSize
	}
	if o.PartConcurrency == 0 {
		o.PartConcurrency = DefaultPartConcurrency
	}
	t := tm.New(client, func(to *tm.Options) {
		to.PartSizeBytes = o.PartSize
		to.MultipartUploadThreshold = o.PartSize
		to.Concurrency = o.PartConcurrency
		// CRC32C is computed in hardware on x86-64 and arm64, and S3 stores and returns it, so every upload carries
		// an end-to-end checksum that downloads verify.
		to.ChecksumAlgorithm = tmtypes.ChecksumAlgorithmCrc32c
		// Downloading by part number (not by byte range) lets the SDK verify each part against the checksum S3
		// stored for it.
		to.GetObjectType = tmtypes.GetObjectParts
		to.FailTimeout = 10 * time.Second
	})
	return &S3Store{client: client, tm: t, bucket: bucket, partSize: o.PartSize, partConcurrency: o.PartConcurrency,
		bufs: &bufPool{}}
}

// Bucket is the bucket this store works in.
func (s *S3Store) Bucket() string { return s.bucket }

// listConcurrency is how many sub-prefixes List reads at once. Listing is one request per 1,000 keys, each a round
// trip, so a serial listing of 100 million objects takes hours before anything moves (s5cmd #497).
const listConcurrency = 8

// List calls fn for every object under prefix in key order, one page at a time. It splits the prefix by its
// "directories" (a listing with delimiter "/") and lists up to eight of them at once, handing their pages to fn in
// key order: each directory's keys form one contiguous, sorted range, so reading the ranges in order is the whole
// listing in order. Memory stays bounded: each range being read ahead holds at most a few pages.
func (s *S3Store) List(ctx context.Context, prefix string, fn func([]ObjectInfo) error) error {
	ctx, cancel := context.WithCancel(ctx)
	// On the way out, stop the listers and wait for them: none outlives List.
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	type segment struct {
		single []ObjectInfo      // a key directly under the prefix
		pages  chan []ObjectInfo // a sub-prefix's pages, in order
		err    chan error        // the sub-prefix lister's end
	}
	segs := make(chan segment, listConcurrency)
	sem := make(chan struct{}, listConcurrency)
	var splitErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(segs)
		splitErr = s.split(ctx, prefix, func(single *ObjectInfo, sub string) bool {
			seg := segment{}
			if single != nil {
				seg.single = []ObjectInfo{*single}
			} else {
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					return false
				}
				seg.pages, seg.err = make(chan []ObjectInfo, 4), make(chan error, 1)
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					defer close(seg.pages)
					seg.err <- s.listRange(ctx, sub, seg.pages)
				}()
			}
			select {
			case segs <- seg:
				return true
			case <-ctx.Done():
				return false
			}
		})
	}()
	for seg := range segs {
		if seg.single != nil {
			if err := fn(seg.single); err != nil {
				return err
			}
			continue
		}
		for page := range seg.pages {
			if err := fn(page); err != nil {
				return err
			}
		}
		if err := <-seg.err; err != nil {
			return err
		}
	}
	if splitErr != nil {
		return splitErr
	}
	return ctx.Err()
}

// split walks the delimiter listing of prefix and calls emit for each key directly under it and each sub-prefix,
// in key order. A prefix whose only child is one sub-prefix is split one level further down, so that a tree kept
// under a single top directory is still read in parallel.
func (s *S3Store) split(ctx context.Context, prefix string, emit func(*ObjectInfo, string) bool) error {
	for depth := 0; ; depth++ {
		var keys []ObjectInfo
		var subs []string
		p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket),
			Prefix: aws.String(prefix), Delimiter: aws.String("/")})
		first := true
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return fmt.Errorf("list s3://%s/%s: %w", s.bucket, prefix, err)
			}
			keys, subs = keys[:0], subs[:0]
			for _, o := range page.Contents {
				keys = append(keys, objectInfo(o))
			}
			for _, cp := range page.CommonPrefixes {
				subs = append(subs, aws.ToString(cp.Prefix))
			}
			if first && !p.HasMorePages() && len(keys) == 0 && len(subs) == 1 && depth < 4 {
				prefix = subs[0]
				break
			}
			first = false
			// Keys and sub-prefixes of one page interleave in key order.
			i, j := 0, 0
			for i < len(keys) || j < len(subs) {
				if j == len(subs) || (i < len(keys) && keys[i].Key < subs[j]) {
					if !emit(&keys[i], "") {
						return ctx.Err()
					}
					i++
				} else {
					if !emit(nil, subs[j]) {
						return ctx.Err()
					}
					j++
				}
			}
		}
		if !first {
			return nil
		}
		if len(subs) != 1 || len(keys) != 0 {
			return nil
		}
	}
}

// listRange lists everything under prefix (no delimiter) into pages.
func (s *S3Store) listRange(ctx context.Context, prefix string, pages chan<- []ObjectInfo) error {
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list s3://%s/%s: %w", s.bucket, prefix, err)
		}
		batch := make([]ObjectInfo, 0, len(page.Contents))
		for _, o := range page.Contents {
			batch = append(batch, objectInfo(o))
		}
		select {
		case pages <- batch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func objectInfo(o s3types.Object) ObjectInfo {
	return ObjectInfo{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), ETag: trimETag(aws.ToString(o.ETag)),
		LastModified: aws.ToTime(o.LastModified)}
}

// Head fetches one object's size, ETag and user metadata.
func (s *S3Store) Head(ctx context.Context, key string) (ObjectInfo, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("head s3://%s/%s: %w", s.bucket, key, err)
	}
	return ObjectInfo{
		Key:          key,
		Size:         aws.ToInt64(out.ContentLength),
		ETag:         trimETag(aws.ToString(out.ETag)),
		LastModified: aws.ToTime(out.LastModified),
		Metadata:     out.Metadata,
	}, nil
}

// Upload writes body (size bytes) to key with user metadata and returns the new object's ETag. Objects of at least
// one part size go up as a multipart upload; a failed one is aborted so no parts are left behind. Every object gets a
// FULL_OBJECT CRC32C checksum of its whole content (multipart ones too, not just a composite of the parts), computed
// while the body streams by, so any later download can verify the whole object.
func (s *S3Store) Upload(ctx context.Context, key string, body io.Reader, size int64, meta map[string]string, partSize int64) (string, error) {
	ps := PartSizeFor(max(partSize, s.partSize), size)
	src, isFile := body.(sourceFile)
	switch {
	case size < ps && isFile && size > bufferedMax:
		return s.putStream(ctx, key, src, size, meta)
	case size < ps:
		return s.putSingle(ctx, key, body, size, meta)
	}
	if isFile {
		etag, err := s.putMultipart(ctx, key, src, size, meta, ps)
		if err != nil {
			return "", fmt.Errorf("upload s3://%s/%s: %w", s.bucket, key, err)
		}
		return etag, nil
	}
	// Any other reader can only be read once, in order: the transfer manager buffers its parts.
	in := &tm.UploadObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(key),
		ContentLength: aws.Int64(size),
		Metadata:      meta,
		ChecksumType:  tmtypes.ChecksumTypeFullObject,
	}
	// The transfer manager reads the body to its end before it completes the multipart upload, and reads the
	// checksum only then: so the value written at EOF is in place when it is needed. The pointer is set now and
	// only the string it points to is written at EOF: the part senders copy the input struct while the body is
	// still being read, and must not race with a write to one of its fields.
	crc := new(string)
	in.ChecksumCRC32C = crc
	in.Body = &crcReader{r: body, onEOF: func(sum uint32) { *crc = crcBase64(sum) }}
	out, err := s.tm.UploadObject(ctx, in, func(o *tm.Options) {
		o.PartSizeBytes = ps
		o.MultipartUploadThreshold = ps
	})
	if err != nil {
		return "", fmt.Errorf("upload s3://%s/%s: %w", s.bucket, key, err)
	}
	return trimETag(aws.ToString(out.ETag)), nil
}

// putSingle uploads an object smaller than a part in one PutObject. The body is read to its end (so a source that
// changed fails here, see stableReader) into a pooled buffer, and its CRC32C computed in one pass and sent with it:
// the transfer manager would read it into a freshly grown slice for every file, which on a tree of small files costs
// more CPU than the request.
func (s *S3Store) putSingle(ctx context.Context, key string, body io.Reader, size int64, meta map[string]string) (string, error) {
	// One byte of room past the expected size lets a file that grew show itself (stableReader reports it).
	buf := s.bufs.get(int(size) + 1)
	defer s.bufs.put(buf)
	n, err := readFull(body, *buf)
	if err != nil {
		return "", fmt.Errorf("upload s3://%s/%s: %w", s.bucket, key, err)
	}
	if int64(n) != size {
		return "", fmt.Errorf("upload s3://%s/%s: read %d bytes, want %d", s.bucket, key, n, size)
	}
	data := (*buf)[:n]
	out, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:         aws.String(s.bucket),
		Key:            aws.String(key),
		Body:           bytes.NewReader(data),
		ContentLength:  aws.Int64(int64(n)),
		Metadata:       meta,
		ChecksumCRC32C: aws.String(crcBase64(crc32.Checksum(data, castagnoli))),
	})
	if err != nil {
		return "", fmt.Errorf("upload s3://%s/%s: %w", s.bucket, key, err)
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
func (s *S3Store) putStream(ctx context.Context, key string, src sourceFile, size int64, meta map[string]string) (string, error) {
	out, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:            aws.String(s.bucket),
		Key:               aws.String(key),
		Body:              &partBody{SectionReader: io.NewSectionReader(src, 0, size), src: src},
		ContentLength:     aws.Int64(size),
		Metadata:          meta,
		ChecksumAlgorithm: s3types.ChecksumAlgorithmCrc32c,
	})
	if err != nil {
		if verr := src.Verify(); verr != nil {
			err = verr
		}
		return "", fmt.Errorf("upload s3://%s/%s: %w", s.bucket, key, err)
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
func (s *S3Store) Download(ctx context.Context, key string, w io.WriterAt, sizeHint int64) (ObjectInfo, error) {
	var info ObjectInfo
	var err error
	if sizeHint >= 0 && sizeHint < s.partSize {
		info, err = s.getSingle(ctx, key, w)
	} else {
		info, err = s.getMultipart(ctx, key, w)
	}
	if err != nil {
		return info, fmt.Errorf("download s3://%s/%s: %w", s.bucket, key, err)
	}
	return info, nil
}

// downloadParts fetches an object with the transfer manager, by part number, verifying what can be verified: the
// SDK checks each part's own checksum where S3 returns one, and the whole object's CRC32C is computed as the parts
// land (S3 returns none on part GETs of a multipart object, so a HEAD asks for it).
func (s *S3Store) downloadParts(ctx context.Context, key string, w io.WriterAt) (ObjectInfo, error) {
	cw := newCRCWriterAt(w)
	out, err := s.tm.DownloadObject(ctx, &tm.DownloadObjectInput{
		Bucket:       aws.String(s.bucket),
		Key:          aws.String(key),
		WriterAt:     cw,
		ChecksumMode: tmtypes.ChecksumModeEnabled,
	})
	if err != nil {
		return ObjectInfo{}, err
	}
	info := ObjectInfo{
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
func (s *S3Store) getSingle(ctx context.Context, key string, w io.WriterAt) (ObjectInfo, error) {
	buf := s.bufs.get(copyBufferSize)
	defer s.bufs.put(buf)
	var info ObjectInfo
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
func (s *S3Store) wholeChecksum(ctx context.Context, key, etag, got string, typ s3types.ChecksumType) (string, s3types.ChecksumType, error) {
	if got != "" || !strings.Contains(etag, "-") {
		return got, typ, nil
	}
	h, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key),
		IfMatch: aws.String(`"` + etag + `"`), ChecksumMode: s3types.ChecksumModeEnabled})
	if err != nil {
		return "", "", fmt.Errorf("checksum: %w", err)
	}
	return aws.ToString(h.ChecksumCRC32C), h.ChecksumType, nil
}

// bodyAttempts is how many times a GetObject whose body was cut short is tried.
const bodyAttempts = 4

// getOnce is one GetObject of the whole object into w from offset 0. cut reports a body that broke off after the
// answer began (worth another try); other errors are the request's, already retried by the SDK.
func (s *S3Store) getOnce(ctx context.Context, key string, w io.WriterAt, buf []byte) (*s3.GetObjectOutput, ObjectInfo, uint32, bool, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key),
		ChecksumMode: s3types.ChecksumModeEnabled}, withoutSDKValidation)
	if err != nil {
		return nil, ObjectInfo{}, 0, false, err
	}
	defer out.Body.Close()
	info := ObjectInfo{
		Key:          key,
		Size:         aws.ToInt64(out.ContentLength),
		ETag:         trimETag(aws.ToString(out.ETag)),
		LastModified: aws.ToTime(out.LastModified),
		Metadata:     out.Metadata,
	}
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

// copyBufferSize is the buffer a GetObject body is copied through, one per file or part in flight. 64 KiB is what
// a loopback socket hands over per read anyway: 256 KiB buffers cost 8 MiB more peak RSS on 1 MiB downloads (32 in
// flight) and were no faster.
const copyBufferSize = 64 << 10

// PutSmall writes a small object (a directory marker or a symlink) in one request.
func (s *S3Store) PutSmall(ctx context.Context, key string, body []byte, meta map[string]string) (string, error) {
	out, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:            aws.String(s.bucket),
		Key:               aws.String(key),
		Body:              strings.NewReader(string(body)),
		ContentLength:     aws.Int64(int64(len(body))),
		Metadata:          meta,
		ChecksumAlgorithm: s3types.ChecksumAlgorithmCrc32c,
	})
	if err != nil {
		return "", fmt.Errorf("put s3://%s/%s: %w", s.bucket, key, err)
	}
	return trimETag(aws.ToString(out.ETag)), nil
}

// GetSmall reads a small object whole (a symlink's target); it refuses objects larger than limit.
func (s *S3Store) GetSmall(ctx context.Context, key string, limit int64) ([]byte, ObjectInfo, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key),
		ChecksumMode: s3types.ChecksumModeEnabled})
	if err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("get s3://%s/%s: %w", s.bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, limit+1))
	if err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("get s3://%s/%s: %w", s.bucket, key, err)
	}
	if int64(len(b)) > limit {
		return nil, ObjectInfo{}, fmt.Errorf("get s3://%s/%s: object is larger than %d bytes", s.bucket, key, limit)
	}
	return b, ObjectInfo{Key: key, Size: int64(len(b)), ETag: trimETag(aws.ToString(out.ETag)),
		LastModified: aws.ToTime(out.LastModified), Metadata: out.Metadata}, nil
}

// Delete removes one object.
func (s *S3Store) Delete(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("delete s3://%s/%s: %w", s.bucket, key, err)
	}
	return nil
}

// IsNotFound reports whether err is S3's answer for a missing object.
func IsNotFound(err error) bool {
	var nk *s3types.NoSuchKey
	var nf *s3types.NotFound
	return errors.As(err, &nk) || errors.As(err, &nf)
}

func trimETag(e string) string { return strings.Trim(e, `"`) }

// ListUploads lists the multipart uploads open under prefix.
func (s *S3Store) ListUploads(ctx context.Context, prefix string) ([]UploadInfo, error) {
	var out []UploadInfo
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix)}
	for {
		page, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list multipart uploads in s3://%s/%s: %w", s.bucket, prefix, err)
		}
		for _, u := range page.Uploads {
			out = append(out, UploadInfo{Key: aws.ToString(u.Key), UploadID: aws.ToString(u.UploadId), Initiated: aws.ToTime(u.Initiated)})
		}
		if !aws.ToBool(page.IsTruncated) {
			return out, nil
		}
		in.KeyMarker, in.UploadIdMarker = page.NextKeyMarker, page.NextUploadIdMarker
	}
}

// AbortUpload aborts one multipart upload.
func (s *S3Store) AbortUpload(ctx context.Context, key, uploadID string) error {
	_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(s.bucket),
		Key: aws.String(key), UploadId: aws.String(uploadID)})
	if err != nil {
		return fmt.Errorf("abort upload of s3://%s/%s: %w", s.bucket, key, err)
	}
	return nil
}
