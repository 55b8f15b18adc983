package preflight

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/fsxsync/fsxsync/internal/s3test"
	"github.com/fsxsync/fsxsync/internal/testenv"
	"github.com/fsxsync/fsxsync/transfer"
)

// On a versioned bucket a delete adds a delete marker and keeps the old version (S3 User Guide, "Deleting object
// versions"; versitygw keeps versions with --versioning-dir). The --delete probes, a delete of a key that does not
// exist and a zero-byte PUT deleted again, must leave neither: every run of the preflight used to leave two delete
// markers and a probe version behind.
func TestProbesLeaveNothingOnVersionedBucket(t *testing.T) {
	srv, err := s3test.StartWith(s3test.Options{Versioning: true})
	if err != nil {
		testenv.Missing(t, "versitygw", err)
	}
	defer srv.Stop()
	c := srv.Client()
	ctx := context.Background()
	bucket := srv.NewBucket(t)
	if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(bucket),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "a.txt"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := Run(ctx, Input{Src: transfer.Location{Local: src}, Dst: transfer.Location{Bucket: bucket, Key: "p"},
		Recursive: true, Compare: true, Delete: true, Region: srv.Region, S3: c,
		Caller: CallerInput{Credentials: c.Options().Credentials, STS: fakeSTS{}}})
	if err != nil {
		t.Fatalf("preflight: %v\n%+v", err, rep.Rows)
	}
	for _, row := range rep.Rows {
		if row.Failed() {
			t.Errorf("row failed: %+v", row)
		}
	}
	out, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range out.Versions {
		t.Errorf("left a version of %s (%s)", aws.ToString(v.Key), aws.ToString(v.VersionId))
	}
	for _, m := range out.DeleteMarkers {
		t.Errorf("left a delete marker at %s (%s)", aws.ToString(m.Key), aws.ToString(m.VersionId))
	}
}
