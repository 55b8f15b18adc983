package ui

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/fsxsync/fsxsync/transfer"
)

// Mode is how progress is shown.
type Mode string

// The modes --progress accepts. Auto is a bar on a terminal and lines anywhere else (a batch job's output file, a
// pipe), where carriage-return redraws would fill the file with garbage.
const (
	ModeAuto  Mode = "auto"
	ModeBar   Mode = "bar"
	ModeLines Mode = "lines"
	ModeNone  Mode = "none"
)

// ParseMode reads --progress.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case ModeAuto, ModeBar, ModeLines, ModeNone:
		return m, nil
	}
	return "", fmt.Errorf("--progress %q: give auto, bar, lines or none", s)
}

// Resolve turns auto into bar or lines.
func (m Mode) Resolve(terminal bool) Mode {
	if m != ModeAuto {
		return m
	}
	if terminal {
		return ModeBar
	}
	return ModeLines
}

// IsTerminal says whether w is a terminal (a *os.File on a tty).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Console is the one writer for stderr: log records and status lines go through it, and so does the bar, so that a
// log line first erases the bar instead of being written into the middle of it. The bar redraws itself on its next
// tick.
type Console struct {
	mu        sync.Mutex
	w         io.Writer
	barOnLine bool
}

// NewConsole wraps w (stderr).
func NewConsole(w io.Writer) *Console { return &Console{w: w} }

// Write writes whole lines, erasing the bar first when it is on the line.
func (c *Console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.barOnLine {
		io.WriteString(c.w, "\r\033[2K")
		c.barOnLine = false
	}
	return c.w.Write(p)
}

// barWriter is the bar's side of the console.
type barWriter struct{ c *Console }

func (b barWriter) Write(p []byte) (int, error) {
	b.c.mu.Lock()
	defer b.c.mu.Unlock()
	b.c.barOnLine = true
	return b.c.w.Write(p)
}

// clearBar erases the bar when it is on the line.
func (c *Console) clearBar() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.barOnLine {
		io.WriteString(c.w, "\r\033[2K")
		c.barOnLine = false
	}
}

// DisplayOptions configure a Display.
type DisplayOptions struct {
	// Mode is bar, lines or none (Resolve auto first).
	Mode Mode
	// Interval is how often lines mode prints a status line.
	Interval time.Duration
	// Status delivers requests for a status line now (SIGUSR2), in any mode.
	Status <-chan os.Signal
	// Console is where the bar and prose status lines go.
	Console *Console
	// JSON, when set, receives status lines as log records ("progress", with the counts as attributes) instead of
	// prose, for --log-format json.
	JSON *slog.Logger
}

// Display shows a run's progress until Stop.
type Display struct {
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	console *Console
}

// barTick is how often the bar is redrawn.
const barTick = 200 * time.Millisecond

// StartDisplay starts showing p. Call Stop before printing the summary, which must be the last line of a run.
func StartDisplay(p *transfer.Progress, o DisplayOptions) *Display {
	d := &Display{stop: make(chan struct{}), done: make(chan struct{}), console: o.Console}
	go d.run(p, o)
	return d
}

// Stop ends the display and erases the bar; it returns once nothing more will be written.
func (d *Display) Stop() {
	d.once.Do(func() { close(d.stop) })
	<-d.done
	d.console.clearBar()
}

func (d *Display) run(p *transfer.Progress, o DisplayOptions) {
	defer close(d.done)
	var tick <-chan time.Time
	var bar *progressbar.ProgressBar
	switch o.Mode {
	case ModeBar:
		t := time.NewTicker(barTick)
		defer t.Stop()
		tick = t.C
		bar = progressbar.NewOptions64(1,
			progressbar.OptionSetWriter(barWriter{o.Console}),
			progressbar.OptionShowBytes(true),
			progressbar.OptionUseIECUnits(true),
			progressbar.OptionSetWidth(24),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionThrottle(barTick/2),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSetDescription("listing"),
		)
		defer bar.Exit()
	case ModeLines:
		if o.Interval > 0 {
			t := time.NewTicker(o.Interval)
			defer t.Stop()
			tick = t.C
		}
	}
	var last transfer.ProgressSnapshot
	line := func() {
		s := p.Snapshot()
		if o.JSON != nil {
			o.JSON.Info("progress", StatusAttrs(s, last)...)
		} else {
			fmt.Fprintln(o.Console, StatusLine(s, last))
		}
		last = s
	}
	for {
		select {
		case <-d.stop:
			return
		case <-o.Status:
			line()
		case <-tick:
			if bar != nil {
				updateBar(bar, p.Snapshot())
			} else {
				line()
			}
		}
	}
}

// updateBar moves the bar to s. Until the listing is done the total is still growing, so the bar's maximum stays one
// byte ahead of what is done, and the bar never ends early.
func updateBar(bar *progressbar.ProgressBar, s transfer.ProgressSnapshot) {
	top := s.TodoBytes
	if !s.Planned {
		top = max(s.TodoBytes, s.DoneBytes) + 1
	}
	if top < 1 {
		top = 1
	}
	bar.ChangeMax64(top)
	desc := fmt.Sprintf("%s/%s files", Count(s.DoneFiles), Count(s.TodoFiles))
	if !s.Planned {
		desc += "+ (listing)"
	}
	if s.FailedFiles > 0 {
		desc += fmt.Sprintf(", %s failed", Count(s.FailedFiles))
	}
	bar.Describe(desc)
	done := s.DoneBytes
	if done >= top {
		// A bar at its maximum finishes for good; keep it open until Stop.
		done = top - 1
	}
	bar.Set64(done)
}

// StatusLine renders one plain status line from a snapshot; prev is the previous line's snapshot (zero for the
// first), which gives the rate over the interval between the two.
func StatusLine(s, prev transfer.ProgressSnapshot) string {
	var b strings.Builder
	b.WriteString("progress: ")
	plus := ""
	if !s.Planned {
		plus = "+"
	}
	fmt.Fprintf(&b, "%s/%s%s files, %s/%s%s", Count(s.DoneFiles), Count(s.TodoFiles), plus,
		transfer.HumanBytes(s.DoneBytes), transfer.HumanBytes(s.TodoBytes), plus)
	if s.Planned && s.TodoBytes > 0 {
		fmt.Fprintf(&b, " (%d%%)", int(100*float64(s.DoneBytes)/float64(s.TodoBytes)))
	}
	fmt.Fprintf(&b, ", %s/s", transfer.HumanBytes(int64(rate(s, prev))))
	switch eta, ok := ETA(s); {
	case !s.Planned && ok:
		// The totals are still growing: the estimate is a lower bound.
		fmt.Fprintf(&b, ", ETA >%s (still listing)", eta)
	case !s.Planned:
		b.WriteString(", still listing")
	case ok:
		fmt.Fprintf(&b, ", ETA %s", eta)
	}
	if s.SkippedFiles > 0 {
		fmt.Fprintf(&b, ", %s unchanged", Count(s.SkippedFiles))
	}
	if s.Deleted > 0 {
		fmt.Fprintf(&b, ", %s deleted", Count(s.Deleted))
	}
	if s.FailedFiles > 0 {
		fmt.Fprintf(&b, ", %s failed", Count(s.FailedFiles))
	}
	fmt.Fprintf(&b, ", %s elapsed", s.Elapsed.Round(time.Second))
	return b.String()
}

// StatusAttrs are a status line's facts as log attributes, for --log-format json.
func StatusAttrs(s, prev transfer.ProgressSnapshot) []any {
	attrs := []any{"files_done", s.DoneFiles, "files_total", s.TodoFiles, "bytes_done", s.DoneBytes,
		"bytes_total", s.TodoBytes, "listing_done", s.Planned, "bytes_per_second", int64(rate(s, prev)),
		"skipped", s.SkippedFiles, "deleted", s.Deleted, "failed", s.FailedFiles,
		"elapsed_seconds", math.Round(s.Elapsed.Seconds()*10) / 10}
	if eta, ok := ETA(s); ok && s.Planned {
		attrs = append(attrs, "eta_seconds", int64(eta.Seconds()))
	}
	return attrs
}

// rate is the bytes per second between two snapshots (since the start for the first).
func rate(s, prev transfer.ProgressSnapshot) float64 {
	dt := (s.Elapsed - prev.Elapsed).Seconds()
	if dt <= 0 {
		return 0
	}
	return float64(s.DoneBytes-prev.DoneBytes) / dt
}

// ETA estimates the time left from the average rates since the start, by bytes and by files, taking the longer (a
// tree of small files is bound by files per second, a big file by bytes). Before the listing is done it is a lower
// bound: the work found so far. It knows nothing before anything moved.
func ETA(s transfer.ProgressSnapshot) (time.Duration, bool) {
	secs := s.Elapsed.Seconds()
	if secs <= 0 || s.DoneFiles+s.DoneBytes == 0 {
		return 0, false
	}
	left := 0.0
	if s.DoneBytes > 0 {
		left = float64(s.TodoBytes-s.DoneBytes) / (float64(s.DoneBytes) / secs)
	}
	if s.DoneFiles > 0 {
		left = max(left, float64(s.TodoFiles-s.DoneFiles)/(float64(s.DoneFiles)/secs))
	}
	if left < 0 {
		left = 0
	}
	return time.Duration(left * float64(time.Second)).Round(time.Second), true
}

// Count renders a count with thousands separators: 1,234,567.
func Count(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
