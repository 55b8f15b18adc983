package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// These tests run the real binary against versitygw (through a proxy that slows every request, so that a small
// transfer lasts a few seconds) and look at what a person or a batch log would see: a bar on a terminal, plain
// status lines at the interval everywhere else, a status line on SIGUSR2, and the summary last.

// progressRun prepares a tree of n files and a bucket, and returns the fixture, the environment and sync's
// arguments (without output flags) for an upload through a proxy that delays each request by delay.
func progressRun(t *testing.T, n int, delay time.Duration) (*ktFixture, []string, []string) {
	t.Helper()
	f := newKTFixture(t)
	bucket := f.env.NewBucket(t)
	src := filepath.Join(f.dir, "src")
	makeFiles(t, src, n)
	env := f.environ(bucket, slowProxy(t, f.env.S3Endpoint, delay))
	return f, env, []string{"sync", "--concurrency", "2", "--state-dir", "none", src, "s3://" + bucket + "/p"}
}

// timedLine is one line of output and when it arrived.
type timedLine struct {
	at   time.Time
	text string
}

// readLines reads r line by line, stamping each line as it arrives.
func readLines(r io.Reader) (<-chan []timedLine, *bytes.Buffer) {
	out := make(chan []timedLine, 1)
	var raw bytes.Buffer
	go func() {
		var lines []timedLine
		br := bufio.NewReader(io.TeeReader(r, &raw))
		for {
			s, err := br.ReadString('\n')
			if s != "" {
				lines = append(lines, timedLine{time.Now(), s})
			}
			if err != nil {
				out <- lines
				return
			}
		}
	}()
	return out, &raw
}

func TestProgressLinesInBatch(t *testing.T) {
	f, env, args := progressRun(t, 60, 60*time.Millisecond)
	const interval = 300 * time.Millisecond
	cmd := exec.Command(f.bin, append(args, "--progress-interval", interval.String())...)
	cmd.Env = env
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = pw
	linesCh, raw := readLines(pr)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	err = cmd.Wait()
	lines := <-linesCh
	if err != nil {
		t.Fatalf("sync: %v\nstderr:\n%s", err, raw)
	}
	took := time.Since(start)
	if bytes.ContainsRune(raw.Bytes(), '\r') || bytes.Contains(raw.Bytes(), []byte("\033[")) {
		t.Errorf("output to a pipe has carriage returns or escape sequences:\n%q", raw)
	}
	var at []time.Time
	for _, l := range lines {
		if strings.HasPrefix(l.text, "progress: ") {
			at = append(at, l.at)
		}
	}
	want := int(took/interval) - 2 // allow for start-up before the display and the end of the run
	if len(at) < max(2, want) {
		t.Fatalf("%d status lines in %v at an interval of %v; want at least %d:\n%s", len(at), took, interval, max(2, want), raw)
	}
	for i := 1; i < len(at); i++ {
		// A ticker never fires early; a loaded CI machine may deliver a line late, so only a gross miss fails.
		if gap := at[i].Sub(at[i-1]); gap < interval/2 || gap > 8*interval {
			t.Errorf("status lines %d and %d came %v apart; the interval is %v", i-1, i, gap, interval)
		}
	}
	line := regexp.MustCompile(`^progress: [\d,]+/[\d,]+\+? files, [\d.]+ [KMG]?i?B/[\d.]+ [KMG]?i?B\+?( \(\d+%\))?, [\d.]+ [KMG]?i?B/s`)
	for _, l := range lines {
		if strings.HasPrefix(l.text, "progress: ") && !line.MatchString(l.text) {
			t.Errorf("status line not in the documented form: %q", l.text)
		}
	}
	if last := lastLine(stdout.String()); !strings.HasPrefix(last, "transferred 60 files") {
		t.Errorf("the summary is not the last line of stdout: %q", last)
	}
}

func TestProgressStatusOnSIGUSR2(t *testing.T) {
	f, env, args := progressRun(t, 40, 60*time.Millisecond)
	// --verbose logs a record for every file transferred: the first one is how the test knows the transfer is under
	// way. The status records are counted by their message, so the extra records change nothing else.
	cmd := exec.Command(f.bin, append(args, "--progress-interval", "1h", "--log-format", "json", "--verbose")...)
	cmd.Env = env
	// stderr is a regular file here, as in a batch job's slurm-%j.out.
	logPath := filepath.Join(f.dir, "slurm-42.out")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var werr error
	go func() {
		werr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		// A failed wait below leaves fsxsync running: end it, and let it go before the fixture's server stops.
		cmd.Process.Kill()
		<-exited
	})
	// waitLog polls the log file until ok accepts what it holds. fsxsync ending first, or a minute passing, fails the
	// test: the state waited for never came.
	waitLog := func(what string, ok func(log string) bool) {
		t.Helper()
		deadline := time.After(time.Minute)
		for {
			gone := false
			select {
			case <-exited:
				gone = true
			default:
			}
			b, err := os.ReadFile(logPath)
			if err != nil {
				t.Fatal(err)
			}
			if ok(string(b)) {
				return
			}
			if gone {
				t.Fatalf("fsxsync ended before %s (%v):\n%s", what, werr, b)
			}
			select {
			case <-deadline:
				t.Fatalf("no %s after a minute:\n%s", what, b)
			case <-exited:
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	progressRecords := func(log string) int { return strings.Count(log, `"msg":"progress"`) }
	// A SIGUSR2 that arrived before fsxsync catches it would kill it, and one answered before the listing is done
	// would show a partial total. So the first signal goes once a file is transferred: the handler is installed at
	// start-up, and the planner has planned all 40 files long before the first upload through the slow proxy ends
	// (the destination is empty, so nothing needs to be waited for to decide them).
	waitLog("a file transferred", func(log string) bool { return strings.Contains(log, `"level":"DEBUG","msg":"upload"`) })
	for i := range 2 {
		if err := cmd.Process.Signal(syscall.SIGUSR2); err != nil {
			t.Fatal(err)
		}
		// Two signals sent at once may reach the display as one (a pending signal is not queued twice, and the
		// channel holds one), so each is answered before the next goes.
		waitLog(fmt.Sprintf("status record %d", i+1), func(log string) bool { return progressRecords(log) > i })
	}
	<-exited
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	stderr := bytes.NewBuffer(b)
	if werr != nil {
		t.Fatalf("sync: %v\nstderr:\n%s", werr, stderr)
	}
	if bytes.ContainsAny(b, "\r\x1b") {
		t.Errorf("the log file has carriage returns or escape sequences:\n%q", b)
	}
	n := progressRecords(stderr.String())
	if n != 2 {
		t.Errorf("%d JSON status records after 2 SIGUSR2 (interval 1h); want 2:\n%s", n, stderr)
	}
	if !strings.Contains(stderr.String(), `"files_total":40`) {
		t.Errorf("status record lacks files_total 40:\n%s", stderr)
	}
}

// TestProgressBarOnTerminal runs fsxsync on a pseudo-terminal: the bar is drawn (with carriage returns), and erased
// before the summary, which is the last thing on the screen.
func TestProgressBarOnTerminal(t *testing.T) {
	f, env, args := progressRun(t, 40, 60*time.Millisecond)
	cmd := exec.Command(f.bin, args...)
	cmd.Env = append(env, "TERM=xterm", "COLUMNS=120")
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 120})
	if err != nil {
		t.Fatalf("start on a pty: %v", err)
	}
	defer ptmx.Close()
	var screen bytes.Buffer
	var mu sync.Mutex
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			mu.Lock()
			screen.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	werr := cmd.Wait()
	select {
	case <-copied:
	case <-time.After(5 * time.Second):
	}
	mu.Lock()
	out := screen.String()
	mu.Unlock()
	if werr != nil {
		t.Fatalf("sync: %v\n%q", werr, out)
	}
	if !strings.Contains(out, "\r") || !regexp.MustCompile(`\d+/40 files.*\d+%`).MatchString(out) {
		t.Errorf("no progress bar on the terminal:\n%q", out)
	}
	if strings.Contains(out, "progress: ") {
		t.Errorf("status lines on a terminal, where the bar should be:\n%q", out)
	}
	// What the screen shows last: the text after the last carriage return or erase on the last line.
	last := lastLine(strings.ReplaceAll(out, "\r\n", "\n"))
	if i := strings.LastIndexAny(last, "\r"); i >= 0 {
		last = last[i+1:]
	}
	last = strings.TrimPrefix(last, "\033[2K")
	if !strings.HasPrefix(last, "transferred 40 files") {
		t.Errorf("the summary is not the last thing on the terminal: %q\nall:\n%q", last, out)
	}
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}
