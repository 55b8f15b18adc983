package transfer_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/fsxsync/fsxsync/internal/awsproxy"
	"github.com/fsxsync/fsxsync/transfer"
	"github.com/fsxsync/fsxsync/transfer/s3store"
)

// unorderedRun syncs from -> to through store with the sort settings given, and returns the report and the log.
func unorderedRun(t *testing.T, store transfer.ObjectStore, from, to string, del, sorted bool, budget int64, tmp string) (*transfer.Report, string) {
	t.Helper()
	s, err := transfer.ParseLocation(from)
	if err != nil {
		t.Fatal(err)
	}
	d, err := transfer.ParseLocation(to)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	rep, err := transfer.Run(context.Background(), store, transfer.Options{Src: s, Dst: d, Recursive: true, Delete: del,
		Concurrency: 8, Log: slog.New(slog.NewTextHandler(&log, nil)), SortListing: sorted, SortBudget: budget, TempDir: tmp})
	if err != nil {
		t.Fatalf("sync %s %s: %v\n%s", from, to, err, log.String())
	}
	if rep.Failed.Files != 0 {
		t.Fatalf("sync %s %s: %d failed: %+v", from, to, rep.Failed.Files, rep.Failures)
	}
	return rep, log.String()
}

// The S3 listing comes shuffled within and across pages, as a directory bucket's does (S3 API Reference:
// ListObjectsV2: "returns objects in an order that is not lexicographical" for directory buckets), through the
// AWS-behaviours proxy in front of versitygw. Sorted from the start (SortListing, as for a directory bucket), with a
// memory budget so small that the sort spills to disk, and used as it comes (the engine notices, lists again and
// sorts), every sync ends exact: everything transferred once, a second run idle, --delete removing exactly what the
// other side lacks, and no spill file left behind.
func TestUnorderedListingEngine(t *testing.T) {
	seedStore, bucket := newStore(t)
	tree := map[string][]byte{}
	for i := range 1100 {
		tree[fmt.Sprintf("flat/f%04d", i)] = []byte(fmt.Sprint(i))
	}
	for i := range 60 {
		tree[fmt.Sprintf("d%d/x%02d", i%6, i)] = randBytes(100)
	}
	src := t.TempDir()
	writeTree(t, src, tree, time.Now().Add(-time.Hour))
	runSync(t, seedStore, src, "s3://"+bucket+"/p", runCfg{})

	proxy, err := awsproxy.Start(srv(t).Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	proxy.Unordered(3)
	c := s3.New(s3.Options{BaseEndpoint: aws.String(proxy.URL), Region: srv(t).Region, UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(srv(t).AccessKey, srv(t).SecretKey, "")})
	store := s3store.New(c, bucket, s3store.Options{})

	for _, c := range []struct {
		name   string
		sorted bool
		budget int64
	}{
		{"sorted, spilling", true, 16 << 10},
		{"sorted", true, 0},
		{"noticed", false, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			spill := t.TempDir()
			dst := t.TempDir()
			rep, log := unorderedRun(t, store, "s3://"+bucket+"/p", dst, false, c.sorted, c.budget, spill)
			if rep.Transferred.Files != int64(len(tree)) || rep.Skipped.Files != 0 {
				t.Errorf("first sync: transferred %d, skipped %d; want %d and 0", rep.Transferred.Files, rep.Skipped.Files, len(tree))
			}
			if noticed := strings.Contains(log, "out of key order"); noticed == c.sorted {
				t.Errorf("warned of a listing out of order: %v, want %v\n%s", noticed, !c.sorted, log)
			}
			diffSnapshots(t, snapshot(t, src), snapshot(t, dst))

			rep, _ = unorderedRun(t, store, "s3://"+bucket+"/p", dst, false, c.sorted, c.budget, spill)
			if rep.Transferred.Files != 0 || rep.Skipped.Files != int64(len(tree)) {
				t.Errorf("second sync: transferred %d, skipped %d; want 0 and %d", rep.Transferred.Files, rep.Skipped.Files, len(tree))
			}

			extra := filepath.Join(dst, "flat", "f0500x")
			if err := os.WriteFile(extra, []byte("extra"), 0o644); err != nil {
				t.Fatal(err)
			}
			rep, _ = unorderedRun(t, store, "s3://"+bucket+"/p", dst, true, c.sorted, c.budget, spill)
			if rep.Deleted.Files != 1 || rep.Transferred.Files != 0 {
				t.Errorf("--delete: deleted %d, transferred %d; want 1 and 0", rep.Deleted.Files, rep.Transferred.Files)
			}
			diffSnapshots(t, snapshot(t, src), snapshot(t, dst))

			if left, _ := os.ReadDir(spill); len(left) != 0 {
				t.Errorf("spill files left behind: %v", left)
			}
		})
	}

	// Upload with --delete through the shuffled listing: exactly the objects the local tree lacks go.
	up := t.TempDir()
	local := map[string][]byte{}
	for k, v := range tree {
		if !strings.HasSuffix(k, "7") {
			local[k] = v
		}
	}
	writeTree(t, up, local, time.Now().Add(-time.Hour))
	unorderedRun(t, store, up, "s3://"+bucket+"/p", true, false, 0, t.TempDir())
	got := objectKeys(t, srv(t).Client(), bucket, "p/")
	var want []string
	for k := range local {
		want = append(want, "p/"+k)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("after upload --delete the bucket holds %d keys, want %d", len(got), len(want))
	}
}
