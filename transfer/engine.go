package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/fsxsync/fsxsync/fsx"
	"golang.org/x/sync/semaphore"
)

// Options describe one transfer. The CLI fills them from flags; the engine never reads flags or the environment.
type Options struct {
	Src, Dst Location
	// Recursive transfers a whole tree or prefix (sync always is); otherwise the source is a single file or object.
	Recursive bool
	Compare   CompareMode
	Delete    bool
	DryRun    bool
	Filter    *Filter
	// Concurrency is the number of files in flight.
	Concurrency int
	// PartSize is the requested multipart part size (grown automatically for objects over 10,000 parts), and
	// PartConcurrency the parts in flight per large file.
	PartSize        int64
	PartConcurrency int
	// StatePath is the sync state file (see state.go); empty disables it.
	StatePath string
	// Out receives one line per planned action in a dry run.
	Out io.Writer
	// Log receives one record per failed file as it happens (level Error), warnings, and at level Debug one record
	// per file transferred. Nil discards them.
	Log *slog.Logger
	// Progress, when set, is counted up as the run goes, for a live display.
	Progress *Progress
	// Drain, when closed, makes the run stop starting new files (a clean stop: SIGTERM from a time limit); files in
	// flight finish unless ctx is cancelled too. Run then returns ErrStopped. Nil never drains.
	Drain <-chan struct{}
	// Shard is this task's share of the keys (Slurm arrays and multi-task steps); nil is everything.
	Shard Share
	// TrustManifest lets RunManifestShard make the planned copies of files without a stat and a HEAD each, when its
	// shard has no journal yet: the manifest was planned moments ago by the same job (an array's sync, see
	// arrayplan.go), and checking each item again would cost a second walk and one HEAD a file. A resumed shard
	// checks everything again, since its plan may be hours old.
	TrustManifest bool
	// PlanEncryption is recorded in the header Plan writes, for run to apply (the engine encrypts nothing itself: the
	// store sends the headers).
	PlanEncryption *PlanEncryption
	// StateFragment, when set, is where RunManifestShard appends the state records of what it moved, for the next
	// plan to merge into its state file (see statefrag.go).
	StateFragment string
	// DirMarkers uploads a directory marker for every directory (as FSx export does), not only for empty ones.
	DirMarkers bool
	// FollowSymlinks uploads the content of the file a link points to, instead of storing the link.
	FollowSymlinks bool
	// PreserveOwner applies the owner and group an object carries when running as root; PreserveSetid keeps its
	// setuid, setgid and sticky bits (never applied otherwise).
	PreserveOwner, PreserveSetid bool
	// LFS is set when the local side is a Lustre file system with the lfs command: uploads then align parts with
	// stripes and handle HSM-released files by Released. Nil: not Lustre, or no lfs (nothing Lustre-specific).
	LFS *fsx.LFS
	// Released says what an upload does with files a data repository has released to S3 (their data is not on
	// Lustre, and reading them restores them one at a time): restore them in bulk first and wait up to
	// RestoreTimeout (the default), skip them, or read them as they are.
	Released       ReleasedPolicy
	RestoreTimeout time.Duration
	// Stats, when set, is the S3 client's request counter: the report gives its retries.
	Stats RetryCounter
	// ForceArchived (--force-archived-transfer) downloads archived objects like any other, so that each fails with
	// S3's InvalidObjectState unless it was restored; otherwise a download skips them (see archived.go), and with
	// RestoreArchived.Days set (--restore-archived) asks S3 to restore each one.
	ForceArchived   bool
	RestoreArchived ArchiveRestore
	// SortListing sorts the S3 listing before the merge, within SortBudget bytes of memory and spilling sorted runs
	// to TempDir past it: directory buckets list keys in no particular order. Without it a listing found out of
	// order is listed again, sorted. TempDir "" is the system's temporary directory.
	SortListing bool
	SortBudget  int64
	TempDir     string
	// plan, when set (by Plan), receives each action a dry run would take instead of a printed line.
	plan func(*item, Action)
	// walkFS, when set (by tests, through SetWalkFS), is the file system the local side is walked through, so that
	// a test running as root can make a directory fail to open.
	walkFS fsx.FS
}

// DefaultConcurrency is the number of files in flight by default; see docs/performance.md, "Tuning", for the measurements.
const DefaultConcurrency = 32

// Direction of a transfer.
type Direction int

// The two directions.
const (
	Upload Direction = iota
	Download
)

// DirectionOf checks that exactly one side is S3 and says which way data flows.
func DirectionOf(src, dst Location) (Direction, error) {
	switch {
	case src.IsS3() && dst.IsS3():
		return 0, Usagef("both sides are S3 (%s, %s): one side must be a local path", src, dst)
	case !src.IsS3() && !dst.IsS3():
		return 0, Usagef("both sides are local (%s, %s): one side must be s3://bucket/prefix", src, dst)
	case src.IsS3():
		return Download, nil
	}
	return Upload, nil
}

// item is one key flowing from the merge to a worker and on to the report.
type item struct {
	seq      int
	key      string // relative key (tree mode) or the source's base name (single mode)
	src, dst *Entry
	action   Action
	// localPath and objectKey are where this item lives on each side.
	localPath string
	objectKey string
	// cleanKey is, for a download, the canonical key of the local path a source key maps to (fsx.CleanKey): the key
	// itself, or its cleaned form for a key such as "x/../ok2", which is settled at the end of the pass (deferred.go).
	cleanKey string
	// err is set when the item cannot be transferred at all (unsafe key, conflict, a local directory that could not
	// be read), and errOp names what failed for the report; empty means "map key".
	err   error
	errOp string
	// notMine marks a key that belongs to another shard: it is passed through for the state file only.
	notMine bool
	// index is the item's line in a manifest shard (fsxsync run), for the journal.
	index int
	// released is what was done with an HSM-released source file: restored, skipped, read, still released.
	released string
	// planned is set when the item was counted in Progress's totals; streamed counts its bytes moved so far.
	planned  bool
	streamed atomic.Int64
}

// result is what happened to one item.
type result struct {
	it      *item
	action  Action // the action actually taken (ActionNeedMtime resolves to copy or skip)
	bytes   int64
	err     error
	op      string
	state   *stateRecord // what we now know about the object, for the state file
	dirDone string       // a local directory to remove after the run (download --delete)
	dirAttr *dirAttr     // a local directory's mode and mtime, to apply after the run

	// restore is what --restore-archived did for an archived object.
	restore restoreOutcome
}

// Run performs one cp or sync and returns its report. Per-file failures are in the report; the returned error is
// fatal (the run stopped early: access denied, no such bucket, bad credentials, cancelled) or ErrStopped.
func Run(ctx context.Context, store ObjectStore, o Options) (*Report, error) {
	return runWith(ctx, store, o, func(e *engine) error {
		if e.o.Recursive {
			return e.runTree(ctx)
		}
		return e.runSingle(ctx)
	})
}

// lineWriter serialises writes to w: each Write (one dry-run line) is written whole, never interleaved with another.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// runWith sets up the engine for o and runs body with it: a sync, a single copy, or a manifest shard.
func runWith(ctx context.Context, store ObjectStore, o Options, body func(*engine) error) (*Report, error) {
	dir, err := DirectionOf(o.Src, o.Dst)
	if err != nil {
		return nil, err
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	// Workers print dry-run lines at once; each line must reach Out whole, whatever Out is.
	o.Out = &lineWriter{w: o.Out}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.PartSize <= 0 {
		o.PartSize = DefaultPartSize
	}
	if o.PartConcurrency <= 0 {
		o.PartConcurrency = DefaultPartConcurrency
	}
	if o.SortBudget <= 0 {
		o.SortBudget = DefaultSortBudget
	}
	rep := newReport(o)
	// Large files move in parallel parts, --part-concurrency requests each. Letting every worker carry one would
	// multiply the requests in flight by the part concurrency, so only as many large files run at once as keep the
	// number of requests in flight near --concurrency.
	large := semaphore.NewWeighted(int64(max(1, o.Concurrency/o.PartConcurrency)))
	e := &engine{store: store, o: o, dir: dir, rep: rep, large: large, defaultMode: fsx.DefaultFileMode()}
	o.Progress.start()
	err = body(e)
	if o.Stats != nil {
		rep.Retries = o.Stats.Retries()
	}
	rep.CleanedUp = e.cleaned.n.Load()
	rep.SpecialFiles = e.special.count()
	rep.finish(err)
	return rep, err
}

type engine struct {
	store ObjectStore
	o     Options
	dir   Direction
	rep   *Report
	dirs  dirCache
	large *semaphore.Weighted
	// defaultMode is what a downloaded file without POSIX metadata gets (0666 less the umask).
	defaultMode fs.FileMode
	// cleaned counts leftovers of interrupted runs removed by this one.
	cleaned cleaner
	// restoresAsked holds the keys this run asked S3 to restore, so that a second pass (after a listing out of
	// order) neither asks again nor counts them as restores already in progress.
	restoresAsked keySet
	// special holds the special files an upload's source tree held, skipped and reported once each.
	special keySet
}

// keySet is a set of keys that workers add to concurrently.
type keySet struct {
	mu   sync.Mutex
	keys map[string]struct{}
}

// add records key and says whether it was new.
func (s *keySet) add(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[key]; ok {
		return false
	}
	if s.keys == nil {
		s.keys = map[string]struct{}{}
	}
	s.keys[key] = struct{}{}
	return true
}

// has says whether key was added.
func (s *keySet) has(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.keys[key]
	return ok
}

// count is the number of keys added.
func (s *keySet) count() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(len(s.keys))
}

// localRoot and prefix are the two roots in tree mode.
func (e *engine) localRoot() string {
	if e.dir == Upload {
		return e.o.Src.Local
	}
	return e.o.Dst.Local
}

func (e *engine) prefix() string {
	if e.dir == Upload {
		return e.o.Dst.DirPrefix()
	}
	return e.o.Src.DirPrefix()
}

// runTree is the pipeline: list both sides as sorted streams, merge and decide, transfer with bounded
// concurrency, collect results in a report.
func (e *engine) runTree(ctx context.Context) error {
	root := e.localRoot()
	if e.dir == Upload {
		fi, err := os.Stat(root)
		if err != nil {
			return Usagef("source %s: %v", root, errors.Unwrap(err))
		}
		if fsx.IsSpecial(fi.Mode()) {
			return Usagef("source %s is a %s, not a directory", root, fsx.TypeName(fi.Mode()))
		}
		if !fi.IsDir() {
			return Usagef("source %s is a file, not a directory: drop --recursive/-r (cp) or use cp for a single file", root)
		}
	} else if fi, err := os.Stat(root); err == nil && !fi.IsDir() {
		return Usagef("destination %s is a %s, not a directory", root, fsx.TypeName(fi.Mode()))
	}

	// A dry run (and a plan) sorts the S3 listing from the start: what it has printed (or written into a manifest)
	// cannot be taken back if a listing out of order made it go through the tree again.
	sorted := e.o.SortListing || e.o.DryRun
	err := e.treePass(ctx, sorted)
	var oe *OrderError
	if !sorted && errors.As(err, &oe) && oe.Side == e.s3Side() {
		// Real S3 lists general purpose buckets in key order, but a server that does not (or a directory bucket
		// under a name we did not recognise) must not cost a file. Nothing was deleted: deletes wait for the end of
		// a listing that is not sorted here (see treePass). What the first pass copied is correct and will be
		// found up to date; the second pass sorts the listing itself.
		e.o.Log.Warn("the S3 listing came back out of key order; listing again and sorting it before comparing (nothing was deleted)",
			"key", oe.Key, "after", oe.After)
		first := e.rep.Transferred
		e.rep.secondPass()
		err = e.treePass(ctx, true)
		// The second pass finds every file the first one copied up to date: they were counted once, as transferred.
		e.rep.Skipped.Files = max(0, e.rep.Skipped.Files-first.Files)
		e.rep.Skipped.Bytes = max(0, e.rep.Skipped.Bytes-first.Bytes)
	}
	return err
}

// treePass is one pass of the pipeline. With sorted set the S3 listing is sorted here before the merge (directory
// buckets list in no particular order); otherwise it is used as it comes, and the merge checks the order. In that
// case --delete's deletes are held back until both listings have ended in order: an object listed out of order
// could be one that looked absent, and a delete cannot be taken back.
func (e *engine) treePass(ctx context.Context, sorted bool) error {
	root := e.localRoot()
	state, err := openState(e.o.StatePath)
	if err != nil {
		return err
	}
	defer state.Close()

	listCtx, cancelList := context.WithCancel(ctx)
	defer cancelList()
	g, gctx := errgroup.WithContext(listCtx)
	local := make(chan []Entry, 4)
	remote := make(chan []Entry, 4)
	if e.dir == Upload && !e.o.DryRun {
		e.abortLeftoverUploads(ctx, e.rep.Started)
	}
	lo := localListOptions{dirMarkers: e.o.DirMarkers, followSymlinks: e.o.FollowSymlinks, log: e.o.Log, fs: e.o.walkFS}
	if e.dir == Upload {
		lo.onSpecial = func(key string, mode fs.FileMode) { e.specialFound(root, key, mode) }
	}
	if !e.o.DryRun {
		lo.onTemp = func(key string) { e.tempFound(root, key) }
	}
	g.Go(func() error { return listLocal(gctx, root, e.o.Filter, lo, local) })
	g.Go(func() error {
		if sorted {
			return listS3Sorted(gctx, e.store, e.prefix(), e.o.Filter, state, e.o.SortBudget, e.o.TempDir, e.o.Log, remote)
		}
		return listS3(gctx, e.store, e.prefix(), e.o.Filter, state, remote)
	})

	var srcCh, dstCh <-chan []Entry = local, remote
	if e.dir == Download {
		srcCh, dstCh = remote, local
	}

	newState := newStateWriter(e.o.StatePath)
	var rmdirs []string
	var dirAttrs []dirAttr
	collect := func(r result) {
		e.record(r)
		if r.it.seq >= 0 {
			// Deferred deletes come back with seq -1: their place in the state file was filled when they were held.
			newState.add(r.it.seq, r.state)
		}
		if r.dirDone != "" {
			rmdirs = append(rmdirs, r.dirDone)
		}
		if r.dirAttr != nil {
			dirAttrs = append(dirAttrs, *r.dirAttr)
		}
	}
	var held *heldDeletes
	var deferred *deferredKeys
	// A download holds its deletes too, whatever the listing's order: a key that is not canonical ("x/../ok2") maps
	// to a local path ("ok2") that the merge sees as a local file absent from S3, and only at the end of the pass is
	// it known which paths such keys claim (see deferred.go).
	if e.o.Delete && (!sorted || e.dir == Download) {
		held = newHeldDeletes(e.o.SortBudget/4, e.o.TempDir)
		defer held.close()
	}
	if e.dir == Download {
		deferred = newDeferredKeys(e.o.SortBudget/4, e.o.TempDir)
		defer deferred.close()
	}
	produce := func(ctx context.Context, emit func(*item) error) error {
		hsm := &hsmBatch{e: e, emit: emit}
		err := merge(ctx, srcCh, dstCh, e.dir == Download, func(it *item) error {
			it.action = Decide(it.src, it.dst, e.o.Compare, e.o.Delete)
			e.placeItem(it)
			if it.nonCanonical() {
				// Settled at the end of the pass, by the task that owns the path it maps to (which also owns the
				// delete of that path); the item keeps its place in the state file's order, with nothing to record.
				if e.owns(it.cleanKey) {
					if err := deferred.add(it); err != nil {
						return err
					}
				}
				return emit(&item{seq: it.seq, key: it.key, action: ActionSkip, notMine: true})
			}
			if !e.owns(it.key) {
				// Another task's key: nothing to do here, but the state writer still needs its place in the order.
				it.action, it.err, it.notMine = ActionSkip, nil, true
			}
			if held != nil && it.action == ActionDelete && it.err == nil && !it.notMine {
				if err := held.add(it); err != nil {
					return err
				}
				// The item keeps its place in the state file's order, with nothing to record.
				return emit(&item{seq: it.seq, key: it.key, action: ActionSkip, notMine: true})
			}
			return hsm.add(ctx, it)
		})
		if err == nil {
			err = hsm.flush(ctx)
		}
		if err == nil && (held != nil || deferred != nil) {
			// Both listings ended, in order: the deletes held back are sure now, and the keys that are not canonical
			// can be settled.
			err = e.finishPass(ctx, held, deferred, emit)
		}
		return err
	}
	workErr, mergeErr := e.pipeline(gctx, produce, collect)
	// If the merge stopped early the listers may be blocked sending; release them.
	cancelList()
	listErr := g.Wait()

	// Directories emptied by --delete go last and deepest first, and only if nothing is left in them.
	for i := len(rmdirs) - 1; i >= 0; i-- {
		if err := os.Remove(rmdirs[i]); err == nil {
			e.rep.Deleted.Files++
		}
	}
	// Directories made from markers get their mode and mtime after that, deepest first: writing or removing their
	// contents would have changed the mtime, and a read-only mode would have stopped the writes.
	applyDirAttrs(dirAttrs, e.o.Log)
	fatal := firstErr(workErr, mergeErr, listErr)
	if errors.Is(mergeErr, ErrStopped) && workErr == nil {
		fatal = ErrStopped
	}
	if err := newState.commit(fatal == nil); err != nil && fatal == nil {
		e.o.Log.Warn("could not save the sync state; the next sync will send HEAD requests instead", "error", err)
	}
	return fatal
}

// workBacklog is how many planned items may wait for a worker: about 4 MB of memory at most, and the planner's lead.
const workBacklog = 10000

// pipeline runs produce, which emits items in order; items that need work go to a fixed pool of workers, the rest
// straight to collect. collect sees every item exactly once, from one goroutine, in completion order. It returns the
// workers' fatal error and the producer's error.
func (e *engine) pipeline(ctx context.Context, produce func(context.Context, func(*item) error) error, collect func(result)) (workErr, produceErr error) {
	results := make(chan result, 256)
	var collectWG sync.WaitGroup
	collectWG.Add(1)
	go func() {
		defer collectWG.Done()
		for r := range results {
			collect(r)
		}
	}()
	// A fixed pool of workers, not a goroutine per file: a worker's stack grows once to the depth of an SDK call
	// and stays grown, where a fresh goroutine per small file would grow (copy) its stack every time.
	// The planner runs up to workBacklog items ahead of the workers, so that the totals a progress display shows
	// (and its ETA) are final early, as rclone's checkers run ahead of its transfers.
	work := make(chan *item, workBacklog)
	var dropped atomic.Bool
	workers, wctx := errgroup.WithContext(ctx)
	for range e.o.Concurrency {
		workers.Go(func() error {
			for it := range work {
				if wctx.Err() != nil {
					// The run is failing or cancelled: what is still queued is not started, least of all a delete
					// planned before the failure was known.
					continue
				}
				select {
				case <-e.o.Drain:
					// A clean stop starts no new file: what is still queued is left for the rerun, as if never
					// planned (the state file is not committed after a stop, so nothing is lost).
					dropped.Store(true)
					continue
				default:
				}
				r := e.execute(wctx, it)
				results <- r
				if r.err != nil && IsFatal(r.err) {
					return r.err
				}
			}
			return nil
		})
	}
	produceErr = produce(wctx, func(it *item) error {
		if it.err == nil && it.action == ActionSkip {
			results <- e.skipResult(it)
			return nil
		}
		if it.err == nil && it.action == ActionCopy {
			e.planCopy(it)
		}
		select {
		case <-e.o.Drain:
			// Stop starting new work; what is in flight finishes (or is cancelled by the caller's context).
			return ErrStopped
		default:
		}
		select {
		case work <- it:
			return nil
		case <-wctx.Done():
			return wctx.Err()
		case <-e.o.Drain:
			return ErrStopped
		}
	})
	// Everything there is to do is known now (or the run is stopping): a display may show an ETA.
	e.o.Progress.setPlanned()
	close(work)
	workErr = workers.Wait()
	close(results)
	collectWG.Wait()
	if dropped.Load() && produceErr == nil {
		// Everything was planned, but the stop left queued items undone: the run is not complete.
		produceErr = ErrStopped
	}
	return workErr, produceErr
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// placeItem computes where a key lives on each side and catches keys that cannot be written locally. Only a
// download writes by key; an upload or a delete of an object addresses it by name, whatever its key.
func (e *engine) placeItem(it *item) {
	it.objectKey = e.prefix() + it.key
	key := it.key
	if e.dir == Download && it.src != nil {
		// A download maps a key with empty, "." or ".." segments to its cleaned path, as aws-cli does, as long as
		// that stays inside the destination (fsx.CleanKey); such a key is settled at the end of the pass.
		clean, err := fsx.CleanKey(it.key)
		if err != nil {
			if it.action != ActionSkip && it.action != ActionDelete && it.err == nil {
				it.err = err
			}
			return
		}
		it.cleanKey, key = clean, clean
	}
	lp, err := localPath(e.localRoot(), key)
	it.localPath = lp
	if err != nil && e.dir == Download && it.action != ActionSkip && it.action != ActionDelete && it.err == nil {
		it.err = err
	}
	if e.dir == Download && it.err == nil && it.src != nil && it.src.IsDir() && it.src.Size > 0 {
		// A "folder" object with bytes in it (the console makes empty ones; other tools do not always): a directory
		// cannot hold them, and making the directory alone would lose them without a word.
		it.err = fmt.Errorf("key %q ends in \"/\" but holds %d bytes: a local directory cannot hold them, so it was not downloaded (copy it with: aws s3 cp \"s3://%s/%s\" FILE)",
			it.key, it.src.Size, e.store.Bucket(), it.objectKey)
	}
}

// nonCanonical reports whether the item is a download of a key that maps to a cleaned local path ("x/../ok2" to
// "ok2"), which waits for the end of the pass (see deferred.go).
func (it *item) nonCanonical() bool {
	return it.cleanKey != "" && it.cleanKey != it.key && it.err == nil
}

func (e *engine) skipResult(it *item) result {
	r := result{it: it, action: ActionSkip}
	if s3e := e.s3Entry(it); s3e != nil && s3e.MtimeKnown && !s3e.IsDir() {
		r.state = &stateRecord{Key: it.key, Size: s3e.Size, ETag: s3e.ETag, Mtime: s3e.Mtime}
	}
	return r
}

// s3Side names the merge's side that is the S3 listing, as OrderError does.
func (e *engine) s3Side() string {
	if e.dir == Upload {
		return "destination"
	}
	return "source"
}

// s3Entry returns whichever side of the item is the S3 one.
func (e *engine) s3Entry(it *item) *Entry {
	if e.dir == Upload {
		return it.dst
	}
	return it.src
}

// execute carries out one item's action; it never panics on a per-file problem, it reports it.
func (e *engine) execute(ctx context.Context, it *item) result {
	if it.err != nil {
		op := it.errOp
		if op == "" {
			op = "map key"
		}
		return result{it: it, action: ActionCopy, err: it.err, op: op}
	}
	action := it.action
	var r result
	if action == ActionNeedMtime {
		s3e := e.s3Entry(it)
		info, err := e.store.Head(ctx, it.objectKey)
		if err != nil {
			if IsNotFound(err) {
				// Deleted since the listing: a download has nothing to fetch, an upload must send the file.
				if e.dir == Upload {
					it.dst = nil
				} else {
					return result{it: it, action: ActionSkip}
				}
			} else {
				return result{it: it, action: ActionCopy, err: err, op: "head"}
			}
		} else {
			applyObjectMeta(s3e, info)
		}
		action = Decide(it.src, it.dst, e.o.Compare, e.o.Delete)
		if action == ActionSkip {
			r = e.skipResult(it)
			return r
		}
		if action == ActionCopy {
			e.planCopy(it)
		}
	}
	if action == ActionArchived {
		r, done := e.archived(ctx, it)
		if done {
			return r
		}
		action = ActionCopy
		e.planCopy(it)
	}
	if e.o.DryRun {
		if e.o.plan != nil {
			e.o.plan(it, action)
		} else {
			fmt.Fprintf(e.o.Out, "(dryrun) %s\n", e.describe(it, action))
		}
		r := result{it: it, action: action}
		if action == ActionCopy && it.src != nil {
			r.bytes = it.src.Size
		}
		return r
	}
	if action == ActionCopy && it.src != nil && it.src.Size >= e.o.PartSize {
		if err := e.large.Acquire(ctx, 1); err != nil {
			return result{it: it, action: action, err: err, op: "wait"}
		}
		defer e.large.Release(1)
	}
	switch {
	case action == ActionDelete && e.dir == Upload:
		err := e.store.Delete(ctx, it.objectKey)
		return result{it: it, action: action, err: err, op: "delete"}
	case action == ActionDelete:
		return e.deleteLocal(it)
	case e.dir == Upload:
		return e.upload(ctx, it)
	default:
		return e.downloadOrArchived(ctx, it)
	}
}

// describe renders an action the way aws-cli users know it.
func (e *engine) describe(it *item, a Action) string {
	remote := "s3://" + e.store.Bucket() + "/" + it.objectKey
	switch {
	case a == ActionDelete && e.dir == Upload:
		return "delete: " + remote
	case a == ActionDelete:
		return "delete: " + it.localPath
	case e.dir == Upload:
		return "upload: " + it.localPath + " to " + remote
	}
	return "download: " + remote + " to " + it.localPath
}

func (e *engine) deleteLocal(it *item) result {
	if it.dst.IsDir() {
		// Directories are removed after their contents, and only if empty (see runTree).
		return result{it: it, action: ActionSkip, dirDone: it.localPath}
	}
	err := os.Remove(it.localPath)
	if err != nil && errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	return result{it: it, action: ActionDelete, err: err, op: "delete"}
}

// runSingle copies one file or object.
func (e *engine) runSingle(ctx context.Context) error {
	it := &item{seq: 0}
	if e.dir == Upload {
		path := e.o.Src.Local
		fi, err := os.Lstat(path)
		if err != nil {
			return Usagef("source %s: %v", path, errors.Unwrap(err))
		}
		if fi.IsDir() {
			return Usagef("source %s is a directory: add --recursive/-r to copy a tree", path)
		}
		if fsx.IsSpecial(fi.Mode()) {
			// Checked before anything opens it: an open of a FIFO blocks until a writer comes, which may be never.
			return Usagef("source %s is a %s, not a regular file: fsxsync never reads FIFOs, sockets or devices", path, fsx.TypeName(fi.Mode()))
		}
		src := localEntry(filepath.Base(path), fi)
		it.src, it.key, it.localPath = &src, src.Key, path
		it.objectKey = e.o.Dst.Key
		if it.objectKey == "" || strings.HasSuffix(it.objectKey, "/") {
			it.objectKey += src.Key
		}
		// cp overwrites whatever is there, so only a compare needs to know the object (and the permission to read it).
		if e.o.Compare != CompareAlways {
			if info, err := e.store.Head(ctx, it.objectKey); err == nil {
				dst := Entry{Key: src.Key}
				applyObjectMeta(&dst, info)
				it.dst = &dst
			} else if !IsNotFound(err) {
				return err
			}
		}
	} else {
		key := e.o.Src.Key
		if key == "" || strings.HasSuffix(key, "/") {
			return Usagef("source %s is a prefix, not an object: add --recursive/-r to copy a tree", e.o.Src)
		}
		info, err := e.store.Head(ctx, key)
		if err != nil {
			if IsNotFound(err) {
				return Usagef("source %s: no such object (add --recursive/-r to copy a prefix)", e.o.Src)
			}
			return err
		}
		base := key[strings.LastIndexByte(key, '/')+1:]
		src := Entry{Key: base}
		applyObjectMeta(&src, info)
		it.src, it.key, it.objectKey = &src, base, key
		it.localPath = e.o.Dst.Local
		if fi, err := os.Stat(it.localPath); (err == nil && fi.IsDir()) || strings.HasSuffix(it.localPath, "/") {
			it.localPath = filepath.Join(it.localPath, base)
		}
		if fi, err := os.Lstat(it.localPath); err == nil {
			dst := localEntry(base, fi)
			it.dst = &dst
		}
	}
	it.action = Decide(it.src, it.dst, e.o.Compare, false)
	if it.action == ActionCopy {
		e.planCopy(it)
	}
	e.o.Progress.setPlanned()
	var r result
	if it.action == ActionSkip {
		r = result{it: it, action: ActionSkip}
	} else {
		r = e.execute(ctx, it)
	}
	e.record(r)
	if r.err != nil && IsFatal(r.err) {
		return r.err
	}
	return nil
}

// planCopy counts an item about to be transferred in the progress totals.
func (e *engine) planCopy(it *item) {
	if it.src != nil && !it.planned {
		it.planned = true
		e.o.Progress.planCopy(it.src.Size)
	}
}

// moved counts bytes of an item as they stream (from any goroutine).
func (e *engine) moved(it *item, n int64) {
	it.streamed.Add(n)
	e.o.Progress.moved(n)
}

// record takes one result into the report and the progress counters, and logs it; it runs in the single collector
// goroutine.
func (e *engine) record(r result) {
	e.rep.add(r)
	if r.it.notMine {
		return
	}
	size := int64(0)
	if r.it.src != nil {
		size = r.it.src.Size
	}
	switch {
	case r.err != nil:
		e.o.Progress.failed(r.it.planned, r.it.streamed.Load(), size)
		if !IsFatal(r.err) {
			e.o.Log.Error("failed", "key", r.it.key, "op", r.op, "error", r.err.Error())
		}
	case r.action == ActionCopy:
		e.o.Progress.copied(r.it.planned, r.it.streamed.Load(), size, r.bytes)
		if !e.o.DryRun {
			e.o.Log.Debug(r.op, "key", r.it.key, "bytes", r.bytes)
		}
	case r.action == ActionDelete:
		e.o.Progress.deletedOne()
		if !e.o.DryRun {
			e.o.Log.Debug("deleted", "key", r.it.key)
		}
	case countsAsSkipped(r):
		e.o.Progress.skipped(r.it.planned, size)
	}
}
