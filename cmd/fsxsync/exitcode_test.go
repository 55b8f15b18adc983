package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/fsxsync/fsxsync/transfer"
	"github.com/fsxsync/fsxsync/transfer/preflight"
	"github.com/fsxsync/fsxsync/transfer/s3store"
)

// apiError builds an S3 error as the SDK returns it: an operation error around a response error around the code.
func apiError(status int, code string) error {
	return &smithy.OperationError{ServiceID: "S3", OperationName: "GetObject", Err: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
		Err:      &smithy.GenericAPIError{Code: code, Message: "test"},
	}}
}

// Every S3 error code the store classifies, with the kind the engine acts on, whether it stops the run, and the exit
// code a run that ends with it gets. The table must name every code s3store knows, so a code added there without a
// decision here fails.
func TestExitCodeOfEveryS3Error(t *testing.T) {
	tests := []struct {
		code   string
		status int
		kind   transfer.Kind
		exit   int
	}{
		{"NoSuchKey", 404, transfer.KindNotFound, exitSomeFailed},
		{"NotFound", 404, transfer.KindNotFound, exitSomeFailed},
		{"NoSuchUpload", 404, transfer.KindNotFound, exitSomeFailed},
		{"NoSuchBucket", 404, transfer.KindUsage, exitUsage},
		{"InvalidBucketName", 400, transfer.KindUsage, exitUsage},
		{"PermanentRedirect", 301, transfer.KindUsage, exitUsage},
		{"AuthorizationHeaderMalformed", 400, transfer.KindUsage, exitUsage},
		{"IllegalLocationConstraintException", 400, transfer.KindUsage, exitUsage},
		{"AccessDenied", 403, transfer.KindDenied, exitDenied},
		{"AllAccessDisabled", 403, transfer.KindDenied, exitDenied},
		{"AccountProblem", 403, transfer.KindDenied, exitDenied},
		{"Forbidden", 403, transfer.KindDenied, exitDenied},
		{"InvalidAccessKeyId", 403, transfer.KindCredentials, exitNoCreds},
		{"SignatureDoesNotMatch", 403, transfer.KindCredentials, exitNoCreds},
		{"ExpiredToken", 400, transfer.KindCredentials, exitNoCreds},
		{"InvalidToken", 400, transfer.KindCredentials, exitNoCreds},
		{"TokenRefreshRequired", 400, transfer.KindCredentials, exitNoCreds},
		{"RequestTimeTooSkewed", 403, transfer.KindCredentials, exitNoCreds},
		{"InvalidClientTokenId", 403, transfer.KindCredentials, exitNoCreds},
		{"InternalError", 500, transfer.KindFile, exitSomeFailed},
		{"ServiceUnavailable", 503, transfer.KindFile, exitSomeFailed},
		{"SlowDown", 503, transfer.KindFile, exitSomeFailed},
		{"RequestTimeout", 400, transfer.KindFile, exitSomeFailed},
		{"BadDigest", 400, transfer.KindFile, exitSomeFailed},
		{"InvalidDigest", 400, transfer.KindFile, exitSomeFailed},
		{"XAmzContentChecksumMismatch", 400, transfer.KindFile, exitSomeFailed},
		{"InvalidRange", 416, transfer.KindFile, exitSomeFailed},
		{"InvalidObjectState", 403, transfer.KindArchived, exitArchived},
		{"PreconditionFailed", 412, transfer.KindFile, exitSomeFailed},
		{"EntityTooLarge", 400, transfer.KindFile, exitSomeFailed},
		{"IncompleteBody", 400, transfer.KindFile, exitSomeFailed},
		{"InvalidPart", 400, transfer.KindFile, exitSomeFailed},
		{"InvalidPartOrder", 400, transfer.KindFile, exitSomeFailed},
		{"MalformedXML", 400, transfer.KindFile, exitSomeFailed},
		{"InvalidRequest", 400, transfer.KindFile, exitSomeFailed},
		{"MissingContentLength", 411, transfer.KindFile, exitSomeFailed},
		{"KeyTooLongError", 400, transfer.KindFile, exitSomeFailed},
		{"MetadataTooLarge", 400, transfer.KindFile, exitSomeFailed},
		{"OperationAborted", 409, transfer.KindFile, exitSomeFailed},
		{"ServiceUnavailableException", 503, transfer.KindFile, exitSomeFailed},
		{"ThrottlingException", 400, transfer.KindFile, exitSomeFailed},
		{"InternalFailure", 500, transfer.KindFile, exitSomeFailed},
		{"RequestTimeoutException", 408, transfer.KindFile, exitSomeFailed},
		{"RequestLimitExceeded", 503, transfer.KindFile, exitSomeFailed},
		{"TooManyRequestsException", 429, transfer.KindFile, exitSomeFailed},
		{"ProvisionedThroughputExceeded", 400, transfer.KindFile, exitSomeFailed},
		{"RestoreAlreadyInProgress", 409, transfer.KindFile, exitSomeFailed},
		{"GlacierExpeditedRetrievalNotAvailable", 503, transfer.KindFile, exitSomeFailed},
	}
	known := s3store.ErrorCodes()
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			if want, ok := known[tt.code]; !ok || want != tt.kind {
				t.Errorf("s3store classifies %s as %v (known %v), this table as %v", tt.code, want, ok, tt.kind)
			}
			delete(known, tt.code)
			// As the store returns it: with the operation and the object's URL in front.
			err := fmt.Errorf("download s3://b/k: %w", s3store.Classify(apiError(tt.status, tt.code)))
			if got := transfer.KindOf(err); got != tt.kind {
				t.Errorf("KindOf = %v, want %v", got, tt.kind)
			}
			if got := transfer.IsFatal(err); got != tt.kind.Fatal() {
				t.Errorf("IsFatal = %v, want %v", got, tt.kind.Fatal())
			}
			if got := exitCode(nil, err); got != tt.exit {
				t.Errorf("exit code %d, want %d", got, tt.exit)
			}
		})
	}
	for code, kind := range known {
		t.Errorf("s3store classifies %s as %v, but this table does not say what it means", code, kind)
	}
}

// Errors that carry no S3 code: an answer known only by its status, the SDK's credential and network failures, the
// preflight's verdicts, a clean stop, and signals.
func TestExitCodeOfOtherErrors(t *testing.T) {
	noCode := func(status int) error {
		return &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
			Err: errors.New("no body")}
	}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		name string
		sig  os.Signal
		err  error
		kind transfer.Kind
		exit int
	}{
		{"ok", nil, nil, transfer.KindFile, exitOK},
		{"HEAD 404", nil, s3store.Classify(noCode(404)), transfer.KindNotFound, exitSomeFailed},
		{"HEAD 403", nil, s3store.Classify(noCode(403)), transfer.KindDenied, exitDenied},
		{"HEAD 301 (another region)", nil, s3store.Classify(noCode(301)), transfer.KindUsage, exitUsage},
		{"HEAD 500", nil, s3store.Classify(noCode(500)), transfer.KindFile, exitSomeFailed},
		// A 403 is a denial by its code, or by its status only when it has no code (a HEAD).
		{"403 with a code of its own", nil, s3store.Classify(apiError(403, "InvalidSecurity")), transfer.KindFile, exitSomeFailed},
		{"connection refused", nil, s3store.Classify(refused), transfer.KindUnreachable, exitSomeFailed},
		{"no such host", nil, s3store.Classify(&net.DNSError{Err: "no such host", Name: "s3.example", IsNotFound: true}), transfer.KindUnreachable, exitSomeFailed},
		{"cancelled", nil, s3store.Classify(fmt.Errorf("get: %w", context.Canceled)), transfer.KindCancelled, exitSomeFailed},
		{"usage", nil, transfer.Usagef("bad flag"), transfer.KindUsage, exitUsage},
		{"slurm environment", nil, transfer.WithKind(transfer.KindUsage, errors.New("SLURM_PROCID is x")), transfer.KindUsage, exitUsage},
		{"preflight denied", nil, &preflight.DeniedError{Principal: "arn:aws:iam::1:user/u"}, transfer.KindDenied, exitDenied},
		{"preflight credentials", nil, &preflight.CredentialsError{Err: errors.New("none")}, transfer.KindCredentials, exitNoCreds},
		{"preflight not proven", nil, &preflight.UnprovenError{Principal: "arn:aws:iam::1:user/u"}, transfer.KindUnproven, exitUnproven},
		// The credentials provider marks a failure to get credentials deep inside an operation's error.
		{"no credentials", nil, s3store.Classify(&smithy.OperationError{ServiceID: "S3", OperationName: "PutObject",
			Err: fmt.Errorf("get credentials: %w", transfer.WithKind(transfer.KindCredentials, errors.New("no IMDS role")))}), transfer.KindCredentials, exitNoCreds},
		{"stopped", nil, fmt.Errorf("run: %w", transfer.ErrStopped), transfer.KindStopped, exitIncomplete},
		{"some failed", nil, errSomeFailed, transfer.KindFile, exitSomeFailed},
		{"archived objects not downloaded", nil, errArchived, transfer.KindFile, exitArchived},
		{"special files skipped", nil, errSpecialSkipped, transfer.KindFile, exitSpecial},
		{"SIGTERM", syscall.SIGTERM, context.Canceled, transfer.KindCancelled, exitIncomplete},
		{"SIGINT", os.Interrupt, context.Canceled, transfer.KindCancelled, exitInterrupted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := transfer.KindOf(tt.err); got != tt.kind {
				t.Errorf("KindOf = %v, want %v", got, tt.kind)
			}
			if got := exitCode(tt.sig, tt.err); got != tt.exit {
				t.Errorf("exit code %d, want %d", got, tt.exit)
			}
		})
	}
}
