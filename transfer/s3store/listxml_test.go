package s3store

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"

	"github.com/fsxsync/fsxsync/internal/s3test"
)

// awsListExample is the ListObjectsV2 answer of the S3 API Reference (ListObjectsV2, "Examples"), with the fields
// the SDK knows, a restore status (OptionalObjectAttributes) and keys that need entities.
const awsListExample = `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bucket</Name>
  <Prefix>run&amp;1/</Prefix>
  <KeyCount>3</KeyCount>
  <MaxKeys>1000</MaxKeys>
  <Delimiter>/</Delimiter>
  <IsTruncated>true</IsTruncated>
  <ContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</ContinuationToken>
  <NextContinuationToken>2ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
  <StartAfter>a</StartAfter>
  <Contents>
    <Key>run&amp;1/a &lt;b&gt; &quot;c&quot; &apos;d&apos; &#233;&#x1F600;.txt</Key>
    <LastModified>2026-12-04T17:50:30.000Z</LastModified>
    <ETag>&quot;599bab3ed2c697f1d26842727561fd94&quot;</ETag>
    <ChecksumAlgorithm>CRC32C</ChecksumAlgorithm>
    <ChecksumType>FULL_OBJECT</ChecksumType>
    <Size>857</Size>
    <Owner><ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID><DisplayName>me</DisplayName></Owner>
    <StorageClass>STANDARD</StorageClass>
  </Contents>
  <Contents>
    <Key>run&amp;1/archived-ü.bin</Key>
    <LastModified>2026-12-04T17:50:31Z</LastModified>
    <ETag>"d41d8cd98f00b204e9800998ecf8427e-2"</ETag>
    <Size>0</Size>
    <StorageClass>GLACIER</StorageClass>
    <RestoreStatus><IsRestoreInProgress>false</IsRestoreInProgress><RestoreExpiryDate>2026-12-10T00:00:00.000Z</RestoreExpiryDate></RestoreStatus>
  </Contents>
  <CommonPrefixes><Prefix>run&amp;1/sub/</Prefix></CommonPrefixes>
  <CommonPrefixes><Prefix>run&amp;1/sub2/</Prefix></CommonPrefixes>
</ListBucketResult>`

// cannedHTTP answers every request with the same status and body.
type cannedHTTP struct {
	status int
	body   []byte
}

func (c cannedHTTP) Do(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: c.status, Header: http.Header{"X-Amz-Request-Charged": {"requester"}},
		ContentLength: int64(len(c.body)), Body: io.NopCloser(bytes.NewReader(c.body))}, nil
}

// listWith decodes body as a ListObjectsV2 answer, through the SDK's own deserializer or through fastList.
func listWith(t testing.TB, body []byte, status int, fast bool) (*s3.ListObjectsV2Output, error) {
	t.Helper()
	o := s3.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://127.0.0.1:1"), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""), Retryer: aws.NopRetryer{},
		HTTPClient: cannedHTTP{status: status, body: body}}
	if fast {
		o.APIOptions = []func(*middleware.Stack) error{fastListOption}
	}
	out, err := s3.New(o).ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("bucket")})
	if out != nil {
		out.ResultMetadata = middleware.Metadata{}
	}
	return out, err
}

// sameAsSDK checks that fastList decodes body exactly as the SDK does: the same output, or an error where the SDK
// errs.
func sameAsSDK(t testing.TB, body []byte, status int) {
	t.Helper()
	want, werr := listWith(t, body, status, false)
	got, gerr := listWith(t, body, status, true)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("SDK error %v, fastList error %v\n%q", werr, gerr, body)
	}
	if werr != nil {
		if werr.Error() != gerr.Error() {
			t.Fatalf("SDK error %q, fastList error %q", werr, gerr)
		}
		return
	}
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("decoded differently\nSDK:      %s\nfastList: %s\nbody: %q", dumpList(want), dumpList(got), body)
	}
}

func dumpList(o *s3.ListObjectsV2Output) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name=%v prefix=%v delim=%v ct=%v nct=%v sa=%v max=%v kc=%v trunc=%v enc=%q charged=%q\n",
		ptrStr(o.Name), ptrStr(o.Prefix), ptrStr(o.Delimiter), ptrStr(o.ContinuationToken), ptrStr(o.NextContinuationToken),
		ptrStr(o.StartAfter), o.MaxKeys, o.KeyCount, o.IsTruncated, o.EncodingType, o.RequestCharged)
	for _, c := range o.Contents {
		fmt.Fprintf(&b, "  key=%v etag=%v size=%v lm=%v sc=%q ca=%q ct=%q owner=%+v restore=%+v\n", ptrStr(c.Key), ptrStr(c.ETag),
			c.Size, c.LastModified, c.StorageClass, c.ChecksumAlgorithm, c.ChecksumType, c.Owner, c.RestoreStatus)
	}
	for _, p := range o.CommonPrefixes {
		fmt.Fprintf(&b, "  prefix=%v\n", ptrStr(p.Prefix))
	}
	return b.String()
}

func ptrStr(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%q", *p)
}

func TestFastListMatchesSDK(t *testing.T) {
	ex := awsListExample
	cases := map[string]string{
		"aws example":           ex,
		"no prolog":             strings.TrimPrefix(ex, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"),
		"no whitespace":         strings.NewReplacer("\n", "", "  ", "").Replace(ex),
		"empty listing":         `<ListBucketResult><Name>b</Name><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>`,
		"empty elements":        `<ListBucketResult><Prefix></Prefix><Contents><Key></Key><ETag></ETag></Contents></ListBucketResult>`,
		"self-closing prefix":   `<ListBucketResult><Prefix/><Contents><Key>k</Key></Contents></ListBucketResult>`,
		"lower-case names":      `<ListBucketResult><contents><key>k</key></contents></ListBucketResult>`,
		"unknown element":       `<ListBucketResult><Contents><Key>k</Key><Colour>red</Colour></Contents></ListBucketResult>`,
		"comment":               `<ListBucketResult><!-- c --><Contents><Key>k</Key></Contents></ListBucketResult>`,
		"cdata":                 `<ListBucketResult><Contents><Key><![CDATA[a<b]]></Key></Contents></ListBucketResult>`,
		"carriage return":       "<ListBucketResult><Contents><Key>a\r\nb\rc</Key></Contents></ListBucketResult>",
		"bad size":              `<ListBucketResult><Contents><Key>k</Key><Size>1x</Size></Contents></ListBucketResult>`,
		"bad time":              `<ListBucketResult><Contents><Key>k</Key><LastModified>yesterday</LastModified></Contents></ListBucketResult>`,
		"bad bool":              `<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>`,
		"unknown entity":        `<ListBucketResult><Contents><Key>a&nbsp;b</Key></Contents></ListBucketResult>`,
		"control reference":     `<ListBucketResult><Contents><Key>a&#1;b&#0;</Key></Contents></ListBucketResult>`,
		"surrogate reference":   `<ListBucketResult><Contents><Key>a&#xD800;b</Key></Contents></ListBucketResult>`,
		"invalid utf-8":         "<ListBucketResult><Contents><Key>a\xffb</Key></Contents></ListBucketResult>",
		"raw control":           "<ListBucketResult><Contents><Key>a\x01b</Key></Contents></ListBucketResult>",
		"mismatched end":        `<ListBucketResult><Contents><Key>k</Size></Contents></ListBucketResult>`,
		"truncated":             `<ListBucketResult><Contents><Key>k</Key>`,
		"empty body":            ``,
		"other root":            `<Other><Contents><Key>k</Key></Contents></Other>`,
		"text between":          `<ListBucketResult>junk<Contents><Key>k</Key></Contents></ListBucketResult>`,
		"attribute with entity": `<ListBucketResult a="x&amp;y"><Name>b</Name></ListBucketResult>`,
		"latin-1 prolog":        `<?xml version="1.0" encoding="ISO-8859-1"?><ListBucketResult><Name>b</Name></ListBucketResult>`,
		"trailing bytes":        `<ListBucketResult><Name>b</Name></ListBucketResult>garbage<`,
		"duplicate owner":       `<ListBucketResult><Contents><Owner><ID>1</ID></Owner><Owner><DisplayName>n</DisplayName></Owner></Contents></ListBucketResult>`,
		"many checksums":        `<ListBucketResult><Contents><ChecksumAlgorithm>CRC32</ChecksumAlgorithm><ChecksumAlgorithm>SHA1</ChecksumAlgorithm></Contents></ListBucketResult>`,
		"big numbers":           `<ListBucketResult><MaxKeys>4294967297</MaxKeys><Contents><Size>9223372036854775807</Size></Contents></ListBucketResult>`,
		"cdata end in text":     `<ListBucketResult><Contents><Key>a]]>b</Key></Contents></ListBucketResult>`,
		"gt in text":            `<ListBucketResult><Contents><Key>a>b]c</Key></Contents></ListBucketResult>`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) { sameAsSDK(t, []byte(body), http.StatusOK) })
	}
	t.Run("error status", func(t *testing.T) {
		sameAsSDK(t, []byte(`<Error><Code>AccessDenied</Code><Message>no</Message></Error>`), http.StatusForbidden)
	})
}

// The fast path takes the example whole: it is the shape S3 writes, and falling back on it would gain nothing.
func TestFastListTakesS3Shape(t *testing.T) {
	p, err := parseListV2([]byte(awsListExample))
	if err != nil {
		t.Fatalf("parseListV2: %v", err)
	}
	if len(p.contents) != 2 || len(p.commonPrefixes) != 2 || *p.contents[0].Key != "run&1/a <b> \"c\" 'd' é😀.txt" {
		t.Fatalf("decoded %d objects, %d prefixes: %+v", len(p.contents), len(p.commonPrefixes), p.contents)
	}
}

// FuzzListV2XML holds fastList to the SDK's decoder: for any body, the same output or an error where the SDK errs.
// A body parseListV2 refuses goes to the SDK's decoder whole, on both paths (the table test covers that hand-over),
// so only bodies it takes are decoded both ways: that keeps each input cheap, and the fuzzer's minimizing of new
// inputs within -fuzztime.
func FuzzListV2XML(f *testing.F) {
	f.Add([]byte(awsListExample))
	f.Add([]byte(`<ListBucketResult><Contents><Key>a&#x41;&#65;</Key><Size>1</Size></Contents></ListBucketResult>`))
	f.Add([]byte(`<ListBucketResult a='1' b="2"><IsTruncated>1</IsTruncated></ListBucketResult>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if _, err := parseListV2(body); err != nil {
			return
		}
		sameAsSDK(t, body, http.StatusOK)
	})
}

func BenchmarkListV2Decode(b *testing.B) {
	var doc strings.Builder
	doc.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bench</Name><Prefix>noop/</Prefix><KeyCount>1000</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated><NextContinuationToken>tok</NextContinuationToken>`)
	for i := range 1000 {
		fmt.Fprintf(&doc, `<Contents><Key>noop/d%02d/f%05d.bin</Key><LastModified>2026-12-04T17:50:30.000Z</LastModified><ETag>"599bab3ed2c697f1d26842727561fd94"</ETag><Size>16384</Size><StorageClass>STANDARD</StorageClass><ChecksumAlgorithm>CRC32C</ChecksumAlgorithm><ChecksumType>FULL_OBJECT</ChecksumType></Contents>`, i/100, i)
	}
	doc.WriteString(`</ListBucketResult>`)
	body := []byte(doc.String())
	for _, fast := range []bool{false, true} {
		b.Run(map[bool]string{false: "sdk", true: "fast"}[fast], func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := listWith(b, body, http.StatusOK, fast); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// recordingHTTP passes requests to a real client and keeps a copy of every ListObjectsV2 answer's body.
type recordingHTTP struct {
	next   s3.HTTPClient
	bodies *[][]byte
}

func (r recordingHTTP) Do(req *http.Request) (*http.Response, error) {
	resp, err := r.next.Do(req)
	if err != nil || req.Method != http.MethodGet || !req.URL.Query().Has("list-type") {
		return resp, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	*r.bodies = append(*r.bodies, b)
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

// Against versitygw, the real listings of keys that need escaping (entities, non-ASCII, spaces, a tab) all take the
// fast path, and decode as the SDK decodes them.
func TestFastListOnVersitygw(t *testing.T) {
	srv := s3test.Shared(t)
	bucket := srv.NewBucket(t)
	keys := []string{"a&b/1", "a<b>/\"q\" 'a'", "é/😀 x", "tab\there", "d/e/f", "plain"}
	for i := range 30 {
		keys = append(keys, fmt.Sprintf("many/%03d", i))
	}
	base := srv.Client()
	for _, k := range keys {
		if _, err := base.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k),
			Body: strings.NewReader("x")}); err != nil {
			t.Fatalf("put %q: %v", k, err)
		}
	}
	var bodies [][]byte
	client := s3.New(base.Options(), func(o *s3.Options) {
		o.HTTPClient = recordingHTTP{next: o.HTTPClient, bodies: &bodies}
		o.APIOptions = append(o.APIOptions, fastListOption)
	})
	var got []string
	for _, in := range []*s3.ListObjectsV2Input{
		{Bucket: aws.String(bucket), MaxKeys: aws.Int32(7), OptionalObjectAttributes: restoreStatus()},
		{Bucket: aws.String(bucket), Delimiter: aws.String("/")},
	} {
		p := s3.NewListObjectsV2Paginator(client, in)
		for p.HasMorePages() {
			page, err := p.NextPage(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if in.Delimiter == nil {
				for _, o := range page.Contents {
					got = append(got, aws.ToString(o.Key))
				}
			}
		}
	}
	slices.Sort(keys)
	if !slices.Equal(got, keys) {
		t.Errorf("listed %q, want %q", got, keys)
	}
	if len(bodies) < 7 {
		t.Fatalf("recorded %d listing pages, want at least 7", len(bodies))
	}
	for _, b := range bodies {
		if _, err := parseListV2(b); err != nil {
			t.Errorf("versitygw's page did not take the fast path (%v):\n%s", err, b)
		}
		sameAsSDK(t, b, http.StatusOK)
	}
}
