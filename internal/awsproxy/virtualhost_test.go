package awsproxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/fsxsync/fsxsync/internal/s3test"
	"github.com/fsxsync/fsxsync/internal/testenv"
)

// testDomain is the domain of virtual-hosted-style requests in these tests: a name that never resolves, so that only
// the proxy, as a forward proxy, can carry them.
const testDomain = "s3.fsxsync.test"

// An S3 access point reached through the proxy, by the SDK itself. Given an access point ARN as the bucket, the SDK
// sends the request virtual-hosted to NAME-ACCOUNT.ENDPOINT-HOST, signed for the ARN's region ("Referencing access
// points with ARNs, access point aliases, or virtual-hosted–style URIs", S3 User Guide). The client's transport sends
// every request to the proxy as to a forward proxy, which forwards it as it came, Host included; versitygw, started
// with --virtual-domain, serves that host as the bucket myap-123456789012 and verifies the signature. VirtualHosts
// lets the proxy's behaviours see the bucket and the operation.
func TestVirtualHostsAccessPoint(t *testing.T) {
	srv, err := s3test.StartWith(s3test.Options{GatewayArgs: []string{"--virtual-domain", testDomain}})
	if err != nil {
		testenv.Missing(t, "versitygw", err)
	}
	defer srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	const bucket, arn = "myap-123456789012", "arn:aws:s3:us-east-1:123456789012:accesspoint/myap"
	direct := srv.Client()
	if _, err := direct.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	p, err := Start(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.VirtualHosts(testDomain)
	proxyURL, err := url.Parse(p.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := s3.New(s3.Options{
		BaseEndpoint:     aws.String("http://" + testDomain),
		Region:           srv.Region,
		Credentials:      credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, ""),
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}},
	})

	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(arn), Key: aws.String("data/a.txt"),
		Body: strings.NewReader("hello")}); err != nil {
		t.Fatalf("PutObject through the access point: %v", err)
	}
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(arn), Prefix: aws.String("data/")})
	if err != nil || len(list.Contents) != 1 || aws.ToString(list.Contents[0].Key) != "data/a.txt" {
		t.Fatalf("ListObjectsV2 through the access point: %+v, %v", list, err)
	}
	// The object is in the bucket behind the access point, by its own name.
	get, err := direct.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("data/a.txt")})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(get.Body)
	get.Body.Close()
	if string(body) != "hello" {
		t.Errorf("the bucket holds %q", body)
	}

	var ops []string
	for _, r := range p.Requests() {
		ops = append(ops, r.Op)
		if want := "http://" + bucket + "." + testDomain + "/"; !strings.HasPrefix(r.URI, want) {
			t.Errorf("request %s %s: want an absolute-form request to %s...", r.Method, r.URI, want)
		}
	}
	if strings.Join(ops, " ") != "PutObject ListObjectsV2" {
		t.Errorf("the proxy saw %v, want PutObject ListObjectsV2", ops)
	}

	// A behaviour keyed on the operation answers virtual-hosted requests too.
	p.AnswerError(Ops("PutObject"), http.StatusForbidden, "AccessDenied", "Access Denied", nil)
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(arn), Key: aws.String("data/b.txt"), Body: strings.NewReader("b")})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "AccessDenied" {
		t.Errorf("PutObject with AnswerError: %v, want AccessDenied", err)
	}
}

// Host names that are not BUCKET.domain stay path-style.
func TestPathStyleView(t *testing.T) {
	tests := []struct{ host, path, want string }{
		{"myap-123456789012.s3.fsxsync.test", "/data/a.txt", "/myap-123456789012/data/a.txt"},
		{"myap-123456789012.s3.fsxsync.test:80", "/", "/myap-123456789012/"},
		{"s3.fsxsync.test", "/b/k", "/b/k"},
		{"127.0.0.1:9000", "/b/k", "/b/k"},
		{"other.example", "/b/k", "/b/k"},
	}
	for _, tt := range tests {
		r, err := http.NewRequest(http.MethodGet, "http://"+tt.host+tt.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := pathStyle(r, testDomain).URL.Path; got != tt.want {
			t.Errorf("pathStyle(%s%s) = %s, want %s", tt.host, tt.path, got, tt.want)
		}
		if r.URL.Path != tt.path {
			t.Errorf("pathStyle changed the request itself: %s", r.URL.Path)
		}
	}
}
