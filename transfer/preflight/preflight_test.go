package preflight

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/fsxsync/fsxsync/internal/s3test"
	"github.com/fsxsync/fsxsync/transfer"
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

// A download that cannot fit is refused before it starts; the listing comes from the real server, the free space
// from a stand-in for statfs.
func TestCheckSpace(t *testing.T) {
	srv := s3test.Shared(t)
	bucket := srv.NewBucket(t)
	for key, size := range map[string]int{"p/a": 3000, "p/b/c": 5000} {
		if _, err := srv.Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
			Body: bytes.NewReader(make([]byte, size))}); err != nil {
			t.Fatal(err)
		}
	}
	dst := filepath.Join(t.TempDir(), "not", "yet")
	for _, tc := range []struct {
		free    int64
		wantErr bool
	}{{free: 1 << 20}, {free: 7999, wantErr: true}} {
		rep := &Report{}
		err := checkSpace(context.Background(), rep, srv.Client(), bucket, "p/", dst, func(string) (int64, error) { return tc.free, nil })
		var ue *transfer.UsageError
		if tc.wantErr != (err != nil) || (err != nil && !errors.As(err, &ue)) {
			t.Errorf("free %d: err = %v, want a usage error: %v", tc.free, err, tc.wantErr)
		}
		if len(rep.Rows) != 1 || !strings.Contains(rep.Rows[0].Detail, "7.8 KiB to fetch") {
			t.Errorf("free %d: rows = %+v", tc.free, rep.Rows)
		}
	}
}

// fakeBucketS3 answers HeadBucket with a chosen error; the other calls are not used.
type fakeBucketS3 struct {
	S3
	err error
}

func (f fakeBucketS3) HeadBucket(context.Context, *s3.HeadBucketInput, ...func(*s3.Options)) (*s3.HeadBucketOutput, error) {
	return nil, f.err
}

func (f fakeBucketS3) GetBucketEncryption(context.Context, *s3.GetBucketEncryptionInput, ...func(*s3.Options)) (*s3.GetBucketEncryptionOutput, error) {
	return nil, errors.New("not implemented")
}

func responseError(status int, header http.Header, code string) error {
	return &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status, Header: header}},
		Err:      &smithy.GenericAPIError{Code: code, Message: code},
	}
}

// How the preflight reads HeadBucket's failures. (A redirect to another region and a skewed clock cannot be made
// with the local server, so these answers are built as the SDK returns them.)
func TestCheckBucketAnswers(t *testing.T) {
	redirect := responseError(http.StatusMovedPermanently, http.Header{"X-Amz-Bucket-Region": {"eu-west-1"}}, "PermanentRedirect")
	rep := &Report{}
	if err := checkBucket(context.Background(), rep, fakeBucketS3{err: redirect}, "b"); err != nil || rep.Region != "eu-west-1" {
		t.Errorf("redirect: err %v, region %q; want the region from the header", err, rep.Region)
	}
	var ce *CredentialsError
	skew := responseError(http.StatusForbidden, nil, "RequestTimeTooSkewed")
	if err := checkBucket(context.Background(), &Report{}, fakeBucketS3{err: skew}, "b"); !errors.As(err, &ce) || !strings.Contains(err.Error(), "clock") {
		t.Errorf("skew: err = %v, want a CredentialsError about the clock", err)
	}
	expired := responseError(http.StatusBadRequest, nil, "ExpiredToken")
	if err := checkBucket(context.Background(), &Report{}, fakeBucketS3{err: expired}, "b"); !errors.As(err, &ce) {
		t.Errorf("expired: err = %v, want a CredentialsError", err)
	}
	var ue *transfer.UsageError
	missing := responseError(http.StatusNotFound, nil, "NotFound")
	if err := checkBucket(context.Background(), &Report{}, fakeBucketS3{err: missing}, "b"); !errors.As(err, &ue) {
		t.Errorf("missing: err = %v, want a transfer.UsageError", err)
	}
	// A HeadBucket refused (no s3:ListBucket) is not fatal by itself: the requirement rows decide.
	forbidden := responseError(http.StatusForbidden, nil, "Forbidden")
	if err := checkBucket(context.Background(), &Report{}, fakeBucketS3{err: forbidden}, "b"); err != nil {
		t.Errorf("forbidden: err = %v, want nil", err)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	s3test.StopShared()
	os.Exit(code)
}

// failingList answers every listing with an error.
type failingList struct{ S3 }

func (failingList) ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	return nil, responseError(http.StatusInternalServerError, nil, "InternalError")
}

// A free-space check that could not size the download, or could not read the free space, records a row that says
// so and counts as not proven, instead of vanishing from the table.
func TestCheckSpaceNotChecked(t *testing.T) {
	dst := t.TempDir()
	rep := &Report{}
	if err := checkSpace(context.Background(), rep, failingList{}, "b", "p/", dst, func(string) (int64, error) { return 1 << 30, nil }); err != nil {
		t.Fatal(err)
	}
	if u := rep.Unproven(); len(u) != 1 || !strings.Contains(u[0].Check, "free space") || !strings.Contains(u[0].Detail, "InternalError") {
		t.Errorf("listing failed: unproven rows %+v", u)
	}
	rep = &Report{}
	srv := s3test.Shared(t)
	bucket := srv.NewBucket(t)
	if err := checkSpace(context.Background(), rep, srv.Client(), bucket, "p/", dst, func(string) (int64, error) { return 0, errors.New("statfs: no") }); err != nil {
		t.Fatal(err)
	}
	if u := rep.Unproven(); len(u) != 1 || !strings.Contains(u[0].Detail, "statfs") {
		t.Errorf("statfs failed: unproven rows %+v", u)
	}
}
