package transfer

import "testing"

// The parts of an access point ARN, as "Referencing access points with ARNs, access point aliases, or
// virtual-hosted–style URIs" (S3 User Guide) and, for Outposts, "Setting up IAM with S3 on Outposts" describe them; the
// object ARN is the form policies name objects by through the access point ("Configuring IAM policies for using
// access points").
func TestAccessPointOf(t *testing.T) {
	tests := []struct {
		bucket    string
		want      AccessPoint
		objectARN string
	}{
		{apARN, AccessPoint{ARN: apARN, Partition: "aws", Service: "s3", Region: "us-east-1", Account: "123456789012", Name: "myap"},
			apARN + "/object/data/*"},
		{opARN, AccessPoint{ARN: opARN, Partition: "aws", Service: "s3-outposts", Region: "us-west-2", Account: "123456789012",
			Outpost: "op-01ac5d28a6a232904", Name: "myap"},
			opARN + "/object/data/*"},
	}
	for _, tt := range tests {
		got, ok := AccessPointOf(tt.bucket)
		if !ok || got != tt.want {
			t.Errorf("AccessPointOf(%q) = %+v, %v; want %+v", tt.bucket, got, ok, tt.want)
		}
		if o := got.ObjectARN("data/*"); o != tt.objectARN {
			t.Errorf("ObjectARN = %q, want %q", o, tt.objectARN)
		}
	}
	// Only a whole ARN, without a key, is an access point; bucket names and aliases are not.
	for _, b := range []string{"bucket", "myap-hrzrlukc5m36ft7okagglf3gmwluquse1a-s3alias", apARN + "/", apARN + "/k",
		"arn:aws:s3:::bucket", "arn:aws:s3:us-east-1:123456789012:accesspoint/"} {
		if ap, ok := AccessPointOf(b); ok {
			t.Errorf("AccessPointOf(%q) = %+v, want none", b, ap)
		}
	}
}

func TestIsRegionName(t *testing.T) {
	for _, r := range []string{"us-east-1", "ap-southeast-2", "us-gov-west-1", "cn-northwest-1", "il-central-1"} {
		if !isRegionName(r) {
			t.Errorf("isRegionName(%q) = false", r)
		}
	}
	for _, r := range []string{"", "us", "us-east", "useast1", "us-east-", "US-EAST-1", "us-east-1a", "u-east-1", "us--1"} {
		if isRegionName(r) {
			t.Errorf("isRegionName(%q) = true", r)
		}
	}
}
