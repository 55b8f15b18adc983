package awsproxy

import (
	"net"
	"net/http"
	"strings"
)

// VirtualHosts makes the proxy read virtual-hosted-style requests for domain as S3 does: a request whose Host is
// BUCKET.domain is on bucket BUCKET, and its path is the key (S3 User Guide, "Virtual hosting of general purpose
// buckets"). The behaviours (AnswerError's Ops, Archive, WrongRegion, ...) and the request log then see the bucket
// and the operation as for a path-style request; the request is still forwarded as it came, Host included, so its
// signature verifies at a server that serves the same domain (versitygw --virtual-domain domain).
//
// Such requests reach the proxy as a forward proxy: a client whose HTTP_PROXY is the proxy's URL sends it every
// request for a host name other than localhost (Go's http.ProxyFromEnvironment, which the SDK's transport uses), in
// absolute form, http://BUCKET.domain/KEY, whatever the name resolves to, or whether it resolves at all. That is how
// a test reaches an access point through a local server: the SDK sends the requests for an access point ARN to
// NAME-ACCOUNT.ENDPOINT-HOST ("Referencing access points with ARNs, access point aliases, or virtual-hosted–style
// URIs"), which versitygw serves as the bucket NAME-ACCOUNT.
func (p *Proxy) VirtualHosts(domain string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.set.domain = domain
}

// pathStyle returns r as the path-style request it stands for: when r's Host is BUCKET.domain, a copy whose path
// begins with /BUCKET; otherwise r itself. The copy shares r's body, which nothing that reads the copy may read.
func pathStyle(r *http.Request, domain string) *http.Request {
	if domain == "" {
		return r
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	bucket, ok := strings.CutSuffix(strings.ToLower(host), "."+strings.ToLower(domain))
	if !ok || bucket == "" {
		return r
	}
	view := r.Clone(r.Context())
	view.URL.Path = "/" + bucket + r.URL.Path
	view.URL.RawPath = ""
	return view
}
