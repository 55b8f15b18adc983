package awsproxy

import (
	"bytes"
	"compress/gzip"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// A listing in real S3's form: keys URL-encoded (encoding-type=url), one entry without <StorageClass>.
const s3Listing = `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix></Prefix>` +
	`<NextContinuationToken>tok</NextContinuationToken><KeyCount>3</KeyCount><MaxKeys>3</MaxKeys>` +
	`<EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>` +
	`<Contents><Key>a+b%26c</Key><Size>1</Size><StorageClass>STANDARD</StorageClass></Contents>` +
	`<Contents><Key>d</Key><Size>2</Size></Contents>` +
	`<Contents><Key>e</Key><Size>3</Size><StorageClass>STANDARD</StorageClass></Contents>` +
	`<CommonPrefixes><Prefix>p%2F</Prefix></CommonPrefixes></ListBucketResult>`

// The rewrite decodes URL-encoded keys before matching them, sets or adds <StorageClass>, and changes nothing
// outside the <Contents> entries.
func TestRewriteContents(t *testing.T) {
	out, _, archived, err := rewriteContents([]byte(s3Listing), map[string]string{"a b&c": "GLACIER", "d": "DEEP_ARCHIVE"}, nil, nil, false)
	if err != nil || !archived {
		t.Fatalf("rewriteContents: archived %v, %v", archived, err)
	}
	want := strings.NewReplacer(
		"<Key>a+b%26c</Key><Size>1</Size><StorageClass>STANDARD</StorageClass>",
		"<Key>a+b%26c</Key><Size>1</Size><StorageClass>GLACIER</StorageClass>",
		"<Key>d</Key><Size>2</Size></Contents>",
		"<Key>d</Key><Size>2</Size><StorageClass>DEEP_ARCHIVE</StorageClass></Contents>",
	).Replace(s3Listing)
	if string(out) != want {
		t.Errorf("rewritten listing:\n%s\nwant:\n%s", out, want)
	}

	out, _, _, err = rewriteContents([]byte(s3Listing), nil, rand.New(rand.NewPCG(1, 2)), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	head, _, _ := strings.Cut(s3Listing, "<Contents>")
	_, tail, _ := strings.Cut(s3Listing, "<CommonPrefixes>")
	if !strings.HasPrefix(string(out), head) || !strings.HasSuffix(string(out), tail) || len(out) != len(s3Listing) {
		t.Errorf("the shuffle changed more than the order of the entries:\n%s", out)
	}
	if strings.Index(string(out), "<Key>a+b%26c</Key>") < strings.Index(string(out), "<Key>d</Key>") &&
		strings.Index(string(out), "<Key>d</Key>") < strings.Index(string(out), "<Key>e</Key>") {
		t.Errorf("the shuffle left the entries in order:\n%s", out)
	}
}

// Held back from a page that is not the last, entries go to the next page: the page gives fewer entries, its
// KeyCount says how many, and the held ones come out of the next page's rewrite with its own.
func TestRewriteContentsAcrossPages(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	out, held, _, err := rewriteContents([]byte(s3Listing), nil, rng, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	given := strings.Count(string(out), "<Contents>")
	if len(held) == 0 || given+len(held) != 3 {
		t.Fatalf("gave %d entries and held %d, want 3 in all with at least one held:\n%s", given, len(held), out)
	}
	if !strings.Contains(string(out), "<KeyCount>"+strconv.Itoa(given)+"</KeyCount>") {
		t.Errorf("KeyCount does not say %d:\n%s", given, out)
	}
	last := strings.Replace(strings.Replace(s3Listing, "<IsTruncated>true", "<IsTruncated>false", 1),
		"<Contents><Key>e</Key><Size>3</Size><StorageClass>STANDARD</StorageClass></Contents>", "", 1)
	out2, held2, _, err := rewriteContents([]byte(last), nil, rng, held, false)
	if err != nil || len(held2) != 0 {
		t.Fatalf("last page: held %d, %v", len(held2), err)
	}
	if n := strings.Count(string(out2), "<Contents>"); n != 2+len(held) {
		t.Errorf("the next page gives %d entries, want its 2 and the %d held:\n%s", n, len(held), out2)
	}
	for _, h := range held {
		if !bytes.Contains(out2, h) {
			t.Errorf("held entry %s is not on the next page", h)
		}
	}
}

// A listing the server sent gzipped is decoded before it is rewritten, and goes to the client uncompressed.
func TestRewriteGzippedListing(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		io.WriteString(zw, s3Listing)
		zw.Close()
	}))
	defer backend.Close()
	p, err := Start(backend.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Archive("GLACIER", "e")
	// The request asks for gzip itself, so Go's client neither adds nor undoes the encoding.
	req, _ := http.NewRequest(http.MethodGet, p.URL+"/b?list-type=2", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("Content-Encoding") != "" ||
		!bytes.Contains(body, []byte("<Key>e</Key><Size>3</Size><StorageClass>GLACIER</StorageClass>")) {
		t.Errorf("answer (Content-Encoding %q):\n%s", resp.Header.Get("Content-Encoding"), body)
	}
}
