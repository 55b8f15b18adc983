package preflight

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/fsxsync/fsxsync/transfer"
)

// fakeSTS answers GetCallerIdentity with a fixed ARN, or an error.
type fakeSTS struct{ err error }

func (f fakeSTS) GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	return &sts.GetCallerIdentityOutput{Arn: aws.String("arn:aws:iam::123456789012:user/alice"),
		Account: aws.String("123456789012"), UserId: aws.String("AIDAEXAMPLE")}, nil
}

// fakeIMDS serves the paths an instance role's identity is read from, or fails every one.
type fakeIMDS struct{ down bool }

func (f fakeIMDS) GetMetadata(_ context.Context, in *imds.GetMetadataInput, _ ...func(*imds.Options)) (*imds.GetMetadataOutput, error) {
	if f.down {
		return nil, errors.New("no IMDS here")
	}
	body, ok := map[string]string{
		"iam/security-credentials/": "ifx-reworkB-ComputeFleetQueues-Role18b1a9ea4e81c872-zBYLkxivPcqU\n",
		"iam/info":                  `{"Code":"Success","InstanceProfileArn":"arn:aws:iam::123456789012:instance-profile/parallelcluster/hpc/hpc-ComputeFleetQueues-Profile"}`,
		"instance-id":               "i-0abc1234def567890",
	}[in.Path]
	if !ok {
		return nil, errors.New("404 " + in.Path)
	}
	return &imds.GetMetadataOutput{Content: io.NopCloser(strings.NewReader(body))}, nil
}

// staticCreds are credentials from a named source.
type staticCreds struct{ source string }

func (s staticCreds) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: "ASIAEXAMPLEEXAMPLE12", SecretAccessKey: "x", Source: s.source}, nil
}

// Who the caller is when STS answers, rejects the credentials, or cannot be asked: an STS out of reach is not an
// error unless --require-identity, and an instance role is then named from the instance metadata.
func TestResolveCallerWithoutSTS(t *testing.T) {
	refused := &smithy.OperationError{ServiceID: "STS", OperationName: "GetCallerIdentity", Err: &net.OpError{
		Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}
	rejected := &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 403}},
		Err: &smithy.GenericAPIError{Code: "InvalidClientTokenId", Message: "The security token included in the request is invalid."}}
	tests := []struct {
		name       string
		source     string
		sts        error
		imdsDown   bool
		require    bool
		wantKind   transfer.Kind // of the error; KindFile means no error
		wantARN    string
		unverified bool
		warning    string
	}{
		{name: "STS answers", source: "EnvConfigCredentials", wantARN: "arn:aws:iam::123456789012:user/alice"},
		{name: "STS rejects the keys", source: "EnvConfigCredentials", sts: rejected, wantKind: transfer.KindCredentials},
		{name: "instance role, STS refused", source: ec2rolecreds.ProviderName, sts: refused, unverified: true,
			wantARN: "arn:aws:sts::123456789012:assumed-role/ifx-reworkB-ComputeFleetQueues-Role18b1a9ea4e81c872-zBYLkxivPcqU/i-0abc1234def567890",
			warning: "connection refused"},
		{name: "instance role, STS refused, --require-identity", source: ec2rolecreds.ProviderName, sts: refused, require: true,
			wantKind: transfer.KindCredentials},
		{name: "instance role, STS and IMDS both out", source: ec2rolecreds.ProviderName, sts: refused, imdsDown: true,
			unverified: true, warning: "did not name the role either"},
		{name: "keys, STS refused", source: "EnvConfigCredentials", sts: refused, unverified: true, warning: "not known"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ResolveCaller(context.Background(), CallerInput{Credentials: staticCreds{tt.source}, STS: fakeSTS{tt.sts},
				STSEndpoint: "https://sts.eu-west-1.amazonaws.com", Metadata: fakeIMDS{down: tt.imdsDown}, RequireIdentity: tt.require})
			if tt.wantKind != transfer.KindFile {
				if got := transfer.KindOf(err); err == nil || got != tt.wantKind {
					t.Fatalf("err = %v (kind %v), want kind %v", err, got, tt.wantKind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Identity.ARN != tt.wantARN || c.Unverified != tt.unverified {
				t.Errorf("identity %q, unverified %v; want %q, %v", c.Identity.ARN, c.Unverified, tt.wantARN, tt.unverified)
			}
			if tt.warning == "" && c.Warning != "" || !strings.Contains(c.Warning, tt.warning) {
				t.Errorf("warning %q, want one containing %q", c.Warning, tt.warning)
			}
			if c.Warning != "" && !strings.Contains(c.Warning, "https://sts.eu-west-1.amazonaws.com") {
				t.Errorf("warning %q does not name the endpoint tried", c.Warning)
			}
			if tt.wantARN != "" && tt.unverified && (c.Identity.Kind != KindInstanceRole || c.Identity.ParallelClusterRole != pcCompute) {
				t.Errorf("identity %+v: want the ParallelCluster compute role it names", c.Identity)
			}
		})
	}
}

// The endpoint a warning names: the configured one, else the regional one the SDK resolves.
func TestSTSEndpoint(t *testing.T) {
	if got := STSEndpoint(sts.New(sts.Options{Region: "eu-west-1"})); got != "https://sts.eu-west-1.amazonaws.com" {
		t.Errorf("default endpoint %q", got)
	}
	if got := STSEndpoint(sts.New(sts.Options{Region: "eu-west-1", BaseEndpoint: aws.String("http://127.0.0.1:9")})); got != "http://127.0.0.1:9" {
		t.Errorf("configured endpoint %q", got)
	}
}
