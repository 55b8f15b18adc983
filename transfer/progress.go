package transfer

import (
	"sync/atomic"
	"time"
)

// Progress counts a run's work as it happens, for a live display. The engine only adds to it; a display reads a
// Snapshot whenever it likes, from any goroutine. Totals grow while the two sides are still being listed (the plan
// streams, it is never held whole in memory), and are final once Snapshot().Planned is true.
type Progress struct {
	started      atomic.Int64 // unix nanoseconds of the first Snapshot-worthy event
	todoFiles    atomic.Int64
	todoBytes    atomic.Int64
	doneFiles    atomic.Int64
	doneBytes    atomic.Int64 // bytes moved so far, counted as they stream, including files still in flight
	skippedFiles atomic.Int64
	failedFiles  atomic.Int64
	deleted      atomic.Int64
	planned      atomic.Bool
}

// ProgressSnapshot is a consistent-enough view of a Progress at one moment.
type ProgressSnapshot struct {
	// TodoFiles and TodoBytes are what the run has found to transfer so far (final once Planned).
	TodoFiles, TodoBytes int64
	// DoneFiles are the files finished; DoneBytes counts bytes of finished files and of those in flight.
	DoneFiles, DoneBytes int64
	SkippedFiles         int64
	FailedFiles          int64
	Deleted              int64
	// Planned is true once both sides are listed and compared: the totals will not grow any more.
	Planned bool
	// Elapsed is the time since the run started.
	Elapsed time.Duration
}

// Snapshot reads the counters. A nil Progress reads as zero.
func (p *Progress) Snapshot() ProgressSnapshot {
	if p == nil {
		return ProgressSnapshot{}
	}
	s := ProgressSnapshot{
		TodoFiles: p.todoFiles.Load(), TodoBytes: p.todoBytes.Load(),
		DoneFiles: p.doneFiles.Load(), DoneBytes: p.doneBytes.Load(),
		SkippedFiles: p.skippedFiles.Load(), FailedFiles: p.failedFiles.Load(), Deleted: p.deleted.Load(),
		Planned: p.planned.Load(),
	}
	if t := p.started.Load(); t != 0 {
		s.Elapsed = time.Since(time.Unix(0, t))
	}
	return s
}

// The engine's side. Every method accepts a nil receiver, so the engine never has to ask whether anyone watches.

func (p *Progress) start() {
	if p != nil {
		p.started.CompareAndSwap(0, time.Now().UnixNano())
	}
}

// planCopy records a file found to need transferring.
func (p *Progress) planCopy(size int64) {
	if p != nil {
		p.todoFiles.Add(1)
		p.todoBytes.Add(size)
	}
}

// unplanCopy takes back a planCopy: a file that turned out to be up to date after all, or was not sent.
func (p *Progress) unplanCopy(size int64) {
	if p != nil {
		p.todoFiles.Add(-1)
		p.todoBytes.Add(-size)
	}
}

// moved counts bytes as they stream.
func (p *Progress) moved(n int64) {
	if p != nil && n != 0 {
		p.doneBytes.Add(n)
	}
}

// failed records a file that could not be transferred: its bytes are not done, and it leaves the totals (the
// display shows failures apart).
func (p *Progress) failed(planned bool, streamed, size int64) {
	if p == nil {
		return
	}
	p.failedFiles.Add(1)
	p.doneBytes.Add(-streamed)
	if planned {
		p.unplanCopy(size)
	}
}

// copied records a file transferred: sent is its final size, streamed what moved() counted for it (a retried part
// streams twice, an empty directory not at all), planned whether planCopy counted size for it.
func (p *Progress) copied(planned bool, streamed, size, sent int64) {
	if p == nil {
		return
	}
	p.doneFiles.Add(1)
	p.doneBytes.Add(sent - streamed)
	if !planned {
		p.planCopy(sent)
	} else if sent != size {
		p.todoBytes.Add(sent - size)
	}
}

func (p *Progress) deletedOne() {
	if p != nil {
		p.deleted.Add(1)
	}
}

// skipped records a file found up to date; one that was planned (its HEAD said otherwise) leaves the totals.
func (p *Progress) skipped(planned bool, size int64) {
	if p == nil {
		return
	}
	p.skippedFiles.Add(1)
	if planned {
		p.unplanCopy(size)
	}
}

// setPlanned marks the totals final.
func (p *Progress) setPlanned() {
	if p != nil {
		p.planned.Store(true)
	}
}
