package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// nobody is the user the unreadable-directory test runs fsxsync as: root reads a directory whatever its mode, and
// tests run as root here and in CI.
const nobody = 65534

// One subdirectory that cannot be read fails alone: the real binary, run as an unprivileged user, uploads everything
// else with --delete, keeps the objects under the directory's prefix (what it holds is not known), prints a summary
// that counts the directory as failed, exits 1, and writes a report that lists it under failures, with no fatal
// error.
func TestUnreadableDirectoryFailsAlone(t *testing.T) {
	f := newKTFixture(t)
	// Everything the unprivileged run touches lives in a directory it can enter: t.TempDir is root's alone.
	base, err := os.MkdirTemp("", "fsxsync-unreadable-")
	if err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(base, "src", "secret")
	t.Cleanup(func() {
		os.Chmod(secret, 0o755)
		os.RemoveAll(base)
	})
	work := filepath.Join(base, "work")
	for _, dir := range []string{base, work} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(work, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(base, "fsxsync")
	copyFile(t, f.bin, bin)

	src := filepath.Join(base, "src")
	ktWriteTree(t, src, ktTree{"a.txt": []byte("a"), "secret/c.txt": []byte("c"), "secret0/d.txt": []byte("d")})
	bucket := f.env.NewBucket(t)
	dst := "s3://" + bucket + "/p"
	env := append(f.environ(bucket, f.env.S3Endpoint), "FSXSYNC_STATE_DIR="+filepath.Join(work, "state"), "HOME="+work)
	if res := runAs(t, bin, work, env, "sync", src, dst); res.code != exitOK {
		t.Fatalf("first sync: %s", res)
	}
	if _, err := f.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket),
		Key: aws.String("p/secret/only-in-s3"), Body: strings.NewReader("s")}); err != nil {
		t.Fatal(err)
	}
	ktWriteTree(t, src, ktTree{"new.txt": []byte("new")})
	if err := os.Remove(filepath.Join(src, "a.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(secret, 0); err != nil {
		t.Fatal(err)
	}

	report := filepath.Join(work, "report.json")
	res := runAs(t, bin, work, env, "sync", "--delete", "--report", report, src, dst)
	if res.code != exitSomeFailed {
		t.Fatalf("exit %d, want %d (some failed)\n%s", res.code, exitSomeFailed, res)
	}
	if !strings.Contains(res.stdout, "transferred 1 files") || !strings.Contains(res.stdout, "deleted 1,") ||
		!strings.Contains(res.stdout, "failed 1 ") {
		t.Errorf("summary does not say 1 transferred, 1 deleted, 1 failed:\n%s", res)
	}
	if !strings.Contains(res.stderr, "secret/") || !strings.Contains(res.stderr, "permission denied") {
		t.Errorf("stderr does not name the directory and the reason:\n%s", res)
	}
	rep := readReport(t, report)
	if rep.Failed.Files != 1 || len(rep.Failures) != 1 || rep.Fatal != "" {
		t.Fatalf("report: failed %d, failures %+v, fatal %q; want the one directory and no fatal error", rep.Failed.Files, rep.Failures, rep.Fatal)
	}
	if fl := rep.Failures[0]; fl.Key != "secret/" || fl.Op != "read directory" || !strings.Contains(fl.Error, secret) ||
		!strings.Contains(fl.Error, "permission denied") {
		t.Errorf("report's failure %+v; want secret/, read directory, its path and permission denied", fl)
	}
	objs := ktObjects(t, f.s3, bucket, "p/")
	for _, key := range []string{"new.txt", "secret/c.txt", "secret/only-in-s3", "secret0/d.txt"} {
		if _, ok := objs[key]; !ok {
			t.Errorf("object p/%s missing; have %d objects", key, len(objs))
		}
	}
	if _, ok := objs["a.txt"]; ok {
		t.Errorf("p/a.txt not deleted")
	}
}

// runAs runs the binary in dir, as nobody when the test runs as root.
func runAs(t *testing.T, bin, dir string, env []string, args ...string) ktResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ktRunTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env, cmd.Dir = env, dir
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil && cmd.ProcessState == nil {
		t.Fatalf("run fsxsync %s: %v", strings.Join(args, " "), err)
	}
	r := ktResult{code: cmd.ProcessState.ExitCode(), took: time.Since(start), stdout: stdout.String(), stderr: stderr.String()}
	if r.code < 0 {
		t.Fatalf("fsxsync %s ended by a signal\n%s", strings.Join(args, " "), r)
	}
	return r
}

// copyFile copies an executable to a place an unprivileged user can run it from.
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
