package preflight

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzParseIdentity feeds arbitrary caller ARNs, accounts and user ids to ParseIdentity. The ARN comes from STS, but
// whoami and the preflight print whatever it holds, so nothing in it may crash them. On an error the message must
// name the ARN; on success the Identity must agree with the ARN it came from, field by field, as checked by
// checkIdentity.
func FuzzParseIdentity(f *testing.F) {
	for _, arn := range []string{
		"arn:aws:iam::123456789012:root",
		"arn:aws:iam::123456789012:user/division/alice",
		"arn:aws-cn:iam::123456789012:user/bob",
		"arn:aws:sts::123456789012:assumed-role/DataEngineer/botocore-session-1700000000",
		"arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_PowerUserAccess_3f1e0a8c2b9d4e7f/jdoe@example.edu",
		"arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Data_Science_RW_0123456789abcdef/jdoe",
		"arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin/jdoe",
		"arn:aws:sts::123456789012:assumed-role/AWSReservedSSO__0123456789abcdef/jdoe",
		"arn:aws:sts::123456789012:assumed-role/MyEC2Role/i-0123456789abcdef0",
		"arn:aws:sts::123456789012:assumed-role/MyEC2Role/i-0123abcd",
		"arn:aws:sts::123456789012:assumed-role/MyEC2Role/i-0123abcde",
		"arn:aws-us-gov:sts::123456789012:assumed-role/Ec2Role/i-0123456789abcdef0",
		"arn:aws:sts::123456789012:assumed-role/prod-cand-260809-RoleHeadNode-eadPOAt3UaZr/i-048ff099d73057e09",
		"arn:aws:sts::123456789012:assumed-role/api-cluster-2022-05-09-17-46-53-RoleHeadNode-EXNM6B7GER1S/i-0a1b2c3d4e5f60718",
		"arn:aws:sts::123456789012:assumed-role/ifx-reworkB-ComputeFleetQueues-Role18b1a9ea4e81c872-zBYLkxivPcqU/i-0d46daa16277ef29b",
		"arn:aws:sts::123456789012:assumed-role/ifx-reworkB-ComputeFleetQueues-RoleCd53fa91fbffcf32-4Z4oG8qQjKOb/i-0d46daa16277ef29b",
		"arn:aws:sts::123456789012:assumed-role/mycluster-RoleE0417928efb829de-1A2B3C4D5E6FG/i-0123456789abcdef0",
		"arn:aws:sts::123456789012:assumed-role/genomics-production-cluster-01-Role18b1a9ea4e81c872-zBYLkxivPcqU/i-0123456789abcdef0",
		"arn:aws:sts::123456789012:assumed-role/hpc-RoleHeadNode-0A1B2C3D4E5F/i-0123456789abcdef0",
		"arn:aws:sts::123456789012:assumed-role/hpcRole18b1a9ea4e81c872-0A1B2C3D4E5F/i-0123456789abcdef0",
		"arn:aws:sts::123456789012:assumed-role/mycluster-LoginNodesNestedStac-Role9886d39bc8e28dd4-AbCdEfGhIjKl/i-0123456789abcdef0",
		"arn:aws:sts::123456789012:assumed-role/MyApp-RoleHeadNode/i-0123456789abcdef0",
		"arn:aws:sts::123456789012:assumed-role/RoleHeadNode-eadPOAt3UaZr/i-0123456789abcdef0",
		"arn:aws:sts::123456789012:assumed-role/-RoleHeadNode-eadPOAt3UaZr/i-0123456789abcdef0",
		"arn:aws:sts::123456789012:assumed-role/foo-Role18b1a9ea4e81c87-zBYLkxivPcqU/i-0123456789abcdef0",
		"arn:aws:sts::123456789012:assumed-role/foo-Roleb6f7a4ba7d5a78bd-b14aOxHl4evy/i-0123456789abcdef0",
		"arn:aws:sts::123456789012:assumed-role/ParallelClusterComputeRole/i-0123456789abcdef0",
		"arn:aws:sts::123456789012:assumed-role/prod-cand-260809-RoleHeadNode-eadPOAt3UaZr/botocore-session-1",
		"arn:aws:sts::123456789012:assumed-role/role/with/slashes/in/session",
		"arn:aws:sts::123456789012:federated-user/carol",
		"arn:aws:sts::123456789012:federated-user/carol/x",
		"arn:aws:iam::123456789012:role/SomeRole",
		"arn:aws:iam::123456789012:role/path:with:colons",
		"arn:aws:sts::123456789012:root",
		// Malformed ones, from TestParseIdentityErrors and beyond.
		"",
		"not-an-arn",
		"arn:aws:iam::123456789012",
		"arn:aws:s3:::my-bucket",
		"arn::iam::123456789012:root",
		"arn:aws:iam::12345:root",
		"arn:aws:iam::12345678901a:root",
		"arn:aws:sts:us-east-1:123456789012:assumed-role/a/b",
		"arn:aws:sts::123456789012:assumed-role/OnlyRole",
		"arn:aws:sts::123456789012:assumed-role//session",
		"arn:aws:sts::123456789012:assumed-role/role/",
		"arn:aws:iam::123456789012:user/",
		"arn:aws:iam::123456789012:user/path/",
		"arn:aws:sts::123456789012:federated-user/",
		"arn:aws:iam::123456789012:",
		"arn:aws:iam::123456789012:root\x00\xff\"",
	} {
		f.Add(arn, "", "AIDAEXAMPLE")
		f.Add(arn, "123456789012", "")
	}
	f.Add("arn:aws:iam::123456789012:root", "210987654321", "")
	f.Fuzz(func(t *testing.T, arn, account, userID string) {
		id, err := ParseIdentity(arn, account, userID)
		if err != nil {
			if id != (Identity{}) {
				t.Errorf("ParseIdentity(%q) failed but returned %+v", arn, id)
			}
			// The error names the ARN as fmt's %q writes it, so that any bytes it holds are shown unambiguously.
			if !strings.Contains(err.Error(), strconv.Quote(arn)) {
				t.Errorf("ParseIdentity(%q): error %q does not name the ARN", arn, err)
			}
			return
		}
		checkIdentity(t, id, arn, account, userID)
		if again, _ := ParseIdentity(arn, account, userID); again != id {
			t.Errorf("ParseIdentity(%q) is not deterministic: %+v, then %+v", arn, id, again)
		}
	})
}

// checkIdentity checks what ParseIdentity promises about a parsed identity: the ARN is
// arn:PARTITION:(iam|sts)::ACCOUNT:RESOURCE and the fields are the parts of RESOURCE that its Kind says.
func checkIdentity(t *testing.T, id Identity, arn, account, userID string) {
	t.Helper()
	if id.ARN != arn || id.UserID != userID {
		t.Fatalf("ParseIdentity(%q, %q, %q) = %+v: ARN or UserID not the input", arn, account, userID, id)
	}
	if !isAccountID(id.Account) || account != "" && id.Account != account {
		t.Fatalf("ParseIdentity(%q, %q) gave account %q", arn, account, id.Account)
	}
	if id.Partition == "" || strings.Contains(id.Partition, ":") {
		t.Fatalf("ParseIdentity(%q) gave partition %q", arn, id.Partition)
	}
	var service, resource string
	for _, s := range []string{"iam", "sts"} {
		if r, ok := strings.CutPrefix(arn, "arn:"+id.Partition+":"+s+"::"+id.Account+":"); ok {
			service, resource = s, r
		}
	}
	if service == "" || resource == "" {
		t.Fatalf("ParseIdentity(%q) = %+v, which does not rebuild the ARN's prefix", arn, id)
	}

	// Fields that only some kinds set must be empty for the others.
	user := id.Kind == KindUser || id.Kind == KindFederatedUser
	role := id.Kind == KindAssumedRole || id.Kind == KindSSORole || id.Kind == KindInstanceRole
	if !user && id.UserName != "" {
		t.Errorf("%q: kind %s with UserName %q", arn, id.Kind, id.UserName)
	}
	if !role && (id.RoleName != "" || id.SessionName != "") {
		t.Errorf("%q: kind %s with RoleName %q, SessionName %q", arn, id.Kind, id.RoleName, id.SessionName)
	}
	if (id.Kind == KindSSORole) != (id.PermissionSet != "") {
		t.Errorf("%q: kind %s with PermissionSet %q", arn, id.Kind, id.PermissionSet)
	}
	if (id.Kind == KindInstanceRole) != (id.InstanceID != "") {
		t.Errorf("%q: kind %s with InstanceID %q", arn, id.Kind, id.InstanceID)
	}
	if id.Kind != KindInstanceRole && (id.ParallelClusterRole != "" || id.Cluster != "" || id.QueueHash != "") {
		t.Errorf("%q: kind %s with ParallelCluster fields %+v", arn, id.Kind, id)
	}
	if id.Queue != "" {
		t.Errorf("%q: Queue %q is set before MatchQueue", arn, id.Queue)
	}

	switch id.Kind {
	case KindRoot:
		if service != "iam" || resource != "root" {
			t.Errorf("%q: root from resource %q", arn, resource)
		}
	case KindUser:
		if service != "iam" || !strings.HasPrefix(resource, "user/") || id.UserName == "" ||
			strings.Contains(id.UserName, "/") || !strings.HasSuffix(resource, "/"+id.UserName) {
			t.Errorf("%q: IAM user %q from resource %q", arn, id.UserName, resource)
		}
	case KindFederatedUser:
		if service != "sts" || id.UserName == "" || resource != "federated-user/"+id.UserName {
			t.Errorf("%q: federated user %q from resource %q", arn, id.UserName, resource)
		}
	case KindAssumedRole, KindSSORole, KindInstanceRole:
		if service != "sts" || id.RoleName == "" || id.SessionName == "" || strings.Contains(id.RoleName, "/") ||
			resource != "assumed-role/"+id.RoleName+"/"+id.SessionName {
			t.Errorf("%q: role %q session %q from resource %q", arn, id.RoleName, id.SessionName, resource)
		}
		checkRole(t, id)
	case KindUnknown:
	default:
		t.Errorf("%q: unknown kind %q", arn, id.Kind)
	}

	// RoleARN is set exactly for the role kinds, and is itself an ARN that ParseIdentity reads back (as a role ARN,
	// which is a kind it does not know) in the same partition and account.
	roleARN := id.RoleARN()
	if role != (roleARN != "") {
		t.Errorf("%q: kind %s with RoleARN %q", arn, id.Kind, roleARN)
	}
	if roleARN != "" {
		back, err := ParseIdentity(roleARN, id.Account, "")
		if err != nil || back.Kind != KindUnknown || back.Partition != id.Partition || back.Account != id.Account ||
			roleARN != "arn:"+id.Partition+":iam::"+id.Account+":role/"+id.RoleName {
			t.Errorf("%q: RoleARN %q parses as %+v, %v", arn, roleARN, back, err)
		}
	}

	d := id.Describe()
	if !strings.Contains(d, ", account "+id.Account) {
		t.Errorf("%q: Describe %q does not give the account", arn, d)
	}
	if id.Kind == KindUnknown && !strings.Contains(d, id.ARN) {
		t.Errorf("%q: Describe %q of an unfamiliar principal does not give its ARN", arn, d)
	}

	// MatchQueue changes Queue at most, and only to a candidate whose hash is the role's.
	candidates := []string{"", "i8", "i192", id.SessionName, id.Cluster}
	m := id.MatchQueue(candidates...)
	if m.Queue != "" && (id.ParallelClusterRole != pcCompute || parallelClusterHash(m.Queue) != id.QueueHash) {
		t.Errorf("%q: MatchQueue set Queue %q for %+v", arn, m.Queue, id)
	}
	_ = m.Describe()
	m.Queue = ""
	if m != id {
		t.Errorf("%q: MatchQueue changed more than Queue: %+v", arn, m)
	}
}

// checkRole checks the fields an assumed role of each kind derives from its role and session names.
func checkRole(t *testing.T, id Identity) {
	t.Helper()
	switch id.Kind {
	case KindSSORole:
		if !strings.HasPrefix(id.RoleName, "AWSReservedSSO_"+id.PermissionSet+"_") ||
			!isLowerHex(strings.TrimPrefix(id.RoleName, "AWSReservedSSO_"+id.PermissionSet+"_"), 16) {
			t.Errorf("%q: SSO role with permission set %q", id.RoleName, id.PermissionSet)
		}
	case KindInstanceRole:
		if id.InstanceID != id.SessionName || !isInstanceID(id.InstanceID) {
			t.Errorf("%q: instance role with instance %q, session %q", id.RoleName, id.InstanceID, id.SessionName)
		}
	case KindAssumedRole:
		// A plain assumed role is one that is neither of the other two.
		if _, sso := ssoPermissionSet(id.RoleName); sso || isInstanceID(id.SessionName) {
			t.Errorf("%q with session %q: a plain assumed role, but it looks like an SSO or instance role", id.RoleName, id.SessionName)
		}
	}
	switch id.ParallelClusterRole {
	case "":
		if id.Cluster != "" || id.QueueHash != "" {
			t.Errorf("%q: no ParallelCluster role but cluster %q, queue hash %q", id.RoleName, id.Cluster, id.QueueHash)
		}
		return
	case pcHeadNode, pcLoginNode:
		if id.QueueHash != "" {
			t.Errorf("%q: %s with queue hash %q", id.RoleName, id.ParallelClusterRole, id.QueueHash)
		}
	case pcCompute:
		if !isQueueHash(id.QueueHash) || !strings.Contains(id.RoleName, "Role"+id.QueueHash+"-") {
			t.Errorf("%q: compute role with queue hash %q", id.RoleName, id.QueueHash)
		}
	default:
		t.Errorf("%q: ParallelCluster role %q", id.RoleName, id.ParallelClusterRole)
	}
	// The name is <stack or prefix>Role...-<random>, and the cluster, when known, begins the stack name.
	if !strings.Contains(id.RoleName, "Role") || id.Cluster != "" && !strings.HasPrefix(id.RoleName, id.Cluster+"-") {
		t.Errorf("%q: ParallelCluster role %s in cluster %q", id.RoleName, id.ParallelClusterRole, id.Cluster)
	}
}
