package main

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fsxsync/fsxsync/internal/awsproxy"
)

// A listing out of key order loses, repeats and wrongly deletes nothing. Directory buckets (S3 Express One Zone)
// list keys "in an order that is not lexicographical" (S3 API Reference: ListObjectsV2), and a server that does not
// sort must not cost a file either. The AWS-behaviours proxy shuffles every page of versitygw's listings and
// carries keys over to the next page; fsxsync notices the first key out of order, holds back its deletes, lists
// again and sorts the listing itself.
func TestUnorderedListing(t *testing.T) {
	f := newKTFixture(t)
	// Over 1,000 keys under one directory, so that its listing takes several pages and keys move between them.
	tree := ktTree{}
	for i := range 1100 {
		tree[fmt.Sprintf("flat/f%04d.bin", i)] = ktRandom(64 + i%200)
	}
	ktSmallFiles(tree, 120)
	src := filepath.Join(f.dir, "src")
	ktWriteTree(t, src, tree)
	bucket := f.env.NewBucket(t)
	if res := f.run(t, f.environ(bucket, f.env.S3Endpoint), "sync", src, "s3://"+bucket+"/p"); res.code != exitOK {
		t.Fatalf("seeding the bucket: %s", res)
	}
	proxy, err := awsproxy.Start(f.env.S3Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	proxy.Unordered(7)
	env := f.environ(bucket, proxy.URL)

	// Download into an empty directory: everything arrives, once.
	dst := filepath.Join(f.dir, "dst")
	res := f.run(t, env, "sync", "s3://"+bucket+"/p", dst)
	if res.code != exitOK || !strings.Contains(res.stderr, "out of key order") {
		t.Fatalf("download: want exit 0 and a warning that the listing was out of order; got %s", res)
	}
	if want := fmt.Sprintf("transferred %d files", len(tree)); !strings.Contains(res.stdout, want) {
		t.Errorf("download: want %q in the summary; got %s", want, res)
	}
	if _, files := ktCheckLocal(t, "download", dst, tree, nil, "", true); files != len(tree) {
		t.Errorf("download: %d files, want %d", files, len(tree))
	}
	if !someListingShuffled(proxy) {
		t.Fatal("the proxy shuffled no listing: the test proves nothing")
	}

	// A second sync has nothing to do.
	res = f.run(t, env, "sync", "s3://"+bucket+"/p", dst)
	if res.code != exitOK || !strings.Contains(res.stdout, "transferred 0 files") || !strings.Contains(res.stdout, "deleted 0") {
		t.Errorf("second download: want nothing transferred or deleted; got %s", res)
	}

	// --delete on the way down removes exactly the local files the bucket lacks.
	extra := ktTree{"flat/extra.bin": ktRandom(10), "d01/extra.bin": ktRandom(10)}
	ktWriteTree(t, dst, extra)
	res = f.run(t, env, "sync", "--delete", "s3://"+bucket+"/p", dst)
	if res.code != exitOK || !strings.Contains(res.stdout, "deleted 2") {
		t.Errorf("download --delete: want the 2 extra files deleted; got %s", res)
	}
	ktCheckLocal(t, "download --delete", dst, tree, nil, "", true)

	// --delete on the way up removes exactly the objects the local tree lacks, and keeps every other.
	gone := []string{"flat/f0001.bin", "flat/f0999.bin", "d03/f0003.bin"}
	for _, k := range gone {
		delete(tree, k)
	}
	local := maps.Clone(tree)
	local["flat/new.bin"] = ktRandom(33)
	up := filepath.Join(f.dir, "up")
	ktWriteTree(t, up, local)
	res = f.run(t, env, "sync", "--delete", up, "s3://"+bucket+"/p")
	if res.code != exitOK || !strings.Contains(res.stdout, fmt.Sprintf("deleted %d", len(gone))) {
		t.Errorf("upload --delete: want %d objects deleted; got %s", len(gone), res)
	}
	ktCheckObjects(t, "upload --delete", ktObjects(t, f.s3, bucket, "p/"), local, true)

	// A dry run prints each action once.
	empty := filepath.Join(f.dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	res = f.run(t, env, "sync", "--dryrun", "--delete", empty, "s3://"+bucket+"/p")
	if res.code != exitOK {
		t.Fatalf("dry run: %s", res)
	}
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	seen := map[string]bool{}
	deletes := 0
	for _, l := range lines {
		if seen[l] {
			t.Errorf("dry run: %q printed twice", l)
		}
		seen[l] = true
		if strings.Contains(l, "delete: ") {
			deletes++
		}
	}
	if deletes != len(local) {
		t.Errorf("dry run of an empty source with --delete: %d deletes, want %d\n%s", deletes, len(local), res.stdout)
	}
}

// Two tasks that split the keys (as a Slurm array's tasks do) move every file exactly once, each listing the
// shuffled prefix on its own.
func TestUnorderedListingShards(t *testing.T) {
	f := newKTFixture(t)
	tree := ktTree{}
	for i := range 1100 {
		tree[fmt.Sprintf("flat/f%04d.bin", i)] = ktRandom(32)
	}
	src := filepath.Join(f.dir, "src")
	ktWriteTree(t, src, tree)
	bucket := f.env.NewBucket(t)
	if res := f.run(t, f.environ(bucket, f.env.S3Endpoint), "sync", src, "s3://"+bucket+"/p"); res.code != exitOK {
		t.Fatalf("seeding the bucket: %s", res)
	}
	proxy, err := awsproxy.Start(f.env.S3Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	proxy.Unordered(11)
	env := f.environ(bucket, proxy.URL)
	dst := filepath.Join(f.dir, "dst")
	total := 0
	for i := range 2 {
		res := f.run(t, env, "sync", "--shard", fmt.Sprintf("%d/2", i), "s3://"+bucket+"/p", dst)
		if res.code != exitOK {
			t.Fatalf("shard %d: %s", i, res)
		}
		var n int
		if _, err := fmt.Sscanf(res.stdout[strings.Index(res.stdout, "transferred "):], "transferred %d files", &n); err != nil {
			t.Fatalf("shard %d: no count in %q", i, res.stdout)
		}
		total += n
	}
	if total != len(tree) {
		t.Errorf("the shards transferred %d files in all, want %d, each once", total, len(tree))
	}
	ktCheckLocal(t, "shards", dst, tree, nil, "", true)
}

// someListingShuffled says whether the proxy shuffled a listing.
func someListingShuffled(p *awsproxy.Proxy) bool {
	for _, r := range p.Requests() {
		for _, by := range r.By {
			if by == awsproxy.ByUnordered {
				return true
			}
		}
	}
	return false
}
