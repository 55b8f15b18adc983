//go:build !unix

package awsproxy

import (
	"net"
	"testing"
)

// Refusing returns a URL, http://127.0.0.1:PORT, where connections are refused. The package documentation says
// how this differs from the dropped SYN of a real network with no route.
//
// Here the port is found by listening on it and closing it at once; nothing reopens it, but unlike on Unix (where a
// bound socket holds it) another program could in principle be given the port later.
func Refusing(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("awsproxy: refusing: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}
