package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/fsxsync/fsxsync/internal/iamtest"
)

// "Nothing lost" under kills and interruptions, proven with the real binary against versitygw with its IAM service
// (root credentials, the preflight on):
//
//   - TestKillDuringTransfer: kill -9 at spread-out random points of an upload and of a download (plus kills aimed
//     at an open multipart upload, at the preflight's probe upload and at a half-written temp file, and kills of a
//     download over an older tree). After each kill nothing is torn on either side; a rerun of the same command
//     finishes, both sides are then identical, and the rerun has cleaned up what the kill left (temp files, open
//     multipart uploads) and counted it in the summary.
//   - TestChangingSourceUpload: source files rewritten, truncated, grown, unlinked or deleted while they upload.
//   - TestRemovedDestinationDownload: the destination directory (a subdirectory, or the root) removed mid-download.
//   - TestDiskFullDownload: a 2 MiB tmpfs as the destination of a 5 MiB download (needs root to mount it).
//   - TestKilledConnectionDownload: a GET's connection cut mid-body.
//
// FSXSYNC_KILL_SEED replays the random kill delays of an earlier run (each run logs its seed). The three bugs these
// tests found (a same-size rewrite with its mtime put back, a retried part breaking the download CRC, the sync
// state's temp file left by a kill) are fixed; the tests stay as their regression tests.
//
// Helpers from slurm_test.go are reused: fsxsyncBinary, slurmFixture.jobEnv, readReport. Everything here is named
// kt* so as not to collide with the package's other tests.

// ktRunTimeout bounds every fsxsync run: a hang is a failure, not a stuck test.
const ktRunTimeout = 60 * time.Second

// ktFixture is one versitygw (with IAM) for one test function, the binary, and a work directory.
type ktFixture struct {
	env *iamtest.Env
	bin string
	s3  *s3.Client
	job *slurmFixture // for jobEnv only: no Slurm cluster is involved
	dir string
}

func newKTFixture(t *testing.T) *ktFixture {
	t.Helper()
	env, err := iamtest.Start()
	if err != nil {
		t.Fatalf("these tests need versitygw and its IAM service (make tools): %v", err)
	}
	t.Cleanup(env.Stop)
	bin := fsxsyncBinary(t)
	return &ktFixture{env: env, bin: bin, s3: env.RootS3(), job: &slurmFixture{env: env, bin: bin}, dir: t.TempDir()}
}

// environ is the environment of one fsxsync run: this process's, without anything that could change how fsxsync
// behaves (AWS settings, a Slurm job around the test, fsxsync's own variables), plus jobEnv's for endpoint.
func (f *ktFixture) environ(bucket, endpoint string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "FSXSYNC") || strings.HasPrefix(kv, "SLURM_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, f.job.jobEnv(bucket, endpoint, f.dir)...)
}

// ktProc is one running fsxsync.
type ktProc struct {
	args           []string
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	start          time.Time
	done           chan struct{}
}

// ktResult is how a run ended.
type ktResult struct {
	code           int  // exit code; -1 when a signal ended the process
	killed         bool // SIGKILL ended it
	took           time.Duration
	stdout, stderr string
}

func (r ktResult) String() string {
	return fmt.Sprintf("exit %d (killed %v) after %v\nstdout:\n%s\nstderr:\n%s", r.code, r.killed, r.took.Round(time.Millisecond), r.stdout, r.stderr)
}

func (f *ktFixture) start(t *testing.T, env []string, args ...string) *ktProc {
	t.Helper()
	p := &ktProc{args: args, cmd: exec.Command(f.bin, args...), done: make(chan struct{})}
	p.cmd.Env, p.cmd.Dir = env, f.dir
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.start = time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start fsxsync: %v", err)
	}
	go func() {
		p.cmd.Wait()
		close(p.done)
	}()
	return p
}

// kill sends SIGKILL; it is harmless once the process has ended.
func (p *ktProc) kill() { _ = p.cmd.Process.Kill() }

func (p *ktProc) wait(t *testing.T) ktResult {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(ktRunTimeout):
		p.kill()
		<-p.done
		t.Fatalf("fsxsync %s did not finish within %v\nstdout:\n%s\nstderr:\n%s", strings.Join(p.args, " "), ktRunTimeout, p.stdout.String(), p.stderr.String())
	}
	r := ktResult{took: time.Since(p.start), stdout: p.stdout.String(), stderr: p.stderr.String()}
	ws := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		r.code, r.killed = -1, ws.Signal() == syscall.SIGKILL
	} else {
		r.code = ws.ExitStatus()
	}
	if strings.Contains(r.stderr, "panic:") || strings.Contains(r.stderr, "goroutine ") {
		t.Errorf("fsxsync crashed:\n%s", r.stderr)
	}
	return r
}

func (f *ktFixture) run(t *testing.T, env []string, args ...string) ktResult {
	t.Helper()
	return f.start(t, env, args...).wait(t)
}

// runKilledAfter runs fsxsync and sends it SIGKILL after d (if it is still running then).
func (f *ktFixture) runKilledAfter(t *testing.T, env []string, d time.Duration, args ...string) ktResult {
	t.Helper()
	p := f.start(t, env, args...)
	timer := time.AfterFunc(d, p.kill)
	defer timer.Stop()
	return p.wait(t)
}

// ktProxy forwards requests to a server after a delay, and keeps track of the connections its clients open, so that
// a test can wait until everything a killed client sent has been answered (waitIdle).
type ktProxy struct {
	URL     string
	mu      sync.Mutex
	open    map[net.Conn]bool // the connections accepted and not yet closed
	changed chan struct{}     // closed (and replaced) whenever a connection closes
}

// ktBarrierPath is the one request the proxy answers itself, without the delay and without forwarding it; see
// waitIdle.
const ktBarrierPath = "/.kt-barrier"

// newKTProxy starts a proxy that forwards requests to target after delay. hook, when set, sees every request first
// (the proxy's handler goroutine waits for it); when it returns false the request is answered 503 and not forwarded.
func newKTProxy(t *testing.T, target string, delay time.Duration, hook func(*http.Request) bool) *ktProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &ktProxy{open: map[net.Conn]bool{}, changed: make(chan struct{})}
	rp := httputil.NewSingleHostReverseProxy(u)
	// A killed client makes forwarded requests fail: answer quietly.
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) { w.WriteHeader(http.StatusBadGateway) }
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == ktBarrierPath {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		// A request the proxy has read is forwarded, and its answer awaited, even when the client dies meanwhile:
		// a network delivers what was sent, and waitIdle relies on the handler returning only after the server has
		// answered. (A request whose body the dead client did not finish sending fails upstream as a broken one.)
		r = r.WithContext(context.WithoutCancel(r.Context()))
		if delay > 0 {
			time.Sleep(delay)
		}
		if hook != nil && !hook(r) {
			http.Error(w, "dropped by the test", http.StatusServiceUnavailable)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	srv.Config.ConnState = p.connState
	srv.Start()
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func (p *ktProxy) connState(c net.Conn, state http.ConnState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch state {
	case http.StateNew:
		p.open[c] = true
	case http.StateClosed, http.StateHijacked:
		delete(p.open, c)
		close(p.changed)
		p.changed = make(chan struct{})
	}
}

// waitIdle returns once the proxy has closed every connection its clients opened, which for a client that has ended
// (killed, or finished) means that every request it sent has been answered by the server: the proxy closes a
// connection when its peer is gone and the request in hand, if any, is done. Only then does the bucket show all a
// killed run did; an upload it had in flight may still complete or open a multipart upload until that moment.
func (p *ktProxy) waitIdle(t *testing.T) {
	t.Helper()
	// A connection the dead client opened last may still wait in the listener's queue. The barrier request's
	// connection comes after it in that queue (first in, first out), and the server registers each connection it
	// accepts (StateNew) before it accepts the next: once the barrier is answered, every earlier connection is in
	// p.open until it closes.
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: ktRunTimeout}
	resp, err := c.Get(p.URL + ktBarrierPath)
	if err != nil {
		t.Fatalf("the proxy's barrier request: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	deadline := time.After(ktRunTimeout)
	for {
		p.mu.Lock()
		n, changed := len(p.open), p.changed
		p.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("the proxy still has %d connections open %v after its clients ended", n, ktRunTimeout)
		}
	}
}

// ktIsPart says whether r is UploadPart (PUT) or a GET of part `part` of the object whose key ends in "/"+suffix. A
// GET may name the part by number, by byte range (parts of ktPartSize, as these tests set --part-size), or be a
// plain GET of a whole object smaller than a part, which is its part 1.
func ktIsPart(r *http.Request, method, suffix string, part int) bool {
	if r.Method != method || !strings.HasSuffix(r.URL.Path, "/"+suffix) {
		return false
	}
	if n := r.URL.Query().Get("partNumber"); n != "" || method != http.MethodGet {
		return n == strconv.Itoa(part)
	}
	var start int64
	if rng := r.Header.Get("Range"); rng != "" {
		if _, err := fmt.Sscanf(rng, "bytes=%d-", &start); err != nil {
			return false
		}
	}
	return start == int64(part-1)*ktPartSize
}

// ktPartSize is the --part-size the tests that cut or count parts give.
const ktPartSize = 5 << 20

// ktTree is a source tree: slash-separated keys to contents.
type ktTree map[string][]byte

func ktRandom(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// ktSmallFiles adds n small files of random bytes, spread over 17 directories.
func ktSmallFiles(tree ktTree, n int) {
	for i := 0; i < n; i++ {
		tree[fmt.Sprintf("d%02d/f%04d.bin", i%17, i)] = ktRandom(100 + (i*389)%4000)
	}
}

func ktWriteTree(t *testing.T, root string, tree ktTree) {
	t.Helper()
	for k, b := range tree {
		p := filepath.Join(root, filepath.FromSlash(k))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// ktObjects GETs every object under prefix (8 at a time) and returns them by key relative to prefix.
func ktObjects(t *testing.T, c *s3.Client, bucket, prefix string) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	var keys []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("list s3://%s/%s: %v", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	out := make(map[string][]byte, len(keys))
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(8)
	for _, k := range keys {
		g.Go(func() error {
			o, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)})
			if err != nil {
				return fmt.Errorf("get %s: %w", k, err)
			}
			defer o.Body.Close()
			b, err := io.ReadAll(o.Body)
			if err != nil {
				return fmt.Errorf("get %s: %w", k, err)
			}
			mu.Lock()
			out[strings.TrimPrefix(k, prefix)] = b
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	return out
}

// ktDiff says how got differs from want.
func ktDiff(got, want []byte) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d bytes where the source has %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			return fmt.Sprintf("differs from the source from byte %d on", i)
		}
	}
	return "equal"
}

// ktCheckObjects fails for any object under a final key that is not exactly its source file; with complete, also
// for any source file that has no object. It returns how many objects are there.
func ktCheckObjects(t *testing.T, what string, objs map[string][]byte, src ktTree, complete bool) int {
	t.Helper()
	for k, b := range objs {
		want, ok := src[k]
		switch {
		case !ok:
			t.Errorf("%s: unexpected object %q (%d bytes)", what, k, len(b))
		case !bytes.Equal(b, want):
			t.Errorf("%s: TORN object %q: %s", what, k, ktDiff(b, want))
		}
	}
	if complete {
		for k := range src {
			if _, ok := objs[k]; !ok {
				t.Errorf("%s: object %q missing", what, k)
			}
		}
	}
	return len(objs)
}

// ktCheckLocal walks root (whatever of it exists): every file under its final name must hold exactly its source's
// bytes (or, when old is given, exactly the old file it replaces) and, when srcRoot is given, have the source's
// mtime; with complete, every source file must be there. It returns the fsxsync temp files found, relative to root,
// and the number of files that are complete copies of the source.
func ktCheckLocal(t *testing.T, what, root string, src, old ktTree, srcRoot string, complete bool) (temps []string, files int) {
	t.Helper()
	seen := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		key := filepath.ToSlash(rel)
		if strings.HasPrefix(d.Name(), ".fsxsync-tmp-") {
			temps = append(temps, key)
			return nil
		}
		if !d.Type().IsRegular() {
			t.Errorf("%s: %s is not a regular file (%v)", what, key, d.Type())
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		want, ok := src[key]
		if prev, isOld := old[key]; isOld && bytes.Equal(b, prev) && !bytes.Equal(b, want) {
			return nil // not replaced yet
		}
		seen[key] = true
		switch {
		case !ok:
			t.Errorf("%s: unexpected file %s (%d bytes)", what, key, len(b))
		case !bytes.Equal(b, want):
			t.Errorf("%s: PARTIAL file under its final name %s: %s", what, key, ktDiff(b, want))
		case srcRoot != "":
			a, err1 := os.Stat(filepath.Join(srcRoot, rel))
			z, err2 := os.Stat(p)
			if err1 == nil && err2 == nil && !a.ModTime().Equal(z.ModTime()) {
				t.Errorf("%s: %s has mtime %v, the source %v", what, key, z.ModTime(), a.ModTime())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: walk %s: %v", what, root, err)
	}
	if complete {
		for k := range src {
			if !seen[k] {
				t.Errorf("%s: file %s missing", what, k)
			}
		}
	}
	sort.Strings(temps)
	return temps, len(seen)
}

// ktOpenUploads lists the multipart uploads open under prefix.
func ktOpenUploads(t *testing.T, c *s3.Client, bucket, prefix string) []string {
	t.Helper()
	var keys []string
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket), Prefix: aws.String(prefix)}
	for {
		out, err := c.ListMultipartUploads(context.Background(), in)
		if err != nil {
			t.Fatalf("list multipart uploads: %v", err)
		}
		for _, u := range out.Uploads {
			if k := aws.ToString(u.Key); strings.HasPrefix(k, prefix) {
				keys = append(keys, strings.TrimPrefix(k, prefix))
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
	sort.Strings(keys)
	return keys
}

// ktUploadTimes describes the multipart uploads open under prefix with the time the server gives for each.
func ktUploadTimes(t *testing.T, c *s3.Client, bucket, prefix string) string {
	t.Helper()
	out, err := c.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	if err != nil {
		return fmt.Sprintf("(list multipart uploads: %v)", err)
	}
	var parts []string
	for _, u := range out.Uploads {
		parts = append(parts, aws.ToString(u.Key)+" at "+aws.ToTime(u.Initiated).UTC().Format(time.RFC3339Nano))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// ktFailedLine matches the per-file failure lines fsxsync writes to stderr: "failed key=KEY op=OP error=ERROR", each
// value quoted when it holds spaces or quotes.
var ktFailedLine = regexp.MustCompile(`(?m)^failed key=("(?:[^"\\]|\\.)*"|\S+) op=("(?:[^"\\]|\\.)*"|\S+) error=(.*)$`)

// ktFailures returns the failure lines of a run by key.
func ktFailures(stderr string) map[string]string {
	out := map[string]string{}
	for _, m := range ktFailedLine.FindAllStringSubmatch(stderr, -1) {
		out[ktUnquote(m[1])] = ktUnquote(m[2]) + ": " + ktUnquote(m[3])
	}
	return out
}

// ktUnquote reads one value of a text log line.
func ktUnquote(v string) string {
	if u, err := strconv.Unquote(v); err == nil {
		return u
	}
	return v
}

// ktKillDelays picks n kill delays in [50 ms, 1.5 s], one at random in each of n equal slices so that early and late
// kills are both covered. FSXSYNC_KILL_SEED replays a run's delays.
func ktKillDelays(t *testing.T, n int) []time.Duration {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("FSXSYNC_KILL_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("FSXSYNC_KILL_SEED: %v", err)
		}
		seed = v
	}
	t.Logf("kill delays from FSXSYNC_KILL_SEED=%d", seed)
	rng := mrand.New(mrand.NewPCG(seed, 0x6b696c6c))
	lo, hi := 50*time.Millisecond, 1500*time.Millisecond
	step := (hi - lo) / time.Duration(n)
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = (lo + time.Duration(i)*step + time.Duration(rng.Int64N(int64(step)))).Round(time.Millisecond)
	}
	return out
}

// ktLeftovers is what one kill left behind and what the rerun made of it.
type ktLeftovers struct {
	label      string
	killed     bool
	afterKill  []string // open multipart uploads (upload) or temp files (download) right after the kill
	afterRerun []string // the same after the rerun
	cleaned    int64    // the rerun's report: cleaned_up
	summary    string   // the rerun's summary line
	// detail is what a failure message needs to tell a race from a bug: when each leftover began, when the rerun
	// started, and what the rerun wrote to stderr.
	detail string
	// state temp files (.state-*.tmp) in the state directory right after the kill and after the rerun
	stateAfterKill, stateAfterRerun []string
}

// ktStateTemps lists the sync-state temp files in the state directory (jobEnv's FSXSYNC_STATE_DIR).
func (f *ktFixture) ktStateTemps() []string {
	m, _ := filepath.Glob(filepath.Join(f.dir, "state", ".state-*.tmp"))
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	return m
}

func ktLastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// ---------------------------------------------------------------------------------------------------------------

// kill -9 at random points of an upload and of a download of ~300 small files and two 12 MiB files (multipart with
// 5 MiB parts): never a torn object or a partial file under a final name; a rerun finishes and leaves both sides
// identical; and the rerun cleans up the temp files and open multipart uploads the kill left.
func TestKillDuringTransfer(t *testing.T) {
	f := newKTFixture(t)
	bucket := f.env.NewBucket(t)
	srcDir := filepath.Join(f.dir, "src")
	src := ktTree{"a-big.bin": ktRandom(12 << 20), "n/big.bin": ktRandom(12 << 20)}
	ktSmallFiles(src, 300)
	ktWriteTree(t, srcDir, src)
	delays := ktKillDelays(t, 6)
	flags := []string{"--part-size", "5MiB", "--concurrency", "4"}
	env := f.environ(bucket, f.env.S3Endpoint)

	// The runs to be killed go through a proxy that slows every request by 20 ms, so that a run lasts about two
	// seconds (instead of 0.4 s) and kills from 50 ms to 1.5 s land in the middle of it. The proxy's hook can also
	// kill a run at an exact request.
	var target atomic.Pointer[ktProc]
	var aim atomic.Value // func(*http.Request) bool: the request to kill at
	aim.Store(func(*http.Request) bool { return false })
	proxy := newKTProxy(t, f.env.S3Endpoint, 20*time.Millisecond, func(r *http.Request) bool {
		if p := target.Load(); p != nil && aim.Load().(func(*http.Request) bool)(r) {
			p.kill()
			return false
		}
		return true
	})
	slow := f.environ(bucket, proxy.URL)
	runAimed := func(t *testing.T, at func(*http.Request) bool, args []string) ktResult {
		aim.Store(at)
		p := f.start(t, slow, args...)
		target.Store(p)
		defer target.Store(nil)
		return p.wait(t)
	}
	landed := func(t *testing.T, left []ktLeftovers) {
		n := 0
		for _, lo := range left[:len(delays)] {
			if lo.killed {
				n++
			}
		}
		t.Logf("%d of %d random kills landed before the run finished", n, len(delays))
		if n < len(delays)/2 {
			t.Errorf("only %d of %d random kills landed before the run finished: the runs are too short to test anything", n, len(delays))
		}
	}

	var upLeft, downLeft []ktLeftovers
	t.Run("upload", func(t *testing.T) {
		// Each kill uploads into a prefix of its own, so each starts from nothing.
		check := func(t *testing.T, i int, label string, r ktResult, args []string) {
			prefix := fmt.Sprintf("up%d/", i)
			if !r.killed && r.code != 0 {
				t.Errorf("%s: not killed, and exited %s", label, r)
			}
			// The bucket is inspected once the server has answered every request the killed run sent.
			proxy.waitIdle(t)
			n := ktCheckObjects(t, label+", after the kill", ktObjects(t, f.s3, bucket, prefix), src, false)
			lo := ktLeftovers{label: label, killed: r.killed, afterKill: ktOpenUploads(t, f.s3, bucket, prefix), stateAfterKill: f.ktStateTemps()}
			initiated := ktUploadTimes(t, f.s3, bucket, prefix)
			report := filepath.Join(f.dir, fmt.Sprintf("report-up%d.json", i))
			rr := f.run(t, env, append(args, "--report", report)...)
			if rr.code != 0 {
				t.Fatalf("%s: the rerun: %s", label, rr)
			}
			ktCheckObjects(t, label+", after the rerun", ktObjects(t, f.s3, bucket, prefix), src, true)
			lo.afterRerun, lo.stateAfterRerun = ktOpenUploads(t, f.s3, bucket, prefix), f.ktStateTemps()
			rep := readReport(t, report)
			lo.cleaned, lo.summary = rep.CleanedUp, ktLastLine(rr.stdout)
			lo.detail = fmt.Sprintf("uploads after the kill, initiated: %s; the rerun started %s; its stderr:\n%s",
				initiated, rep.Started.UTC().Format(time.RFC3339Nano), rr.stderr)
			upLeft = append(upLeft, lo)
			t.Logf("%s: killed %v after %v; %d/%d objects complete; open multipart uploads %v; state temp files %d; "+
				"rerun: %s; then open uploads %v, state temp files %d", label, r.killed, r.took.Round(time.Millisecond), n, len(src),
				lo.afterKill, len(lo.stateAfterKill), lo.summary, lo.afterRerun, len(lo.stateAfterRerun))
		}
		argsFor := func(i int) []string {
			return append(append([]string{"sync"}, flags...), srcDir, fmt.Sprintf("s3://%s/up%d", bucket, i))
		}
		for i, d := range delays {
			args := argsFor(i)
			check(t, i, fmt.Sprintf("kill -9 at %v", d), f.runKilledAfter(t, slow, d, args...), args)
		}
		// And once exactly while a multipart upload is open: when the second part of a 12 MiB file goes up.
		i := len(delays)
		args := argsFor(i)
		r := runAimed(t, func(r *http.Request) bool { return ktIsPart(r, http.MethodPut, "a-big.bin", 2) }, args)
		if !r.killed {
			t.Errorf("the aimed kill did not happen: %s", r)
		}
		check(t, i, "kill -9 at UploadPart 2 of a-big.bin", r, args)
		// And once in the preflight, between the start and the abort of its probe multipart upload.
		i++
		args = argsFor(i)
		r = runAimed(t, func(r *http.Request) bool {
			return r.Method == http.MethodDelete && strings.Contains(r.URL.Path, "/.fsxsync-preflight-") &&
				r.URL.Query().Has("uploadId") && r.URL.Query().Get("uploadId") != "fsxsync-preflight-no-such-upload"
		}, args)
		if !r.killed {
			t.Errorf("the aimed kill did not happen: %s", r)
		}
		check(t, i, "kill -9 at the preflight's abort of its probe upload", r, args)
		landed(t, upLeft)
	})
	t.Run("upload-rerun-cleans-leftovers", func(t *testing.T) {
		ktCheckCleanup(t, upLeft, "open multipart uploads")
	})

	t.Run("download", func(t *testing.T) {
		if r := f.run(t, env, append(append([]string{"sync"}, flags...), srcDir, "s3://"+bucket+"/down")...); r.code != 0 {
			t.Fatalf("upload of the tree to download: %s", r)
		}
		// Each kill downloads into a directory of its own: empty, or (old) holding an older version of every file,
		// which must stay whole until the new one replaces it whole.
		check := func(t *testing.T, i int, label string, r ktResult, args []string, old ktTree) {
			dst := args[len(args)-1]
			if !r.killed && r.code != 0 {
				t.Errorf("%s: not killed, and exited %s", label, r)
			}
			temps, n := ktCheckLocal(t, label+", after the kill", dst, src, old, "", false)
			lo := ktLeftovers{label: label, killed: r.killed, afterKill: temps, stateAfterKill: f.ktStateTemps()}
			report := filepath.Join(f.dir, fmt.Sprintf("report-down%d.json", i))
			rr := f.run(t, env, append(args, "--report", report)...)
			if rr.code != 0 {
				t.Fatalf("%s: the rerun: %s", label, rr)
			}
			lo.afterRerun, _ = ktCheckLocal(t, label+", after the rerun", dst, src, nil, srcDir, true)
			lo.stateAfterRerun = f.ktStateTemps()
			lo.cleaned, lo.summary = readReport(t, report).CleanedUp, ktLastLine(rr.stdout)
			downLeft = append(downLeft, lo)
			t.Logf("%s: killed %v after %v; %d/%d files complete; temp files %v; state temp files %d; rerun: %s; then temp files %v, state temp files %d",
				label, r.killed, r.took.Round(time.Millisecond), n, len(src), lo.afterKill, len(lo.stateAfterKill), lo.summary, lo.afterRerun, len(lo.stateAfterRerun))
		}
		argsFor := func(i int) []string {
			return append(append([]string{"sync"}, flags...), "s3://"+bucket+"/down", filepath.Join(f.dir, fmt.Sprintf("dst%d", i)))
		}
		for i, d := range delays {
			args := argsFor(i)
			check(t, i, fmt.Sprintf("kill -9 at %v", d), f.runKilledAfter(t, slow, d, args...), args, nil)
		}
		// And once exactly while a temp file is half written: when part 2 of a 12 MiB object is asked for.
		i := len(delays)
		args := argsFor(i)
		r := runAimed(t, func(r *http.Request) bool { return ktIsPart(r, http.MethodGet, "a-big.bin", 2) }, args)
		if !r.killed {
			t.Errorf("the aimed kill did not happen: %s", r)
		}
		check(t, i, "kill -9 at GET part 2 of a-big.bin", r, args, nil)
		landed(t, downLeft)

		// Over an older tree: same sizes, other bytes, an hour older, so that every file is replaced.
		old := ktTree{}
		for k, b := range src {
			old[k] = ktRandom(len(b))
		}
		for j, d := range []time.Duration{delays[1], delays[len(delays)-2]} {
			i := len(delays) + 1 + j
			args := argsFor(i)
			dst := args[len(args)-1]
			ktWriteTree(t, dst, old)
			for k := range old {
				p := filepath.Join(dst, filepath.FromSlash(k))
				st, err := os.Stat(filepath.Join(srcDir, filepath.FromSlash(k)))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.Chtimes(p, st.ModTime().Add(-time.Hour), st.ModTime().Add(-time.Hour)); err != nil {
					t.Fatal(err)
				}
			}
			check(t, i, fmt.Sprintf("kill -9 at %v over an older tree", d), f.runKilledAfter(t, slow, d, args...), args, old)
		}
	})
	t.Run("download-rerun-cleans-leftovers", func(t *testing.T) {
		ktCheckCleanup(t, downLeft, "temp files")
	})
	// A killed run also leaves its half-written sync-state file (.state-*.tmp, one line per object: gigabytes for a
	// large tree) in the state directory, by default the user's cache directory.
	t.Run("state-dir-rerun-cleans-leftovers", func(t *testing.T) {
		kills := 0
		for _, lo := range append(append([]ktLeftovers{}, upLeft...), downLeft...) {
			if lo.killed {
				kills++
			}
		}
		left := f.ktStateTemps()
		if len(left) > 0 {
			t.Errorf("%d state temp files left in the state directory after %d kills and their reruns: %v", len(left), kills, left)
		}
	})
}

// ktCheckCleanup: after each rerun nothing a kill left is still there, and the rerun counted exactly what it removed.
func ktCheckCleanup(t *testing.T, left []ktLeftovers, what string) {
	if len(left) == 0 {
		t.Fatal("the kills did not run")
	}
	leftSome := false
	for _, lo := range left {
		leftSome = leftSome || len(lo.afterKill) > 0
		if len(lo.afterRerun) > 0 {
			t.Errorf("%s: %d %s left by the kill are still there after the rerun: %v (rerun: %s)\n%s", lo.label, len(lo.afterRerun), what, lo.afterRerun, lo.summary, lo.detail)
		}
		if lo.cleaned != int64(len(lo.afterKill)) {
			t.Errorf("%s: the kill left %d %s %v, the rerun reports %d cleaned up (%s)\n%s", lo.label, len(lo.afterKill), what, lo.afterKill, lo.cleaned, lo.summary, lo.detail)
		}
	}
	if !leftSome {
		t.Fatalf("no kill left any %s behind, so their cleanup was not exercised", what)
	}
}

// ---------------------------------------------------------------------------------------------------------------

// ktVersion is version v of a file of size bytes: 8-byte words holding v and the word's index, so that any mix of
// versions, or any shifted or truncated copy, is recognised.
func ktVersion(size, v int) []byte {
	b := make([]byte, size)
	for i := 0; i+8 <= size; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], uint64(v)<<40|uint64(i/8))
	}
	return b
}

// ktWhichVersion returns the version b is a whole copy of, or a description of how it is torn.
func ktWhichVersion(b []byte, size int) (int, string) {
	if len(b) != size {
		return 0, fmt.Sprintf("%d bytes, every version has %d", len(b), size)
	}
	v := binary.LittleEndian.Uint64(b) >> 40
	for i := 0; i+8 <= size; i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		if w>>40 != v || w&(1<<40-1) != uint64(i/8) {
			return 0, fmt.Sprintf("TORN: version %d up to byte %d, then version %d", v, i, w>>40)
		}
	}
	return int(v), ""
}

// ktRewriter rewrites path in place (same size), alternating between versions, until stop is called; stop returns
// the number of rewrites.
func ktRewriter(t *testing.T, path string, versions [][]byte) (stop func() int) {
	fh, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	quit, done := make(chan struct{}), make(chan int)
	go func() {
		n := 0
		defer func() { fh.Close(); done <- n }()
		for {
			select {
			case <-quit:
				return
			default:
			}
			if _, err := fh.WriteAt(versions[(n+1)%len(versions)], 0); err != nil {
				t.Errorf("rewrite %s: %v", path, err)
				return
			}
			n++
			time.Sleep(3 * time.Millisecond)
		}
	}()
	return func() int { close(quit); return <-done }
}

// Source files changed while they upload: each is a clear per-file failure naming the file, the run exits 1, the
// rest is transferred, and nothing torn reaches S3 (an object is absent or equal to a whole version of its file).
func TestChangingSourceUpload(t *testing.T) {
	f := newKTFixture(t)
	bucket := f.env.NewBucket(t)
	const size = 20 << 20
	// One part in flight per file, and every request slowed, so each big file takes a while to go up.
	flags := []string{"--part-size", "5MiB", "--part-concurrency", "1", "--concurrency", "2", "--report"}

	t.Run("rewritten-truncated-grown-unlinked-deleted", func(t *testing.T) {
		srcDir := filepath.Join(f.dir, "src1")
		v1, v2 := ktVersion(size, 1), ktVersion(size, 2)
		src := ktTree{"b-grown.bin": ktRandom(size), "b-rewritten.bin": v1, "b-truncated.bin": ktRandom(size), "b-unlinked.bin": ktRandom(size)}
		ktSmallFiles(src, 60)
		vanished := []string{"zz-vanished/f0.bin", "zz-vanished/f1.bin", "zz-vanished/f2.bin"}
		for _, k := range vanished {
			src[k] = ktRandom(1000)
		}
		ktWriteTree(t, srcDir, src)
		appended := ktRandom(1 << 20)
		at := func(k string) string { return filepath.Join(srcDir, filepath.FromSlash(k)) }

		var truncated, grown, unlinked, deleted sync.Once
		var fired atomic.Int32
		proxy := newKTProxy(t, f.env.S3Endpoint, 15*time.Millisecond, func(r *http.Request) bool {
			switch {
			case ktIsPart(r, http.MethodPut, "b-truncated.bin", 1):
				truncated.Do(func() {
					fired.Add(1)
					if err := os.Truncate(at("b-truncated.bin"), 3<<20); err != nil {
						t.Errorf("truncate: %v", err)
					}
				})
			case ktIsPart(r, http.MethodPut, "b-grown.bin", 1):
				grown.Do(func() {
					fired.Add(1)
					fh, err := os.OpenFile(at("b-grown.bin"), os.O_WRONLY|os.O_APPEND, 0)
					if err == nil {
						_, err = fh.Write(appended)
						fh.Close()
					}
					if err != nil {
						t.Errorf("append: %v", err)
					}
				})
			case ktIsPart(r, http.MethodPut, "b-unlinked.bin", 1):
				unlinked.Do(func() {
					fired.Add(1)
					if err := os.Remove(at("b-unlinked.bin")); err != nil {
						t.Errorf("unlink: %v", err)
					}
				})
			case r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/d00/"):
				// The small files are under way, so the listing has long seen the files that vanish now.
				deleted.Do(func() {
					fired.Add(1)
					for _, k := range vanished {
						if err := os.Remove(at(k)); err != nil {
							t.Errorf("delete: %v", err)
						}
					}
				})
			}
			return true
		})
		stop := ktRewriter(t, at("b-rewritten.bin"), [][]byte{v1, v2})
		report := filepath.Join(f.dir, "report-changing.json")
		r := f.run(t, f.environ(bucket, proxy.URL), append(append([]string{"sync"}, flags...), report, srcDir, "s3://"+bucket+"/chg")...)
		rewrites := stop()
		t.Logf("fsxsync: %s\n(b-rewritten.bin was rewritten %d times meanwhile)", r, rewrites)
		if fired.Load() != 4 {
			t.Fatalf("only %d of the 4 changes were made during the upload", fired.Load())
		}
		if r.code != 1 {
			t.Errorf("exit %d, want 1 (some files failed)", r.code)
		}

		failed := ktFailures(r.stderr)
		rep := readReport(t, report)
		inReport := map[string]bool{}
		for _, fl := range rep.Failures {
			inReport[fl.Key] = true
		}
		want := map[string]string{
			"b-rewritten.bin": "changed while it was being uploaded",
			"b-truncated.bin": "changed while it was being uploaded",
			"b-grown.bin":     "changed while it was being uploaded",
		}
		for _, k := range vanished {
			want[k] = "no such file or directory"
		}
		for k, msg := range want {
			switch {
			case failed[k] == "":
				t.Errorf("no per-file failure line for %s in stderr", k)
			case !strings.Contains(failed[k], msg) || !strings.Contains(failed[k], at(k)):
				t.Errorf("the failure of %s does not say %q and name %s: %s", k, msg, at(k), failed[k])
			}
			if !inReport[k] {
				t.Errorf("the report's failures do not list %s", k)
			}
		}
		for k := range failed {
			if _, ok := want[k]; !ok && k != "b-unlinked.bin" {
				t.Errorf("unexpected failure: %s: %s", k, failed[k])
			}
		}

		objs := ktObjects(t, f.s3, bucket, "chg/")
		// The rest went up whole.
		for k, b := range src {
			if strings.HasPrefix(k, "d") && !bytes.Equal(objs[k], b) {
				t.Errorf("%s: %s", k, ktDiff(objs[k], b))
			}
		}
		// The changed ones: absent, or a whole version.
		if b, ok := objs["b-rewritten.bin"]; ok {
			if _, torn := ktWhichVersion(b, size); torn != "" {
				t.Errorf("b-rewritten.bin in S3: %s", torn)
			}
		}
		if b, ok := objs["b-truncated.bin"]; ok && !bytes.Equal(b, src["b-truncated.bin"]) && !bytes.Equal(b, src["b-truncated.bin"][:3<<20]) {
			t.Errorf("b-truncated.bin in S3 is TORN: neither the original nor the truncated file (%d bytes)", len(b))
		}
		if b, ok := objs["b-grown.bin"]; ok && !bytes.Equal(b, src["b-grown.bin"]) && !bytes.Equal(b, append(src["b-grown.bin"][:size:size], appended...)) {
			t.Errorf("b-grown.bin in S3 is TORN: neither the original nor the grown file (%d bytes)", len(b))
		}
		// A file unlinked while open is still read whole through the open descriptor: uploading that whole last
		// version is as correct as a failure.
		if b, ok := objs["b-unlinked.bin"]; ok {
			if !bytes.Equal(b, src["b-unlinked.bin"]) {
				t.Errorf("b-unlinked.bin in S3 is TORN: %s", ktDiff(b, src["b-unlinked.bin"]))
			}
			t.Logf("b-unlinked.bin (unlinked during its upload) was uploaded whole from the open file")
		} else {
			t.Logf("b-unlinked.bin (unlinked during its upload) failed: %s", failed["b-unlinked.bin"])
		}
		for _, k := range vanished {
			if _, ok := objs[k]; ok {
				t.Errorf("%s was deleted before its upload, yet it is in S3", k)
			}
		}
		for k := range objs {
			if _, ok := src[k]; !ok {
				t.Errorf("unexpected object %s", k)
			}
		}
		if ups := ktOpenUploads(t, f.s3, bucket, "chg/"); len(ups) != 0 {
			t.Errorf("failed multipart uploads were left open: %v", ups)
		}
		if rep.Transferred.Files != int64(len(objs)) {
			t.Errorf("the report says %d files transferred, S3 holds %d", rep.Transferred.Files, len(objs))
		}
	})

	// A file rewritten in place once, in the middle of its upload, by a writer that puts the mtime back, as
	// rsync --inplace -t and cp -p onto an existing file do. Lustre, whose timestamps have whole seconds, shows any
	// in-place rewrite within the second of the previous write the same way. Size and mtime cannot see the change;
	// the ctime, which no one can set back, can.
	t.Run("rewritten-mtime-restored", func(t *testing.T) {
		srcDir := filepath.Join(f.dir, "src2")
		v1, v2 := ktVersion(size, 1), ktVersion(size, 2)
		src := ktTree{"b-rewritten.bin": v1}
		ktSmallFiles(src, 5)
		ktWriteTree(t, srcDir, src)
		path := filepath.Join(srcDir, "b-rewritten.bin")
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		var once sync.Once
		var rewritten atomic.Bool
		proxy := newKTProxy(t, f.env.S3Endpoint, 15*time.Millisecond, func(r *http.Request) bool {
			if ktIsPart(r, http.MethodPut, "b-rewritten.bin", 2) {
				once.Do(func() {
					fh, err := os.OpenFile(path, os.O_WRONLY, 0)
					if err == nil {
						_, err = fh.WriteAt(v2, 0)
						fh.Close()
					}
					if err == nil {
						err = os.Chtimes(path, fi.ModTime(), fi.ModTime())
					}
					if err != nil {
						t.Errorf("rewrite: %v", err)
					}
					rewritten.Store(true)
				})
			}
			return true
		})
		report := filepath.Join(f.dir, "report-mtime.json")
		r := f.run(t, f.environ(bucket, proxy.URL), append(append([]string{"sync"}, flags...), report, srcDir, "s3://"+bucket+"/mtime")...)
		t.Logf("fsxsync: %s", r)
		if !rewritten.Load() {
			t.Fatal("the file was not rewritten during its upload")
		}
		objs := ktObjects(t, f.s3, bucket, "mtime/")
		b, ok := objs["b-rewritten.bin"]
		switch {
		case ok:
			if v, torn := ktWhichVersion(b, size); torn != "" {
				t.Errorf("b-rewritten.bin in S3 (fsxsync exited %d): %s", r.code, torn)
			} else {
				t.Logf("b-rewritten.bin went up whole (version %d)", v)
			}
		case r.code != 1 || !strings.Contains(ktFailures(r.stderr)["b-rewritten.bin"], "changed while it was being uploaded"):
			t.Errorf("b-rewritten.bin is not in S3, yet there is no clear failure for it and exit 1")
		}
	})
}

// ---------------------------------------------------------------------------------------------------------------

// The destination directory removed in the middle of a download: per-file failures naming the files, exit 1, no
// crash, no temp file left in any directory that still exists, nothing partial under a final name; a rerun
// finishes.
func TestRemovedDestinationDownload(t *testing.T) {
	f := newKTFixture(t)
	bucket := f.env.NewBucket(t)
	srcDir := filepath.Join(f.dir, "src")
	src := ktTree{"a-top.bin": ktRandom(5000), "victim/a-big.bin": ktRandom(12 << 20)}
	for i := 0; i < 8; i++ {
		src[fmt.Sprintf("other/f%02d.bin", i)] = ktRandom(3000 + i)
		src[fmt.Sprintf("victim/f%02d.bin", i)] = ktRandom(3000 + i)
	}
	ktWriteTree(t, srcDir, src)
	env := f.environ(bucket, f.env.S3Endpoint)
	if r := f.run(t, env, "sync", "--part-size", "5MiB", srcDir, "s3://"+bucket+"/rm"); r.code != 0 {
		t.Fatalf("upload: %s", r)
	}

	for _, tc := range []struct{ name, remove string }{{"subdirectory", "victim"}, {"root", "."}} {
		t.Run(tc.name, func(t *testing.T) {
			dst := filepath.Join(f.dir, "dst-"+tc.name)
			var once sync.Once
			var removed atomic.Bool
			// Remove it when part 2 of victim/a-big.bin is asked for: its temp file is then half written.
			proxy := newKTProxy(t, f.env.S3Endpoint, 10*time.Millisecond, func(r *http.Request) bool {
				if ktIsPart(r, http.MethodGet, "victim/a-big.bin", 2) {
					once.Do(func() {
						// fsxsync keeps writing while the directory goes, so RemoveAll can meet a file created after
						// it read a directory ("directory not empty"): try again until the tree is gone.
						var err error
						for try := 0; try < 50; try++ {
							if err = os.RemoveAll(filepath.Join(dst, tc.remove)); err == nil {
								break
							}
							time.Sleep(5 * time.Millisecond)
						}
						if err != nil {
							t.Errorf("remove: %v", err)
						}
						removed.Store(true)
					})
				}
				return true
			})
			report := filepath.Join(f.dir, "report-rm-"+tc.name+".json")
			r := f.run(t, f.environ(bucket, proxy.URL), "sync", "--part-size", "5MiB", "--concurrency", "4", "--report", report, "s3://"+bucket+"/rm", dst)
			t.Logf("fsxsync: %s", r)
			if !removed.Load() {
				t.Fatal("the directory was not removed during the download")
			}
			if r.code != 1 {
				t.Errorf("exit %d, want 1", r.code)
			}
			failed := ktFailures(r.stderr)
			if !strings.Contains(failed["victim/a-big.bin"], "no such file or directory") {
				t.Errorf("no clear failure for victim/a-big.bin, whose directory was removed under it: %q", failed["victim/a-big.bin"])
			}
			rep := readReport(t, report)
			if rep.Failed.Files != int64(len(failed)) || len(failed) == 0 {
				t.Errorf("the report counts %d failures, stderr has %d lines: %v", rep.Failed.Files, len(failed), failed)
			}
			for k := range failed {
				if _, ok := src[k]; !ok {
					t.Errorf("a failure line does not name a file: %q", k)
				}
			}
			temps, n := ktCheckLocal(t, "after the removal", dst, src, nil, "", false)
			if len(temps) > 0 {
				t.Errorf("temp files left: %v", temps)
			}
			if tc.remove == "victim" {
				for k := range src {
					if _, err := os.Stat(filepath.Join(dst, filepath.FromSlash(k))); err != nil && !strings.HasPrefix(k, "victim/") {
						t.Errorf("%s, outside the removed directory, was not downloaded: %v", k, err)
					}
				}
			}
			t.Logf("%d files complete after the removal; failed: %v", n, failed)
			rr := f.run(t, env, "sync", "s3://"+bucket+"/rm", dst)
			if rr.code != 0 {
				t.Fatalf("rerun: %s", rr)
			}
			if temps, _ := ktCheckLocal(t, "after the rerun", dst, src, nil, srcDir, true); len(temps) > 0 {
				t.Errorf("temp files after the rerun: %v", temps)
			}
		})
	}
}

// ---------------------------------------------------------------------------------------------------------------

// A download that does not fit: 5 MiB into a 2 MiB tmpfs. The preflight refuses it; with --no-preflight each file
// that does not fit fails clearly (ENOSPC, naming the file), the run exits 1, the files that fit are complete, and
// no temp file and no partial file is left.
func TestDiskFullDownload(t *testing.T) {
	f := newKTFixture(t)
	bucket := f.env.NewBucket(t)
	srcDir := filepath.Join(f.dir, "src")
	src := ktTree{"big.bin": ktRandom(2 << 20)}
	for i := 0; i < 12; i++ {
		src[fmt.Sprintf("small/f%02d.bin", i)] = ktRandom(256 << 10)
	}
	ktWriteTree(t, srcDir, src)
	env := f.environ(bucket, f.env.S3Endpoint)
	if r := f.run(t, env, "sync", srcDir, "s3://"+bucket+"/full"); r.code != 0 {
		t.Fatalf("upload: %s", r)
	}

	dst := filepath.Join(f.dir, "dst")
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", dst).CombinedOutput(); err != nil {
		t.Skipf("SKIPPED: the disk-full test needs to mount a 2 MiB tmpfs (as root, with CAP_SYS_ADMIN), and "+
			"`mount -t tmpfs -o size=2m tmpfs %s` failed: %v: %s", dst, err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dst).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dst, err, out)
			exec.Command("umount", "-l", dst).Run()
		}
	})

	t.Run("preflight-refuses", func(t *testing.T) {
		r := f.run(t, env, "sync", "s3://"+bucket+"/full", dst)
		if r.code != 2 || !strings.Contains(r.stderr, "not enough space") {
			t.Errorf("want exit 2 and \"not enough space\" from the preflight, got %s", r)
		}
		if entries, _ := os.ReadDir(dst); len(entries) != 0 {
			t.Errorf("the refused run wrote %d entries", len(entries))
		}
	})

	t.Run("enospc", func(t *testing.T) {
		report := filepath.Join(f.dir, "report-full.json")
		r := f.run(t, env, "sync", "--no-preflight", "--part-size", "5MiB", "--concurrency", "4", "--report", report, "s3://"+bucket+"/full", dst)
		t.Logf("fsxsync: %s", r)
		if r.code != 1 {
			t.Errorf("exit %d, want 1", r.code)
		}
		failed := ktFailures(r.stderr)
		if len(failed) == 0 {
			t.Errorf("no per-file failure line, though 5 MiB cannot fit in 2 MiB")
		}
		for k, msg := range failed {
			if _, ok := src[k]; !ok {
				t.Errorf("a failure line does not name a file: %q", k)
			}
			switch {
			case strings.Contains(msg, "no space left on device"):
			default:
				t.Errorf("%s failed, but not clearly for lack of space: %s", k, msg)
			}
		}
		temps, n := ktCheckLocal(t, "after the download", dst, src, nil, "", false)
		if len(temps) > 0 {
			t.Errorf("temp files left: %v", temps)
		}
		if n == 0 {
			t.Errorf("no file was downloaded, though up to eight of them fit")
		}
		rep := readReport(t, report)
		if rep.Transferred.Files != int64(n) || rep.Failed.Files != int64(len(failed)) || int(rep.Transferred.Files+rep.Failed.Files) != len(src) {
			t.Errorf("report: %d transferred, %d failed; on disk %d complete files, %d failure lines, %d files in all",
				rep.Transferred.Files, rep.Failed.Files, n, len(failed), len(src))
		}
		t.Logf("%d of %d files fit and are complete; failed: %v", n, len(src), failed)
	})
}

// ---------------------------------------------------------------------------------------------------------------

// A connection cut in the middle of a GET (a load balancer reset, a flaky network) is what the transfer manager's
// part retries are for: the part is fetched again and the download succeeds, whole. Cut here: part 2 of a 12 MiB
// multipart object after 1 MiB of its body, and a 2 MiB single-part object after 100 KiB, each once.
func TestKilledConnectionDownload(t *testing.T) {
	f := newKTFixture(t)
	bucket := f.env.NewBucket(t)
	srcDir := filepath.Join(f.dir, "src")
	src := ktTree{"big.bin": ktRandom(12 << 20), "mid.bin": ktRandom(2 << 20)}
	ktSmallFiles(src, 20)
	ktWriteTree(t, srcDir, src)
	env := f.environ(bucket, f.env.S3Endpoint)
	if r := f.run(t, env, "sync", "--part-size", "5MiB", srcDir, "s3://"+bucket+"/cut"); r.code != 0 {
		t.Fatalf("upload: %s", r)
	}
	u, err := url.Parse(f.env.S3Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) { w.WriteHeader(http.StatusBadGateway) }
	var cutBig, cutMid sync.Once
	var cuts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := -1
		switch {
		case ktIsPart(r, http.MethodGet, "big.bin", 2):
			cutBig.Do(func() { limit = 1 << 20 })
		case ktIsPart(r, http.MethodGet, "mid.bin", 1):
			cutMid.Do(func() { limit = 100 << 10 })
		}
		if limit >= 0 {
			cuts.Add(1)
			w = &ktCutWriter{ResponseWriter: w, left: limit}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	dst := filepath.Join(f.dir, "dst")
	r := f.run(t, f.environ(bucket, srv.URL), "sync", "--part-size", "5MiB", "s3://"+bucket+"/cut", dst)
	t.Logf("fsxsync: %s", r)
	if cuts.Load() != 2 {
		t.Fatalf("%d connections were cut, want 2", cuts.Load())
	}
	if r.code != 0 {
		t.Errorf("exit %d, want 0: a cut connection is retried", r.code)
	}
	if temps, _ := ktCheckLocal(t, "after the download", dst, src, nil, srcDir, r.code == 0); len(temps) > 0 {
		t.Errorf("temp files left: %v", temps)
	}
}

// ktCutWriter passes on a response's first left bytes of body, then drops the connection.
type ktCutWriter struct {
	http.ResponseWriter
	left int
}

func (c *ktCutWriter) Write(p []byte) (int, error) {
	if len(p) <= c.left {
		c.left -= len(p)
		return c.ResponseWriter.Write(p)
	}
	c.ResponseWriter.Write(p[:c.left])
	c.left = 0
	if fl, ok := c.ResponseWriter.(http.Flusher); ok {
		fl.Flush()
	}
	panic(http.ErrAbortHandler) // the server closes the connection mid-body
}

func (c *ktCutWriter) Flush() {
	if fl, ok := c.ResponseWriter.(http.Flusher); ok {
		fl.Flush()
	}
}
