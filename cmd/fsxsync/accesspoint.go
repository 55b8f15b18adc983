package main

import (
	"fmt"

	"github.com/fsxsync/fsxsync/transfer"
	"github.com/fsxsync/fsxsync/transfer/s3store"
)

// useAccessPoint prepares the session for a remote side named by an access point ARN, before its S3 client is made.
//
// The client signs for the region the ARN names when that is not the region configured: the access point lives
// there, and S3 accepts only requests signed for it. No HeadBucket is asked: the ARN is the answer. This is
// aws-cli's behaviour: botocore's s3 use_arn_region setting defaults to true, so the ARN's region wins. The SDK's own
// switch, s3.Options.UseARNRegion (the s3_use_arn_region setting, AWS_S3_USE_ARN_REGION), defaults to false, and
// then every request fails before it is sent ("region from ARN ... does not match client region ... and
// UseArnRegion is false"); set to true it signs for the ARN's region but still refuses an ARN of another partition
// than the client's region (an aws-cn ARN from a client in us-east-1). Moving the whole session, as moveTo does for
// a bucket in another region, serves both, and keeps the preflight's clients and its region check in the same
// region as the S3 client.
//
// --addressing-style path is refused: S3 takes access point requests virtual-hosted only, and the SDK refuses to
// put an ARN in the path, on every request.
func (s *session) useAccessPoint(o transferOptions) error {
	ap, ok := transfer.AccessPointOf(s.remote.Bucket)
	if !ok {
		return nil
	}
	if o.addressingStyle == s3store.AddressingPath {
		return transfer.Usagef("--addressing-style path cannot reach access point %s: access points are addressed virtual-hosted only (use auto or virtual)", ap.ARN)
	}
	if ap.Region != s.cfg.Region {
		o.log.Info(fmt.Sprintf("access point %s is in %s: using %s, not %s", ap.Name, ap.Region, ap.Region, s.cfg.Region))
		s.cfg.Region = ap.Region
	}
	return nil
}
