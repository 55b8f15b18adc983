package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/fsxsync/fsxsync/internal/awsproxy"
	"github.com/fsxsync/fsxsync/internal/s3test"
	"github.com/fsxsync/fsxsync/internal/testenv"
)

// apDomain is the S3 endpoint's host name in the access point tests: a name that never resolves, so that every S3
// request must go through the proxy.
const apDomain = "s3.fsxsync.test"

// An access point ARN as the bucket, end to end through the built binary (S3 User Guide, "Using access points";
// "Referencing access points with ARNs, access point aliases, or virtual-hosted–style URIs").
//
// The SDK sends the requests for arn:aws:s3:us-east-1:123456789012:accesspoint/myap virtual-hosted to
// myap-123456789012.<endpoint host>, signed for the ARN's region. Nothing local resolves such a name, so fsxsync
// runs with HTTP_PROXY set to the AWS-behaviours proxy, which Go's transport (http.ProxyFromEnvironment, kept by
// s3store's client) then sends every S3 request to, in absolute form; STS, on 127.0.0.1, is never proxied. The proxy
// forwards each request as it came, Host included, to a versitygw started with --virtual-domain, which serves that
// host as its bucket myap-123456789012 and verifies the signature. The configured region is eu-west-1 and the proxy
// answers requests signed for any region but us-east-1 with 301 PermanentRedirect, as S3 does: the ARN's region must
// win, without a HeadBucket to learn it.
func TestAccessPointSync(t *testing.T) {
	f, proxy, env := accessPointFixture(t)
	const target = "s3://" + apTestARN + "/data/"
	src, down := filepath.Join(f.dir, "src"), filepath.Join(f.dir, "down")
	tree := ktTree{"a.txt": []byte("a"), "d/b.txt": []byte("bb"), "big.bin": ktRandom(6 << 20)}
	ktWriteTree(t, src, tree)
	report := filepath.Join(f.dir, "report.json")

	res := f.run(t, env, "sync", "--part-size", "5MiB", src, target)
	if res.code != exitOK {
		t.Fatalf("sync up: %s", res)
	}
	if n := strings.Count(res.stderr, "access point myap is in us-east-1: using us-east-1, not eu-west-1"); n != 1 {
		t.Errorf("%d lines say the region, want 1:\n%s", n, res.stderr)
	}
	objs := ktObjects(t, f.s3, apTestBucket, "data/")
	if len(objs) != len(tree) {
		t.Errorf("the bucket behind the access point holds %d objects under data/, want %d", len(objs), len(tree))
	}
	for k, want := range tree {
		if !bytes.Equal(objs[k], want) {
			t.Errorf("object data/%s differs from the file", k)
		}
	}
	for _, r := range proxy.Requests() {
		if r.Status == http.StatusMovedPermanently {
			t.Errorf("%s %s was signed for the wrong region", r.Method, r.URI)
		}
	}

	res = f.run(t, env, "sync", "--report", report, src, target)
	if rep := readReport(t, report); res.code != exitOK || rep.Transferred.Files != 0 || rep.Skipped.Files != int64(len(tree)) {
		t.Errorf("second sync up: want nothing transferred; got report %+v, %s", rep, res)
	}

	res = f.run(t, env, "sync", target, down)
	if res.code != exitOK {
		t.Fatalf("sync down: %s", res)
	}
	for k, want := range tree {
		if got, err := os.ReadFile(filepath.Join(down, filepath.FromSlash(k))); err != nil || !bytes.Equal(got, want) {
			t.Errorf("downloaded %s differs (%v)", k, err)
		}
	}
	res = f.run(t, env, "sync", "--report", report, target, down)
	if rep := readReport(t, report); res.code != exitOK || rep.Transferred.Files != 0 {
		t.Errorf("second sync down: want nothing transferred; got report %+v, %s", rep, res)
	}

	// Without the preflight no HeadBucket is asked for the region either: the ARN names it.
	n := len(proxy.Requests())
	ktWriteTree(t, src, ktTree{"c.txt": []byte("c")})
	if res := f.run(t, env, "sync", "--no-preflight", src, target); res.code != exitOK {
		t.Errorf("sync --no-preflight: %s", res)
	}
	for _, r := range proxy.Requests()[n:] {
		if r.Op == "HeadBucket" {
			t.Errorf("--no-preflight asked HeadBucket: %s %s", r.Method, r.URI)
		}
	}
}

// A refusal through an access point is named in the access point's form: the preflight's upload probe is refused
// (403 AccessDenied on PutObject and CreateMultipartUpload), and the denial names s3:PutObject on
// ARN/object/data/*, the resource a policy must grant ("Configuring IAM policies for using access points"), and says
// that the access point's policy and its bucket's must allow it too. Nothing is transferred.
func TestAccessPointDenied(t *testing.T) {
	f, proxy, env := accessPointFixture(t)
	src := filepath.Join(f.dir, "src")
	ktWriteTree(t, src, ktTree{"a.txt": []byte("a")})
	proxy.AnswerError(awsproxy.Ops("PutObject", "CreateMultipartUpload"), http.StatusForbidden, "AccessDenied", "Access Denied", nil)
	res := f.run(t, env, "sync", src, "s3://"+apTestARN+"/data/")
	if res.code != exitDenied {
		t.Fatalf("want exit %d; got %s", exitDenied, res)
	}
	for _, want := range []string{
		"s3:PutObject on " + apTestARN + "/object/data/*",
		"The access point's own policy and the policy of the bucket behind it must allow the same actions",
	} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
		}
	}
	if strings.Contains(res.stderr, "arn:aws:s3:::") {
		t.Errorf("the denial names a bucket ARN:\n%s", res.stderr)
	}
	if n := countKeys(t, f.s3, apTestBucket, "data/"); n != 0 {
		t.Errorf("%d objects were stored, want none", n)
	}
}

// A malformed access point ARN is bad input (exit 2) naming what is wrong, before any request; --addressing-style
// path cannot reach an access point.
func TestAccessPointBadInput(t *testing.T) {
	f, proxy, env := accessPointFixture(t)
	src := filepath.Join(f.dir, "src")
	ktWriteTree(t, src, ktTree{"a.txt": []byte("a")})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"s3://arn:aws:s3:us-east-1:1234:accesspoint/myap/data/"}, `account ID "1234" is not 12 digits`},
		{[]string{"s3://arn:aws:s3:us-east-1:123456789012:accesspoint/"}, "the access point name is missing"},
		{[]string{"s3://arn:aws:sqs:us-east-1:123456789012:accesspoint/myap/"}, `service "sqs" is not s3`},
		{[]string{"--addressing-style", "path", "s3://" + apTestARN + "/data/"}, "--addressing-style path cannot reach access point"},
	} {
		args := append([]string{"sync"}, tc.args[:len(tc.args)-1]...)
		args = append(args, src, tc.args[len(tc.args)-1])
		res := f.run(t, env, args...)
		if res.code != exitUsage || !strings.Contains(res.stderr, tc.want) {
			t.Errorf("%v: want exit %d naming %q; got %s", tc.args, exitUsage, tc.want, res)
		}
	}
	if n := len(proxy.Requests()); n != 0 {
		t.Errorf("bad input sent %d requests", n)
	}
}

// The access point of these tests, and the versitygw bucket that serves its host name, NAME-ACCOUNT.
const (
	apTestARN    = "arn:aws:s3:us-east-1:123456789012:accesspoint/myap"
	apTestBucket = "myap-123456789012"
)

// accessPointFixture starts a versitygw that serves virtual-hosted requests for apDomain, with the bucket behind the
// access point, the AWS-behaviours proxy in front of it (virtual hosts understood, requests signed for another region
// than us-east-1 answered 301), and the environment of an fsxsync run that reaches S3 only through the proxy.
func accessPointFixture(t *testing.T) (*ktFixture, *awsproxy.Proxy, []string) {
	t.Helper()
	srv, err := s3test.StartWith(s3test.Options{GatewayArgs: []string{"--virtual-domain", apDomain}})
	if err != nil {
		testenv.Missing(t, "versitygw", err)
	}
	t.Cleanup(srv.Stop)
	c := srv.Client()
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(apTestBucket)}); err != nil {
		t.Fatal(err)
	}
	proxy, err := awsproxy.Start(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	proxy.VirtualHosts(apDomain)
	proxy.WrongRegion(srv.Region)
	f := &ktFixture{bin: fsxsyncBinary(t), s3: c, dir: t.TempDir()}
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "AWS_") || strings.HasPrefix(name, "FSXSYNC") || strings.HasPrefix(name, "SLURM_") ||
			strings.HasSuffix(strings.ToUpper(name), "_PROXY") {
			continue
		}
		env = append(env, kv)
	}
	// STS has no local stand-in here: it refuses, and the preflight goes on with the identity unverified.
	noSTS := awsproxy.Refusing(t)
	env = append(env, "HTTP_PROXY="+proxy.URL, "AWS_ENDPOINT_URL_S3=http://"+apDomain,
		"AWS_ENDPOINT_URL_STS="+noSTS, "AWS_ENDPOINT_URL_IAM="+noSTS,
		"AWS_ACCESS_KEY_ID="+srv.AccessKey, "AWS_SECRET_ACCESS_KEY="+srv.SecretKey, "AWS_REGION=eu-west-1",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"FSXSYNC_STATE_DIR="+filepath.Join(f.dir, "state"))
	return f, proxy, env
}
