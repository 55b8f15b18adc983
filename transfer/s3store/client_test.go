package s3store

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/fsxsync/fsxsync/internal/iamtest"
	"github.com/fsxsync/fsxsync/internal/testenv"
	"github.com/fsxsync/fsxsync/transfer"
)

// With no region configured anywhere, the client takes the instance's region from the instance metadata service
// (AWS's amazon-ec2-metadata-mock, serving an instance in eu-west-2), and falls back to us-east-1 where there is
// none.
func TestRegionFromInstanceMetadata(t *testing.T) {
	imds, err := iamtest.StartIMDSInRegion("eu-west-2", "fsxsync-node-role", "AKIDEXAMPLE", "secret")
	if err != nil {
		testenv.Missing(t, "ec2-metadata-mock", err)
	}
	defer imds.Stop()
	for _, kv := range imds.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	cfg, err := LoadConfig(context.Background(), ClientOptions{})
	if err != nil || cfg.Region != "eu-west-2" {
		t.Errorf("region %q, %v; want eu-west-2 from IMDS", cfg.Region, err)
	}
	cfg, err = LoadConfig(context.Background(), ClientOptions{Region: "ap-south-1"})
	if err != nil || cfg.Region != "ap-south-1" {
		t.Errorf("region %q, %v; want the configured ap-south-1", cfg.Region, err)
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cfg, err = LoadConfig(context.Background(), ClientOptions{})
	if err != nil || cfg.Region != "us-east-1" {
		t.Errorf("region %q, %v; want us-east-1 without IMDS", cfg.Region, err)
	}
}

// Where a request names the bucket. AWS endpoints get virtual-hosted addressing, which directory buckets and access
// points require ("Virtual hosting of general purpose buckets", "Regional and Zonal endpoints for directory buckets",
// S3 User Guide); other endpoint URLs get path-style unless the user says otherwise.
func TestPathStyle(t *testing.T) {
	for _, c := range []struct {
		style, endpoint, bucket string
		want                    bool
	}{
		{"auto", "", "data", false},
		{"auto", "http://127.0.0.1:7070", "data", true},
		{"auto", "http://minio.lab:9000", "data", true},
		{"auto", "https://s3.us-east-1.amazonaws.com", "data", false},
		{"auto", "https://bucket.vpce-0a1b-2c3d.s3.us-east-1.vpce.amazonaws.com", "data", false},
		{"auto", "https://s3.cn-north-1.amazonaws.com.cn", "data", false},
		{"auto", "http://minio.lab:9000", "scratch--use1-az4--x-s3", false},
		{"auto", "http://minio.lab:9000", "arn:aws:s3:us-east-1:123456789012:accesspoint/ap", false},
		{"path", "", "data", true},
		{"path", "https://s3.us-east-1.amazonaws.com", "data", true},
		{"virtual", "http://127.0.0.1:7070", "data", false},
	} {
		if got := PathStyle(c.style, c.endpoint, c.bucket); got != c.want {
			t.Errorf("PathStyle(%q, %q, %q) = %v, want %v", c.style, c.endpoint, c.bucket, got, c.want)
		}
	}
}

// Directory bucket names are BASE--ZONE-ID--x-s3 ("Directory bucket naming rules", S3 User Guide).
func TestIsDirectoryBucket(t *testing.T) {
	for name, want := range map[string]bool{
		"scratch--use1-az4--x-s3":        true,
		"my-data--usw2-lax1-az1--x-s3":   true,
		"scratch":                        false,
		"scratch--x-s3":                  false,
		"--use1-az4--x-s3":               false,
		"scratch--use1-az4--x-s3-backup": false,
		"scratch-s3alias":                false,
	} {
		if got := IsDirectoryBucket(name); got != want {
			t.Errorf("IsDirectoryBucket(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestParseAddressingStyle(t *testing.T) {
	for in, want := range map[string]string{"": "auto", "auto": "auto", "path": "path", "virtual": "virtual"} {
		if got, err := ParseAddressingStyle(in); err != nil || got != want {
			t.Errorf("ParseAddressingStyle(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseAddressingStyle("Path"); err == nil || transfer.KindOf(err) != transfer.KindUsage {
		t.Errorf("ParseAddressingStyle(Path) = %v; want a usage error", err)
	}
}
