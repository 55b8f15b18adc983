package transfer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/fsxsync/fsxsync/internal/awsproxy"
	"github.com/fsxsync/fsxsync/transfer"
	"github.com/fsxsync/fsxsync/transfer/s3store"
)

// archivedRun runs one download (sync, or cp of one object when recursive is false) through store and returns the
// report and the log.
func archivedRun(t *testing.T, store transfer.ObjectStore, from, to string, o transfer.Options) (*transfer.Report, string) {
	t.Helper()
	var err error
	if o.Src, err = transfer.ParseLocation(from); err != nil {
		t.Fatal(err)
	}
	if o.Dst, err = transfer.ParseLocation(to); err != nil {
		t.Fatal(err)
	}
	var log, out bytes.Buffer
	o.Log, o.Out, o.Concurrency = slog.New(slog.NewTextHandler(&log, nil)), &out, 4
	rep, err := transfer.Run(context.Background(), store, o)
	if err != nil {
		t.Fatalf("download %s %s: %v\n%s", from, to, err, log.String())
	}
	return rep, log.String() + out.String()
}

// gets counts the GetObject requests the proxy saw for each key under bucket, from request n of its log on.
func gets(p *awsproxy.Proxy, bucket string, n int) map[string]int {
	got := map[string]int{}
	for _, r := range p.Requests()[n:] {
		if r.Op == "GetObject" {
			got[strings.TrimPrefix(strings.SplitN(r.URI, "?", 2)[0], "/"+bucket+"/")]++
		}
	}
	return got
}

// A download meets archived objects (through the AWS-behaviours proxy in front of versitygw): GLACIER and
// DEEP_ARCHIVE known from the listing, an INTELLIGENT_TIERING object in an archive tier known only by its GET's
// InvalidObjectState (S3 API Reference: GetObject, ListObjectsV2, RestoreObject; S3 User Guide, "Working with
// archived objects"). Each is skipped with one warning naming it and its class, counted as archived, and never GET
// when the listing said so; a restored one downloads; --delete keeps the local copy of an archived key;
// --force-archived-transfer tries them and fails; --restore-archived asks once per object, a rerun sees the restores
// in progress, and once they are done a rerun downloads them all.
func TestArchivedDownloadEngine(t *testing.T) {
	seed, bucket := newStore(t)
	src := t.TempDir()
	writeTree(t, src, map[string][]byte{"a.dat": []byte("a"), "cold.dat": []byte("cold"), "deep/d.dat": []byte("deep"),
		"restored.dat": []byte("restored"), "tiered.dat": []byte("tiered")}, time.Now().Add(-time.Hour))
	runSync(t, seed, src, "s3://"+bucket+"/p", runCfg{})

	proxy, err := awsproxy.Start(srv(t).Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	proxy.Archive("GLACIER", "p/cold.dat", "p/restored.dat")
	proxy.Archive("DEEP_ARCHIVE", "p/deep/d.dat")
	proxy.Archive("INTELLIGENT_TIERING", "p/tiered.dat")
	proxy.RestoreDone("p/restored.dat")
	c := s3.New(s3.Options{BaseEndpoint: aws.String(proxy.URL), Region: srv(t).Region, UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(srv(t).AccessKey, srv(t).SecretKey, "")})
	store := s3store.New(c, bucket, s3store.Options{})
	from := "s3://" + bucket + "/p"

	// A plain download, with --delete, into a tree that has an older copy of an archived key.
	dst := t.TempDir()
	writeTree(t, dst, map[string][]byte{"cold.dat": []byte("old")}, time.Now().Add(-2*time.Hour))
	n := len(proxy.Requests())
	rep, log := archivedRun(t, store, from, dst, transfer.Options{Recursive: true, Delete: true})
	if rep.Archived != (transfer.ArchivedCount{Files: 3, Bytes: int64(len("cold") + len("deep") + len("tiered"))}) ||
		rep.Transferred.Files != 2 || rep.Failed.Files != 0 || rep.Skipped.Files != 0 || rep.Deleted.Files != 0 {
		t.Errorf("report: archived %+v, transferred %+v, skipped %+v, failed %+v %+v, deleted %+v; want 3 archived, 2 transferred",
			rep.Archived, rep.Transferred, rep.Skipped, rep.Failed, rep.Failures, rep.Deleted)
	}
	for key, class := range map[string]string{"cold.dat": "GLACIER", "deep/d.dat": "DEEP_ARCHIVE", "tiered.dat": "INTELLIGENT_TIERING"} {
		if n := strings.Count(log, "key="+key+" storage_class="+class); n != 1 {
			t.Errorf("%d warnings name %s (%s), want 1:\n%s", n, key, class, log)
		}
	}
	if !strings.Contains(log, "restore it first") {
		t.Errorf("the warnings do not say how to restore:\n%s", log)
	}
	if g := gets(proxy, bucket, n); g["p/cold.dat"]+g["p/deep/d.dat"] != 0 || g["p/a.dat"] != 1 || g["p/restored.dat"] != 1 {
		t.Errorf("GETs %v: want none of the objects the listing says are archived", g)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "cold.dat")); err != nil || string(b) != "old" {
		t.Errorf("the local copy of an archived key: %q, %v; want it kept as it was", b, err)
	}
	for _, name := range []string{"deep/d.dat", "tiered.dat"} {
		if _, err := os.Stat(filepath.Join(dst, name)); err == nil {
			t.Errorf("%s was written", name)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dst, "restored.dat")); err != nil || string(b) != "restored" {
		t.Errorf("the restored object: %q, %v", b, err)
	}

	// A dry run says what it would skip.
	_, log = archivedRun(t, store, from, t.TempDir(), transfer.Options{Recursive: true, DryRun: true})
	if !strings.Contains(log, "(dryrun) skip archived object: s3://"+bucket+"/p/cold.dat (GLACIER), not downloaded") {
		t.Errorf("dry run:\n%s", log)
	}

	// --force-archived-transfer: each archived object fails, naming its class.
	n = len(proxy.Requests())
	rep, _ = archivedRun(t, store, from, t.TempDir(), transfer.Options{Recursive: true, ForceArchived: true})
	if rep.Failed.Files != 3 || rep.Archived.Files != 0 || rep.Transferred.Files != 2 {
		t.Errorf("forced: failed %+v, archived %+v, transferred %+v; want the 3 archived failing", rep.Failed, rep.Archived, rep.Transferred)
	}
	for _, f := range rep.Failures {
		if !strings.Contains(f.Error, "InvalidObjectState") || !strings.Contains(f.Error, "--force-archived-transfer") {
			t.Errorf("forced failure of %s: %q; want S3's InvalidObjectState and the flag named", f.Key, f.Error)
		}
	}
	if g := gets(proxy, bucket, n); g["p/cold.dat"] != 1 || g["p/deep/d.dat"] != 1 {
		t.Errorf("forced GETs %v: want one of each archived object", g)
	}

	// One object, as cp does it: the HEAD says it is archived.
	n = len(proxy.Requests())
	rep, _ = archivedRun(t, store, from+"/cold.dat", filepath.Join(t.TempDir(), "one"), transfer.Options{Compare: transfer.CompareAlways})
	if rep.Archived.Files != 1 || rep.Transferred.Files != 0 || rep.Failed.Files != 0 || gets(proxy, bucket, n)["p/cold.dat"] != 0 {
		t.Errorf("cp of an archived object: archived %+v, transferred %+v, failed %+v, GETs %v",
			rep.Archived, rep.Transferred, rep.Failed, gets(proxy, bucket, n))
	}

	// --restore-archived 3:Bulk asks once per archived object; the next run finds them in progress.
	n = len(proxy.Requests())
	ask := transfer.ArchiveRestore{Days: 3, Tier: "Bulk"}
	rep, log = archivedRun(t, store, from, dst, transfer.Options{Recursive: true, RestoreArchived: ask})
	if rep.Archived != (transfer.ArchivedCount{Files: 3, Bytes: 14, RestoreRequested: 3}) || rep.Failed.Files != 0 {
		t.Errorf("restore: archived %+v, failed %+v; want 3 restores requested", rep.Archived, rep.Failures)
	}
	if n := strings.Count(log, "restore requested"); n != 3 {
		t.Errorf("%d lines say a restore was requested, want 3:\n%s", n, log)
	}
	want := map[string]awsproxy.RestoreRequest{"p/cold.dat": {Key: "p/cold.dat", Days: 3, Tier: "Bulk"},
		"p/deep/d.dat": {Key: "p/deep/d.dat", Days: 3, Tier: "Bulk"},
		// Intelligent-Tiering's archive tiers take no Days.
		"p/tiered.dat": {Key: "p/tiered.dat", Days: 0, Tier: "Bulk"}}
	got := map[string]awsproxy.RestoreRequest{}
	for _, r := range proxy.Requests()[n:] {
		if r.Op == "RestoreObject" {
			if _, twice := got[r.Restore.Key]; twice {
				t.Errorf("%s was asked to be restored twice", r.Restore.Key)
			}
			got[r.Restore.Key] = *r.Restore
		}
	}
	if len(got) != len(want) {
		t.Errorf("restores asked for %+v, want %+v", got, want)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("restore of %s: %+v, want %+v", k, got[k], w)
		}
	}
	n = len(proxy.Requests())
	rep, _ = archivedRun(t, store, from, dst, transfer.Options{Recursive: true, RestoreArchived: ask})
	if rep.Archived != (transfer.ArchivedCount{Files: 3, Bytes: 14, RestoreInProgress: 3}) {
		t.Errorf("rerun: archived %+v; want 3 restores in progress", rep.Archived)
	}
	for _, r := range proxy.Requests()[n:] {
		if r.Op == "RestoreObject" || (r.Op == "GetObject" && !strings.Contains(r.URI, "a.dat") && !strings.Contains(r.URI, "restored.dat")) {
			t.Errorf("rerun while restoring sent %s %s", r.Op, r.URI)
		}
	}

	// Once the restores are done, a rerun downloads them all.
	proxy.RestoreDone("p/cold.dat", "p/deep/d.dat", "p/tiered.dat")
	rep, _ = archivedRun(t, store, from, dst, transfer.Options{Recursive: true, RestoreArchived: ask})
	if rep.Archived.Files != 0 || rep.Transferred.Files != 3 || rep.Failed.Files != 0 {
		t.Errorf("after the restores: archived %+v, transferred %+v, failed %+v; want the 3 transferred", rep.Archived, rep.Transferred, rep.Failures)
	}
	for name, body := range map[string]string{"cold.dat": "cold", "deep/d.dat": "deep", "tiered.dat": "tiered"} {
		if b, err := os.ReadFile(filepath.Join(dst, name)); err != nil || string(b) != body {
			t.Errorf("%s: %q, %v", name, b, err)
		}
	}
}

// disorderedStore lists the first time with its second page out of order, given only once the workers have asked
// for want restores, so that the first pass has asked for them before the engine sees the disorder and lists again.
type disorderedStore struct {
	*s3store.Store
	want     int
	restores atomic.Int32
	asked    chan struct{}
	listed   atomic.Bool
}

func (s *disorderedStore) Restore(ctx context.Context, key string, days int, tier string) (transfer.RestoreAnswer, error) {
	a, err := s.Store.Restore(ctx, key, days, tier)
	if s.restores.Add(1) == int32(s.want) {
		close(s.asked)
	}
	return a, err
}

func (s *disorderedStore) List(ctx context.Context, prefix string, fn func([]transfer.ObjectInfo) error) error {
	if s.listed.Swap(true) {
		return s.Store.List(ctx, prefix, fn)
	}
	var all []transfer.ObjectInfo
	if err := s.Store.List(ctx, prefix, func(objs []transfer.ObjectInfo) error {
		all = append(all, objs...)
		return nil
	}); err != nil {
		return err
	}
	// The first page holds all but b.dat, more than the lister's batch, so that the merge and the workers get the
	// archived a*.dat keys at its start; the second page is b.dat, out of order after the c*.dat keys.
	var first, second []transfer.ObjectInfo
	for _, o := range all {
		if strings.HasSuffix(o.Key, "/b.dat") {
			second = append(second, o)
		} else {
			first = append(first, o)
		}
	}
	if err := fn(first); err != nil {
		return err
	}
	select {
	case <-s.asked:
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(30 * time.Second):
		return errors.New("the first pass asked for no restores")
	}
	return fn(second)
}

// A listing found out of order is listed again (see TestUnorderedListingEngine); the restores the first pass asked
// for are not asked for again, nor counted as restores someone else started, though the second listing says they
// are in progress.
func TestRestoreArchivedAcrossASecondPass(t *testing.T) {
	seed, bucket := newStore(t)
	src := t.TempDir()
	tree := map[string][]byte{"b.dat": []byte("b")}
	for i := range 600 {
		tree[fmt.Sprintf("c%04d.dat", i)] = []byte("c")
	}
	var archived []string
	for i := range 5 {
		tree[fmt.Sprintf("a%d.dat", i)] = []byte("cold")
		archived = append(archived, fmt.Sprintf("p/a%d.dat", i))
	}
	writeTree(t, src, tree, time.Now().Add(-time.Hour))
	runSync(t, seed, src, "s3://"+bucket+"/p", runCfg{})

	proxy, err := awsproxy.Start(srv(t).Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	proxy.Archive("GLACIER", archived...)
	c := s3.New(s3.Options{BaseEndpoint: aws.String(proxy.URL), Region: srv(t).Region, UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(srv(t).AccessKey, srv(t).SecretKey, "")})
	store := &disorderedStore{Store: s3store.New(c, bucket, s3store.Options{}), want: len(archived), asked: make(chan struct{})}

	rep, log := archivedRun(t, store, "s3://"+bucket+"/p", t.TempDir(),
		transfer.Options{Recursive: true, RestoreArchived: transfer.ArchiveRestore{Days: 1, Tier: "Bulk"}})
	if !strings.Contains(log, "out of key order") {
		t.Fatalf("the engine did not see the listing out of order:\n%s", log)
	}
	if rep.Archived != (transfer.ArchivedCount{Files: 5, Bytes: 20, RestoreRequested: 5}) || rep.Transferred.Files != 601 || rep.Failed.Files != 0 {
		t.Errorf("archived %+v, transferred %+v, failed %+v; want 5 restores requested (none in progress), 601 transferred",
			rep.Archived, rep.Transferred, rep.Failures)
	}
	if n := store.restores.Load(); n != 5 {
		t.Errorf("%d restore requests, want 5 (one each)", n)
	}
	if n := strings.Count(log, "restore requested"); n != 5 {
		t.Errorf("%d lines say a restore was requested, want 5:\n%s", n, log)
	}
}
