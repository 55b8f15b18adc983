package awsproxy

import (
	"net/http"
	"slices"
	"strings"
)

// BucketKey returns the bucket and the object key a path-style request names: /BUCKET/KEY. The key is "" for a
// request on the bucket itself, and both are "" for a request on the service (ListBuckets).
func BucketKey(r *http.Request) (bucket, key string) {
	// r.URL.Path is decoded and, as the proxy has no ServeMux, not cleaned: a key "a//b" stays "a//b".
	bucket, key, _ = strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	return bucket, key
}

// Op names the S3 operation of a path-style request, from its method, path and query, as the S3 API Reference names
// it: ListBuckets; on a bucket ListObjectsV2, ListObjects, ListObjectVersions, ListMultipartUploads, HeadBucket,
// CreateBucket, DeleteBucket, DeleteObjects, GetBucketLocation, GetBucketEncryption, PutBucketEncryption,
// GetBucketVersioning, GetBucketRequestPayment, CreateSession (directory buckets); on an object GetObject,
// HeadObject, PutObject, CopyObject, DeleteObject, CreateMultipartUpload, UploadPart, UploadPartCopy,
// CompleteMultipartUpload, AbortMultipartUpload, ListParts, RestoreObject, GetObjectAttributes, GetObjectTagging,
// PutObjectTagging. It returns "" for a request it does not recognise.
func Op(r *http.Request) string {
	bucket, key := BucketKey(r)
	q := r.URL.Query()
	switch {
	case bucket == "":
		if r.Method == http.MethodGet {
			return "ListBuckets"
		}
		return ""
	case key == "":
		return bucketOp(r.Method, q.Has)
	default:
		return objectOp(r.Method, q.Has, r.Header.Get("x-amz-copy-source") != "")
	}
}

// bucketOp names an operation on a bucket; has says whether the query has a parameter.
func bucketOp(method string, has func(string) bool) string {
	switch method {
	case http.MethodGet:
		switch {
		case has("list-type"):
			return "ListObjectsV2"
		case has("uploads"):
			return "ListMultipartUploads"
		case has("versions"):
			return "ListObjectVersions"
		case has("location"):
			return "GetBucketLocation"
		case has("encryption"):
			return "GetBucketEncryption"
		case has("versioning"):
			return "GetBucketVersioning"
		case has("requestPayment"):
			return "GetBucketRequestPayment"
		case has("session"):
			return "CreateSession"
		}
		return "ListObjects"
	case http.MethodHead:
		return "HeadBucket"
	case http.MethodPut:
		switch {
		case has("encryption"):
			return "PutBucketEncryption"
		case !anySubresource(has):
			return "CreateBucket"
		}
	case http.MethodDelete:
		if !anySubresource(has) {
			return "DeleteBucket"
		}
	case http.MethodPost:
		if has("delete") {
			return "DeleteObjects"
		}
	}
	return ""
}

// objectOp names an operation on an object; has says whether the query has a parameter, copySource whether the request
// names a copy source (x-amz-copy-source).
func objectOp(method string, has func(string) bool, copySource bool) string {
	switch method {
	case http.MethodGet:
		switch {
		case has("uploadId"):
			return "ListParts"
		case has("attributes"):
			return "GetObjectAttributes"
		case has("tagging"):
			return "GetObjectTagging"
		case !anySubresource(has):
			return "GetObject"
		}
	case http.MethodHead:
		return "HeadObject"
	case http.MethodPut:
		switch {
		case has("partNumber") && has("uploadId") && copySource:
			return "UploadPartCopy"
		case has("partNumber") && has("uploadId"):
			return "UploadPart"
		case has("tagging"):
			return "PutObjectTagging"
		case !anySubresource(has) && copySource:
			return "CopyObject"
		case !anySubresource(has):
			return "PutObject"
		}
	case http.MethodPost:
		switch {
		case has("uploads"):
			return "CreateMultipartUpload"
		case has("uploadId"):
			return "CompleteMultipartUpload"
		case has("restore"):
			return "RestoreObject"
		}
	case http.MethodDelete:
		switch {
		case has("uploadId"):
			return "AbortMultipartUpload"
		case !anySubresource(has):
			return "DeleteObject"
		}
	}
	return ""
}

// subresourceParams are query parameters that make a request another operation than the plain one on its bucket or
// object: a GET with ?acl is GetObjectAcl, not GetObject.
var subresourceParams = []string{
	"acl", "cors", "lifecycle", "logging", "notification", "object-lock", "ownershipControls", "policy",
	"policyStatus", "publicAccessBlock", "replication", "retention", "legal-hold", "tagging", "torrent", "website",
	"accelerate", "analytics", "intelligent-tiering", "inventory", "metrics", "encryption", "versioning",
	"requestPayment", "attributes", "restore", "select", "uploads", "uploadId",
}

// anySubresource reports whether the query has one of the subresource parameters.
func anySubresource(has func(string) bool) bool {
	return slices.ContainsFunc(subresourceParams, has)
}

// Ops returns a matcher for AnswerError that matches requests whose Op is one of ops.
func Ops(ops ...string) func(*http.Request) bool {
	ops = slices.Clone(ops)
	return func(r *http.Request) bool { return slices.Contains(ops, Op(r)) }
}
