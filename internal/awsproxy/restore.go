package awsproxy

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Restores of archived objects. S3 restores an archived object (S3 Glacier Flexible Retrieval, Deep Archive) when
// asked with RestoreObject, POST /KEY?restore with a RestoreRequest body of Days and GlacierJobParameters' Tier, and
// keeps a temporary copy readable for that many days (S3 User Guide, "Restoring an archived object"). versitygw has no
// archive tier: it authorizes RestoreObject against the caller's policies, then answers 501 NotImplemented. The
// proxy sends every RestoreObject on to versitygw, so that its IAM decides who may restore, and when versitygw has
// authorized the request (answered 501), the proxy answers as S3 does (S3 API Reference: RestoreObject, "Responses"):
//
//   - for a key Archive named and not asked to be restored: 202 Accepted, and the restore is under way;
//   - while it is under way: 409 RestoreAlreadyInProgress, "Object restore is already in progress";
//   - once RestoreDone has marked it done: 200 OK, and the copy's expiry moves to the new number of days;
//   - for any other key: 404 NoSuchKey, S3's answer for a key with no object. The proxy does not know which other
//     keys exist; S3 answers 403 InvalidObjectState for an object in a class that needs no restore, which fsxsync
//     never asks to restore (its preflight probe asks for a key that does not exist).
//
// Every such request is in the log with the restore it asked for (Request.Restore). While a restore is under way,
// HeadObject answers carry x-amz-restore: ongoing-request="true", and GetObject still answers 403 InvalidObjectState;
// once done, x-amz-restore: ongoing-request="false", expiry-date="..." (S3 API Reference: HeadObject, x-amz-restore),
// and GetObject is forwarded: the object reads as it is. A ListObjectsV2 request that asks for the restore state
// (x-amz-optional-object-attributes: RestoreStatus; S3 API Reference: ListObjectsV2, OptionalObjectAttributes, and
// the RestoreStatus data type) gets, in each such object's <Contents>, <RestoreStatus> with <IsRestoreInProgress>
// and, once done, <RestoreExpiryDate>; objects with no restore get none, as from S3.

// RestoreRequest is the restore a RestoreObject request asked for, as the log records it.
type RestoreRequest struct {
	Key  string
	Days int    // 0 when the request gave none
	Tier string // "" when the request gave none (S3's default is Standard)
}

// restoreState is one archived key's restore: under way until done, then readable until expiry.
type restoreState struct {
	days   int
	done   bool
	expiry time.Time
}

// RestoreDone marks the restores of keys, archived keys in every bucket, as done, whether or not anyone asked for
// them: GetObject is then forwarded, and HeadObject and listings say the restored copy is readable (see Archive).
func (p *Proxy) RestoreDone(keys ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	restores := maps.Clone(p.set.restores)
	if restores == nil {
		restores = map[string]restoreState{}
	}
	for _, k := range keys {
		st := restores[k]
		st.done, st.expiry = true, restoreExpiry(time.Now(), max(st.days, 1))
		restores[k] = st
	}
	p.set.restores = restores
}

// restoreExpiry is when a restored copy made at t for days days expires: S3 rounds the time up to the next midnight
// UTC (S3 User Guide, "Restoring an archived object").
func restoreExpiry(t time.Time, days int) time.Time {
	return t.UTC().Truncate(24*time.Hour).AddDate(0, 0, days+1)
}

// startRestore records a restore request for an archived key and returns the status S3 answers it with.
func (p *Proxy) startRestore(key string, days int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, ok := p.set.restores[key]
	if ok && !st.done {
		return http.StatusConflict
	}
	restores := maps.Clone(p.set.restores)
	if restores == nil {
		restores = map[string]restoreState{}
	}
	defer func() { p.set.restores = restores }()
	if ok {
		// A restored copy: the request only sets its expiry anew, counted from now.
		st.days, st.expiry = days, restoreExpiry(time.Now(), max(days, 1))
		restores[key] = st
		return http.StatusOK
	}
	restores[key] = restoreState{days: days}
	return http.StatusAccepted
}

// restoreBody is the part of a RestoreRequest body the proxy reads.
type restoreBody struct {
	Days int    `xml:"Days"`
	Tier string `xml:"Tier"`
	Job  struct {
		Tier string `xml:"Tier"`
	} `xml:"GlacierJobParameters"`
}

// serveRestore answers a RestoreObject request (see the top of this file) and fills in rec.
func (p *Proxy) serveRestore(w http.ResponseWriter, r *http.Request, set settings, rec *Request, key string) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		rec.Status = http.StatusBadGateway
		http.Error(w, "awsproxy: reading the request: "+err.Error(), rec.Status)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	resp, err := p.forward(r)
	if err != nil {
		rec.Status = http.StatusBadGateway
		http.Error(w, "awsproxy: "+err.Error(), rec.Status)
		return
	}
	defer resp.Body.Close()
	rec.Forwarded = true
	if resp.StatusCode != http.StatusNotImplemented {
		// versitygw refused the request (AccessDenied, NoSuchBucket, MalformedXML): its answer goes back as it is.
		copyHeader(w.Header(), resp.Header)
		if resp.ContentLength >= 0 {
			w.Header().Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
		}
		rec.Status = resp.StatusCode
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
		return
	}
	io.Copy(io.Discard, resp.Body)
	var rb restoreBody
	if err := xml.Unmarshal(body, &rb); err != nil {
		rec.Status = http.StatusBadRequest
		writeError(w, r, rec.Status, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.")
		return
	}
	tier := rb.Job.Tier
	if tier == "" {
		tier = rb.Tier
	}
	rec.By = append(rec.By, ByArchive)
	rec.Restore = &RestoreRequest{Key: key, Days: rb.Days, Tier: tier}
	if _, archived := set.archived[key]; !archived {
		rec.Status = http.StatusNotFound
		writeError(w, r, rec.Status, "NoSuchKey", "The specified key does not exist.", "Key", key)
		return
	}
	rec.Status = p.startRestore(key, rb.Days)
	if rec.Status == http.StatusConflict {
		writeError(w, r, rec.Status, "RestoreAlreadyInProgress", "Object restore is already in progress")
		return
	}
	w.Header().Set("x-amz-request-id", "AWSPROXY")
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(rec.Status)
}

// restoreHeader is HeadObject's x-amz-restore for a restore: "" when none was asked for.
func restoreHeader(st restoreState, ok bool) string {
	switch {
	case !ok:
		return ""
	case !st.done:
		return `ongoing-request="true"`
	}
	return `ongoing-request="false", expiry-date="` + st.expiry.Format(http.TimeFormat) + `"`
}

// wantsRestoreStatus reports whether a listing request asks for the objects' restore state.
func wantsRestoreStatus(r *http.Request) bool {
	for _, v := range r.Header.Values("x-amz-optional-object-attributes") {
		for _, a := range strings.Split(v, ",") {
			if strings.TrimSpace(a) == "RestoreStatus" {
				return true
			}
		}
	}
	return false
}

// addRestoreStatus adds <RestoreStatus> to the <Contents> entries of a listing whose keys have a restore.
func addRestoreStatus(body []byte, restores map[string]restoreState) ([]byte, error) {
	urlEncoded := bytes.Contains(body, []byte("<EncodingType>url</EncodingType>"))
	const open, end = "<Contents>", "</Contents>"
	var out bytes.Buffer
	at := 0
	for {
		i := bytes.Index(body[at:], []byte(open))
		if i < 0 {
			break
		}
		start := at + i
		j := bytes.Index(body[start:], []byte(end))
		if j < 0 {
			return nil, fmt.Errorf("unterminated %s at byte %d", open, start)
		}
		stop := start + j
		var e listEntry
		if err := xml.Unmarshal(body[start:stop+len(end)], &e); err != nil {
			return nil, fmt.Errorf("entry at byte %d: %w", start, err)
		}
		key := e.Key
		if urlEncoded {
			if k, err := url.QueryUnescape(key); err == nil {
				key = k
			}
		}
		out.Write(body[at:stop])
		if st, ok := restores[key]; ok {
			out.WriteString("<RestoreStatus><IsRestoreInProgress>" + strconv.FormatBool(!st.done) + "</IsRestoreInProgress>")
			if st.done {
				out.WriteString("<RestoreExpiryDate>" + st.expiry.Format("2006-01-02T15:04:05.000Z") + "</RestoreExpiryDate>")
			}
			out.WriteString("</RestoreStatus>")
		}
		at = stop
	}
	out.Write(body[at:])
	return slices.Clip(out.Bytes()), nil
}
