package preflight

import (
	"strings"
	"testing"
)

// The ParallelCluster role names below are real (from public notes of clusters "prod-cand-260809", "ifx-reworkB",
// "api-cluster-2022-05-09-17-46-53") or built by the same rule, so the heuristic is tested against what
// CloudFormation actually generates.
func TestParseIdentity(t *testing.T) {
	const acct = "123456789012"
	tests := []struct {
		name string
		arn  string
		want Identity // ARN, Account and UserID are filled in from the case
	}{
		{"root", "arn:aws:iam::123456789012:root",
			Identity{Partition: "aws", Kind: KindRoot}},
		{"IAM user with path", "arn:aws:iam::123456789012:user/division/alice",
			Identity{Partition: "aws", Kind: KindUser, UserName: "alice"}},
		{"IAM user in China", "arn:aws-cn:iam::123456789012:user/bob",
			Identity{Partition: "aws-cn", Kind: KindUser, UserName: "bob"}},
		{"assumed role", "arn:aws:sts::123456789012:assumed-role/DataEngineer/botocore-session-1700000000",
			Identity{Partition: "aws", Kind: KindAssumedRole, RoleName: "DataEngineer", SessionName: "botocore-session-1700000000"}},
		{"SSO role", "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_PowerUserAccess_3f1e0a8c2b9d4e7f/jdoe@example.edu",
			Identity{Partition: "aws", Kind: KindSSORole, RoleName: "AWSReservedSSO_PowerUserAccess_3f1e0a8c2b9d4e7f",
				SessionName: "jdoe@example.edu", PermissionSet: "PowerUserAccess"}},
		{"SSO permission set with underscores", "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Data_Science_RW_0123456789abcdef/jdoe",
			Identity{Partition: "aws", Kind: KindSSORole, RoleName: "AWSReservedSSO_Data_Science_RW_0123456789abcdef",
				SessionName: "jdoe", PermissionSet: "Data_Science_RW"}},
		{"SSO look-alike without the hash", "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin/jdoe",
			Identity{Partition: "aws", Kind: KindAssumedRole, RoleName: "AWSReservedSSO_Admin", SessionName: "jdoe"}},
		{"instance role, 17-digit id", "arn:aws:sts::123456789012:assumed-role/MyEC2Role/i-0123456789abcdef0",
			Identity{Partition: "aws", Kind: KindInstanceRole, RoleName: "MyEC2Role", SessionName: "i-0123456789abcdef0",
				InstanceID: "i-0123456789abcdef0"}},
		{"instance role, 8-digit id", "arn:aws:sts::123456789012:assumed-role/MyEC2Role/i-0123abcd",
			Identity{Partition: "aws", Kind: KindInstanceRole, RoleName: "MyEC2Role", SessionName: "i-0123abcd",
				InstanceID: "i-0123abcd"}},
		{"session that is almost an instance id", "arn:aws:sts::123456789012:assumed-role/MyEC2Role/i-0123abcde",
			Identity{Partition: "aws", Kind: KindAssumedRole, RoleName: "MyEC2Role", SessionName: "i-0123abcde"}},
		{"instance role in GovCloud", "arn:aws-us-gov:sts::123456789012:assumed-role/Ec2Role/i-0123456789abcdef0",
			Identity{Partition: "aws-us-gov", Kind: KindInstanceRole, RoleName: "Ec2Role", SessionName: "i-0123456789abcdef0",
				InstanceID: "i-0123456789abcdef0"}},
		{"ParallelCluster head node", "arn:aws:sts::123456789012:assumed-role/prod-cand-260809-RoleHeadNode-eadPOAt3UaZr/i-048ff099d73057e09",
			Identity{Partition: "aws", Kind: KindInstanceRole, RoleName: "prod-cand-260809-RoleHeadNode-eadPOAt3UaZr",
				SessionName: "i-048ff099d73057e09", InstanceID: "i-048ff099d73057e09",
				ParallelClusterRole: "head-node", Cluster: "prod-cand-260809"}},
		{"ParallelCluster head node, older upper-case suffix", "arn:aws:sts::123456789012:assumed-role/api-cluster-2022-05-09-17-46-53-RoleHeadNode-EXNM6B7GER1S/i-0a1b2c3d4e5f60718",
			Identity{Partition: "aws", Kind: KindInstanceRole, RoleName: "api-cluster-2022-05-09-17-46-53-RoleHeadNode-EXNM6B7GER1S",
				SessionName: "i-0a1b2c3d4e5f60718", InstanceID: "i-0a1b2c3d4e5f60718",
				ParallelClusterRole: "head-node", Cluster: "api-cluster-2022-05-09-17-46-53"}},
		{"ParallelCluster queue role (nested stack, cut to 64)", "arn:aws:sts::123456789012:assumed-role/ifx-reworkB-ComputeFleetQueues-Role18b1a9ea4e81c872-zBYLkxivPcqU/i-0d46daa16277ef29b",
			Identity{Partition: "aws", Kind: KindInstanceRole, RoleName: "ifx-reworkB-ComputeFleetQueues-Role18b1a9ea4e81c872-zBYLkxivPcqU",
				SessionName: "i-0d46daa16277ef29b", InstanceID: "i-0d46daa16277ef29b",
				ParallelClusterRole: "compute", Cluster: "ifx-reworkB", QueueHash: "18b1a9ea4e81c872"}},
		{"ParallelCluster queue role, capitalised hash", "arn:aws:sts::123456789012:assumed-role/ifx-reworkB-ComputeFleetQueues-RoleCd53fa91fbffcf32-4Z4oG8qQjKOb/i-0d46daa16277ef29b",
			Identity{Partition: "aws", Kind: KindInstanceRole, RoleName: "ifx-reworkB-ComputeFleetQueues-RoleCd53fa91fbffcf32-4Z4oG8qQjKOb",
				SessionName: "i-0d46daa16277ef29b", InstanceID: "i-0d46daa16277ef29b",
				ParallelClusterRole: "compute", Cluster: "ifx-reworkB", QueueHash: "Cd53fa91fbffcf32"}},
		{"ParallelCluster queue role before 3.6 (cluster stack)", "arn:aws:sts::123456789012:assumed-role/mycluster-RoleE0417928efb829de-1A2B3C4D5E6FG/i-0123456789abcdef0",
			Identity{Partition: "aws", Kind: KindInstanceRole, RoleName: "mycluster-RoleE0417928efb829de-1A2B3C4D5E6FG",
				SessionName: "i-0123456789abcdef0", InstanceID: "i-0123456789abcdef0",
				ParallelClusterRole: "compute", Cluster: "mycluster", QueueHash: "E0417928efb829de"}},
		{"ParallelCluster queue role, cluster name possibly cut", "arn:aws:sts::123456789012:assumed-role/genomics-production-cluster-01-Role18b1a9ea4e81c872-zBYLkxivPcqU/i-0123456789abcdef0",
			Identity{Partition: "aws", Kind: KindInstanceRole, RoleName: "genomics-production-cluster-01-Role18b1a9ea4e81c872-zBYLkxivPcqU",
				SessionName: "i-0123456789abcdef0", InstanceID: "i-0123456789abcdef0",
				ParallelClusterRole: "compute", QueueHash: "18b1a9ea4e81c872"}},
		{"ParallelCluster head node with Iam.ResourcePrefix", "arn:aws:sts::123456789012:assumed-role/hpc-RoleHeadNode-0A1B2C3D4E5F/i-0123456789abcdef0",
			Identity{Partition: "aws", Kind: KindInstanceRole, RoleName: "hpc-RoleHeadNode-0A1B2C3D4E5F",
				SessionName: "i-0123456789abcdef0", InstanceID: "i-0123456789abcdef0", ParallelClusterRole: "head-node"}},
		{"ParallelCluster queue role with Iam.ResourcePrefix", "arn:aws:sts::123456789012:assumed-role/hpcRole18b1a9ea4e81c872-0A1B2C3D4E5F/i-0123456789abcdef0",
			Identity{Partition: "aws", Kind: KindInstanceRole, RoleName: "hpcRole18b1a9ea4e81c872-0A1B2C3D4E5F",
				SessionName: "i-0123456789abcdef0", InstanceID: "i-0123456789abcdef0",
				ParallelClusterRole: "compute", QueueHash: "18b1a9ea4e81c872"}},
		{"ParallelCluster login node pool", "arn:aws:sts::123456789012:assumed-role/mycluster-LoginNodesNestedStac-Role9886d39bc8e28dd4-AbCdEfGhIjKl/i-0123456789abcdef0",
			Identity{Partition: "aws", Kind: KindInstanceRole, RoleName: "mycluster-LoginNodesNestedStac-Role9886d39bc8e28dd4-AbCdEfGhIjKl",
				SessionName: "i-0123456789abcdef0", InstanceID: "i-0123456789abcdef0",
				ParallelClusterRole: "login-node", Cluster: "mycluster"}},
		{"look-alike: no random suffix", "arn:aws:sts::123456789012:assumed-role/MyApp-RoleHeadNode/i-0123456789abcdef0",
			Identity{Partition: "aws", Kind: KindInstanceRole, RoleName: "MyApp-RoleHeadNode",
				SessionName: "i-0123456789abcdef0", InstanceID: "i-0123456789abcdef0"}},
		{"look-alike: nothing before Role", "arn:aws:sts::123456789012:assumed-role/RoleHeadNode-eadPOAt3UaZr/i-0123456789abcdef0",
			Identity{Partition: "aws", Kind: KindInstanceRole, RoleName: "RoleHeadNode-eadPOAt3UaZr",
				SessionName: "i-0123456789abcdef0", InstanceID: "i-0123456789abcdef0"}},
		{"look-alike: 15-digit hash", "arn:aws:sts::123456789012:assumed-role/foo-Role18b1a9ea4e81c87-zBYLkxivPcqU/i-0123456789abcdef0",
			Identity{Partition: "aws", Kind: KindInstanceRole, RoleName: "foo-Role18b1a9ea4e81c87-zBYLkxivPcqU",
				SessionName: "i-0123456789abcdef0", InstanceID: "i-0123456789abcdef0"}},
		{"look-alike: hash not capitalised", "arn:aws:sts::123456789012:assumed-role/foo-Roleb6f7a4ba7d5a78bd-b14aOxHl4evy/i-0123456789abcdef0",
			Identity{Partition: "aws", Kind: KindInstanceRole, RoleName: "foo-Roleb6f7a4ba7d5a78bd-b14aOxHl4evy",
				SessionName: "i-0123456789abcdef0", InstanceID: "i-0123456789abcdef0"}},
		{"look-alike: hand-made role name", "arn:aws:sts::123456789012:assumed-role/ParallelClusterComputeRole/i-0123456789abcdef0",
			Identity{Partition: "aws", Kind: KindInstanceRole, RoleName: "ParallelClusterComputeRole",
				SessionName: "i-0123456789abcdef0", InstanceID: "i-0123456789abcdef0"}},
		{"ParallelCluster name outside an instance session", "arn:aws:sts::123456789012:assumed-role/prod-cand-260809-RoleHeadNode-eadPOAt3UaZr/botocore-session-1",
			Identity{Partition: "aws", Kind: KindAssumedRole, RoleName: "prod-cand-260809-RoleHeadNode-eadPOAt3UaZr",
				SessionName: "botocore-session-1"}},
		{"federated user", "arn:aws:sts::123456789012:federated-user/carol",
			Identity{Partition: "aws", Kind: KindFederatedUser, UserName: "carol"}},
		{"well-formed but unfamiliar", "arn:aws:iam::123456789012:role/SomeRole",
			Identity{Partition: "aws", Kind: KindUnknown}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseIdentity(tt.arn, acct, "AIDAEXAMPLE")
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			want.ARN, want.Account, want.UserID = tt.arn, acct, "AIDAEXAMPLE"
			if got != want {
				t.Errorf("ParseIdentity(%q)\n got %+v\nwant %+v", tt.arn, got, want)
			}
		})
	}
}

func TestParseIdentityErrors(t *testing.T) {
	tests := []struct{ arn, account string }{
		{"", ""},
		{"not-an-arn", ""},
		{"arn:aws:iam::123456789012", ""},
		{"arn:aws:s3:::my-bucket", ""},
		{"arn::iam::123456789012:root", ""},
		{"arn:aws:iam::12345:root", ""},
		{"arn:aws:sts:us-east-1:123456789012:assumed-role/a/b", ""},
		{"arn:aws:sts::123456789012:assumed-role/OnlyRole", ""},
		{"arn:aws:sts::123456789012:assumed-role//session", ""},
		{"arn:aws:iam::123456789012:user/", ""},
		{"arn:aws:sts::123456789012:federated-user/", ""},
		{"arn:aws:iam::123456789012:", ""},
		{"arn:aws:iam::123456789012:root", "210987654321"},
	}
	for _, tt := range tests {
		_, err := ParseIdentity(tt.arn, tt.account, "")
		if err == nil {
			t.Errorf("ParseIdentity(%q, %q): no error", tt.arn, tt.account)
			continue
		}
		if !strings.Contains(err.Error(), `"`+tt.arn+`"`) {
			t.Errorf("ParseIdentity(%q): error %q does not name the ARN", tt.arn, err)
		}
	}
}

func TestParseIdentityAccountFromARN(t *testing.T) {
	id, err := ParseIdentity("arn:aws:iam::123456789012:root", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if id.Account != "123456789012" {
		t.Errorf("Account = %q, want the ARN's", id.Account)
	}
}

// The hashes are those of queues "i8", "i128" and "i192" in the role names of a real cluster.
func TestParallelClusterHash(t *testing.T) {
	tests := []struct{ queue, want string }{
		{"i8", "18b1a9ea4e81c872"},
		{"i128", "94f0e27775450e09"},
		{"i192", "Cd53fa91fbffcf32"},
	}
	for _, tt := range tests {
		if got := parallelClusterHash(tt.queue); got != tt.want {
			t.Errorf("parallelClusterHash(%q) = %q, want %q", tt.queue, got, tt.want)
		}
	}
}

func TestMatchQueue(t *testing.T) {
	compute := mustIdentity(t, "arn:aws:sts::123456789012:assumed-role/ifx-reworkB-ComputeFleetQueues-RoleCd53fa91fbffcf32-4Z4oG8qQjKOb/i-0d46daa16277ef29b")
	head := mustIdentity(t, "arn:aws:sts::123456789012:assumed-role/prod-cand-260809-RoleHeadNode-eadPOAt3UaZr/i-048ff099d73057e09")
	tests := []struct {
		name  string
		id    Identity
		names []string
		want  string
	}{
		{"matching candidate", compute, []string{"i8", "i192"}, "i192"},
		{"no candidate matches", compute, []string{"i8", "i128"}, ""},
		{"empty candidates", compute, []string{"", ""}, ""},
		{"no candidates", compute, nil, ""},
		{"head node has no queue", head, []string{"i192"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.id.MatchQueue(tt.names...)
			if got.Queue != tt.want {
				t.Errorf("Queue = %q, want %q", got.Queue, tt.want)
			}
			got.Queue = ""
			if got != tt.id {
				t.Errorf("MatchQueue changed more than Queue: %+v", got)
			}
		})
	}
}

func TestRoleARN(t *testing.T) {
	tests := []struct{ arn, want string }{
		{"arn:aws:sts::123456789012:assumed-role/ifx-reworkB-ComputeFleetQueues-Role18b1a9ea4e81c872-zBYLkxivPcqU/i-0d46daa16277ef29b",
			"arn:aws:iam::123456789012:role/ifx-reworkB-ComputeFleetQueues-Role18b1a9ea4e81c872-zBYLkxivPcqU"},
		{"arn:aws-cn:sts::123456789012:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/jdoe",
			"arn:aws-cn:iam::123456789012:role/AWSReservedSSO_Admin_0123456789abcdef"},
		{"arn:aws:iam::123456789012:user/alice", ""},
		{"arn:aws:iam::123456789012:root", ""},
	}
	for _, tt := range tests {
		if got := mustIdentity(t, tt.arn).RoleARN(); got != tt.want {
			t.Errorf("RoleARN of %q = %q, want %q", tt.arn, got, tt.want)
		}
	}
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		arn   string
		queue string // a MatchQueue candidate
		want  string
	}{
		{"arn:aws:iam::123456789012:root", "",
			"root user, account 123456789012"},
		{"arn:aws:iam::123456789012:user/division/alice", "",
			"IAM user alice, account 123456789012"},
		{"arn:aws:sts::123456789012:assumed-role/DataEngineer/botocore-session-1", "",
			"assumed role DataEngineer, session botocore-session-1, account 123456789012"},
		{"arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_PowerUserAccess_3f1e0a8c2b9d4e7f/jdoe@example.edu", "",
			"IAM Identity Center (SSO) user jdoe@example.edu with permission set PowerUserAccess (role AWSReservedSSO_PowerUserAccess_3f1e0a8c2b9d4e7f), account 123456789012"},
		{"arn:aws:sts::123456789012:assumed-role/ifx-reworkB-ComputeFleetQueues-Role18b1a9ea4e81c872-zBYLkxivPcqU/i-0d46daa16277ef29b", "i8",
			"EC2 instance role ifx-reworkB-ComputeFleetQueues-Role18b1a9ea4e81c872-zBYLkxivPcqU (ParallelCluster compute node role of queue i8 in cluster ifx-reworkB), session i-0d46daa16277ef29b, account 123456789012"},
		{"arn:aws:sts::123456789012:assumed-role/genomics-production-cluster-01-Role18b1a9ea4e81c872-zBYLkxivPcqU/i-0d46daa16277ef29b", "",
			"EC2 instance role genomics-production-cluster-01-Role18b1a9ea4e81c872-zBYLkxivPcqU (ParallelCluster compute node role), session i-0d46daa16277ef29b, account 123456789012"},
		{"arn:aws:sts::123456789012:assumed-role/prod-cand-260809-RoleHeadNode-eadPOAt3UaZr/i-048ff099d73057e09", "",
			"EC2 instance role prod-cand-260809-RoleHeadNode-eadPOAt3UaZr (ParallelCluster head node role in cluster prod-cand-260809), session i-048ff099d73057e09, account 123456789012"},
		{"arn:aws-us-gov:sts::123456789012:assumed-role/Ec2Role/i-0123456789abcdef0", "",
			"EC2 instance role Ec2Role, session i-0123456789abcdef0, account 123456789012, partition aws-us-gov"},
		{"arn:aws:sts::123456789012:federated-user/carol", "",
			"federated user carol, account 123456789012"},
		{"arn:aws:iam::123456789012:role/SomeRole", "",
			"principal arn:aws:iam::123456789012:role/SomeRole, account 123456789012"},
	}
	for _, tt := range tests {
		id := mustIdentity(t, tt.arn).MatchQueue(tt.queue)
		if got := id.Describe(); got != tt.want {
			t.Errorf("Describe of %q\n got %q\nwant %q", tt.arn, got, tt.want)
		}
	}
}

func TestCredentialSource(t *testing.T) {
	tests := []struct{ source, want string }{
		{"EnvConfigCredentials", "environment variables (AWS_ACCESS_KEY_ID)"},
		{"SharedConfigCredentials: /home/me/.aws/credentials", "shared config profile (/home/me/.aws/credentials)"},
		{"SSOProvider", "IAM Identity Center (SSO)"},
		{"EC2RoleProvider", "EC2 instance role (IMDS)"},
		{"WebIdentityCredentials", "web identity token (AssumeRoleWithWebIdentity)"},
		{"ProcessProvider", "credential_process in the shared config"},
		{"AssumeRoleProvider", "assumed role (role_arn in the shared config)"},
		{"CredentialsEndpointProvider", "container credentials endpoint (ECS or EKS Pod Identity)"},
		{"EndpointCredentials", "container credentials endpoint (ECS or EKS Pod Identity)"},
		{"StaticCredentials", "static keys given to the program"},
		{"LoginProvider", "console sign-in session (aws login)"},
		{"AnonymousCredentials", "no credentials (anonymous requests)"},
		{"SharedConfigCredentials: /home/me/.aws/credentials, AssumeRoleProvider",
			"shared config profile (/home/me/.aws/credentials), then assumed role (role_arn in the shared config)"},
		{"EC2RoleProvider,AssumeRoleProvider", "EC2 instance role (IMDS), then assumed role (role_arn in the shared config)"},
		{"SomeFutureProvider", "SomeFutureProvider"},
		{"", "unknown"},
		{"  ", "unknown"},
	}
	for _, tt := range tests {
		if got := CredentialSource(tt.source); got != tt.want {
			t.Errorf("CredentialSource(%q) = %q, want %q", tt.source, got, tt.want)
		}
	}
}

func TestMaskKeyID(t *testing.T) {
	tests := []struct {
		id, want  string
		temporary bool
	}{
		{"AKIAIOSFODNN7EXAMPLE", "AKIA…MPLE", false},
		{"ASIAY34FZKBOKMUTVV7A", "ASIA…VV7A", true},
		{"AKIA12345", "AKIA…2345", false},
		{"ASIA1234", "…", true},
		{"short", "…", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, temp := MaskKeyID(tt.id)
		if got != tt.want || temp != tt.temporary {
			t.Errorf("MaskKeyID(%q) = %q, %v; want %q, %v", tt.id, got, temp, tt.want, tt.temporary)
		}
	}
}

func mustIdentity(t *testing.T, arn string) Identity {
	t.Helper()
	id, err := ParseIdentity(arn, "", "")
	if err != nil {
		t.Fatal(err)
	}
	return id
}
