package awsproxy

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/fsxsync/fsxsync/internal/s3test"
)

func TestMain(m *testing.M) {
	code := m.Run()
	s3test.StopShared()
	os.Exit(code)
}

// testTimeout bounds each test's S3 calls; they take milliseconds against the local gateway.
const testTimeout = 30 * time.Second

// start starts a proxy in front of the shared gateway, closed when t ends.
func start(t *testing.T) (*s3test.Server, *Proxy) {
	t.Helper()
	srv := s3test.Shared(t)
	p, err := Start(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return srv, p
}

// client returns an S3 client that signs for region with the gateway's root credentials and sends its requests to
// endpoint, path-style. It does not retry, so that each call is one request in the proxy's log.
func client(srv *s3test.Server, endpoint, region string) *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint:     aws.String(endpoint),
		Region:           region,
		Credentials:      credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, ""),
		UsePathStyle:     true,
		RetryMaxAttempts: 1,
	})
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return c
}

func put(t *testing.T, c *s3.Client, bucket, key, body string) {
	t.Helper()
	_, err := c.PutObject(ctx(t), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		Body: strings.NewReader(body)})
	if err != nil {
		t.Fatalf("PutObject %s: %v", key, err)
	}
}

func get(t *testing.T, c *s3.Client, bucket, key string) (string, error) {
	t.Helper()
	out, err := c.GetObject(ctx(t), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return "", err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	return string(b), err
}

// errorCode returns the S3 error code of err, "" if it has none.
func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

// response returns the HTTP status and headers of the answer that made err; 0 and nil if there was none.
func response(err error) (int, http.Header) {
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		return re.HTTPStatusCode(), re.Response.Header
	}
	return 0, nil
}

// listKeys lists every key of bucket through c, page by page, and returns the keys in the order listed, the pages'
// keys, and the common prefixes.
func listKeys(t *testing.T, c *s3.Client, in *s3.ListObjectsV2Input) (keys []string, pages [][]string, prefixes []string) {
	t.Helper()
	pager := s3.NewListObjectsV2Paginator(c, in)
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx(t))
		if err != nil {
			t.Fatalf("ListObjectsV2: %v", err)
		}
		var pageKeys []string
		for _, o := range page.Contents {
			pageKeys = append(pageKeys, aws.ToString(o.Key))
		}
		for _, cp := range page.CommonPrefixes {
			prefixes = append(prefixes, aws.ToString(cp.Prefix))
		}
		keys = append(keys, pageKeys...)
		pages = append(pages, pageKeys)
	}
	return keys, pages, prefixes
}

// A signed request the proxy does not answer reaches versitygw unchanged, so that its signature verifies: puts,
// gets, a multipart upload, a listing and a presigned GET all work through the proxy, and the log names each
// operation.
func TestForwardsSignedRequests(t *testing.T) {
	srv, p := start(t)
	bucket := srv.NewBucket(t)
	c := client(srv, p.URL, srv.Region)
	// A space, a tilde and a plus in the key: the path's exact encoding is part of the signature.
	key := "dir/a b~c+d.txt"
	put(t, c, bucket, key, "hello")
	if got, err := get(t, c, bucket, key); err != nil || got != "hello" {
		t.Fatalf("GetObject through the proxy: %q, %v", got, err)
	}

	up, err := c.CreateMultipartUpload(ctx(t), &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket),
		Key: aws.String("multi")})
	if err != nil {
		t.Fatalf("CreateMultipartUpload: %v", err)
	}
	part, err := c.UploadPart(ctx(t), &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String("multi"),
		UploadId: up.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte("part one"))})
	if err != nil {
		t.Fatalf("UploadPart: %v", err)
	}
	_, err = c.CompleteMultipartUpload(ctx(t), &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket),
		Key: aws.String("multi"), UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{
			Parts: []types.CompletedPart{{ETag: part.ETag, PartNumber: aws.Int32(1)}}}})
	if err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
	if keys, _, _ := listKeys(t, c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)}); !slices.Equal(keys, []string{key, "multi"}) {
		t.Errorf("ListObjectsV2 through the proxy: %q", keys)
	}

	presigned, err := s3.NewPresignClient(c).PresignGetObject(ctx(t), &s3.GetObjectInput{Bucket: aws.String(bucket),
		Key: aws.String("multi")})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(presigned.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "part one" {
		t.Errorf("presigned GET through the proxy: %d %q", resp.StatusCode, body)
	}

	var ops []string
	for _, r := range p.Requests() {
		ops = append(ops, r.Op)
		if !r.Forwarded || len(r.By) != 0 || r.Status != http.StatusOK {
			t.Errorf("%s %s: forwarded %v, by %v, status %d; want forwarded unchanged with 200",
				r.Method, r.URI, r.Forwarded, r.By, r.Status)
		}
	}
	want := []string{"PutObject", "GetObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload",
		"ListObjectsV2", "GetObject"}
	if !slices.Equal(ops, want) {
		t.Errorf("logged operations %q, want %q", ops, want)
	}
}

// Op names operations from method, path and query, the way matchers for AnswerError need them.
func TestOp(t *testing.T) {
	for _, tc := range []struct {
		method, target string
		copySource     bool
		want           string
	}{
		{"GET", "/", false, "ListBuckets"},
		{"GET", "/b?list-type=2&prefix=a%2F", false, "ListObjectsV2"},
		{"GET", "/b", false, "ListObjects"},
		{"GET", "/b?uploads", false, "ListMultipartUploads"},
		{"GET", "/b?encryption", false, "GetBucketEncryption"},
		{"GET", "/b?location", false, "GetBucketLocation"},
		{"HEAD", "/b", false, "HeadBucket"},
		{"PUT", "/b", false, "CreateBucket"},
		{"POST", "/b?delete", false, "DeleteObjects"},
		{"GET", "/b/k/x", false, "GetObject"},
		{"GET", "/b/k?partNumber=2", false, "GetObject"},
		{"GET", "/b/k?acl", false, ""},
		{"HEAD", "/b/k", false, "HeadObject"},
		{"PUT", "/b/k?x-id=PutObject", false, "PutObject"},
		{"PUT", "/b/k", true, "CopyObject"},
		{"POST", "/b/k?uploads", false, "CreateMultipartUpload"},
		{"PUT", "/b/k?partNumber=1&uploadId=u", false, "UploadPart"},
		{"PUT", "/b/k?partNumber=1&uploadId=u", true, "UploadPartCopy"},
		{"GET", "/b/k?uploadId=u", false, "ListParts"},
		{"POST", "/b/k?uploadId=u", false, "CompleteMultipartUpload"},
		{"DELETE", "/b/k?uploadId=u", false, "AbortMultipartUpload"},
		{"DELETE", "/b/k", false, "DeleteObject"},
		{"POST", "/b/k?restore", false, "RestoreObject"},
	} {
		r := httptest.NewRequest(tc.method, tc.target, nil)
		if tc.copySource {
			r.Header.Set("x-amz-copy-source", "/b/src")
		}
		if got := Op(r); got != tc.want {
			t.Errorf("Op(%s %s, copy source %v) = %q, want %q", tc.method, tc.target, tc.copySource, got, tc.want)
		}
	}
}

// errorBody is the part of an S3 XML error the tests read.
type errorBody struct {
	Code, Message, Endpoint, Bucket, StorageClass string
}

// rawRequest sends an unsigned request and returns the answer's status, headers and body.
func rawRequest(t *testing.T, method, url string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

// AnswerError answers matching requests itself, with S3's XML error (Error responses) and the given headers, and
// forwards the rest; a HEAD gets the status and headers without a body.
func TestAnswerError(t *testing.T) {
	srv, p := start(t)
	bucket := srv.NewBucket(t)
	c := client(srv, p.URL, srv.Region)
	put(t, c, bucket, "k", "v")
	const kmsDenied = "User: arn:aws:iam::123456789012:user/u is not authorized to perform: kms:Decrypt on resource: " +
		"arn:aws:kms:us-east-1:123456789012:key/k because no identity-based policy allows the kms:Decrypt action"
	p.AnswerError(Ops("GetObject"), http.StatusForbidden, "AccessDenied", kmsDenied,
		map[string]string{"x-amz-server-side-encryption": "aws:kms"})
	p.AnswerError(Ops("HeadBucket"), http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.", nil)

	_, err := get(t, c, bucket, "k")
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "AccessDenied" || apiErr.ErrorMessage() != kmsDenied {
		t.Errorf("GetObject: %v; want AccessDenied with the kms message", err)
	}
	if status, h := response(err); status != http.StatusForbidden || h.Get("x-amz-server-side-encryption") != "aws:kms" {
		t.Errorf("GetObject: status %d, headers %v", status, h)
	}

	status, _, body := rawRequest(t, http.MethodGet, p.URL+"/"+bucket+"/k")
	var e errorBody
	if err := xml.Unmarshal(body, &e); err != nil || status != http.StatusForbidden || e.Code != "AccessDenied" ||
		e.Message != kmsDenied {
		t.Errorf("unsigned GET: %d %s (%v)", status, body, err)
	}

	_, err = c.HeadBucket(ctx(t), &s3.HeadBucketInput{Bucket: aws.String(bucket)})
	if status, _ := response(err); status != http.StatusServiceUnavailable {
		t.Errorf("HeadBucket: %v; want status 503", err)
	}
	req, _ := http.NewRequestWithContext(ctx(t), http.MethodHead, p.URL+"/"+bucket, nil)
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Read the raw answer: Go's client would hide a body wrongly sent after a HEAD answer.
	req.Header.Set("Connection", "close")
	req.Write(conn)
	conn.SetReadDeadline(time.Now().Add(testTimeout))
	raw, _ := io.ReadAll(conn)
	if !strings.HasPrefix(string(raw), "HTTP/1.1 503") || !strings.HasSuffix(string(raw), "\r\n\r\n") {
		t.Errorf("raw HEAD answer %q; want a 503 status and headers, no body", raw)
	}

	// Requests no rule matches are forwarded.
	if _, err := c.HeadObject(ctx(t), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("k")}); err != nil {
		t.Errorf("HeadObject matches no rule but failed: %v", err)
	}
	var by []string
	for _, r := range p.Requests() {
		by = append(by, fmt.Sprintf("%s %d %v %v", r.Op, r.Status, r.Forwarded, r.By))
	}
	want := []string{"PutObject 200 true []", "GetObject 403 false [AnswerError]", "GetObject 403 false [AnswerError]",
		"HeadBucket 503 false [AnswerError]", "HeadBucket 503 false [AnswerError]", "HeadObject 200 true []"}
	if !slices.Equal(by, want) {
		t.Errorf("log:\n%s\nwant:\n%s", strings.Join(by, "\n"), strings.Join(want, "\n"))
	}
}

// Archived objects behave as in S3 (S3 API Reference: GetObject, HeadObject, ListObjectsV2; "Error responses"):
// GetObject answers 403 InvalidObjectState, HeadObject and listings show the storage class, and other objects are
// untouched.
func TestArchive(t *testing.T) {
	srv, p := start(t)
	bucket := srv.NewBucket(t)
	c := client(srv, p.URL, srv.Region)
	for _, k := range []string{"cold/glacier", "cold/deep & deeper", "warm"} {
		put(t, c, bucket, k, "data of "+k)
	}
	p.Archive("GLACIER", "cold/glacier")
	p.Archive("DEEP_ARCHIVE", "cold/deep & deeper")

	for key, class := range map[string]types.StorageClass{"cold/glacier": "GLACIER", "cold/deep & deeper": "DEEP_ARCHIVE"} {
		_, err := get(t, c, bucket, key)
		var invalid *types.InvalidObjectState
		if errorCode(err) != "InvalidObjectState" || !errors.As(err, &invalid) || invalid.StorageClass != class {
			t.Errorf("GetObject %s: %v; want InvalidObjectState with storage class %s", key, err, class)
		}
		if status, _ := response(err); status != http.StatusForbidden {
			t.Errorf("GetObject %s: status %d, want 403", key, status)
		}
		head, err := c.HeadObject(ctx(t), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil || head.StorageClass != class || aws.ToInt64(head.ContentLength) != int64(len("data of "+key)) {
			t.Errorf("HeadObject %s: %+v, %v; want storage class %s and the object's length", key, head, err, class)
		}
	}
	if got, err := get(t, c, bucket, "warm"); err != nil || got != "data of warm" {
		t.Errorf("GetObject of an object not archived: %q, %v", got, err)
	}

	want := map[string]types.ObjectStorageClass{"cold/glacier": "GLACIER", "cold/deep & deeper": "DEEP_ARCHIVE",
		"warm": "STANDARD"}
	// The SDK asks for no encoding; aws-cli and boto3 ask for encoding-type=url, and S3 then encodes the keys.
	for _, enc := range []types.EncodingType{"", types.EncodingTypeUrl} {
		out, err := c.ListObjectsV2(ctx(t), &s3.ListObjectsV2Input{Bucket: aws.String(bucket), EncodingType: enc})
		if err != nil {
			t.Fatalf("ListObjectsV2 (encoding %q): %v", enc, err)
		}
		got := map[string]types.ObjectStorageClass{}
		for _, o := range out.Contents {
			k := aws.ToString(o.Key)
			if out.EncodingType == types.EncodingTypeUrl {
				// The SDK does not decode the keys it asked to have encoded (versitygw does not encode them).
				if k, err = url.QueryUnescape(k); err != nil {
					t.Fatal(err)
				}
			}
			got[k] = o.StorageClass
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("ListObjectsV2 (encoding %q) storage classes %v, want %v", enc, got, want)
		}
	}
}

// A request signed for another region than the bucket's gets 301 PermanentRedirect with x-amz-bucket-region (S3 API
// Reference: HeadBucket; "Error responses"), with no body for HEAD and Code, Message, Endpoint and Bucket
// otherwise; a request signed for the bucket's region passes, and HeadBucket then names the region too.
func TestWrongRegion(t *testing.T) {
	srv, p := start(t)
	bucket := srv.NewBucket(t)
	put(t, srv.Client(), bucket, "k", "v")
	p.WrongRegion("eu-west-1")
	c := client(srv, p.URL, "us-east-1")

	_, err := c.HeadBucket(ctx(t), &s3.HeadBucketInput{Bucket: aws.String(bucket)})
	if status, h := response(err); status != http.StatusMovedPermanently || h.Get("x-amz-bucket-region") != "eu-west-1" {
		t.Errorf("HeadBucket signed for us-east-1: %v (status %d, headers %v); want 301 naming eu-west-1", err, status, h)
	}
	_, err = get(t, c, bucket, "k")
	if status, h := response(err); errorCode(err) != "PermanentRedirect" || status != http.StatusMovedPermanently ||
		h.Get("x-amz-bucket-region") != "eu-west-1" {
		t.Errorf("GetObject signed for us-east-1: %v; want 301 PermanentRedirect naming eu-west-1", err)
	}

	// A presigned URL carries its scope in X-Amz-Credential.
	presigned, err := s3.NewPresignClient(c).PresignGetObject(ctx(t), &s3.GetObjectInput{Bucket: aws.String(bucket),
		Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	status, h, body := rawRequest(t, http.MethodGet, presigned.URL)
	var e errorBody
	if err := xml.Unmarshal(body, &e); err != nil || status != http.StatusMovedPermanently ||
		h.Get("x-amz-bucket-region") != "eu-west-1" || e.Code != "PermanentRedirect" || e.Bucket != bucket ||
		e.Endpoint != bucket+".s3.eu-west-1.amazonaws.com" || e.Message == "" {
		t.Errorf("presigned GET for us-east-1: %d %v %s", status, h, body)
	}
	for _, r := range p.Requests() {
		if r.Forwarded || !slices.Equal(r.By, []Behaviour{ByWrongRegion}) {
			t.Errorf("%s %s: forwarded %v, by %v; want answered by WrongRegion", r.Method, r.URI, r.Forwarded, r.By)
		}
	}

	// Where the bucket's region is the one the gateway runs in and the client signs for, requests pass.
	_, p2 := start(t)
	p2.WrongRegion(srv.Region)
	c2 := client(srv, p2.URL, srv.Region)
	head, err := c2.HeadBucket(ctx(t), &s3.HeadBucketInput{Bucket: aws.String(bucket)})
	if err != nil || aws.ToString(head.BucketRegion) != srv.Region {
		t.Errorf("HeadBucket signed for the bucket's region: %+v, %v; want success naming %s", head, err, srv.Region)
	}
	if got, err := get(t, c2, bucket, "k"); err != nil || got != "v" {
		t.Errorf("GetObject signed for the bucket's region: %q, %v", got, err)
	}
	_, err = client(srv, p2.URL, "eu-west-1").HeadBucket(ctx(t), &s3.HeadBucketInput{Bucket: aws.String(bucket)})
	if status, h := response(err); status != http.StatusMovedPermanently || h.Get("x-amz-bucket-region") != srv.Region {
		t.Errorf("HeadBucket signed for eu-west-1: %v (status %d); want 301 naming %s", err, status, srv.Region)
	}
}

// In a Requester Pays bucket a request without x-amz-request-payer: requester gets 403 AccessDenied ("Requester Pays
// buckets"; "Downloading objects from Requester Pays buckets"); with it, the request passes and the answer says
// the requester was charged.
func TestRequirePayer(t *testing.T) {
	srv, p := start(t)
	bucket := srv.NewBucket(t)
	put(t, srv.Client(), bucket, "k", "v")
	p.RequirePayer()
	c := client(srv, p.URL, srv.Region)

	if _, err := get(t, c, bucket, "k"); errorCode(err) != "AccessDenied" {
		t.Errorf("GetObject without the payer header: %v; want AccessDenied", err)
	}
	_, err := c.ListObjectsV2(ctx(t), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if errorCode(err) != "AccessDenied" {
		t.Errorf("ListObjectsV2 without the payer header: %v; want AccessDenied", err)
	}

	out, err := c.GetObject(ctx(t), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"),
		RequestPayer: types.RequestPayerRequester})
	if err != nil {
		t.Fatalf("GetObject with the payer header: %v", err)
	}
	b, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if string(b) != "v" || out.RequestCharged != types.RequestChargedRequester {
		t.Errorf("GetObject with the payer header: %q, charged %q", b, out.RequestCharged)
	}
	list, err := c.ListObjectsV2(ctx(t), &s3.ListObjectsV2Input{Bucket: aws.String(bucket),
		RequestPayer: types.RequestPayerRequester})
	if err != nil || len(list.Contents) != 1 {
		t.Errorf("ListObjectsV2 with the payer header: %+v, %v", list, err)
	}
}

// A directory bucket lists keys in no particular order (S3 API Reference: ListObjectsV2): through Unordered each
// page comes back shuffled, yet paging yields every key once, common prefixes are kept, and the same request gets
// the same order.
func TestUnordered(t *testing.T) {
	srv, p := start(t)
	bucket := srv.NewBucket(t)
	var want []string
	for i := range 25 {
		k := fmt.Sprintf("k%02d", i)
		put(t, srv.Client(), bucket, k, k)
		want = append(want, k)
	}
	put(t, srv.Client(), bucket, "sub/x", "x")
	p.Unordered(42)
	c := client(srv, p.URL, srv.Region)
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Delimiter: aws.String("/"), MaxKeys: aws.Int32(10)}

	keys, pages, prefixes := listKeys(t, c, in)
	if !slices.Equal(prefixes, []string{"sub/"}) {
		t.Errorf("common prefixes %q, want [sub/]", prefixes)
	}
	if sorted := slices.Sorted(slices.Values(keys)); !slices.Equal(sorted, want) {
		t.Errorf("listed keys %q, want each of %q once", keys, want)
	}
	across := false
	for i, page := range pages {
		if len(page) >= 2 && slices.IsSorted(page) {
			t.Errorf("page %d is in order: %q", i, page)
		}
		if i > 0 && len(page) > 0 && len(pages[i-1]) > 0 && slices.Min(page) < slices.Max(pages[i-1]) {
			across = true
		}
	}
	if !across {
		t.Errorf("no page gives a key that sorts before one of the page before it: %q", pages)
	}
	if again, _, _ := listKeys(t, c, in); !slices.Equal(again, keys) {
		t.Errorf("a second listing gave another order:\n%q\n%q", again, keys)
	}
	for _, r := range p.Requests() {
		if !slices.Equal(r.By, []Behaviour{ByUnordered}) {
			t.Errorf("%s %s: by %v, want Unordered", r.Method, r.URI, r.By)
		}
	}
}

// Refusing's address refuses connections at once: the SDK's call fails without waiting.
func TestRefusing(t *testing.T) {
	u := Refusing(t)
	_, err := net.DialTimeout("tcp", strings.TrimPrefix(u, "http://"), testTimeout)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial %s: %v; want connection refused", u, err)
	}
	begin := time.Now()
	_, err = stsClient(u, 0).GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("GetCallerIdentity at %s: %v; want connection refused", u, err)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("GetCallerIdentity took %v to fail; a refused connection fails at once", d)
	}
}

// Blackhole's address accepts the connection and never answers: the dial succeeds, and a client with a short timeout
// gives up waiting for the answer.
func TestBlackhole(t *testing.T) {
	u := Blackhole(t)
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(u, "http://"), testTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v; want the handshake to complete", u, err)
	}
	conn.Close()

	const timeout = 300 * time.Millisecond
	begin := time.Now()
	_, err = stsClient(u, timeout).GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	var netErr net.Error
	if !errors.As(err, &netErr) || !netErr.Timeout() {
		t.Errorf("GetCallerIdentity at %s: %v; want a timeout", u, err)
	}
	if d := time.Since(begin); d < timeout || d > testTimeout/2 {
		t.Errorf("GetCallerIdentity failed after %v; want about the %v client timeout", d, timeout)
	}
}

// stsClient returns an STS client for endpoint that does not retry; timeout, if not 0, bounds each request.
func stsClient(endpoint string, timeout time.Duration) *sts.Client {
	hc := awshttp.NewBuildableClient()
	if timeout > 0 {
		hc = hc.WithTimeout(timeout)
	}
	return sts.New(sts.Options{
		BaseEndpoint:     aws.String(endpoint),
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "not-a-secret", ""),
		HTTPClient:       hc,
		RetryMaxAttempts: 1,
	})
}

// Close ends a request the proxy is forwarding to a server that never answers, and returns: no request of the
// proxy outlives it.
func TestCloseEndsRequestsInFlight(t *testing.T) {
	// A server that accepts connections, says so, and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	t.Cleanup(func() {
		ln.Close()
		for c := range accepted {
			c.Close()
		}
	})

	p, err := Start("http://" + ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		resp, err := http.Get(p.URL + "/b/k")
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	select {
	case c := <-accepted:
		// The proxy is forwarding the request; keep the connection open until the test ends.
		t.Cleanup(func() { c.Close() })
	case <-time.After(testTimeout):
		t.Fatal("the proxy did not forward the request")
	}

	closed := make(chan struct{})
	go func() {
		p.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(testTimeout):
		t.Fatal("Close did not return while a request was in flight")
	}
	select {
	case err := <-errc:
		if err == nil {
			t.Error("the request in flight got an answer; want its connection closed")
		}
	case <-time.After(testTimeout):
		t.Fatal("the request in flight did not end when the proxy closed")
	}
	if resp, err := http.Get(p.URL + "/b/k"); err == nil {
		resp.Body.Close()
		t.Error("a request after Close got an answer")
	}
}

// DefaultKMSKey: GetBucketEncryption names the SSE-KMS key, and object answers say they are encrypted under it.
func TestDefaultKMSKey(t *testing.T) {
	srv, p := start(t)
	bucket := srv.NewBucket(t)
	put(t, srv.Client(), bucket, "k", "v")
	const key = "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	p.DefaultKMSKey(key)
	c := client(srv, p.URL, srv.Region)
	enc, err := c.GetBucketEncryption(ctx(t), &s3.GetBucketEncryptionInput{Bucket: aws.String(bucket)})
	if err != nil || len(enc.ServerSideEncryptionConfiguration.Rules) != 1 {
		t.Fatalf("GetBucketEncryption: %+v, %v", enc, err)
	}
	d := enc.ServerSideEncryptionConfiguration.Rules[0].ApplyServerSideEncryptionByDefault
	if d.SSEAlgorithm != types.ServerSideEncryptionAwsKms || aws.ToString(d.KMSMasterKeyID) != key {
		t.Errorf("default encryption %s with %q, want aws:kms with %s", d.SSEAlgorithm, aws.ToString(d.KMSMasterKeyID), key)
	}
	out, err := c.GetObject(ctx(t), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	out.Body.Close()
	if out.ServerSideEncryption != types.ServerSideEncryptionAwsKms || aws.ToString(out.SSEKMSKeyId) != key {
		t.Errorf("GetObject: encryption %s with %q, want aws:kms with the key", out.ServerSideEncryption, aws.ToString(out.SSEKMSKeyId))
	}
}

// The server fact RequireSSE relies on: versitygw v1.8.0 accepts the server-side encryption headers on PutObject and
// CreateMultipartUpload, AES256, aws:kms and aws:kms:dsse alike, stores the object, and says nothing of encryption in
// its answers.
func TestVersitygwIgnoresSSEHeaders(t *testing.T) {
	srv := s3test.Shared(t)
	c := srv.Client()
	bucket := srv.NewBucket(t)
	for _, alg := range []types.ServerSideEncryption{types.ServerSideEncryptionAes256, types.ServerSideEncryptionAwsKms,
		types.ServerSideEncryptionAwsKmsDsse} {
		in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("put-" + string(alg)), Body: strings.NewReader("v"),
			ServerSideEncryption: alg}
		create := &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("mpu-" + string(alg)), ServerSideEncryption: alg}
		if alg != types.ServerSideEncryptionAes256 {
			in.SSEKMSKeyId, create.SSEKMSKeyId = aws.String("alias/k"), aws.String("alias/k")
		}
		out, err := c.PutObject(ctx(t), in)
		if err != nil || out.ServerSideEncryption != "" {
			t.Errorf("PutObject %s: %v, answer says %q", alg, err, out.ServerSideEncryption)
		}
		if got, err := get(t, c, bucket, "put-"+string(alg)); got != "v" {
			t.Errorf("PutObject %s stored %q, %v", alg, got, err)
		}
		mpu, err := c.CreateMultipartUpload(ctx(t), create)
		if err != nil || mpu.ServerSideEncryption != "" {
			t.Errorf("CreateMultipartUpload %s: %v", alg, err)
			continue
		}
		c.AbortMultipartUpload(ctx(t), &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: create.Key, UploadId: mpu.UploadId})
	}
}

// RequireSSE: a bucket policy that denies uploads without server-side encryption under one key. PutObject and
// CreateMultipartUpload without the headers, or with another algorithm or key, get S3's explicit-deny AccessDenied and
// never reach the server; with them they are stored, the answer says the encryption asked for, and the log records
// the headers. UploadPart and CompleteMultipartUpload carry no such header and pass.
func TestRequireSSE(t *testing.T) {
	srv, p := start(t)
	bucket := srv.NewBucket(t)
	const key = "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	p.RequireSSE("aws:kms", key)
	c := client(srv, p.URL, srv.Region)

	refused := []struct {
		name string
		put  *s3.PutObjectInput
	}{
		{"no header", &s3.PutObjectInput{}},
		{"AES256", &s3.PutObjectInput{ServerSideEncryption: types.ServerSideEncryptionAes256}},
		{"aws:kms with the aws/s3 key", &s3.PutObjectInput{ServerSideEncryption: types.ServerSideEncryptionAwsKms}},
		{"aws:kms with the key's alias", &s3.PutObjectInput{ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String("alias/k")}},
	}
	for _, r := range refused {
		in := r.put
		in.Bucket, in.Key, in.Body = aws.String(bucket), aws.String("refused"), strings.NewReader("v")
		_, err := c.PutObject(ctx(t), in)
		var apiErr smithy.APIError
		if status, _ := response(err); status != http.StatusForbidden || !errors.As(err, &apiErr) || apiErr.ErrorCode() != "AccessDenied" ||
			apiErr.ErrorMessage() != `User: arn:aws:iam::000000000000:root is not authorized to perform: s3:PutObject on resource: "arn:aws:s3:::`+
				bucket+`/refused" with an explicit deny in a resource-based policy` {
			t.Errorf("PutObject with %s: %v; want 403 AccessDenied, an explicit deny of s3:PutObject", r.name, err)
		}
	}
	_, err := c.CreateMultipartUpload(ctx(t), &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("refused")})
	if errorCode(err) != "AccessDenied" {
		t.Errorf("CreateMultipartUpload without the headers: %v; want AccessDenied", err)
	}
	if _, err := get(t, srv.Client(), bucket, "refused"); errorCode(err) != "NoSuchKey" {
		t.Errorf("a refused upload reached the server: %v", err)
	}
	for _, r := range p.Requests() {
		if r.Forwarded || r.Status != http.StatusForbidden || !slices.Equal(r.By, []Behaviour{ByRequireSSE}) {
			t.Errorf("refused request logged as %+v", r)
		}
	}

	out, err := c.PutObject(ctx(t), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("small"), Body: strings.NewReader("v"),
		ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String(key), BucketKeyEnabled: aws.Bool(true)})
	if err != nil {
		t.Fatalf("PutObject with the headers: %v", err)
	}
	if out.ServerSideEncryption != types.ServerSideEncryptionAwsKms || aws.ToString(out.SSEKMSKeyId) != key || !aws.ToBool(out.BucketKeyEnabled) {
		t.Errorf("PutObject answer says %q, %q, bucket key %v", out.ServerSideEncryption, aws.ToString(out.SSEKMSKeyId), aws.ToBool(out.BucketKeyEnabled))
	}
	if got, err := get(t, srv.Client(), bucket, "small"); got != "v" {
		t.Errorf("the server stored %q, %v", got, err)
	}

	mpu, err := c.CreateMultipartUpload(ctx(t), &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("large"),
		ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String(key)})
	if err != nil {
		t.Fatalf("CreateMultipartUpload with the headers: %v", err)
	}
	if mpu.ServerSideEncryption != types.ServerSideEncryptionAwsKms || aws.ToString(mpu.SSEKMSKeyId) != key || mpu.BucketKeyEnabled != nil {
		t.Errorf("CreateMultipartUpload answer says %q, %q, bucket key %v", mpu.ServerSideEncryption, aws.ToString(mpu.SSEKMSKeyId), mpu.BucketKeyEnabled)
	}
	part, err := c.UploadPart(ctx(t), &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String("large"), UploadId: mpu.UploadId,
		PartNumber: aws.Int32(1), Body: strings.NewReader("w")})
	if err != nil {
		t.Fatalf("UploadPart: %v", err)
	}
	_, err = c.CompleteMultipartUpload(ctx(t), &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("large"),
		UploadId: mpu.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{ETag: part.ETag, PartNumber: aws.Int32(1)}}}})
	if err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
	if got, err := get(t, srv.Client(), bucket, "large"); got != "w" {
		t.Errorf("the server stored %q, %v", got, err)
	}

	logged := map[string]http.Header{}
	for _, r := range p.Requests() {
		if r.Forwarded {
			logged[r.Op] = r.SSE
		}
	}
	if h := logged["PutObject"]; h.Get("X-Amz-Server-Side-Encryption") != "aws:kms" || h.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id") != key ||
		h.Get("X-Amz-Server-Side-Encryption-Bucket-Key-Enabled") != "true" {
		t.Errorf("the log's PutObject headers: %v", h)
	}
	if h := logged["CreateMultipartUpload"]; h.Get("X-Amz-Server-Side-Encryption") != "aws:kms" || h.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id") != key {
		t.Errorf("the log's CreateMultipartUpload headers: %v", h)
	}
	if h := logged["UploadPart"]; h != nil {
		t.Errorf("the log's UploadPart headers: %v, want none", h)
	}
}
