// What the fsxsync engine may rely on, checked against versitygw v1.8.0
// (posix backend, plain HTTP, aws-sdk-go-v2 s3 v1.114) and gofakes3 v1.2.0.
// The tests below assert each row, so a server upgrade that changes one fails
// here; only the wire case in (f) was checked by hand (curl --aws-sigv4).
//
//	| fact                                          | versitygw                                            | gofakes3              |
//	|-----------------------------------------------|------------------------------------------------------|-----------------------|
//	| (a) PUT, ChecksumAlgorithm CRC32C / CRC64NVME | both work; HEAD and GET with ChecksumMode ENABLED    | CRC32C returned by    |
//	|                                               | return it, ChecksumType FULL_OBJECT. Over plain HTTP | HEAD and GET          |
//	|                                               | the SDK sends it as a header, not a trailer, and     |                       |
//	|                                               | hashes the payload: the body must be io.ReadSeeker   |                       |
//	|     PUT without a checksum                    | server computes CRC64NVME itself, FULL_OBJECT        | -                     |
//	|     multipart CRC32C (default type)           | COMPOSITE, "<base64>-N" (N = number of parts)        | -                     |
//	|     multipart CRC32C + FULL_OBJECT            | FULL_OBJECT, CRC32C of the whole object, no suffix   | -                     |
//	|     multipart CRC64NVME                       | FULL_OBJECT, CRC64NVME of the whole object           | -                     |
//	| (b) ETag of a single PUT                      | quoted hex MD5 of the content; multipart "<md5>-N"   | quoted hex MD5        |
//	| (c) LastModified, ListObjectsV2 vs HeadObject | equal; whole seconds in both                         | list has ms, HEAD     |
//	|                                               |                                                      | whole s: compare in s |
//	| (d) PUT "dir/" (0 bytes) with "dir/file"      | works, before or after; listed as 0-byte "dir/".     | works, listed         |
//	|                                               | Non-empty "dir/": 400 DirectoryObjectContainsData.   |                       |
//	|                                               | No "dir/" is listed unless it was PUT.               |                       |
//	| (e) ListObjectsV2 order "a-c" "a/b" "a0" "é"  | byte (UTF-8) order                                   | byte order            |
//	| (f) x-amz-meta-* with mixed-case names        | accepted; stored and returned lower-cased, values    | returned lower-cased  |
//	|                                               | keep case (the SDK lower-cases names anyway)         |                       |
//	| (g) keys "../x", "a//b", "/abs", "a"+"a/b"    | "../x": bare 400; "a//b", "a/./b" stored as "a/b";   | all listed verbatim   |
//	|                                               | "/abs" as "abs";                                     |                       |
//	|                                               | "a" beside "a/b": 409 ExistingObjectIsDirectory;     |                       |
//	|                                               | "a/b" beside file "a": 409 ObjectParentIsFile        |                       |
package s3test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/crc64"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// The servers shared by the tests of this package, as other packages are
// expected to share theirs.
var (
	srv  *Server
	fake *Fake
)

func TestMain(m *testing.M) {
	var err error
	if srv, err = Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1) // fail, never skip: CI must not pass without the server
	}
	if fake, err = StartFake(); err != nil {
		srv.Stop()
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	fake.Stop()
	srv.Stop()
	os.Exit(code)
}

// target is one of the two servers, for tests that run against both.
type target struct {
	name      string
	client    *s3.Client
	newBucket func(testing.TB) string
}

func targets() []target {
	return []target{
		{"versitygw", srv.Client(), srv.NewBucket},
		{"gofakes3", fake.Client(), fake.NewBucket},
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func put(t *testing.T, c *s3.Client, bucket, key string, body []byte, in *s3.PutObjectInput) *s3.PutObjectOutput {
	t.Helper()
	if in == nil {
		in = &s3.PutObjectInput{}
	}
	in.Bucket, in.Key, in.Body = aws.String(bucket), aws.String(key), bytes.NewReader(body)
	out, err := c.PutObject(testContext(t), in)
	if err != nil {
		t.Fatalf("PutObject %q: %v", key, err)
	}
	return out
}

func listKeys(t *testing.T, c *s3.Client, bucket string) []types.Object {
	t.Helper()
	var objs []types.Object
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(testContext(t))
		if err != nil {
			t.Fatalf("ListObjectsV2: %v", err)
		}
		objs = append(objs, page.Contents...)
	}
	return objs
}

func keysOf(objs []types.Object) []string {
	keys := make([]string, len(objs))
	for i, o := range objs {
		keys[i] = aws.ToString(o.Key)
	}
	return keys
}

// errorCode returns the S3 error code of err, or "" if it has none.
func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

func TestMetadataRoundTrip(t *testing.T) {
	for _, tg := range targets() {
		t.Run(tg.name, func(t *testing.T) {
			bucket := tg.newBucket(t)
			body := []byte("hello, fsxsync\n")
			meta := map[string]string{
				"file-mtime": "1700000000.123456789",
				"file-mode":  "0100644",
				"file-uid":   "1000",
				"file-gid":   "1000",
			}
			put(t, tg.client, bucket, "dir/file.txt", body, &s3.PutObjectInput{Metadata: meta})

			got, err := tg.client.GetObject(testContext(t), &s3.GetObjectInput{
				Bucket: aws.String(bucket), Key: aws.String("dir/file.txt"),
			})
			if err != nil {
				t.Fatalf("GetObject: %v", err)
			}
			defer got.Body.Close()
			data, err := io.ReadAll(got.Body)
			if err != nil {
				t.Fatalf("reading body: %v", err)
			}
			if !bytes.Equal(data, body) {
				t.Errorf("body = %q, want %q", data, body)
			}
			for k, v := range meta {
				if got.Metadata[k] != v {
					t.Errorf("metadata %s = %q, want %q (all: %v)", k, got.Metadata[k], v, got.Metadata)
				}
			}
		})
	}
}

// crc32cBase64 and crc64nvmeBase64 compute checksums the way S3 reports them:
// big-endian bytes, base64.
func crc32cBase64(data []byte) string {
	sum := crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))
	return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, sum))
}

// crc64NVMEPoly is CRC-64/NVME's polynomial in the reversed form hash/crc64 takes.
const crc64NVMEPoly = 0x9a6c9329ac4bc9b5

func crc64nvmeBase64(data []byte) string {
	sum := crc64.Checksum(data, crc64.MakeTable(crc64NVMEPoly))
	return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint64(nil, sum))
}

// checksums returns what HeadObject and GetObject report with ChecksumMode ENABLED.
func checksums(t *testing.T, c *s3.Client, bucket, key string) (head, get *s3.GetObjectOutput) {
	t.Helper()
	ctx := testContext(t)
	h, err := c.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		t.Fatalf("HeadObject %q: %v", key, err)
	}
	g, err := c.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		t.Fatalf("GetObject %q: %v", key, err)
	}
	// Reading to EOF makes the SDK validate the checksum against the data.
	if _, err := io.Copy(io.Discard, g.Body); err != nil {
		t.Fatalf("GetObject %q body: %v", key, err)
	}
	g.Body.Close()
	// Same fields, one shape, so the callers compare them alike.
	head = &s3.GetObjectOutput{
		ChecksumCRC32C: h.ChecksumCRC32C, ChecksumCRC64NVME: h.ChecksumCRC64NVME, ChecksumType: h.ChecksumType,
	}
	return head, g
}

func checkChecksum(t *testing.T, key string, crc32c, crc64nvme string, typ types.ChecksumType, outs ...*s3.GetObjectOutput) {
	t.Helper()
	for i, out := range outs {
		op := [...]string{"HeadObject", "GetObject"}[i]
		if got := aws.ToString(out.ChecksumCRC32C); got != crc32c {
			t.Errorf("%s %q: CRC32C = %q, want %q", op, key, got, crc32c)
		}
		if got := aws.ToString(out.ChecksumCRC64NVME); got != crc64nvme {
			t.Errorf("%s %q: CRC64NVME = %q, want %q", op, key, got, crc64nvme)
		}
		if out.ChecksumType != typ {
			t.Errorf("%s %q: ChecksumType = %q, want %q", op, key, out.ChecksumType, typ)
		}
	}
}

// TestChecksumsSinglePut covers row (a) for single PUTs.
func TestChecksumsSinglePut(t *testing.T) {
	c := srv.Client()
	bucket := srv.NewBucket(t)
	body := []byte("hello world\n")

	put(t, c, bucket, "crc32c", body, &s3.PutObjectInput{ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c})
	head, get := checksums(t, c, bucket, "crc32c")
	checkChecksum(t, "crc32c", crc32cBase64(body), "", types.ChecksumTypeFullObject, head, get)

	put(t, c, bucket, "crc64nvme", body, &s3.PutObjectInput{ChecksumAlgorithm: types.ChecksumAlgorithmCrc64nvme})
	head, get = checksums(t, c, bucket, "crc64nvme")
	checkChecksum(t, "crc64nvme", "", crc64nvmeBase64(body), types.ChecksumTypeFullObject, head, get)

	// Without a requested algorithm the server computes CRC64NVME itself.
	put(t, c, bucket, "none", body, nil)
	head, get = checksums(t, c, bucket, "none")
	checkChecksum(t, "none", "", crc64nvmeBase64(body), types.ChecksumTypeFullObject, head, get)

	// Over plain HTTP the SDK must hash the payload before sending, so it
	// cannot checksum a body it cannot rewind.
	_, err := c.PutObject(testContext(t), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String("unseekable"),
		Body:              io.NopCloser(bytes.NewReader(body)), // hides Seek
		ContentLength:     aws.Int64(int64(len(body))),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
	})
	if err == nil || !strings.Contains(err.Error(), "unseekable stream") {
		t.Errorf("PutObject with an unseekable body over HTTP: err = %v, want the SDK's unseekable stream error", err)
	}

	t.Run("gofakes3", func(t *testing.T) {
		bucket := fake.NewBucket(t)
		put(t, fake.Client(), bucket, "crc32c", body, &s3.PutObjectInput{ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c})
		head, get := checksums(t, fake.Client(), bucket, "crc32c")
		for i, out := range []*s3.GetObjectOutput{head, get} {
			if got := aws.ToString(out.ChecksumCRC32C); got != crc32cBase64(body) {
				t.Errorf("%s: CRC32C = %q, want %q", [...]string{"HeadObject", "GetObject"}[i], got, crc32cBase64(body))
			}
		}
	})
}

// multipartUpload uploads parts as one object and returns the completed
// upload's checksums as HeadObject and GetObject report them.
func multipartUpload(t *testing.T, c *s3.Client, bucket, key string, alg types.ChecksumAlgorithm, typ types.ChecksumType, parts [][]byte) (head, get *s3.GetObjectOutput) {
	t.Helper()
	ctx := testContext(t)
	created, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(bucket), Key: aws.String(key), ChecksumAlgorithm: alg, ChecksumType: typ,
	})
	if err != nil {
		t.Fatalf("CreateMultipartUpload %q: %v", key, err)
	}
	var done []types.CompletedPart
	for i, part := range parts {
		n := aws.Int32(int32(i + 1))
		up, err := c.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: aws.String(bucket), Key: aws.String(key), UploadId: created.UploadId,
			PartNumber: n, Body: bytes.NewReader(part), ChecksumAlgorithm: alg,
		})
		if err != nil {
			t.Fatalf("UploadPart %q %d: %v", key, *n, err)
		}
		done = append(done, types.CompletedPart{
			PartNumber: n, ETag: up.ETag,
			ChecksumCRC32C: up.ChecksumCRC32C, ChecksumCRC64NVME: up.ChecksumCRC64NVME,
		})
	}
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(bucket), Key: aws.String(key), UploadId: created.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done},
	})
	if err != nil {
		t.Fatalf("CompleteMultipartUpload %q: %v", key, err)
	}
	return checksums(t, c, bucket, key)
}

// TestChecksumsMultipart covers row (a) for multipart uploads.
func TestChecksumsMultipart(t *testing.T) {
	c := srv.Client()
	bucket := srv.NewBucket(t)
	// Every part but the last must be at least 5 MiB.
	parts := [][]byte{bytes.Repeat([]byte("x"), 5<<20+1000), []byte("tail\n")}
	whole := bytes.Join(parts, nil)

	head, get := multipartUpload(t, c, bucket, "crc32c-composite", types.ChecksumAlgorithmCrc32c, "", parts)
	sum := aws.ToString(head.ChecksumCRC32C)
	if !strings.HasSuffix(sum, "-2") || head.ChecksumType != types.ChecksumTypeComposite {
		t.Errorf("multipart CRC32C: checksum %q type %q, want a composite \"...-2\"", sum, head.ChecksumType)
	}
	checkChecksum(t, "crc32c-composite", sum, "", types.ChecksumTypeComposite, head, get)

	head, get = multipartUpload(t, c, bucket, "crc32c-full", types.ChecksumAlgorithmCrc32c, types.ChecksumTypeFullObject, parts)
	checkChecksum(t, "crc32c-full", crc32cBase64(whole), "", types.ChecksumTypeFullObject, head, get)

	head, get = multipartUpload(t, c, bucket, "crc64nvme", types.ChecksumAlgorithmCrc64nvme, "", parts)
	checkChecksum(t, "crc64nvme", "", crc64nvmeBase64(whole), types.ChecksumTypeFullObject, head, get)
}

// TestETag covers row (b).
func TestETag(t *testing.T) {
	body := []byte("etag me\n")
	sum := md5.Sum(body)
	want := `"` + hex.EncodeToString(sum[:]) + `"`
	for _, tg := range targets() {
		t.Run(tg.name, func(t *testing.T) {
			bucket := tg.newBucket(t)
			out := put(t, tg.client, bucket, "k", body, nil)
			if got := aws.ToString(out.ETag); got != want {
				t.Errorf("PutObject ETag = %s, want %s", got, want)
			}
			objs := listKeys(t, tg.client, bucket)
			if len(objs) != 1 || aws.ToString(objs[0].ETag) != want {
				t.Errorf("ListObjectsV2 = %+v, want one object with ETag %s", objs, want)
			}
		})
	}
	t.Run("versitygw/multipart", func(t *testing.T) {
		bucket := srv.NewBucket(t)
		parts := [][]byte{bytes.Repeat([]byte("y"), 5<<20), []byte("end")}
		multipartUpload(t, srv.Client(), bucket, "mp", types.ChecksumAlgorithmCrc32c, "", parts)
		objs := listKeys(t, srv.Client(), bucket)
		if len(objs) != 1 || !strings.HasSuffix(aws.ToString(objs[0].ETag), `-2"`) {
			t.Errorf("ListObjectsV2 = %+v, want one object with a \"<md5>-2\" ETag", objs)
		}
	})
}

// TestLastModified covers row (c).
func TestLastModified(t *testing.T) {
	for _, tg := range targets() {
		t.Run(tg.name, func(t *testing.T) {
			bucket := tg.newBucket(t)
			for i := range 3 {
				put(t, tg.client, bucket, fmt.Sprintf("k%d", i), []byte("x"), nil)
			}
			for _, o := range listKeys(t, tg.client, bucket) {
				h, err := tg.client.HeadObject(testContext(t), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: o.Key})
				if err != nil {
					t.Fatalf("HeadObject %q: %v", *o.Key, err)
				}
				listed, headed := aws.ToTime(o.LastModified), aws.ToTime(h.LastModified)
				if d := time.Since(listed); d < -time.Minute || d > time.Minute {
					t.Errorf("%q: LastModified %v is not about now", *o.Key, listed)
				}
				// HeadObject's Last-Modified is an HTTP date: whole seconds.
				if !listed.Truncate(time.Second).Equal(headed) {
					t.Errorf("%q: ListObjectsV2 LastModified %v, HeadObject %v: differ by more than the fraction", *o.Key, listed, headed)
				}
				// versitygw lists whole seconds too, so the two are equal.
				if tg.name == "versitygw" && listed.Nanosecond() != 0 {
					t.Errorf("%q: ListObjectsV2 LastModified %v has a fraction of a second", *o.Key, listed)
				}
			}
		})
	}
}

// TestDirectoryMarkers covers row (d).
func TestDirectoryMarkers(t *testing.T) {
	for _, tg := range targets() {
		t.Run(tg.name, func(t *testing.T) {
			bucket := tg.newBucket(t)
			put(t, tg.client, bucket, "dir/file", []byte("x"), nil)
			put(t, tg.client, bucket, "dir/", nil, nil) // after its contents
			put(t, tg.client, bucket, "pre/", nil, nil) // before its contents
			put(t, tg.client, bucket, "pre/file", []byte("x"), nil)
			put(t, tg.client, bucket, "empty/", nil, nil)    // with no contents
			put(t, tg.client, bucket, "implied/f", nil, nil) // "implied/" is never PUT

			objs := listKeys(t, tg.client, bucket)
			want := []string{"dir/", "dir/file", "empty/", "implied/f", "pre/", "pre/file"}
			if got := keysOf(objs); !slices.Equal(got, want) {
				t.Fatalf("ListObjectsV2 keys = %q, want %q", got, want)
			}
			if size := aws.ToInt64(objs[0].Size); size != 0 {
				t.Errorf("dir/ size = %d, want 0", size)
			}
		})
	}
	t.Run("versitygw/non-empty", func(t *testing.T) {
		bucket := srv.NewBucket(t)
		_, err := srv.Client().PutObject(testContext(t), &s3.PutObjectInput{
			Bucket: aws.String(bucket), Key: aws.String("dir/"), Body: strings.NewReader("data"),
		})
		if code := errorCode(err); code != "DirectoryObjectContainsData" {
			t.Errorf("PutObject non-empty \"dir/\": err = %v, want DirectoryObjectContainsData", err)
		}
	})
}

// TestListOrder covers row (e).
func TestListOrder(t *testing.T) {
	keys := []string{"é", "a0", "a/b", "a-c"}
	want := slices.Clone(keys)
	slices.Sort(want) // Go compares strings bytewise: "a-c" < "a/b" < "a0" < "é"
	for _, tg := range targets() {
		t.Run(tg.name, func(t *testing.T) {
			bucket := tg.newBucket(t)
			for _, k := range keys {
				put(t, tg.client, bucket, k, []byte(k), nil)
			}
			if got := keysOf(listKeys(t, tg.client, bucket)); !slices.Equal(got, want) {
				t.Errorf("ListObjectsV2 keys = %q, want byte order %q", got, want)
			}
		})
	}
}

// TestMetadataNameCase covers row (f). The SDK lower-cases metadata names
// when it parses a response, so this shows what callers see; versitygw also
// stores and sends them lower-cased (seen on the wire with curl --aws-sigv4).
func TestMetadataNameCase(t *testing.T) {
	for _, tg := range targets() {
		t.Run(tg.name, func(t *testing.T) {
			bucket := tg.newBucket(t)
			put(t, tg.client, bucket, "k", []byte("x"), &s3.PutObjectInput{
				Metadata: map[string]string{"MixedCase-Name": "Mixed-Value"},
			})
			h, err := tg.client.HeadObject(testContext(t), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("k")})
			if err != nil {
				t.Fatalf("HeadObject: %v", err)
			}
			want := map[string]string{"mixedcase-name": "Mixed-Value"}
			if fmt.Sprint(h.Metadata) != fmt.Sprint(want) {
				t.Errorf("metadata = %v, want %v", h.Metadata, want)
			}
		})
	}
}

// TestKeyNormalisation covers row (g): which keys need the fake.
func TestKeyNormalisation(t *testing.T) {
	t.Run("gofakes3", func(t *testing.T) {
		bucket := fake.NewBucket(t)
		keys := []string{"../x", "a//b", "/abs", "a", "a/b", "a/./b"}
		for _, k := range keys {
			put(t, fake.Client(), bucket, k, []byte(k), nil)
		}
		want := slices.Clone(keys)
		slices.Sort(want)
		if got := keysOf(listKeys(t, fake.Client(), bucket)); !slices.Equal(got, want) {
			t.Errorf("ListObjectsV2 keys = %q, want verbatim %q", got, want)
		}
	})
	t.Run("versitygw", func(t *testing.T) {
		c := srv.Client()
		bucket := srv.NewBucket(t)
		put(t, c, bucket, "x//y", []byte("1"), nil)
		put(t, c, bucket, "p/./q", []byte("2"), nil)
		put(t, c, bucket, "/abs", []byte("5"), nil)
		put(t, c, bucket, "d/f", []byte("3"), nil)
		put(t, c, bucket, "file", []byte("4"), nil)
		for key, code := range map[string]string{
			"../x":   "400",                       // a bare 400 Bad Request, no S3 error code
			"d":      "ExistingObjectIsDirectory", // "d/f" exists
			"file/g": "ObjectParentIsFile",        // "file" exists
		} {
			_, err := c.PutObject(testContext(t), &s3.PutObjectInput{
				Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader("z"),
			})
			if err == nil {
				t.Errorf("PutObject %q succeeded, want %s", key, code)
			} else if got := errorCode(err); got != code {
				t.Errorf("PutObject %q: code %q (%v), want %s", key, got, err, code)
			}
		}
		want := []string{"abs", "d/f", "file", "p/q", "x/y"}
		if got := keysOf(listKeys(t, c, bucket)); !slices.Equal(got, want) {
			t.Errorf("ListObjectsV2 keys = %q, want normalised %q", got, want)
		}
	})
}

func TestBucketName(t *testing.T) {
	for _, name := range []string{
		"TestX",
		"TestUpload/sub_test#01",
		"Test" + strings.Repeat("VeryLong", 20),
		"---",
		"été/ÜBER",
		"",
	} {
		got := bucketName(name)
		if len(got) < 3 || len(got) > maxBucketName {
			t.Errorf("bucketName(%q) = %q: length %d", name, got, len(got))
		}
		if strings.Contains(got, "--") || !strings.HasPrefix(got, "t-") {
			t.Errorf("bucketName(%q) = %q: bad shape", name, got)
		}
		for _, r := range got {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				t.Errorf("bucketName(%q) = %q: invalid character %q", name, got, r)
			}
		}
		if bucketName(name) == got {
			t.Errorf("bucketName(%q) returned %q twice: not unique", name, got)
		}
	}
}

func TestEnv(t *testing.T) {
	env := srv.Env()
	for _, want := range []string{
		"AWS_ENDPOINT_URL=" + srv.Endpoint,
		"AWS_ACCESS_KEY_ID=" + srv.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + srv.SecretKey,
		"AWS_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
	} {
		if !slices.Contains(env, want) {
			t.Errorf("Env() = %q lacks %q", env, want)
		}
	}
	if !strings.HasPrefix(srv.Endpoint, "http://127.0.0.1:") || !strings.HasPrefix(fake.Endpoint, "http://127.0.0.1:") {
		t.Errorf("endpoints %q, %q: want loopback", srv.Endpoint, fake.Endpoint)
	}
}

func TestStartWithoutBinary(t *testing.T) {
	t.Setenv(BinaryEnv, "/nonexistent/versitygw")
	s, err := Start()
	if err == nil {
		s.Stop()
		t.Fatal("Start succeeded without a binary")
	}
	if !strings.Contains(err.Error(), "make tools") {
		t.Errorf("Start error %q does not say to run make tools", err)
	}
}

func TestStop(t *testing.T) {
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	s.Stop()
	s.Stop() // a second Stop is harmless
	if _, err := os.Stat(s.Dir); !os.IsNotExist(err) {
		t.Errorf("Dir %s still exists after Stop (stat: %v)", s.Dir, err)
	}
	// ProcessState is set once the process has been waited for.
	if s.cmd.ProcessState == nil {
		t.Errorf("gateway %d still running after Stop", s.cmd.Process.Pid)
	}
}

// TestTLS checks that a gateway started with Options.TLS serves HTTPS that Client verifies against the throwaway CA,
// and that a client trusting only the system's CAs refuses it: verification is on, not skipped.
func TestTLS(t *testing.T) {
	s, err := StartWith(Options{TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if !strings.HasPrefix(s.Endpoint, "https://127.0.0.1:") || s.CAFile == "" {
		t.Fatalf("endpoint %q, CA file %q; want https and a CA", s.Endpoint, s.CAFile)
	}
	if !slices.Contains(s.Env(), "AWS_CA_BUNDLE="+s.CAFile) {
		t.Errorf("Env() does not point AWS_CA_BUNDLE at the CA: %v", s.Env())
	}
	bucket := s.NewBucket(t)
	put(t, s.Client(), bucket, "k", []byte("over TLS"), nil)
	untrusting := newClient(s.Endpoint, s.AccessKey, s.SecretKey, s.Region)
	_, err = untrusting.HeadBucket(testContext(t), &s3.HeadBucketInput{Bucket: aws.String(bucket)})
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("a client without the test CA got %v, want a certificate signed by unknown authority", err)
	}
}
