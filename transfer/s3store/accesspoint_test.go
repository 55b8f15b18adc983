package s3store

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// recorder is an HTTP client that sends nothing: it records each request and answers an empty listing.
type recorder struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.mu.Unlock()
	body := `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></ListBucketResult>`
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/xml"}},
		Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: req}, nil
}

// signedFor returns REGION/SERVICE of a request's signature: from the credential scope of SigV4
// (AKID/DATE/REGION/SERVICE/aws4_request), or for SigV4A, whose scope names no region (AKID/DATE/SERVICE/aws4_request),
// the X-Amz-Region-Set header's regions.
func signedFor(req *http.Request) string {
	_, rest, _ := strings.Cut(req.Header.Get("Authorization"), "Credential=")
	scope, _, _ := strings.Cut(rest, ",")
	switch parts := strings.Split(scope, "/"); len(parts) {
	case 5:
		return parts[2] + "/" + parts[3]
	case 4:
		return req.Header.Get("X-Amz-Region-Set") + "/" + parts[2]
	}
	return ""
}

// Where the SDK sends a request whose bucket is an access point ARN, and the region and service it signs for, as
// NewClient configures it: virtual-hosted to NAME-ACCOUNT.s3-accesspoint.REGION.amazonaws.com, or NAME-ACCOUNT in
// front of a custom endpoint's host ("Referencing access points with ARNs, access point aliases, or
// virtual-hosted–style URIs", S3 User Guide; "Using access points"), signed for the ARN's region; S3 on Outposts at
// NAME-ACCOUNT.OUTPOST-ID.s3-outposts.REGION.amazonaws.com, signed for s3-outposts with SigV4A (for any region, "*"),
// which the SDK prefers there. No request leaves the process.
func TestAccessPointRequests(t *testing.T) {
	const (
		ap = "arn:aws:s3:us-west-2:123456789012:accesspoint/myap"
		op = "arn:aws:s3-outposts:us-west-2:123456789012:outpost/op-01ac5d28a6a232904/accesspoint/myap"
	)
	tests := []struct {
		name             string
		region, bucket   string
		endpoint, style  string
		wantURL          string
		wantScope        string
		wantErrSubstring string
	}{
		{name: "AWS", region: "us-west-2", bucket: ap,
			wantURL: "https://myap-123456789012.s3-accesspoint.us-west-2.amazonaws.com/?list-type=2&prefix=data%2F", wantScope: "us-west-2/s3"},
		// auto addressing keeps an access point virtual-hosted on any endpoint (PathStyle).
		{name: "custom endpoint", region: "us-west-2", bucket: ap, endpoint: "http://s3.fsxsync.test:9000",
			wantURL: "http://myap-123456789012.s3.fsxsync.test:9000/?list-type=2&prefix=data%2F", wantScope: "us-west-2/s3"},
		{name: "Outposts", region: "us-west-2", bucket: op,
			wantURL:   "https://myap-123456789012.op-01ac5d28a6a232904.s3-outposts.us-west-2.amazonaws.com/?list-type=2&prefix=data%2F",
			wantScope: "*/s3-outposts"},
		// The SDK's UseARNRegion is false by default: a client configured for another region than the ARN's refuses
		// the request before sending it. cmd/fsxsync therefore gives the client the ARN's region.
		{name: "another region", region: "eu-west-1", bucket: ap, wantErrSubstring: "does not match client region"},
		// S3 takes access point requests virtual-hosted only; the SDK refuses path-style.
		{name: "path-style", region: "us-west-2", bucket: ap, endpoint: "http://s3.fsxsync.test:9000", style: AddressingPath,
			wantErrSubstring: "Path-style addressing cannot be used with ARN buckets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			cfg := aws.Config{Region: tt.region, HTTPClient: rec, RetryMaxAttempts: 1,
				Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")}
			c := NewClient(cfg, ClientOptions{Endpoint: tt.endpoint, AddressingStyle: tt.style, Bucket: tt.bucket})
			_, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(tt.bucket), Prefix: aws.String("data/")})
			if tt.wantErrSubstring != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErrSubstring) || len(rec.reqs) != 0 {
					t.Errorf("got %v after %d requests; want an error containing %q and no request", err, len(rec.reqs), tt.wantErrSubstring)
				}
				return
			}
			if err != nil || len(rec.reqs) != 1 {
				t.Fatalf("got %v after %d requests, want one request", err, len(rec.reqs))
			}
			req := rec.reqs[0]
			if got := req.URL.String(); got != tt.wantURL {
				t.Errorf("URL %s, want %s", got, tt.wantURL)
			}
			if got := signedFor(req); got != tt.wantScope {
				t.Errorf("signed for %s, want %s", got, tt.wantScope)
			}
		})
	}
}
