package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fsxsync/fsxsync/internal/awsproxy"
)

// sseKey is the KMS key the tests' bucket policy requires, as its ARN.
const sseKey = "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"

// sseTree is an upload with a file of two 5 MiB parts, small files, and an empty directory (a marker object): every
// way fsxsync creates an object (PutObject from a buffer, PutObject streamed, a multipart upload, a marker).
func sseTree(t *testing.T, root string) {
	t.Helper()
	ktWriteTree(t, root, ktTree{"big.dat": ktRandom(6 << 20), "mid.dat": ktRandom(300 << 10), "a/small.dat": ktRandom(400)})
	if err := os.Mkdir(filepath.Join(root, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
}

// sseCreates returns the forwarded requests that create an object or an upload (PutObject, CreateMultipartUpload) among
// reqs, by operation.
func sseCreates(reqs []awsproxy.Request) map[string][]awsproxy.Request {
	out := map[string][]awsproxy.Request{}
	for _, r := range reqs {
		if r.Forwarded && (r.Op == "PutObject" || r.Op == "CreateMultipartUpload") {
			out[r.Op] = append(out[r.Op], r)
		}
	}
	return out
}

// A bucket policy that denies uploads without server-side encryption under one key (S3 User Guide, "Using
// server-side encryption with AWS KMS keys (SSE-KMS)"; internal/awsproxy's RequireSSE). Without --sse the preflight's
// upload probe meets the explicit deny: the run stops before the first byte with exit 3 naming s3:PutObject and
// saying which flags the policy may want. With --sse aws:kms --sse-kms-key-id KEY --bucket-key every PutObject and
// CreateMultipartUpload, the preflight's probes included, carries the three headers; UploadPart, GetObject and
// HeadObject carry none (S3 refuses SSE-KMS headers on a GET); the preflight proves both KMS permissions on the key
// and check passes. cp and plan/run take the flags too.
func TestSSERequiredByBucketPolicy(t *testing.T) {
	f, proxy, env, bucket := forbiddenFixture(t)
	proxy.RequireSSE("aws:kms", sseKey)
	src := filepath.Join(f.dir, "sse-src")
	sseTree(t, src)
	dst := "s3://" + bucket + "/sse"
	flags := []string{"--sse", "aws:kms", "--sse-kms-key-id", sseKey, "--bucket-key", "--part-size", "5MiB"}

	res := f.run(t, env, "sync", src, dst)
	if res.code != exitDenied || !strings.Contains(res.stderr, "may not s3:PutObject on arn:aws:s3:::"+bucket+"/sse/*") ||
		!strings.Contains(res.stderr, "with an explicit deny in a resource-based policy") ||
		!strings.Contains(res.stderr, "--sse aws:kms with --sse-kms-key-id KEY") {
		t.Errorf("without --sse: want exit %d naming s3:PutObject, the explicit deny and the flags; got %s", exitDenied, res)
	}
	if res.took > 10*time.Second {
		t.Errorf("without --sse: the preflight took %v to refuse", res.took)
	}
	if n := countKeys(t, f.s3, bucket, "sse/"); n != 0 {
		t.Errorf("without --sse: %d objects stored, want none", n)
	}

	res = f.run(t, env, append(append([]string{"check"}, flags...), src, dst)...)
	if res.code != exitOK || !strings.Contains(res.stdout+res.stderr, "kms:GenerateDataKey on "+sseKey) ||
		!strings.Contains(res.stdout+res.stderr, "kms:Decrypt on "+sseKey) {
		t.Errorf("check with --sse: want exit 0 with both KMS permissions proven on the key; got %s", res)
	}

	before := len(proxy.Requests())
	res = f.run(t, env, append(append([]string{"sync"}, flags...), src, dst)...)
	if res.code != exitOK {
		t.Fatalf("with --sse aws:kms: want exit 0; got %s", res)
	}
	if n := countKeys(t, f.s3, bucket, "sse/"); n != 4 {
		t.Errorf("%d objects stored, want 4 (three files and the empty directory's marker)", n)
	}
	if open := ktOpenUploads(t, f.s3, bucket, "sse/"); len(open) != 0 {
		t.Errorf("multipart uploads left open: %v", open)
	}
	sent := proxy.Requests()[before:]
	creates := sseCreates(sent)
	bigCreated := false
	for _, r := range append(creates["PutObject"], creates["CreateMultipartUpload"]...) {
		if r.SSE.Get("X-Amz-Server-Side-Encryption") != "aws:kms" || r.SSE.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id") != sseKey ||
			r.SSE.Get("X-Amz-Server-Side-Encryption-Bucket-Key-Enabled") != "true" {
			t.Errorf("%s %s was sent with encryption headers %v", r.Op, r.URI, r.SSE)
		}
		bigCreated = bigCreated || r.Op == "CreateMultipartUpload" && strings.Contains(r.URI, "/sse/big.dat?")
	}
	if !bigCreated || len(creates["PutObject"]) < 3 {
		t.Errorf("want a multipart upload of big.dat and PutObjects of the rest; got %d CreateMultipartUpload, %d PutObject",
			len(creates["CreateMultipartUpload"]), len(creates["PutObject"]))
	}
	for _, r := range sent {
		if r.Op == "UploadPart" && r.SSE != nil {
			t.Errorf("UploadPart %s carries encryption headers %v", r.URI, r.SSE)
		}
	}

	// A download with the same flags sends no encryption header: S3 refuses them on a GET of an SSE-KMS object.
	before = len(proxy.Requests())
	down := filepath.Join(f.dir, "sse-down")
	if res := f.run(t, env, append(append([]string{"sync"}, flags...), dst, down)...); res.code != exitOK {
		t.Errorf("download with --sse: want exit 0; got %s", res)
	}
	gets := 0
	for _, r := range proxy.Requests()[before:] {
		if r.Op == "GetObject" || r.Op == "HeadObject" {
			gets++
			if r.SSE != nil {
				t.Errorf("%s %s carries encryption headers %v", r.Op, r.URI, r.SSE)
			}
		}
	}
	if got, err := os.ReadFile(filepath.Join(down, "big.dat")); err != nil || len(got) != 6<<20 || gets == 0 {
		t.Errorf("download: big.dat %d bytes, %v; %d GETs", len(got), err, gets)
	}

	// cp of one file, and plan then run, carry the flags too: plan records them, run refuses other flags and uses the
	// plan's when given none.
	if res := f.run(t, env, append(append([]string{"cp"}, flags...), filepath.Join(src, "big.dat"), dst+"/cp/")...); res.code != exitOK {
		t.Errorf("cp with --sse: want exit 0; got %s", res)
	}
	planDir := filepath.Join(f.dir, "sse-plan")
	if res := f.run(t, env, append(append([]string{"plan", "--shards", "1", "--out", planDir}, flags...), src, dst+"/planned")...); res.code != exitOK {
		t.Fatalf("plan with --sse: want exit 0; got %s", res)
	}
	if res := f.run(t, env, "run", "--shard", "0/1", "--sse", "AES256", planDir); res.code != exitUsage ||
		!strings.Contains(res.stderr, "was made with --sse aws:kms --sse-kms-key-id "+sseKey+" --bucket-key; run was given --sse AES256") {
		t.Errorf("run with other --sse flags: want exit %d naming both; got %s", exitUsage, res)
	}
	before = len(proxy.Requests())
	if res := f.run(t, env, "run", "--shard", "0/1", "--part-size", "5MiB", planDir); res.code != exitOK {
		t.Errorf("run without --sse flags, after a plan with them: want exit 0 (the plan's flags); got %s", res)
	}
	if creates := sseCreates(proxy.Requests()[before:]); len(creates["CreateMultipartUpload"]) == 0 || len(creates["PutObject"]) == 0 {
		t.Errorf("run sent %d CreateMultipartUpload and %d PutObject", len(creates["CreateMultipartUpload"]), len(creates["PutObject"]))
	}
	if n := countKeys(t, f.s3, bucket, "sse/planned/"); n != 4 {
		t.Errorf("run stored %d objects, want 4", n)
	}
	if res := f.run(t, env, append(append([]string{"run", "--shard", "0/1"}, flags...), planDir)...); res.code != exitOK {
		t.Errorf("run with the plan's own --sse flags: want exit 0; got %s", res)
	}
}

// A KMS refusal of the key --sse-kms-key-id names: S3 allows the PUT, then the key refuses kms:GenerateDataKey, an
// AccessDenied whose message names the action and the key's ARN (S3 API Reference, PutObject and
// CreateMultipartUpload: "Multipart upload and permissions"). The preflight names the key as it was given (here an
// alias, which only KMS could turn into an ARN; S3's own words, quoted beside it, name the ARN) and proves
// s3:PutObject rather than blame it.
func TestSSEKMSRefusalNamesTheKeyGiven(t *testing.T) {
	f, proxy, env, bucket := forbiddenFixture(t)
	proxy.AnswerError(awsproxy.Ops("PutObject", "CreateMultipartUpload"), http.StatusForbidden, "AccessDenied",
		"User: arn:aws:iam::000000000000:root is not authorized to perform: kms:GenerateDataKey on resource: "+sseKey+
			" because no identity-based policy allows the kms:GenerateDataKey action", nil)
	src := filepath.Join(f.dir, "sse-src")
	sseTree(t, src)
	res := f.run(t, env, "sync", "--sse", "aws:kms", "--sse-kms-key-id", "alias/results", src, "s3://"+bucket+"/sse")
	if res.code != exitDenied || !strings.Contains(res.stderr, "may not kms:GenerateDataKey on alias/results [probed: AccessDenied") ||
		!strings.Contains(res.stderr, "kms:GenerateDataKey on resource: "+sseKey) {
		t.Errorf("want exit %d naming kms:GenerateDataKey on alias/results; got %s", exitDenied, res)
	}
	if strings.Contains(res.stderr, "may not s3:PutObject") {
		t.Errorf("s3:PutObject is blamed for the key's refusal:\n%s", res.stderr)
	}
	if n := countKeys(t, f.s3, bucket, "sse/"); n != 0 {
		t.Errorf("%d objects stored, want none", n)
	}

	// --sse aws:kms without a key id: the key is the AWS managed aws/s3, named by its alias.
	res = f.run(t, env, "sync", "--sse", "aws:kms", src, "s3://"+bucket+"/sse")
	if res.code != exitDenied || !strings.Contains(res.stderr, "may not kms:GenerateDataKey on alias/aws/s3") {
		t.Errorf("--sse aws:kms without a key id: want exit %d naming alias/aws/s3; got %s", exitDenied, res)
	}
}

// Combinations S3 would refuse for every file, or that do not mean what they say, are usage errors (exit 2) naming
// the flag, before any request.
func TestSSEBadFlags(t *testing.T) {
	f, proxy, env, bucket := forbiddenFixture(t)
	src := filepath.Join(f.dir, "seed")
	dst := "s3://" + bucket + "/sse"
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--sse", "AES256", "--sse-kms-key-id", sseKey}, "--sse-kms-key-id " + sseKey + " needs --sse aws:kms"},
		{[]string{"--sse-kms-key-id", sseKey}, "--sse-kms-key-id " + sseKey + " needs --sse aws:kms"},
		{[]string{"--sse", "bogus"}, `--sse "bogus": give AES256, aws:kms or aws:kms:dsse`},
		{[]string{"--sse", "aws:kms:dsse", "--bucket-key"}, "S3 does not support S3 Bucket Keys with DSSE-KMS"},
		{[]string{"--bucket-key"}, "--bucket-key needs --sse aws:kms"},
		{[]string{"--sse", "aws:kms", "--sse-kms-key-id", ""}, "--sse-kms-key-id is empty"},
		// aws-cli's bare --sse: here it takes SRC as its value.
		{[]string{"--sse"}, `is written --sse AES256 here`},
	} {
		before := len(proxy.Requests())
		res := f.run(t, env, append(append([]string{"sync"}, c.args...), src, dst)...)
		if res.code != exitUsage || !strings.Contains(res.stderr, c.want) {
			t.Errorf("sync %s: want exit %d saying %q; got %s", strings.Join(c.args, " "), exitUsage, c.want, res)
		}
		if n := len(proxy.Requests()) - before; n != 0 {
			t.Errorf("sync %s sent %d requests", strings.Join(c.args, " "), n)
		}
	}
}
