package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/fsxsync/fsxsync/internal/awsproxy"
)

// A bucket in another region than the one configured: S3 answers every request signed for the wrong region with 301
// PermanentRedirect and the bucket's region in x-amz-bucket-region, which HeadBucket gives too (S3 API Reference:
// HeadBucket; "Error responses"). The proxy answers so for requests signed for eu-west-1, where versitygw's bucket
// is in us-east-1. fsxsync moves every client to the bucket's region once, says so in one line, and the transfer
// works, with the preflight and without it.
func TestBucketInAnotherRegion(t *testing.T) {
	f := newKTFixture(t)
	src := filepath.Join(f.dir, "src")
	ktWriteTree(t, src, ktTree{"a.txt": []byte("a"), "d/b.txt": []byte("b")})
	proxy, err := awsproxy.Start(f.env.S3Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	proxy.WrongRegion(f.env.Region)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"preflight", nil},
		{"no preflight", []string{"--no-preflight"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bucket := f.env.NewBucket(t)
			// The local STS checks that requests are signed for its own region, as a regional STS endpoint does; the
			// eu-west-1 endpoint STS would have is not here, so it is left out of reach, which the preflight allows
			// for (the identity is then not verified, and the probes decide).
			noSTS := awsproxy.Refusing(t)
			env := append(f.environ(bucket, proxy.URL), "AWS_REGION=eu-west-1", "AWS_ENDPOINT_URL_STS="+noSTS, "AWS_ENDPOINT_URL_IAM="+noSTS)
			args := append(append([]string{"sync"}, tc.args...), src, "s3://"+bucket+"/p")
			res := f.run(t, env, args...)
			if res.code != exitOK {
				t.Fatalf("want exit 0; got %s", res)
			}
			if n := strings.Count(res.stderr, "is in "+f.env.Region+", not eu-west-1: using "+f.env.Region); n != 1 {
				t.Errorf("%d lines say the region moved, want 1:\n%s", n, res.stderr)
			}
			if n := countKeys(t, f.s3, bucket, "p/"); n != 2 {
				t.Errorf("%d objects stored, want 2", n)
			}
		})
	}
}
