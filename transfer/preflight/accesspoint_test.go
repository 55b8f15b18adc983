package preflight

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// The resources the preflight names through an access point, in the forms of "Configuring IAM policies for using
// access points" (S3 User Guide): bucket-level actions on the access point's ARN, object actions on ARN/object/KEY.
// S3 on Outposts names its actions s3-outposts:ACTION ("Setting up IAM with S3 on Outposts").
func TestRequirementsAccessPoint(t *testing.T) {
	const (
		ap = "arn:aws:s3:us-east-1:123456789012:accesspoint/myap"
		op = "arn:aws:s3-outposts:us-west-2:123456789012:outpost/op-01ac5d28a6a232904/accesspoint/myap"
	)
	tests := []struct {
		name string
		in   RequirementsInput
		want []string
	}{
		{"sync up --delete through an access point", RequirementsInput{Bucket: ap, Prefix: "data/", Upload: true, Recursive: true, Compare: true, Delete: true},
			[]string{
				"s3:ListBucket " + ap + " prefix=data/",
				"s3:GetObject " + ap + "/object/data/*",
				"s3:PutObject " + ap + "/object/data/*",
				"s3:AbortMultipartUpload " + ap + "/object/data/*",
				"s3:DeleteObject " + ap + "/object/data/*",
			}},
		{"cp one object down through an access point", RequirementsInput{Bucket: ap, Prefix: "data/model.ckpt"},
			[]string{"s3:GetObject " + ap + "/object/data/model.ckpt"}},
		// The access point's ARN names its partition; the caller's does not change it.
		{"the ARN's partition, not the caller's", RequirementsInput{Partition: "aws-us-gov", Bucket: ap, Recursive: true},
			[]string{"s3:ListBucket " + ap, "s3:GetObject " + ap + "/object/*"}},
		{"sync up through an Outposts access point", RequirementsInput{Bucket: op, Prefix: "data/", Upload: true, Recursive: true, Compare: true},
			[]string{
				"s3-outposts:ListBucket " + op + " prefix=data/",
				"s3-outposts:GetObject " + op + "/object/data/*",
				"s3-outposts:PutObject " + op + "/object/data/*",
				"s3-outposts:AbortMultipartUpload " + op + "/object/data/*",
			}},
		{"an access point alias is a bucket name", RequirementsInput{Bucket: "myap-hrzrlukc5m36ft7okagglf3gmwluquse1a-s3alias", Recursive: true},
			[]string{
				"s3:ListBucket arn:aws:s3:::myap-hrzrlukc5m36ft7okagglf3gmwluquse1a-s3alias",
				"s3:GetObject arn:aws:s3:::myap-hrzrlukc5m36ft7okagglf3gmwluquse1a-s3alias/*",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, r := range Requirements(tt.in) {
				line := r.Action + " " + r.Resource
				if r.Prefix != "" {
					line += " prefix=" + r.Prefix
				}
				got = append(got, line)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

// The advice for a denial through an access point names the access point's resources, says that the access point
// policy and the bucket's policy must allow the actions too, and for a ParallelCluster role does not offer S3Access,
// which grants on bucket names only.
func TestFixAdviceAccessPoint(t *testing.T) {
	const (
		ap = "arn:aws:s3:us-east-1:123456789012:accesspoint/myap"
		op = "arn:aws:s3-outposts:us-west-2:123456789012:outpost/op-01ac5d28a6a232904/accesspoint/myap"
	)
	user := mustIdentity(t, "arn:aws:iam::123456789012:user/division/alice")
	computeRole := mustIdentity(t, "arn:aws:sts::123456789012:assumed-role/ifx-reworkB-ComputeFleetQueues-Role18b1a9ea4e81c872-zBYLkxivPcqU/i-0d46daa16277ef29b").MatchQueue("i8")
	up := Requirements(RequirementsInput{Bucket: ap, Prefix: "data/", Upload: true, Recursive: true, Compare: true})
	upOutposts := Requirements(RequirementsInput{Bucket: op, Prefix: "data/", Upload: true, Recursive: true, Compare: true})

	tests := []struct {
		name    string
		id      Identity
		missing []Requirement
		want    []string
		notWant []string
	}{
		{"IAM user", user, up,
			[]string{
				`  - s3:ListBucket on ` + ap + ` for prefix "data/" (list the destination prefix to compare it with the local tree)`,
				"  - s3:PutObject on " + ap + "/object/data/* (upload files)",
				`      "Resource": "` + ap + `",`,
				`      "Resource": "` + ap + `/object/data/*"`,
				`          "s3:prefix": "data/*"`,
				"The access point's own policy and the policy of the bucket behind it must allow the same actions",
			},
			[]string{"arn:aws:s3:::", "If the bucket belongs to another account"}},
		{"ParallelCluster compute role", computeRole, up,
			[]string{
				"S3Access grants on buckets by name, which covers no request made through an access point. Create a",
				"managed policy (say fsxsync-s3) from the document below and list it under Scheduling.SlurmQueues[].Iam of queue i8:",
				"    - Policy: arn:aws:iam::123456789012:policy/fsxsync-s3",
				`      "Resource": "` + ap + `/object/data/*"`,
			},
			[]string{"BucketName", "S3Access:\n"}},
		{"IAM user, Outposts", user, upOutposts,
			[]string{
				`        "s3-outposts:PutObject",`,
				`          "s3-outposts:prefix": "data/*"`,
				`      "Resource": "` + op + `/object/data/*"`,
				"The access point's own policy and the policy of the bucket behind it must allow the same actions",
			},
			[]string{`"s3:`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FixAdvice(tt.id, tt.missing)
			lines := strings.Split(got, "\n")
			for _, w := range tt.want {
				if !slices.Contains(lines, w) {
					t.Errorf("advice lacks the line %q:\n%s", w, got)
				}
			}
			for _, nw := range tt.notWant {
				if strings.Contains(got, nw) {
					t.Errorf("advice contains %q:\n%s", nw, got)
				}
			}
			// The policy document is valid JSON.
			start, end := strings.Index(got, "{\n"), strings.LastIndex(got, "\n}")
			if start < 0 || end < 0 {
				t.Fatalf("no policy document:\n%s", got)
			}
			var doc policyDocument
			if err := json.Unmarshal([]byte(got[start:end+2]), &doc); err != nil {
				t.Errorf("policy document: %v", err)
			}
		})
	}
}
