//go:build linux

package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/fsxsync/fsxsync/internal/s3test"
)

// region is what the server reports and every tool signs for.
const region = "us-east-1"

// bucket is the one bucket every case uses, under its own prefixes.
const bucket = "bench"

// server is a versitygw started for one harness run, with a posix backend whose data lives in root (on tmpfs
// when the work directory is), bound to 127.0.0.1 and pinned to its own core.
type server struct {
	endpoint             string
	accessKey, secretKey string
	root                 string         // the posix backend's directory: object <bucket>/<key> is the file root/<bucket>/<key>
	tls                  *s3test.TestCA // nil over plain HTTP
	cmd                  *exec.Cmd
	exited               chan struct{}
}

// startServer launches versitygw the way internal/s3test does (root credentials on the command line, --keep-alive,
// health endpoint, --quiet), plus `taskset -c core` when pin is set. Without --keep-alive the gateway closes the
// connection after every response, which costs every client a TCP handshake per request (4.4 s instead of 2.7 s
// for 10,000 small PUTs). The root secret is $FSXSYNC_TEST_ROOT_SECRET when set, so `make test-secrets` also
// checks that the harness never prints it. With useTLS it serves HTTPS with a certificate from a throwaway CA made
// under dir (see s3test.NewTestCA).
func startServer(bin, dir, core string, pin, useTLS bool) (*server, error) {
	s := &server{accessKey: "AKBENCH" + randomHex(6), secretKey: os.Getenv("FSXSYNC_TEST_ROOT_SECRET"),
		root: filepath.Join(dir, "root")}
	if s.secretKey == "" {
		s.secretKey = randomHex(20)
	}
	if useTLS {
		var err error
		if s.tls, err = s3test.NewTestCA(filepath.Join(dir, "tls")); err != nil {
			return nil, fmt.Errorf("making the throwaway CA: %w", err)
		}
	}
	if err := os.MkdirAll(s.root, 0o755); err != nil {
		return nil, err
	}
	err := s.launch(bin, dir, core, pin, nil)
	if err != nil && strings.Contains(err.Error(), "xattrs are not supported") {
		// The posix backend keeps object metadata in user xattrs; where the file system has none (tmpfs before
		// Linux 6.6), it keeps them in a sidecar directory instead.
		sidecar := filepath.Join(dir, "sidecar")
		if err = os.MkdirAll(sidecar, 0o755); err == nil {
			err = s.launch(bin, dir, core, pin, []string{"--sidecar", sidecar})
		}
	}
	if err != nil {
		return nil, err
	}
	if _, err := s.client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		s.stop()
		return nil, fmt.Errorf("creating bucket %s: %w", bucket, err)
	}
	return s, nil
}

func (s *server) launch(bin, dir, core string, pin bool, posixOpts []string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	logPath := filepath.Join(dir, "versitygw.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child has its own descriptor
	args := []string{bin,
		"--access", s.accessKey, "--secret", s.secretKey, "--region", region,
		"--port", fmt.Sprintf("127.0.0.1:%d", port), "--health", "/health", "--keep-alive", "--quiet"}
	scheme := "http"
	if s.tls != nil {
		args = append(args, "--cert", s.tls.CertFile, "--key", s.tls.KeyFile)
		scheme = "https"
	}
	args = append(append(append(args, "posix"), posixOpts...), s.root)
	if pin {
		args = append([]string{"taskset", "-c", core}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The gateway dies with the harness, even when the harness is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting versitygw: %w", err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func() {
		cmd.Wait()
		close(s.exited)
	}()
	s.endpoint = fmt.Sprintf("%s://127.0.0.1:%d", scheme, port)
	hc := s.httpClient()
	hc.Timeout = time.Second
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case <-s.exited:
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("versitygw exited during startup (%s): %s", cmd.ProcessState, log)
		default:
		}
		if resp, err := hc.Get(s.endpoint + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	s.stop()
	log, _ := os.ReadFile(logPath)
	return fmt.Errorf("versitygw did not answer within 20 s: %s", log)
}

// stop kills the gateway: its data is thrown away, and a graceful stop would wait for idle keep-alive connections.
func (s *server) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// cpuSeconds is the user+system CPU time the gateway has used so far, from /proc/PID/stat (taskset execs the
// gateway, so the pid is the gateway's). Comparing it before and after a run says whether the server's core was
// the limit.
func (s *server) cpuSeconds() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name: state is the first, utime the 12th, stime the 13th.
	_, rest, _ := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	const clockTicks = 100 // USER_HZ, 100 on every Linux architecture Go supports
	return (ut + st) / clockTicks
}

// resetPeakRSS starts a new peak-RSS window for the gateway (Linux's clear_refs: writing 5 resets VmHWM to the
// current RSS), so that peakRSSMiB after a run is that run's peak, not the highest since the gateway started.
func (s *server) resetPeakRSS() {
	os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", s.cmd.Process.Pid), []byte("5"), 0)
}

// peakRSSMiB is the gateway's peak resident set size since the last resetPeakRSS (VmHWM in /proc/PID/status), 0
// where it cannot be read.
func (s *server) peakRSSMiB() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kib / 1024
		}
	}
	return 0
}

// client is an SDK client for the harness's own calls (creating the bucket): static root credentials, path-style.
func (s *server) client() *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(s.endpoint),
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider(s.accessKey, s.secretKey, ""),
		UsePathStyle: true,
		HTTPClient:   s.httpClient(),
	})
}

// httpClient is a client for the harness's own requests that trusts the throwaway CA, and nothing less: the
// harness checks the server the way the tools must.
func (s *server) httpClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if s.tls != nil {
		t.TLSClientConfig = &tls.Config{RootCAs: s.tls.Pool}
	}
	return &http.Client{Transport: t}
}

// caEnv is what makes an SDK-based tool trust the server: AWS_CA_BUNDLE, which aws-sdk-go-v2 (fsxsync, the
// floor), aws-sdk-go v1 (s5cmd) and botocore (aws-cli) all read. Empty over plain HTTP.
func (s *server) caEnv() []string {
	if s.tls == nil {
		return nil
	}
	return []string{"AWS_CA_BUNDLE=" + s.tls.CAFile}
}

// freePort asks the kernel for a free 127.0.0.1 port. Another process could take it before the gateway binds it;
// then the gateway fails to start and says so, which is rare enough for a benchmark.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
