package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/fsxsync/fsxsync/internal/awsproxy"
	"github.com/fsxsync/fsxsync/internal/iamtest"
)

// The CLI end-to-end tests are scripts in testdata/script, run by testscript against a real versitygw: the test
// binary doubles as the fsxsync command, so each script calls the real main.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"fsxsync": main})
}

func TestScripts(t *testing.T) {
	// The gateway enforces IAM policies and serves STS, like AWS: every script runs the preflight for real.
	env, err := iamtest.Start()
	if err != nil {
		t.Fatalf("the CLI tests need versitygw: %v", err)
	}
	t.Cleanup(env.Stop)
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(e *testscript.Env) error {
			bucket := env.NewBucket(e.T().(testing.TB))
			e.Setenv("BUCKET", bucket)
			e.Setenv("HOME", e.WorkDir)
			e.Setenv("FSXSYNC_STATE_DIR", filepath.Join(e.WorkDir, ".state"))
			for k, v := range map[string]string{
				"AWS_ENDPOINT_URL_S3": env.S3Endpoint, "AWS_ENDPOINT_URL_STS": env.IAMEndpoint,
				"AWS_ENDPOINT_URL_IAM": env.IAMEndpoint, "AWS_ACCESS_KEY_ID": env.RootAccess,
				"AWS_SECRET_ACCESS_KEY": env.RootSecret, "AWS_REGION": env.Region,
				// Nothing from this machine may leak in.
				"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
			} {
				e.Setenv(k, v)
			}
			e.Values["client"] = env.RootS3()
			e.Values["iam"] = env
			e.Values["t"] = e.T().(testing.TB)
			e.Values["last"] = &lastRun{}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"mkfile":   cmdMkfile,
			"s3ls":     cmdS3ls,
			"treediff": cmdTreediff,
			"settime":  cmdSettime,
			"exitcode": cmdExitcode,
			"asuser":   cmdAsuser,
			"nocreds":  cmdNocreds,
			"within":   cmdWithin,
			"s3mpu":    cmdS3mpu,
			"mkfiles":  cmdMkfiles,
			"notemp":   cmdNotemp,
			"nosts":    cmdNoSTS,
			"s3down":   cmdS3Down,
		},
	})
}

// mkfile PATH SIZE writes SIZE random bytes (sizes like 12MiB allowed).
func cmdMkfile(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: mkfile PATH SIZE")
	}
	n := int64(0)
	if args[1] != "0" {
		var err error
		if n, err = parseSize(args[1]); err != nil {
			ts.Fatalf("mkfile: %v", err)
		}
	}
	b := make([]byte, n)
	rand.Read(b)
	p := ts.MkAbs(args[0])
	ts.Check(os.MkdirAll(filepath.Dir(p), 0o755))
	ts.Check(os.WriteFile(p, b, 0o644))
}

// exitcode N PROG ARGS... runs a program and fails unless it exits with code N; its output goes to the script's
// stdout and stderr like exec's.
func cmdExitcode(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: exitcode N PROG [ARGS...]")
	}
	var sig syscall.Signal
	var after time.Duration
	if strings.HasPrefix(args[0], "-kill=") {
		// -kill=TERM@1s sends SIGTERM one second after the start.
		name, delay, _ := strings.Cut(strings.TrimPrefix(args[0], "-kill="), "@")
		sig = map[string]syscall.Signal{"TERM": syscall.SIGTERM, "INT": syscall.SIGINT, "USR1": syscall.SIGUSR1, "KILL": syscall.SIGKILL}[name]
		d, err := time.ParseDuration(delay)
		ts.Check(err)
		if sig == 0 {
			ts.Fatalf("exitcode: unknown signal %q", name)
		}
		after, args = d, args[1:]
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	path := lookPath(ts.Getenv("PATH"), args[1])
	cmd := exec.Command(path, args[2:]...)
	cmd.Dir = ts.MkAbs(".")
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "WORK", "BUCKET", "FSXSYNC_STATE_DIR", "AWS_ENDPOINT_URL",
		"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_IAM", "AWS_EC2_METADATA_SERVICE_ENDPOINT",
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_EC2_METADATA_DISABLED", "AWS_CONFIG_FILE",
		"AWS_SHARED_CREDENTIALS_FILE", "TESTSCRIPT_COMMAND", "FSXSYNC_CPUPROFILE"} {
		if v := ts.Getenv(k); v != "" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	cmd.Stdout, cmd.Stderr = ts.Stdout(), ts.Stderr()
	start := time.Now()
	ts.Check(cmd.Start())
	if sig != 0 {
		timer := time.AfterFunc(after, func() { cmd.Process.Signal(sig) })
		defer timer.Stop()
	}
	err = cmd.Wait()
	ts.Value("last").(*lastRun).took = time.Since(start)
	got := 0
	if ee, ok := err.(*exec.ExitError); ok {
		got = ee.ExitCode()
	} else if err != nil {
		ts.Fatalf("exitcode: %v", err)
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
	}
}

func lookPath(pathEnv, name string) string {
	for _, dir := range filepath.SplitList(pathEnv) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	return name
}

// settime PATH UNIXSECONDS sets a file's mtime.
func cmdSettime(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: settime PATH UNIXSECONDS")
	}
	sec, err := strconv.ParseInt(args[1], 10, 64)
	ts.Check(err)
	ts.Check(os.Chtimes(ts.MkAbs(args[0]), time.Unix(sec, 0), time.Unix(sec, 0)))
}

// s3ls PREFIX prints the keys under PREFIX in $BUCKET, one per line, with sizes.
func cmdS3ls(ts *testscript.TestScript, neg bool, args []string) {
	c := ts.Value("client").(*s3.Client)
	prefix := ""
	if len(args) > 0 {
		prefix = args[0]
	}
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(ts.Getenv("BUCKET")), Prefix: aws.String(prefix)})
	var out bytes.Buffer
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		ts.Check(err)
		for _, o := range page.Contents {
			fmt.Fprintf(&out, "%s %d\n", aws.ToString(o.Key), aws.ToInt64(o.Size))
		}
	}
	ts.Stdout().Write(out.Bytes())
}

// treediff A B fails unless two trees hold the same names, types, permissions, sizes, mtimes and bytes.
func cmdTreediff(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: treediff A B")
	}
	a, b := describeTree(ts, ts.MkAbs(args[0])), describeTree(ts, ts.MkAbs(args[1]))
	var diffs []string
	for k, v := range a {
		if b[k] != v {
			diffs = append(diffs, fmt.Sprintf("%s: %q vs %q", k, v, b[k]))
		}
	}
	for k, v := range b {
		if _, ok := a[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: missing vs %q", k, v))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 && !neg {
		ts.Fatalf("trees differ:\n%s", strings.Join(diffs, "\n"))
	}
	if len(diffs) == 0 && neg {
		ts.Fatalf("trees are the same")
	}
}

func describeTree(ts *testscript.TestScript, root string) map[string]string {
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		desc := fi.Mode().String()
		if fi.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" size=%d mtime=%d data=%x", fi.Size(), fi.ModTime().UnixNano(), hashBytes(data))
		}
		out[filepath.ToSlash(rel)] = desc
		return nil
	})
	ts.Check(err)
	return out
}

func hashBytes(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// lastRun remembers how long the last exitcode command took, for within.
type lastRun struct{ took time.Duration }

// within SECONDS fails unless the last exitcode command finished within that many seconds.
func cmdWithin(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: within SECONDS")
	}
	limit, err := time.ParseDuration(args[0] + "s")
	ts.Check(err)
	took := ts.Value("last").(*lastRun).took
	ts.Logf("took %v", took)
	if took > limit {
		ts.Fatalf("took %v, more than %v", took, limit)
	}
}

// asuser NAME POLICYFILE creates an IAM user with the policy in POLICYFILE ($BUCKET expanded) and makes the
// following commands get that user's keys the way a compute node gets its role's: from an EC2 instance metadata
// service (ec2-metadata-mock), with no keys in the environment.
func cmdAsuser(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: asuser NAME POLICYFILE")
	}
	env := ts.Value("iam").(*iamtest.Env)
	policy := os.Expand(ts.ReadFile(args[1]), ts.Getenv)
	name := args[0] + "-" + ts.Getenv("BUCKET")[len(ts.Getenv("BUCKET"))-8:]
	ak, sk := env.NewUser(ts.Value("t").(testing.TB), name, policy)
	var imds *iamtest.IMDS
	var err error
	if d := ts.Getenv("SPOT_NOTICE_AFTER"); d != "" {
		after, perr := time.ParseDuration(d)
		ts.Check(perr)
		imds, err = iamtest.StartIMDSWithSpotNotice("fsxsync-node-role", ak, sk, after)
	} else {
		imds, err = iamtest.StartIMDS("fsxsync-node-role", ak, sk)
	}
	ts.Check(err)
	ts.Defer(imds.Stop)
	for _, kv := range imds.Env() {
		k, v, _ := strings.Cut(kv, "=")
		ts.Setenv(k, v)
	}
}

// nosts refuse|silent takes STS and IAM out of reach, as on AWS's ParallelCluster subnet "with no internet access"
// (ParallelCluster user guide: its VPC endpoints are logs, cloudformation, ec2, s3, dynamodb and secretsmanager; no STS,
// no IAM). refuse points them at a port that refuses connections; silent at one that accepts them and never answers,
// the nearest a local test comes to a dropped SYN (which never completes the handshake at all).
func cmdNoSTS(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 || (args[0] != "refuse" && args[0] != "silent") {
		ts.Fatalf("usage: nosts refuse|silent")
	}
	t := ts.Value("t").(testing.TB)
	url := awsproxy.Refusing(t)
	if args[0] == "silent" {
		url = awsproxy.Blackhole(t)
	}
	ts.Setenv("AWS_ENDPOINT_URL_STS", url)
	ts.Setenv("AWS_ENDPOINT_URL_IAM", url)
}

// s3down points the S3 endpoint at a port that refuses connections, as a wrong --endpoint-url or a missing route does.
func cmdS3Down(ts *testscript.TestScript, neg bool, args []string) {
	ts.Setenv("AWS_ENDPOINT_URL_S3", awsproxy.Refusing(ts.Value("t").(testing.TB)))
}

// nocreds removes every credential source: no keys, and an instance metadata endpoint where nothing listens.
func cmdNocreds(ts *testscript.TestScript, neg bool, args []string) {
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"} {
		ts.Setenv(k, "")
	}
	ts.Setenv("AWS_EC2_METADATA_DISABLED", "false")
	ts.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1")
}

// s3mpu prints the multipart uploads open in $BUCKET, one key per line.
func cmdS3mpu(ts *testscript.TestScript, neg bool, args []string) {
	c := ts.Value("client").(*s3.Client)
	w := ts.Stdout() // asked for even when nothing is printed, so stdout is reset
	out, err := c.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(ts.Getenv("BUCKET"))})
	ts.Check(err)
	for _, u := range out.Uploads {
		fmt.Fprintf(w, "%s\n", aws.ToString(u.Key))
	}
}

// mkfiles DIR N writes N small files of random bytes under DIR, ten to a directory.
func cmdMkfiles(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: mkfiles DIR N")
	}
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	for i := 0; i < n; i++ {
		p := filepath.Join(ts.MkAbs(args[0]), fmt.Sprintf("d%03d", i/10), fmt.Sprintf("f%05d", i))
		ts.Check(os.MkdirAll(filepath.Dir(p), 0o755))
		b := make([]byte, 1000+i)
		rand.Read(b)
		ts.Check(os.WriteFile(p, b, 0o644))
	}
}

// notemp DIR fails if any fsxsync temp file is left under DIR.
func cmdNotemp(ts *testscript.TestScript, neg bool, args []string) {
	root := ts.MkAbs(args[0])
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".fsxsync-tmp-") {
			ts.Fatalf("temp file left: %s", p)
		}
		return nil
	})
}
