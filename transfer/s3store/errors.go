package s3store

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/fsxsync/fsxsync/transfer"
)

// This file is the one place where errors of the AWS SDK (S3, and STS and IAM for the preflight) are mapped onto the
// engine's kinds (transfer.Kind). Everything above it asks transfer.KindOf; nothing matches an error's text.

// codeKinds maps the error codes AWS services answer with onto the engine's kinds. A code that is not here falls
// back to its HTTP status (statusKind), then to the error's type (transfer.KindOf): a per-file failure unless it is
// a cancelled context or a network failure. cmd/fsxsync's exit-code test walks this table.
var codeKinds = map[string]transfer.Kind{
	// Not there: for a HEAD, a GET or an abort, an answer rather than a failure. HEAD answers have no body, so S3's
	// SDK names their 404 "NotFound".
	"NoSuchKey":    transfer.KindNotFound,
	"NotFound":     transfer.KindNotFound,
	"NoSuchUpload": transfer.KindNotFound,

	// Bad input: the bucket does not exist, or is in another region than the one requests are signed for.
	"NoSuchBucket":                       transfer.KindUsage,
	"InvalidBucketName":                  transfer.KindUsage,
	"PermanentRedirect":                  transfer.KindUsage,
	"AuthorizationHeaderMalformed":       transfer.KindUsage,
	"IllegalLocationConstraintException": transfer.KindUsage,

	// A permission the caller does not have, or an account that may do nothing.
	"AccessDenied":      transfer.KindDenied,
	"AllAccessDisabled": transfer.KindDenied,
	"AccountProblem":    transfer.KindDenied,
	"Forbidden":         transfer.KindDenied,

	// No usable identity: the keys are unknown, wrong, expired, or signed with a clock too far off.
	"InvalidAccessKeyId":    transfer.KindCredentials,
	"SignatureDoesNotMatch": transfer.KindCredentials,
	"ExpiredToken":          transfer.KindCredentials,
	"InvalidToken":          transfer.KindCredentials,
	"TokenRefreshRequired":  transfer.KindCredentials,
	"RequestTimeTooSkewed":  transfer.KindCredentials,
	"InvalidClientTokenId":  transfer.KindCredentials, // STS and IAM's name for an unknown access key

	// Failures of one request that the SDK already retried (500, 503 SlowDown, a body that did not match its
	// checksum): they fail one file, and the run goes on.
	"InternalError":                 transfer.KindFile,
	"ServiceUnavailable":            transfer.KindFile,
	"SlowDown":                      transfer.KindFile,
	"RequestTimeout":                transfer.KindFile,
	"BadDigest":                     transfer.KindFile,
	"InvalidDigest":                 transfer.KindFile,
	"XAmzContentChecksumMismatch":   transfer.KindFile,
	"InvalidRange":                  transfer.KindFile,
	"PreconditionFailed":            transfer.KindFile,
	"EntityTooLarge":                transfer.KindFile,
	"IncompleteBody":                transfer.KindFile,
	"InvalidPart":                   transfer.KindFile,
	"InvalidPartOrder":              transfer.KindFile,
	"MalformedXML":                  transfer.KindFile,
	"InvalidRequest":                transfer.KindFile,
	"MissingContentLength":          transfer.KindFile,
	"KeyTooLongError":               transfer.KindFile,
	"MetadataTooLarge":              transfer.KindFile,
	"OperationAborted":              transfer.KindFile,
	"ServiceUnavailableException":   transfer.KindFile,
	"ThrottlingException":           transfer.KindFile,
	"InternalFailure":               transfer.KindFile,
	"RequestTimeoutException":       transfer.KindFile,
	"RequestLimitExceeded":          transfer.KindFile,
	"TooManyRequestsException":      transfer.KindFile,
	"ProvisionedThroughputExceeded": transfer.KindFile,
	// RestoreObject's answers that concern one object (S3 API Reference: RestoreObject): a restore already under
	// way (which Store.Restore takes as an answer), or no capacity for an Expedited retrieval just now.
	"RestoreAlreadyInProgress":              transfer.KindFile,
	"GlacierExpeditedRetrievalNotAvailable": transfer.KindFile,

	// An archived object (S3 Glacier Flexible Retrieval, Deep Archive, an Intelligent-Tiering archive tier) that is
	// not restored: S3 answers every GET of it with 403 InvalidObjectState, whoever asks. It concerns that object,
	// never a permission; a download skips it as archived.
	"InvalidObjectState": transfer.KindArchived,
}

// ErrorCodes returns a copy of the table of error codes this package classifies, for tests that check every one.
func ErrorCodes() map[string]transfer.Kind {
	out := make(map[string]transfer.Kind, len(codeKinds))
	for c, k := range codeKinds {
		out[c] = k
	}
	return out
}

// Classify attaches the engine's kind to an error from the AWS SDK, keeping its text and its chain (errors.As still
// finds the SDK's types in it); nil stays nil, and an error that already has a kind keeps it. Every error leaving this
// package goes through it; the preflight calls it for its own S3, STS and IAM requests.
func Classify(err error) error {
	if err == nil || transfer.Classified(err) {
		return err
	}
	k := kindOf(err)
	if k == transfer.KindUnreachable {
		return unreachable(err)
	}
	return transfer.WithKind(k, err)
}

// UnreachableError is a request that never got an answer: the endpoint it went to and the network's words, without
// the SDK's chain of operation, attempts and request id around them.
type UnreachableError struct {
	Endpoint string // scheme://host[:port], or "" when the SDK did not say
	Why      string // "dial tcp 10.0.0.1:443: connect: connection refused", "no answer: i/o timeout", ...
	Err      error
}

func (e *UnreachableError) Error() string {
	if e.Endpoint == "" {
		return "cannot reach S3 (" + e.Why + ")"
	}
	return "cannot reach S3 at " + e.Endpoint + " (" + e.Why + ")"
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// Kind makes an UnreachableError transfer.KindUnreachable.
func (e *UnreachableError) Kind() transfer.Kind { return transfer.KindUnreachable }

// unreachable builds the UnreachableError of err, a network failure.
func unreachable(err error) *UnreachableError {
	e := &UnreachableError{Why: err.Error(), Err: err}
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			e.Endpoint = u.Scheme + "://" + u.Host
		}
	}
	var op *net.OpError
	var dns *net.DNSError
	switch {
	case errors.As(err, &dns):
		e.Why = dns.Error()
	case errors.As(err, &op):
		e.Why = op.Error()
	}
	return e
}

// kindOf decides the kind of an unclassified error: by the service's error code, then by the HTTP status, then by
// the error's type.
func kindOf(err error) transfer.Kind {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return transfer.KindCancelled
	}
	var api smithy.APIError
	hasCode := errors.As(err, &api) && api.ErrorCode() != ""
	if hasCode {
		if k, ok := codeKinds[api.ErrorCode()]; ok {
			return k
		}
	}
	// A 403 is a denial only when it is one: by its code (AccessDenied and its kin above), or by the status alone
	// when the answer has no code to give (a HEAD has no body). A 403 with a code of its own (InvalidObjectState,
	// InvalidPayer, ...) fails by its own words.
	if status := HTTPStatus(err); !(status == http.StatusForbidden && hasCode) {
		if k, ok := statusKind(status); ok {
			return k
		}
	}
	var noProfile config.SharedConfigProfileNotExistError
	if errors.As(err, &noProfile) {
		return transfer.KindUsage
	}
	return transfer.KindOf(err)
}

// statusKind classifies an answer by its status alone, for answers whose code says nothing (a HEAD has no body).
func statusKind(status int) (transfer.Kind, bool) {
	switch status {
	case http.StatusNotFound:
		return transfer.KindNotFound, true
	case http.StatusForbidden:
		return transfer.KindDenied, true
	case http.StatusMovedPermanently:
		// S3 answers 301 for a bucket in another region than the request was signed for.
		return transfer.KindUsage, true
	}
	return 0, false
}

// Code returns the error code the service answered with ("NoSuchUpload", "BadDigest"), or "". The preflight reads it
// where one code has a meaning of its own for a probe.
func Code(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

// HTTPStatus returns the HTTP status of the answer behind err, or 0 when there was none.
func HTTPStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// ResponseHeader returns a header of the answer behind err, or "".
func ResponseHeader(err error, name string) string {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		return re.Response.Header.Get(name)
	}
	return ""
}

// retryable adds to the SDK's retry decisions: an answer cut short (the connection closed before Content-Length
// bytes) fails XML decoding with an unexpected EOF, which the standard retryer does not retry, so a cut listing would
// end the run.
func retryable(err error) aws.Ternary {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return aws.TrueTernary
	}
	return aws.UnknownTernary
}

// credentialsProvider marks every failure to get credentials as transfer.KindCredentials. The SDK reports them
// inside an operation's error with no type of their own ("get credentials: ..."), so they are marked where they
// arise, in the provider.
type credentialsProvider struct{ aws.CredentialsProvider }

func (p credentialsProvider) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := p.CredentialsProvider.Retrieve(ctx)
	if err != nil && ctx.Err() == nil {
		err = transfer.WithKind(transfer.KindCredentials, err)
	}
	return c, err
}
