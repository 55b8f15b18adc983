// Package awsproxy is a reverse proxy for tests that stands in front of a local S3 server (versitygw) on 127.0.0.1
// and gives it the behaviours of real AWS that the local server lacks: archived objects, buckets in another region,
// Requester Pays buckets, SSE-KMS default encryption, bucket policies that require encryption, directory-bucket
// listings in no particular order, and arbitrary S3 error answers. Each method's comment names the AWS documentation
// page that describes the behaviour it emulates.
//
// Every request that no behaviour answers is forwarded to the server unchanged: the method, the request target
// exactly as the client sent it (path and raw query), every header (Host, Authorization and x-amz-* included) and
// the body, streamed. So a SigV4 signature made for the proxy's address verifies at the server. Answers the proxy
// rewrites (a listing, a HEAD with a storage class) are changed only where the behaviour says.
//
// Requests are addressed path-style (http://127.0.0.1:PORT/BUCKET/KEY), as the tests' clients send them, or
// virtual-hosted-style for the one domain VirtualHosts names (http://BUCKET.DOMAIN/KEY, sent to the proxy as to a
// forward proxy: how the tests reach S3 access points).
//
// # No route to an endpoint
//
// Refusing and Blackhole are separate from the proxy: they stand in for an AWS endpoint the machine has no route to,
// such as STS on a compute node of "AWS ParallelCluster in a single subnet with no internet access" (ParallelCluster
// user guide), whose VPC endpoints include S3 but not STS. There the SDK's TCP connect to sts.REGION.amazonaws.com
// hangs, because the SYN is dropped, until its dial timeout (30 s by default), and the SDK retries connection
// errors. Neither reproduces a dropped SYN exactly, which would need a firewall rule:
//
//   - Refusing's address refuses the connection at once (ECONNREFUSED): what a client sees where a firewall rejects
//     rather than drops, and the fast form of "cannot connect".
//   - Blackhole's address completes the TCP handshake and then never answers. The client's dial succeeds, so a dial
//     timeout never fires; the client waits for the answer instead, and only a response or overall timeout ends the
//     wait. The SDK reports that as a timeout of the request, not of the connect.
package awsproxy

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/xml"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Behaviour names a behaviour of the proxy, in the request log.
type Behaviour string

// The behaviours, as they appear in Request.By.
const (
	// ByAnswerError: an AnswerError rule answered the request.
	ByAnswerError Behaviour = "AnswerError"
	// ByWrongRegion: WrongRegion answered 301 PermanentRedirect, or added x-amz-bucket-region to a HeadBucket
	// answer.
	ByWrongRegion Behaviour = "WrongRegion"
	// ByRequirePayer: RequirePayer answered 403 AccessDenied, or added x-amz-request-charged to an answer.
	ByRequirePayer Behaviour = "RequirePayer"
	// ByArchive: Archive answered 403 InvalidObjectState or a RestoreObject, added x-amz-storage-class or
	// x-amz-restore to a HeadObject answer, or rewrote a listing's storage classes or restore states.
	ByArchive Behaviour = "Archive"
	// ByUnordered: Unordered shuffled a listing.
	ByUnordered Behaviour = "Unordered"
	// ByDefaultKMSKey: DefaultKMSKey answered GetBucketEncryption or marked an object answer as SSE-KMS.
	ByDefaultKMSKey Behaviour = "DefaultKMSKey"
	// ByRequireSSE: RequireSSE answered 403 AccessDenied, or said in an answer the encryption its request asked for.
	ByRequireSSE Behaviour = "RequireSSE"
)

// Request is one request the proxy received.
type Request struct {
	Method string
	// URI is the request target as the client sent it: path and raw query.
	URI string
	// Op is the S3 operation the request is (see Op); empty when the proxy does not know it.
	Op string
	// Status is the status the proxy answered with: 502 Bad Gateway if the server could not be reached.
	Status int
	// Forwarded says whether the request reached the server.
	Forwarded bool
	// By names the behaviours that answered the request or changed its answer, in the order they acted; empty when
	// the server's answer went back unchanged.
	By []Behaviour
	// Restore is the restore a RestoreObject request asked for, when the proxy answered it (see Archive).
	Restore *RestoreRequest
	// SSE holds the request's server-side encryption headers (x-amz-server-side-encryption and the headers that begin
	// with it: the KMS key id, the Bucket Key), under their canonical names; nil when it had none.
	SSE http.Header
}

// Proxy is a running proxy. Its methods may be called while requests are in flight; a behaviour applies to the
// requests that arrive after it is set.
type Proxy struct {
	// URL is the proxy's base URL, http://127.0.0.1:PORT. Point an S3 client at it with path-style addressing.
	URL string

	target    string // the server's base URL, without a trailing slash
	transport *http.Transport
	srv       *http.Server
	served    chan struct{}      // closed when srv.Serve has returned
	ctx       context.Context    // the base of every request's context; cancelled by Close
	cancel    context.CancelFunc // cancels ctx
	handlers  sync.WaitGroup     // the handlers running; Close waits for them

	mu     sync.Mutex
	closed bool
	set    settings
	log    []Request
	// carry holds, for Unordered, the listing entries a page held back for the next page, by the listing and the
	// continuation token that asks for that page. Entries are kept after use, so a repeated request gets them again.
	carry map[string][][]byte
}

// settings are the behaviours in force. The slice and the map are never changed in place, only replaced, so a
// request can read a copy of settings without holding the lock while other goroutines add behaviours.
type settings struct {
	rules     []errorRule
	archived  map[string]string // key -> storage class
	region    string            // the buckets' region; "" means any
	payer     bool              // RequirePayer
	unordered bool              // Unordered
	seed      uint64            // Unordered's seed
	kmsKey    string            // DefaultKMSKey: the buckets' SSE-KMS key
	sse       *sseRule          // RequireSSE
	domain    string            // VirtualHosts: the domain of virtual-hosted-style requests

	// restores holds each archived key's restore, once asked for or marked done (restore.go).
	restores map[string]restoreState
}

// sseRule is what RequireSSE requires of an upload's encryption headers.
type sseRule struct {
	alg, keyID string
}

// errorRule is one AnswerError.
type errorRule struct {
	match         func(*http.Request) bool
	status        int
	code, message string
	headers       map[string]string
}

// Start starts a proxy to target, the server's base URL (such as http://127.0.0.1:7070), on a free 127.0.0.1 port.
// It forwards everything until a behaviour is set. Close it when done.
func Start(target string) (*Proxy, error) {
	if u, err := url.Parse(target); err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("awsproxy: target %q is not a base URL such as http://127.0.0.1:7070", target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("awsproxy: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		URL:    "http://" + ln.Addr().String(),
		target: strings.TrimSuffix(target, "/"),
		transport: &http.Transport{
			// The client chose its encoding; the proxy passes bytes through and must not ask for gzip itself.
			DisableCompression:  true,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     30 * time.Second,
		},
		served: make(chan struct{}),
		ctx:    ctx,
		cancel: cancel,
	}
	p.srv = &http.Server{
		Handler: http.HandlerFunc(p.handle),
		// Every request's context derives from ctx, so that Close aborts the requests being forwarded.
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ReadHeaderTimeout: 30 * time.Second,
	}
	go func() {
		defer close(p.served)
		p.srv.Serve(ln)
	}()
	return p, nil
}

// Close stops the proxy: it stops listening, closes every connection and aborts the requests being forwarded. It
// returns once the serving goroutine and every request handler have ended and the connections to the server are
// closed. It is safe to call more than once.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	p.srv.Close()
	<-p.served
	p.handlers.Wait()
	// Only now are all upstream connections idle; closing them ends the transport's goroutines.
	p.transport.CloseIdleConnections()
}

// Requests returns a copy of the request log, in the order the requests finished.
func (p *Proxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Request, len(p.log))
	for i, r := range p.log {
		r.By = slices.Clone(r.By)
		out[i] = r
	}
	return out
}

// AnswerError makes the proxy answer the requests that match with an S3 error, without forwarding them: status,
// the given headers, and an XML body <Error><Code>code</Code><Message>message</Message>…</Error>, as S3 sends
// errors ("Error responses" in the S3 API Reference). An answer to HEAD has the status and headers but no body, as
// S3's has. match is called from many goroutines at once and must not read the request body; Ops builds one that
// matches S3 operations.
//
// Rules are tried in the order they were added, before every other behaviour, so that a test's explicit answer
// wins; the first rule that matches answers.
func (p *Proxy) AnswerError(match func(*http.Request) bool, status int, code, message string, headers map[string]string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rule := errorRule{match: match, status: status, code: code, message: message, headers: maps.Clone(headers)}
	// Clip forces append to copy, so requests holding the old slice never see it change.
	p.set.rules = append(slices.Clip(p.set.rules), rule)
}

// DefaultKMSKey gives every bucket SSE-KMS default encryption with key (an ARN), as far as a client can see it:
// GetBucketEncryption answers the configuration (S3 API Reference: GetBucketEncryption), and object answers carry
// x-amz-server-side-encryption: aws:kms and the key's id (S3 API Reference: GetObject, PutObject). Nothing is
// encrypted, and no KMS permission is checked: a KMS refusal is emulated with AnswerError, an AccessDenied whose
// message names the kms: action and the key, as S3 words it.
func (p *Proxy) DefaultKMSKey(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.set.kmsKey = key
}

// RequireSSE emulates a bucket policy that denies uploads without server-side encryption, such as the ones in the S3
// User Guide's "Using server-side encryption with AWS KMS keys (SSE-KMS)" (requiring SSE-KMS for all objects written
// to a bucket) and "Using server-side encryption with Amazon S3 managed keys (SSE-S3)": a Deny of s3:PutObject whose
// condition is on s3:x-amz-server-side-encryption and s3:x-amz-server-side-encryption-aws-kms-key-id, the request
// headers of those names (S3 API Reference: PutObject, CreateMultipartUpload).
//
// A PutObject or CreateMultipartUpload (both are s3:PutObject) of any bucket whose x-amz-server-side-encryption
// header is not alg, or, when keyID is not "", whose x-amz-server-side-encryption-aws-kms-key-id is not keyID, gets
// 403 AccessDenied without being forwarded, worded as S3 words an explicit deny to a principal of the bucket's
// account ("Troubleshoot access denied (403 Forbidden) errors in Amazon S3": access denied message examples): "User:
// arn:aws:iam::000000000000:root is not authorized to perform: s3:PutObject on resource: "arn:aws:s3:::BUCKET/KEY"
// with an explicit deny in a resource-based policy". The proxy cannot know who signed, so the principal is always that
// one. An alg of "" accepts any algorithm but no header (a Null condition). UploadPart and CompleteMultipartUpload
// carry no such header and are not checked, as S3 does not check them either: the upload's encryption was set when
// it was created. The comparison is exact, as a StringNotEquals condition is: a key given as an alias does not meet a
// keyID that is an ARN.
//
// The requests that meet the rule are forwarded: versitygw v1.8.0 accepts the headers, ignores them and stores the
// object unencrypted. As S3 does, the proxy's answer to them then says the encryption asked for:
// x-amz-server-side-encryption, the KMS key id as the request gave it (S3 would name the key's ARN, which only KMS
// knows), and x-amz-server-side-encryption-bucket-key-enabled when the request asked for a Bucket Key. No KMS
// permission is checked: a KMS refusal is emulated with AnswerError, as for DefaultKMSKey.
func (p *Proxy) RequireSSE(alg, keyID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.set.sse = &sseRule{alg: alg, keyID: keyID}
}

// The encryption headers of a request (S3 API Reference: PutObject).
const (
	hdrSSE          = "X-Amz-Server-Side-Encryption"
	hdrSSEKMSKeyID  = "X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"
	hdrSSEBucketKey = "X-Amz-Server-Side-Encryption-Bucket-Key-Enabled"
)

// met reports whether r's encryption headers meet the rule.
func (s *sseRule) met(r *http.Request) bool {
	alg := r.Header.Get(hdrSSE)
	if alg == "" || s.alg != "" && alg != s.alg {
		return false
	}
	return s.keyID == "" || r.Header.Get(hdrSSEKMSKeyID) == s.keyID
}

// sseHeaders returns the request's server-side encryption headers, or nil.
func sseHeaders(r *http.Request) http.Header {
	var h http.Header
	for k, vs := range r.Header {
		if strings.HasPrefix(k, hdrSSE) {
			if h == nil {
				h = http.Header{}
			}
			h[k] = slices.Clone(vs)
		}
	}
	return h
}

// Archive puts keys, in every bucket, in an archive storage class: class is GLACIER or DEEP_ARCHIVE. It emulates
// what S3 does with an archived object that has not been restored (S3 API Reference: GetObject, HeadObject,
// ListObjectsV2; "Error responses"):
//
//   - GetObject answers 403 InvalidObjectState, "The operation is not valid for the object's storage class", with
//     the class in the error's <StorageClass>, without forwarding.
//   - HeadObject is forwarded, and its answer's x-amz-storage-class says class (versitygw says STANDARD).
//   - ListObjectsV2 (and ListObjects) answers are forwarded and rewritten so that those keys' <StorageClass> says
//     class (versitygw says STANDARD).
//   - RestoreObject is authorized by versitygw and answered as S3 does: 202 Accepted, then 409
//     RestoreAlreadyInProgress while the restore is under way, which HeadObject's x-amz-restore and, when asked for,
//     a listing's <RestoreStatus> show; RestoreDone ends it, and GetObject is then forwarded (S3 API Reference:
//     RestoreObject, HeadObject, ListObjectsV2 OptionalObjectAttributes; S3 User Guide, "Restoring an archived
//     object"). restore.go has the details.
//
// Calling Archive again for a key changes its class.
func (p *Proxy) Archive(class string, keys ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	archived := maps.Clone(p.set.archived)
	if archived == nil {
		archived = map[string]string{}
	}
	for _, k := range keys {
		archived[k] = class
	}
	p.set.archived = archived
}

// WrongRegion says the buckets live in bucketRegion. A request for a bucket whose SigV4 credential scope names
// another region (Credential=AKID/DATE/REGION/s3/aws4_request in the Authorization header, or X-Amz-Credential in a
// presigned URL's query) gets what S3 answers a request signed for the wrong region (S3 API Reference: HeadBucket;
// "Error responses"): 301 PermanentRedirect with x-amz-bucket-region: bucketRegion, and for all but HEAD an XML
// body with Code, Message, Endpoint and Bucket. The SDK does not follow the redirect.
//
// Requests signed for bucketRegion are forwarded, so the server must accept that region: run versitygw with
// --region bucketRegion. As S3 does, every HeadBucket answer carries x-amz-bucket-region, success or not.
// Unsigned requests, and requests that name no bucket (ListBuckets), are not checked.
func (p *Proxy) WrongRegion(bucketRegion string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.set.region = bucketRegion
}

// RequirePayer makes the buckets Requester Pays ("Requester Pays buckets"; "Downloading objects from Requester Pays
// buckets"): a request for a bucket without x-amz-request-payer: requester (as a header, or in a presigned URL's
// query) gets 403 AccessDenied, without forwarding. The proxy treats every client as another account than the
// bucket owner's, whose requests S3 would accept without the header. Forwarded answers that succeed carry
// x-amz-request-charged: requester, as S3's do.
func (p *Proxy) RequirePayer() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.set.payer = true
}

// Unordered makes ListObjectsV2 answers list their keys in no particular order, as S3 does for directory buckets
// (S3 Express One Zone): the S3 API Reference for ListObjectsV2 says that for directory buckets it returns objects in
// an order that is not lexicographical, where general purpose buckets list keys in UTF-8 binary order. The
// <Contents> entries of each page are shuffled among themselves, and on a page that is not the last about one in
// four of them is held back and given on the next page instead (with KeyCount adjusted), so that the order is broken
// across pages too. CommonPrefixes, continuation tokens and everything else stay as they are, so paging still works
// and yields every key once.
//
// The shuffle is deterministic: it depends only on seed and on the request (bucket, prefix, token and the other
// query parameters), so a repeated request gets the same order. A page of two or more keys never comes back in
// its original order, so that a test of order-independence cannot pass by luck.
func (p *Proxy) Unordered(seed uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.set.unordered = true
	p.set.seed = seed
}

// enter registers a handler, unless the proxy is closed. Adding to the WaitGroup under the lock, and only while
// open, keeps Add from racing with Close's Wait.
func (p *Proxy) enter() (settings, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return settings{}, false
	}
	p.handlers.Add(1)
	return p.set, true
}

func (p *Proxy) record(r Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.log = append(p.log, r)
}

// handle serves one request and logs it.
func (p *Proxy) handle(w http.ResponseWriter, r *http.Request) {
	set, ok := p.enter()
	if !ok {
		return
	}
	defer p.handlers.Done()
	view := pathStyle(r, set.domain)
	rec := Request{Method: r.Method, URI: r.RequestURI, Op: Op(view), SSE: sseHeaders(r)}
	p.serve(w, r, view, set, &rec)
	p.record(rec)
}

// serve answers r with the behaviours in set, or forwards it, and fills in rec.
// view is r as a path-style request (pathStyle), which the behaviours read; r itself is what is forwarded.
func (p *Proxy) serve(w http.ResponseWriter, r, view *http.Request, set settings, rec *Request) {
	bucket, key := BucketKey(view)

	for _, rule := range set.rules {
		if rule.match(view) {
			rec.By = append(rec.By, ByAnswerError)
			// The rule's own headers come last, so that they win over the behaviours' headers.
			p.addBucketRegion(w, rec, set)
			for k, v := range rule.headers {
				w.Header().Set(k, v)
			}
			rec.Status = rule.status
			writeError(w, r, rule.status, rule.code, rule.message)
			return
		}
	}

	if set.region != "" && bucket != "" {
		if signed := signingRegion(r); signed != "" && signed != set.region {
			rec.By = append(rec.By, ByWrongRegion)
			rec.Status = http.StatusMovedPermanently
			w.Header().Set("x-amz-bucket-region", set.region)
			writeError(w, r, rec.Status, "PermanentRedirect",
				"The bucket you are attempting to access must be addressed using the specified endpoint. "+
					"Please send all future requests to this endpoint.",
				"Endpoint", bucket+".s3."+set.region+".amazonaws.com", "Bucket", bucket)
			return
		}
	}

	if set.payer && bucket != "" && !payerConfirmed(r) {
		rec.By = append(rec.By, ByRequirePayer)
		rec.Status = http.StatusForbidden
		p.addBucketRegion(w, rec, set)
		writeError(w, r, rec.Status, "AccessDenied", "Access Denied")
		return
	}

	if set.sse != nil && (rec.Op == "PutObject" || rec.Op == "CreateMultipartUpload") && !set.sse.met(r) {
		rec.By = append(rec.By, ByRequireSSE)
		rec.Status = http.StatusForbidden
		writeError(w, r, rec.Status, "AccessDenied", "User: arn:aws:iam::000000000000:root is not authorized to perform: "+
			`s3:PutObject on resource: "arn:aws:s3:::`+bucket+"/"+key+`" with an explicit deny in a resource-based policy`)
		return
	}

	if set.kmsKey != "" && rec.Op == "GetBucketEncryption" {
		rec.By = append(rec.By, ByDefaultKMSKey)
		rec.Status = http.StatusOK
		io.Copy(io.Discard, r.Body)
		body := xml.Header + `<ServerSideEncryptionConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule>` +
			`<ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>` + set.kmsKey +
			`</KMSMasterKeyID></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>false</BucketKeyEnabled></Rule>` +
			`</ServerSideEncryptionConfiguration>`
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Status)
		io.WriteString(w, body)
		return
	}

	class, archived := set.archived[key]
	if len(set.archived) > 0 && rec.Op == "RestoreObject" {
		p.serveRestore(w, r, set, rec, key)
		return
	}
	restore, restoring := set.restores[key]
	if archived && rec.Op == "GetObject" && !restore.done {
		rec.By = append(rec.By, ByArchive)
		rec.Status = http.StatusForbidden
		writeError(w, r, rec.Status, "InvalidObjectState", "The operation is not valid for the object's storage class",
			"StorageClass", class)
		return
	}

	resp, err := p.forward(r)
	if err != nil {
		// The server is unreachable or the client went away: what a load balancer in front of S3 would answer.
		rec.Status = http.StatusBadGateway
		http.Error(w, "awsproxy: "+err.Error(), rec.Status)
		return
	}
	defer resp.Body.Close()
	rec.Forwarded = true
	copyHeader(w.Header(), resp.Header)
	if _, ok := resp.Header["Content-Type"]; !ok {
		// Without this, Go's server would guess a Content-Type from the body and add it.
		w.Header()["Content-Type"] = nil
	}
	success := resp.StatusCode >= 200 && resp.StatusCode < 300
	p.addBucketRegion(w, rec, set)
	if set.payer && success && payerConfirmed(r) {
		rec.By = append(rec.By, ByRequirePayer)
		w.Header().Set("x-amz-request-charged", "requester")
	}
	if set.kmsKey != "" && success && (rec.Op == "GetObject" || rec.Op == "HeadObject" || rec.Op == "PutObject" ||
		rec.Op == "CompleteMultipartUpload" || rec.Op == "CreateMultipartUpload" || rec.Op == "UploadPart") {
		rec.By = append(rec.By, ByDefaultKMSKey)
		w.Header().Set("x-amz-server-side-encryption", "aws:kms")
		w.Header().Set("x-amz-server-side-encryption-aws-kms-key-id", set.kmsKey)
	}
	if set.sse != nil && success && (rec.Op == "PutObject" || rec.Op == "CreateMultipartUpload") && r.Header.Get(hdrSSE) != "" {
		// After DefaultKMSKey: a request's own encryption overrides the bucket's default.
		rec.By = append(rec.By, ByRequireSSE)
		w.Header().Set(hdrSSE, r.Header.Get(hdrSSE))
		w.Header().Del(hdrSSEKMSKeyID)
		if k := r.Header.Get(hdrSSEKMSKeyID); k != "" {
			w.Header().Set(hdrSSEKMSKeyID, k)
		}
		if strings.EqualFold(r.Header.Get(hdrSSEBucketKey), "true") {
			w.Header().Set(hdrSSEBucketKey, "true")
		}
	}
	if archived && rec.Op == "HeadObject" && success {
		rec.By = append(rec.By, ByArchive)
		w.Header().Set("x-amz-storage-class", class)
		if h := restoreHeader(restore, restoring); h != "" {
			w.Header().Set("x-amz-restore", h)
		}
	}

	isList := rec.Op == "ListObjectsV2" || rec.Op == "ListObjects"
	shuffle := set.unordered && rec.Op == "ListObjectsV2"
	if isList && resp.StatusCode == http.StatusOK && (len(set.archived) > 0 || shuffle) {
		p.rewriteListing(w, view, resp, set, shuffle, rec)
		return
	}

	if resp.ContentLength >= 0 && bodyAllowed(resp.StatusCode) {
		// Also for HEAD, whose answer has no body but whose Content-Length is the object's size.
		w.Header().Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	rec.Status = resp.StatusCode
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// addBucketRegion adds x-amz-bucket-region to a HeadBucket answer when WrongRegion is set: S3 sends it with every
// HeadBucket answer, success or error (S3 API Reference: HeadBucket).
func (p *Proxy) addBucketRegion(w http.ResponseWriter, rec *Request, set settings) {
	if set.region == "" || rec.Op != "HeadBucket" {
		return
	}
	rec.By = append(rec.By, ByWrongRegion)
	w.Header().Set("x-amz-bucket-region", set.region)
}

// rewriteListing sends a ListObjects(V2) answer with the archived keys' storage classes and, if shuffle, its
// entries shuffled.
func (p *Proxy) rewriteListing(w http.ResponseWriter, r *http.Request, resp *http.Response, set settings, shuffle bool, rec *Request) {
	body, err := readBody(resp)
	if err != nil {
		rec.Status = http.StatusBadGateway
		http.Error(w, "awsproxy: reading the listing: "+err.Error(), rec.Status)
		return
	}
	var rng *rand.Rand
	var carryIn [][]byte
	next := ""
	if shuffle {
		rng = rand.New(rand.NewPCG(set.seed, listingHash(r)))
		carryIn = p.carried(listingID(r, r.URL.Query().Get("continuation-token")))
		next = nextToken(body)
	}
	out, held, archivedAny, err := rewriteContents(body, set.archived, rng, carryIn, next != "")
	if next != "" {
		p.hold(listingID(r, next), held)
	}
	if err != nil {
		rec.Status = http.StatusBadGateway
		http.Error(w, "awsproxy: rewriting the listing: "+err.Error(), rec.Status)
		return
	}
	if len(set.restores) > 0 && wantsRestoreStatus(r) {
		out, err = addRestoreStatus(out, set.restores)
		if err != nil {
			rec.Status = http.StatusBadGateway
			http.Error(w, "awsproxy: adding restore states to the listing: "+err.Error(), rec.Status)
			return
		}
	}
	if archivedAny {
		rec.By = append(rec.By, ByArchive)
	}
	if shuffle {
		rec.By = append(rec.By, ByUnordered)
	}
	// The body was decoded if it came compressed, and its length changed.
	w.Header().Del("Content-Encoding")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	rec.Status = resp.StatusCode
	w.WriteHeader(resp.StatusCode)
	w.Write(out)
}

// readBody reads a whole answer body, decompressing it if the server gzipped it.
func readBody(resp *http.Response) ([]byte, error) {
	switch enc := resp.Header.Get("Content-Encoding"); enc {
	case "", "identity":
		return io.ReadAll(resp.Body)
	case "gzip":
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return nil, err
		}
		return io.ReadAll(zr)
	default:
		return nil, fmt.Errorf("content encoding %q", enc)
	}
}

// listingID names one page of one listing for Unordered's carry: the bucket, the listing's query parameters but its
// continuation token and signature, and token, the page's token.
func listingID(r *http.Request, token string) string {
	q := r.URL.Query()
	for k := range q {
		if strings.HasPrefix(strings.ToLower(k), "x-amz-") || k == "continuation-token" {
			q.Del(k)
		}
	}
	return r.URL.Path + "?" + q.Encode() + "\x00" + token
}

// carried returns the entries held back for the page id names.
func (p *Proxy) carried(id string) [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.carry[id]
}

// hold keeps entries for the page id names.
func (p *Proxy) hold(id string, entries [][]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.carry == nil {
		p.carry = map[string][][]byte{}
	}
	p.carry[id] = entries
}

// nextToken returns a truncated ListObjectsV2 answer's NextContinuationToken, or "" for the last page.
func nextToken(body []byte) string {
	var v struct {
		IsTruncated           bool
		NextContinuationToken string
	}
	if xml.Unmarshal(body, &v) != nil || !v.IsTruncated {
		return ""
	}
	return v.NextContinuationToken
}

// listingHash identifies a listing request for Unordered's shuffle: its path and query, without the signature
// parameters of a presigned URL, which change with every signing.
func listingHash(r *http.Request) uint64 {
	q := r.URL.Query()
	for k := range q {
		if strings.HasPrefix(strings.ToLower(k), "x-amz-") {
			q.Del(k)
		}
	}
	h := fnv.New64a()
	io.WriteString(h, r.URL.Path+"?"+q.Encode())
	return h.Sum64()
}

// listEntry is the part of a listing's <Contents> entry the proxy reads.
type listEntry struct {
	Key string `xml:"Key"`
}

// rewriteContents rewrites the <Contents> entries of a ListObjects(V2) answer: archived keys get their class in
// <StorageClass>, and if rng is not nil the entries, with carryIn added, are shuffled, and with holdBack set about
// one in four of them (at least one of two or more) is left out and returned as held, for the next page.
// Everything outside the entries is kept byte for byte but KeyCount, which counts the entries given. It reports
// whether an archived key was found.
func rewriteContents(body []byte, archived map[string]string, rng *rand.Rand, carryIn [][]byte, holdBack bool) (out []byte, held [][]byte, archivedAny bool, err error) {
	// S3 URL-encodes the keys when asked to (encoding-type=url) and then says so in the answer; versitygw ignores
	// the request and sends an empty <EncodingType>, so the answer, not the request, tells whether to decode.
	urlEncoded := bytes.Contains(body, []byte("<EncodingType>url</EncodingType>"))
	const open, end = "<Contents>", "</Contents>"
	type span struct{ start, end int }
	var spans []span
	var entries [][]byte
	for at := 0; ; {
		i := bytes.Index(body[at:], []byte(open))
		if i < 0 {
			break
		}
		start := at + i
		j := bytes.Index(body[start:], []byte(end))
		if j < 0 {
			return nil, nil, false, fmt.Errorf("unterminated %s at byte %d", open, start)
		}
		stop := start + j + len(end)
		entry := body[start:stop]
		var e listEntry
		if err := xml.Unmarshal(entry, &e); err != nil {
			return nil, nil, false, fmt.Errorf("entry at byte %d: %w", start, err)
		}
		key := e.Key
		if urlEncoded {
			// S3 encodes keys as in a query string (a space is "+").
			if k, err := url.QueryUnescape(key); err == nil {
				key = k
			}
		}
		if class, ok := archived[key]; ok {
			entry = setStorageClass(entry, class)
			archivedAny = true
		}
		spans = append(spans, span{start, stop})
		entries = append(entries, entry)
		at = stop
	}
	if rng == nil {
		var b bytes.Buffer
		prev := 0
		for i, sp := range spans {
			b.Write(body[prev:sp.start])
			b.Write(entries[i])
			prev = sp.end
		}
		b.Write(body[prev:])
		return b.Bytes(), nil, archivedAny, nil
	}
	given := len(entries)
	if holdBack && len(entries) >= 2 {
		var keep [][]byte
		for _, e := range entries {
			if rng.IntN(4) == 0 {
				held = append(held, e)
			} else {
				keep = append(keep, e)
			}
		}
		if len(held) == 0 {
			held, keep = keep[:1], keep[1:]
		}
		entries = keep
	}
	entries = append(entries, carryIn...)
	order := make([]int, len(entries))
	for i := range order {
		order[i] = i
	}
	if len(order) >= 2 {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		if slices.IsSorted(order) {
			// The shuffle left the page as it was; rotate it, so the page is never in its original order.
			order = append(order[1:], order[0])
		}
	}
	// The entries go where the first one was; the body's other entries' places are left empty.
	var b bytes.Buffer
	at := bytes.Index(body, []byte("</ListBucketResult>"))
	if len(spans) > 0 {
		at = spans[0].start
	}
	if at < 0 {
		return nil, nil, false, fmt.Errorf("no </ListBucketResult> in the listing")
	}
	b.Write(body[:at])
	for _, i := range order {
		b.Write(entries[i])
	}
	prev := at
	for _, sp := range spans {
		b.Write(body[prev:sp.start])
		prev = sp.end
	}
	b.Write(body[prev:])
	out = b.Bytes()
	if len(entries) != given {
		out = setKeyCount(out, len(entries))
	}
	return out, held, archivedAny, nil
}

// setKeyCount sets a ListObjectsV2 answer's <KeyCount>, if it has one.
func setKeyCount(body []byte, n int) []byte {
	const open, shut = "<KeyCount>", "</KeyCount>"
	i := bytes.Index(body, []byte(open))
	if i < 0 {
		return body
	}
	j := bytes.Index(body[i:], []byte(shut))
	if j < 0 {
		return body
	}
	out := slices.Clone(body[:i+len(open)])
	out = strconv.AppendInt(out, int64(n), 10)
	return append(out, body[i+j:]...)
}

// setStorageClass returns a <Contents> entry with its <StorageClass> set to class, added if it has none.
func setStorageClass(entry []byte, class string) []byte {
	var esc bytes.Buffer
	xml.EscapeText(&esc, []byte(class))
	const open, shut = "<StorageClass>", "</StorageClass>"
	if i := bytes.Index(entry, []byte(open)); i >= 0 {
		if j := bytes.Index(entry[i:], []byte(shut)); j >= 0 {
			out := slices.Clone(entry[:i+len(open)])
			out = append(out, esc.Bytes()...)
			return append(out, entry[i+j:]...)
		}
	}
	end := bytes.LastIndex(entry, []byte("</Contents>"))
	out := slices.Clone(entry[:end])
	out = append(out, open...)
	out = append(out, esc.Bytes()...)
	out = append(out, shut...)
	return append(out, entry[end:]...)
}

// hopByHop are the headers that belong to one connection, not to the request or answer. Content-Length is set from
// the request's or answer's length instead.
var hopByHop = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true, "Proxy-Authorization": true,
	"Proxy-Connection": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
	"Content-Length": true,
}

// copyHeader copies the end-to-end headers of src to dst.
func copyHeader(dst, src http.Header) {
	for k, vs := range src {
		if !hopByHop[k] {
			dst[k] = slices.Clone(vs)
		}
	}
}

// bodyAllowed reports whether an answer with this status may have a body (and so a Content-Length).
func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// forward sends r to the server unchanged and returns the server's answer.
func (p *Proxy) forward(r *http.Request) (*http.Response, error) {
	target := r.RequestURI
	if !strings.HasPrefix(target, "/") {
		// An absolute-form target (http://host/path), as sent to a forward proxy.
		target = r.URL.RequestURI()
	}
	path, query, _ := strings.Cut(target, "?")
	out, err := http.NewRequestWithContext(r.Context(), r.Method, p.target, nil)
	if err != nil {
		return nil, err
	}
	// Opaque is sent as the request path verbatim: re-encoding it from a parsed path could change the bytes the
	// signature covers (for example %7E against ~).
	out.URL.Opaque = path
	out.URL.RawQuery = query
	copyHeader(out.Header, r.Header)
	if _, ok := r.Header["User-Agent"]; !ok {
		// An empty User-Agent keeps Go's transport from adding its own.
		out.Header["User-Agent"] = []string{""}
	}
	// The signature covers the Host the client sent, which is the proxy's address.
	out.Host = r.Host
	out.ContentLength = r.ContentLength
	if r.ContentLength != 0 {
		out.Body = r.Body
	} else {
		// A non-nil body of length 0 would be sent chunked.
		out.Body = http.NoBody
	}
	return p.transport.RoundTrip(out)
}

// writeError answers with an S3 error: status, and for all but HEAD an XML body with code, message and the extra
// elements, given as name, value pairs. It reads the request body first: a server that answers while the client is
// still sending makes Go's server close the connection, and the client would see a reset instead of the error.
func writeError(w http.ResponseWriter, r *http.Request, status int, code, message string, extra ...string) {
	io.Copy(io.Discard, r.Body)
	w.Header().Set("x-amz-request-id", "AWSPROXY")
	w.Header().Set("x-amz-id-2", "awsproxy")
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString("<Error>")
	element(&b, "Code", code)
	element(&b, "Message", message)
	for i := 0; i+1 < len(extra); i += 2 {
		element(&b, extra[i], extra[i+1])
	}
	element(&b, "RequestId", "AWSPROXY")
	element(&b, "HostId", "awsproxy")
	b.WriteString("</Error>")
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

func element(b *bytes.Buffer, name, text string) {
	b.WriteString("<" + name + ">")
	xml.EscapeText(b, []byte(text))
	b.WriteString("</" + name + ">")
}

// signingRegion returns the region in r's SigV4 credential scope, from the Authorization header or a presigned
// URL's X-Amz-Credential; "" if r is not signed with SigV4.
func signingRegion(r *http.Request) string {
	scope := r.URL.Query().Get("X-Amz-Credential")
	if _, rest, ok := strings.Cut(r.Header.Get("Authorization"), "Credential="); ok {
		scope, _, _ = strings.Cut(rest, ",")
	}
	// AKID/DATE/REGION/SERVICE/aws4_request; an access key id has no slash.
	parts := strings.Split(strings.TrimSpace(scope), "/")
	if len(parts) != 5 {
		return ""
	}
	return parts[2]
}

// payerConfirmed reports whether r says the requester pays, in a header or, for a presigned URL, in the query.
func payerConfirmed(r *http.Request) bool {
	if strings.EqualFold(r.Header.Get("x-amz-request-payer"), "requester") {
		return true
	}
	for k, vs := range r.URL.Query() {
		if strings.EqualFold(k, "x-amz-request-payer") && len(vs) > 0 && strings.EqualFold(vs[0], "requester") {
			return true
		}
	}
	return false
}
