package transfer

import (
	"runtime"
	"strings"
	"testing"
)

// TestReportCPU checks that a run's report measures the process's CPU time from its start to its end and derives
// bytes per CPU-second from it, and that the summary gives both in short.
func TestReportCPU(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" || runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("no getrusage: the CPU figures stay 0")
	}
	r := newReport(Options{})
	r.Transferred = Count{Files: 1, Bytes: 64 << 20}
	// Burn some CPU so that the difference is well above getrusage's resolution.
	sum := 0
	for i := range 50_000_000 {
		sum += i ^ (sum >> 3)
	}
	_ = sum
	r.finish(nil)
	if r.CPUSeconds <= 0 {
		t.Fatalf("cpu_seconds %v after a busy loop, want > 0", r.CPUSeconds)
	}
	if want := int64(float64(r.Transferred.Bytes) / r.CPUSeconds); r.BytesPerCPUSecond != want {
		t.Errorf("bytes_per_cpu_second %d, want %d", r.BytesPerCPUSecond, want)
	}
	if s := r.Summary(); !strings.Contains(s, " CPU-s (") || !strings.Contains(s, "iB per CPU-s)") {
		t.Errorf("summary %q does not give the CPU seconds and bytes per CPU-second", s)
	}

	// A run that moved nothing gives its CPU time but no rate per CPU-second.
	none := &Report{CPUSeconds: 0.25}
	if s := none.Summary(); !strings.HasSuffix(s, ", 0.25 CPU-s") {
		t.Errorf("summary of a no-op run %q, want it to end in \", 0.25 CPU-s\"", s)
	}
	// Where the OS does not report CPU time, the summary says nothing about it.
	if s := (&Report{}).Summary(); strings.Contains(s, "CPU") {
		t.Errorf("summary without CPU figures mentions them: %q", s)
	}
}
