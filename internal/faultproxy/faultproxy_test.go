package faultproxy

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The conclusions of the fault matrix rest on the proxy doing exactly what each fault says; this checks what a
// client sees for each, against a small backend.
func TestFaults(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789"), 10000)
	var gotHost atomic.Value
	var putBytes atomic.Int64
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHost.Store(r.Host)
		if r.Method == http.MethodPut {
			n, _ := io.Copy(io.Discard, r.Body)
			putBytes.Store(n)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}))
	defer backend.Close()
	p, err := Start(backend.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// A fresh connection per request, so that one fault's broken connection cannot spill into the next check.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	fault := func(f Fault) {
		p.SetRule(func(*http.Request, int) Action { return Action{Fault: f} })
	}
	get := func() ([]byte, int, error) {
		req, _ := http.NewRequest(http.MethodGet, p.URL+"/b/k?partNumber=1", nil)
		req.Header.Set("amz-sdk-request", "attempt=2; max=10")
		resp, err := client.Do(req)
		if err != nil {
			return nil, 0, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return b, resp.StatusCode, err
	}

	b, status, err := get()
	if err != nil || status != 200 || !bytes.Equal(b, body) {
		t.Fatalf("pass: status %d, %d bytes, err %v", status, len(b), err)
	}
	if h := gotHost.Load(); h != strings.TrimPrefix(p.URL, "http://") {
		t.Errorf("the server saw Host %q, want the proxy's %q (signatures cover it)", h, p.URL)
	}

	fault(SlowDown)
	if b, status, err = get(); status != 503 || !strings.Contains(string(b), "<Code>SlowDown</Code>") {
		t.Errorf("SlowDown: status %d, body %q, err %v", status, b, err)
	}

	fault(TruncateResponse)
	if b, _, err = get(); !errors.Is(err, io.ErrUnexpectedEOF) || len(b) != len(body)/2 {
		t.Errorf("TruncateResponse: %d bytes, err %v; want half the body, then unexpected EOF", len(b), err)
	}

	fault(ResetResponse)
	if b, _, err = get(); err == nil || len(b) >= len(body) {
		t.Errorf("ResetResponse: %d bytes, err %v; want part of the body, then an error", len(b), err)
	}

	fault(ResetRequest)
	putBytes.Store(-1)
	req, _ := http.NewRequest(http.MethodPut, p.URL+"/b/k", bytes.NewReader(body))
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("ResetRequest: the client got status %d, want a broken connection", resp.StatusCode)
	}
	if n := putBytes.Load(); n >= int64(len(body)) {
		t.Errorf("ResetRequest: the server received the whole body (%d bytes)", n)
	}

	fault(Pass)
	p.Down()
	if _, _, err = get(); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("down: err %v, want connection refused", err)
	}
	if err := p.Up(); err != nil {
		t.Fatal(err)
	}
	if b, status, err = get(); err != nil || status != 200 || !bytes.Equal(b, body) {
		t.Errorf("up again: status %d, %d bytes, err %v", status, len(b), err)
	}

	reqs := p.Requests()
	if len(reqs) != 6 {
		t.Fatalf("logged %d requests, want 6 (the refused one never arrived)", len(reqs))
	}
	if r := reqs[1]; r.Attempt != 2 || r.Action.Fault != SlowDown || r.Status != 503 || r.Method != http.MethodGet ||
		r.URI != "/b/k?partNumber=1" || r.End.Before(r.Start) {
		t.Errorf("log entry: %+v", r)
	}
}

// ListLatency delays listings only: a benchmark that adds a region's round trip to every page must not slow the
// other requests.
func TestListLatency(t *testing.T) {
	rule := ListLatency(30 * time.Millisecond)
	for uri, want := range map[string]time.Duration{
		"/b?list-type=2&prefix=p%2F": 30 * time.Millisecond,
		"/b/?list-type=2":            30 * time.Millisecond,
		"/b/k":                       0,
		"/b?uploads":                 0,
	} {
		r := httptest.NewRequest(http.MethodGet, uri, nil)
		if a := rule(r, 0); a.Delay != want || a.Fault != Pass {
			t.Errorf("GET %s: %+v, want a delay of %v", uri, a, want)
		}
	}
	if a := rule(httptest.NewRequest(http.MethodPut, "/b?list-type=2", nil), 0); a.Delay != 0 {
		t.Errorf("PUT: delayed %v", a.Delay)
	}
}
