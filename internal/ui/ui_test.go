package ui

import (
	"bytes"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsxsync/fsxsync/transfer"
)

func TestStatusLine(t *testing.T) {
	mib := int64(1 << 20)
	cases := []struct {
		name    string
		s, prev transfer.ProgressSnapshot
		want    string
	}{
		{"start", transfer.ProgressSnapshot{}, transfer.ProgressSnapshot{},
			"progress: 0/0+ files, 0 B/0 B+, 0 B/s, still listing, 0s elapsed"},
		{"listing", transfer.ProgressSnapshot{TodoFiles: 2000, TodoBytes: 2000 * mib, DoneFiles: 100, DoneBytes: 100 * mib, Elapsed: 10 * time.Second},
			transfer.ProgressSnapshot{},
			"progress: 100/2,000+ files, 100.0 MiB/2.0 GiB+, 10.0 MiB/s, ETA >3m10s (still listing), 10s elapsed"},
		{"planned", transfer.ProgressSnapshot{TodoFiles: 1000, TodoBytes: 1000 * mib, DoneFiles: 500, DoneBytes: 500 * mib, Planned: true, SkippedFiles: 1234, Deleted: 3, FailedFiles: 2, Elapsed: 60 * time.Second},
			transfer.ProgressSnapshot{DoneBytes: 200 * mib, Elapsed: 30 * time.Second},
			"progress: 500/1,000 files, 500.0 MiB/1000.0 MiB (50%), 10.0 MiB/s, ETA 1m0s, 1,234 unchanged, 3 deleted, 2 failed, 1m0s elapsed"},
		{"small files bound by files per second", transfer.ProgressSnapshot{TodoFiles: 1000, TodoBytes: 1000, DoneFiles: 10, DoneBytes: 900, Planned: true, Elapsed: 10 * time.Second},
			transfer.ProgressSnapshot{},
			"progress: 10/1,000 files, 900 B/1000 B (90%), 90 B/s, ETA 16m30s, 10s elapsed"},
		{"nothing to do", transfer.ProgressSnapshot{Planned: true, SkippedFiles: 10000, Elapsed: 2 * time.Second},
			transfer.ProgressSnapshot{},
			"progress: 0/0 files, 0 B/0 B, 0 B/s, 10,000 unchanged, 2s elapsed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := StatusLine(c.s, c.prev); got != c.want {
				t.Errorf("\ngot  %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestCount(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -4500: "-4,500"} {
		if got := Count(n); got != want {
			t.Errorf("Count(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestParseAndResolveMode(t *testing.T) {
	for _, c := range []struct {
		in       string
		terminal bool
		want     Mode
	}{{"auto", true, ModeBar}, {"auto", false, ModeLines}, {"AUTO", false, ModeLines}, {"bar", false, ModeBar},
		{"lines", true, ModeLines}, {"none", true, ModeNone}} {
		m, err := ParseMode(c.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Resolve(c.terminal); got != c.want {
			t.Errorf("%s on terminal=%v: %s, want %s", c.in, c.terminal, got, c.want)
		}
	}
	if _, err := ParseMode("fancy"); err == nil || !strings.Contains(err.Error(), "auto, bar, lines or none") {
		t.Errorf("ParseMode(fancy): %v", err)
	}
	if _, err := ParseLogFormat("xml"); err == nil || !strings.Contains(err.Error(), "text or json") {
		t.Errorf("ParseLogFormat(xml): %v", err)
	}
}

func TestTextLog(t *testing.T) {
	var b bytes.Buffer
	log := NewLogger(&b, LogText, slog.LevelInfo)
	log.Error("failed", "key", "runs/a b.dat", "op", "upload", "error", `open "x": permission denied`)
	log.Warn("could not set a directory's attributes", "error", "chmod d: operation not permitted")
	log.Info("restoring HSM-released files in bulk", "files", 12, "timeout", 30*time.Minute)
	log.Debug("upload", "key", "hidden") // below the level
	log.With("shard", 3).Info("started", "empty", "")
	want := `failed key="runs/a b.dat" op=upload error="open \"x\": permission denied"
warning: could not set a directory's attributes error="chmod d: operation not permitted"
restoring HSM-released files in bulk files=12 timeout=30m0s
started shard=3 empty=""
`
	if got := b.String(); got != want {
		t.Errorf("\ngot:\n%s\nwant:\n%s", got, want)
	}
}

// syncBuffer is a bytes.Buffer safe for the display goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestDisplayLinesAndStatusRequest(t *testing.T) {
	var out syncBuffer
	status := make(chan os.Signal, 1)
	p := &transfer.Progress{}
	d := StartDisplay(p, DisplayOptions{Mode: ModeLines, Interval: time.Hour, Status: status, Console: NewConsole(&out)})
	status <- os.Interrupt // any signal value: a request for a line
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "progress: ") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	d.Stop()
	d.Stop() // idempotent
	got := out.String()
	if strings.Count(got, "progress: ") != 1 || strings.ContainsRune(got, '\r') {
		t.Errorf("want exactly one plain status line, got %q", got)
	}
}

func TestConsoleErasesBarBeforeALine(t *testing.T) {
	var out bytes.Buffer
	c := NewConsole(&out)
	barWriter{c}.Write([]byte("\r 3/10 files |###   |"))
	c.Write([]byte("failed key=a op=upload error=x\n"))
	c.Write([]byte("next\n"))
	want := "\r 3/10 files |###   |\r\033[2Kfailed key=a op=upload error=x\nnext\n"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}
