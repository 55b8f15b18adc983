package awsproxy

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// restoreObject asks for a restore of key and returns the HTTP status of S3's answer and the error.
func restoreObject(t *testing.T, c *s3.Client, bucket, key string, days int32, tier types.Tier) (int, error) {
	t.Helper()
	out, err := c.RestoreObject(ctx(t), &s3.RestoreObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		RestoreRequest: &types.RestoreRequest{Days: aws.Int32(days), GlacierJobParameters: &types.GlacierJobParameters{Tier: tier}}})
	if err != nil {
		status, _ := response(err)
		return status, err
	}
	raw, _ := awsmiddleware.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response)
	if raw == nil {
		t.Fatal("RestoreObject: no raw response")
	}
	return raw.StatusCode, nil
}

// restoreStates lists bucket asking for the restore state (or not) and returns each key's RestoreStatus.
func restoreStates(t *testing.T, c *s3.Client, bucket string, ask bool) map[string]*types.RestoreStatus {
	t.Helper()
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket)}
	if ask {
		in.OptionalObjectAttributes = []types.OptionalObjectAttributes{types.OptionalObjectAttributesRestoreStatus}
	}
	out, err := c.ListObjectsV2(ctx(t), in)
	if err != nil {
		t.Fatalf("ListObjectsV2: %v", err)
	}
	got := map[string]*types.RestoreStatus{}
	for _, o := range out.Contents {
		got[aws.ToString(o.Key)] = o.RestoreStatus
	}
	return got
}

// The life of a restore as S3 tells it (S3 API Reference: RestoreObject, HeadObject, ListObjectsV2; S3 User Guide,
// "Restoring an archived object"): 202 Accepted, 409 RestoreAlreadyInProgress while it is under way, shown by
// HeadObject's x-amz-restore and by a listing that asks for RestoreStatus, GetObject refused until RestoreDone, then
// readable, and 200 OK for another request. Each RestoreObject reached versitygw (which authorized it) and is in the
// log with the restore it asked for.
func TestRestore(t *testing.T) {
	srv, p := start(t)
	bucket := srv.NewBucket(t)
	c := client(srv, p.URL, srv.Region)
	put(t, c, bucket, "cold", "data of cold")
	put(t, c, bucket, "warm", "data of warm")
	p.Archive("GLACIER", "cold")

	if got := restoreStates(t, c, bucket, true); got["cold"] != nil || got["warm"] != nil {
		t.Errorf("listing before any restore: %+v, want no RestoreStatus", got)
	}
	if status, err := restoreObject(t, c, bucket, "cold", 3, types.TierBulk); err != nil || status != http.StatusAccepted {
		t.Fatalf("first RestoreObject: %d, %v; want 202 Accepted", status, err)
	}
	if status, err := restoreObject(t, c, bucket, "cold", 3, types.TierBulk); errorCode(err) != "RestoreAlreadyInProgress" || status != http.StatusConflict {
		t.Errorf("second RestoreObject: %d, %v; want 409 RestoreAlreadyInProgress", status, err)
	}
	head, err := c.HeadObject(ctx(t), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("cold")})
	if err != nil || aws.ToString(head.Restore) != `ongoing-request="true"` || head.StorageClass != "GLACIER" {
		t.Errorf("HeadObject while restoring: %+v, %v; want x-amz-restore ongoing-request=\"true\"", head, err)
	}
	got := restoreStates(t, c, bucket, true)
	if rs := got["cold"]; rs == nil || !aws.ToBool(rs.IsRestoreInProgress) || rs.RestoreExpiryDate != nil || got["warm"] != nil {
		t.Errorf("listing while restoring: %+v; want cold in progress, warm without RestoreStatus", got)
	}
	if got := restoreStates(t, c, bucket, false); got["cold"] != nil {
		t.Errorf("a listing that does not ask for RestoreStatus got one: %+v", got["cold"])
	}
	if _, err := get(t, c, bucket, "cold"); errorCode(err) != "InvalidObjectState" {
		t.Errorf("GetObject while restoring: %v; want InvalidObjectState", err)
	}

	p.RestoreDone("cold")
	head, err = c.HeadObject(ctx(t), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("cold")})
	if err != nil || !strings.HasPrefix(aws.ToString(head.Restore), `ongoing-request="false", expiry-date="`) {
		t.Errorf("HeadObject once restored: %+v, %v; want x-amz-restore ongoing-request=\"false\" with an expiry", head, err)
	}
	got = restoreStates(t, c, bucket, true)
	if rs := got["cold"]; rs == nil || aws.ToBool(rs.IsRestoreInProgress) || rs.RestoreExpiryDate == nil ||
		!rs.RestoreExpiryDate.After(time.Now().Add(3*24*time.Hour)) {
		t.Errorf("listing once restored: %+v; want done, expiring after 3 days", rs)
	}
	if body, err := get(t, c, bucket, "cold"); err != nil || body != "data of cold" {
		t.Errorf("GetObject once restored: %q, %v", body, err)
	}
	if status, err := restoreObject(t, c, bucket, "cold", 5, types.TierStandard); err != nil || status != http.StatusOK {
		t.Errorf("RestoreObject of a restored copy: %d, %v; want 200 OK", status, err)
	}
	if status, err := restoreObject(t, c, bucket, "no-such-key", 1, types.TierBulk); errorCode(err) != "NoSuchKey" || status != http.StatusNotFound {
		t.Errorf("RestoreObject of a missing key: %d, %v; want 404 NoSuchKey", status, err)
	}

	var restores []RestoreRequest
	for _, r := range p.Requests() {
		if r.Op != "RestoreObject" {
			continue
		}
		if !r.Forwarded || r.Restore == nil {
			t.Errorf("RestoreObject %s: forwarded %v, restore %+v; want it authorized by versitygw and logged", r.URI, r.Forwarded, r.Restore)
			continue
		}
		restores = append(restores, *r.Restore)
	}
	want := []RestoreRequest{{"cold", 3, "Bulk"}, {"cold", 3, "Bulk"}, {"cold", 5, "Standard"}, {"no-such-key", 1, "Bulk"}}
	if len(restores) != len(want) {
		t.Fatalf("logged restores %+v, want %+v", restores, want)
	}
	for i := range want {
		if restores[i] != want[i] {
			t.Errorf("restore %d: %+v, want %+v", i, restores[i], want[i])
		}
	}
}

// Without Archive the proxy leaves RestoreObject alone: versitygw, which has no archive tier, answers 501.
func TestRestoreWithoutArchive(t *testing.T) {
	srv, p := start(t)
	bucket := srv.NewBucket(t)
	c := client(srv, p.URL, srv.Region)
	put(t, c, bucket, "k", "data")
	if status, err := restoreObject(t, c, bucket, "k", 1, types.TierBulk); errorCode(err) != "NotImplemented" || status != http.StatusNotImplemented {
		t.Errorf("RestoreObject: %d, %v; want versitygw's 501 NotImplemented", status, err)
	}
}
