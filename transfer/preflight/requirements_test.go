package preflight

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/fsxsync/fsxsync/transfer/s3store"
)

func TestRequirements(t *testing.T) {
	const key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	// Each want line is "ACTION RESOURCE [prefix=PREFIX]".
	tests := []struct {
		name string
		in   RequirementsInput
		want []string
	}{
		{"sync up", RequirementsInput{Bucket: "b", Prefix: "results/run42/", Upload: true, Recursive: true, Compare: true},
			[]string{
				"s3:ListBucket arn:aws:s3:::b prefix=results/run42/",
				"s3:GetObject arn:aws:s3:::b/results/run42/*",
				"s3:PutObject arn:aws:s3:::b/results/run42/*",
				"s3:AbortMultipartUpload arn:aws:s3:::b/results/run42/*",
			}},
		{"sync up --delete to the whole bucket", RequirementsInput{Bucket: "b", Upload: true, Recursive: true, Compare: true, Delete: true},
			[]string{
				"s3:ListBucket arn:aws:s3:::b",
				"s3:GetObject arn:aws:s3:::b/*",
				"s3:PutObject arn:aws:s3:::b/*",
				"s3:AbortMultipartUpload arn:aws:s3:::b/*",
				"s3:DeleteObject arn:aws:s3:::b/*",
			}},
		// A directory bucket's requests all run in a CreateSession session: that is what IAM checks.
		{"sync down from a directory bucket", RequirementsInput{Bucket: "s--use1-az4--x-s3", Prefix: "in/", Recursive: true,
			Region: "us-east-1", Account: "123456789012"},
			[]string{
				"s3express:CreateSession arn:aws:s3express:us-east-1:123456789012:bucket/s--use1-az4--x-s3",
				"s3:ListBucket arn:aws:s3:::s--use1-az4--x-s3 prefix=in/",
				"s3:GetObject arn:aws:s3:::s--use1-az4--x-s3/in/*",
			}},
		{"cp -r up", RequirementsInput{Bucket: "b", Prefix: "ckpt/", Upload: true, Recursive: true},
			[]string{
				"s3:ListBucket arn:aws:s3:::b prefix=ckpt/",
				"s3:PutObject arn:aws:s3:::b/ckpt/*",
				"s3:AbortMultipartUpload arn:aws:s3:::b/ckpt/*",
			}},
		{"cp one file up", RequirementsInput{Bucket: "b", Prefix: "ckpt/model.ckpt", Upload: true},
			[]string{
				"s3:PutObject arn:aws:s3:::b/ckpt/model.ckpt",
				"s3:AbortMultipartUpload arn:aws:s3:::b/ckpt/model.ckpt",
			}},
		{"compare one file up", RequirementsInput{Bucket: "b", Prefix: "ckpt/model.ckpt", Upload: true, Compare: true},
			[]string{
				"s3:ListBucket arn:aws:s3:::b",
				"s3:GetObject arn:aws:s3:::b/ckpt/model.ckpt",
				"s3:PutObject arn:aws:s3:::b/ckpt/model.ckpt",
				"s3:AbortMultipartUpload arn:aws:s3:::b/ckpt/model.ckpt",
			}},
		{"sync down --delete needs no S3 delete", RequirementsInput{Bucket: "b", Prefix: "inputs/", Recursive: true, Compare: true, Delete: true},
			[]string{
				"s3:ListBucket arn:aws:s3:::b prefix=inputs/",
				"s3:GetObject arn:aws:s3:::b/inputs/*",
			}},
		{"cp one object down", RequirementsInput{Bucket: "b", Prefix: "ckpt/model.ckpt"},
			[]string{"s3:GetObject arn:aws:s3:::b/ckpt/model.ckpt"}},
		{"sync down --restore-archived", RequirementsInput{Bucket: "b", Prefix: "inputs/", Recursive: true, Compare: true, Restore: true},
			[]string{
				"s3:ListBucket arn:aws:s3:::b prefix=inputs/",
				"s3:GetObject arn:aws:s3:::b/inputs/*",
				"s3:RestoreObject arn:aws:s3:::b/inputs/*",
			}},
		{"cp one object down --restore-archived", RequirementsInput{Bucket: "b", Prefix: "ckpt/model.ckpt", Restore: true},
			[]string{"s3:GetObject arn:aws:s3:::b/ckpt/model.ckpt", "s3:RestoreObject arn:aws:s3:::b/ckpt/model.ckpt"}},
		{"upload: --restore-archived restores nothing", RequirementsInput{Bucket: "b", Prefix: "out/", Upload: true, Recursive: true, Restore: true},
			[]string{
				"s3:ListBucket arn:aws:s3:::b prefix=out/",
				"s3:PutObject arn:aws:s3:::b/out/*",
				"s3:AbortMultipartUpload arn:aws:s3:::b/out/*",
			}},
		{"sync up to SSE-KMS", RequirementsInput{Bucket: "b", Prefix: "out/", Upload: true, Recursive: true, Compare: true, KMSKeyARN: key},
			[]string{
				"s3:ListBucket arn:aws:s3:::b prefix=out/",
				"s3:GetObject arn:aws:s3:::b/out/*",
				"s3:PutObject arn:aws:s3:::b/out/*",
				"s3:AbortMultipartUpload arn:aws:s3:::b/out/*",
				"kms:GenerateDataKey " + key,
				"kms:Decrypt " + key,
			}},
		{"sync down from SSE-KMS", RequirementsInput{Bucket: "b", Prefix: "in/", Recursive: true, Compare: true, KMSKeyARN: key},
			[]string{
				"s3:ListBucket arn:aws:s3:::b prefix=in/",
				"s3:GetObject arn:aws:s3:::b/in/*",
				"kms:Decrypt " + key,
			}},
		// --sse: the upload's own header overrides the bucket's default encryption, so its key is the one needed.
		{"sync up --sse aws:kms with a key id, to an SSE-KMS bucket", RequirementsInput{Bucket: "b", Prefix: "out/", Upload: true, Recursive: true,
			KMSKeyARN: key, Encryption: s3store.Encryption{Algorithm: "aws:kms", KMSKeyID: "alias/results"}},
			[]string{
				"s3:ListBucket arn:aws:s3:::b prefix=out/",
				"s3:PutObject arn:aws:s3:::b/out/*",
				"s3:AbortMultipartUpload arn:aws:s3:::b/out/*",
				"kms:GenerateDataKey alias/results",
				"kms:Decrypt alias/results",
			}},
		{"sync up --sse aws:kms without a key id", RequirementsInput{Bucket: "b", Prefix: "out/", Upload: true, Recursive: true,
			Encryption: s3store.Encryption{Algorithm: "aws:kms"}},
			[]string{
				"s3:ListBucket arn:aws:s3:::b prefix=out/",
				"s3:PutObject arn:aws:s3:::b/out/*",
				"s3:AbortMultipartUpload arn:aws:s3:::b/out/*",
				"kms:GenerateDataKey alias/aws/s3",
				"kms:Decrypt alias/aws/s3",
			}},
		{"sync up --sse AES256 to an SSE-KMS bucket needs no KMS", RequirementsInput{Bucket: "b", Prefix: "out/", Upload: true, Recursive: true,
			KMSKeyARN: key, Encryption: s3store.Encryption{Algorithm: "AES256"}},
			[]string{
				"s3:ListBucket arn:aws:s3:::b prefix=out/",
				"s3:PutObject arn:aws:s3:::b/out/*",
				"s3:AbortMultipartUpload arn:aws:s3:::b/out/*",
			}},
		{"--sse does not change a download", RequirementsInput{Bucket: "b", Prefix: "in/", Recursive: true,
			KMSKeyARN: key, Encryption: s3store.Encryption{Algorithm: "aws:kms", KMSKeyID: "alias/results"}},
			[]string{
				"s3:ListBucket arn:aws:s3:::b prefix=in/",
				"s3:GetObject arn:aws:s3:::b/in/*",
				"kms:Decrypt " + key,
			}},
		{"GovCloud partition", RequirementsInput{Partition: "aws-us-gov", Bucket: "b", Prefix: "x/", Recursive: true},
			[]string{
				"s3:ListBucket arn:aws-us-gov:s3:::b prefix=x/",
				"s3:GetObject arn:aws-us-gov:s3:::b/x/*",
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
				if r.Why == "" {
					t.Errorf("%s has no Why", line)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Requirements(%+v)\n got %s\nwant %s", tt.in, strings.Join(got, "\n     "), strings.Join(tt.want, "\n     "))
			}
		})
	}
}

func TestFixAdvice(t *testing.T) {
	const kmsKey = "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	computeRole := mustIdentity(t, "arn:aws:sts::123456789012:assumed-role/ifx-reworkB-ComputeFleetQueues-Role18b1a9ea4e81c872-zBYLkxivPcqU/i-0d46daa16277ef29b").MatchQueue("i8")
	headRole := mustIdentity(t, "arn:aws:sts::123456789012:assumed-role/prod-cand-260809-RoleHeadNode-eadPOAt3UaZr/i-048ff099d73057e09")
	user := mustIdentity(t, "arn:aws:iam::123456789012:user/division/alice")
	sso := mustIdentity(t, "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_PowerUserAccess_3f1e0a8c2b9d4e7f/jdoe@example.edu")
	plainRole := mustIdentity(t, "arn:aws:sts::123456789012:assumed-role/MyEC2Role/i-0123456789abcdef0")
	root := mustIdentity(t, "arn:aws:iam::123456789012:root")

	syncUp := Requirements(RequirementsInput{Bucket: "my-bucket", Prefix: "results/run42/", Upload: true, Recursive: true, Compare: true, KMSKeyARN: kmsKey})
	pick := func(action string) Requirement {
		for _, r := range syncUp {
			if r.Action == action {
				return r
			}
		}
		t.Fatalf("no %s requirement", action)
		return Requirement{}
	}
	put, list, get, decrypt := pick("s3:PutObject"), pick("s3:ListBucket"), pick("s3:GetObject"), pick("kms:Decrypt")
	const sessionARN = "arn:aws:s3express:us-east-1:123456789012:bucket/scratch--use1-az4--x-s3"
	session := Requirements(RequirementsInput{Bucket: "scratch--use1-az4--x-s3", Prefix: "run/", Upload: true, Recursive: true,
		Region: "us-east-1", Account: "123456789012"})[0]

	tests := []struct {
		name    string
		id      Identity
		missing []Requirement
		want    []string // lines that must appear, each whole
		notWant []string // text that must not appear anywhere
	}{
		{"compute role missing PutObject", computeRole, []Requirement{put},
			[]string{
				"The caller (EC2 instance role ifx-reworkB-ComputeFleetQueues-Role18b1a9ea4e81c872-zBYLkxivPcqU (ParallelCluster compute node role of queue i8 in cluster ifx-reworkB), session i-0d46daa16277ef29b, account 123456789012) lacks 1 permission:",
				"  - s3:PutObject on arn:aws:s3:::my-bucket/results/run42/* (upload files)",
				"In the cluster configuration, under Scheduling.SlurmQueues[].Iam of queue i8, add:",
				"  S3Access:",
				"    - BucketName: my-bucket",
				"      EnableWriteAccess: true",
				"Leave KeyName out: S3Access with KeyName grants access to that key only and no s3:ListBucket on the",
				"Then run: pcluster update-cluster --cluster-name ifx-reworkB --cluster-configuration CONFIG.yaml",
				`        "s3:PutObject"`,
				`      "Resource": "arn:aws:s3:::my-bucket/results/run42/*"`,
			},
			[]string{"put-role-policy", "HeadNode.Iam", "kms"}},
		{"head node role missing ListBucket: read-only S3Access", headRole, []Requirement{list},
			[]string{
				"In the cluster configuration, under HeadNode.Iam, add:",
				"    - BucketName: my-bucket",
				"not this one, so granting it here does not help jobs.",
				"Then run: pcluster update-cluster --cluster-name prod-cand-260809 --cluster-configuration CONFIG.yaml",
			},
			[]string{"EnableWriteAccess: true", "SlurmQueues"}},
		{"IAM user missing ListBucket with a prefix condition", user, []Requirement{list},
			[]string{
				`  - s3:ListBucket on arn:aws:s3:::my-bucket for prefix "results/run42/" (list the destination prefix to compare it with the local tree)`,
				"Attach this policy to IAM user alice (or to a group the user is in), for example with",
				"  aws iam put-user-policy --user-name alice --policy-name fsxsync --policy-document file://fsxsync-policy.json",
				`  "Version": "2012-10-17",`,
				`      "Effect": "Allow",`,
				`        "s3:ListBucket"`,
				`      "Resource": "arn:aws:s3:::my-bucket",`,
				`        "StringLike": {`,
				`          "s3:prefix": "results/run42/*"`,
			},
			[]string{"S3Access", "pcluster"}},
		{"compute role missing kms:Decrypt", computeRole, []Requirement{decrypt},
			[]string{
				"  - kms:Decrypt on " + kmsKey + " (complete multipart uploads to the SSE-KMS bucket, for which S3 decrypts the data key)",
				"S3Access grants no KMS or S3 Express permissions. Create a managed policy (say fsxsync-kms) from the",
				"document below and list it under Scheduling.SlurmQueues[].Iam of queue i8:",
				"  AdditionalIamPolicies:",
				"    - Policy: arn:aws:iam::123456789012:policy/fsxsync-kms",
				`        "kms:Decrypt"`,
				`      "Resource": "` + kmsKey + `"`,
				"The key policy of " + kmsKey + " must also allow this principal, or delegate to IAM as the default key policy does.",
			},
			[]string{"S3Access:", "BucketName"}},
		{"compute role refused a directory bucket's session", computeRole, []Requirement{session},
			[]string{
				"  - s3express:CreateSession on " + sessionARN + " (open the ReadWrite session through which S3 authorizes every request to a directory bucket)",
				"S3Access grants no KMS or S3 Express permissions. Create a managed policy (say fsxsync-kms) from the",
				`        "s3express:CreateSession"`,
				`      "Resource": "` + sessionARN + `"`,
			},
			[]string{"S3Access:", "BucketName", "key policy"}},
		{"SSO role missing GetObject", sso, []Requirement{get},
			[]string{
				"administrator to add these statements to the inline policy of permission set PowerUserAccess:",
				`        "s3:GetObject"`,
			},
			[]string{"put-role-policy", "S3Access"}},
		{"plain instance role", plainRole, []Requirement{put, get},
			[]string{
				"  aws iam put-role-policy --role-name MyEC2Role --policy-name fsxsync --policy-document file://fsxsync-policy.json",
				`        "s3:PutObject",`,
				`        "s3:GetObject"`,
			},
			[]string{"S3Access", "pcluster"}},
		{"unknown caller (STS out of reach, credentials not from an instance role)", Identity{}, []Requirement{put},
			[]string{
				"The caller (not known: STS could not be asked) lacks 1 permission:",
				"Attach this policy to the IAM user or role these credentials belong to. STS could not be asked who",
			},
			[]string{"identity :", "identity  "}},
		{"root", root, []Requirement{put},
			[]string{"The root user is not limited by IAM policies, so the refusal comes from a bucket policy, a KMS key"},
			[]string{`"Version"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FixAdvice(tt.id, tt.missing)
			lines := strings.Split(got, "\n")
			for _, w := range tt.want {
				if !slices.Contains(lines, w) {
					t.Errorf("missing line %q in:\n%s", w, got)
				}
			}
			for _, nw := range tt.notWant {
				if strings.Contains(got, nw) {
					t.Errorf("unexpected %q in:\n%s", nw, got)
				}
			}
		})
	}
}

// TestFixAdvicePolicyIsValidJSON checks that the policy documents FixAdvice prints parse, and that statements are
// split the way IAM needs: a ListBucket limited by s3:prefix alone in its statement, object actions together.
func TestFixAdvicePolicyIsValidJSON(t *testing.T) {
	user := mustIdentity(t, "arn:aws:iam::123456789012:user/alice")
	missing := Requirements(RequirementsInput{Bucket: "b", Prefix: "a&b/", Upload: true, Recursive: true, Compare: true, Delete: true})
	got := FixAdvice(user, missing)
	start, end := strings.Index(got, "{\n"), strings.LastIndex(got, "\n}\n")
	if start < 0 || end < 0 {
		t.Fatalf("no policy document in:\n%s", got)
	}
	var doc struct {
		Version   string
		Statement []struct {
			Effect    string
			Action    []string
			Resource  string
			Condition map[string]map[string]string
		}
	}
	if err := json.Unmarshal([]byte(got[start:end+2]), &doc); err != nil {
		t.Fatalf("policy does not parse: %v\n%s", err, got)
	}
	var stmts []string
	for _, s := range doc.Statement {
		stmts = append(stmts, fmt.Sprintf("%s %v %s %v", s.Effect, s.Action, s.Resource, s.Condition))
	}
	want := []string{
		"Allow [s3:ListBucket] arn:aws:s3:::b map[StringLike:map[s3:prefix:a&b/*]]",
		"Allow [s3:GetObject s3:PutObject s3:AbortMultipartUpload s3:DeleteObject] arn:aws:s3:::b/a&b/* map[]",
	}
	if !slices.Equal(stmts, want) {
		t.Errorf("statements\n got %q\nwant %q", stmts, want)
	}
	if !strings.Contains(got, `"a&b/*"`) {
		t.Errorf("prefix was escaped:\n%s", got)
	}
}

// A key given to --sse-kms-key-id as an alias or a key id is named as given, with how to find the ARN a policy needs;
// the AWS managed key aws/s3, whose key policy cannot be changed and already lets the account use it, gets no advice
// to change that policy.
func TestFixAdviceKeyNotAnARN(t *testing.T) {
	user := mustIdentity(t, "arn:aws:iam::123456789012:user/alice")
	reqs := Requirements(RequirementsInput{Bucket: "b", Prefix: "out/", Upload: true, Recursive: true,
		Encryption: s3store.Encryption{Algorithm: "aws:kms", KMSKeyID: "alias/results"}})
	got := FixAdvice(user, reqs[len(reqs)-2:])
	for _, w := range []string{
		"  - kms:GenerateDataKey on alias/results (encrypt uploads with the KMS key --sse-kms-key-id names)",
		"The key policy of alias/results must also allow this principal, or delegate to IAM as the default key policy does.",
		"alias/results is not an ARN, which a policy's Resource must be: write the key's ARN there",
		"(aws kms describe-key --key-id alias/results prints it as KeyMetadata.Arn).",
	} {
		if !slices.Contains(strings.Split(got, "\n"), w) {
			t.Errorf("missing line %q in:\n%s", w, got)
		}
	}

	reqs = Requirements(RequirementsInput{Bucket: "b", Prefix: "out/", Upload: true, Recursive: true,
		Encryption: s3store.Encryption{Algorithm: "aws:kms"}})
	got = FixAdvice(user, reqs[len(reqs)-1:])
	if !strings.Contains(got, "alias/aws/s3 is the AWS managed key S3 uses for --sse aws:kms without --sse-kms-key-id") ||
		strings.Contains(got, "The key policy of alias/aws/s3 must") {
		t.Errorf("aws/s3 advice:\n%s", got)
	}
}

func TestFixAdviceNothingMissing(t *testing.T) {
	if got := FixAdvice(mustIdentity(t, "arn:aws:iam::123456789012:root"), nil); got != "" {
		t.Errorf("FixAdvice with nothing missing = %q, want \"\"", got)
	}
}
