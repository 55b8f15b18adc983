package transfer

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// Kind is what an error means for a run: whether it stops the run or fails one file, and which exit code it ends in.
// The engine owns the kinds; the adapters (the S3 store, the preflight) attach one to every error they return, in one
// place each (s3store.Classify), so nothing above them ever looks at an SDK error or matches an error's text.
type Kind int

// The kinds. The zero value is a per-file failure: the run goes on with the other files.
const (
	// KindFile is one file failing after the store's own retries: a 500 that did not go away, a checksum that did
	// not match, a file that changed while it was read. The run goes on and exits 1.
	KindFile Kind = iota
	// KindNotFound is an object or file that is not there. A HEAD or a GET of a missing key answers with it; it is a
	// fact, not a failure, wherever the engine asks.
	KindNotFound
	// KindUnreachable is a server that could not be reached: connection refused, no such host, a timeout. In the
	// engine it fails the file (the SDK already retried); the preflight reports it as a bad endpoint.
	KindUnreachable
	// KindUsage is bad input: a malformed URL, a missing source, no such bucket, a bucket in another region than the
	// one requests are signed for, an invalid flag or Slurm environment. Exit 2.
	KindUsage
	// KindDenied is a permission the caller does not have. Exit 3.
	KindDenied
	// KindCredentials is no usable identity: no credentials, expired or invalid ones, or a clock too far off for a
	// signature to be accepted. Exit 4.
	KindCredentials
	// KindUnproven is a check that could not prove what it was asked to: the preflight left a permission neither
	// proven nor refused (a probe answered 500, or could not be made), and the caller asked for proof (fsxsync check,
	// --strict). Exit 5.
	KindUnproven
	// KindCancelled is a run cut off by its context: a second signal, or the end of the grace period.
	KindCancelled
	// KindStopped is a run that stopped starting new files because it was asked to (ErrStopped). Exit 75.
	KindStopped
	// KindArchived is an object that cannot be read until it is restored: S3 answers a GET of an object in S3
	// Glacier Flexible Retrieval, Glacier Deep Archive or an Intelligent-Tiering archive tier with 403
	// InvalidObjectState. It concerns that one object, never the caller's permissions: a download skips the object
	// as archived (see archived.go) and the run goes on. Exit 6 when nothing failed.
	KindArchived
)

var kindNames = [...]string{"per-file", "not found", "unreachable", "usage", "denied", "credentials", "unproven", "cancelled", "stopped", "archived"}

func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return kindNames[k]
}

// Fatal reports whether an error of this kind stops the whole run: every other file would meet it too (a missing
// permission, bad credentials, no such bucket), so going on would only repeat the failure.
func (k Kind) Fatal() bool {
	switch k {
	case KindUsage, KindDenied, KindCredentials, KindUnproven, KindCancelled, KindStopped:
		return true
	}
	return false
}

// kinded is an error that knows its kind: the one WithKind makes, *UsageError, and the preflight's verdicts.
type kinded interface {
	error
	Kind() Kind
}

// kindError attaches a kind to an error without changing its text.
type kindError struct {
	kind Kind
	err  error
}

func (e *kindError) Error() string { return e.err.Error() }
func (e *kindError) Unwrap() error { return e.err }
func (e *kindError) Kind() Kind    { return e.kind }

// WithKind returns err marked as being of kind k; nil stays nil. The adapters call it once, where an error leaves
// them; the cmd layer calls it for the errors of the Slurm package, which are all bad input.
func WithKind(k Kind, err error) error {
	if err == nil {
		return nil
	}
	return &kindError{kind: k, err: err}
}

// KindOf is the one classifier: it says what err means for the run. The outermost kind in err's chain wins, so a
// wrapper can restate what it wraps (the preflight turns an unreachable server into bad input). Errors nobody
// classified are looked at only through their types: a cancelled context, a network failure; anything else fails
// one file.
func KindOf(err error) Kind {
	if err == nil {
		return KindFile
	}
	if errors.Is(err, ErrStopped) {
		return KindStopped
	}
	var k kinded
	if errors.As(err, &k) {
		return k.Kind()
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return KindCancelled
	}
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var timeout interface{ Timeout() bool }
	if errors.As(err, &dnsErr) || errors.As(err, &opErr) || (errors.As(err, &timeout) && timeout.Timeout()) {
		return KindUnreachable
	}
	return KindFile
}

// Classified reports whether err carries a kind set by an adapter or the engine, as opposed to one KindOf guessed
// from its type. The S3 store uses it to leave alone what a deeper layer (its credentials provider) already said.
func Classified(err error) bool {
	var k kinded
	return errors.As(err, &k) || errors.Is(err, ErrStopped)
}

// IsFatal reports whether err should stop the whole run rather than fail one file.
func IsFatal(err error) bool { return err != nil && KindOf(err).Fatal() }

// IsNotFound reports whether err says the object or file is not there.
func IsNotFound(err error) bool { return err != nil && KindOf(err) == KindNotFound }

// ErrStopped reports a run that stopped starting new files because it was asked to (Options.Drain: SIGTERM,
// SIGUSR1, a Spot notice). Everything it started finished or was cleaned up.
var ErrStopped = errors.New("stopped early on request; nothing partial was left; run again to finish")

// UsageError is bad input from the user: a malformed URL, a missing source, an invalid flag value. The CLI maps it to
// exit code 2 and prints it without a stack of wrapping.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Kind makes every UsageError bad input for KindOf.
func (e *UsageError) Kind() Kind { return KindUsage }

// Usagef builds a UsageError.
func Usagef(format string, args ...any) error { return &UsageError{Msg: fmt.Sprintf(format, args...)} }

// Brief gives an error in the server's own words (its error code and message), without the SDK's chain of
// operation, status and request id; an error from anywhere else is given whole. It is for logs and tables.
func Brief(err error) string {
	var api interface {
		ErrorCode() string
		ErrorMessage() string
	}
	if errors.As(err, &api) {
		if m := api.ErrorMessage(); m != "" {
			return api.ErrorCode() + ": " + m
		}
		return api.ErrorCode()
	}
	return err.Error()
}
