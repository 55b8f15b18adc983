package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fsxsync/fsxsync/internal/awsproxy"
)

// A directory bucket (S3 Express One Zone, BASE--ZONE-ID--x-s3) authorizes every request through a session that
// CreateSession opens, and IAM checks s3express:CreateSession on the bucket, not the s3: actions ("Authorizing Zonal
// endpoint API operations with CreateSession", S3 User Guide). The SDK asks for the session itself (GET
// /BUCKET?session before the first request); when IAM refuses it, fsxsync's advice names s3express:CreateSession on
// the bucket's s3express ARN.
func TestDirectoryBucketCreateSessionDenied(t *testing.T) {
	f := newKTFixture(t)
	src := filepath.Join(f.dir, "src")
	ktWriteTree(t, src, ktTree{"a.dat": ktRandom(10)})
	proxy, err := awsproxy.Start(f.env.S3Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	proxy.AnswerError(awsproxy.Ops("CreateSession"), http.StatusForbidden, "AccessDenied", "Access Denied", nil)
	const bucket = "scratch--use1-az4--x-s3"
	env := f.environ(bucket, proxy.URL)
	res := f.run(t, env, "sync", src, "s3://"+bucket+"/p")
	const want = "may not s3express:CreateSession on arn:aws:s3express:us-east-1:000000000000:bucket/" + bucket
	if res.code != exitDenied || !strings.Contains(res.stderr, want) {
		t.Errorf("want exit %d naming %q; got %s", exitDenied, want, res)
	}
	sessions := 0
	for _, r := range proxy.Requests() {
		switch {
		case r.Op == "CreateSession":
			sessions++
		case r.Forwarded:
			t.Errorf("%s %s reached the server without a session", r.Method, r.URI)
		}
	}
	if sessions == 0 {
		t.Error("no CreateSession was asked for")
	}
}
