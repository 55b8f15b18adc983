package transfer_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/fsxsync/fsxsync/internal/awsproxy"
	"github.com/fsxsync/fsxsync/internal/faultproxy"
	"github.com/fsxsync/fsxsync/transfer"
	"github.com/fsxsync/fsxsync/transfer/s3store"
)

// flatObject is what the flat-listing tests compare: a key and the size its listing gave.
type flatObject struct {
	Key  string
	Size int64
}

// putFlat creates objects under prefix (which ends in "/") as files in versitygw's posix backend, which serves them
// as objects: thousands in well under a second, where PUTs would take seconds. A name's size is its length, so that
// a listing that mixed up objects shows it.
func putFlat(t testing.TB, bucket, prefix string, names []string) {
	t.Helper()
	dir := filepath.Join(srv(t).Dir, "root", bucket, filepath.FromSlash(prefix))
	for _, name := range names {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// proxiedClient is a client of the server at endpoint whose requests pass through a fault proxy, whose log shows
// what the listing asked.
func proxiedClient(t testing.TB, endpoint, accessKey, secretKey string) (*s3.Client, *faultproxy.Proxy) {
	t.Helper()
	p, err := faultproxy.Start(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return s3.New(s3.Options{BaseEndpoint: aws.String(p.URL), Region: "us-east-1", UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(accessKey, secretKey, "")}), p
}

// proxiedStore is a store of bucket on the shared versitygw through a fault proxy.
func proxiedStore(t testing.TB, bucket string) (*s3store.Store, *faultproxy.Proxy) {
	t.Helper()
	client, p := proxiedClient(t, srv(t).Endpoint, srv(t).AccessKey, srv(t).SecretKey)
	return s3store.New(client, bucket, s3store.Options{}), p
}

func listAll(ctx context.Context, store *s3store.Store, prefix string) ([]flatObject, error) {
	var got []flatObject
	err := store.List(ctx, prefix, func(objs []transfer.ObjectInfo) error {
		for _, o := range objs {
			got = append(got, flatObject{o.Key, o.Size})
		}
		return nil
	})
	return got, err
}

// serialList is the reference: one ListObjectsV2 page after the other.
func serialList(t testing.TB, c *s3.Client, bucket, prefix string) []flatObject {
	t.Helper()
	var out []flatObject
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			out = append(out, flatObject{aws.ToString(o.Key), aws.ToInt64(o.Size)})
		}
	}
	return out
}

// A flat prefix is listed in ranges side by side, and the result must be exactly the serial listing, in order,
// whatever the keys look like to the model that guesses the range boundaries: sizes around a page, numbered keys,
// names that are prefixes of each other, Unicode and punctuation, random hashes, a flat run followed by directories,
// and clusters of keys with gaps between them.
func TestListFlatParallel(t *testing.T) {
	bucket := srv(t).NewBucket(t)
	store, proxy := proxiedStore(t, bucket)
	rnd := rand.New(rand.NewPCG(17, 2))
	numbered := func(format string, n int) []string {
		var names []string
		for i := range n {
			names = append(names, fmt.Sprintf(format, i))
		}
		return names
	}
	randomNames := func(n int, alphabet []string, maxLen int) []string {
		set := map[string]bool{}
		for len(set) < n {
			var b strings.Builder
			for range 1 + rnd.IntN(maxLen) {
				b.WriteString(alphabet[rnd.IntN(len(alphabet))])
			}
			if name := b.String(); strings.Trim(name, ".") != "" {
				set[name] = true // "." and ".." are no file names
			}
		}
		return slices.Collect(func(yield func(string) bool) {
			for k := range set {
				if !yield(k) {
					return
				}
			}
		})
	}
	var shared []string
	for i := range 1500 {
		shared = append(shared, fmt.Sprintf("run-%d", i), strings.Repeat("a", 1+i%40)+fmt.Sprint(i/40))
	}
	var clusters []string
	clusters = append(clusters, numbered("a%05d", 1500)...)
	clusters = append(clusters, numbered("m%02d", 10)...)
	clusters = append(clusters, numbered("zz%06d", 2500)...)
	// Sparser on the first page than after it.
	var denser []string
	for i := range 1000 {
		denser = append(denser, fmt.Sprintf("k%07d", i*50))
	}
	denser = append(denser, numbered("k%07d", 55000)[50000:]...)
	hex := make([]string, 4000)
	for i := range hex {
		hex[i] = fmt.Sprintf("%016x", rnd.Uint64())
	}
	cases := map[string][]string{
		"n0":       nil,
		"n1":       numbered("f%05d", 1),
		"n999":     numbered("f%05d", 999),
		"n1000":    numbered("f%05d", 1000),
		"n1001":    numbered("f%05d", 1001),
		"n5000":    numbered("f%05d", 5000),
		"shared":   shared,
		"unicode":  randomNames(4000, []string{"a", "Z", "0", "9", "-", "_", ".", "~", " ", "é", "日本", "🙂", "\u00a0"}, 6),
		"hex":      hex,
		"thendirs": append(numbered("f%04d", 2500), numbered("zz/d%03d/x", 1200)...),
		"clusters": clusters,
		"denser":   denser,
	}
	for name, names := range cases {
		putFlat(t, bucket, "p/"+name+"/", names)
	}
	for name, names := range cases {
		t.Run(name, func(t *testing.T) {
			prefix := "p/" + name + "/"
			got, err := listAll(context.Background(), store, prefix)
			if err != nil {
				t.Fatal(err)
			}
			want := serialList(t, srv(t).Client(), bucket, prefix)
			if len(want) != len(names) {
				t.Fatalf("the serial listing has %d keys, %d were made", len(want), len(names))
			}
			if !reflect.DeepEqual(got, want) {
				i := firstDiffObjects(got, want)
				t.Fatalf("List: %d keys, serial listing %d; first difference at %d: %v / %v", len(got), len(want), i,
					at(got, i), at(want, i))
			}
			// A poor guess at the boundaries costs requests, within bounds: the ranges started past the end, and a
			// page that runs past a range's end.
			requests := 0
			for _, r := range proxy.Requests() {
				if strings.Contains(r.URI, "prefix="+url.QueryEscape(prefix)) {
					requests++
				}
			}
			pages := max(1, (len(want)+999)/1000)
			if requests > pages*3/2+6 {
				t.Errorf("%d listing requests for %d serial pages", requests, pages)
			}
			t.Logf("%d keys: %d listing requests, %d serial pages", len(want), requests, pages)
		})
	}
	// Past a page the listing went in ranges, each starting after a boundary.
	ranged := 0
	for _, r := range proxy.Requests() {
		if strings.Contains(r.URI, "start-after=") {
			ranged++
		}
	}
	if ranged == 0 {
		t.Error("no listing request had a start-after: the flat prefixes were listed serially")
	}
}

func firstDiffObjects(a, b []flatObject) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func at(objs []flatObject, i int) any {
	if i < len(objs) {
		return objs[i]
	}
	return "(end)"
}

// Cancelling a flat listing ends it promptly, with the context's error, and leaves no lister running; so does fn
// refusing a page.
func TestListFlatCancel(t *testing.T) {
	bucket := srv(t).NewBucket(t)
	store, proxy := proxiedStore(t, bucket)
	var names []string
	for i := range 10000 {
		names = append(names, fmt.Sprintf("f%06d", i))
	}
	putFlat(t, bucket, "flat/", names)
	// Slow pages keep ranges in flight when the cancel comes.
	proxy.SetRule(faultproxy.ListLatency(50 * time.Millisecond))

	ctx, cancel := context.WithCancel(context.Background())
	pages := 0
	began := time.Now()
	err := store.List(ctx, "flat/", func([]transfer.ObjectInfo) error {
		if pages++; pages == 3 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err %v, want context.Canceled", err)
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("cancelled listing took %v", d)
	}
	noListers(t)

	stop := errors.New("enough")
	err = store.List(context.Background(), "flat/", func([]transfer.ObjectInfo) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("fn's error: got %v", err)
	}
	noListers(t)
}

// noListers fails t if a goroutine of the S3 listing is still running a second after List returned.
func noListers(t *testing.T) {
	t.Helper()
	var stacks string
	for range 20 {
		buf := make([]byte, 1<<20)
		stacks = string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "s3store.(*Store).list") {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("listing goroutines left running:\n%s", stacks)
}

// BenchmarkListFlat lists a flat prefix of FSXSYNC_BENCH_FLAT_OBJECTS objects (default 100,000), serially (one
// ListObjectsV2 page after the other) and with List's ranges, through a proxy that adds no latency or 30 ms to every
// listing request (the round trip to S3 in a region). Two servers: versitygw, whose posix backend reads the whole
// directory for every page (about 0.1 s of its CPU a page at 100,000 keys, so that on two cores it is the bound), and
// listServer, a simulated S3 whose pages cost little, as S3's do: there the latency is what a listing waits for.
// The objects are created once per run, as files in versitygw's directory.
// Reported: objects/s and LIST requests per listing.
//
//	TMPDIR=/dev/shm go test -run '^$' -bench ListFlat -benchtime 3x -count 3 -timeout 30m ./transfer/
func BenchmarkListFlat(b *testing.B) {
	n := 100000
	if v := os.Getenv("FSXSYNC_BENCH_FLAT_OBJECTS"); v != "" {
		fmt.Sscan(v, &n)
	}
	name := func(i int) string { return fmt.Sprintf("out-%07d.dat", i) }

	bucket := srv(b).NewBucket(b)
	b.Cleanup(func() { os.RemoveAll(filepath.Join(srv(b).Dir, "root", bucket)) })
	dir := filepath.Join(srv(b).Dir, "root", bucket, "flat")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	const writers = 8
	for w := range writers {
		wg.Go(func() {
			for i := w; i < n; i += writers {
				if err := os.WriteFile(filepath.Join(dir, name(i)), nil, 0o644); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		return
	}

	keys := make([]string, n)
	for i := range keys {
		keys[i] = "flat/" + name(i)
	}
	slices.Sort(keys)
	sim := httptest.NewServer(listServer(keys))
	b.Cleanup(sim.Close)

	servers := []struct {
		name                     string
		endpoint, access, secret string
	}{
		{"versitygw", srv(b).Endpoint, srv(b).AccessKey, srv(b).SecretKey},
		{"simulated", sim.URL, "AKSIM", "sim-secret"},
	}
	for _, server := range servers {
		client, proxy := proxiedClient(b, server.endpoint, server.access, server.secret)
		store := s3store.New(client, bucket, s3store.Options{})
		for _, latency := range []time.Duration{0, 30 * time.Millisecond} {
			for _, way := range []string{"serial", "parallel"} {
				b.Run(fmt.Sprintf("server=%s/latency=%v/%s", server.name, latency, way), func(b *testing.B) {
					proxy.SetRule(faultproxy.ListLatency(latency))
					before := len(proxy.Requests())
					for b.Loop() {
						if count := listFlatOnce(b, way == "serial", client, store, bucket); count != n {
							b.Fatalf("listed %d, want %d", count, n)
						}
					}
					b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "objects/s")
					b.ReportMetric(float64(len(proxy.Requests())-before)/float64(b.N), "lists/op")
				})
			}
		}
	}
}

// listFlatOnce lists the benchmark's prefix serially or with List, and counts the keys.
func listFlatOnce(b *testing.B, serial bool, client *s3.Client, store *s3store.Store, bucket string) int {
	count := 0
	if serial {
		p := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("flat/")})
		for p.HasMorePages() {
			page, err := p.NextPage(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			count += len(page.Contents)
		}
		return count
	}
	err := store.List(context.Background(), "flat/", func(objs []transfer.ObjectInfo) error {
		count += len(objs)
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return count
}

// listServer is a simulated S3 that answers ListObjectsV2 from a sorted list of keys, in microseconds: a binary
// search for the start, one page of at most max-keys (1,000 by default) keys in the shape S3 sends (S3 API Reference:
// ListObjectsV2), the last key as the continuation token. It serves flat prefixes only (a delimiter that would roll
// keys up is refused) and checks no signature.
type listServer []string

func (keys listServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !faultproxy.IsListObjectsV2(r) {
		http.Error(w, "listServer answers ListObjectsV2 only", http.StatusNotImplemented)
		return
	}
	prefix, after := q.Get("prefix"), q.Get("start-after")
	if token := q.Get("continuation-token"); token != "" {
		after = token
	}
	maxKeys := 1000
	if v := q.Get("max-keys"); v != "" {
		fmt.Sscan(v, &maxKeys)
	}
	i := max(sort.SearchStrings(keys, prefix), sort.Search(len(keys), func(i int) bool { return keys[i] > after }))
	var body bytes.Buffer
	count := 0
	for ; i < len(keys) && strings.HasPrefix(keys[i], prefix) && count < maxKeys; i++ {
		if d := q.Get("delimiter"); d != "" && strings.Contains(keys[i][len(prefix):], d) {
			http.Error(w, "listServer cannot roll keys up", http.StatusNotImplemented)
			return
		}
		body.WriteString("<Contents><Key>")
		xml.EscapeText(&body, []byte(keys[i]))
		body.WriteString("</Key><LastModified>2026-12-01T00:00:00.000Z</LastModified>" +
			"<ETag>&quot;d41d8cd98f00b204e9800998ecf8427e&quot;</ETag><Size>0</Size><StorageClass>STANDARD</StorageClass></Contents>")
		count++
	}
	truncated := i < len(keys) && strings.HasPrefix(keys[i], prefix)
	w.Header().Set("Content-Type", "application/xml")
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
		`<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bucket</Name><Prefix>%s</Prefix>`+
		`<KeyCount>%d</KeyCount><MaxKeys>%d</MaxKeys><IsTruncated>%t</IsTruncated>`, xmlText(prefix), count, maxKeys, truncated)
	if truncated {
		fmt.Fprintf(w, "<NextContinuationToken>%s</NextContinuationToken>", xmlText(keys[i-1]))
	}
	w.Write(body.Bytes())
	io.WriteString(w, "</ListBucketResult>")
}

func xmlText(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// A server that lists out of key order (the AWS-behaviours proxy shuffles within and across pages) must not make a
// range cut at its boundary lose keys: every key still comes, and the disorder shows, for the engine to list again
// and sort.
func TestListFlatUnordered(t *testing.T) {
	bucket := srv(t).NewBucket(t)
	var names []string
	for i := range 5000 {
		names = append(names, fmt.Sprintf("f%05d", i))
	}
	putFlat(t, bucket, "flat/", names)
	proxy, err := awsproxy.Start(srv(t).Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	proxy.Unordered(5)
	c := s3.New(s3.Options{BaseEndpoint: aws.String(proxy.URL), Region: srv(t).Region, UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(srv(t).AccessKey, srv(t).SecretKey, "")})
	got, err := listAll(context.Background(), s3store.New(c, bucket, s3store.Options{}), "flat/")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, o := range got {
		seen[o.Key] = true
	}
	for _, name := range names {
		if !seen["flat/"+name] {
			t.Fatalf("flat/%s missing from the listing (%d keys, %d distinct)", name, len(got), len(seen))
		}
	}
	if len(seen) != len(names) {
		t.Errorf("%d distinct keys, %d made", len(seen), len(names))
	}
	if slices.IsSortedFunc(got, func(a, b flatObject) int { return strings.Compare(a.Key, b.Key) }) {
		t.Error("the shuffled listing came out in order")
	}
}
