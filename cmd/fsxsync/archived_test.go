package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fsxsync/fsxsync/internal/awsproxy"
	"github.com/fsxsync/fsxsync/transfer"
)

// archivedFixture is a bucket with p/a.dat, p/b.dat, p/cold.dat (GLACIER), p/deep.dat (DEEP_ARCHIVE) and
// p/restored.dat (GLACIER, restored), reached through the AWS-behaviours proxy in front of versitygw (with IAM).
func archivedFixture(t *testing.T) (f *ktFixture, proxy *awsproxy.Proxy, env []string, bucket string) {
	t.Helper()
	f = newKTFixture(t)
	seed := filepath.Join(f.dir, "seed")
	ktWriteTree(t, seed, ktTree{"a.dat": []byte("aaaa"), "b.dat": []byte("bbbb"), "cold.dat": []byte("cold data"),
		"deep.dat": []byte("deep data!"), "restored.dat": []byte("restored")})
	bucket = f.env.NewBucket(t)
	if res := f.run(t, f.environ(bucket, f.env.S3Endpoint), "sync", seed, "s3://"+bucket+"/p"); res.code != 0 {
		t.Fatalf("seeding the bucket: %s", res)
	}
	proxy, err := awsproxy.Start(f.env.S3Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	proxy.Archive("GLACIER", "p/cold.dat", "p/restored.dat")
	proxy.Archive("DEEP_ARCHIVE", "p/deep.dat")
	proxy.RestoreDone("p/restored.dat")
	return f, proxy, f.environ(bucket, proxy.URL), bucket
}

// requestsSince returns the proxy's requests of operation op from request n of its log on, by object key, leaving
// out the preflight's probes of a key no object has.
func requestsSince(p *awsproxy.Proxy, bucket, op string, n int) map[string][]awsproxy.Request {
	out := map[string][]awsproxy.Request{}
	for _, r := range p.Requests()[n:] {
		key := strings.TrimPrefix(strings.SplitN(r.URI, "?", 2)[0], "/"+bucket+"/")
		if r.Op == op && !strings.Contains(key, ".fsxsync-preflight-") {
			out[key] = append(out[key], r)
		}
	}
	return out
}

// A stage-in meets archived objects (S3 API Reference: GetObject, RestoreObject; S3 User Guide, "Working with
// archived objects"): they are known from the listing and skipped without a GET, with one warning each naming the
// key, the class and how to restore them, counted apart in the summary and the report, and the run exits 6, so
// that the job notices its inputs are not all there. The restored object and the others download; --delete leaves
// the local copy of an archived key alone. --force-glacier-transfer (aws-cli's name) tries them: exit 1.
// --restore-archived 3:Bulk asks once per archived object and still exits 6; a rerun finds the restores in progress
// and asks nothing; once they are done, a rerun downloads them and exits 0.
func TestArchivedObjectsStageIn(t *testing.T) {
	f, proxy, env, bucket := archivedFixture(t)
	src := "s3://" + bucket + "/p"
	dst := filepath.Join(f.dir, "in")
	ktWriteTree(t, dst, ktTree{"cold.dat": []byte("an older cold")})
	report := filepath.Join(f.dir, "report.json")

	n := len(proxy.Requests())
	res := f.run(t, env, "sync", "--delete", "--report", report, src, dst)
	if res.code != exitArchived {
		t.Fatalf("want exit %d; got %s", exitArchived, res)
	}
	for key, class := range map[string]string{"cold.dat": "GLACIER", "deep.dat": "DEEP_ARCHIVE"} {
		if c := strings.Count(res.stderr, "key="+key+" storage_class="+class); c != 1 {
			t.Errorf("%d warnings name %s (%s), want 1:\n%s", c, key, class, res.stderr)
		}
	}
	if !strings.Contains(res.stderr, "restore it first (run again with --restore-archived DAYS") ||
		!strings.Contains(res.stderr, "aws s3api restore-object") {
		t.Errorf("the warnings do not say how to restore:\n%s", res.stderr)
	}
	if !strings.Contains(res.stdout, "transferred 3 files") || !strings.Contains(res.stdout, "failed 0") ||
		!strings.Contains(res.stdout, ", 2 archived objects skipped (19 B; restore them first: --restore-archived DAYS)") {
		t.Errorf("summary:\n%s", res.stdout)
	}
	rep := readReport(t, report)
	if rep.Archived != (transfer.ArchivedCount{Files: 2, Bytes: 19}) || rep.Transferred.Files != 3 ||
		rep.Failed.Files != 0 || rep.Skipped.Files != 0 || rep.Deleted.Files != 0 {
		t.Errorf("report: archived %+v transferred %+v skipped %+v failed %+v deleted %+v",
			rep.Archived, rep.Transferred, rep.Skipped, rep.Failed, rep.Deleted)
	}
	if g := requestsSince(proxy, bucket, "GetObject", n); len(g["p/cold.dat"])+len(g["p/deep.dat"]) != 0 || len(g["p/restored.dat"]) != 1 {
		t.Errorf("GETs %v: want none for the archived objects, one for the restored one", g)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "cold.dat")); err != nil || string(b) != "an older cold" {
		t.Errorf("the local copy of an archived key: %q, %v; want it left as it was (--delete must not remove it)", b, err)
	}
	for name, body := range map[string]string{"a.dat": "aaaa", "b.dat": "bbbb", "restored.dat": "restored"} {
		if b, err := os.ReadFile(filepath.Join(dst, name)); err != nil || string(b) != body {
			t.Errorf("%s: %q, %v", name, b, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dst, "deep.dat")); err == nil {
		t.Error("deep.dat was written")
	}

	// One object with cp: the HEAD says it is archived. (The preflight would read a byte of the object itself to
	// prove s3:GetObject, so it is left out here: what is checked is that the copy sends no GET.)
	n = len(proxy.Requests())
	res = f.run(t, env, "cp", "--no-preflight", src+"/deep.dat", filepath.Join(f.dir, "one.dat"))
	if res.code != exitArchived || !strings.Contains(res.stderr, "key=deep.dat storage_class=DEEP_ARCHIVE") ||
		len(requestsSince(proxy, bucket, "GetObject", n)["p/deep.dat"]) != 0 {
		t.Errorf("cp of an archived object: want exit %d, a warning and no GET; got %s", exitArchived, res)
	}

	// aws-cli's --force-glacier-transfer: the GETs are sent, and each archived object fails, naming its class.
	n = len(proxy.Requests())
	res = f.run(t, env, "sync", "--force-glacier-transfer", src, filepath.Join(f.dir, "forced"))
	if res.code != exitSomeFailed || !strings.Contains(res.stderr, "archived object (GLACIER) not restored") ||
		!strings.Contains(res.stderr, "archived object (DEEP_ARCHIVE) not restored") {
		t.Errorf("--force-glacier-transfer: want exit %d with each archived object failing; got %s", exitSomeFailed, res)
	}
	if g := requestsSince(proxy, bucket, "GetObject", n); len(g["p/cold.dat"]) != 1 || len(g["p/deep.dat"]) != 1 {
		t.Errorf("--force-glacier-transfer GETs %v: want one for each archived object", g)
	}

	// --restore-archived 3:Bulk: one RestoreObject per archived object, with that body; still not downloaded.
	n = len(proxy.Requests())
	res = f.run(t, env, "sync", "--restore-archived", "3:Bulk", "--report", report, src, dst)
	if res.code != exitArchived || strings.Count(res.stderr, "restore requested") != 2 ||
		!strings.Contains(res.stdout, "restore requested for 2, in progress for 0") {
		t.Errorf("--restore-archived 3:Bulk: want exit %d, two restores requested; got %s", exitArchived, res)
	}
	restores := requestsSince(proxy, bucket, "RestoreObject", n)
	for _, key := range []string{"p/cold.dat", "p/deep.dat"} {
		if r := restores[key]; len(r) != 1 || r[0].Restore == nil || *r[0].Restore != (awsproxy.RestoreRequest{Key: key, Days: 3, Tier: "Bulk"}) {
			t.Errorf("restores of %s: %+v; want one, for 3 days at Bulk", key, r)
		}
	}
	if len(restores) != 2 {
		t.Errorf("restores asked for %d keys, want 2: %v", len(restores), restores)
	}
	if rep := readReport(t, report); rep.Archived != (transfer.ArchivedCount{Files: 2, Bytes: 19, RestoreRequested: 2}) {
		t.Errorf("report: archived %+v", rep.Archived)
	}

	// A rerun while the restores are under way asks for nothing.
	n = len(proxy.Requests())
	res = f.run(t, env, "sync", "--restore-archived", "3:Bulk", "--report", report, src, dst)
	if res.code != exitArchived || !strings.Contains(res.stdout, "restore requested for 0, in progress for 2") ||
		strings.Count(res.stderr, "a restore is already in progress") != 2 {
		t.Errorf("rerun while restoring: want exit %d and two restores in progress; got %s", exitArchived, res)
	}
	if r := requestsSince(proxy, bucket, "RestoreObject", n); len(r) != 0 {
		t.Errorf("a rerun while restoring asked again: %v", r)
	}
	if rep := readReport(t, report); rep.Archived != (transfer.ArchivedCount{Files: 2, Bytes: 19, RestoreInProgress: 2}) {
		t.Errorf("report: archived %+v", rep.Archived)
	}

	// Once restored, a rerun downloads them and the stage-in is complete.
	proxy.RestoreDone("p/cold.dat", "p/deep.dat")
	res = f.run(t, env, "sync", "--restore-archived", "3:Bulk", src, dst)
	if res.code != exitOK || strings.Contains(res.stdout, "archived") {
		t.Errorf("after the restores: want exit 0; got %s", res)
	}
	for name, body := range map[string]string{"cold.dat": "cold data", "deep.dat": "deep data!"} {
		if b, err := os.ReadFile(filepath.Join(dst, name)); err != nil || string(b) != body {
			t.Errorf("%s after its restore: %q, %v", name, b, err)
		}
	}
}

// --restore-archived needs s3:RestoreObject, which the preflight proves with a restore of a key that does not exist
// (S3 authorizes before it looks the key up), never of a real object. Through versitygw's IAM: allowed for the root
// user, refused (exit 3, naming the action) for a user without it. A server that cannot restore at all (versitygw
// alone answers 501) proves nothing: check says not proven (exit 5). Bad values are usage errors that say what was
// wrong (exit 2).
func TestRestoreArchivedPreflight(t *testing.T) {
	f, proxy, env, bucket := archivedFixture(t)
	src := "s3://" + bucket + "/p"
	dst := filepath.Join(f.dir, "in")

	n := len(proxy.Requests())
	res := f.run(t, env, "check", "--restore-archived", "3", src, dst)
	if res.code != exitOK || !strings.Contains(res.stderr, "s3:RestoreObject on arn:aws:s3:::"+bucket+"/p/*") {
		t.Errorf("check --restore-archived: want exit 0 with s3:RestoreObject proven; got %s", res)
	}
	for key := range requestsSince(proxy, bucket, "RestoreObject", n) {
		t.Errorf("the preflight asked to restore %s, a real object", key)
	}

	ak, sk := f.env.NewUser(t, "norestore-"+bucket[len(bucket)-8:], `{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": "arn:aws:s3:::`+bucket+`"},
		{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::`+bucket+`/*"}]}`)
	user := append(env, "AWS_ACCESS_KEY_ID="+ak, "AWS_SECRET_ACCESS_KEY="+sk)
	res = f.run(t, user, "sync", "--restore-archived", "3", src, dst)
	if res.code != exitDenied || !strings.Contains(res.stderr, "may not s3:RestoreObject on arn:aws:s3:::"+bucket+"/p/*") {
		t.Errorf("sync --restore-archived without s3:RestoreObject: want exit %d naming it; got %s", exitDenied, res)
	}
	if _, err := os.Stat(filepath.Join(dst, "a.dat")); err == nil {
		t.Error("the refused run downloaded files")
	}
	// The same user without --restore-archived needs no such permission.
	if res := f.run(t, user, "sync", src, dst); res.code != exitArchived {
		t.Errorf("sync without --restore-archived: want exit %d; got %s", exitArchived, res)
	}

	// versitygw alone has no archive tier: its 501 proves nothing.
	res = f.run(t, f.environ(bucket, f.env.S3Endpoint), "check", "--restore-archived", "3", src, dst)
	if res.code != exitUnproven || !strings.Contains(res.stderr, "NotImplemented") {
		t.Errorf("check --restore-archived against versitygw alone: want exit %d, not checked; got %s", exitUnproven, res)
	}

	for _, tc := range []struct{ args, want string }{
		{"--restore-archived 0", `--restore-archived "0": DAYS is how many days the restored copy stays readable, a whole number from 1 to 36500`},
		{"--restore-archived 7:Slow", `--restore-archived "7:Slow": the retrieval tier "Slow" is not one of Standard (the default), Bulk or Expedited`},
		{"--restore-archived 7 --force-archived-transfer", "--restore-archived and --force-archived-transfer contradict each other"},
	} {
		args := append(append([]string{"sync"}, strings.Fields(tc.args)...), src, dst)
		if res := f.run(t, env, args...); res.code != exitUsage || !strings.Contains(res.stderr, tc.want) {
			t.Errorf("%s: want exit %d saying %q; got %s", tc.args, exitUsage, tc.want, res)
		}
	}
}
