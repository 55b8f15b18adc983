// Package iamtest runs servers for tests that need real permission checks: a
// Versity S3 Gateway (versitygw) that enforces the identity policies of a
// standalone versitygw IAM/STS service, and an EC2 instance metadata mock
// (amazon-ec2-metadata-mock) that hands out instance-role credentials.
//
// Start one Env per test package from TestMain and share it; give each test
// its own bucket (NewBucket) and users with the policies it needs (NewUser):
//
//	var env *iamtest.Env
//
//	func TestMain(m *testing.M) {
//		var err error
//		if env, err = iamtest.Start(); err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1) // never skip: CI must not pass without the servers
//		}
//		code := m.Run()
//		env.Stop()
//		os.Exit(code)
//	}
//
// The binaries are found as internal/s3test finds versitygw: $FSXSYNC_VERSITYGW
// and $FSXSYNC_EC2_METADATA_MOCK, else .tools/bin under the module root;
// `make tools` installs both.
//
// What versitygw's IAM supports: users, access keys, inline user and role
// policies, roles, GetCallerIdentity and AssumeRoleWithWebIdentity. It has no
// managed policies, no AssumeRole and no SimulatePrincipalPolicy; the facts
// the tests establish are listed at the top of iamtest_test.go.
package iamtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/fsxsync/fsxsync/internal/s3test"
)

// PolicyName is the name NewUser gives the user's inline policy.
const PolicyName = "fsxsync-test"

// maxSocketPath is the longest unix socket path Linux takes (sun_path is 108
// bytes with its terminating NUL).
const maxSocketPath = 107

// Env is a versitygw gateway enforcing IAM identity policies, plus its IAM/STS service.
type Env struct {
	// S3Endpoint is the gateway's base URL, http://127.0.0.1:PORT.
	S3Endpoint string
	// IAMEndpoint is the base URL of the IAM service's public API,
	// http://127.0.0.1:PORT: the IAM actions and the STS actions
	// (GetCallerIdentity) are all served here.
	IAMEndpoint string
	// RootAccess and RootSecret are the root credentials of both processes.
	// Root is allowed everything and owns every bucket.
	RootAccess, RootSecret string
	// Region is the region the gateway reports and clients sign for.
	Region string
	// Dir holds the IAM service's data (Dir/iam), its private socket
	// (Dir/iam.sock) and its log (Dir/iam.log). The gateway has its own temp
	// directory (see s3test.Server.Dir). Stop removes both.
	Dir string

	iamProc  *process
	gw       *s3test.Server
	stopOnce sync.Once
}

// Start launches the IAM service and then the gateway, each on a free
// 127.0.0.1 port, in fresh temp dirs, and waits until both answer.
//
// The IAM service is `versitygw iam`: its public IAM/STS API listens on the
// global --port, its private API, which only the gateway uses to look up
// users and evaluate their policies, on the unix socket --private-ports (a
// TCP private port would need mTLS certificates). The gateway is pointed at
// that socket with --iam-standalone-endpoint.
//
// If a binary is missing the error says to run `make tools`; callers must
// fail, not skip.
func Start() (*Env, error) {
	bin, err := s3test.Tool("versitygw", s3test.BinaryEnv)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "fsxsync-iam-")
	if err != nil {
		return nil, fmt.Errorf("iamtest: %w", err)
	}
	e := &Env{
		RootAccess: "AK" + randomHex(9),
		RootSecret: s3test.RootSecret(),
		Region:     s3test.Region,
		Dir:        dir,
	}
	if err := e.start(bin); err != nil {
		e.Stop()
		return nil, err
	}
	return e, nil
}

func (e *Env) start(bin string) error {
	iamDir := filepath.Join(e.Dir, "iam")
	if err := os.Mkdir(iamDir, 0o700); err != nil {
		return fmt.Errorf("iamtest: %w", err)
	}
	socket := filepath.Join(e.Dir, "iam.sock")
	if len(socket) > maxSocketPath {
		return fmt.Errorf("iamtest: socket path %s is too long for a unix socket; set TMPDIR to a shorter directory", socket)
	}

	args := []string{
		"--access", e.RootAccess, "--secret", e.RootSecret, "--region", e.Region,
		"--port", "127.0.0.1:0",
		"--health", "/health",
		"--keep-alive", "--quiet",
		"iam",
		"--dir", iamDir,
		"--private-ports", socket,
	}
	// Ready once the public API answers and the private socket exists: the
	// gateway probes the socket at startup and, finding nothing, retries
	// only every 2 s.
	ready := func(baseURL string) bool {
		if _, err := os.Stat(socket); err != nil {
			return false
		}
		return answers200(baseURL + "/health")
	}
	// versitygw also reads VGW_* variables (a vault or LDAP store, ports);
	// the caller's must not change the service.
	env := environWithout("VGW_")
	proc, baseURL, err := startProcess("versitygw iam", bin, args, env, filepath.Join(e.Dir, "iam.log"), ready)
	if err != nil {
		return err
	}
	e.iamProc, e.IAMEndpoint = proc, baseURL

	gw, err := s3test.StartWith(s3test.Options{
		AccessKey: e.RootAccess,
		SecretKey: e.RootSecret,
		GatewayArgs: []string{
			"--iam-standalone-endpoint", socket,
			// The identity the gateway signs its private calls with; root is
			// the default, spelled out so the pairing is visible.
			"--iam-standalone-access", e.RootAccess,
			"--iam-standalone-secret", e.RootSecret,
		},
	})
	if err != nil {
		return err
	}
	e.gw, e.S3Endpoint = gw, gw.Endpoint
	return nil
}

// Stop kills both processes and removes their directories. It is safe to
// call more than once.
func (e *Env) Stop() {
	e.stopOnce.Do(func() {
		if e.gw != nil {
			e.gw.Stop()
		}
		if e.iamProc != nil {
			e.iamProc.kill()
		}
		os.RemoveAll(e.Dir)
	})
}

// RootS3 returns an S3 client with the root credentials, path-style.
func (e *Env) RootS3() *s3.Client {
	return e.S3(e.RootAccess, e.RootSecret)
}

// S3 returns an S3 client for the gateway that signs with the given
// credentials (a user's from NewUser), path-style.
func (e *Env) S3(accessKey, secretKey string) *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(e.S3Endpoint),
		Region:       e.Region,
		Credentials:  credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
		// Bucket-in-host addressing would need DNS for *.127.0.0.1.
		UsePathStyle: true,
	})
}

// IAM returns an IAM client with the root credentials at the IAM endpoint.
func (e *Env) IAM() *iam.Client {
	return iam.New(iam.Options{
		BaseEndpoint: aws.String(e.IAMEndpoint),
		Region:       e.Region,
		Credentials:  credentials.NewStaticCredentialsProvider(e.RootAccess, e.RootSecret, ""),
	})
}

// STS returns an STS client at the IAM endpoint that signs with the given
// credentials.
func (e *Env) STS(accessKey, secretKey string) *sts.Client {
	return sts.New(sts.Options{
		BaseEndpoint: aws.String(e.IAMEndpoint),
		Region:       e.Region,
		Credentials:  credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
	})
}

// NewBucket creates a bucket, owned by root, with a unique valid name derived
// from t.Name() and returns the name. It fails t if the bucket cannot be
// created.
func (e *Env) NewBucket(t testing.TB) string {
	t.Helper()
	return e.gw.NewBucket(t)
}

// NewUser creates an IAM user with an inline policy (JSON document) and returns its access key and secret.
// An empty policyJSON leaves the user without any policy. Names must be
// unique within the Env. It fails t on any error.
func (e *Env) NewUser(t testing.TB, name, policyJSON string) (accessKey, secretKey string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := e.IAM()
	if _, err := client.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)}); err != nil {
		t.Fatalf("iamtest: creating user %s: %v", name, err)
	}
	if policyJSON != "" {
		_, err := client.PutUserPolicy(ctx, &iam.PutUserPolicyInput{
			UserName:       aws.String(name),
			PolicyName:     aws.String(PolicyName),
			PolicyDocument: aws.String(policyJSON),
		})
		if err != nil {
			t.Fatalf("iamtest: putting the policy of user %s: %v", name, err)
		}
	}
	out, err := client.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(name)})
	if err != nil {
		t.Fatalf("iamtest: creating an access key for user %s: %v", name, err)
	}
	return aws.ToString(out.AccessKey.AccessKeyId), aws.ToString(out.AccessKey.SecretAccessKey)
}
