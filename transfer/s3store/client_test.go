package s3store

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/fsxsync/fsxsync/internal/iamtest"
	"github.com/fsxsync/fsxsync/internal/testenv"
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
