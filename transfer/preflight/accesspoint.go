package preflight

import (
	"fmt"
	"strings"

	"github.com/fsxsync/fsxsync/transfer"
)

// Access points. When the s3:// URL names an access point by its ARN, IAM authorizes the request against the access
// point, not the bucket: policies name the access point (arn:PARTITION:s3:REGION:ACCOUNT:accesspoint/NAME) for
// bucket-level actions such as s3:ListBucket, and its objects as ARN/object/KEY (S3 User Guide, "Configuring IAM
// policies for using access points"). S3 on Outposts names its actions s3-outposts:ACTION and its access points
// arn:PARTITION:s3-outposts:REGION:ACCOUNT:outpost/OUTPOST-ID/accesspoint/NAME ("Setting up IAM with S3 on
// Outposts"). Both the access point's policy and the policy of the bucket behind it must allow a request.

// resources returns the ARN bucket-level actions are on and the ARN of the objects under prefix (a key, or the
// beginning of the keys) for bucket, a bucket name or an access point ARN. partition is the bucket's ("aws" etc.);
// an access point's ARN names its own.
func resources(partition, bucket, prefix string) (bucketARN, objects string) {
	if ap, ok := transfer.AccessPointOf(bucket); ok {
		return ap.ARN, ap.ObjectARN(prefix)
	}
	bucketARN = "arn:" + partition + ":s3:::" + bucket
	return bucketARN, bucketARN + "/" + prefix
}

// outpostsPrefix is the namespace of S3 on Outposts' IAM actions.
const outpostsPrefix = "s3-outposts:"

// actionFor returns an S3 action (s3:ACTION) as policies for bucket must name it: s3-outposts:ACTION through an S3
// on Outposts access point, unchanged otherwise.
func actionFor(bucket, action string) string {
	ap, ok := transfer.AccessPointOf(bucket)
	if rest, isS3 := strings.CutPrefix(action, "s3:"); ok && isS3 && ap.Service == "s3-outposts" {
		return outpostsPrefix + rest
	}
	return action
}

// s3Action is an action in S3's own namespace, whichever namespace it is named in: the probes and the advice decide
// by it.
func s3Action(action string) string {
	if rest, ok := strings.CutPrefix(action, outpostsPrefix); ok {
		return "s3:" + rest
	}
	return action
}

// prefixKey is the condition key of ListBucket's prefix parameter in the namespace of action: s3:prefix, or
// s3-outposts:prefix.
func prefixKey(action string) string {
	service, _, _ := strings.Cut(action, ":")
	return service + ":prefix"
}

// isS3Check reports whether a row checks an S3 action, in either namespace.
func isS3Check(check string) bool {
	return strings.HasPrefix(check, "s3:") || strings.HasPrefix(check, outpostsPrefix)
}

// viaAccessPoint reports whether the requirements name an access point's resources.
func viaAccessPoint(reqs []Requirement) bool {
	for _, r := range reqs {
		arn, _, _ := strings.Cut(r.Resource, "/object/")
		if _, ok := transfer.AccessPointOf(arn); ok {
			return true
		}
	}
	return false
}

// writeAccessPointNote says that the access point's policy and its bucket's policy must allow the actions too, in
// place of the note about another account's bucket policy ("Configuring IAM policies for using access points": both
// the access point and the underlying bucket must permit the request; the bucket's policy may delegate access control
// to the access points of the bucket owner's account).
func writeAccessPointNote(b *strings.Builder) {
	b.WriteString("\nThe access point's own policy and the policy of the bucket behind it must allow the same actions\n")
	b.WriteString("(the bucket policy may delegate access control to the access points of the bucket owner's account).\n")
}

// writeAccessPointPCAdvice is the ParallelCluster advice for S3 permissions on an access point: S3Access takes a
// bucket's name and grants on arn:PARTITION:s3:::BUCKET, which covers no request made through an access point, so the
// statements go in a managed policy listed under AdditionalIamPolicies of the node's Iam section (path and which).
func writeAccessPointPCAdvice(b *strings.Builder, id Identity, path, which string, s3Missing []Requirement) {
	b.WriteString("\nS3Access grants on buckets by name, which covers no request made through an access point. Create a\n")
	fmt.Fprintf(b, "managed policy (say fsxsync-s3) from the document below and list it under %s%s:\n\n", path, which)
	b.WriteString("  AdditionalIamPolicies:\n")
	fmt.Fprintf(b, "    - Policy: arn:%s:iam::%s:policy/fsxsync-s3\n\n", id.Partition, id.Account)
	writePolicy(b, s3Missing)
}
