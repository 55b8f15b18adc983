package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Special files (FIFOs, sockets, devices) are never opened for reading, and SIGTERM always ends a run, with the real
// binary against versitygw:
//
//   - TestSpecialFileSource: cp of one FIFO, socket or device is a usage error naming it and its type, at once; a tree
//     holding some transfers its regular files, warns once per special file, counts them and exits 7.
//   - TestSpecialFileDestination: a FIFO as a download's destination file is replaced, never written through; a FIFO
//     where the destination needs a directory fails that file or the run, at once.
//   - TestStopWhileServerHangs: SIGTERM while S3 never answers (a transfer's parts and its abort hang, or the
//     preflight's first request) ends the process with 75 within the grace period and abandonAfter.
//
// A hang is a failure after ktRunTimeout (f.run), not a stuck test.

// mkfifo makes a FIFO at path.
func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
}

// mksocket makes a Unix socket at path, with nobody listening on it any more.
func mksocket(t *testing.T, path string) {
	t.Helper()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
}

// hasObject says whether s3://bucket/key exists.
func hasObject(t *testing.T, c *s3.Client, bucket, key string) bool {
	t.Helper()
	_, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	return err == nil
}

func TestSpecialFileSource(t *testing.T) {
	f := newKTFixture(t)
	bucket := f.env.NewBucket(t)
	env := f.environ(bucket, f.env.S3Endpoint)
	src := filepath.Join(f.dir, "src")
	ktWriteTree(t, src, ktTree{"a.txt": []byte("a"), "sub/b.txt": []byte("bb")})
	fifo, sock := filepath.Join(src, "pipe"), filepath.Join(src, "sub", "sock")
	mkfifo(t, fifo)
	mksocket(t, sock)

	t.Run("cp of one special file", func(t *testing.T) {
		for path, typ := range map[string]string{fifo: "FIFO", sock: "socket", "/dev/null": "character device"} {
			r := f.run(t, env, "cp", path, "s3://"+bucket+"/one/x")
			if r.code != exitUsage || !strings.Contains(r.stderr, path+" is a "+typ+", not a regular file") {
				t.Errorf("cp %s: want exit %d naming it as a %s; got %s", path, exitUsage, typ, r)
			}
			if hasObject(t, f.s3, bucket, "one/x") {
				t.Errorf("cp %s stored an object", path)
			}
		}
		// With -r, a special file is no tree either.
		if r := f.run(t, env, "cp", "-r", fifo, "s3://"+bucket+"/one/"); r.code != exitUsage || !strings.Contains(r.stderr, "is a FIFO, not a directory") {
			t.Errorf("cp -r of a FIFO: want exit %d; got %s", exitUsage, r)
		}
	})

	t.Run("a tree holding special files", func(t *testing.T) {
		for _, cmd := range [][]string{{"sync"}, {"cp", "-r"}} {
			prefix := cmd[0]
			report := filepath.Join(f.dir, prefix+"-report.json")
			args := append(append([]string{}, cmd...), "-v", "--report", report, src, "s3://"+bucket+"/"+prefix)
			r := f.run(t, env, args...)
			if r.code != exitSpecial {
				t.Errorf("%s: want exit %d; got %s", prefix, exitSpecial, r)
			}
			for path, typ := range map[string]string{fifo: "FIFO", sock: "socket"} {
				if n := strings.Count(r.stderr, "path="+path+" type="+typ); n != 1 {
					t.Errorf("%s: %d warnings naming %s as a %s, want 1:\n%s", prefix, n, path, typ, r.stderr)
				}
			}
			if !strings.Contains(r.stdout, "transferred 2 files") || !strings.Contains(r.stdout, ", 2 special files skipped") {
				t.Errorf("%s: summary %q, want 2 transferred and 2 special files skipped", prefix, r.stdout)
			}
			rep := readReport(t, report)
			if rep.SpecialFiles != 2 || rep.Failed.Files != 0 || rep.Transferred.Files != 2 {
				t.Errorf("%s: report: special files %d, failed %d, transferred %d; want 2, 0, 2", prefix,
					rep.SpecialFiles, rep.Failed.Files, rep.Transferred.Files)
			}
			objs := ktObjects(t, f.s3, bucket, prefix+"/")
			if len(objs) != 2 || string(objs["a.txt"]) != "a" || string(objs["sub/b.txt"]) != "bb" {
				t.Errorf("%s: objects %v, want a.txt and sub/b.txt only", prefix, objs)
			}
		}
		// Excluded special files are not met at all.
		r := f.run(t, env, "sync", "--exclude", "pipe", "--exclude", "sub/sock", src, "s3://"+bucket+"/excluded")
		if r.code != exitOK || strings.Contains(r.stderr, "special file") {
			t.Errorf("sync with the special files excluded: want exit 0 and no warning; got %s", r)
		}
	})
}

func TestSpecialFileDestination(t *testing.T) {
	f := newKTFixture(t)
	bucket := f.env.NewBucket(t)
	env := f.environ(bucket, f.env.S3Endpoint)
	for _, key := range []string{"down/a.txt", "down/sub/b.txt"} {
		if _, err := f.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
			Body: strings.NewReader(key)}); err != nil {
			t.Fatal(err)
		}
	}

	// The destination file is a FIFO with a reader waiting: the download replaces it by rename and writes nothing
	// into it.
	dst := filepath.Join(f.dir, "dst")
	fifo := filepath.Join(dst, "a.txt")
	mkfifo(t, fifo)
	reader, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	if r := f.run(t, env, "cp", "s3://"+bucket+"/down/a.txt", fifo); r.code != exitOK {
		t.Errorf("cp onto a FIFO: want exit 0; got %s", r)
	}
	if b, err := os.ReadFile(fifo); err != nil || string(b) != "down/a.txt" {
		t.Errorf("after cp onto a FIFO: %q, %v; want the object's bytes in a regular file", b, err)
	}
	buf := make([]byte, 64)
	if n, err := syscall.Read(int(reader.Fd()), buf); n > 0 {
		t.Errorf("the download wrote %q through the FIFO", buf[:n])
	} else if err != nil && !errors.Is(err, syscall.EAGAIN) {
		t.Errorf("read the FIFO: %v", err)
	}

	// A tree download over a FIFO replaces it the same way.
	tree := filepath.Join(f.dir, "tree")
	mkfifo(t, filepath.Join(tree, "sub", "b.txt"))
	if r := f.run(t, env, "sync", "s3://"+bucket+"/down", tree); r.code != exitOK {
		t.Errorf("sync over a FIFO: want exit 0; got %s", r)
	}
	if b, err := os.ReadFile(filepath.Join(tree, "sub", "b.txt")); err != nil || string(b) != "down/sub/b.txt" {
		t.Errorf("after sync over a FIFO: %q, %v", b, err)
	}

	// A FIFO where a directory must be: the preflight says so at once (exit 2); without it, the file fails (exit 1)
	// or the run does (exit 2).
	pipe := filepath.Join(f.dir, "pipe")
	mkfifo(t, pipe)
	for _, tt := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"cp", "s3://" + bucket + "/down/a.txt", filepath.Join(pipe, "a.txt")}, exitUsage, "not a directory"},
		{[]string{"cp", "--no-preflight", "s3://" + bucket + "/down/a.txt", filepath.Join(pipe, "a.txt")}, exitSomeFailed, "not a directory"},
		{[]string{"sync", "s3://" + bucket + "/down", pipe}, exitUsage, "not a directory"},
		{[]string{"sync", "--no-preflight", "s3://" + bucket + "/down", pipe}, exitUsage, pipe + " is a FIFO, not a directory"},
	} {
		if r := f.run(t, env, tt.args...); r.code != tt.code || !strings.Contains(r.stderr, tt.says) {
			t.Errorf("%s: want exit %d saying %q; got %s", strings.Join(tt.args, " "), tt.code, tt.says, r)
		}
	}
	if fi, err := os.Lstat(pipe); err != nil || fi.Mode().Type() != os.ModeNamedPipe {
		t.Errorf("the FIFO is no longer one: %v, %v", fi, err)
	}
}

func TestStopWhileServerHangs(t *testing.T) {
	f := newKTFixture(t)
	bucket := f.env.NewBucket(t)
	const grace = time.Second
	// The process must end within the grace period and abandonAfter of the SIGTERM; the rest is slack for a busy
	// machine.
	const bound = grace + abandonAfter + 3*time.Second

	t.Run("parts and abort hang", func(t *testing.T) {
		src := filepath.Join(f.dir, "src")
		ktWriteTree(t, src, ktTree{"big.bin": ktRandom(12 << 20)})
		hung, release := make(chan struct{}, 1), make(chan struct{})
		// Every part of big.bin and its abort wait until the test ends; the preflight and the rest pass.
		proxy := newKTProxy(t, f.env.S3Endpoint, 0, func(r *http.Request) bool {
			q := r.URL.Query()
			if !strings.HasSuffix(r.URL.Path, "/big.bin") || (q.Get("partNumber") == "" && r.Method != http.MethodDelete) {
				return true
			}
			select {
			case hung <- struct{}{}:
			default:
			}
			<-release
			return false
		})
		t.Cleanup(func() { close(release) })
		p := f.start(t, f.environ(bucket, proxy.URL), "sync", "--part-size", "5MiB", "--grace-period", grace.String(),
			src, "s3://"+bucket+"/hang")
		select {
		case <-hung:
		case <-time.After(ktRunTimeout):
			p.kill()
			t.Fatalf("no part was sent within %v: %s", ktRunTimeout, p.wait(t))
		}
		sent := time.Now()
		p.cmd.Process.Signal(syscall.SIGTERM)
		r := p.wait(t)
		took := time.Since(sent)
		t.Logf("ended %v after SIGTERM: %s", took.Round(time.Millisecond), r)
		if r.code != exitIncomplete || took > bound {
			t.Errorf("want exit %d within %v of SIGTERM; got %s", exitIncomplete, bound, r)
		}
		// The abort waits on the server for up to 10 s: main exits without it.
		if !strings.Contains(r.stderr, "exiting without waiting for it") {
			t.Errorf("no word of the run being abandoned:\n%s", r.stderr)
		}
	})

	t.Run("a server that accepts and never answers", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var conns []net.Conn
		accepted := make(chan struct{}, 1)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				conns = append(conns, c)
				select {
				case accepted <- struct{}{}:
				default:
				}
			}
		}()
		t.Cleanup(func() {
			ln.Close()
			for _, c := range conns {
				c.Close()
			}
		})
		src := filepath.Join(f.dir, "src2")
		ktWriteTree(t, src, ktTree{"a.txt": []byte("a")})
		p := f.start(t, f.environ(bucket, "http://"+ln.Addr().String()), "sync", "--grace-period", grace.String(),
			src, "s3://"+bucket+"/silent")
		select {
		case <-accepted:
		case <-time.After(ktRunTimeout):
			p.kill()
			t.Fatalf("fsxsync never connected within %v: %s", ktRunTimeout, p.wait(t))
		}
		sent := time.Now()
		p.cmd.Process.Signal(syscall.SIGTERM)
		r := p.wait(t)
		took := time.Since(sent)
		t.Logf("ended %v after SIGTERM: %s", took.Round(time.Millisecond), r)
		if r.code != exitIncomplete || took > bound {
			t.Errorf("want exit %d within %v of SIGTERM; got %s", exitIncomplete, bound, r)
		}
	})
}
