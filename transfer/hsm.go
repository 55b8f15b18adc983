package transfer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fsxsync/fsxsync/fsx"
)

// ReleasedPolicy is what an upload from Lustre does with HSM-released files.
type ReleasedPolicy string

// The policies (--released).
const (
	ReleasedRestore ReleasedPolicy = "restore" // restore in bulk before reading, waiting up to RestoreTimeout
	ReleasedSkip    ReleasedPolicy = "skip"    // leave them out (counted in the summary)
	ReleasedRead    ReleasedPolicy = "read"    // read them anyway: Lustre restores each on first read
)

// ParseReleasedPolicy reads --released.
func ParseReleasedPolicy(v string) (ReleasedPolicy, error) {
	switch p := ReleasedPolicy(v); p {
	case ReleasedRestore, ReleasedSkip, ReleasedRead:
		return p, nil
	}
	return "", Usagef("--released %q: give restore, skip or read", v)
}

// ReleasedCount counts released files by outcome.
type ReleasedCount struct {
	Restored      int64 `json:"restored"`
	Skipped       int64 `json:"skipped"`
	Read          int64 `json:"read"`
	StillReleased int64 `json:"still_released"`
}

// hsmBatchSize is how many files are asked about at once; lfs takes hundreds of paths per run.
const hsmBatchSize = 512

// restorePoll is how often a bulk restore is checked on.
const restorePoll = 2 * time.Second

// hsmBatch holds uploads from Lustre back until it knows which of them are released, a batch at a time, and
// restores those in bulk (or skips them) before they reach the workers: re-hydrating one file at a time inside
// the transfer workers would serialise on the data repository and look like a hang. Without LFS it passes items
// straight on.
type hsmBatch struct {
	e       *engine
	emit    func(*item) error
	pending []*item
	warned  bool
}

func (h *hsmBatch) add(ctx context.Context, it *item) error {
	e := h.e
	if e.o.LFS == nil || e.dir != Upload || it.action != ActionCopy || it.err != nil || it.src == nil || !it.src.Mode.IsRegular() {
		return h.emit(it)
	}
	h.pending = append(h.pending, it)
	if len(h.pending) >= hsmBatchSize {
		return h.flush(ctx)
	}
	return nil
}

func (h *hsmBatch) flush(ctx context.Context) error {
	if len(h.pending) == 0 {
		return nil
	}
	e := h.e
	paths := make([]string, len(h.pending))
	for i, it := range h.pending {
		paths[i] = it.localPath
	}
	states, err := e.o.LFS.HSMStates(ctx, paths)
	if err != nil && !h.warned {
		// Not Lustre after all, or lfs failing: carry on as on any file system.
		h.warned = true
		if !errors.Is(err, fsx.ErrNoLFS) && !errors.Is(err, fsx.ErrNotLustre) {
			e.o.Log.Warn("lfs hsm_state failed; released files (if any) will be restored as they are read", "error", err.Error())
		}
	}
	var released []string
	for _, p := range paths {
		if states[p].Released {
			released = append(released, p)
		}
	}
	still := map[string]bool{}
	if len(released) > 0 {
		switch e.o.Released {
		case ReleasedSkip, ReleasedRead:
		default:
			timeout := e.o.RestoreTimeout
			if timeout <= 0 {
				timeout = 30 * time.Minute
			}
			e.o.Log.Info("restoring HSM-released files in bulk", "files", len(released), "timeout", timeout)
			left, err := e.o.LFS.Restore(ctx, released, restorePoll, timeout)
			if err != nil && ctx.Err() != nil {
				return ctx.Err()
			}
			for _, p := range left {
				still[p] = true
			}
		}
	}
	for _, it := range h.pending {
		if states[it.localPath].Released {
			switch {
			case e.o.Released == ReleasedSkip:
				it.action, it.released = ActionSkip, "skipped"
			case e.o.Released == ReleasedRead:
				it.released = "read"
			case still[it.localPath]:
				it.released = "still released"
				it.err = fmt.Errorf("%s is released to S3 by its data repository and was not restored within the --restore-timeout; run again later, or use --released=read", it.localPath)
			default:
				it.released = "restored"
			}
		}
		if err := h.emit(it); err != nil {
			return err
		}
	}
	h.pending = h.pending[:0]
	return nil
}

// partSizeFor aligns a large upload's parts with the file's Lustre stripes, so each part reads whole stripes.
func (e *engine) partSizeFor(ctx context.Context, path string, size int64) int64 {
	if e.o.LFS == nil || size < e.o.PartSize {
		return e.o.PartSize
	}
	stripes, err := e.o.LFS.GetStripe(ctx, []string{path})
	if err != nil {
		return e.o.PartSize
	}
	if s, ok := stripes[path]; ok {
		return fsx.PartSizeFor(s, e.o.PartSize)
	}
	return e.o.PartSize
}
