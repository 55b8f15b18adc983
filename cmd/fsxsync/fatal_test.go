package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fsxsync/fsxsync/internal/faultproxy"
)

// With --no-preflight nothing has checked the bucket's region or the clock before the transfer starts, so the
// transfer itself meets S3's answer. An answer every other request would get too stops the run at the first one,
// with the exit code of its kind, instead of failing file after file and exiting 1. The answers are S3's own, made by
// the fault proxy in front of versitygw, which cannot produce them (S3 API Reference, "Error responses":
// PermanentRedirect is 301 with the bucket's region in x-amz-bucket-region; RequestTimeTooSkewed is 403).
func TestFatalAnswersWithoutPreflight(t *testing.T) {
	f := newKTFixture(t)
	src := filepath.Join(f.dir, "src")
	tree := ktTree{}
	for i := range 20 {
		tree[fmt.Sprintf("f%02d.dat", i)] = ktRandom(100 + i)
	}
	ktWriteTree(t, src, tree)
	proxy, err := faultproxy.Start(f.env.S3Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	isPut := func(r *http.Request) bool { return r.Method == http.MethodPut }
	everything := func(*http.Request) bool { return true }
	for _, tc := range []struct {
		name  string
		fault faultproxy.Fault
		on    func(*http.Request) bool
		code  string
		exit  int
	}{
		// The listing of the destination is the first request: it meets the answer before any upload.
		{"wrong region, listing", faultproxy.WrongRegion, everything, "PermanentRedirect", exitUsage},
		{"clock skew, listing", faultproxy.ClockSkew, everything, "RequestTimeTooSkewed", exitNoCreds},
		// The listing passes and the first upload meets it: the run stops there rather than try the other 19.
		{"wrong region, upload", faultproxy.WrongRegion, isPut, "PermanentRedirect", exitUsage},
		{"clock skew, upload", faultproxy.ClockSkew, isPut, "RequestTimeTooSkewed", exitNoCreds},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bucket := f.env.NewBucket(t)
			proxy.SetRule(func(r *http.Request, _ int) faultproxy.Action {
				if tc.on(r) {
					return faultproxy.Action{Fault: tc.fault}
				}
				return faultproxy.Action{}
			})
			before := len(proxy.Requests())
			res := f.run(t, f.environ(bucket, proxy.URL), "sync", "--no-preflight", "--concurrency", "1", "--state-dir", "none",
				src, "s3://"+bucket+"/p")
			if res.code != tc.exit {
				t.Errorf("exit code %d, want %d\n%s", res.code, tc.exit, res)
			}
			if !strings.Contains(res.stderr, tc.code) {
				t.Errorf("stderr does not name %s:\n%s", tc.code, res.stderr)
			}
			var faulted []string
			for _, r := range proxy.Requests()[before:] {
				// Before the transfer, fsxsync asks the bucket's region (a HeadBucket of the bucket alone) and looks for
				// multipart uploads an interrupted run left open (a courtesy whose failure is only logged): the
				// transfer's own requests are what must stop at the first.
				headBucket := r.Method == http.MethodHead && !strings.Contains(strings.TrimPrefix(r.URI, "/"), "/")
				if r.Action.Fault == tc.fault && !strings.Contains(r.URI, "uploads=") && !headBucket {
					faulted = append(faulted, r.Method+" "+r.URI)
				}
			}
			if len(faulted) != 1 {
				t.Errorf("%d requests met %s, want 1: the run should stop at the first: %q", len(faulted), tc.code, faulted)
			}
			if n := countKeys(t, f.s3, bucket, "p/"); n != 0 {
				t.Errorf("%d objects were stored, want none", n)
			}
		})
	}
}
