package transfer

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/fsxsync/fsxsync/fsx"
)

// Count is a number of files and their bytes.
type Count struct {
	Files int64 `json:"files"`
	Bytes int64 `json:"bytes"`
}

// Failure is one file that could not be transferred.
type Failure struct {
	Key   string `json:"key"`
	Op    string `json:"op"`
	Error string `json:"error"`
}

// Report is the outcome of a run: what the summary prints and --report writes as JSON.
type Report struct {
	Source      string    `json:"source"`
	Destination string    `json:"destination"`
	DryRun      bool      `json:"dry_run"`
	Started     time.Time `json:"started"`
	Finished    time.Time `json:"finished"`
	Seconds     float64   `json:"seconds"`
	Transferred Count     `json:"transferred"`
	Skipped     Count     `json:"skipped"`
	Deleted     Count     `json:"deleted"`
	Failed      Count     `json:"failed"`
	Failures    []Failure `json:"failures"`
	// Archived counts the archived objects a download did not read (S3 Glacier Flexible Retrieval, Deep Archive,
	// Intelligent-Tiering archive tiers): neither transferred, nor skipped as unchanged, nor failed.
	Archived ArchivedCount `json:"archived"`
	// Released counts HSM-released files met by an upload from Lustre, by what was done with them.
	Released ReleasedCount `json:"released,omitzero"`
	// SpecialFiles counts the special files (FIFOs, sockets, character and block devices) an upload's source tree
	// held: they have no S3 form and were skipped, never opened, each with a warning.
	SpecialFiles int64 `json:"special_files"`
	// CleanedUp counts leftovers of interrupted runs this run removed: temp files and open multipart uploads.
	CleanedUp int64 `json:"cleaned_up"`
	// Retries counts the S3 requests the SDK sent again (503 SlowDown, 500s, connection resets), with backoff.
	Retries int64 `json:"retries"`
	// CPUSeconds is the CPU time (user plus system) the process used from the run's start to its end, all threads
	// together (TLS, checksums, the SDK and the Go runtime included): with BytesPerCPUSecond it tells how many
	// cores a given throughput needs, which sizes --concurrency and the number of nodes. 0 where the OS does not
	// report it.
	CPUSeconds float64 `json:"cpu_seconds"`
	// BytesPerCPUSecond is Transferred.Bytes over CPUSeconds (0 when either is 0).
	BytesPerCPUSecond int64 `json:"bytes_per_cpu_second"`
	// Resumed counts manifest items a journal already recorded as finished (fsxsync run after a requeue).
	Resumed int64 `json:"resumed,omitempty"`
	// Stopped is true when the run stopped early on request (SIGTERM, SIGUSR1, SIGINT); a rerun finishes it.
	Stopped bool `json:"stopped,omitempty"`
	// Fatal is the error that stopped the run early, if any.
	Fatal string `json:"fatal,omitempty"`

	// cpuStart is the process's CPU time when the run started; finish subtracts it.
	cpuStart time.Duration
}

// maxFailures bounds the failure list kept in memory; the count stays exact.
const maxFailures = 10000

func newReport(o Options) *Report {
	return &Report{Source: o.Src.String(), Destination: o.Dst.String(), DryRun: o.DryRun, Started: time.Now(),
		Failures: []Failure{}, cpuStart: processCPU()}
}

// add counts one result; it is called from the single collector goroutine.
func (r *Report) add(res result) {
	if res.it.notMine {
		return
	}
	switch res.it.released {
	case "restored":
		r.Released.Restored++
	case "skipped":
		r.Released.Skipped++
	case "read":
		r.Released.Read++
	case "still released":
		r.Released.StillReleased++
	}
	size := int64(0)
	if res.it.src != nil {
		size = res.it.src.Size
	}
	switch {
	case res.err != nil:
		r.Failed.Files++
		r.Failed.Bytes += size
		if len(r.Failures) < maxFailures {
			r.Failures = append(r.Failures, Failure{Key: res.it.key, Op: res.op, Error: res.err.Error()})
		}
	case res.action == ActionCopy:
		r.Transferred.Files++
		r.Transferred.Bytes += res.bytes
	case res.action == ActionDelete:
		r.Deleted.Files++
		if res.it.dst != nil {
			r.Deleted.Bytes += res.it.dst.Size
		}
	case res.action == ActionArchived:
		r.Archived.Files++
		r.Archived.Bytes += size
		switch res.restore {
		case restoreRequested:
			r.Archived.RestoreRequested++
		case restoreInProgress:
			r.Archived.RestoreInProgress++
		}
	case countsAsSkipped(res):
		r.Skipped.Files++
		r.Skipped.Bytes += size
	}
}

// countsAsSkipped says whether a result that moved nothing counts as skipped: what a transfer would have sent
// (files, symlinks, empty-directory markers) and found up to date. Non-empty directories and destination-only keys
// were never candidates, nor keys below a local directory that could not be read (nothing was compared).
func countsAsSkipped(res result) bool {
	src, dst := res.it.src, res.it.dst
	return res.err == nil && res.action != ActionCopy && res.action != ActionDelete && res.action != ActionArchived &&
		src != nil && dst != nil && (!src.IsDir() || src.Marker) && !src.Unknown && !dst.Unknown
}

// secondPass prepares the counts for going through the tree again (see runTree): the next pass sees every file
// again and counts it then, as failed, skipped, archived or released, so those counts start over; what the first
// pass transferred stays counted (the second finds it up to date, and runTree takes it out of skipped).
func (r *Report) secondPass() {
	r.Failed, r.Skipped, r.Archived, r.Released = Count{}, Count{}, ArchivedCount{}, ReleasedCount{}
	r.Failures = r.Failures[:0]
}

func (r *Report) finish(err error) {
	r.Finished = time.Now()
	r.Seconds = r.Finished.Sub(r.Started).Seconds()
	if end := processCPU(); end > r.cpuStart {
		r.CPUSeconds = (end - r.cpuStart).Seconds()
		r.BytesPerCPUSecond = int64(float64(r.Transferred.Bytes) / r.CPUSeconds)
	}
	switch {
	case errors.Is(err, ErrStopped):
		r.Stopped = true
	case err != nil:
		r.Fatal = err.Error()
	}
}

// Summary renders the short end-of-run text.
func (r *Report) Summary() string {
	verb := "transferred"
	if r.DryRun {
		verb = "would transfer"
	}
	if r.Stopped {
		verb = "stopped early (safe to rerun), transferred"
	}
	rate := 0.0
	if r.Seconds > 0 {
		rate = float64(r.Transferred.Bytes) / r.Seconds
	}
	s := fmt.Sprintf("%s %d files (%s), skipped %d unchanged (%s), deleted %d, failed %d in %.1fs (%s/s)",
		verb, r.Transferred.Files, HumanBytes(r.Transferred.Bytes), r.Skipped.Files, HumanBytes(r.Skipped.Bytes),
		r.Deleted.Files, r.Failed.Files, r.Seconds, HumanBytes(int64(rate)))
	if r.CPUSeconds > 0 {
		// Two decimals: a no-op sync or a small run takes well under a CPU-second, and that is the figure to watch.
		s += fmt.Sprintf(", %.2f CPU-s", r.CPUSeconds)
		if r.Transferred.Bytes > 0 {
			s += fmt.Sprintf(" (%s per CPU-s)", HumanBytes(r.BytesPerCPUSecond))
		}
	}
	if a := r.Archived; a.Files > 0 {
		noun := "objects"
		if a.Files == 1 {
			noun = "object"
		}
		s += fmt.Sprintf(", %d archived %s skipped (%s; ", a.Files, noun, HumanBytes(a.Bytes))
		if a.RestoreRequested+a.RestoreInProgress > 0 {
			s += fmt.Sprintf("restore requested for %d, in progress for %d: run again once done)", a.RestoreRequested, a.RestoreInProgress)
		} else {
			s += "restore them first: --restore-archived DAYS)"
		}
	}
	if n := r.SpecialFiles; n == 1 {
		s += ", 1 special file skipped (FIFO, socket or device)"
	} else if n > 1 {
		s += fmt.Sprintf(", %d special files skipped (FIFOs, sockets, devices)", n)
	}
	if n := r.Released; n.Restored+n.Skipped+n.Read+n.StillReleased > 0 {
		s += fmt.Sprintf("; HSM-released files: %d restored, %d skipped, %d read, %d not restored in time", n.Restored, n.Skipped, n.Read, n.StillReleased)
	}
	if r.CleanedUp > 0 {
		s += fmt.Sprintf(", cleaned up %d leftovers of an interrupted run", r.CleanedUp)
	}
	if r.Retries > 0 {
		s += fmt.Sprintf(", %d requests retried", r.Retries)
	}
	if r.Resumed > 0 {
		s += fmt.Sprintf(", %d already done by an earlier run", r.Resumed)
	}
	return s
}

// WriteJSON writes the report to path atomically.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	// fsx's temp file (O_EXCL, so never an existing FIFO that would block the open, nor another task's temp file),
	// renamed over path: a reader sees the old report or the new one, whole.
	f, err := fsx.CreateTemp(path)
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		fsx.Discard(f)
		return fmt.Errorf("write report: %w", err)
	}
	if err := fsx.Commit(f, path, fsx.DefaultFileMode(), time.Time{}); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// HumanBytes renders a byte count in binary units.
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
