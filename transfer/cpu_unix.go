//go:build unix

package transfer

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user plus system) the whole process has used so far, or 0 when the OS will not
// say. It is the process's and not the run's because the SDK, TLS and the Go runtime (GC, netpoller) spend CPU on
// goroutines and threads fsxsync does not own; a run measures the difference between its start and end.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
