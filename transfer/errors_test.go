package transfer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
)

// timeoutError is an error that says it is a timeout, as net/http's client and the SDK's deadline errors do.
type timeoutError struct{}

func (timeoutError) Error() string { return "timed out" }
func (timeoutError) Timeout() bool { return true }

// KindOf without an adapter: the kinds the engine and the cmd layer attach, and the types it recognises itself,
// however deep in the chain.
func TestKindOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Kind
	}{
		{"plain error", errors.New("disk full"), KindFile},
		{"usage", Usagef("bad --part-size"), KindUsage},
		{"wrapped usage", fmt.Errorf("parse: %w", Usagef("bad")), KindUsage},
		{"with kind", fmt.Errorf("op: %w", WithKind(KindDenied, errors.New("no"))), KindDenied},
		{"outermost kind wins", WithKind(KindUsage, WithKind(KindUnreachable, errors.New("refused"))), KindUsage},
		{"stopped", fmt.Errorf("run: %w", ErrStopped), KindStopped},
		{"cancelled", fmt.Errorf("get: %w", context.Canceled), KindCancelled},
		{"deadline", fmt.Errorf("get: %w", context.DeadlineExceeded), KindCancelled},
		{"connection refused", fmt.Errorf("put: %w", &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), KindUnreachable},
		{"no such host", fmt.Errorf("put: %w", &net.DNSError{Err: "no such host", Name: "x"}), KindUnreachable},
		{"timeout deep in the chain", fmt.Errorf("a: %w", fmt.Errorf("b: %w", timeoutError{})), KindUnreachable},
		{"file changed", &ChangedError{Path: "/x", What: "it grew"}, KindFile},
	}
	for _, tt := range tests {
		if got := KindOf(tt.err); got != tt.want {
			t.Errorf("%s: KindOf = %v, want %v", tt.name, got, tt.want)
		}
	}
	if WithKind(KindDenied, nil) != nil {
		t.Error("WithKind(k, nil) is not nil")
	}
	for k := KindFile; k <= KindArchived; k++ {
		fatal := k == KindUsage || k == KindDenied || k == KindCredentials || k == KindUnproven || k == KindCancelled || k == KindStopped
		if k.Fatal() != fatal {
			t.Errorf("%v.Fatal() = %v, want %v", k, k.Fatal(), fatal)
		}
	}
}
