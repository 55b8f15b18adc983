package preflight

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/fsxsync/fsxsync/transfer/s3store"
)

// Requirement is one permission a transfer needs.
type Requirement struct {
	// Action is the IAM action: "s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload",
	// "s3:DeleteObject", "kms:Decrypt", "kms:GenerateDataKey".
	Action string
	// Resource is the ARN the action is on: arn:aws:s3:::bucket for ListBucket, arn:aws:s3:::bucket/prefix* or the
	// exact object ARN for object actions, the key ARN for KMS.
	Resource string
	// Prefix is the s3:prefix condition value for ListBucket ("" for the whole bucket): the prefix fsxsync lists.
	Prefix string
	// Why says in plain words what fsxsync does with the permission.
	Why string
}

// RequirementsInput says what the transfer will do.
type RequirementsInput struct {
	// Partition is the AWS partition of the bucket's ARN; "" means "aws".
	Partition string
	// Bucket is the bucket. Prefix is the key prefix of a tree as the engine lists it (Location.DirPrefix():
	// "results/run42/", or "" for the whole bucket), or for a single object the key itself.
	Bucket, Prefix string
	// Upload is true for local -> S3, false for S3 -> local.
	Upload bool
	// Recursive is a tree (cp -r, sync), which is listed; otherwise a single object (cp).
	Recursive bool
	// Compare is true for sync and false for cp: sync reads the metadata of same-size destination objects
	// (HeadObject) to compare modification times.
	Compare bool
	// Delete is sync --delete. In the upload direction it deletes objects (s3:DeleteObject); in the download
	// direction it deletes local files, which needs no S3 permission.
	Delete bool
	// Restore is --restore-archived on a download: archived objects are asked to be restored (s3:RestoreObject).
	Restore bool
	// KMSKeyARN is non-empty when the bucket's default encryption is SSE-KMS with this key.
	KMSKeyARN string
	// Encryption is the encryption uploads ask for with their own headers (--sse). It overrides the bucket's default
	// for them, as S3 does: --sse AES256 needs no KMS permission, --sse aws:kms needs them on its own key.
	Encryption s3store.Encryption
	// Region and Account name a directory bucket's s3express ARN; "" is written as "*".
	Region, Account string
}

// The actions Requirements may ask for.
const (
	actListBucket     = "s3:ListBucket"
	actGetObject      = "s3:GetObject"
	actPutObject      = "s3:PutObject"
	actAbortMultipart = "s3:AbortMultipartUpload"
	actDeleteObject   = "s3:DeleteObject"
	actRestoreObject  = "s3:RestoreObject"
	actCreateSession  = "s3express:CreateSession"
	actKMSDecrypt     = "kms:Decrypt"
	actKMSGenerate    = "kms:GenerateDataKey"
)

// Requirements derives the exact (action, resource) pairs a transfer needs, in a fixed order: listing, reading,
// writing, deleting, then KMS. It follows what the engine does (engine.go, s3store.go), not what a transfer of that
// kind needs in principle; see the single-object upload case below.
func Requirements(in RequirementsInput) []Requirement {
	partition := in.Partition
	if partition == "" {
		partition = "aws"
	}
	// A tree's objects are everything under the prefix; a single object is exactly its key. Through an access point
	// both are named in the access point's form (accesspoint.go).
	bucketARN, objects := resources(partition, in.Bucket, in.Prefix)
	if in.Recursive {
		objects += "*"
	}

	var reqs []Requirement
	add := func(action, resource, prefix, why string) {
		reqs = append(reqs, Requirement{Action: actionFor(in.Bucket, action), Resource: resource, Prefix: prefix, Why: why})
	}
	if s3store.IsDirectoryBucket(in.Bucket) {
		// IAM authorizes requests to a directory bucket by s3express:CreateSession on the bucket, the session's mode
		// deciding between reading and writing ("Authorizing Zonal endpoint API operations with CreateSession", S3
		// User Guide); the s3: rows below are still what fsxsync does, and what the probes try.
		mode := "ReadOnly"
		if in.Upload {
			mode = "ReadWrite"
		}
		reqs = append(reqs, Requirement{Action: actCreateSession, Resource: directoryBucketARN(partition, in.Region, in.Account, in.Bucket),
			Why: "open the " + mode + " session through which S3 authorizes every request to a directory bucket"})
	}
	switch {
	case in.Upload && in.Recursive:
		if in.Compare {
			add(actListBucket, bucketARN, in.Prefix, "list the destination prefix to compare it with the local tree")
			add(actGetObject, objects, "", "read object metadata to compare modification times")
		} else {
			add(actListBucket, bucketARN, in.Prefix, "list the destination prefix (cp -r pairs local files with objects too)")
		}
	case in.Upload && in.Compare:
		// A compare of one file reads the destination object's metadata first. For a key that does not exist yet
		// S3 answers that HeadObject with 403, not 404, unless the caller also has s3:ListBucket on the bucket; a
		// HeadObject has no prefix for an s3:prefix condition to match, so the listing asked for is unconditioned.
		add(actListBucket, bucketARN, "", "let S3 answer 404 rather than 403 when the destination object does not exist yet")
		add(actGetObject, objects, "", "read the destination object's metadata to compare")
	case in.Upload:
		// cp of one file overwrites whatever is there without looking at it: it needs no read or list permission.
	case in.Recursive:
		add(actListBucket, bucketARN, in.Prefix, "list the source prefix")
		add(actGetObject, objects, "", "download objects and read their metadata")
	default:
		add(actGetObject, objects, "", "download the object and read its metadata")
	}
	if in.Restore && !in.Upload {
		add(actRestoreObject, objects, "", "--restore-archived asks S3 to restore the archived objects it meets")
	}
	if in.Upload {
		add(actPutObject, objects, "", "upload files")
		add(actAbortMultipart, objects, "", "abort a failed multipart upload so no parts are left behind")
		if in.Delete {
			add(actDeleteObject, objects, "", "--delete removes objects the source lacks")
		}
	}
	switch {
	case in.Upload && in.Encryption.Algorithm != "":
		// The key is named as it was given (an alias or a key id is not an ARN): only KMS could say more.
		if key := in.Encryption.KMSKey(); key != "" {
			whose := "the KMS key --sse-kms-key-id names"
			if in.Encryption.KMSKeyID == "" {
				whose = "the AWS managed key aws/s3 (--sse " + in.Encryption.Algorithm + " without --sse-kms-key-id)"
			}
			add(actKMSGenerate, key, "", "encrypt uploads with "+whose)
			add(actKMSDecrypt, key, "", "complete multipart uploads under "+whose+", for which S3 decrypts the data key")
		}
	case in.KMSKeyARN != "" && in.Upload:
		add(actKMSGenerate, in.KMSKeyARN, "", "encrypt uploads with the bucket's SSE-KMS key")
		add(actKMSDecrypt, in.KMSKeyARN, "", "complete multipart uploads to the SSE-KMS bucket, for which S3 decrypts the data key")
	case in.KMSKeyARN != "":
		add(actKMSDecrypt, in.KMSKeyARN, "", "decrypt objects encrypted with the bucket's SSE-KMS key")
	}
	return reqs
}

// directoryBucketARN is a directory bucket's ARN: arn:PARTITION:s3express:REGION:ACCOUNT:bucket/NAME.
func directoryBucketARN(partition, region, account, bucket string) string {
	if region == "" {
		region = "*"
	}
	if account == "" {
		account = "*"
	}
	return "arn:" + partition + ":s3express:" + region + ":" + account + ":bucket/" + bucket
}

// isWriteAction reports whether an S3 action changes the bucket, which ParallelCluster's S3Access grants only with
// EnableWriteAccess.
func isWriteAction(action string) bool {
	action = s3Action(action)
	return action == actPutObject || action == actAbortMultipart || action == actDeleteObject
}

// FixAdvice says how to grant missing permissions, in plain words. For an EC2 instance role that looks like one
// ParallelCluster created, it gives the cluster-config YAML to add (S3Access under Scheduling.SlurmQueues[].Iam for
// a queue's role, HeadNode.Iam for the head node's), with the warning that S3Access with KeyName grants no
// s3:ListBucket; KMS permissions, which S3Access never generates, go in a policy listed under AdditionalIamPolicies.
// For other identities it gives an IAM policy document to attach, and how. It returns "" when nothing is missing.
func FixAdvice(id Identity, missing []Requirement) string {
	if len(missing) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "The caller (%s) lacks %s:\n", id.Describe(), plural(len(missing), "permission", "permissions"))
	for _, r := range missing {
		fmt.Fprintf(&b, "  - %s on %s", r.Action, r.Resource)
		if s3Action(r.Action) == actListBucket && r.Prefix != "" {
			fmt.Fprintf(&b, " for prefix %q", r.Prefix)
		}
		fmt.Fprintf(&b, " (%s)\n", r.Why)
	}
	b.WriteString("\n")

	var s3Missing, kmsMissing []Requirement
	for _, r := range missing {
		if strings.HasPrefix(r.Action, "kms:") || strings.HasPrefix(r.Action, "s3express:") {
			// Neither is anything ParallelCluster's S3Access can grant.
			kmsMissing = append(kmsMissing, r)
		} else {
			s3Missing = append(s3Missing, r)
		}
	}

	switch {
	case id.Kind == KindInstanceRole && (id.ParallelClusterRole == pcHeadNode || id.ParallelClusterRole == pcCompute):
		writeParallelClusterAdvice(&b, id, s3Missing, kmsMissing)
	case id.Kind == KindInstanceRole && id.ParallelClusterRole == pcLoginNode:
		b.WriteString("This looks like the role ParallelCluster made for a login node pool. Login node pools take no S3Access:\n")
		b.WriteString("create a managed policy from the document below and list its ARN under\n")
		b.WriteString("LoginNodes.Pools[].Iam.AdditionalIamPolicies (the pool must be stopped for the update).\n\n")
		writePolicy(&b, missing)
	case id.Kind == KindRoot:
		b.WriteString("The root user is not limited by IAM policies, so the refusal comes from a bucket policy, a KMS key\n")
		b.WriteString("policy, or an organization's service control policy; ask whoever manages those. Better still, use an\n")
		b.WriteString("IAM user or role instead of root credentials.\n")
		return b.String()
	case id.Kind == KindSSORole:
		b.WriteString("This role belongs to IAM Identity Center and cannot be edited directly: ask your Identity Center\n")
		fmt.Fprintf(&b, "administrator to add these statements to the inline policy of permission set %s:\n\n", id.PermissionSet)
		writePolicy(&b, missing)
	case id.Kind == KindUser:
		fmt.Fprintf(&b, "Attach this policy to IAM user %s (or to a group the user is in), for example with\n", id.UserName)
		fmt.Fprintf(&b, "  aws iam put-user-policy --user-name %s --policy-name fsxsync --policy-document file://fsxsync-policy.json\n\n", id.UserName)
		writePolicy(&b, missing)
	case id.Kind == KindFederatedUser:
		b.WriteString("A federated user has what both the IAM user that called GetFederationToken and the session policy\n")
		b.WriteString("passed to it allow: grant this policy to that IAM user and include it in the session policy.\n\n")
		writePolicy(&b, missing)
	case id.RoleName != "":
		// Plain assumed roles and instance roles that are not ParallelCluster's. The command takes the role's
		// name, which STS does report, not its ARN, which STS reports without the path.
		fmt.Fprintf(&b, "Attach this policy to IAM role %s, for example with\n", id.RoleName)
		fmt.Fprintf(&b, "  aws iam put-role-policy --role-name %s --policy-name fsxsync --policy-document file://fsxsync-policy.json\n\n", id.RoleName)
		writePolicy(&b, missing)
	case id.ARN == "":
		// STS could not be asked and nothing else named the caller: say how to find out who it is rather than
		// print an empty name.
		b.WriteString("Attach this policy to the IAM user or role these credentials belong to. STS could not be asked who\n")
		b.WriteString("that is; `aws sts get-caller-identity` with the same credentials, from a host that reaches STS, names it.\n\n")
		writePolicy(&b, missing)
	default:
		fmt.Fprintf(&b, "Attach this policy to the identity %s:\n\n", id.ARN)
		writePolicy(&b, missing)
	}

	if viaAccessPoint(s3Missing) {
		writeAccessPointNote(&b)
	} else {
		b.WriteString("\nIf the bucket belongs to another account, its bucket policy must allow the same actions.\n")
	}
	for _, key := range uniqueResources(kmsMissing) {
		if !strings.Contains(key, ":s3express:") {
			writeKeyAdvice(&b, key)
		}
	}
	return b.String()
}

// writeKeyAdvice says what else a KMS key needs besides the caller's own policy, and how to name a key that was not
// given as an ARN (an alias, a key id), which is all the preflight knows of it without calling KMS.
func writeKeyAdvice(b *strings.Builder, key string) {
	if key == s3store.AWSManagedKey {
		// AWS KMS Developer Guide, "AWS managed keys": their key policies cannot be changed, and the one of aws/s3
		// lets every principal of the account use the key through S3.
		b.WriteString("alias/aws/s3 is the AWS managed key S3 uses for --sse aws:kms without --sse-kms-key-id. Its key policy,\n")
		b.WriteString("which cannot be changed, already lets every principal of its account use it through S3: a refusal comes\n")
		b.WriteString("from a policy that denies it (an SCP, a permission boundary). Or name a customer managed key with\n")
		b.WriteString("--sse-kms-key-id.\n")
		return
	}
	fmt.Fprintf(b, "The key policy of %s must also allow this principal, or delegate to IAM as the default key policy does.\n", key)
	if !strings.HasPrefix(key, "arn:") {
		fmt.Fprintf(b, "%s is not an ARN, which a policy's Resource must be: write the key's ARN there\n", key)
		fmt.Fprintf(b, "(aws kms describe-key --key-id %s prints it as KeyMetadata.Arn).\n", key)
	}
}

// writeParallelClusterAdvice writes the cluster-config change that grants S3 access to a ParallelCluster head node or
// queue role, and where KMS permissions go instead.
func writeParallelClusterAdvice(b *strings.Builder, id Identity, s3Missing, kmsMissing []Requirement) {
	// path is where in the cluster configuration the node's Iam section is; which names the queue when known.
	var path, which string
	switch {
	case id.ParallelClusterRole == pcHeadNode:
		path = "HeadNode.Iam"
		b.WriteString("This looks like the head node role ParallelCluster made. Jobs on compute nodes use their queue's role,\n")
		b.WriteString("not this one, so granting it here does not help jobs.\n")
	case id.Queue != "":
		path, which = "Scheduling.SlurmQueues[].Iam", " of queue "+id.Queue
		b.WriteString("This looks like the role ParallelCluster made for queue " + id.Queue + ". Each queue and the head node have\n")
		b.WriteString("their own role: a command that works on the head node can be refused inside a job.\n")
	default:
		path, which = "Scheduling.SlurmQueues[].Iam", " of the queue this runs in"
		b.WriteString("This looks like a compute node role ParallelCluster made for one queue. Each queue and the head node have\n")
		b.WriteString("their own role: a command that works on the head node can be refused inside a job.\n")
	}
	cluster := id.Cluster
	if cluster == "" {
		cluster = "CLUSTER"
	}

	if len(s3Missing) > 0 && viaAccessPoint(s3Missing) {
		writeAccessPointPCAdvice(b, id, path, which, s3Missing)
	} else if len(s3Missing) > 0 {
		fmt.Fprintf(b, "\nIn the cluster configuration, under %s%s, add:\n\n", path, which)
		b.WriteString("  S3Access:\n")
		for _, bucket := range missingBuckets(s3Missing) {
			fmt.Fprintf(b, "    - BucketName: %s\n", bucket)
			if slices.ContainsFunc(s3Missing, func(r Requirement) bool {
				return isWriteAction(r.Action) && bucketOf(r.Resource) == bucket
			}) {
				b.WriteString("      EnableWriteAccess: true\n")
			}
		}
		b.WriteString("\nLeave KeyName out: S3Access with KeyName grants access to that key only and no s3:ListBucket on the\n")
		b.WriteString("bucket, so every listing, and so every sync, fails. Without it S3Access grants s3:Get* and s3:List*\n")
		b.WriteString("(s3:* with EnableWriteAccess) on the whole bucket; for narrower access, put the statements fsxsync\n")
		b.WriteString("needs in a managed policy and list it under AdditionalIamPolicies instead:\n\n")
		writePolicy(b, s3Missing)
	}
	if len(kmsMissing) > 0 {
		b.WriteString("\nS3Access grants no KMS or S3 Express permissions. Create a managed policy (say fsxsync-kms) from the\n")
		fmt.Fprintf(b, "document below and list it under %s%s:\n\n", path, which)
		b.WriteString("  AdditionalIamPolicies:\n")
		fmt.Fprintf(b, "    - Policy: arn:%s:iam::%s:policy/fsxsync-kms\n\n", id.Partition, id.Account)
		writePolicy(b, kmsMissing)
	}
	fmt.Fprintf(b, "\nThen run: pcluster update-cluster --cluster-name %s --cluster-configuration CONFIG.yaml\n", cluster)
	b.WriteString("(S3Access and AdditionalIamPolicies can be changed while the cluster runs).\n")
}

// policyDocument and policyStatement are the IAM policy JSON that FixAdvice prints; the field order is the order
// people expect to read them in.
type policyDocument struct {
	Version   string
	Statement []policyStatement
}

type policyStatement struct {
	Effect    string
	Action    []string
	Resource  string
	Condition map[string]map[string]string `json:",omitempty"`
}

// writePolicy writes one policy document granting reqs: one statement per resource (and, for ListBucket, per
// s3:prefix condition), with the actions on it in first-seen order.
func writePolicy(b *strings.Builder, reqs []Requirement) {
	doc := policyDocument{Version: "2012-10-17"}
	type stmtKey struct{ resource, prefix string }
	var keys []stmtKey
	for _, r := range reqs {
		k := stmtKey{r.Resource, ""}
		if s3Action(r.Action) == actListBucket {
			// A ListBucket limited to a prefix must not share a statement with actions the condition would break.
			k.prefix = "\x00" + r.Prefix
		}
		i := slices.Index(keys, k)
		if i < 0 {
			keys = append(keys, k)
			st := policyStatement{Effect: "Allow", Resource: r.Resource}
			if s3Action(r.Action) == actListBucket && r.Prefix != "" {
				// s3:prefix is the request's prefix parameter; PREFIX* matches the prefix itself and any longer one.
				st.Condition = map[string]map[string]string{"StringLike": {prefixKey(r.Action): r.Prefix + "*"}}
			}
			doc.Statement = append(doc.Statement, st)
			i = len(keys) - 1
		}
		if !slices.Contains(doc.Statement[i].Action, r.Action) {
			doc.Statement[i].Action = append(doc.Statement[i].Action, r.Action)
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Keys and prefixes may hold '&', '<' or '>', which must appear as typed in a policy a person pastes.
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		// The document is strings, slices and maps of strings, which always encode.
		panic(err)
	}
	b.Write(buf.Bytes())
}

// missingBuckets lists the buckets named by S3 requirements, in first-seen order.
func missingBuckets(reqs []Requirement) []string {
	var buckets []string
	for _, r := range reqs {
		if bucket := bucketOf(r.Resource); bucket != "" && !slices.Contains(buckets, bucket) {
			buckets = append(buckets, bucket)
		}
	}
	return buckets
}

// bucketOf returns the bucket of an S3 ARN (arn:PARTITION:s3:::bucket[/key]), or "".
func bucketOf(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	// A bucket's ARN names no region and no account; an access point's does, and has no bucket name in it.
	if len(parts) != 6 || parts[2] != "s3" || parts[3] != "" || parts[4] != "" {
		return ""
	}
	bucket, _, _ := strings.Cut(parts[5], "/")
	return bucket
}

// uniqueResources lists the resources of reqs, in first-seen order.
func uniqueResources(reqs []Requirement) []string {
	var out []string
	for _, r := range reqs {
		if !slices.Contains(out, r.Resource) {
			out = append(out, r.Resource)
		}
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
