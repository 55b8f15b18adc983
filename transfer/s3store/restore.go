package s3store

import (
	"context"
	"strings"

	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/fsxsync/fsxsync/transfer"
)

// Restore asks S3 to restore the archived object at key (S3 API Reference: RestoreObject): a temporary copy kept
// for days days, retrieved at tier (Standard, Bulk or Expedited). days 0 sends no Days, as an object in an
// Intelligent-Tiering archive tier requires: it is restored into that class's Frequent Access tier, with no expiry.
// S3 answers 202 Accepted when it starts a restore, 200 OK when a restored copy is already there (the request only
// moved its expiry), and 409 RestoreAlreadyInProgress while an earlier restore is still under way, which is an
// answer here, not an error. With --request-payer the client adds x-amz-request-payer to this request as to every
// other (client.go).
func (s *Store) Restore(ctx context.Context, key string, days int, tier string) (transfer.RestoreAnswer, error) {
	req := &s3types.RestoreRequest{GlacierJobParameters: &s3types.GlacierJobParameters{Tier: s3types.Tier(tier)}}
	if days > 0 {
		req.Days = aws.Int32(int32(days))
	}
	out, err := s.client.RestoreObject(ctx, &s3.RestoreObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key),
		RestoreRequest: req})
	if Code(err) == "RestoreAlreadyInProgress" {
		return transfer.RestoreAlreadyOngoing, nil
	}
	if err != nil {
		return 0, s.fail("restore", key, err)
	}
	if raw, ok := awsmiddleware.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response); ok && raw.StatusCode == 200 {
		return transfer.RestoreAlreadyDone, nil
	}
	return transfer.RestoreStarted, nil
}

// restoreState reads a HeadObject or GetObject answer's x-amz-restore (S3 API Reference: HeadObject):
// ongoing-request="true" while a restore is under way, ongoing-request="false", expiry-date="..." once the restored
// copy can be read, and no header when no restore was asked for.
func restoreState(header *string) transfer.RestoreState {
	h := strings.ToLower(aws.ToString(header))
	switch {
	case strings.Contains(h, `ongoing-request="true"`):
		return transfer.RestoreOngoing
	case strings.Contains(h, `ongoing-request="false"`):
		return transfer.RestoreDone
	}
	return transfer.RestoreNone
}

// withArchive fills in what a HeadObject or GetObject answer says of the object's storage class and restore:
// x-amz-storage-class, x-amz-restore and, for an Intelligent-Tiering object in an archive tier, x-amz-archive-status
// (HeadObject only; a GET of such an object answers 403 InvalidObjectState instead).
func withArchive(info transfer.ObjectInfo, class s3types.StorageClass, restore *string, archive s3types.ArchiveStatus) transfer.ObjectInfo {
	info.StorageClass, info.Restore, info.ArchiveStatus = string(class), restoreState(restore), string(archive)
	return info
}
