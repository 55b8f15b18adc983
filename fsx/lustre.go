package fsx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// This file runs the Lustre client tool `lfs` for the three things fsxsync wants from FSx for Lustre beyond POSIX:
// a file's stripe layout (to cut multipart parts along stripe boundaries), its HSM state (to avoid re-hydrating a
// whole file system from S3 by reading released files one by one), and bulk restores of released files.
//
// The output formats parsed here are those printed by lustre/utils/lfs.c and lustre/utils/liblustreapi.c of
// lustre-release, which are the same from Lustre 2.10 (the oldest FSx for Lustre version) to 2.17. One thing
// did change in 2.16: `lfs getstripe` and `lfs hsm_state` used to stop at the first file they could not handle,
// and since 2.16 (LU-5170) they report it on stderr and go on with the others. The code below is written so that
// it gets the same results from both, without relying on the wording of error messages.

// ErrNoLFS reports that the `lfs` command is not installed (or LFS.Path does not name an executable). Callers
// treat it as "not Lustre, or tools missing" and carry on without stripes and HSM states.
var ErrNoLFS = errors.New("lfs command not found")

// ErrNotLustre reports that `lfs` ran but a path is not on a Lustre file system: its Lustre ioctl failed with
// ENOTTY. Callers degrade exactly as for ErrNoLFS.
var ErrNotLustre = errors.New("not on a Lustre file system")

// LFS runs the Lustre `lfs` command; the zero value looks it up on PATH. When `lfs` is not installed every method
// reports ErrNoLFS and callers degrade silently (not Lustre, or tools missing).
//
// All paths given to one call should be regular files on the same Lustre file system. A path that lfs cannot
// handle on its own (it vanished, it is not a regular file, ...) is left out of the results rather than failing
// the whole call; a path outside Lustre fails the call with ErrNotLustre.
type LFS struct {
	// Path is the lfs executable; "" looks up "lfs" on PATH at each call.
	Path string
}

// Stripe is a file's layout: how many OSTs hold its data and how many bytes go to one OST before the next.
type Stripe struct {
	// Count is the number of stripes (OSTs); 0 for a file with no layout yet.
	Count int
	// Size is the stripe size in bytes; 0 for a file with no layout yet.
	Size int64
}

// HSMState is a file's HSM state flags as `lfs hsm_state` prints them: "exists", "archived", "released", "dirty",
// "lost_from_hsm", "never_release", "never_archive", and the archive ID.
type HSMState struct {
	// Exists means a copy of the file is in the archive (for FSx, the linked S3 bucket).
	Exists bool
	// Archived means the archive copy is complete.
	Archived bool
	// Released means the file's data is not on the OSTs: reading it makes Lustre restore it from the archive.
	Released bool
	// Dirty means the file changed since it was archived.
	Dirty bool
	// Lost means the archive copy was lost ("lost_from_hsm"): a released file can then not be restored.
	Lost bool
	// NoRelease and NoArchive are the user-settable "never_release" and "never_archive" flags.
	NoRelease, NoArchive bool
	// ArchiveID is the archive backend number; 0 when lfs prints none.
	ArchiveID int
}

// The HSM state bits of struct hsm_user_state.hus_states (enum hsm_states in lustre_user.h). The hexadecimal
// mask that lfs prints is the authority; the words after it are checked against it.
const (
	hsmExists    = 0x01
	hsmDirty     = 0x02
	hsmReleased  = 0x04
	hsmArchived  = 0x08
	hsmNoRelease = 0x10
	hsmNoArchive = 0x20
	hsmLost      = 0x40
)

// hsmKnownBits are the bits hsmWordBit knows a word for.
const hsmKnownBits = hsmExists | hsmDirty | hsmReleased | hsmArchived | hsmNoRelease | hsmNoArchive | hsmLost

// hsmWordBit returns the bit of a word lfs hsm_state prints for a set flag (lfs_hsm_state() in lfs.c), or 0 for a
// word it does not know.
func hsmWordBit(word string) uint32 {
	switch word {
	case "exists":
		return hsmExists
	case "dirty":
		return hsmDirty
	case "released":
		return hsmReleased
	case "archived":
		return hsmArchived
	case "never_release":
		return hsmNoRelease
	case "never_archive":
		return hsmNoArchive
	case "lost_from_hsm":
		return hsmLost
	}
	return 0
}

const (
	// lfsBatchPaths is how many paths go to one `lfs getstripe` or `lfs hsm_state`: enough to make the cost of
	// starting lfs negligible, few enough that one batch's output stays small.
	lfsBatchPaths = 512
	// lfsBatchArgBytes bounds the bytes of paths in one command line, well under Linux's ARG_MAX (2 MiB with the
	// default 8 MiB stack), so that batches of long paths still start.
	lfsBatchArgBytes = 512 << 10
	// lfsRestoreBatch is how many files go to one `lfs hsm_restore`. The client refuses an HSM request of
	// MDS_MAXREQSIZE/3 = 1706 bytes or more with E2BIG (ll_dir_ioctl LL_IOC_HSM_REQUEST, lustre/llite/dir.c); a
	// request is a 24-byte header plus 32 bytes a file, so at most 52 files fit.
	lfsRestoreBatch = 50
	// lfsStdoutLimit bounds what is kept of one run's standard output. A batch prints at most a path and a few
	// dozen bytes a file (about 2 MiB for 512 paths of PATH_MAX), so passing it means something is wrong and the
	// call fails.
	lfsStdoutLimit = 16 << 20
	// lfsStderrLimit bounds what is kept of standard error, which only goes into error messages.
	lfsStderrLimit = 64 << 10
	// lfsWaitDelay is how long a cancelled run may take to close its output after it was killed.
	lfsWaitDelay = 5 * time.Second
	// lfsDefaultPoll is Restore's poll interval when the caller passes none.
	lfsDefaultPoll = time.Second
	// lfsExitENOTTY is lfs's exit status when a Lustre ioctl fails with ENOTTY: lfs exits with the errno of the
	// first failure, and ENOTTY is what a non-Lustre file system answers to Lustre's ioctls.
	lfsExitENOTTY = 25
	// lfsMaxPartSize is S3's largest multipart part.
	lfsMaxPartSize = 5 << 30
)

// GetStripe returns the stripe layout of files, running one `lfs getstripe -c -S FILE...` per batch of up to 512
// paths. Paths lfs cannot report on are missing from the map.
//
// That form prints, for each file in command-line order, "lmm_stripe_count:  N" and "lmm_stripe_size:   N" and a
// blank line, and nothing else: no file names, so the records are matched to the paths by position. A file with
// no layout prints "PATH has no stripe info" instead and gets a zero Stripe. When a run fails, or prints fewer
// records than it was given paths, the batch is split in two and each half run again, down to single paths, so
// that one bad path costs a few extra runs and nothing is attributed to the wrong file; this works whether lfs
// stops at the first bad path (up to 2.15) or goes on (2.16 and later).
//
// For a composite (PFL or FLR) layout lfs itself prints the last instantiated component, as lfs-getstripe(1)
// documents for --stripe-count and --stripe-size. That is the component holding the end of the file, and since
// progressive layouts give later components the larger extents and wider striping (FSx's default since 2023 is 1
// stripe to 100 MiB, 8 to 10 GiB, 16 to 100 GiB, then 32), it is the one that holds most of a large file — the
// only files split into many parts.
func (l LFS) GetStripe(ctx context.Context, paths []string) (map[string]Stripe, error) {
	bin, err := l.binary()
	if err != nil {
		return nil, err
	}
	out := make(map[string]Stripe, len(paths))
	for _, batch := range lfsBatches(lfsUnique(paths), lfsBatchPaths) {
		if err := getStripeBatch(ctx, bin, batch, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// getStripeBatch runs `lfs getstripe -c -S` on paths and stores the stripes it attributes with certainty in out,
// splitting the batch when the run does not account for every path.
func getStripeBatch(ctx context.Context, bin string, paths []string, out map[string]Stripe) error {
	args := lfsArgs(paths)
	res, err := lfsRun(ctx, bin, append([]string{"getstripe", "-c", "-S"}, args...))
	if err != nil {
		return err
	}
	if res.code == 0 {
		stripes, err := parseStripes(res.stdout, args)
		if err != nil {
			return fmt.Errorf("lfs getstripe: %w", err)
		}
		switch {
		case len(stripes) == len(paths):
			for i, p := range paths {
				out[p] = stripes[i]
			}
			return nil
		case len(stripes) > len(paths):
			// More records than files cannot come from a file vanishing mid-run: the output is not in the
			// format this code knows, and splitting the batch would only repeat the mistake many times.
			return fmt.Errorf("lfs getstripe: %d layouts printed for %d files", len(stripes), len(paths))
		case len(paths) == 1:
			// lfs skips a file that vanished between its open and its ioctl with only a warning.
			return nil
		}
	}
	if len(paths) == 1 {
		if res.code == lfsExitENOTTY {
			return fmt.Errorf("lfs getstripe %s: %w%s", paths[0], ErrNotLustre, res.stderrNote())
		}
		return nil
	}
	half := len(paths) / 2
	if err := getStripeBatch(ctx, bin, paths[:half], out); err != nil {
		return err
	}
	return getStripeBatch(ctx, bin, paths[half:], out)
}

// parseStripes reads the records `lfs getstripe -c -S` prints for args, in order. A record is a block of lines
// ended by a blank line; the lines hold "key: value" pairs, of which only stripe_count and stripe_size (with the
// "lmm_" prefix of files, or without it for a directory's default layout) are kept. Plain layouts print them at the
// start of the line, composite ones indented by six spaces, and directories on one line. The one record that is
// not a block is "PATH has no stripe info", printed for a file without a layout and not followed by a blank line;
// it is recognised by the path expected at that position.
func parseStripes(out []byte, args []string) ([]Stripe, error) {
	var stripes []Stripe
	s := string(out)
	for len(s) > 0 {
		if s[0] == '\n' {
			s = s[1:]
			continue
		}
		if len(stripes) < len(args) {
			if rest, ok := strings.CutPrefix(s, args[len(stripes)]+" has no stripe info\n"); ok {
				stripes = append(stripes, Stripe{})
				s = rest
				continue
			}
		}
		block, rest, _ := strings.Cut(s, "\n\n")
		s = rest
		st, err := parseStripeBlock(block)
		if err != nil {
			return nil, err
		}
		stripes = append(stripes, st)
	}
	return stripes, nil
}

// parseStripeBlock reads one record of `lfs getstripe -c -S`.
func parseStripeBlock(block string) (Stripe, error) {
	var st Stripe
	for _, line := range strings.Split(block, "\n") {
		fields := strings.Fields(line)
		for i := 0; i+1 < len(fields); i++ {
			key, isKey := strings.CutSuffix(fields[i], ":")
			if !isKey {
				continue
			}
			value := fields[i+1]
			switch strings.TrimPrefix(key, "lmm_") {
			case "stripe_count":
				n, err := strconv.Atoi(value)
				if err != nil {
					return Stripe{}, fmt.Errorf("bad stripe count in %q", line)
				}
				st.Count = n
			case "stripe_size":
				n, err := strconv.ParseInt(value, 10, 64)
				if err != nil {
					return Stripe{}, fmt.Errorf("bad stripe size in %q", line)
				}
				st.Size = n
			}
		}
	}
	return st, nil
}

// HSMStates runs `lfs hsm_state FILE...` on paths in batches of up to 512 and returns each file's state. Paths
// lfs cannot report on are missing from the map.
//
// lfs prints one line a file, in command-line order (lfs_hsm_state() in lfs.c):
//
//	/fsx/a: (0x0000000d) released exists archived, archive_id:1
//	/fsx/b: (0x00000000)
//
// The path is printed as given and may itself contain ": " or a newline, so each line is matched against the
// path expected next rather than split on ':', and the words after the mask must agree with the mask.
//
// A file lfs cannot open prints no line; up to 2.15 lfs then stops, and since 2.16 it goes on. Either way the
// first path without a line is the one that failed (its errno is lfs's exit status), and when the paths that did
// print form a prefix, the ones after the failure are asked again in another run.
func (l LFS) HSMStates(ctx context.Context, paths []string) (map[string]HSMState, error) {
	bin, err := l.binary()
	if err != nil {
		return nil, err
	}
	return hsmStates(ctx, bin, paths)
}

// hsmStates is HSMStates with the lfs binary already found.
func hsmStates(ctx context.Context, bin string, paths []string) (map[string]HSMState, error) {
	out := make(map[string]HSMState, len(paths))
	for _, batch := range lfsBatches(lfsUnique(paths), lfsBatchPaths) {
		if err := hsmStateBatch(ctx, bin, batch, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// hsmStateBatch runs `lfs hsm_state` on paths, again on those after a failure where lfs stopped, and stores the
// states in out.
func hsmStateBatch(ctx context.Context, bin string, paths []string, out map[string]HSMState) error {
	todo := paths
	for len(todo) > 0 {
		args := lfsArgs(todo)
		res, err := lfsRun(ctx, bin, append([]string{"hsm_state"}, args...))
		if err != nil {
			return err
		}
		states, answered, err := parseHSMStates(res.stdout, args)
		if err != nil {
			return fmt.Errorf("lfs hsm_state: %w", err)
		}
		var missing []string
		prefix := true // whether the answered paths are a prefix of todo, as when lfs stops at a failure
		for i, p := range todo {
			if answered[i] {
				out[p] = states[i]
				if len(missing) > 0 {
					prefix = false
				}
				continue
			}
			missing = append(missing, p)
		}
		if len(missing) == 0 {
			return nil
		}
		if res.code == 0 {
			return fmt.Errorf("lfs hsm_state: no state printed for %q", missing[0])
		}
		if res.code == lfsExitENOTTY {
			return fmt.Errorf("lfs hsm_state %s: %w%s", missing[0], ErrNotLustre, res.stderrNote())
		}
		if !prefix {
			// lfs went on after its failures, so every path without a line failed on its own.
			return nil
		}
		todo = missing[1:]
	}
	return nil
}

// parseHSMStates matches the lines of `lfs hsm_state` output to args, which lfs printed in order, skipping the
// args that have no line. It fails on a line that belongs to none of them.
func parseHSMStates(out []byte, args []string) ([]HSMState, []bool, error) {
	states := make([]HSMState, len(args))
	answered := make([]bool, len(args))
	s := string(out)
	next := 0
	for len(s) > 0 {
		matched := false
		for ; next < len(args); next++ {
			st, rest, ok := parseHSMLine(s, args[next])
			if ok {
				states[next], answered[next] = st, true
				s = rest
				next++
				matched = true
				break
			}
		}
		if !matched {
			line, _, _ := strings.Cut(s, "\n")
			return nil, nil, fmt.Errorf("unexpected output line %q", line)
		}
	}
	return states, answered, nil
}

// parseHSMLine reads the line at the start of s if it is arg's: "ARG: (0xMASK)", the words of the set flags, and
// ", archive_id:N" when the archive ID is not 0. It returns the rest of s after the line.
func parseHSMLine(s, arg string) (HSMState, string, bool) {
	r, ok := strings.CutPrefix(s, arg+": (0x")
	if !ok {
		return HSMState{}, "", false
	}
	hexMask, r, ok := strings.Cut(r, ")")
	if !ok || len(hexMask) == 0 || len(hexMask) > 8 {
		return HSMState{}, "", false
	}
	mask, err := strconv.ParseUint(hexMask, 16, 32)
	if err != nil {
		return HSMState{}, "", false
	}
	line, rest, _ := strings.Cut(r, "\n")
	words, archive, hasArchive := strings.Cut(line, ",")
	if words != "" && words[0] != ' ' {
		return HSMState{}, "", false
	}
	// Words lfs does not know yet come with bits this code does not know, so only the known ones are compared.
	var wordBits uint32
	for _, w := range strings.Fields(words) {
		wordBits |= hsmWordBit(w)
	}
	if wordBits != uint32(mask)&hsmKnownBits {
		return HSMState{}, "", false
	}
	st := HSMState{
		Exists:    mask&hsmExists != 0,
		Dirty:     mask&hsmDirty != 0,
		Released:  mask&hsmReleased != 0,
		Archived:  mask&hsmArchived != 0,
		NoRelease: mask&hsmNoRelease != 0,
		NoArchive: mask&hsmNoArchive != 0,
		Lost:      mask&hsmLost != 0,
	}
	if hasArchive {
		// lfs.c prints "archive_id:1"; lfs-hsm(1) shows "archive_id: 1", so a space is allowed.
		id, ok := strings.CutPrefix(strings.TrimSpace(archive), "archive_id:")
		if !ok {
			return HSMState{}, "", false
		}
		n, err := strconv.Atoi(strings.TrimSpace(id))
		if err != nil {
			return HSMState{}, "", false
		}
		st.ArchiveID = n
	}
	return st, rest, true
}

// restorable reports whether the HSM coordinator accepts a restore of a file in this state: released, archived,
// neither dirty nor lost (mdt_hsm_is_action_compat() in lustre/mdt/mdt_coordinator.c). The coordinator refuses
// with EPERM a whole request that holds a released file in any other state, and skips files that are not released.
func (st HSMState) restorable() bool {
	return st.Released && st.Archived && !st.Dirty && !st.Lost
}

// Restore asks for released files to be brought back (`lfs hsm_restore FILE...`, batched) and waits, polling
// HSMStates every poll interval, until none is released or the timeout passes; it returns the paths still
// released, in the order given, with a nil error when only the timeout stopped it.
//
// Only released files are asked for, and a released file the coordinator cannot restore (lost from the archive,
// or not archived) is not asked for or waited for: it is returned as still released at once. A request is all or
// nothing — lfs stats every file before sending it, and the coordinator refuses a request with one incompatible
// file — so a failed batch is split down to the files that fail on their own; those that are still released
// are returned too. Paths lfs cannot report on (such as files deleted meanwhile) count as not released. A poll
// of 0 or less means 1 s; a timeout of 0 or less sends the requests and checks once, without waiting. Lustre
// lets any user ask for restores (the coordinator's default user_request_mask is RESTORE), so no root is needed.
func (l LFS) Restore(ctx context.Context, paths []string, poll, timeout time.Duration) (stillReleased []string, err error) {
	bin, err := l.binary()
	if err != nil {
		return nil, err
	}
	if poll <= 0 {
		poll = lfsDefaultPoll
	}
	deadline := time.Now().Add(timeout)
	all := lfsUnique(paths)
	states, err := hsmStates(ctx, bin, all)
	if err != nil {
		return nil, err
	}
	stuck := make(map[string]bool) // released, and not coming back whatever we wait
	var want []string
	for _, p := range all {
		st, ok := states[p]
		switch {
		case !ok || !st.Released:
		case st.restorable():
			want = append(want, p)
		default:
			stuck[p] = true
		}
	}

	var refused []string
	for _, batch := range lfsBatches(want, lfsRestoreBatch) {
		r, err := requestRestore(ctx, bin, batch)
		if err != nil {
			return lfsPick(all, want, stuck), err
		}
		refused = append(refused, r...)
	}
	pending := want
	if len(refused) > 0 {
		// A file refused on its own has most likely changed meanwhile (deleted, or restored by a reader). Those
		// still released will not come back because of us, so they are not waited for.
		now, err := hsmStates(ctx, bin, refused)
		if err != nil {
			return lfsPick(all, want, stuck), err
		}
		isRefused := make(map[string]bool, len(refused))
		for _, p := range refused {
			isRefused[p] = true
			if now[p].Released {
				stuck[p] = true
			}
		}
		pending = nil
		for _, p := range want {
			if !isRefused[p] {
				pending = append(pending, p)
			}
		}
	}

	// The states are checked at least once after the requests, however long sending them took, so that a file
	// restored quickly is not reported as still released.
	for len(pending) > 0 {
		if wait := min(poll, time.Until(deadline)); wait > 0 {
			if err := lfsSleep(ctx, wait); err != nil {
				return lfsPick(all, pending, stuck), err
			}
		}
		now, err := hsmStates(ctx, bin, pending)
		if err != nil {
			return lfsPick(all, pending, stuck), err
		}
		var still []string
		for _, p := range pending {
			if now[p].Released {
				still = append(still, p)
			}
		}
		pending = still
		if !time.Now().Before(deadline) {
			break
		}
	}
	return lfsPick(all, pending, stuck), nil
}

// requestRestore sends `lfs hsm_restore` for paths and returns those refused on their own, splitting a refused
// batch in two until each refusal is pinned on single files.
func requestRestore(ctx context.Context, bin string, paths []string) (refused []string, err error) {
	res, err := lfsRun(ctx, bin, append([]string{"hsm_restore"}, lfsArgs(paths)...))
	if err != nil {
		return nil, err
	}
	if res.code == 0 {
		return nil, nil
	}
	if len(paths) == 1 {
		if res.code == lfsExitENOTTY {
			return nil, fmt.Errorf("lfs hsm_restore %s: %w%s", paths[0], ErrNotLustre, res.stderrNote())
		}
		return paths, nil
	}
	half := len(paths) / 2
	first, err := requestRestore(ctx, bin, paths[:half])
	if err != nil {
		return nil, err
	}
	second, err := requestRestore(ctx, bin, paths[half:])
	if err != nil {
		return nil, err
	}
	return append(first, second...), nil
}

// PartSizeFor picks a multipart part size for a file with this stripe: the smallest multiple of the stripe size
// that is at least minSize (S3's 5 MiB and the user's --part-size), so that each part reads whole stripes (each
// part then comes from whole OSTs). A stripe size of 0 (unknown) gives minSize, and so does a multiple that would
// pass S3's 5 GiB part limit (Lustre allows stripes up to 4 GiB).
func PartSizeFor(s Stripe, minSize int64) int64 {
	if s.Size <= 0 {
		return minSize
	}
	size := s.Size
	if minSize > s.Size {
		stripes := minSize / s.Size
		if minSize%s.Size != 0 {
			stripes++
		}
		size = stripes * s.Size
	}
	if size > lfsMaxPartSize {
		return minSize
	}
	return size
}

// binary returns the lfs executable to run.
func (l LFS) binary() (string, error) {
	name := l.Path
	if name == "" {
		name = "lfs"
	}
	bin, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrNoLFS, err)
	}
	return bin, nil
}

// lfsResult is what one run of lfs printed and its exit status.
type lfsResult struct {
	stdout, stderr []byte
	code           int
}

// stderrNote is the start of what lfs wrote to stderr, to end an error message with.
func (r lfsResult) stderrNote() string {
	msg := strings.TrimSpace(string(r.stderr))
	if msg == "" {
		return ""
	}
	if first, _, more := strings.Cut(msg, "\n"); more {
		msg = first + " ..."
	}
	return " (lfs: " + msg + ")"
}

// lfsRun runs lfs with args and returns its output and exit status. A non-zero exit status is not an error here:
// lfs exits with the errno of a failure, which the callers interpret. Errors are for lfs not running to its end
// (cancelled, killed by a signal) or printing more than lfsStdoutLimit.
func lfsRun(ctx context.Context, bin string, args []string) (lfsResult, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	// The C locale keeps lfs's strerror() messages, which end up in our errors, in one language.
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.WaitDelay = lfsWaitDelay
	stdout := &cappedBuffer{limit: lfsStdoutLimit}
	stderr := &cappedBuffer{limit: lfsStderrLimit}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err := cmd.Run()
	if ctxErr := ctx.Err(); ctxErr != nil {
		return lfsResult{}, ctxErr
	}
	res := lfsResult{stdout: stdout.buf.Bytes(), stderr: stderr.buf.Bytes()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr) && exitErr.Exited():
		res.code = exitErr.ExitCode()
	default:
		return lfsResult{}, fmt.Errorf("lfs %s: %w%s", args[0], err, res.stderrNote())
	}
	if stdout.overflow {
		return lfsResult{}, fmt.Errorf("lfs %s: more than %d bytes of output", args[0], lfsStdoutLimit)
	}
	return res, nil
}

// cappedBuffer keeps the first limit bytes written to it and notes whether more came. It accepts and drops the
// rest rather than failing the write, so that lfs is not killed by SIGPIPE halfway through a request.
type cappedBuffer struct {
	buf      bytes.Buffer
	limit    int
	overflow bool
}

// Write implements io.Writer.
func (b *cappedBuffer) Write(p []byte) (int, error) {
	room := b.limit - b.buf.Len()
	if len(p) > room {
		b.buf.Write(p[:max(room, 0)])
		b.overflow = true
		return len(p), nil
	}
	b.buf.Write(p)
	return len(p), nil
}

// lfsUnique returns paths without repeats and empty strings, in their first order, so that each file is asked
// about once and output can be matched to the command line.
func lfsUnique(paths []string) []string {
	seen := make(map[string]bool, len(paths))
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		if p == "" || seen[p] {
			continue
		}
		seen[p] = true
		out = append(out, p)
	}
	return out
}

// lfsBatches cuts paths into batches of at most maxPaths paths and about lfsBatchArgBytes bytes.
func lfsBatches(paths []string, maxPaths int) [][]string {
	var batches [][]string
	start, size := 0, 0
	for i, p := range paths {
		if i > start && (i-start == maxPaths || size+len(p)+1 > lfsBatchArgBytes) {
			batches = append(batches, paths[start:i])
			start, size = i, 0
		}
		size += len(p) + 1
	}
	if start < len(paths) {
		batches = append(batches, paths[start:])
	}
	return batches
}

// lfsArgs returns the command-line arguments naming paths. A relative path starting with '-' would be taken for
// an option (lfs hsm_state takes no "--", and lfs getstripe treats what follows "--" as no path at all), so it is
// given as "./-name", which is also how lfs then prints it.
func lfsArgs(paths []string) []string {
	args := make([]string, len(paths))
	for i, p := range paths {
		if strings.HasPrefix(p, "-") {
			p = "./" + p
		}
		args[i] = p
	}
	return args
}

// lfsPick returns the paths of all that are in list or in set, in the order of all.
func lfsPick(all, list []string, set map[string]bool) []string {
	in := make(map[string]bool, len(list)+len(set))
	for _, p := range list {
		in[p] = true
	}
	for p := range set {
		in[p] = true
	}
	var picked []string
	for _, p := range all {
		if in[p] {
			picked = append(picked, p)
		}
	}
	return picked
}

// lfsSleep waits for d or until ctx is done.
func lfsSleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
