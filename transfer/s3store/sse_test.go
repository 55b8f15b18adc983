package s3store

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/fsxsync/fsxsync/transfer"
)

// The flags --sse, --sse-kms-key-id and --bucket-key are checked together: what S3 would refuse (a key id without
// KMS, a Bucket Key with DSSE-KMS) or what does not say what it means (a bare --sse swallowing the next argument) is
// a usage error naming the flag; what is valid becomes the headers of PutObject and CreateMultipartUpload.
func TestParseEncryption(t *testing.T) {
	const arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	ok := []struct {
		alg, key  string
		bucketKey bool
		kmsKey    string // what the preflight names
	}{
		{"", "", false, ""},
		{"AES256", "", false, ""},
		{"aws:kms", "", false, "alias/aws/s3"},
		{"aws:kms", arn, true, arn},
		{"aws:kms", "alias/my-key", false, "alias/my-key"},
		{"aws:kms:dsse", "1234abcd-12ab-34cd-56ef-1234567890ab", false, "1234abcd-12ab-34cd-56ef-1234567890ab"},
	}
	for _, c := range ok {
		e, err := ParseEncryption(c.alg, c.key, c.bucketKey)
		if err != nil {
			t.Errorf("%q %q %v: %v", c.alg, c.key, c.bucketKey, err)
			continue
		}
		if got := e.KMSKey(); got != c.kmsKey {
			t.Errorf("%q %q: KMSKey %q, want %q", c.alg, c.key, got, c.kmsKey)
		}
		put := &s3.PutObjectInput{}
		e.OnPut(put)
		create := &s3.CreateMultipartUploadInput{}
		e.OnCreate(create)
		for _, h := range []struct {
			alg, key string
			bk       bool
		}{{string(put.ServerSideEncryption), aws.ToString(put.SSEKMSKeyId), aws.ToBool(put.BucketKeyEnabled)},
			{string(create.ServerSideEncryption), aws.ToString(create.SSEKMSKeyId), aws.ToBool(create.BucketKeyEnabled)}} {
			if h.alg != c.alg || h.key != c.key || h.bk != c.bucketKey {
				t.Errorf("%q %q %v: headers %q %q %v", c.alg, c.key, c.bucketKey, h.alg, h.key, h.bk)
			}
		}
		// A header that was not asked for is not sent at all, not even empty or false.
		if c.key == "" && put.SSEKMSKeyId != nil || !c.bucketKey && put.BucketKeyEnabled != nil {
			t.Errorf("%q %q %v: a key id or Bucket Key header is sent that was not asked for", c.alg, c.key, c.bucketKey)
		}
	}

	bad := []struct {
		alg, key  string
		bucketKey bool
		want      string
	}{
		{"aes256", "", false, `--sse "aes256": give AES256, aws:kms or aws:kms:dsse`},
		{"./results", "", false, "--sse AES256 here"},
		{"AES256", arn, false, "--sse-kms-key-id " + arn + " needs --sse aws:kms"},
		{"", "alias/my-key", false, "--sse-kms-key-id alias/my-key needs --sse aws:kms"},
		{"AES256", "", true, "--bucket-key needs --sse aws:kms"},
		{"", "", true, "--bucket-key needs --sse aws:kms"},
		{"aws:kms:dsse", "", true, "not support S3 Bucket Keys with DSSE-KMS"},
		{"aws:kms", " " + arn, false, "no spaces around it"},
	}
	for _, c := range bad {
		_, err := ParseEncryption(c.alg, c.key, c.bucketKey)
		if err == nil || !strings.Contains(err.Error(), c.want) || transfer.KindOf(err) != transfer.KindUsage {
			t.Errorf("%q %q %v: got %v (kind %v), want a usage error saying %q", c.alg, c.key, c.bucketKey, err, transfer.KindOf(err), c.want)
		}
	}
}
