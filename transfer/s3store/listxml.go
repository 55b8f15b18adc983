package s3store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"
	smithytime "github.com/aws/smithy-go/time"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Decoding a ListObjectsV2 page is the largest share of a no-op sync's CPU: profiled over HTTPS (10,000 files,
// versitygw), the SDK's encoding/xml token decoder took 43% of fsxsync's CPU time, more than the TLS and the walk
// together. A listing page is machine-written and regular, so fastList decodes the usual shape of it with a direct
// scan, which gives the SDK's output field for field, and hands anything else (an error status, an element or
// construct it does not know, malformed XML) to the SDK's own decoder unchanged. FuzzListV2XML holds the two to the
// same answers.

// fastListOption installs fastList in place of the SDK's deserializer of ListObjectsV2 responses.
func fastListOption(stack *middleware.Stack) error {
	if stack.ID() != "ListObjectsV2" {
		return nil
	}
	m, ok := stack.Deserialize.Get("OperationDeserializer")
	if !ok {
		return errors.New("list: the SDK's ListObjectsV2 stack has no OperationDeserializer")
	}
	_, err := stack.Deserialize.Swap("OperationDeserializer", fastList{sdk: m})
	return err
}

// fastList decodes a successful ListObjectsV2 response itself and leaves everything else to the SDK's deserializer.
type fastList struct {
	sdk middleware.DeserializeMiddleware
}

// ID is the SDK deserializer's, whose place fastList takes.
func (fastList) ID() string { return "OperationDeserializer" }

// HandleDeserialize sends the request (next), then decodes the answer.
func (f fastList) HandleDeserialize(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (
	middleware.DeserializeOutput, middleware.Metadata, error) {
	out, md, err := next.HandleDeserialize(ctx, in)
	resp, ok := out.RawResponse.(*smithyhttp.Response)
	if err != nil || !ok || resp == nil || resp.Response == nil || resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return f.sdk.HandleDeserialize(ctx, in, answered{out, md, err})
	}
	var buf bytes.Buffer
	if resp.ContentLength > 0 && resp.ContentLength < 64<<20 {
		buf.Grow(int(resp.ContentLength))
	}
	_, rerr := buf.ReadFrom(resp.Body)
	resp.Body.Close()
	page, perr := parseListV2(buf.Bytes())
	if rerr != nil || perr != nil {
		// The SDK reads the same bytes (and the read error after them) and answers as it always would.
		body := io.Reader(bytes.NewReader(buf.Bytes()))
		if rerr != nil {
			body = io.MultiReader(body, errReader{rerr})
		}
		resp.Body = io.NopCloser(body)
		return f.sdk.HandleDeserialize(ctx, in, answered{out, md, err})
	}
	// The SDK still decodes the headers (x-amz-request-charged); with no body there is nothing else for it to do.
	resp.Body = http.NoBody
	out, md, err = f.sdk.HandleDeserialize(ctx, in, answered{out, md, nil})
	if err != nil {
		return out, md, err
	}
	res, ok := out.Result.(*s3.ListObjectsV2Output)
	if !ok {
		return out, md, errors.New("list: the SDK's deserializer gave no ListObjectsV2Output")
	}
	page.fill(res)
	return out, md, nil
}

// answered is a DeserializeHandler that gives an answer already received, so that the SDK's deserializer decodes it
// without sending the request again.
type answered struct {
	out middleware.DeserializeOutput
	md  middleware.Metadata
	err error
}

func (a answered) HandleDeserialize(context.Context, middleware.DeserializeInput) (middleware.DeserializeOutput, middleware.Metadata, error) {
	return a.out, a.md, a.err
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// listPage is the body of a ListObjectsV2 answer: the fields of s3.ListObjectsV2Output that come from the XML.
type listPage struct {
	name, prefix, delimiter, continuationToken, nextContinuationToken, startAfter *string
	maxKeys, keyCount                                                             *int32
	isTruncated                                                                   *bool
	encodingType                                                                  s3types.EncodingType
	contents                                                                      []s3types.Object
	commonPrefixes                                                                []s3types.CommonPrefix
}

func (p *listPage) fill(o *s3.ListObjectsV2Output) {
	o.Name, o.Prefix, o.Delimiter = p.name, p.prefix, p.delimiter
	o.ContinuationToken, o.NextContinuationToken, o.StartAfter = p.continuationToken, p.nextContinuationToken, p.startAfter
	o.MaxKeys, o.KeyCount, o.IsTruncated, o.EncodingType = p.maxKeys, p.keyCount, p.isTruncated, p.encodingType
	o.Contents, o.CommonPrefixes = p.contents, p.commonPrefixes
}

// errNotFast means the document is outside what parseListV2 decodes; the SDK decodes it instead.
var errNotFast = errors.New("not a plain ListBucketResult")

// parseListV2 decodes a ListBucketResult document of the shape S3 and S3-compatible servers write: an optional
// `<?xml version="1.0" encoding="UTF-8"?>`, the root element (attributes allowed), and below it only the elements
// the SDK knows, spelt as S3 spells them, holding text with XML's five entities and character references, separated
// by whitespace. Anything else (comments, CDATA, self-closing or unknown elements, other spellings, a raw carriage
// return, which XML rewrites, or text the SDK would refuse) is errNotFast or a parse error, and the caller lets the
// SDK decode the document instead. What it returns is exactly what the SDK's decoder returns for the same bytes.
func parseListV2(b []byte) (*listPage, error) {
	s := scanner{b: b}
	const prolog = `<?xml version="1.0" encoding="UTF-8"?>`
	if bytes.HasPrefix(b, []byte(prolog)) {
		s.i = len(prolog)
	}
	s.space()
	if !s.rootStart("ListBucketResult") {
		return nil, errNotFast
	}
	p := &listPage{}
	err := s.children("ListBucketResult", func(name string) (err error) {
		switch name {
		case "Contents":
			var o s3types.Object
			if err = s.children(name, func(name string) error { return s.objectField(&o, name) }); err == nil {
				p.contents = append(p.contents, o)
			}
		case "CommonPrefixes":
			var cp s3types.CommonPrefix
			err = s.children(name, func(name string) (err error) {
				if name != "Prefix" {
					return errNotFast
				}
				cp.Prefix, err = s.str(name)
				return err
			})
			if err == nil {
				p.commonPrefixes = append(p.commonPrefixes, cp)
			}
		case "Name":
			p.name, err = s.str(name)
		case "Prefix":
			p.prefix, err = s.str(name)
		case "Delimiter":
			p.delimiter, err = s.str(name)
		case "ContinuationToken":
			p.continuationToken, err = s.str(name)
		case "NextContinuationToken":
			p.nextContinuationToken, err = s.str(name)
		case "StartAfter":
			p.startAfter, err = s.str(name)
		case "EncodingType":
			var v string
			v, err = s.text(name)
			p.encodingType = s3types.EncodingType(v)
		case "MaxKeys":
			p.maxKeys, err = s.int32(name)
		case "KeyCount":
			p.keyCount, err = s.int32(name)
		case "IsTruncated":
			p.isTruncated, err = s.bool(name)
		default:
			return errNotFast
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// objectField reads the child element name of a Contents element into o.
func (s *scanner) objectField(o *s3types.Object, name string) (err error) {
	var v string
	switch name {
	case "Key":
		o.Key, err = s.str(name)
	case "ETag":
		o.ETag, err = s.str(name)
	case "Size":
		if v, err = s.text(name); err == nil {
			var n int64
			if n, err = strconv.ParseInt(v, 10, 64); err == nil {
				o.Size = &n
			}
		}
	case "LastModified":
		o.LastModified, err = s.time(name)
	case "StorageClass":
		v, err = s.text(name)
		o.StorageClass = s3types.ObjectStorageClass(v)
	case "ChecksumAlgorithm":
		if v, err = s.text(name); err == nil {
			o.ChecksumAlgorithm = append(o.ChecksumAlgorithm, s3types.ChecksumAlgorithm(v))
		}
	case "ChecksumType":
		v, err = s.text(name)
		o.ChecksumType = s3types.ChecksumType(v)
	case "Owner":
		// A repeated element fills the same struct, as the SDK's decoder does.
		if o.Owner == nil {
			o.Owner = &s3types.Owner{}
		}
		err = s.children(name, func(name string) (err error) {
			switch name {
			case "ID":
				o.Owner.ID, err = s.str(name)
			case "DisplayName":
				o.Owner.DisplayName, err = s.str(name)
			default:
				return errNotFast
			}
			return err
		})
	case "RestoreStatus":
		if o.RestoreStatus == nil {
			o.RestoreStatus = &s3types.RestoreStatus{}
		}
		err = s.children(name, func(name string) (err error) {
			switch name {
			case "IsRestoreInProgress":
				o.RestoreStatus.IsRestoreInProgress, err = s.bool(name)
			case "RestoreExpiryDate":
				o.RestoreStatus.RestoreExpiryDate, err = s.time(name)
			default:
				return errNotFast
			}
			return err
		})
	default:
		return errNotFast
	}
	return err
}

// children reads the child elements of the element parent, whose start tag has been read, up to and including its
// end tag, calling child with each child's name after its start tag. Anything but child elements and whitespace is
// errNotFast.
func (s *scanner) children(parent string, child func(name string) error) error {
	for {
		name, end, ok := s.tag()
		switch {
		case !ok:
			return errNotFast
		case end && name == parent:
			return nil
		case end:
			return errNotFast
		}
		if err := child(name); err != nil {
			return err
		}
	}
}

// scanner reads a document from b[i:].
type scanner struct {
	b []byte
	i int
}

// space skips XML whitespace. Between elements the SDK skips any text; only whitespace is taken here.
func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// rootStart reads the root's start tag, `<name>` or `<name attr="value" ...>`.
func (s *scanner) rootStart(name string) bool {
	b := s.b[s.i:]
	if len(b) < len(name)+2 || b[0] != '<' || string(b[1:1+len(name)]) != name {
		return false
	}
	s.i += 1 + len(name)
	for first := true; ; first = false {
		if s.i >= len(s.b) {
			return false
		}
		c := s.b[s.i]
		if c == '>' {
			s.i++
			return true
		}
		if !isSpace(c) && first {
			return false // a longer name
		}
		s.space()
		if s.i < len(s.b) && s.b[s.i] == '>' {
			continue
		}
		if !s.attr() {
			return false
		}
	}
}

// attr reads one attribute, name="value" or name='value', whose value holds no '<' and no entity (both are checked
// by the SDK's decoder; values are not used).
func (s *scanner) attr() bool {
	start := s.i
	for s.i < len(s.b) && isNameByte(s.b[s.i], s.i == start) {
		s.i++
	}
	if s.i == start || s.i+1 >= len(s.b) || s.b[s.i] != '=' {
		return false
	}
	q := s.b[s.i+1]
	if q != '"' && q != '\'' {
		return false
	}
	s.i += 2
	for s.i < len(s.b) && s.b[s.i] != q {
		if c := s.b[s.i]; c == '<' || c == '&' || c >= utf8.RuneSelf || (c < 0x20 && c != '\t' && c != '\n') {
			return false
		}
		s.i++
	}
	if s.i >= len(s.b) {
		return false
	}
	s.i++
	return true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// isNameByte accepts the ASCII letters, digits and punctuation of XML names, which is all S3 writes.
func isNameByte(c byte, first bool) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '_':
		return true
	case '0' <= c && c <= '9', c == '-', c == '.':
		return !first
	case c == ':':
		return !first
	}
	return false
}

// tag skips whitespace and reads the next tag, `<Name>` or `</Name>`, without attributes or spaces inside.
func (s *scanner) tag() (name string, end, ok bool) {
	s.space()
	if s.i+2 >= len(s.b) || s.b[s.i] != '<' {
		return "", false, false
	}
	j := s.i + 1
	if s.b[j] == '/' {
		end = true
		j++
	}
	start := j
	for j < len(s.b) && isNameByte(s.b[j], j == start) && s.b[j] != ':' {
		j++
	}
	if j == start || j >= len(s.b) || s.b[j] != '>' {
		return "", false, false
	}
	s.i = j + 1
	return tagName(s.b[start:j]), end, true
}

// tagName returns the name as a constant string when it is one the decoder knows, so that no tag allocates.
func tagName(b []byte) string {
	switch string(b) {
	case "ListBucketResult":
		return "ListBucketResult"
	case "Contents":
		return "Contents"
	case "CommonPrefixes":
		return "CommonPrefixes"
	case "Key":
		return "Key"
	case "ETag":
		return "ETag"
	case "Size":
		return "Size"
	case "LastModified":
		return "LastModified"
	case "StorageClass":
		return "StorageClass"
	case "Prefix":
		return "Prefix"
	}
	return string(b)
}

// text reads an element's text up to its end tag `</name>`, resolving entities. An element with other elements or
// anything but text in it is errNotFast.
func (s *scanner) text(name string) (string, error) {
	start := s.i
	plain := true
	j := start
	for ; j < len(s.b) && s.b[j] != '<'; j++ {
		if c := s.b[j]; c == '&' || c == '\r' || c == ']' || c >= utf8.RuneSelf || (c < 0x20 && c != '\t' && c != '\n') {
			plain = false
		}
	}
	if j+3+len(name) > len(s.b) || s.b[j+1] != '/' || string(s.b[j+2:j+2+len(name)]) != name || s.b[j+2+len(name)] != '>' {
		return "", errNotFast
	}
	s.i = j + 3 + len(name)
	raw := s.b[start:j]
	if plain {
		return internText(raw), nil
	}
	return unescape(raw)
}

// internText returns the common storage classes and checksum names without allocating.
func internText(b []byte) string {
	switch string(b) {
	case "STANDARD":
		return "STANDARD"
	case "CRC32C":
		return "CRC32C"
	case "CRC32":
		return "CRC32"
	case "CRC64NVME":
		return "CRC64NVME"
	case "FULL_OBJECT":
		return "FULL_OBJECT"
	case "COMPOSITE":
		return "COMPOSITE"
	case "":
		return ""
	}
	return string(b)
}

// unescape resolves XML's five entities and character references in raw, as encoding/xml does, and refuses
// (errNotFast) what encoding/xml would refuse or rewrite: invalid UTF-8, characters XML does not allow, a carriage
// return, "]]>", unknown entities, and references to characters XML does not allow.
func unescape(raw []byte) (string, error) {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\r':
			return "", errNotFast
		case c == ']' && bytes.HasPrefix(raw[i:], []byte("]]>")):
			return "", errNotFast
		case c == '&':
			semi := bytes.IndexByte(raw[i:], ';')
			if semi < 0 {
				return "", errNotFast
			}
			r, ok := entity(raw[i+1 : i+semi])
			if !ok {
				return "", errNotFast
			}
			out = utf8.AppendRune(out, r)
			i += semi + 1
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && n == 1 || !xmlChar(r) {
				return "", errNotFast
			}
			out = append(out, raw[i:i+n]...)
			i += n
		default:
			if !xmlChar(rune(c)) {
				return "", errNotFast
			}
			out = append(out, c)
			i++
		}
	}
	return string(out), nil
}

// entity resolves the name of an entity reference (between '&' and ';').
func entity(name []byte) (rune, bool) {
	switch string(name) {
	case "amp":
		return '&', true
	case "lt":
		return '<', true
	case "gt":
		return '>', true
	case "quot":
		return '"', true
	case "apos":
		return '\'', true
	}
	if len(name) < 2 || name[0] != '#' {
		return 0, false
	}
	digits, base := name[1:], 10
	if digits[0] == 'x' {
		digits, base = digits[1:], 16
	}
	if len(digits) == 0 || len(digits) > 8 {
		return 0, false
	}
	var n rune
	for _, d := range digits {
		var v rune
		switch {
		case '0' <= d && d <= '9':
			v = rune(d - '0')
		case base == 16 && 'a' <= d && d <= 'f':
			v = rune(d-'a') + 10
		case base == 16 && 'A' <= d && d <= 'F':
			v = rune(d-'A') + 10
		default:
			return 0, false
		}
		n = n*rune(base) + v
	}
	if !xmlChar(n) {
		return 0, false
	}
	return n, true
}

// xmlChar reports whether XML 1.0 allows r in a document (its Char production), less the surrogates.
func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

func (s *scanner) str(name string) (*string, error) {
	v, err := s.text(name)
	if err != nil {
		return nil, err
	}
	return &v, nil
}

func (s *scanner) int32(name string) (*int32, error) {
	v, err := s.text(name)
	if err != nil {
		return nil, err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil, err
	}
	return aws.Int32(int32(n)), nil
}

func (s *scanner) bool(name string) (*bool, error) {
	v, err := s.text(name)
	if err != nil {
		return nil, err
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return nil, err
	}
	return &b, nil
}

func (s *scanner) time(name string) (*time.Time, error) {
	v, err := s.text(name)
	if err != nil {
		return nil, err
	}
	t, err := smithytime.ParseDateTime(v)
	if err != nil {
		return nil, err
	}
	return &t, nil
}
