// Package s3test runs S3 servers for tests: a real Versity S3 Gateway
// (versitygw) with its posix backend, and an in-process gofakes3 for the
// object keys versitygw cannot store.
//
// A test package shares one Server, started by the first test that asks for it
// (Shared), so that the package's tests that need no server run without one;
// its TestMain stops it. Give each test its own bucket with NewBucket:
//
//	func srv(t testing.TB) *s3test.Server { return s3test.Shared(t) }
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		s3test.StopShared()
//		os.Exit(code)
//	}
//
// Where the gateway cannot start, Shared fails the test under CI=true (CI must
// not pass without the server) and skips it elsewhere (internal/testenv).
//
// The gateway binary is $FSXSYNC_VERSITYGW, else .tools/bin/versitygw under
// the module root; `make tools` builds it.
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/fsxsync/fsxsync/internal/testenv"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Region is the region both servers report and the clients sign for.
const Region = "us-east-1"

// BinaryEnv names the environment variable that overrides where the gateway
// binary is found.
const BinaryEnv = "FSXSYNC_VERSITYGW"

const (
	// startTimeout bounds how long Start waits for the gateway to answer; it
	// normally takes well under a second.
	startTimeout = 20 * time.Second
	// pollInterval is the step of the startup and shutdown waits.
	pollInterval = 50 * time.Millisecond
	// healthPath is served without authentication by `--health`, so readiness
	// can be checked without signing a request.
	healthPath = "/health"
	// noXattrMessage is what versitygw's posix backend prints before exiting
	// when its directory's file system has no user extended attributes.
	noXattrMessage = "xattrs are not supported"
)

// Server is a running versitygw instance owned by a test binary.
type Server struct {
	// Endpoint is the base URL, http://127.0.0.1:PORT (https:// with Options.TLS).
	Endpoint string
	// CAFile is the PEM file of the throwaway CA that signed the gateway's certificate with Options.TLS (clients
	// trust it through AWS_CA_BUNDLE, which Env sets); empty without TLS.
	CAFile string
	// AccessKey and SecretKey are the gateway's root credentials.
	AccessKey, SecretKey string
	// Region is the region to sign requests for.
	Region string
	// Dir holds the gateway's data (Dir/root), log (Dir/versitygw.log) and,
	// where the file system lacks user xattrs, its metadata (Dir/sidecar).
	// Stop removes it.
	Dir string

	extraArgs []string // Options.GatewayArgs
	posixArgs []string // posix backend options every launch passes (Options.Versioning)
	ca        *TestCA  // Options.TLS; nil for plain HTTP
	cmd       *exec.Cmd
	exited    chan struct{} // closed once cmd has exited
	stopOnce  sync.Once
}

// Start launches versitygw on a free 127.0.0.1 port with a posix backend in a
// fresh temp dir, waits until it answers (at most 20 s) and returns it.
//
// It finds the binary in $FSXSYNC_VERSITYGW, else <module root>/.tools/bin/versitygw,
// the module root being the nearest directory above the working directory
// that has a go.mod. If the binary is missing the error says to run
// `make tools`; callers must fail, not skip, so that CI cannot pass without
// the server.
func Start() (*Server, error) {
	return StartWith(Options{})
}

// Options adjusts the gateway that StartWith launches.
type Options struct {
	// AccessKey and SecretKey are the root credentials; random when empty.
	AccessKey, SecretKey string
	// GatewayArgs are extra global versitygw flags, placed before the
	// backend command: for example --iam-standalone-endpoint, which makes
	// the gateway enforce a standalone IAM service's users and policies.
	GatewayArgs []string
	// Versioning lets buckets keep object versions (posix --versioning-dir), for tests of versioned buckets; a
	// bucket still has versioning off until PutBucketVersioning turns it on.
	Versioning bool
	// TLS serves HTTPS (versitygw --cert/--key) with a certificate for 127.0.0.1 signed by a throwaway CA made at
	// start; Client and Env trust that CA, so verification stays on, as with real S3.
	TLS bool
}

// StartWith is Start with options.
func StartWith(opts Options) (*Server, error) {
	bin, err := Tool("versitygw", BinaryEnv)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "fsxsync-versitygw-")
	if err != nil {
		return nil, fmt.Errorf("s3test: %w", err)
	}
	if err := os.Mkdir(filepath.Join(dir, "root"), 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("s3test: %w", err)
	}
	s := &Server{
		AccessKey: opts.AccessKey,
		SecretKey: opts.SecretKey,
		Region:    Region,
		Dir:       dir,
		extraArgs: opts.GatewayArgs,
	}
	if opts.Versioning {
		versions := filepath.Join(dir, "versions")
		if err := os.Mkdir(versions, 0o755); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("s3test: %w", err)
		}
		s.posixArgs = []string{"--versioning-dir", versions}
	}
	if opts.TLS {
		if s.ca, err = NewTestCA(dir); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("s3test: making a test CA: %w", err)
		}
		s.CAFile = s.ca.CAFile
	}
	if s.AccessKey == "" {
		s.AccessKey = "AK" + randomHex(9)
	}
	if s.SecretKey == "" {
		s.SecretKey = RootSecret()
	}

	err = s.launch(bin, nil)
	if errors.Is(err, errNoXattr) {
		// The posix backend keeps object metadata in user xattrs and
		// refuses to start where the file system has none (tmpfs before
		// Linux 6.6, some overlay setups); keep it in a sidecar directory.
		sidecar := filepath.Join(dir, "sidecar")
		if err = os.Mkdir(sidecar, 0o755); err == nil {
			err = s.launch(bin, []string{"--sidecar", sidecar})
		}
	}
	if err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// errNoXattr reports that the gateway exited because the file system under
// Dir has no user extended attributes.
var errNoXattr = errors.New("s3test: no user xattrs in the temp directory")

// launch starts the gateway with the given extra posix options and waits
// until it answers on its health endpoint.
func (s *Server) launch(bin string, posixOpts []string) error {
	logPath := filepath.Join(s.Dir, "versitygw.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("s3test: %w", err)
	}
	defer logFile.Close() // the child keeps its own descriptor

	args := []string{
		"--access", s.AccessKey, "--secret", s.SecretKey, "--region", s.Region,
		// Port 0 lets the kernel pick a free port without races; we read it back below.
		"--port", "127.0.0.1:0",
		"--health", healthPath,
		"--keep-alive", "--quiet",
	}
	scheme := "http"
	httpClient := &http.Client{Timeout: time.Second}
	if s.ca != nil {
		args = append(args, "--cert", s.ca.CertFile, "--key", s.ca.KeyFile)
		scheme = "https"
		httpClient = &http.Client{Timeout: time.Second, Transport: s.ca.httpClient().GetTransport()}
	}
	args = append(args, s.extraArgs...)
	args = append(args, "posix")
	args = append(args, s.posixArgs...)
	args = append(args, posixOpts...)
	args = append(args, filepath.Join(s.Dir, "root"))
	cmd := exec.Command(bin, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = ProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("s3test: starting %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited

	failure := func(msg string) error {
		log, _ := os.ReadFile(logPath)
		return fmt.Errorf("s3test: versitygw %s; its log %s:\n%s", msg, logPath, log)
	}
	deadline := time.Now().Add(startTimeout)
	port := 0
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			if log, _ := os.ReadFile(logPath); strings.Contains(string(log), noXattrMessage) {
				return errNoXattr
			}
			return failure("exited during startup (" + cmd.ProcessState.String() + ")")
		default:
		}
		if port == 0 {
			if port, err = ListenPort(cmd.Process.Pid); err != nil {
				return fmt.Errorf("s3test: finding the gateway's port: %w", err)
			}
		}
		if port != 0 {
			endpoint := fmt.Sprintf("%s://127.0.0.1:%d", scheme, port)
			resp, err := httpClient.Get(endpoint + healthPath)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					s.Endpoint = endpoint
					return nil
				}
			}
		}
		time.Sleep(pollInterval)
	}
	return failure(fmt.Sprintf("did not answer within %v", startTimeout))
}

// Stop kills the server and removes its directory. It is safe to call more
// than once.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		if s.cmd != nil {
			// Killed at once: its data is thrown away, and a graceful stop waits seconds for the clients' idle
			// keep-alive connections to close.
			s.cmd.Process.Kill()
			<-s.exited
		}
		os.RemoveAll(s.Dir)
	})
}

// Client returns an S3 client for the server: static credentials, path-style
// addressing, the server's endpoint and region.
func (s *Server) Client() *s3.Client {
	c := newClient(s.Endpoint, s.AccessKey, s.SecretKey, s.Region)
	if s.ca != nil {
		c = s3.New(c.Options(), func(o *s3.Options) { o.HTTPClient = s.ca.httpClient() })
	}
	return c
}

// NewBucket creates a bucket with a unique valid name derived from t.Name()
// and returns the name. It fails t if the bucket cannot be created.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	return newBucket(t, s.Client())
}

// Env returns KEY=VALUE environment variables that point the AWS SDK and the
// fsxsync CLI at this server and keep the machine's own AWS configuration,
// credentials and instance metadata out. Append it to os.Environ(): for
// os/exec the last value of a key wins.
func (s *Server) Env() []string {
	e := env(s.Endpoint, s.AccessKey, s.SecretKey, s.Region)
	if s.CAFile != "" {
		e = append(e, "AWS_CA_BUNDLE="+s.CAFile)
	}
	return e
}

// Fake is an in-process gofakes3 server with an in-memory backend, listening
// on 127.0.0.1. Use it for object keys that versitygw's posix backend
// normalises or rejects (`../x`, `a//b`, key `a` next to key `a/b`); it does
// not check request signatures.
type Fake struct {
	// Endpoint is the base URL, http://127.0.0.1:PORT.
	Endpoint string
	// AccessKey and SecretKey are credentials for clients to sign with;
	// gofakes3 accepts any.
	AccessKey, SecretKey string
	// Region is the region to sign requests for.
	Region string

	srv *httptest.Server
}

// StartFake starts a gofakes3 server on a free 127.0.0.1 port.
func StartFake() (*Fake, error) {
	faker := gofakes3.New(s3mem.New(),
		// Tests may run with a skewed or frozen clock; signatures are not checked anyway.
		gofakes3.WithTimeSkewLimit(0),
	)
	srv := httptest.NewServer(faker.Server()) // httptest listens on 127.0.0.1
	return &Fake{
		Endpoint:  srv.URL,
		AccessKey: "AK" + randomHex(9),
		SecretKey: randomHex(20),
		Region:    Region,
		srv:       srv,
	}, nil
}

// Stop shuts the fake down and drops its contents.
func (f *Fake) Stop() {
	f.srv.Close()
}

// Client returns an S3 client for the fake: static credentials, path-style
// addressing, the fake's endpoint and region.
func (f *Fake) Client() *s3.Client {
	return newClient(f.Endpoint, f.AccessKey, f.SecretKey, f.Region)
}

// NewBucket creates a bucket with a unique valid name derived from t.Name()
// and returns the name. It fails t if the bucket cannot be created.
func (f *Fake) NewBucket(t testing.TB) string {
	t.Helper()
	return newBucket(t, f.Client())
}

func newClient(endpoint, accessKey, secretKey, region string) *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(endpoint),
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
		// Bucket-in-host addressing would need DNS for *.127.0.0.1.
		UsePathStyle: true,
	})
}

// maxBucketName is S3's limit on bucket name length.
const maxBucketName = 63

func newBucket(t testing.TB, client *s3.Client) string {
	t.Helper()
	name := bucketName(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("s3test: creating bucket %s: %v", name, err)
	}
	return name
}

// bucketName turns a test name into a valid, unique S3 bucket name: lower
// case letters, digits and single hyphens, starting with a letter, ending in
// a random suffix, at most 63 characters.
func bucketName(testName string) string {
	suffix := "-" + randomHex(4)
	var b strings.Builder
	b.WriteString("t-") // a fixed letter start avoids "xn--", "sthree-" and IP-like names
	for _, r := range strings.ToLower(testName) {
		if b.Len() >= maxBucketName-len(suffix) {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	return strings.TrimSuffix(b.String(), "-") + suffix
}

func env(endpoint, accessKey, secretKey, region string) []string {
	return []string{
		"AWS_ENDPOINT_URL=" + endpoint,
		"AWS_ACCESS_KEY_ID=" + accessKey,
		"AWS_SECRET_ACCESS_KEY=" + secretKey,
		"AWS_REGION=" + region,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		// Empty counts as unset for the SDK; these would otherwise override
		// the values above (a profile, a session token for other keys, an
		// S3-specific endpoint).
		"AWS_PROFILE=",
		"AWS_SESSION_TOKEN=",
		"AWS_ENDPOINT_URL_S3=",
	}
}

// Tool finds a binary that `make tools` installs: the file named by the
// environment variable envVar if that is set, else <module root>/.tools/bin/NAME,
// the module root being the nearest directory above the working directory
// that has a go.mod. A missing binary is an error that says to run
// `make tools`.
func Tool(name, envVar string) (string, error) {
	if bin := os.Getenv(envVar); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("s3test: $%s: %w (run `make tools`)", envVar, err)
		}
		return bin, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", fmt.Errorf("%w; set $%s", err, envVar)
	}
	bin := filepath.Join(root, ".tools", "bin", name)
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("s3test: %s not found at %s: run `make tools` (or set $%s)", name, bin, envVar)
	}
	return bin, nil
}

// moduleRoot walks up from the working directory (a test's package
// directory) to the nearest directory containing go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("s3test: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("s3test: no go.mod above the working directory")
		}
		dir = parent
	}
}

// randomHex returns 2n random hex digits.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand documents this since Go 1.24)
	return hex.EncodeToString(b)
}

// SecretEnv names the variable that fixes the root secret of every test server. CI sets it to a fresh random value
// and then searches the whole test output for it: no output, log, report or error message may contain a secret.
const SecretEnv = "FSXSYNC_TEST_ROOT_SECRET"

// RootSecret is the root secret for a new test server: $FSXSYNC_TEST_ROOT_SECRET, or a random one.
func RootSecret() string {
	if v := os.Getenv(SecretEnv); v != "" {
		return v
	}
	return randomHex(20)
}

// sharedServer is a gateway Shared or SharedTLS starts for a whole test binary, on first use.
type sharedServer struct {
	once sync.Once
	srv  *Server
	err  error
}

// shared and sharedTLS are the gateways Shared and SharedTLS start.
var shared, sharedTLS sharedServer

// Shared returns the gateway shared by all tests of a test binary, starting it the first time a test asks, so that a
// package's tests that need no server run without one. Where the gateway cannot start, the test fails under CI and
// is skipped elsewhere (testenv.Missing). The binary's TestMain calls StopShared after m.Run.
func Shared(t testing.TB) *Server {
	t.Helper()
	shared.once.Do(func() { shared.srv, shared.err = Start() })
	if shared.err != nil {
		testenv.Missing(t, "versitygw", shared.err)
	}
	return shared.srv
}

// SharedTLS is Shared for a gateway that serves HTTPS (Options.TLS), started apart from Shared's the first time a
// test or benchmark asks.
func SharedTLS(t testing.TB) *Server {
	t.Helper()
	sharedTLS.once.Do(func() { sharedTLS.srv, sharedTLS.err = StartWith(Options{TLS: true}) })
	if sharedTLS.err != nil {
		testenv.Missing(t, "versitygw", sharedTLS.err)
	}
	return sharedTLS.srv
}

// StopShared stops the gateways Shared and SharedTLS started, if they did.
func StopShared() {
	if shared.srv != nil {
		shared.srv.Stop()
	}
	if sharedTLS.srv != nil {
		sharedTLS.srv.Stop()
	}
}
