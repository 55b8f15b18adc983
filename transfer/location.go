package transfer

import (
	"fmt"
	"strings"
)

// Location is one side of a transfer: a local path or an S3 bucket and prefix.
type Location struct {
	// Local is the local path when the location is on the file system; empty for S3.
	Local string
	// Bucket and Key describe an S3 location; Bucket is empty for a local one. Bucket is a bucket name, an access
	// point alias, or an access point ARN (AccessPointOf), which the SDK takes as the bucket. Key is the object key or
	// prefix exactly as typed after the bucket (without the leading '/').
	Bucket string
	Key    string
}

// IsS3 reports whether the location names S3.
func (l Location) IsS3() bool { return l.Bucket != "" }

// String renders the location as the user would type it.
func (l Location) String() string {
	if l.IsS3() {
		return "s3://" + l.Bucket + "/" + l.Key
	}
	return l.Local
}

// DirPrefix returns the key as a directory prefix: empty, or ending in exactly one '/'.
func (l Location) DirPrefix() string {
	if l.Key == "" {
		return ""
	}
	return strings.TrimRight(l.Key, "/") + "/"
}

// ParseLocation parses a command-line argument: "s3://bucket[/key]" is S3, anything else is a local path. The bucket
// may be an access point ARN (see AccessPoint): "s3://arn:aws:s3:REGION:ACCOUNT:accesspoint/NAME[/key]". A string
// that looks like an attempt at an S3 URL but is malformed ("s3:/b", "s3://", "S3://B_AD") is an error rather than a
// local path, so a typo never silently becomes a directory named "s3:".
func ParseLocation(arg string) (Location, error) {
	if arg == "" {
		return Location{}, Usagef("empty path: give a local path or s3://bucket/prefix")
	}
	lower := strings.ToLower(arg)
	if !strings.HasPrefix(lower, "s3:") {
		return Location{Local: arg}, nil
	}
	if !strings.HasPrefix(arg, "s3://") {
		return Location{}, Usagef("malformed S3 URL %q: write s3://bucket/prefix", arg)
	}
	rest := arg[len("s3://"):]
	bucket, key, _ := strings.Cut(rest, "/")
	if strings.HasPrefix(rest, "arn:") {
		// An access point ARN in place of the bucket: it has '/' of its own, so the key follows its name.
		ap, apKey, err := parseAccessPoint(rest)
		if err != nil {
			return Location{}, Usagef("malformed S3 URL %q: %v", arg, err)
		}
		bucket, key = ap.ARN, apKey
	}
	if bucket == "" {
		return Location{}, Usagef("malformed S3 URL %q: the bucket name is missing (write s3://bucket/prefix)", arg)
	}
	if _, ok := AccessPointOf(bucket); !ok {
		if err := checkBucketName(bucket); err != nil {
			return Location{}, Usagef("malformed S3 URL %q: %v", arg, err)
		}
	}
	if strings.ContainsRune(key, 0) {
		return Location{}, Usagef("malformed S3 URL %q: the key contains a NUL byte", arg)
	}
	if len(key) > 1024 {
		return Location{}, Usagef("malformed S3 URL: the key is %d bytes long; S3 keys are at most 1024", len(key))
	}
	return Location{Bucket: bucket, Key: key}, nil
}

// checkBucketName applies S3's bucket naming rules for general purpose buckets: 3 to 63 characters of lower-case
// letters, digits, '.' and '-', beginning and ending with a letter or digit.
func checkBucketName(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("bucket name %q must be 3 to 63 characters long", b)
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '.' || c == '-':
			if i == 0 || i == len(b)-1 {
				return fmt.Errorf("bucket name %q must begin and end with a letter or digit", b)
			}
		default:
			return fmt.Errorf("bucket name %q may contain only lower-case letters, digits, '.' and '-'", b)
		}
	}
	if strings.Contains(b, "..") {
		return fmt.Errorf("bucket name %q must not contain two adjacent periods", b)
	}
	return nil
}
