package transfer

import (
	"context"
	"errors"

	"github.com/aws/smithy-go"
)

// fatalCodes are S3 error codes that no other file will escape either: continuing would only repeat the failure
// for every file, so the run stops at the first one.
var fatalCodes = map[string]bool{
	"AccessDenied":                 true,
	"AllAccessDisabled":            true,
	"NoSuchBucket":                 true,
	"InvalidAccessKeyId":           true,
	"SignatureDoesNotMatch":        true,
	"ExpiredToken":                 true,
	"TokenRefreshRequired":         true,
	"InvalidToken":                 true,
	"RequestTimeTooSkewed":         true,
	"AccountProblem":               true,
	"PermanentRedirect":            true,
	"AuthorizationHeaderMalformed": true,
}

// IsFatal reports whether err should stop the whole run rather than fail one file. It is the one place errors are
// classified: everything else that survives the SDK's retries is a per-file failure.
func IsFatal(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		return fatalCodes[api.ErrorCode()]
	}
	return false
}

// ErrorCode returns the S3 error code inside err, or "".
func ErrorCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}
