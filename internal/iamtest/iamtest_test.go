package iamtest

// These tests pin down, against a real versitygw v1.8.0 with its standalone
// IAM service and amazon-ec2-metadata-mock v1.13.0, the facts a permission
// preflight relies on. A failure here means a server or SDK upgrade changed
// one of them.
//
// Findings (ACCT = 000000000000, versitygw IAM's only account; "denied" is
// HTTP 403 code AccessDenied with the message shown, unless noted):
//
// | case | what | result |
// |---|---|---|
// | a | GetCallerIdentity, user keys, at the IAM port | Arn arn:aws:iam::ACCT:user/NAME, Account ACCT, UserId AIDA… (21 chars, = GetUser's UserId); needs no policy |
// | a | GetCallerIdentity, root keys | Arn arn:aws:iam::ACCT:root, Account ACCT, UserId ACCT |
// | b | GetObject+ListBucket only: PutObject | denied: `User: arn:aws:iam::ACCT:user/NAME is not authorized to perform: s3:PutObject on resource: "arn:aws:s3:::B/KEY" because no identity-based policy allows the s3:PutObject action` |
// | b | same user: ListObjectsV2, GetObject, HeadObject, HeadBucket | ok (HeadBucket is allowed by s3:ListBucket) |
// | c | ListBucket with StringLike s3:prefix "data/*" | prefix "data/" and "data/sub" ok; "other/" and no prefix denied (s3:ListBucket on arn:aws:s3:::B) |
// | d | s3:* on arn:aws:s3:::B/data/* only (ParallelCluster KeyName) | ListObjectsV2 denied even with prefix "data/"; HeadBucket 403 "Forbidden"; PutObject under data/ ok, outside denied |
// | e | PutObject only | CreateMultipartUpload and UploadPart ok; AbortMultipartUpload denied (s3:AbortMultipartUpload on arn:aws:s3:::B/KEY); ListParts denied (s3:ListMultipartUploadParts) |
// | f | Allow s3:* plus Deny PutObject on data/* | PutObject data/x denied: `… on resource: "arn:aws:s3:::B/data/x" with an explicit deny in an identity-based policy`; other/x ok |
// | g | no s3:DeleteObject | DeleteObject denied (s3:DeleteObject); with it, deleting a nonexistent key returns 204, no error |
// | h | HeadObject of a missing key | GetObject allowed: 404 NotFound with or without s3:ListBucket (real S3 answers 403 without ListBucket); no GetObject (ListBucket only, or no policy): 403 code "Forbidden" for missing and existing keys alike (HEAD has no body) |
// | i | GetObject Range bytes=0-0 | ok: ContentLength 1, ContentRange "bytes 0-0/SIZE", body the first byte |
// | j | nonexistent bucket | 404 NoSuchBucket "The specified bucket does not exist.", also for a user with no permission on that name |
// | j | bad secret / unknown access key, S3 | 403 SignatureDoesNotMatch / 403 InvalidAccessKeyId |
// | j | bad secret / unknown access key, STS | 403 SignatureDoesNotMatch / 403 InvalidClientTokenId |
// | j | HeadBucket / GetBucketLocation | x-amz-bucket-region: us-east-1 (SDK BucketRegion), for root and for a ListBucket user; GetBucketLocation "" (us-east-1) for root, denied for a user without s3:GetBucketLocation |
// | k | LoadDefaultConfig with IMDS.Env() | credentials resolve: Source "EC2RoleProvider", the user's key, empty session token, CanExpire; GetCallerIdentity says arn:aws:iam::ACCT:user/NAME (an IAM user, not assumed-role/ROLE/i-…); S3 works |
// | k | no IMDS, SDK defaults (v1.48 / config v1.33) | LoadDefaultConfig itself ~10 ms (never calls the IMDS unless asked for its region); the first Retrieve fails after 4.0 s on a closed port (2×3 attempts, 1 s backoffs), 5.0 s on a port that accepts but never answers (IMDS operation timeout); AWS_MAX_ATTEMPTS / WithRetryMaxAttempts do not apply to the IMDS client |
// | k | what bounds it | a context deadline on Retrieve (exact; the error is then just "request canceled, context deadline exceeded", without the usual "failed to refresh cached credentials, no EC2 IMDS role found"); config.WithRetryer(aws.NopRetryer) (the IMDS client takes cfg.Retryer): closed ~1 ms, hung 1.0 s (2×500 ms header timeout: token PUT, then IMDSv1 GET); AWS_EC2_METADATA_DISABLED=true: immediate |
// | l | IAM API | CreateRole (with path; trust Principal AWS or Federated, Service only s3/sts/iam.amazonaws.com: ec2.amazonaws.com is 400 MalformedPolicyDocument), GetRole (Arn arn:aws:iam::ACCT:role/PATH/NAME) supported; GetRole needs iam:GetRole for a user; SimulatePrincipalPolicy and ListAttachedUserPolicies: 400 InvalidAction "Could not find operation … for version 2010-05-08"; sts:AssumeRole unsupported (400 SignatureDoesNotMatch "Credential should be scoped to correct service: 'iam'.") |
//
// Spot interruption notices: the mock's root command serves a "terminate"
// notice at /latest/meta-data/spot/instance-action at once unless
// --mock-delay-sec or --mock-trigger-time push it out (StartIMDS pushes it a
// year out, so it answers 404 as on an instance nobody is stopping).
// `ec2-metadata-mock spot --action terminate|stop|hibernate [--time RFC3339]
// [-d SEC | --mock-trigger-time RFC3339]` serves {"action","time"} there
// (404 until the delay has passed) and keeps serving the credentials and the
// other static metadata; it also serves a rebalance recommendation at once
// unless --rebalance-delay-sec is set.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/fsxsync/fsxsync/internal/s3test"
)

var env *Env

func TestMain(m *testing.M) {
	var err error
	if env, err = Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1) // never skip: CI must not pass without the servers
	}
	code := m.Run()
	env.Stop()
	os.Exit(code)
}

// policy returns an identity policy document with the given statements.
func policy(statements ...string) string {
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(statements, ",") + `]}`
}

// allow returns an Allow statement of actions on resources.
func allow(actions []string, resources ...string) string {
	return fmt.Sprintf(`{"Effect":"Allow","Action":%s,"Resource":%s}`, jsonList(actions), jsonList(resources))
}

func jsonList(items []string) string {
	return `["` + strings.Join(items, `","`) + `"]`
}

func bucketARN(bucket string) string { return "arn:aws:s3:::" + bucket }

func objectsARN(bucket, prefix string) string { return "arn:aws:s3:::" + bucket + "/" + prefix + "*" }

func userARN(name string) string { return "arn:aws:iam::" + AccountID + ":user/" + name }

// deniedMessage is versitygw's AccessDenied message when no policy allows
// action on resource, the same wording as AWS.
func deniedMessage(user, action, resource string) string {
	return fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %q because no identity-based policy allows the %s action",
		userARN(user), action, resource, action)
}

// wantError fails t unless err is an API error with this HTTP status and
// code and, if msg is not empty, exactly this message.
func wantError(t *testing.T, what string, err error, status int, code, msg string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s succeeded; want HTTP %d %s", what, status, code)
		return
	}
	var apiErr smithy.APIError
	var respErr *smithyhttp.ResponseError
	if !errors.As(err, &apiErr) || !errors.As(err, &respErr) {
		t.Errorf("%s: %v; want an API error", what, err)
		return
	}
	if respErr.HTTPStatusCode() != status || apiErr.ErrorCode() != code {
		t.Errorf("%s: HTTP %d %s; want HTTP %d %s (%v)", what, respErr.HTTPStatusCode(), apiErr.ErrorCode(), status, code, err)
	}
	if msg != "" && apiErr.ErrorMessage() != msg {
		t.Errorf("%s: message\n%q\nwant\n%q", what, apiErr.ErrorMessage(), msg)
	}
}

func wantOK(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: %v", what, err)
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// put stores an object as root.
func put(t *testing.T, bucket, key, body string) {
	t.Helper()
	_, err := env.RootS3().PutObject(testContext(t), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body),
	})
	if err != nil {
		t.Fatalf("root PutObject %s/%s: %v", bucket, key, err)
	}
}

// (a)
func TestCallerIdentity(t *testing.T) {
	ctx := testContext(t)
	ak, sk := env.NewUser(t, "identity", "") // no policy: GetCallerIdentity needs none

	id, err := env.STS(ak, sk).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	user, err := env.IAM().GetUser(ctx, &iam.GetUserInput{UserName: aws.String("identity")})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(id.Arn); got != userARN("identity") {
		t.Errorf("user Arn = %q, want %q", got, userARN("identity"))
	}
	if got := aws.ToString(id.Account); got != AccountID {
		t.Errorf("user Account = %q, want %q", got, AccountID)
	}
	if got := aws.ToString(id.UserId); got != aws.ToString(user.User.UserId) || !strings.HasPrefix(got, "AIDA") || len(got) != 21 {
		t.Errorf("user UserId = %q, want GetUser's %q, AIDA and 21 characters", got, aws.ToString(user.User.UserId))
	}

	id, err = env.STS(env.RootAccess, env.RootSecret).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	want := [3]string{"arn:aws:iam::" + AccountID + ":root", AccountID, AccountID}
	if got := [3]string{aws.ToString(id.Arn), aws.ToString(id.Account), aws.ToString(id.UserId)}; got != want {
		t.Errorf("root Arn, Account, UserId = %q, want %q", got, want)
	}
}

// (b)
func TestReadOnlyPolicy(t *testing.T) {
	ctx := testContext(t)
	b := env.NewBucket(t)
	put(t, b, "data/x", "hello")
	c := env.S3(env.NewUser(t, "readonly", policy(
		allow([]string{"s3:GetObject", "s3:ListBucket"}, bucketARN(b), objectsARN(b, "")))))

	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: aws.String("data/new"), Body: strings.NewReader("x")})
	wantError(t, "PutObject", err, 403, "AccessDenied", deniedMessage("readonly", "s3:PutObject", bucketARN(b)+"/data/new"))

	_, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &b})
	wantOK(t, "ListObjectsV2", err)
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: aws.String("data/x")})
	wantOK(t, "HeadObject", err)
	_, err = c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &b})
	wantOK(t, "HeadBucket", err)
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &b, Key: aws.String("data/x")})
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	out.Body.Close()
}

// (c)
func TestPrefixCondition(t *testing.T) {
	ctx := testContext(t)
	b := env.NewBucket(t)
	c := env.S3(env.NewUser(t, "prefixed", policy(fmt.Sprintf(
		`{"Effect":"Allow","Action":"s3:ListBucket","Resource":%q,"Condition":{"StringLike":{"s3:prefix":["data/*"]}}}`, bucketARN(b)))))

	for _, prefix := range []string{"data/", "data/sub"} {
		_, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &b, Prefix: aws.String(prefix)})
		wantOK(t, fmt.Sprintf("ListObjectsV2 prefix %q", prefix), err)
	}
	for _, prefix := range []string{"other/", ""} {
		_, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &b, Prefix: aws.String(prefix)})
		wantError(t, fmt.Sprintf("ListObjectsV2 prefix %q", prefix), err, 403, "AccessDenied",
			deniedMessage("prefixed", "s3:ListBucket", bucketARN(b)))
	}
}

// (d)
func TestObjectOnlyPolicy(t *testing.T) {
	ctx := testContext(t)
	b := env.NewBucket(t)
	c := env.S3(env.NewUser(t, "keyname", policy(allow([]string{"s3:*"}, objectsARN(b, "data/")))))

	_, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &b, Prefix: aws.String("data/")})
	wantError(t, "ListObjectsV2", err, 403, "AccessDenied", deniedMessage("keyname", "s3:ListBucket", bucketARN(b)))
	_, err = c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &b})
	wantError(t, "HeadBucket", err, 403, "Forbidden", "")
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: aws.String("data/a"), Body: strings.NewReader("x")})
	wantOK(t, "PutObject data/a", err)
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: aws.String("other/a"), Body: strings.NewReader("x")})
	wantError(t, "PutObject other/a", err, 403, "AccessDenied", deniedMessage("keyname", "s3:PutObject", bucketARN(b)+"/other/a"))
}

// (e)
func TestMultipartWithoutAbort(t *testing.T) {
	ctx := testContext(t)
	b := env.NewBucket(t)
	c := env.S3(env.NewUser(t, "noabort", policy(allow([]string{"s3:PutObject"}, objectsARN(b, "")))))

	mpu, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b, Key: aws.String("big")})
	if err != nil {
		t.Fatalf("CreateMultipartUpload: %v", err)
	}
	_, err = c.UploadPart(ctx, &s3.UploadPartInput{
		Bucket: &b, Key: aws.String("big"), UploadId: mpu.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("x"),
	})
	wantOK(t, "UploadPart", err)
	_, err = c.ListParts(ctx, &s3.ListPartsInput{Bucket: &b, Key: aws.String("big"), UploadId: mpu.UploadId})
	wantError(t, "ListParts", err, 403, "AccessDenied", deniedMessage("noabort", "s3:ListMultipartUploadParts", bucketARN(b)+"/big"))
	_, err = c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &b, Key: aws.String("big"), UploadId: mpu.UploadId})
	wantError(t, "AbortMultipartUpload", err, 403, "AccessDenied", deniedMessage("noabort", "s3:AbortMultipartUpload", bucketARN(b)+"/big"))

	_, err = env.RootS3().AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &b, Key: aws.String("big"), UploadId: mpu.UploadId})
	wantOK(t, "root AbortMultipartUpload", err)
}

// (f)
func TestExplicitDeny(t *testing.T) {
	ctx := testContext(t)
	b := env.NewBucket(t)
	c := env.S3(env.NewUser(t, "denied", policy(
		allow([]string{"s3:*"}, bucketARN(b), objectsARN(b, "")),
		fmt.Sprintf(`{"Effect":"Deny","Action":"s3:PutObject","Resource":%q}`, objectsARN(b, "data/")))))

	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: aws.String("data/x"), Body: strings.NewReader("x")})
	wantError(t, "PutObject data/x", err, 403, "AccessDenied", fmt.Sprintf(
		"User: %s is not authorized to perform: s3:PutObject on resource: %q with an explicit deny in an identity-based policy",
		userARN("denied"), bucketARN(b)+"/data/x"))
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: aws.String("other/x"), Body: strings.NewReader("x")})
	wantOK(t, "PutObject other/x", err)
}

// (g)
func TestDeleteObject(t *testing.T) {
	ctx := testContext(t)
	b := env.NewBucket(t)
	put(t, b, "x", "hello")
	reader := env.S3(env.NewUser(t, "nodelete", policy(allow([]string{"s3:GetObject", "s3:ListBucket"}, bucketARN(b), objectsARN(b, "")))))
	deleter := env.S3(env.NewUser(t, "deleter", policy(allow([]string{"s3:DeleteObject"}, objectsARN(b, "")))))

	_, err := reader.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b, Key: aws.String("x")})
	wantError(t, "DeleteObject without s3:DeleteObject", err, 403, "AccessDenied", deniedMessage("nodelete", "s3:DeleteObject", bucketARN(b)+"/x"))

	// A delete of a missing key succeeds (204), as in S3, so it can probe
	// the permission without touching data.
	var status int
	_, err = deleter.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b, Key: aws.String("missing")}, captureStatus(&status))
	wantOK(t, "DeleteObject of a missing key", err)
	if status != http.StatusNoContent {
		t.Errorf("DeleteObject of a missing key: HTTP %d, want 204", status)
	}
}

// captureStatus records the HTTP status of an S3 operation's response.
func captureStatus(status *int) func(*s3.Options) {
	return func(o *s3.Options) {
		o.HTTPClient = statusRecorder{next: http.DefaultClient, status: status}
	}
}

type statusRecorder struct {
	next   *http.Client
	status *int
}

func (r statusRecorder) Do(req *http.Request) (*http.Response, error) {
	resp, err := r.next.Do(req)
	if err == nil {
		*r.status = resp.StatusCode
	}
	return resp, err
}

// (h)
func TestHeadMissingKey(t *testing.T) {
	ctx := testContext(t)
	b := env.NewBucket(t)
	put(t, b, "exists", "hello")
	for _, tc := range []struct {
		user, policy string
		missing      int // HTTP status of HEAD on a missing key
		existing     int // and on an existing one
	}{
		{"head-get-list", policy(allow([]string{"s3:GetObject", "s3:ListBucket"}, bucketARN(b), objectsARN(b, ""))), 404, 200},
		// Real S3 answers 403 here: without s3:ListBucket it does not reveal
		// whether a key exists. versitygw checks s3:GetObject only.
		{"head-get", policy(allow([]string{"s3:GetObject"}, objectsARN(b, ""))), 404, 200},
		{"head-list", policy(allow([]string{"s3:ListBucket"}, bucketARN(b))), 403, 403},
		{"head-none", "", 403, 403},
	} {
		t.Run(tc.user, func(t *testing.T) {
			c := env.S3(env.NewUser(t, tc.user, tc.policy))
			for key, want := range map[string]int{"missing": tc.missing, "exists": tc.existing} {
				_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: aws.String(key)})
				switch want {
				case 200:
					wantOK(t, "HeadObject "+key, err)
				case 404:
					wantError(t, "HeadObject "+key, err, 404, "NotFound", "")
				case 403:
					wantError(t, "HeadObject "+key, err, 403, "Forbidden", "")
				}
			}
		})
	}
}

// (i)
func TestRangeGet(t *testing.T) {
	ctx := testContext(t)
	b := env.NewBucket(t)
	put(t, b, "x", "hello")
	out, err := env.RootS3().GetObject(ctx, &s3.GetObjectInput{Bucket: &b, Key: aws.String("x"), Range: aws.String("bytes=0-0")})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	body, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != "h" || aws.ToInt64(out.ContentLength) != 1 || aws.ToString(out.ContentRange) != "bytes 0-0/5" {
		t.Errorf("body %q, ContentLength %d, ContentRange %q; want \"h\", 1, \"bytes 0-0/5\"",
			body, aws.ToInt64(out.ContentLength), aws.ToString(out.ContentRange))
	}
}

// (j)
func TestErrors(t *testing.T) {
	ctx := testContext(t)
	b := env.NewBucket(t)
	ak, sk := env.NewUser(t, "errors", policy(allow([]string{"s3:ListBucket"}, bucketARN(b))))
	user := env.S3(ak, sk)
	missing := "t-no-such-bucket-" + randomHex(4)

	for name, c := range map[string]*s3.Client{"root": env.RootS3(), "user": user} {
		_, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(missing)})
		wantError(t, name+" ListObjectsV2 of a missing bucket", err, 404, "NoSuchBucket", "The specified bucket does not exist.")

		head, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &b})
		if err != nil {
			t.Errorf("%s HeadBucket: %v", name, err)
		} else if got := aws.ToString(head.BucketRegion); got != env.Region {
			t.Errorf("%s HeadBucket: x-amz-bucket-region %q, want %q", name, got, env.Region)
		}
	}

	_, err := env.S3(ak, "wrong"+sk).ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &b})
	wantError(t, "S3 with a bad secret", err, 403, "SignatureDoesNotMatch", "")
	_, err = env.S3("AKNOSUCHKEY0000", sk).ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &b})
	wantError(t, "S3 with an unknown key", err, 403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
	_, err = env.STS(ak, "wrong"+sk).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantError(t, "STS with a bad secret", err, 403, "SignatureDoesNotMatch", "")
	_, err = env.STS("AKNOSUCHKEY0000", sk).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	wantError(t, "STS with an unknown key", err, 403, "InvalidClientTokenId", "The security token included in the request is invalid.")

	loc, err := env.RootS3().GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: &b})
	if err != nil {
		t.Errorf("root GetBucketLocation: %v", err)
	} else if loc.LocationConstraint != "" {
		t.Errorf("root GetBucketLocation = %q, want \"\" (us-east-1)", loc.LocationConstraint)
	}
	_, err = user.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: &b})
	wantError(t, "user GetBucketLocation", err, 403, "AccessDenied", deniedMessage("errors", "s3:GetBucketLocation", bucketARN(b)))
}

// setenv sets KEY=VALUE variables for the rest of the test.
func setenv(t *testing.T, vars []string) {
	for _, kv := range vars {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// (k) instance-role credentials from the IMDS mock.
func TestIMDSCredentials(t *testing.T) {
	ctx := testContext(t)
	b := env.NewBucket(t)
	ak, sk := env.NewUser(t, "compute-node", policy(allow([]string{"s3:GetObject", "s3:ListBucket"}, bucketARN(b), objectsARN(b, ""))))
	m, err := StartIMDS("pc-compute-role", ak, sk)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	setenv(t, m.Env())

	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(env.Region))
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if creds.Source != "EC2RoleProvider" || creds.AccessKeyID != ak || creds.SecretAccessKey != sk || creds.SessionToken != "" || !creds.CanExpire {
		t.Errorf("credentials: Source %q, key %q, token %q, CanExpire %v; want EC2RoleProvider, %q, none, true",
			creds.Source, creds.AccessKeyID, creds.SessionToken, creds.CanExpire, ak)
	}

	id, err := sts.NewFromConfig(cfg, func(o *sts.Options) { o.BaseEndpoint = aws.String(env.IAMEndpoint) }).
		GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(id.Arn); got != userARN("compute-node") {
		t.Errorf("GetCallerIdentity Arn = %q, want %q", got, userARN("compute-node"))
	}
	_, err = s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(env.S3Endpoint)
		o.UsePathStyle = true
	}).ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &b})
	wantOK(t, "ListObjectsV2 with IMDS credentials", err)
}

func TestIMDSMetadata(t *testing.T) {
	m, err := StartIMDS("some-role", "AKEXAMPLE", "secret")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	if !strings.HasPrefix(m.Endpoint, "http://127.0.0.1:") {
		t.Errorf("Endpoint %q: want loopback", m.Endpoint)
	}
	for path, want := range map[string]string{
		"/latest/meta-data/instance-id":                      InstanceID,
		"/latest/meta-data/placement/region":                 IMDSRegion,
		"/latest/meta-data/iam/security-credentials/":        "some-role",
		"/latest/meta-data/spot/instance-action":             "404",
		"/latest/meta-data/events/recommendations/rebalance": "404",
	} {
		resp, err := http.Get(m.Endpoint + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got := string(body)
		if resp.StatusCode != http.StatusOK {
			got = fmt.Sprint(resp.StatusCode)
		}
		if got != want {
			t.Errorf("GET %s = %.80q, want %q", path, got, want)
		}
	}

	dir := m.Dir
	m.Stop()
	m.Stop() // a second Stop is harmless
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("Dir %s still exists after Stop (stat: %v)", dir, err)
	}
}

// (k) How long the SDK takes to give up when no IMDS answers, and what
// bounds it. The cases run at once, so the test takes as long as the slowest.
func TestNoIMDS(t *testing.T) {
	// Every other credential source off, as on an instance without a role.
	setenv(t, (&IMDS{Endpoint: "http://127.0.0.1:1"}).Env())
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")

	closed := closedPort(t)
	hung := hungPort(t)
	cases := []struct {
		name          string
		endpoint      string
		opts          []func(*config.LoadOptions) error
		deadline      time.Duration // on Retrieve, if not 0
		atLeast, upTo time.Duration // the time Retrieve takes to fail
	}{
		// Defaults: 3 attempts for the IMDSv2 token and 3 for the IMDSv1
		// fallback, with 1 s backoffs.
		{name: "closed port, defaults", endpoint: closed, atLeast: 3500 * time.Millisecond, upTo: 6 * time.Second},
		// Defaults: the IMDS client's 5 s operation timeout.
		{name: "no answer, defaults", endpoint: hung, atLeast: 4500 * time.Millisecond, upTo: 7 * time.Second},
		// The general retry setting does not reach the IMDS client.
		{name: "closed port, WithRetryMaxAttempts(1)", endpoint: closed, opts: opts(config.WithRetryMaxAttempts(1)),
			atLeast: 3500 * time.Millisecond, upTo: 6 * time.Second},
		{name: "no answer, deadline 1 s", endpoint: hung, deadline: time.Second, atLeast: 900 * time.Millisecond, upTo: 2 * time.Second},
		// The IMDS client takes cfg.Retryer: one try each, 500 ms to the
		// first response byte.
		{name: "closed port, NopRetryer", endpoint: closed, opts: opts(config.WithRetryer(nopRetryer)), upTo: time.Second},
		{name: "no answer, NopRetryer", endpoint: hung, opts: opts(config.WithRetryer(nopRetryer)),
			atLeast: 900 * time.Millisecond, upTo: 2500 * time.Millisecond},
		{name: "disabled", endpoint: hung, opts: opts(config.WithEC2IMDSClientEnableState(imds.ClientDisabled)), upTo: 500 * time.Millisecond},
	}
	var wg sync.WaitGroup
	for _, tc := range cases {
		wg.Go(func() {
			ctx := context.Background()
			start := time.Now()
			// No region anywhere: loading must not ask the IMDS for one.
			cfg, err := config.LoadDefaultConfig(ctx, append(tc.opts, config.WithEC2IMDSEndpoint(tc.endpoint))...)
			if err != nil {
				t.Errorf("%s: LoadDefaultConfig: %v", tc.name, err)
				return
			}
			if load := time.Since(start); load > time.Second || cfg.Region != "" {
				t.Errorf("%s: LoadDefaultConfig took %v, region %q; want well under a second and no region", tc.name, load, cfg.Region)
			}
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.deadline)
				defer cancel()
			}
			start = time.Now()
			_, err = cfg.Credentials.Retrieve(ctx)
			took := time.Since(start)
			t.Logf("%s: Retrieve failed after %v: %v", tc.name, took.Round(time.Millisecond), err)
			if err == nil {
				t.Errorf("%s: Retrieve found credentials", tc.name)
			}
			if took < tc.atLeast || took > tc.upTo {
				t.Errorf("%s: Retrieve took %v, want %v to %v", tc.name, took, tc.atLeast, tc.upTo)
			}
		})
	}
	wg.Wait()
}

var nopRetryer = func() aws.Retryer { return aws.NopRetryer{} }

func opts(o ...func(*config.LoadOptions) error) []func(*config.LoadOptions) error { return o }

// closedPort returns the URL of a 127.0.0.1 port nothing listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close()
	return url
}

// hungPort returns the URL of a 127.0.0.1 port that accepts connections and
// never answers, like an IMDS behind a firewall that drops replies.
func hungPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	return "http://" + l.Addr().String()
}

// (l)
func TestIAMSupport(t *testing.T) {
	ctx := testContext(t)
	root := env.IAM()
	trust := func(principal string) *string {
		return aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":` + principal + `,"Action":"sts:AssumeRole"}]}`)
	}

	_, err := root.CreateRole(ctx, &iam.CreateRoleInput{
		RoleName: aws.String("ec2-trust"), AssumeRolePolicyDocument: trust(`{"Service":"ec2.amazonaws.com"}`),
	})
	wantError(t, "CreateRole trusting ec2.amazonaws.com", err, 400, "MalformedPolicyDocument", "")

	_, err = root.CreateRole(ctx, &iam.CreateRoleInput{
		RoleName: aws.String("compute"), Path: aws.String("/parallelcluster/c1/"),
		AssumeRolePolicyDocument: trust(`{"AWS":"arn:aws:iam::` + AccountID + `:root"}`),
	})
	if err != nil {
		t.Fatalf("CreateRole: %v", err)
	}
	role, err := root.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("compute")})
	if err != nil {
		t.Fatalf("GetRole: %v", err)
	}
	if got, want := aws.ToString(role.Role.Arn), "arn:aws:iam::"+AccountID+":role/parallelcluster/c1/compute"; got != want {
		t.Errorf("GetRole Arn = %q, want %q", got, want)
	}

	// A user needs iam:GetRole, as on AWS.
	ak, sk := env.NewUser(t, "no-iam", "")
	asUser := iam.New(iam.Options{BaseEndpoint: aws.String(env.IAMEndpoint), Region: env.Region,
		Credentials: credentials.NewStaticCredentialsProvider(ak, sk, "")})
	_, err = asUser.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("compute")})
	wantError(t, "GetRole without iam:GetRole", err, 403, "AccessDenied",
		"User: "+userARN("no-iam")+" is not authorized to perform: iam:GetRole because no identity-based policy allows the iam:GetRole action")
	ak, sk = env.NewUser(t, "get-role", policy(`{"Effect":"Allow","Action":"iam:GetRole","Resource":"*"}`))
	asUser = iam.New(iam.Options{BaseEndpoint: aws.String(env.IAMEndpoint), Region: env.Region,
		Credentials: credentials.NewStaticCredentialsProvider(ak, sk, "")})
	_, err = asUser.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("compute")})
	wantOK(t, "GetRole with iam:GetRole", err)

	_, err = root.SimulatePrincipalPolicy(ctx, &iam.SimulatePrincipalPolicyInput{
		PolicySourceArn: aws.String(userARN("no-iam")), ActionNames: []string{"s3:GetObject"},
	})
	wantError(t, "SimulatePrincipalPolicy", err, 400, "InvalidAction", "Could not find operation SimulatePrincipalPolicy for version 2010-05-08")
	_, err = root.ListAttachedUserPolicies(ctx, &iam.ListAttachedUserPoliciesInput{UserName: aws.String("no-iam")})
	wantError(t, "ListAttachedUserPolicies", err, 400, "InvalidAction", "Could not find operation ListAttachedUserPolicies for version 2010-05-08")

	// Only AssumeRoleWithWebIdentity and GetCallerIdentity are STS actions
	// here; any other is taken for an IAM action and fails on the signature.
	_, err = env.STS(env.RootAccess, env.RootSecret).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: role.Role.Arn, RoleSessionName: aws.String(InstanceID),
	})
	wantError(t, "AssumeRole", err, 400, "SignatureDoesNotMatch", "Credential should be scoped to correct service: 'iam'.")
}

func TestStartWithoutBinary(t *testing.T) {
	t.Setenv(s3test.BinaryEnv, "/nonexistent/versitygw")
	if e, err := Start(); err == nil {
		e.Stop()
		t.Error("Start succeeded without a binary")
	} else if !strings.Contains(err.Error(), "make tools") {
		t.Errorf("Start error %q does not say to run make tools", err)
	}

	t.Setenv(MockEnv, "/nonexistent/ec2-metadata-mock")
	if m, err := StartIMDS("r", "a", "s"); err == nil {
		m.Stop()
		t.Error("StartIMDS succeeded without a binary")
	} else if !strings.Contains(err.Error(), "make tools") {
		t.Errorf("StartIMDS error %q does not say to run make tools", err)
	}
}

func TestStop(t *testing.T) {
	e, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.S3Endpoint, "http://127.0.0.1:") || !strings.HasPrefix(e.IAMEndpoint, "http://127.0.0.1:") {
		t.Errorf("endpoints %q, %q: want loopback", e.S3Endpoint, e.IAMEndpoint)
	}
	gwDir := e.gw.Dir
	e.Stop()
	e.Stop() // a second Stop is harmless
	for _, dir := range []string{e.Dir, gwDir} {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s still exists after Stop (stat: %v)", dir, err)
		}
	}
	if e.iamProc.cmd.ProcessState == nil {
		t.Errorf("IAM service %d still running after Stop", e.iamProc.cmd.Process.Pid)
	}
}
