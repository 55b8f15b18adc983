package transfer

import (
	"errors"
	"strings"
	"testing"
)

// apARN and opARN are an access point's ARN and an S3 on Outposts access point's, in the forms of "Referencing access
// points with ARNs, access point aliases, or virtual-hosted–style URIs" and "Setting up IAM with S3 on Outposts".
const (
	apARN = "arn:aws:s3:us-east-1:123456789012:accesspoint/myap"
	opARN = "arn:aws:s3-outposts:us-west-2:123456789012:outpost/op-01ac5d28a6a232904/accesspoint/myap"
)

func TestParseLocation(t *testing.T) {
	tests := []struct {
		in      string
		want    Location
		wantErr string
	}{
		{in: "/fsx/data", want: Location{Local: "/fsx/data"}},
		{in: "relative/dir", want: Location{Local: "relative/dir"}},
		{in: "s3://bucket", want: Location{Bucket: "bucket"}},
		{in: "s3://bucket/", want: Location{Bucket: "bucket"}},
		{in: "s3://bucket/a/b/", want: Location{Bucket: "bucket", Key: "a/b/"}},
		{in: "s3://my.bucket-1/key with space", want: Location{Bucket: "my.bucket-1", Key: "key with space"}},
		{in: "s3:/b", wantErr: "malformed S3 URL"},
		{in: "s3://", wantErr: "bucket name is missing"},
		{in: "s3:///key", wantErr: "bucket name is missing"},
		{in: "s3://B_AD", wantErr: "lower-case"},
		{in: "S3://bucket", wantErr: "malformed S3 URL"},
		{in: "s3://ab", wantErr: "3 to 63"},
		{in: "s3://-bucket", wantErr: "begin and end"},
		{in: "s3://a..b", wantErr: "adjacent periods"},
		{in: "", wantErr: "empty path"},
		// Access point aliases are bucket names; Outposts aliases end in --op-s3 ("Referencing access points with
		// ARNs, access point aliases, or virtual-hosted–style URIs", S3 User Guide).
		{in: "s3://myap-hrzrlukc5m36ft7okagglf3gmwluquse1a-s3alias/x", want: Location{Bucket: "myap-hrzrlukc5m36ft7okagglf3gmwluquse1a-s3alias", Key: "x"}},
		{in: "s3://myaccesspoi-o01ac5d28a6a232904e8xz5w8ijx1qzlbp3i3kuse10--op-s3/x",
			want: Location{Bucket: "myaccesspoi-o01ac5d28a6a232904e8xz5w8ijx1qzlbp3i3kuse10--op-s3", Key: "x"}},
		// Access point ARNs: the key is what follows the name.
		{in: "s3://" + apARN, want: Location{Bucket: apARN}},
		{in: "s3://" + apARN + "/", want: Location{Bucket: apARN}},
		{in: "s3://" + apARN + "/data/run1/", want: Location{Bucket: apARN, Key: "data/run1/"}},
		{in: "s3://" + apARN + "/a:b//c", want: Location{Bucket: apARN, Key: "a:b//c"}},
		{in: "s3://" + opARN + "/data", want: Location{Bucket: opARN, Key: "data"}},
		{in: "s3://arn:aws-cn:s3:cn-north-1:123456789012:accesspoint/myap/k", want: Location{Bucket: "arn:aws-cn:s3:cn-north-1:123456789012:accesspoint/myap", Key: "k"}},
		{in: "s3://arn:aws-us-gov:s3:us-gov-west-1:123456789012:accesspoint/myap", want: Location{Bucket: "arn:aws-us-gov:s3:us-gov-west-1:123456789012:accesspoint/myap"}},
		{in: "s3://arn:aws:sqs:us-east-1:123456789012:accesspoint/myap/k", wantErr: `service "sqs" is not s3`},
		{in: "s3://arn:aws:s3:us-east-1::accesspoint/myap/k", wantErr: "account ID is missing"},
		{in: "s3://arn:aws:s3:us-east-1:1234:accesspoint/myap/k", wantErr: `account ID "1234" is not 12 digits`},
		{in: "s3://arn:aws:s3:useast1:123456789012:accesspoint/myap/k", wantErr: `region "useast1" is not a region name`},
		{in: "s3://arn:aws:s3:cn-north-1:123456789012:accesspoint/myap/k", wantErr: "region cn-north-1 is in partition aws-cn, not aws"},
		{in: "s3://arn:aws:s3::123456789012:accesspoint/mfzwi23gnjvgw.mrap/k", wantErr: "Multi-Region Access Points"},
		{in: "s3://arn:aws:s3:us-east-1:123456789012:accesspoint/", wantErr: "access point name is missing"},
		{in: "s3://arn:aws:s3:us-east-1:123456789012:accesspoint//k", wantErr: "access point name is missing"},
		{in: "s3://arn:aws:s3:us-east-1:123456789012:accesspoint/My_AP/k", wantErr: `access point name "My_AP" may contain only`},
		{in: "s3://arn:aws:s3:us-east-1:123456789012:bucket/myap/k", wantErr: `the resource must be accesspoint/NAME, not "bucket/myap"`},
		{in: "s3://arn:aws:s3:::mybucket/k", wantErr: "is a bucket ARN"},
		{in: "s3://arn:aws-iso:s3:us-iso-east-1:123456789012:accesspoint/myap", wantErr: `partition "aws-iso" is not aws, aws-cn or aws-us-gov`},
		{in: "s3://arn:aws:s3:us-east-1", wantErr: "is not an access point ARN"},
		{in: "s3://arn:aws:s3-outposts:us-west-2:123456789012:outpost//accesspoint/myap", wantErr: "Outpost ID is missing"},
		{in: "s3://arn:aws:s3-outposts:us-west-2:123456789012:outpost/op-01ac5d28a6a232904/bucket/b", wantErr: "must be outpost/OUTPOST-ID/accesspoint/NAME"},
	}
	for _, tt := range tests {
		got, err := ParseLocation(tt.in)
		if tt.wantErr != "" {
			var ue *UsageError
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.As(err, &ue) {
				t.Errorf("ParseLocation(%q) error = %v, want a UsageError containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseLocation(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	if p := (Location{Bucket: "b", Key: "a/b"}).DirPrefix(); p != "a/b/" {
		t.Errorf("DirPrefix = %q", p)
	}
}

func FuzzParseLocation(f *testing.F) {
	for _, s := range []string{"s3://bucket/key", "s3:/b", "s3://", "s3://B_AD", "/tmp/x", "s3://a.b-c/../x",
		"s3://" + apARN + "/data/", "s3://" + opARN, "s3://arn:aws:s3:::b/k"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLocation(s)
		if err != nil {
			return
		}
		if l.IsS3() {
			if _, ok := AccessPointOf(l.Bucket); !ok && checkBucketName(l.Bucket) != nil {
				t.Errorf("accepted bad bucket %q", l.Bucket)
			}
			if back, err := ParseLocation(l.String()); err != nil || back != l {
				t.Errorf("round trip of %q: %+v, %v", s, back, err)
			}
		} else if l.Local != s {
			t.Errorf("local path changed: %q -> %q", s, l.Local)
		}
	})
}
