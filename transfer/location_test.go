package transfer

import (
	"errors"
	"strings"
	"testing"
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
	for _, s := range []string{"s3://bucket/key", "s3:/b", "s3://", "s3://B_AD", "/tmp/x", "s3://a.b-c/../x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLocation(s)
		if err != nil {
			return
		}
		if l.IsS3() {
			if checkBucketName(l.Bucket) != nil {
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
