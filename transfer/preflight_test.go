package transfer

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// Recorded AWS IAM responses (Query protocol, XML), trimmed to the fields the preflight reads. versitygw has no
// SimulatePrincipalPolicy, so this path is tested against an httptest endpoint that replays them.
const getRoleResponse = `<GetRoleResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
  <GetRoleResult>
    <Role>
      <Path>/parallelcluster/hpc/</Path>
      <RoleName>hpc-ComputeFleetQueues-Role18b1a9ea4e81c872-zBYLkxivPcqU</RoleName>
      <RoleId>AROAEXAMPLEID1234567</RoleId>
      <Arn>arn:aws:iam::123456789012:role/parallelcluster/hpc/hpc-ComputeFleetQueues-Role18b1a9ea4e81c872-zBYLkxivPcqU</Arn>
      <CreateDate>2026-01-02T03:04:05Z</CreateDate>
    </Role>
  </GetRoleResult>
  <ResponseMetadata><RequestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</RequestId></ResponseMetadata>
</GetRoleResponse>`

const simulateResponse = `<SimulatePrincipalPolicyResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
  <SimulatePrincipalPolicyResult>
    <IsTruncated>false</IsTruncated>
    <EvaluationResults>
      <member>
        <EvalActionName>ACTION</EvalActionName>
        <EvalResourceName>RESOURCE</EvalResourceName>
        <EvalDecision>DECISION</EvalDecision>
        <MatchedStatements/>
        <MissingContextValues/>
      </member>
    </EvaluationResults>
  </SimulatePrincipalPolicyResult>
  <ResponseMetadata><RequestId>004d7059-4c14-11e5-b121-bd8c7EXAMPLE</RequestId></ResponseMetadata>
</SimulatePrincipalPolicyResponse>`

const accessDeniedResponse = `<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
  <Error><Type>Sender</Type><Code>AccessDenied</Code>
  <Message>User: arn:aws:sts::123456789012:assumed-role/x/i-0abc is not authorized to perform: iam:GetRole</Message></Error>
  <RequestId>11111111-2222-3333-4444-555555555555</RequestId>
</ErrorResponse>`

// fakeIAM replays the recordings: PutObject is denied, everything else allowed.
type fakeIAM struct {
	mu        sync.Mutex
	denyAll   bool
	sources   []string
	prefixCtx []string
}

func (f *fakeIAM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	q, _ := url.ParseQuery(string(body))
	w.Header().Set("Content-Type", "text/xml")
	if f.denyAll {
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, accessDeniedResponse)
		return
	}
	switch q.Get("Action") {
	case "GetRole":
		io.WriteString(w, getRoleResponse)
	case "SimulatePrincipalPolicy":
		f.mu.Lock()
		f.sources = append(f.sources, q.Get("PolicySourceArn"))
		if v := q.Get("ContextEntries.member.1.ContextKeyValues.member.1"); v != "" {
			f.prefixCtx = append(f.prefixCtx, v)
		}
		f.mu.Unlock()
		action := q.Get("ActionNames.member.1")
		decision := "allowed"
		if action == "s3:PutObject" {
			decision = "implicitDeny"
		}
		resp := strings.NewReplacer("ACTION", action, "RESOURCE", q.Get("ResourceArns.member.1"), "DECISION", decision).Replace(simulateResponse)
		io.WriteString(w, resp)
	default:
		http.Error(w, "unexpected action "+q.Get("Action"), http.StatusBadRequest)
	}
}

func fakeIAMClient(url string) *iam.Client {
	return iam.New(iam.Options{Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")})
}

func TestSimulateResolvesRolePath(t *testing.T) {
	f := &fakeIAM{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	id, err := ParseIdentity("arn:aws:sts::123456789012:assumed-role/hpc-ComputeFleetQueues-Role18b1a9ea4e81c872-zBYLkxivPcqU/i-0123456789abcdef0",
		"123456789012", "AROAEXAMPLEID1234567:i-0123456789abcdef0")
	if err != nil {
		t.Fatal(err)
	}
	reqs := Requirements(RequirementsInput{Bucket: "b", Prefix: "out/", Upload: true, Recursive: true, Compare: true})
	res := simulate(context.Background(), fakeIAMClient(srv.URL), id, reqs)
	if res == nil {
		t.Fatal("simulation unavailable")
	}
	want := "arn:aws:iam::123456789012:role/parallelcluster/hpc/hpc-ComputeFleetQueues-Role18b1a9ea4e81c872-zBYLkxivPcqU"
	for _, s := range f.sources {
		if s != want {
			t.Errorf("simulated %q, want the role ARN with its path %q", s, want)
		}
	}
	if len(f.prefixCtx) != 1 || f.prefixCtx[0] != "out/" {
		t.Errorf("s3:prefix context = %v, want [out/]", f.prefixCtx)
	}
	for _, r := range reqs {
		got, ok := res[r.Action+" "+r.Resource]
		if !ok {
			t.Errorf("no result for %s", r.Action)
			continue
		}
		if wantAllowed := r.Action != "s3:PutObject"; got.allowed != wantAllowed {
			t.Errorf("%s allowed = %v, want %v (%s)", r.Action, got.allowed, wantAllowed, got.detail)
		}
	}
}

func TestSimulateUnavailableFallsBackToProbes(t *testing.T) {
	srv := httptest.NewServer(&fakeIAM{denyAll: true})
	defer srv.Close()
	id, _ := ParseIdentity("arn:aws:sts::123456789012:assumed-role/r/i-0123456789abcdef0", "123456789012", "X")
	if res := simulate(context.Background(), fakeIAMClient(srv.URL), id, []Requirement{{Action: "s3:GetObject", Resource: "arn:aws:s3:::b/*"}}); res != nil {
		t.Errorf("simulate = %v, want nil when iam:GetRole is denied", res)
	}
	if res := simulate(context.Background(), nil, id, nil); res != nil {
		t.Error("simulate without a client returned results")
	}
}
