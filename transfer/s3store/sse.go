package s3store

import (
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/fsxsync/fsxsync/transfer"
)

// Encryption is the server-side encryption that uploads ask for (--sse, --sse-kms-key-id, --bucket-key). It goes on
// the requests that create objects, PutObject and CreateMultipartUpload, and on nothing else: S3 refuses SSE headers
// on a GET of an SSE-KMS object, and parts inherit the encryption of their upload. The zero value asks for nothing,
// and S3 applies the bucket's default encryption.
type Encryption struct {
	// Algorithm is AES256 (SSE-S3), aws:kms (SSE-KMS) or aws:kms:dsse (DSSE-KMS); "" sends no header.
	Algorithm string
	// KMSKeyID is the KMS key for aws:kms and aws:kms:dsse exactly as it was given: a key ARN, a key id, an alias name
	// (alias/NAME) or an alias ARN. "" lets S3 use the AWS managed key aws/s3 (S3 API Reference, PutObject:
	// x-amz-server-side-encryption-aws-kms-key-id).
	KMSKeyID string
	// BucketKey asks S3 to use an S3 Bucket Key for the object, which cuts the requests S3 makes to KMS; aws:kms only.
	BucketKey bool
}

// The algorithms --sse takes: aws-cli's AES256 and aws:kms, and aws:kms:dsse, which S3 accepts and aws-cli does not
// offer.
const (
	SSEAES256       = string(s3types.ServerSideEncryptionAes256)
	SSEKMS          = string(s3types.ServerSideEncryptionAwsKms)
	SSEKMSDualLayer = string(s3types.ServerSideEncryptionAwsKmsDsse)
)

// AWSManagedKey names the key S3 uses for aws:kms or aws:kms:dsse without a key id: the AWS managed key aws/s3 of the
// account. Its ARN (arn:aws:kms:REGION:ACCOUNT:key/ID) can only be learnt from KMS, so it is named by its alias.
const AWSManagedKey = "alias/aws/s3"

// ParseEncryption checks --sse (algorithm), --sse-kms-key-id (keyID) and --bucket-key together and returns what
// uploads ask for. A combination S3 would refuse, or that would not do what it says, is a usage error naming the flag
// at fault: aws-cli passes such combinations on and lets S3 answer 400 for every file.
func ParseEncryption(algorithm, keyID string, bucketKey bool) (Encryption, error) {
	e := Encryption{Algorithm: algorithm, KMSKeyID: keyID, BucketKey: bucketKey}
	switch algorithm {
	case "", SSEAES256, SSEKMS, SSEKMSDualLayer:
	default:
		return Encryption{}, transfer.Usagef("--sse %q: give AES256, aws:kms or aws:kms:dsse (aws-cli's bare --sse, meaning AES256, is written --sse AES256 here)", algorithm)
	}
	if strings.TrimSpace(keyID) != keyID {
		return Encryption{}, transfer.Usagef("--sse-kms-key-id %q: a key id has no spaces around it", keyID)
	}
	kms := algorithm == SSEKMS || algorithm == SSEKMSDualLayer
	if keyID != "" && !kms {
		return Encryption{}, transfer.Usagef("--sse-kms-key-id %s needs --sse aws:kms (or aws:kms:dsse): S3 uses a KMS key only for those, and refuses a key id without them", keyID)
	}
	if bucketKey && algorithm != SSEKMS {
		why := "S3 Bucket Keys are for SSE-KMS"
		if algorithm == SSEKMSDualLayer {
			why = "S3 does not support S3 Bucket Keys with DSSE-KMS (aws:kms:dsse)"
		}
		return Encryption{}, transfer.Usagef("--bucket-key needs --sse aws:kms: %s", why)
	}
	return e, nil
}

// UsesKMS reports whether uploads ask for a KMS key (aws:kms or aws:kms:dsse).
func (e Encryption) UsesKMS() bool { return e.Algorithm == SSEKMS || e.Algorithm == SSEKMSDualLayer }

// KMSKey is the key uploads are encrypted under when they ask for KMS: the key id as given, or AWSManagedKey; "" when
// they do not ask for KMS.
func (e Encryption) KMSKey() string {
	switch {
	case !e.UsesKMS():
		return ""
	case e.KMSKeyID != "":
		return e.KMSKeyID
	}
	return AWSManagedKey
}

// OnPut sets the encryption headers of a PutObject that creates an object.
func (e Encryption) OnPut(in *s3.PutObjectInput) {
	in.ServerSideEncryption, in.SSEKMSKeyId, in.BucketKeyEnabled = e.headers()
}

// OnCreate sets the encryption headers of a CreateMultipartUpload; the parts and the completion inherit them.
func (e Encryption) OnCreate(in *s3.CreateMultipartUploadInput) {
	in.ServerSideEncryption, in.SSEKMSKeyId, in.BucketKeyEnabled = e.headers()
}

// headers are the three request fields; an empty or nil field sends no header.
func (e Encryption) headers() (s3types.ServerSideEncryption, *string, *bool) {
	var keyID *string
	if e.KMSKeyID != "" {
		keyID = aws.String(e.KMSKeyID)
	}
	var bucketKey *bool
	if e.BucketKey {
		bucketKey = aws.Bool(true)
	}
	return s3types.ServerSideEncryption(e.Algorithm), keyID, bucketKey
}
