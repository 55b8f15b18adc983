package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fsxsync/fsxsync/internal/awsproxy"
)

// A verdict never claims more than it proved. A probe that ends in neither success nor a genuine denial (here S3
// answers the --delete probe's DeleteObject with 501 NotImplemented, which the SDK does not retry; S3 API Reference,
// "Error responses") leaves its permission not checked: check says so and exits 5 instead of "check passed", a sync
// goes on with one warning naming the row, and --strict stops the sync before the first byte.
func TestUnprovenIsNotAllowed(t *testing.T) {
	f := newKTFixture(t)
	src := filepath.Join(f.dir, "src")
	ktWriteTree(t, src, ktTree{"a.txt": ktRandom(100)})
	proxy, err := awsproxy.Start(f.env.S3Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	proxy.AnswerError(awsproxy.Ops("DeleteObject"), http.StatusNotImplemented, "NotImplemented",
		"A header you provided implies functionality that is not implemented.", nil)
	bucket := f.env.NewBucket(t)
	env := f.environ(bucket, proxy.URL)
	dst := "s3://" + bucket + "/p"

	res := f.run(t, env, "check", "--delete", src, dst)
	if res.code != exitUnproven || strings.Contains(res.stdout, "check passed") {
		t.Errorf("check: want exit %d and no 'check passed'; got %s", exitUnproven, res)
	}
	if !strings.Contains(res.stderr, "s3:DeleteObject") || !strings.Contains(res.stderr, "not checked") {
		t.Errorf("check does not show the DeleteObject row as not checked:\n%s", res.stderr)
	}

	res = f.run(t, env, "sync", "--delete", "--strict", src, dst)
	if res.code != exitUnproven {
		t.Errorf("sync --strict: want exit %d; got %s", exitUnproven, res)
	}
	if n := countKeys(t, f.s3, bucket, "p/"); n != 0 {
		t.Errorf("sync --strict stored %d objects before stopping, want none", n)
	}

	res = f.run(t, env, "sync", "--delete", src, dst)
	if res.code != exitOK {
		t.Errorf("sync: want exit 0 (nothing needed deleting); got %s", res)
	}
	if !strings.Contains(res.stderr, "1 not checked") || !strings.Contains(res.stderr, "s3:DeleteObject") ||
		strings.Contains(res.stderr, "passed all") {
		t.Errorf("sync: want one warning naming the row not checked, and no 'passed all':\n%s", res.stderr)
	}
	if n := countKeys(t, f.s3, bucket, "p/"); n != 1 {
		t.Errorf("sync stored %d objects, want 1", n)
	}
}
