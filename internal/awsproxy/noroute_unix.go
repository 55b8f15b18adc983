//go:build unix

package awsproxy

import (
	"fmt"
	"syscall"
	"testing"
)

// Refusing returns a URL, http://127.0.0.1:PORT, where every connection is refused (ECONNREFUSED) until t ends. The
// package documentation says how this differs from the dropped SYN of a real network with no route.
//
// The port is held by a socket that is bound but does not listen: the kernel answers a connection to it with a
// reset, as to a closed port, but no other listener can take the port while the test runs (a port merely closed
// after listening could be handed to another test's server).
func Refusing(t testing.TB) string {
	t.Helper()
	// ForkLock keeps a concurrent fork from inheriting the socket before it is marked close-on-exec, as package net
	// does.
	syscall.ForkLock.RLock()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		t.Fatalf("awsproxy: refusing: socket: %v", err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("awsproxy: refusing: bind: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatalf("awsproxy: refusing: getsockname: %v", err)
	}
	sa4, ok := sa.(*syscall.SockaddrInet4)
	if !ok {
		t.Fatalf("awsproxy: refusing: socket bound to %T, want an IPv4 address", sa)
	}
	return fmt.Sprintf("http://127.0.0.1:%d", sa4.Port)
}
