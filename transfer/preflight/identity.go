package preflight

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/fsxsync/fsxsync/transfer/slurm"
)

// IdentityKind is what kind of principal an ARN names.
type IdentityKind string

// The kinds of principal that STS GetCallerIdentity can report.
const (
	// KindRoot is the account's root user: arn:aws:iam::123456789012:root.
	KindRoot IdentityKind = "root"
	// KindUser is an IAM user: arn:aws:iam::123456789012:user/path/name.
	KindUser IdentityKind = "iam-user"
	// KindAssumedRole is a role session: arn:aws:sts::123456789012:assumed-role/RoleName/session.
	KindAssumedRole IdentityKind = "assumed-role"
	// KindSSORole is an assumed role that IAM Identity Center created for a permission set; its name is
	// AWSReservedSSO_<PermissionSet>_<hash>.
	KindSSORole IdentityKind = "sso-role"
	// KindInstanceRole is an assumed role whose session name is an EC2 instance id, which is how EC2 names the
	// sessions of instance-profile roles.
	KindInstanceRole IdentityKind = "ec2-instance-role"
	// KindFederatedUser is a GetFederationToken session: arn:aws:sts::123456789012:federated-user/name.
	KindFederatedUser IdentityKind = "federated-user"
	// KindUnknown is a well-formed IAM or STS ARN of a shape this code does not know.
	KindUnknown IdentityKind = "unknown"
)

// The values of Identity.ParallelClusterRole.
const (
	pcHeadNode  = "head-node"
	pcCompute   = "compute"
	pcLoginNode = "login-node"
)

// Identity is the caller, parsed.
type Identity struct {
	ARN, Account, UserID string
	// Partition is the ARN's partition: aws, aws-cn, aws-us-gov.
	Partition string
	Kind      IdentityKind
	// UserName is set for IAM users (the last path element) and federated users.
	UserName string
	// RoleName and SessionName are set for assumed roles of every kind (SSO and instance roles too).
	RoleName, SessionName string
	// PermissionSet is the IAM Identity Center permission set of an SSO role.
	PermissionSet string
	// InstanceID is the EC2 instance of an instance role.
	InstanceID string
	// ParallelClusterRole says whether the role name looks like one AWS ParallelCluster v3 generated, and for which
	// node type: "head-node", "compute" (a queue's role), "login-node" (a login node pool's role), or "" when not.
	// It is a heuristic on the name alone (see parseParallelClusterRole) and is only set for EC2 instance roles.
	ParallelClusterRole string
	// Cluster is the cluster name as the role name shows it, set only when the name cannot have been cut short;
	// it is a hint for people, never a key to look anything up by.
	Cluster string
	// QueueHash is the 16-character hash of the queue name that ParallelCluster puts in a compute role's name
	// (see MatchQueue).
	QueueHash string
	// Queue is the queue name, known only once MatchQueue has confirmed a candidate against QueueHash: the role
	// name carries a hash of the queue name, not the name itself.
	Queue string
}

// ParseIdentity parses an STS caller ARN (and the user id) as GetCallerIdentity returns them. A malformed ARN is an
// error naming it; a well-formed IAM or STS ARN of an unfamiliar shape is KindUnknown, so that a new principal type
// degrades the preflight's advice rather than stopping it.
func ParseIdentity(arn, account, userID string) (Identity, error) {
	bad := func(why string) (Identity, error) {
		return Identity{}, fmt.Errorf("malformed caller ARN %q: %s", arn, why)
	}
	// arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE; the resource may itself contain ':' in other services, so
	// only the first five separators count.
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return bad("want arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE")
	}
	partition, service, region, arnAccount, resource := parts[1], parts[2], parts[3], parts[4], parts[5]
	if partition == "" {
		return bad("empty partition")
	}
	if service != "iam" && service != "sts" {
		return bad("not an IAM or STS principal (service " + service + ")")
	}
	if region != "" {
		return bad("IAM and STS principal ARNs have no region")
	}
	if !isAccountID(arnAccount) {
		return bad("account is not 12 digits")
	}
	if account != "" && account != arnAccount {
		return bad("account " + account + " does not match the ARN's")
	}
	if resource == "" {
		return bad("empty resource")
	}

	id := Identity{ARN: arn, Account: arnAccount, UserID: userID, Partition: partition, Kind: KindUnknown}
	typ, rest, _ := strings.Cut(resource, "/")
	switch {
	case service == "iam" && resource == "root":
		id.Kind = KindRoot
	case service == "iam" && typ == "user":
		// IAM user ARNs keep the user's path (user/division/alice); the name is the last element.
		name := rest[strings.LastIndexByte(rest, '/')+1:]
		if name == "" {
			return bad("empty user name")
		}
		id.Kind, id.UserName = KindUser, name
	case service == "sts" && typ == "assumed-role":
		role, session, ok := strings.Cut(rest, "/")
		if !ok || role == "" || session == "" {
			return bad("want assumed-role/ROLE/SESSION")
		}
		id.Kind, id.RoleName, id.SessionName = KindAssumedRole, role, session
		if set, ok := ssoPermissionSet(role); ok {
			id.Kind, id.PermissionSet = KindSSORole, set
		} else if isInstanceID(session) {
			id.Kind, id.InstanceID = KindInstanceRole, session
			// A ParallelCluster role trusts only ec2.amazonaws.com, so a look-alike name in any other kind of
			// session is not one; checking instance roles alone keeps the heuristic conservative.
			id.ParallelClusterRole, id.Cluster, id.QueueHash = parseParallelClusterRole(role)
		}
	case service == "sts" && typ == "federated-user":
		if rest == "" {
			return bad("empty federated user name")
		}
		id.Kind, id.UserName = KindFederatedUser, rest
	}
	return id, nil
}

// RoleARN returns the IAM role ARN for an assumed-role identity, without path (arn:aws:iam::ACCOUNT:role/NAME), or ""
// for other identities. STS omits the role's path, so callers that need the exact ARN (iam:SimulatePrincipalPolicy,
// a bucket policy principal) must resolve it with iam:GetRole; this is the best guess. ParallelCluster roles, for
// one, live under /parallelcluster/<cluster>/, so for them this guess is always wrong.
func (id Identity) RoleARN() string {
	if id.RoleName == "" {
		return ""
	}
	return "arn:" + id.Partition + ":iam::" + id.Account + ":role/" + id.RoleName
}

// MatchQueue returns id with Queue set to the first of names whose ParallelCluster hash is the one in the compute
// role's name. The role name carries sha1(queue name) rather than the name, so the caller supplies candidates it
// can know, such as $SLURM_JOB_PARTITION or the partitions sinfo lists. Identities that are not ParallelCluster
// compute roles, and names that do not match, leave id unchanged.
func (id Identity) MatchQueue(names ...string) Identity {
	if id.ParallelClusterRole != pcCompute || id.QueueHash == "" {
		return id
	}
	for _, name := range names {
		if name != "" && parallelClusterHash(name) == id.QueueHash {
			id.Queue = name
			return id
		}
	}
	return id
}

// Describe renders the identity in plain words for `fsxsync whoami`.
func (id Identity) Describe() string {
	if id.ARN == "" {
		// No ARN: STS could not be asked and nothing else named the caller (see Caller.Unverified).
		return "not known: STS could not be asked"
	}
	var s string
	switch id.Kind {
	case KindRoot:
		s = "root user"
	case KindUser:
		s = "IAM user " + id.UserName
	case KindSSORole:
		s = fmt.Sprintf("IAM Identity Center (SSO) user %s with permission set %s (role %s)",
			id.SessionName, id.PermissionSet, id.RoleName)
	case KindInstanceRole:
		s = "EC2 instance role " + id.RoleName
		if pc := id.describeParallelCluster(); pc != "" {
			s += " (" + pc + ")"
		}
		s += ", session " + id.SessionName
	case KindAssumedRole:
		s = "assumed role " + id.RoleName + ", session " + id.SessionName
	case KindFederatedUser:
		s = "federated user " + id.UserName
	default:
		s = "principal " + id.ARN
	}
	s += ", account " + id.Account
	if id.Partition != "" && id.Partition != "aws" {
		s += ", partition " + id.Partition
	}
	return s
}

// describeParallelCluster is the parenthesis Describe adds to a ParallelCluster role, or "".
func (id Identity) describeParallelCluster() string {
	var s string
	switch id.ParallelClusterRole {
	case pcHeadNode:
		s = "ParallelCluster head node role"
	case pcCompute:
		s = "ParallelCluster compute node role"
		if id.Queue != "" {
			s += " of queue " + id.Queue
		}
	case pcLoginNode:
		s = "ParallelCluster login node role"
	default:
		return ""
	}
	if id.Cluster != "" {
		s += " in cluster " + id.Cluster
	}
	return s
}

// ssoPermissionSet reads the permission set out of an IAM Identity Center role name,
// AWSReservedSSO_<PermissionSet>_<16 hex>. Permission set names may themselves contain '_', so the hash is whatever
// follows the last one.
func ssoPermissionSet(role string) (string, bool) {
	rest, ok := strings.CutPrefix(role, "AWSReservedSSO_")
	if !ok {
		return "", false
	}
	i := strings.LastIndexByte(rest, '_')
	if i <= 0 || !isLowerHex(rest[i+1:], 16) {
		return "", false
	}
	return rest[:i], true
}

// isInstanceID reports whether s is an EC2 instance id: "i-" and 8 (older) or 17 lower-case hex digits.
func isInstanceID(s string) bool {
	hexPart, ok := strings.CutPrefix(s, "i-")
	return ok && (isLowerHex(hexPart, 8) || isLowerHex(hexPart, 17))
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// parseParallelClusterRole recognises the names AWS ParallelCluster v3 gives the instance roles it creates, and says
// which node type the role is for, the cluster name when the role name shows it whole, and a queue role's hash.
//
// What ParallelCluster does (cli/src/pcluster/templates/cdk_builder_utils.py, NodeIamResourcesBase): each node
// type gets an AWS::IAM::Role with the logical id "Role" + create_hash_suffix(name), where name is "HeadNode" for the
// head node (kept as is) and the queue or login pool name otherwise (sha1 hex, first 16 characters, Python
// str.capitalize(): the first character upper-case). The role has no RoleName, so CloudFormation generates
// "<stack name>-<logical id>-<12 random alphanumerics>" and cuts the stack name short to stay within IAM's 64
// characters. The head node role is in the cluster's stack, "<cluster>-RoleHeadNode-XXXXXXXXXXXX"; queue roles are
// in a nested stack since 3.6 ("ifx-reworkB-ComputeFleetQueues-Role18b1a9ea4e81c872-zBYLkxivPcqU" is queue "i8" of
// cluster "ifx-reworkB"), and were in the cluster's stack before. With Iam.ResourcePrefix set the name is instead
// "<prefix>Role<suffix>-<12 upper-case hex>".
//
// This is a heuristic on a name and is kept conservative: the name must end exactly in one of those shapes, and a
// false "" only costs the YAML hint in FixAdvice. Its limits: a login pool's role has the same shape as a queue's and
// is told apart only while the cut-short stack name still shows "-LoginNodes" (otherwise it is reported as compute);
// the cluster name is given only when nothing can have been cut off and the name cannot be a ResourcePrefix one.
func parseParallelClusterRole(name string) (node, cluster, queueHash string) {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return "", "", ""
	}
	random, rest := name[i+1:], name[:i]
	// CloudFormation's random part is 12 alphanumerics (13 in some older stacks); ResourcePrefix's is 12 hex.
	if !isAlnum(random) || (len(random) != 12 && len(random) != 13) {
		return "", "", ""
	}
	var stack string
	switch {
	case strings.HasSuffix(rest, "RoleHeadNode"):
		node, stack = pcHeadNode, strings.TrimSuffix(rest, "RoleHeadNode")
	case len(rest) > 20 && rest[len(rest)-20:len(rest)-16] == "Role" && isQueueHash(rest[len(rest)-16:]):
		node, stack, queueHash = pcCompute, rest[:len(rest)-20], rest[len(rest)-16:]
		if strings.Contains(stack, "-LoginNodes") {
			node, queueHash = pcLoginNode, ""
		}
	default:
		return "", "", ""
	}
	if stack == "" {
		// Both forms put something before "Role": the stack name or the resource prefix.
		return "", "", ""
	}
	return node, clusterFromStack(node, stack, name, random), queueHash
}

// clusterFromStack returns the cluster name that the stack part of a ParallelCluster role name shows, or "" when it
// may be cut short or may be a ResourcePrefix rather than a stack name.
func clusterFromStack(node, stack, name, random string) string {
	s, ok := strings.CutSuffix(stack, "-")
	if !ok || s == "" || isUpperHex(random) {
		// No '-' before "Role" means a ResourcePrefix; an all-hex random part may be one too.
		return ""
	}
	// Nested stacks are named "<cluster>-ComputeFleet...", "<cluster>-LoginNodes...": what precedes is whole.
	for _, nested := range []string{"-ComputeFleet", "-LoginNodes"} {
		if j := strings.Index(s, nested); j > 0 {
			return s[:j]
		}
	}
	if node == pcLoginNode || len(name) >= 64 {
		// At the 64-character limit CloudFormation may have cut anything off the stack name.
		return ""
	}
	return s
}

// isQueueHash reports whether s looks like create_hash_suffix's output: 16 lower-case hex digits of which the first,
// when a letter, was capitalised.
func isQueueHash(s string) bool {
	if len(s) != 16 {
		return false
	}
	first := s[0]
	return ('0' <= first && first <= '9' || 'A' <= first && first <= 'F') && isLowerHex(s[1:], 15)
}

// parallelClusterHash is ParallelCluster's create_hash_suffix for a queue or pool name.
func parallelClusterHash(name string) string {
	sum := sha1.Sum([]byte(name))
	h := hex.EncodeToString(sum[:])[:16]
	return strings.ToUpper(h[:1]) + h[1:]
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return s != ""
}

func isUpperHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// credentialSources maps the SDK's aws.Credentials.Source names to plain words. The names are the providers'
// ProviderName constants in github.com/aws/aws-sdk-go-v2/credentials (ec2rolecreds, ssocreds, stscreds,
// processcreds, endpointcreds, logincreds, StaticCredentialsName) and config.CredentialsSourceName.
var credentialSources = map[string]string{
	"EnvConfigCredentials":        "environment variables (AWS_ACCESS_KEY_ID)",
	"SharedConfigCredentials":     "shared config profile",
	"SSOProvider":                 "IAM Identity Center (SSO)",
	"EC2RoleProvider":             "EC2 instance role (IMDS)",
	"WebIdentityCredentials":      "web identity token (AssumeRoleWithWebIdentity)",
	"ProcessProvider":             "credential_process in the shared config",
	"AssumeRoleProvider":          "assumed role (role_arn in the shared config)",
	"CredentialsEndpointProvider": "container credentials endpoint (ECS or EKS Pod Identity)",
	"EndpointCredentials":         "container credentials endpoint (ECS or EKS Pod Identity)",
	"StaticCredentials":           "static keys given to the program",
	"LoginProvider":               "console sign-in session (aws login)",
	"AnonymousCredentials":        "no credentials (anonymous requests)",
}

// CredentialSource turns the SDK's aws.Credentials.Source string into a short phrase ("environment variables",
// "shared config profile", "IAM Identity Center (SSO)", "EC2 instance role (IMDS)", ...). The shared config
// provider appends the file ("SharedConfigCredentials: /home/me/.aws/credentials"), which is kept. Several sources
// joined by commas (a chain, outermost last) become phrases joined by ", then "; a name this code does not know is
// returned as it is rather than hidden.
func CredentialSource(source string) string {
	if strings.TrimSpace(source) == "" {
		return "unknown"
	}
	var phrases []string
	for _, part := range strings.Split(source, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, detail, _ := strings.Cut(part, ":")
		phrase, ok := credentialSources[strings.TrimSpace(name)]
		if !ok {
			phrases = append(phrases, part)
			continue
		}
		if detail = strings.TrimSpace(detail); detail != "" {
			phrase += " (" + detail + ")"
		}
		phrases = append(phrases, phrase)
	}
	return strings.Join(phrases, ", then ")
}

// MaskKeyID shows the first 4 and last 4 characters of an access key id ("AKIA…WXYZ") so a person can tell keys
// apart without the log holding the id, and says whether the key is temporary: ASIA keys come from STS and need a
// session token, AKIA keys are an IAM user's long-term keys. An id of 8 characters or fewer is masked entirely,
// since its ends would be all of it.
func MaskKeyID(id string) (masked string, temporary bool) {
	temporary = strings.HasPrefix(id, "ASIA")
	r := []rune(id)
	switch {
	case len(r) == 0:
		return "", false
	case len(r) <= 8:
		return "…", temporary
	}
	return string(r[:4]) + "…" + string(r[len(r)-4:]), temporary
}

// WhereWarnings warns when the identity found is not the one a job will have: outside a job on a ParallelCluster
// head or login node, jobs run on compute nodes with their queue's role.
func WhereWarnings(id Identity, job *slurm.Job) []string {
	var w []string
	if job == nil && (id.ParallelClusterRole == "head-node" || id.ParallelClusterRole == "login-node") {
		w = append(w, "this is the "+id.ParallelClusterRole+"'s role; jobs on compute nodes run with their queue's role, "+
			"which may be allowed less: test it from inside a job with `srun fsxsync check SRC DST`")
	}
	if job != nil && id.Kind == KindInstanceRole && id.ParallelClusterRole == "head-node" {
		w = append(w, "inside a job but with the head node's role: this step runs on the head node")
	}
	return w
}
