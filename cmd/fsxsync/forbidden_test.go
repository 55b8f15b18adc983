package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fsxsync/fsxsync/internal/awsproxy"
)

// forbiddenFixture is a bucket with objects under p/, reached through the AWS-behaviours proxy.
func forbiddenFixture(t *testing.T) (*ktFixture, *awsproxy.Proxy, []string, string) {
	t.Helper()
	f := newKTFixture(t)
	src := filepath.Join(f.dir, "seed")
	ktWriteTree(t, src, ktTree{"a-old.dat": ktRandom(400), "b.dat": ktRandom(400), "c.dat": ktRandom(400)})
	bucket := f.env.NewBucket(t)
	if res := f.run(t, f.environ(bucket, f.env.S3Endpoint), "sync", src, "s3://"+bucket+"/p"); res.code != 0 {
		t.Fatalf("seeding the bucket: %s", res)
	}
	proxy, err := awsproxy.Start(f.env.S3Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	return f, proxy, f.environ(bucket, proxy.URL), bucket
}

// A 403 is a denial only when it is one. An archived object answers every GET with 403 InvalidObjectState until it
// is restored (S3 API Reference: GetObject; "Error responses"), whoever asks: the preflight's read probe, which reads
// the first listed object, must not take that for a missing s3:GetObject and stop the run with exit 3. It proves the
// permission with a HEAD instead, and the run goes on: the archived object is skipped alone, with a warning, and the
// run exits 6 (archived objects not downloaded) rather than 1 (see TestArchivedObjectsStageIn).
func TestArchivedObjectIsNotADenial(t *testing.T) {
	f, proxy, env, bucket := forbiddenFixture(t)
	proxy.Archive("GLACIER", "p/a-old.dat")
	dst := filepath.Join(f.dir, "down")
	res := f.run(t, env, "check", "s3://"+bucket+"/p", dst)
	if res.code != exitOK || !strings.Contains(res.stderr, "which is archived") {
		t.Errorf("check: want exit 0 with GetObject proven by a HEAD of the archived object; got %s", res)
	}
	res = f.run(t, env, "sync", "s3://"+bucket+"/p", dst)
	if res.code != exitArchived || !strings.Contains(res.stderr, "key=a-old.dat storage_class=GLACIER") {
		t.Errorf("sync: want exit %d with the archived object skipped alone; got %s", exitArchived, res)
	}
	for _, name := range []string{"b.dat", "c.dat"} {
		if _, err := os.Stat(filepath.Join(dst, name)); err != nil {
			t.Errorf("%s was not downloaded: %v", name, err)
		}
	}
	// An upload never reads the archived object's bytes: nothing to stop it.
	up := filepath.Join(f.dir, "up")
	ktWriteTree(t, up, ktTree{"new.dat": []byte("new")})
	if res := f.run(t, env, "sync", up, "s3://"+bucket+"/p"); res.code != exitOK {
		t.Errorf("upload next to an archived object: %s", res)
	}
}

// A 403 whose code is not a refusal of permission is not counted as one: the row is not checked, in S3's own words,
// and check exits 5 (not proven), not 3 (denied).
func TestForbiddenWithItsOwnCode(t *testing.T) {
	f, proxy, env, bucket := forbiddenFixture(t)
	proxy.AnswerError(awsproxy.Ops("PutObject", "CreateMultipartUpload"), http.StatusForbidden, "InvalidPayer",
		"All access to this object has been disabled", nil)
	res := f.run(t, env, "check", filepath.Join(f.dir, "seed"), "s3://"+bucket+"/p")
	if res.code != exitUnproven || !strings.Contains(res.stderr, "InvalidPayer") || strings.Contains(res.stderr, "DENIED") {
		t.Errorf("want exit %d, the row not checked in S3's words, nothing DENIED; got %s", exitUnproven, res)
	}
}

// SSE-KMS: S3 authorizes a PUT, then needs the bucket's KMS key, whose refusal comes back as 403 AccessDenied naming
// the kms: action and the key (S3 API Reference, CreateMultipartUpload and PutObject: "Multipart upload and
// permissions"; "Error responses"). The preflight names that action and key as what is missing, and proves the S3
// permission, rather than blame s3:PutObject.
func TestKMSRefusalNamesTheKey(t *testing.T) {
	f, proxy, env, bucket := forbiddenFixture(t)
	const key = "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	proxy.AnswerError(awsproxy.Ops("PutObject", "CreateMultipartUpload"), http.StatusForbidden, "AccessDenied",
		"User: arn:aws:iam::000000000000:root is not authorized to perform: kms:GenerateDataKey on resource: "+key+
			" because no identity-based policy allows the kms:GenerateDataKey action", nil)
	res := f.run(t, env, "sync", filepath.Join(f.dir, "seed"), "s3://"+bucket+"/kms")
	if res.code != exitDenied {
		t.Fatalf("want exit %d; got %s", exitDenied, res)
	}
	if !strings.Contains(res.stderr, "may not kms:GenerateDataKey on "+key) {
		t.Errorf("the denial does not name kms:GenerateDataKey on the key:\n%s", res.stderr)
	}
	if strings.Contains(res.stderr, "may not s3:PutObject") {
		t.Errorf("s3:PutObject is blamed for the key's refusal:\n%s", res.stderr)
	}
}

// SSE-KMS default encryption (GetBucketEncryption names the key; S3 API Reference: GetBucketEncryption): the
// preflight proves both KMS permissions an upload needs before the first byte. kms:GenerateDataKey by the multipart
// upload it starts, kms:Decrypt by completing a one-part multipart upload, which S3 can only do by decrypting the data
// key (S3 API Reference, CreateMultipartUpload: "Multipart upload and permissions"), and removing it again. A role
// with GenerateDataKey but not Decrypt used to pass, and then every multipart file failed; now the run stops with
// exit 3 naming kms:Decrypt and the key. An identity that may not delete the probe object leaves the row not checked
// (exit 5 from check) rather than leave an object behind.
func TestKMSDecryptProvenBeforeTheFirstByte(t *testing.T) {
	f, proxy, env, bucket := forbiddenFixture(t)
	const key = "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	proxy.DefaultKMSKey(key)
	src := filepath.Join(f.dir, "seed")
	dst := "s3://" + bucket + "/kms"

	res := f.run(t, env, "check", src, dst)
	if res.code != exitOK || !strings.Contains(res.stderr, "kms:Decrypt on "+key) ||
		!strings.Contains(res.stderr, "completed a one-part multipart upload under the key") {
		t.Errorf("check: want exit 0 with kms:Decrypt proven by a completed upload; got %s", res)
	}
	if n := countKeys(t, f.s3, bucket, "kms/"); n != 0 {
		t.Errorf("the probes left %d objects", n)
	}

	proxy.AnswerError(awsproxy.Ops("CompleteMultipartUpload"), http.StatusForbidden, "AccessDenied",
		"User: arn:aws:iam::000000000000:root is not authorized to perform: kms:Decrypt on resource: "+key+
			" because no identity-based policy allows the kms:Decrypt action", nil)
	res = f.run(t, env, "sync", src, dst)
	if res.code != exitDenied || !strings.Contains(res.stderr, "may not kms:Decrypt on "+key) {
		t.Errorf("sync: want exit %d naming kms:Decrypt on the key; got %s", exitDenied, res)
	}
	if n := countKeys(t, f.s3, bucket, "kms/"); n != 0 {
		t.Errorf("%d objects were stored, want none", n)
	}
	if open := ktOpenUploads(t, f.s3, bucket, "kms/"); len(open) != 0 {
		t.Errorf("the probes left multipart uploads open: %v", open)
	}

	// No s3:DeleteObject: the probe would leave its object, so it is not made.
	ak, sk := f.env.NewUser(t, "nodelete-"+bucket[len(bucket)-8:], `{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Action": ["s3:ListBucket", "s3:ListBucketMultipartUploads"], "Resource": "arn:aws:s3:::`+bucket+`"},
		{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"], "Resource": "arn:aws:s3:::`+bucket+`/*"}]}`)
	res = f.run(t, append(env, "AWS_ACCESS_KEY_ID="+ak, "AWS_SECRET_ACCESS_KEY="+sk), "check", src, dst)
	if res.code != exitUnproven || !strings.Contains(res.stderr, "whose object this identity may not delete") {
		t.Errorf("check without s3:DeleteObject: want exit %d with kms:Decrypt not checked; got %s", exitUnproven, res)
	}
}

// A Requester Pays bucket refuses every request of another account that does not confirm payment with
// x-amz-request-payer: requester, with a plain AccessDenied (S3 User Guide, "Requester Pays buckets"). Without
// --request-payer the preflight stops the run and says which flag to add; with it every request carries the header
// and the sync works.
func TestRequesterPays(t *testing.T) {
	f, proxy, env, bucket := forbiddenFixture(t)
	proxy.RequirePayer()
	src := filepath.Join(f.dir, "seed")
	res := f.run(t, env, "sync", src, "s3://"+bucket+"/rp")
	if res.code != exitDenied || !strings.Contains(res.stderr, "add --request-payer requester") {
		t.Errorf("without --request-payer: want exit %d naming the flag; got %s", exitDenied, res)
	}
	res = f.run(t, env, "sync", "--request-payer", "requester", src, "s3://"+bucket+"/rp")
	if res.code != exitOK {
		t.Errorf("with --request-payer requester: want exit 0; got %s", res)
	}
	if n := countKeys(t, f.s3, bucket, "rp/"); n != 3 {
		t.Errorf("%d objects stored, want 3", n)
	}
	down := filepath.Join(f.dir, "rp-down")
	if res := f.run(t, env, "sync", "--request-payer", "requester", "s3://"+bucket+"/rp", down); res.code != exitOK {
		t.Errorf("download with --request-payer requester: want exit 0; got %s", res)
	}
	if got, _ := os.ReadDir(down); len(got) != 3 {
		t.Errorf("downloaded %d files, want 3", len(got))
	}
	res = f.run(t, env, "sync", "--request-payer", "owner", src, "s3://"+bucket+"/rp")
	if res.code != exitUsage || !strings.Contains(res.stderr, "the only value is requester") {
		t.Errorf("--request-payer owner: want exit %d; got %s", exitUsage, res)
	}
}
