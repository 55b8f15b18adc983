// Package faultproxy is a reverse proxy for tests that stands between an S3 client and a real S3 server on
// 127.0.0.1 and injects the faults a long transfer meets in production: 503 SlowDown and 500 InternalError answers,
// connections reset in the middle of a request or response body, responses cut short of their Content-Length,
// latency spikes, and the server going away for a while.
//
// A Rule chooses the fault for each request; every request is logged with the SDK's invocation id and attempt
// number (the amz-sdk-invocation-id and amz-sdk-request headers), so a test can see how the client retried.
//
// The proxy forwards requests unchanged, Host header included, so SigV4 signatures made for the proxy's address
// verify at the server.
package faultproxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fault is what the proxy does to one request.
type Fault int

// The faults.
const (
	// Pass forwards the request and its answer unchanged.
	Pass Fault = iota
	// SlowDown answers 503 with S3's SlowDown error, without forwarding.
	SlowDown
	// InternalError answers 500 with S3's InternalError error, without forwarding.
	InternalError
	// ResetResponse forwards the request, sends the answer's headers and half of its body, then resets the
	// connection (TCP RST).
	ResetResponse
	// TruncateResponse forwards the request, sends the answer's headers (with the full Content-Length) and half of
	// its body, then closes the connection cleanly (FIN): the client sees a body shorter than announced.
	TruncateResponse
	// ResetRequest forwards half of the request body to the server, then aborts the upstream request and resets
	// the client's connection: an upload whose connection died in the middle.
	ResetRequest
	// WrongRegion answers 301 PermanentRedirect with x-amz-bucket-region: eu-west-1, without forwarding: what S3
	// answers a request signed for another region than the bucket's (S3 API Reference, "Error responses" and
	// HeadBucket; a HEAD's answer has no body).
	WrongRegion
	// ClockSkew answers 403 RequestTimeTooSkewed, without forwarding: what S3 answers a request whose signature time
	// is more than 15 minutes from its own (S3 API Reference, "Error responses").
	ClockSkew
)

func (f Fault) String() string {
	switch f {
	case Pass:
		return "pass"
	case SlowDown:
		return "503 SlowDown"
	case InternalError:
		return "500 InternalError"
	case ResetResponse:
		return "reset mid-response"
	case TruncateResponse:
		return "truncated response"
	case ResetRequest:
		return "reset mid-request"
	case WrongRegion:
		return "301 PermanentRedirect"
	case ClockSkew:
		return "403 RequestTimeTooSkewed"
	}
	return "fault " + strconv.Itoa(int(f))
}

// Action is a Rule's decision for one request: wait Delay (a latency spike), then apply Fault.
type Action struct {
	Fault Fault
	Delay time.Duration
}

// Rule decides what happens to a request. seen is how many earlier requests had the same method and URI (path
// and query), so a rule can fault only the first try of each operation and let its retry through. Rules are
// called from many goroutines at once.
type Rule func(r *http.Request, seen int) Action

// ListLatency is a Rule that delays every ListObjectsV2 request by d and passes everything else at once: the round
// trip a listing page costs against S3 in a region (tens of milliseconds), which loopback does not have.
func ListLatency(d time.Duration) Rule {
	return func(r *http.Request, _ int) Action {
		if IsListObjectsV2(r) {
			return Action{Delay: d}
		}
		return Action{}
	}
}

// IsListObjectsV2 reports whether r is a ListObjectsV2 request: a GET of a bucket with list-type=2 (S3 API
// Reference: ListObjectsV2).
func IsListObjectsV2(r *http.Request) bool {
	return r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "2"
}

// Request is one request the proxy received.
type Request struct {
	Method string
	URI    string // path and query, as sent
	// InvocationID is the same for every attempt of one SDK operation; Attempt counts them from 1 (0: not an SDK
	// request).
	InvocationID string
	Attempt      int
	Action       Action
	Start, End   time.Time // when the request arrived and when the proxy was done with it
	Status       int       // the status sent to the client; 0 if the connection was cut before one
}

// Proxy is a running fault-injecting reverse proxy.
type Proxy struct {
	// URL is the proxy's base URL, http://127.0.0.1:PORT. It stays the same across Down and Up.
	URL string

	target    string // upstream base URL
	addr      string // host:port the proxy listens on
	transport *http.Transport

	mu   sync.Mutex
	srv  *http.Server // nil while down
	rule Rule
	seen map[string]int
	log  []Request
}

// S3's error bodies, as S3 sends them.
const (
	slowDownBody      = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`
	internalErrorBody = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>`
	wrongRegionBody   = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be addressed using the specified endpoint. Please send all future requests to this endpoint.</Message><Endpoint>s3.eu-west-1.amazonaws.com</Endpoint></Error>`
	clockSkewBody     = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<Error><Code>RequestTimeTooSkewed</Code><Message>The difference between the request time and the current time is too large.</Message></Error>`
)

// Start starts a proxy to target (a base URL such as http://127.0.0.1:7070) on a free 127.0.0.1 port. It passes
// every request until SetRule says otherwise.
func Start(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: %w", err)
	}
	p := &Proxy{
		URL:    "http://" + ln.Addr().String(),
		target: strings.TrimSuffix(target, "/"),
		addr:   ln.Addr().String(),
		transport: &http.Transport{
			// The client chose its encoding; the proxy must pass bytes through, not decompress them.
			DisableCompression:  true,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     30 * time.Second,
		},
		seen: map[string]int{},
	}
	p.serve(ln)
	return p, nil
}

// serve starts a fresh HTTP server on ln (an http.Server cannot be restarted once closed).
func (p *Proxy) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(p.handle)}
	p.mu.Lock()
	p.srv = srv
	p.mu.Unlock()
	go srv.Serve(ln)
}

// SetRule replaces the rule; nil passes everything.
func (p *Proxy) SetRule(r Rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rule = r
}

// Down makes the server vanish, as if killed: the listener closes (new connections are refused) and every open
// connection is closed. Requests the proxy was forwarding may still complete upstream; their answers are lost.
func (p *Proxy) Down() {
	p.mu.Lock()
	srv := p.srv
	p.srv = nil
	p.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
	p.transport.CloseIdleConnections()
}

// Up brings the proxy back on the same address after Down.
func (p *Proxy) Up() error {
	p.mu.Lock()
	up := p.srv != nil
	p.mu.Unlock()
	if up {
		return nil
	}
	// Go sets SO_REUSEADDR on listeners, so the port can be bound again while old connections sit in TIME_WAIT.
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return fmt.Errorf("faultproxy: listen again on %s: %w", p.addr, err)
	}
	p.serve(ln)
	return nil
}

// Close stops the proxy for good.
func (p *Proxy) Close() {
	p.Down()
}

// Requests returns a copy of the log, in arrival order.
func (p *Proxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Request(nil), p.log...)
}

// begin records the arrival of r and decides its action.
func (p *Proxy) begin(r *http.Request) (int, Action) {
	attempt := 0
	// The SDK sends "amz-sdk-request: attempt=2; max=10".
	for _, f := range strings.Split(r.Header.Get("amz-sdk-request"), ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(f), "attempt="); ok {
			attempt, _ = strconv.Atoi(v)
		}
	}
	key := r.Method + " " + r.URL.RequestURI()
	p.mu.Lock()
	seen := p.seen[key]
	p.seen[key]++
	rule := p.rule
	i := len(p.log)
	p.log = append(p.log, Request{Method: r.Method, URI: r.URL.RequestURI(),
		InvocationID: r.Header.Get("amz-sdk-invocation-id"), Attempt: attempt, Start: time.Now()})
	p.mu.Unlock()
	var a Action
	if rule != nil {
		a = rule(r, seen)
	}
	p.mu.Lock()
	p.log[i].Action = a
	p.mu.Unlock()
	return i, a
}

func (p *Proxy) end(i, status int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.log[i].End = time.Now()
	p.log[i].Status = status
}

func (p *Proxy) handle(w http.ResponseWriter, r *http.Request) {
	i, a := p.begin(r)
	status := 0
	defer func() { p.end(i, status) }()
	if a.Delay > 0 {
		select {
		case <-time.After(a.Delay):
		case <-r.Context().Done():
			return
		}
	}
	switch a.Fault {
	case SlowDown:
		status = http.StatusServiceUnavailable
		writeError(w, r, status, slowDownBody)
		return
	case InternalError:
		status = http.StatusInternalServerError
		writeError(w, r, status, internalErrorBody)
		return
	case ResetRequest:
		p.resetRequest(w, r)
		return
	case WrongRegion:
		status = http.StatusMovedPermanently
		w.Header().Set("x-amz-bucket-region", "eu-west-1")
		writeError(w, r, status, wrongRegionBody)
		return
	case ClockSkew:
		status = http.StatusForbidden
		writeError(w, r, status, clockSkewBody)
		return
	}
	resp, err := p.forward(r, r.Body)
	if err != nil {
		// The server is unreachable: what a load balancer in front of S3 would answer.
		status = http.StatusBadGateway
		http.Error(w, err.Error(), status)
		return
	}
	defer resp.Body.Close()
	switch a.Fault {
	case ResetResponse, TruncateResponse:
		status = resp.StatusCode
		cutResponse(w, r, resp, a.Fault == ResetResponse)
		return
	}
	for k, vs := range resp.Header {
		if !hopByHop[k] {
			w.Header()[k] = vs
		}
	}
	if resp.ContentLength >= 0 {
		// Also for HEAD, whose answer has no body but whose Content-Length is the object's size.
		w.Header().Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	status = resp.StatusCode
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// hopByHop are the headers that belong to one connection, not to the request or answer.
var hopByHop = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true, "Proxy-Authorization": true,
	"Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true, "Content-Length": true,
}

// forward sends r upstream with the given body and returns the server's answer.
func (p *Proxy) forward(r *http.Request, body io.Reader) (*http.Response, error) {
	out, err := http.NewRequestWithContext(r.Context(), r.Method, p.target+r.URL.RequestURI(), nil)
	if err != nil {
		return nil, err
	}
	for k, vs := range r.Header {
		if !hopByHop[k] {
			out.Header[k] = vs
		}
	}
	// The signature covers the Host the client sent, which is the proxy's address.
	out.Host = r.Host
	out.ContentLength = r.ContentLength
	if r.ContentLength != 0 {
		out.Body = io.NopCloser(body)
	} else {
		// A non-nil body with length 0 would be sent chunked.
		out.Body = http.NoBody
	}
	return p.transport.RoundTrip(out)
}

// writeError answers with an S3 error. It reads the request body first: a server that answers while the client is
// still sending makes Go's server close the connection, and the client would see a connection reset instead of
// the error.
func writeError(w http.ResponseWriter, r *http.Request, status int, body string) {
	io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Set("x-amz-request-id", "FAULTPROXY")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// errCut ends a request body the proxy cuts in half.
var errCut = errors.New("faultproxy: request body cut")

// resetRequest passes the first half of the request body upstream, then aborts the upstream request and resets the
// client's connection.
func (p *Proxy) resetRequest(w http.ResponseWriter, r *http.Request) {
	half := max(r.ContentLength, 0) / 2
	body := io.MultiReader(io.LimitReader(r.Body, half), errorReader{errCut})
	if resp, err := p.forward(r, body); err == nil {
		// The server answered before the body was complete (an early error); the client never sees it.
		resp.Body.Close()
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	reset(conn)
}

type errorReader struct{ err error }

func (e errorReader) Read([]byte) (int, error) { return 0, e.err }

// cutResponse sends resp's status and headers, with its full Content-Length, and half of its body, then closes the
// connection: with a reset (RST) or cleanly (FIN). An answer to HEAD has no body to cut: it goes out whole before
// the connection closes.
func cutResponse(w http.ResponseWriter, r *http.Request, resp *http.Response, rst bool) {
	body, _ := io.ReadAll(resp.Body)
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	if r.Method == http.MethodHead {
		writeHead(brw.Writer, resp, resp.ContentLength)
	} else {
		writeHead(brw.Writer, resp, int64(len(body)))
		brw.Write(body[:len(body)/2])
	}
	brw.Flush()
	if rst {
		reset(conn)
		return
	}
	conn.Close()
}

// writeHead writes an HTTP/1.1 status line and headers announcing length body bytes.
func writeHead(w *bufio.Writer, resp *http.Response, length int64) {
	fmt.Fprintf(w, "HTTP/1.1 %d %s\r\n", resp.StatusCode, http.StatusText(resp.StatusCode))
	h := resp.Header.Clone()
	for k := range hopByHop {
		h.Del(k)
	}
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	h.Write(w)
	w.WriteString("\r\n")
}

// reset closes conn with a TCP RST instead of a FIN, as a crashed server or a middlebox does.
func reset(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}
