package awsproxy

import (
	"net"
	"testing"
)

// Blackhole returns a URL, http://127.0.0.1:PORT, whose listener accepts TCP connections but never reads from them
// or answers: a request sent there waits until the client gives up. The package documentation says how this differs
// from a dropped SYN. The listener and the connections it accepted are closed when t ends.
func Blackhole(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("awsproxy: blackhole: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The connections are held open, unread, so that the client sees neither an answer nor a reset.
		var conns []net.Conn
		for {
			c, err := ln.Accept()
			if err != nil {
				// The listener was closed at the end of the test.
				for _, c := range conns {
					c.Close()
				}
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return "http://" + ln.Addr().String()
}
