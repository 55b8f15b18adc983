package transfer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsxsync/fsxsync/fsx"
	"github.com/fsxsync/fsxsync/internal/faultproxy"
	"github.com/fsxsync/fsxsync/transfer"
	"github.com/fsxsync/fsxsync/transfer/s3store"
)

// Nothing lost under faults: the engine, with the S3 client fsxsync itself builds (LoadConfig: 10 attempts,
// exponential backoff, no client-side retry quota), syncs a tree up and down through a proxy that injects what a
// long batch transfer meets against real S3. Every run must end in a tree or prefix identical to the source, byte for
// byte, with nothing partial under a final name; a fault the SDK can retry must not cost a file.
//
// The results go to the test log as a markdown table, and to $FSXSYNC_WRITE_FAULT_MATRIX when set (for
// docs/reliability.md).

const (
	// faultPartSize is S3's minimum part size, so that 12 MiB files go up and down in three parts.
	faultPartSize = 5 << 20
	// faultOutage is how long the server is away in the outage case: long enough that the SDK's backoff for
	// connection errors (50 ms doubling, random jitter) runs out for some requests, so some files fail.
	faultOutage = 10 * time.Second
	// slowDownFor is how long the SlowDown case throttles: longer than the run takes without faults (0.3 s).
	slowDownFor = 3 * time.Second
	// faultRunTimeout turns a hang into a failure instead of a test binary timeout. A run needs a few seconds; the
	// outage case at most faultOutage plus one full backoff sequence (about 25 s).
	faultRunTimeout = 90 * time.Second
)

// faultTree is the source: 30 small files (one empty) in three directories, and three files of three parts each.
func faultTree() map[string][]byte {
	files := map[string][]byte{}
	for i := range 30 {
		files[fmt.Sprintf("d%d/f%02d.dat", i%3, i)] = randBytes(i * 2003 % 65536)
	}
	for i := range 3 {
		files[fmt.Sprintf("big/m%d.bin", i)] = randBytes(12<<20 + i*4099)
	}
	return files
}

// faultCase is one injected fault, run in both directions.
type faultCase struct {
	name  string // the table's "injected fault"
	short string // subtest and prefix name
	// rule picks the fault for each request; nil for the outage case, which takes the server away instead.
	rule func(dir transfer.Direction) faultproxy.Rule
	// outage takes the proxy down for faultOutage a third of the way through the run (see armOutage).
	outage bool
	// check makes case-specific assertions on the run and returns what it measured, for the table.
	check func(t *testing.T, rep *transfer.Report, stats *s3store.RequestStats, reqs []faultproxy.Request) string
}

type faultRow struct{ fault, direction, happened, verified string }

func TestFaults(t *testing.T) {
	// LoadConfig reads credentials and region through the SDK's default chain, as the CLI does; point it at the
	// test server's keys and keep this machine's AWS configuration out. t.Setenv makes this test non-parallel.
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": srv(t).AccessKey, "AWS_SECRET_ACCESS_KEY": srv(t).SecretKey, "AWS_REGION": srv(t).Region,
		"AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull, "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_PROFILE": "", "AWS_SESSION_TOKEN": "", "AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_S3": "",
	} {
		t.Setenv(k, v)
	}
	bucket := srv(t).NewBucket(t)
	// The clean store talks to versitygw directly: it seeds the downloads and reads back what uploads stored.
	clean := s3store.New(srv(t).Client(), bucket, s3store.Options{PartSize: faultPartSize, PartConcurrency: 4})
	src := t.TempDir()
	files := faultTree()
	writeTree(t, src, files, time.Unix(1700000000, 0))
	runSync(t, clean, src, "s3://"+bucket+"/seed", runCfg{part: faultPartSize})

	var rows []faultRow
	start := time.Now()
	for _, c := range faultCases() {
		for _, dir := range []transfer.Direction{transfer.Upload, transfer.Download} {
			direction := map[transfer.Direction]string{transfer.Upload: "upload", transfer.Download: "download"}[dir]
			t.Run(c.short+"/"+direction, func(t *testing.T) {
				row := faultRow{fault: c.name, direction: direction}
				defer func() {
					if t.Failed() {
						row.verified = "**FAILED**: " + row.verified
					}
					rows = append(rows, row)
				}()
				runFaultCase(t, c, dir, bucket, clean, src, files, &row)
			})
		}
	}

	var b strings.Builder
	b.WriteString("| injected fault | direction | what happened (retries, failures, seconds) | verified |\n")
	b.WriteString("|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.fault, r.direction, r.happened, r.verified)
	}
	fmt.Fprintf(&b, "\nTree: 30 small files (0-64 KiB) and 3 files of 12 MiB (3 parts of 5 MiB), %s each way; "+
		"concurrency 8, 4 parts in flight per file. All cases took %.0f s.\n", transfer.HumanBytes(treeBytes(files)), time.Since(start).Seconds())
	t.Logf("fault matrix:\n%s", b.String())
	if path := os.Getenv("FSXSYNC_WRITE_FAULT_MATRIX"); path != "" {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}

func treeBytes(files map[string][]byte) int64 {
	var n int64
	for _, b := range files {
		n += int64(len(b))
	}
	return n
}

func faultCases() []faultCase {
	return []faultCase{
		{
			name:  fmt.Sprintf("503 SlowDown on 30%% of requests for the first %.0f s", slowDownFor.Seconds()),
			short: "slowdown",
			rule: func(transfer.Direction) faultproxy.Rule {
				// A window, as S3 throttles a prefix for a while: without an end, the few operations that draw
				// SlowDown four or five times in a row (backoff 0-1 s, 0-2 s, 0-4 s, 0-8 s, ...) would make the
				// case last anywhere from 2 to 30 s.
				until := time.Now().Add(slowDownFor)
				return func(*http.Request, int) faultproxy.Action {
					if time.Now().Before(until) && rand.Float64() < 0.3 {
						return faultproxy.Action{Fault: faultproxy.SlowDown}
					}
					return faultproxy.Action{}
				}
			},
			check: checkBackoff,
		},
		{
			name:  "500 InternalError on 20% of requests",
			short: "internalerror",
			rule: func(transfer.Direction) faultproxy.Rule {
				return func(*http.Request, int) faultproxy.Action {
					if rand.Float64() < 0.2 {
						return faultproxy.Action{Fault: faultproxy.InternalError}
					}
					return faultproxy.Action{}
				}
			},
			check: checkRetried,
		},
		{
			name:  "latency spike of 1-2 s on 10% of requests",
			short: "latency",
			rule: func(transfer.Direction) faultproxy.Rule {
				return func(*http.Request, int) faultproxy.Action {
					if rand.Float64() < 0.1 {
						return faultproxy.Action{Delay: time.Second + rand.N(time.Second)}
					}
					return faultproxy.Action{}
				}
			},
		},
		{
			name:  "connection reset mid-body (first try of every PUT, cut after half its body; of every GET and POST, cut after half the answer)",
			short: "reset",
			rule: func(transfer.Direction) faultproxy.Rule {
				return func(r *http.Request, seen int) faultproxy.Action {
					switch {
					case seen > 0:
					case r.Method == http.MethodPut && r.ContentLength > 0:
						return faultproxy.Action{Fault: faultproxy.ResetRequest}
					case r.Method == http.MethodGet || r.Method == http.MethodPost:
						// Listings, multipart create and complete, object reads.
						return faultproxy.Action{Fault: faultproxy.ResetResponse}
					}
					return faultproxy.Action{}
				}
			},
			check: checkRepeated,
		},
		{
			name:  "truncated response: FIN after half the body (first try of every object GET; of every CompleteMultipartUpload)",
			short: "truncate",
			rule: func(dir transfer.Direction) faultproxy.Rule {
				return func(r *http.Request, seen int) faultproxy.Action {
					switch {
					case seen > 0:
					case dir == transfer.Upload && r.Method == http.MethodPost && r.URL.Query().Has("uploadId"):
						return faultproxy.Action{Fault: faultproxy.TruncateResponse}
					case dir == transfer.Download && isObjectGet(r):
						return faultproxy.Action{Fault: faultproxy.TruncateResponse}
					}
					return faultproxy.Action{}
				}
			},
			check: checkRepeated,
		},
		{
			name:  "truncated listing: FIN after half the body (first try of every ListObjectsV2)",
			short: "truncatelist",
			rule: func(transfer.Direction) faultproxy.Rule {
				return func(r *http.Request, seen int) faultproxy.Action {
					if seen == 0 && r.Method == http.MethodGet && r.URL.Query().Has("list-type") {
						return faultproxy.Action{Fault: faultproxy.TruncateResponse}
					}
					return faultproxy.Action{}
				}
			},
			check: checkRepeated,
		},
		{
			name:   fmt.Sprintf("server down %.0f s mid-run (connections closed, then refused), then back", faultOutage.Seconds()),
			short:  "outage",
			outage: true,
		},
	}
}

// isObjectGet reports whether r reads an object (path style: /bucket/key), not a listing.
func isObjectGet(r *http.Request) bool {
	_, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	return r.Method == http.MethodGet && key != "" && !r.URL.Query().Has("uploads")
}

// runFaultCase runs one case in one direction through a fresh proxy and fills in the table row.
func runFaultCase(t *testing.T, c faultCase, dir transfer.Direction, bucket string, clean *s3store.Store, src string, files map[string][]byte, row *faultRow) {
	p, err := faultproxy.Start(srv(t).Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	stats := &s3store.RequestStats{}
	store := faultStore(t, p.URL, bucket, stats)
	remote := "s3://" + bucket + "/seed"
	local := t.TempDir()
	from, to := remote, local
	if dir == transfer.Upload {
		remote = "s3://" + bucket + "/up-" + c.short
		from, to = src, remote
	}

	var wentDown <-chan struct{}
	switch {
	case c.outage:
		wentDown = armOutage(p)
	case c.rule != nil:
		p.SetRule(c.rule(dir))
	}
	ctx, cancel := context.WithTimeout(context.Background(), faultRunTimeout)
	defer cancel()
	var log bytes.Buffer
	done := make(chan struct{})
	var rep *transfer.Report
	var runErr error
	began := time.Now()
	go func() {
		defer close(done)
		rep, runErr = faultSync(ctx, store, from, to, stats, &log)
	}()
	down := time.Duration(-1)
	if c.outage {
		down = outage(t, p, wentDown, done, began)
	}
	<-done
	p.SetRule(nil)
	reqs := p.Requests()
	if rep == nil {
		t.Fatalf("run: %v", runErr)
	}
	injected := 0
	for _, r := range reqs {
		if r.Action != (faultproxy.Action{}) {
			injected++
		}
	}
	if c.outage {
		row.happened = fmt.Sprintf("down from %.2f s: %d retries (%d tries for %d operations), %d failed, %.1f s",
			down.Seconds(), rep.Retries, stats.Attempts(), stats.Ops(), rep.Failed.Files, rep.Seconds)
	} else {
		row.happened = fmt.Sprintf("%d injected, %d retries, %d failed, %.1f s", injected, rep.Retries, rep.Failed.Files, rep.Seconds)
	}
	if runErr != nil {
		row.happened += "; fatal error: " + briefError(runErr.Error())
	}
	t.Logf("%s %s: %s", c.short, row.direction, row.happened)
	for _, f := range rep.Failures {
		t.Logf("  failed %s: %s: %s", f.Key, f.Op, f.Error)
	}
	if errors.Is(runErr, context.DeadlineExceeded) {
		t.Errorf("the run hung: not done after %v", faultRunTimeout)
	}

	// Safety first, whatever the outcome: what exists under a final name is right, and what is missing was
	// reported as failed (or the run stopped with a fatal error).
	failed := map[string]bool{}
	for _, f := range rep.Failures {
		failed[f.Key] = true
	}
	verified, open := verifyFaultResult(t, dir, clean, remote, local, files, failed, runErr != nil)
	row.verified = verified

	if c.check != nil && runErr == nil {
		row.happened += "; " + c.check(t, rep, stats, reqs)
	}
	complete := runErr == nil && rep.Failed.Files == 0
	switch {
	case complete:
	case c.outage && runErr == nil:
		// Files whose requests ran out of attempts while the server was away, each reported: exit 1.
	default:
		t.Errorf("the run did not complete: err %v, %d failed", runErr, rep.Failed.Files)
	}

	if !complete || open > 0 {
		// What a user does after exit 1: run again. The rerun goes through the same proxy, without faults. After a
		// complete upload that left multipart uploads open (a CreateMultipartUpload whose answer was lost and so was
		// sent again), the next run is what aborts them.
		stats2 := &s3store.RequestStats{}
		rep2, err := faultSync(context.Background(), faultStore(t, p.URL, bucket, stats2), from, to, stats2, &log)
		if err != nil || rep2.Failed.Files != 0 {
			t.Fatalf("rerun: err %v, %d failed: %+v", err, rep2.Failed.Files, rep2.Failures)
		}
		row.happened += fmt.Sprintf("; rerun: %d transferred, 0 failed, %.1f s", rep2.Transferred.Files, rep2.Seconds)
		verified, open := verifyFaultResult(t, dir, clean, remote, local, files, nil, false)
		row.verified += "; after the rerun: " + verified
		if open > 0 {
			t.Errorf("the rerun left %d multipart uploads open", open)
		}
	}
}

// faultStore builds the engine's S3 side as the CLI does (s3store.LoadConfig, s3store.NewClient), aimed at the proxy.
func faultStore(t *testing.T, endpoint, bucket string, stats *s3store.RequestStats) *s3store.Store {
	t.Helper()
	o := s3store.ClientOptions{Endpoint: endpoint, Stats: stats, MaxConns: 64}
	cfg, err := s3store.LoadConfig(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return s3store.New(s3store.NewClient(cfg, o), bucket, s3store.Options{PartSize: faultPartSize, PartConcurrency: 4})
}

// faultSync runs a sync as the CLI does; stats is the request counter of the store's client, for the report.
func faultSync(ctx context.Context, store *s3store.Store, from, to string, stats *s3store.RequestStats, log *bytes.Buffer) (*transfer.Report, error) {
	s, err := transfer.ParseLocation(from)
	if err != nil {
		return nil, err
	}
	d, err := transfer.ParseLocation(to)
	if err != nil {
		return nil, err
	}
	return transfer.Run(ctx, store, transfer.Options{Src: s, Dst: d, Recursive: true, Concurrency: 8, PartSize: faultPartSize,
		PartConcurrency: 4, Stats: stats, Log: slog.New(slog.NewTextHandler(log, nil))})
}

// armOutage makes the proxy go down as the 14th of the run's 39 data requests (PUTs, object GETs) arrives: a third
// of the way through, with small and large files in flight. The rule runs as each request arrives, so the run
// cannot slip past that point (a download of this tree takes about 0.1 s); the request that trips it has its
// connection closed, as by a server that died holding it. The returned channel closes when the proxy is down.
func armOutage(p *faultproxy.Proxy) <-chan struct{} {
	wentDown := make(chan struct{})
	var n atomic.Int32
	p.SetRule(func(r *http.Request, _ int) faultproxy.Action {
		if (r.Method == http.MethodPut || isObjectGet(r)) && n.Add(1) == 14 {
			p.Down()
			close(wentDown)
		}
		return faultproxy.Action{}
	})
	return wentDown
}

// outage waits for the armed outage, keeps the proxy down for faultOutage and brings it back. It returns when, into
// the run, the proxy went down.
func outage(t *testing.T, p *faultproxy.Proxy, wentDown, done <-chan struct{}, began time.Time) time.Duration {
	t.Helper()
	select {
	case <-wentDown:
	case <-done:
		t.Fatal("the run finished before the outage")
	}
	at := time.Since(began)
	time.Sleep(faultOutage)
	if err := p.Up(); err != nil {
		t.Fatal(err)
	}
	return at
}

// verifyFaultResult checks the destination against the source and returns the table's "verified" text. A download
// is checked in place; an upload is read back with the clean client (which verifies each object's CRC32C). Files
// may be missing only if the run reported them failed or stopped with a fatal error; every file present must have
// the source's bytes, mode and mtime; no temp file may be left.
func verifyFaultResult(t *testing.T, dir transfer.Direction, clean *s3store.Store, remote, local string, files map[string][]byte, failed map[string]bool, stopped bool) (string, int) {
	t.Helper()
	note, open := "", 0
	if dir == transfer.Upload {
		local = t.TempDir()
		rep, err := runSyncErr(context.Background(), clean, remote, local, runCfg{})
		if err != nil || rep.Failed.Files != 0 {
			t.Errorf("reading back %s: err %v, failures %+v", remote, err, rep.Failures)
		}
		loc, _ := transfer.ParseLocation(remote)
		open = openUploads(t, clean, loc.DirPrefix())
		note = fmt.Sprintf(", %d multipart uploads left open", open)
	}
	var temps []string
	present := map[string][]byte{}
	filepath.WalkDir(local, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Error(err)
			return nil
		}
		if fsx.IsTemp(d.Name()) || strings.HasPrefix(d.Name(), fsx.TempPrefix) {
			temps = append(temps, p)
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(local, p)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Error(err)
			}
			present[filepath.ToSlash(rel)] = b
		}
		return nil
	})
	if len(temps) > 0 {
		t.Errorf("temp files left: %v", temps)
	}
	same, missing := 0, 0
	for key, want := range files {
		got, ok := present[key]
		switch {
		case !ok && (failed[key] || stopped):
			missing++
		case !ok:
			t.Errorf("%s is missing and was not reported failed", key)
		case !bytes.Equal(got, want):
			t.Errorf("%s: %d bytes differ from the source's %d", key, len(got), len(want))
		default:
			same++
		}
	}
	for key := range present {
		if _, ok := files[key]; !ok {
			t.Errorf("%s exists but is not in the source", key)
		}
	}
	// Mode and mtime too, for the files that are there.
	for key, desc := range snapshot(t, local) {
		if want := metaOf(files, key); want != "" && !strings.HasPrefix(desc, want) {
			t.Errorf("%s: %q, want mode, size and mtime %q", key, desc, want)
		}
	}
	s := fmt.Sprintf("%d/%d files byte-identical", same, len(files))
	switch {
	case missing > 0 && stopped:
		s += fmt.Sprintf(", %d not transferred (the run stopped)", missing)
	case missing > 0:
		s += fmt.Sprintf(", %d missing and reported failed", missing)
	}
	return s + fmt.Sprintf(", %d temp files", len(temps)) + note, open
}

// metaOf is the start of snapshot's description of a source file: mode, size and mtime.
func metaOf(files map[string][]byte, key string) string {
	b, ok := files[key]
	if !ok {
		return ""
	}
	return fmt.Sprintf("%s %d %d", fs.FileMode(0o640), len(b), time.Unix(1700000000, 0).UnixNano())
}

// openUploads counts the multipart uploads under prefix that were neither completed nor aborted: they are invisible
// but cost storage.
func openUploads(t *testing.T, s *s3store.Store, prefix string) int {
	t.Helper()
	ups, err := s.ListUploads(context.Background(), prefix)
	if err != nil {
		t.Errorf("list multipart uploads: %v", err)
	}
	return len(ups)
}

// checkRetried asserts that the report counts the retries the injected error answers caused: one each.
func checkRetried(t *testing.T, rep *transfer.Report, stats *s3store.RequestStats, reqs []faultproxy.Request) string {
	injected := 0
	for _, r := range reqs {
		if r.Action.Fault != faultproxy.Pass {
			injected++
		}
	}
	if rep.Retries == 0 || rep.Retries != int64(injected) {
		t.Errorf("report counts %d retries; the proxy answered %d requests with an error", rep.Retries, injected)
	}
	return fmt.Sprintf("%d requests for %d operations", len(reqs), stats.Ops())
}

// checkRepeated says how many of the requests the proxy broke were sent again: by the SDK's retryer (counted in the
// report's retries) or, for an object's body, by the transfer manager, whose second GET is a new operation and so
// not in the report's retries.
func checkRepeated(t *testing.T, rep *transfer.Report, stats *s3store.RequestStats, reqs []faultproxy.Request) string {
	sent := map[string]int{}
	for _, r := range reqs {
		sent[r.Method+" "+r.URI]++
	}
	broken, repeated := 0, 0
	for _, r := range reqs {
		if r.Action.Fault != faultproxy.Pass {
			broken++
			if sent[r.Method+" "+r.URI] > 1 {
				repeated++
			}
		}
	}
	return fmt.Sprintf("%d of %d broken requests sent again, %d requests for %d operations", repeated, broken, len(reqs), stats.Ops())
}

// checkBackoff asserts that throttling was met with backoff, not a storm: the report counts the retries, the
// requests stay within a small multiple of the operations, no operation exceeds the SDK's 10 attempts, and the
// retries of one operation are spaced by the backoff (for SlowDown the SDK waits a random 0-1 s, then 0-2 s, ...).
func checkBackoff(t *testing.T, rep *transfer.Report, stats *s3store.RequestStats, reqs []faultproxy.Request) string {
	injected := 0
	byOp := map[string][]faultproxy.Request{}
	for _, r := range reqs {
		if r.Action.Fault == faultproxy.SlowDown {
			injected++
		}
		byOp[r.InvocationID] = append(byOp[r.InvocationID], r)
	}
	if rep.Retries == 0 || rep.Retries != int64(injected) {
		t.Errorf("report counts %d retries; the proxy answered %d requests with SlowDown", rep.Retries, injected)
	}
	ops := stats.Ops()
	if int64(len(reqs)) > 2*ops {
		t.Errorf("%d requests for %d operations: a retry storm (at 30%% failures, about 1.4 tries each)", len(reqs), ops)
	}
	var gaps []time.Duration
	maxTries := 0
	for id, tries := range byOp {
		if id == "" {
			t.Errorf("%d requests without amz-sdk-invocation-id", len(tries))
			continue
		}
		maxTries = max(maxTries, len(tries))
		if tries[0].Method == http.MethodHead {
			// An answer to HEAD has no body, so the SDK cannot see "SlowDown": it backs off as from any 503, from
			// 50 ms rather than from 1 s.
			continue
		}
		slices.SortFunc(tries, func(a, b faultproxy.Request) int { return a.Start.Compare(b.Start) })
		for i := 1; i < len(tries); i++ {
			gaps = append(gaps, tries[i].Start.Sub(tries[i-1].End))
		}
	}
	if maxTries > s3store.MaxAttempts {
		t.Errorf("an operation was tried %d times, more than %d", maxTries, s3store.MaxAttempts)
	}
	if len(gaps) == 0 {
		t.Fatal("no operation was retried")
	}
	slices.Sort(gaps)
	short := 0
	for _, g := range gaps {
		if g < 5*time.Millisecond {
			short++
		}
	}
	median := gaps[len(gaps)/2]
	// The first retry after SlowDown waits uniformly 0-1 s, so about 0.5% of gaps fall under 5 ms by chance.
	if median < 100*time.Millisecond || short > len(gaps)/10 {
		t.Errorf("retries not spaced by backoff: median gap %v, %d of %d gaps under 5 ms", median, short, len(gaps))
	}
	return fmt.Sprintf("%d requests for %d operations, peak %d req/s; gap between tries of one operation: min %v, median %v, max %v",
		len(reqs), ops, peakRate(reqs), gaps[0].Round(time.Millisecond), median.Round(time.Millisecond), gaps[len(gaps)-1].Round(time.Millisecond))
}

// peakRate is the most requests that arrived within any one second.
func peakRate(reqs []faultproxy.Request) int {
	peak, j := 0, 0
	for i := range reqs {
		for reqs[i].Start.Sub(reqs[j].Start) >= time.Second {
			j++
		}
		peak = max(peak, i-j+1)
	}
	return peak
}

// s3Operation extracts the operation name from an SDK error message ("operation error S3: ListObjectsV2, ...").
func s3Operation(msg string) string {
	_, after, ok := strings.Cut(msg, "operation error S3: ")
	if !ok {
		return "S3"
	}
	op, _, _ := strings.Cut(after, ",")
	return op
}

// briefError keeps the operation and the final cause of an SDK error message, without request ids and bucket names.
func briefError(msg string) string {
	return s3Operation(msg) + ": " + msg[strings.LastIndex(msg, ", ")+2:]
}
