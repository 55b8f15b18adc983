package fsx

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Entry is one file-system object found by Walk.
type Entry struct {
	// Key is the relative key, '/'-separated; directories end in "/" (e.g. "a/b/").
	Key string
	// Size is the size from Lstat; 0 for directories.
	Size int64
	// Mtime is the modification time.
	Mtime time.Time
	// Mode is the mode from Lstat; its type bits tell directory, symlink, regular file or other.
	Mode fs.FileMode
	// UID and GID are the numeric owner and group (0 where the platform does not report them).
	UID, GID uint32
	// NumChildren is, for directories only, the number of entries in the directory before any filtering,
	// so callers can tell empty directories.
	NumChildren int
}

// IsDir reports whether the entry is a directory.
func (e Entry) IsDir() bool { return e.Mode.IsDir() }

// IsSymlink reports whether the entry is a symbolic link.
func (e Entry) IsSymlink() bool { return e.Mode&fs.ModeSymlink != 0 }

// IsRegular reports whether the entry is a regular file.
func (e Entry) IsRegular() bool { return e.Mode.IsRegular() }

// FS is the file-system interface Walk uses; OSFS is the real one. It exists so a benchmark can add latency
// per call, and so tests can inject errors.
type FS interface {
	// ReadDirNames returns the names in dir, unsorted, without "." and "..".
	ReadDirNames(dir string) ([]string, error)
	// Lstat describes path without following a final symlink.
	Lstat(path string) (fs.FileInfo, error)
}

// OSFS is the operating system's file system.
type OSFS struct{}

// ReadDirNames returns the names in dir, unsorted, without "." and "..". It opens dir only if it is a directory
// (openDir), so a directory replaced by a FIFO since its lstat is an error, not an open that blocks for ever.
func (OSFS) ReadDirNames(dir string) ([]string, error) {
	f, err := openDir(dir)
	if err != nil {
		return nil, err
	}
	names, err := f.Readdirnames(-1)
	cerr := f.Close()
	if err != nil {
		return nil, err
	}
	if cerr != nil {
		return nil, cerr
	}
	return names, nil
}

// Lstat describes path without following a final symlink.
func (OSFS) Lstat(path string) (fs.FileInfo, error) {
	return os.Lstat(path)
}

// WalkOptions tunes Walk.
type WalkOptions struct {
	// FS is the file system to walk; nil means OSFS{}.
	FS FS
	// Workers is the number of concurrent ReadDirNames/Lstat calls in flight; 0 means 32.
	Workers int
	// OnTemp, when set, is called (from the caller's goroutine, like fn) with the key of each temp file the walk
	// skips, so that a run can clean up what an interrupted one left.
	OnTemp func(key string)
}

// defaultWorkers keeps enough calls in flight to hide Lustre's per-call network round trip without flooding
// the metadata server.
const defaultWorkers = 32

// walkLimits derives the walk's bounds from the number of workers.
//
// inflight is how many requests may be handed to workers and not yet taken back; it is twice the workers so
// that a worker finishing a call finds the next one already queued. lookahead is how many children of the
// directory being emitted are always requested ahead, whatever else is prefetched, so that one huge directory
// is never walked one lstat at a time. ahead caps the speculative prefetch: requests issued but not yet consumed,
// plus the names, not yet requested, of directories listed but not yet entered.
func walkLimits(workers int) (inflight, lookahead, ahead int) {
	inflight = 2 * workers
	return inflight, inflight, max(256, 128*workers)
}

// Walk walks root (a directory) and calls fn for every entry below it (not root itself) in key order, from ONE
// goroutine (fn need not be safe for concurrent use). It keeps up to Workers readdir/lstat calls in flight.
// Memory is bounded: O(Workers + depth x largest directory), never O(tree). Temp files (IsTemp) are skipped.
// An unreadable directory or a failed lstat is passed to onErr(key, err) (which may return an error to abort)
// and the walk goes on. fn returning an error stops the walk and Walk returns it. Cancelling ctx stops it
// promptly; no goroutine outlives Walk.
//
// Key order is the byte order of the '/'-joined relative paths with a '/' after directory names, which is the
// order S3 lists keys in: "a-c" comes before "a/" and its contents, "a0" after them. A directory's entry (key
// "a/") comes immediately before its contents and is emitted only once its listing has been read, so that
// NumChildren is known. When a directory cannot be listed, onErr gets its key (ending in '/') and neither the
// directory nor anything below it is emitted, so callers that delete must treat that whole prefix as unknown.
// Symlinks are not followed; root itself may be a symlink to a directory. A nil onErr makes the first such error
// end the walk. Walk opens nothing but directories: every other entry, FIFOs, sockets and devices (IsSpecial)
// included, is only lstat'ed and emitted with its type, for the caller to skip.
//
// Walk does not interrupt a file-system call in progress: after ctx is cancelled it returns as soon as the calls
// already running have returned.
func Walk(ctx context.Context, root string, opts WalkOptions, fn func(Entry) error, onErr func(key string, err error) error) error {
	if fn == nil {
		return fmt.Errorf("walk %s: nil callback", root)
	}
	fsys := opts.FS
	if fsys == nil {
		fsys = OSFS{}
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = defaultWorkers
	}
	inflight, lookahead, ahead := walkLimits(workers)

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// Deferred calls run last-in first-out: cancel first, so the workers stop, then wait for them.
	defer wg.Wait()
	defer cancel()

	// Both channels hold up to inflight requests and the walker never hands out more than that, so a worker
	// never blocks sending a result, even after the walker has stopped reading them.
	tasks := make(chan *request, inflight)
	results := make(chan *request, inflight)
	for range workers {
		wg.Go(func() { work(ctx, fsys, tasks, results) })
	}

	// The traversal runs on its own goroutine so that it keeps taking in results and handing out work while fn
	// runs; the caller's goroutine only calls fn and onErr, in order, on the batches it sends.
	out := make(chan []walkItem, outBatches)
	w := &walker{
		ctx:         ctx,
		out:         out,
		tasks:       tasks,
		results:     results,
		maxInflight: inflight,
		lookahead:   lookahead,
		maxAhead:    ahead,
	}
	var walkErr error
	wg.Go(func() {
		defer close(out)
		walkErr = w.walkRoot(root)
	})
	err := deliver(ctx, root, out, fn, onErr, opts.OnTemp)
	if err != nil {
		return err
	}
	// The channel is closed after walkErr is set, so reading it here is ordered after the write.
	if walkErr != nil && ctx.Err() != nil && errors.Is(walkErr, ctx.Err()) {
		return fmt.Errorf("walk %s: %w", root, walkErr)
	}
	return walkErr
}

// deliver calls fn and onErr for the items the traversal sends, in order, until out is closed or one of them
// returns an error.
func deliver(ctx context.Context, root string, out <-chan []walkItem, fn func(Entry) error, onErr func(key string, err error) error, onTemp func(string)) error {
	for batch := range out {
		for _, it := range batch {
			// Items already queued are dropped once ctx is cancelled, so that cancelling stops fn promptly.
			if ctx.Err() != nil {
				return fmt.Errorf("walk %s: %w", root, ctx.Err())
			}
			var err error
			switch {
			case it.temp:
				if onTemp != nil {
					onTemp(it.key)
				}
			case it.err == nil:
				err = fn(it.entry)
			case onErr == nil:
				err = fmt.Errorf("walk %s: %s: %w", root, it.key, it.err)
			default:
				err = onErr(it.key, it.err)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// Entries and errors go from the traversal to fn in batches of up to outBatchSize, with up to outBatches batches
// queued, so that handing them over costs little per entry and a slow fn does not stall the traversal at once.
const (
	outBatchSize = 64
	outBatches   = 16
)

// walkItem is an entry for fn, or an error for onErr.
type walkItem struct {
	entry Entry
	key   string
	err   error
	temp  bool // a skipped temp file, for WalkOptions.OnTemp
}

// opKind says which file-system call a request makes.
type opKind int

const (
	opList opKind = iota // ReadDirNames of a directory
	opStat               // Lstat of one child of a directory
)

// request is one file-system call, made by a worker on behalf of the walker.
//
// The walker fills in the first group of fields before handing the request to a worker and reads the second
// group only after receiving it back on the results channel; the channel hand-offs order those accesses.
// The third group belongs to the walker's goroutine alone.
type request struct {
	kind opKind
	path string
	node *dirNode // opList: the directory listed; opStat: the directory holding the child
	idx  int      // opStat: the child's index in node.kids

	names []string    // opList: sorted names with temp files left out
	temps []string    // opList: the temp files left out
	total int         // opList: number of names before temp files were left out
	info  fs.FileInfo // opStat
	err   error

	submitted bool
	done      bool
	charged   bool // whether the request still counts in walker.ahead
}

// run makes the call. It skips it when the walk is over, so that workers drain their queue quickly.
func (r *request) run(ctx context.Context, fsys FS) {
	if err := ctx.Err(); err != nil {
		r.err = err
		return
	}
	switch r.kind {
	case opList:
		names, err := fsys.ReadDirNames(r.path)
		if err != nil {
			r.err = err
			return
		}
		r.total = len(names)
		// A new slice, because an FS may hand out a slice it keeps using.
		kept := make([]string, 0, len(names))
		for _, name := range names {
			if IsTemp(name) {
				r.temps = append(r.temps, name)
			} else {
				kept = append(kept, name)
			}
		}
		// Sorting here rather than in the walker spreads the CPU work of big directories over the workers.
		slices.Sort(kept)
		r.names = kept
	case opStat:
		r.info, r.err = fsys.Lstat(r.path)
	}
}

// work runs requests until ctx is cancelled.
func work(ctx context.Context, fsys FS, tasks <-chan *request, results chan<- *request) {
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-tasks:
			r.run(ctx, fsys)
			// This send never blocks: see the comment on the channels in Walk.
			results <- r
		}
	}
}

// child is one name in a listed directory.
type child struct {
	name string
	stat *request // nil until the lstat is requested
	dir  *dirNode // set once the lstat shows a directory
}

// dirNode is a directory that the walk knows about: being emitted, or prefetched ahead of that.
type dirNode struct {
	path  string
	key   string // "" for the root, else the directory's key ending in '/'
	entry Entry  // the directory's own entry, filled in from its lstat
	list  *request
	kids  []child  // set when the listing arrives; nil again once the directory is done
	temps []string // temp files found in the directory, reported on entering it
	total int      // names in the directory before temp files were left out

	issued  int  // kids[:issued] have had their lstat requested
	emitIdx int  // the child the walker is emitting, for the lookahead
	inHeap  bool // whether a cursor for this directory is in walker.todo
	entered bool // whether the walker has started emitting the directory's children
}

// walker is the state of one Walk's traversal. All of it belongs to the traversal goroutine; workers only see
// requests and the caller's goroutine only sees batches of items, through channels.
//
// The walker emits entries by a depth-first traversal in key order. Ahead of it, it asks the workers for
// listings and lstats it will need soon: the next children of the directory being emitted (the lookahead), and
// beyond that, whatever is known and comes earliest in key order (the todo heap), as long as the speculative
// work held is under maxAhead. What it needs and has not yet asked for, it asks for at once (urgent). Since
// every request it waits for has been handed to a worker or is next in line, workers never block, and the walker
// takes in results even while it waits for the caller, the walk cannot deadlock.
type walker struct {
	ctx   context.Context
	out   chan<- []walkItem
	batch []walkItem // items not yet sent on out

	tasks   chan<- *request
	results <-chan *request

	maxInflight int
	lookahead   int
	maxAhead    int

	inflight int      // requests handed to workers and not yet received back
	ahead    int      // requests issued and not yet consumed, plus unrequested names of prefetched listings
	urgent   *request // a request the walker is waiting for that could not be handed out yet
	todo     todoHeap // known work that may be prefetched, earliest key first
	cur      *dirNode // the directory being emitted
}

// walkRoot lists root and walks it.
func (w *walker) walkRoot(root string) error {
	n := &dirNode{path: root}
	n.list = &request{kind: opList, path: root, node: n}
	if err := w.await(n.list); err != nil {
		return err
	}
	w.enter(n)
	if err := n.list.err; err != nil {
		return fmt.Errorf("walk %s: %w", root, err)
	}
	if err := w.walkDir(n); err != nil {
		return err
	}
	return w.flush()
}

// walkDir emits everything below n, whose listing has arrived, in key order.
func (w *walker) walkDir(n *dirNode) error {
	for _, t := range n.temps {
		if err := w.emit(walkItem{key: n.key + t, temp: true}); err != nil {
			return err
		}
	}
	n.temps = nil
	parent := w.cur
	w.cur = n
	defer func() { w.cur = parent }()

	// Children are sorted by name, but a directory's key has a '/' appended, so a directory must come after the
	// names that extend its name with a byte below '/' ("a" before "a-c", but "a/" after it). Such directories
	// wait on this stack; each one extends the name below it, since the others have been emitted by then.
	var waiting []int
	for j := range n.kids {
		name := n.kids[j].name
		for len(waiting) > 0 && !sortsBeforeDir(name, n.kids[waiting[len(waiting)-1]].name) {
			d := waiting[len(waiting)-1]
			waiting = waiting[:len(waiting)-1]
			if err := w.emitDir(n, d); err != nil {
				return err
			}
		}
		n.emitIdx = j
		if err := w.poll(); err != nil {
			return err
		}
		r := n.kids[j].stat
		if r == nil {
			r = w.newStat(n, j)
		}
		if err := w.await(r); err != nil {
			return err
		}
		w.consume(r)
		n.kids[j].stat = nil
		key := n.key + name
		if r.err != nil {
			if err := w.report(key, r.err); err != nil {
				return err
			}
			continue
		}
		if r.info.IsDir() {
			n.kids[j].dir.entry = makeEntry(key+"/", r.info)
			if j+1 < len(n.kids) && sortsBeforeDir(n.kids[j+1].name, name) {
				waiting = append(waiting, j)
				continue
			}
			if err := w.emitDir(n, j); err != nil {
				return err
			}
			continue
		}
		if err := w.emit(walkItem{entry: makeEntry(key, r.info)}); err != nil {
			return err
		}
	}
	for len(waiting) > 0 {
		d := waiting[len(waiting)-1]
		waiting = waiting[:len(waiting)-1]
		if err := w.emitDir(n, d); err != nil {
			return err
		}
	}
	n.kids = nil
	return nil
}

// sortsBeforeDir reports whether name sorts before the key of directory dir ("dir/") although it sorts after
// the name dir: it extends dir with a byte below '/'.
func sortsBeforeDir(name, dir string) bool {
	return len(name) > len(dir) && strings.HasPrefix(name, dir) && name[len(dir)] < '/'
}

// emitDir emits the directory that is child j of parent, and everything below it.
func (w *walker) emitDir(parent *dirNode, j int) error {
	d := parent.kids[j].dir
	parent.kids[j].dir = nil
	if d.list == nil {
		d.list = &request{kind: opList, path: d.path, node: d}
	}
	if err := w.await(d.list); err != nil {
		return err
	}
	w.enter(d)
	if err := d.list.err; err != nil {
		return w.report(d.key, err)
	}
	d.entry.NumChildren = d.total
	if err := w.emit(walkItem{entry: d.entry}); err != nil {
		return err
	}
	return w.walkDir(d)
}

// report passes a file-system error on to onErr.
func (w *walker) report(key string, err error) error {
	return w.emit(walkItem{key: key, err: err})
}

// emit queues an item for the caller's goroutine.
func (w *walker) emit(it walkItem) error {
	w.batch = append(w.batch, it)
	if len(w.batch) >= outBatchSize {
		return w.flush()
	}
	return nil
}

// flush sends the queued items to the caller's goroutine. While the caller is busy, it goes on taking in results
// and handing out work, so that the file system stays busy too.
func (w *walker) flush() error {
	if len(w.batch) == 0 {
		return nil
	}
	for {
		w.pump()
		select {
		case w.out <- w.batch:
			w.batch = make([]walkItem, 0, outBatchSize)
			return nil
		case r := <-w.results:
			w.complete(r)
		case <-w.ctx.Done():
			return w.ctx.Err()
		}
	}
}

// makeEntry builds an entry from an lstat result.
func makeEntry(key string, fi fs.FileInfo) Entry {
	e := Entry{Key: key, Mtime: fi.ModTime(), Mode: fi.Mode()}
	if !fi.IsDir() {
		e.Size = fi.Size()
	}
	e.UID, e.GID = ownerOf(fi)
	return e
}

// newStat creates the lstat request for child j of n without handing it out. Lstats are requested in order,
// so j is always n.issued.
func (w *walker) newStat(n *dirNode, j int) *request {
	r := &request{kind: opStat, path: filepath.Join(n.path, n.kids[j].name), node: n, idx: j}
	n.kids[j].stat = r
	n.issued = j + 1
	if !n.entered {
		// The child's name counted in w.ahead since the listing arrived; from now on its request counts instead.
		w.ahead--
	}
	return r
}

// enter marks the start of emitting n, whose listing has arrived. The listing and the names not yet requested
// stop counting in w.ahead: what the walker is emitting is not prefetch.
func (w *walker) enter(n *dirNode) {
	w.consume(n.list)
	n.entered = true
	w.ahead -= len(n.kids) - n.issued
}

// submit hands r to the workers. The caller has checked that fewer than maxInflight are out.
func (w *walker) submit(r *request) {
	r.submitted = true
	r.charged = true
	w.ahead++
	w.inflight++
	w.tasks <- r
}

// consume stops counting r in w.ahead, once the walker has used its result.
func (w *walker) consume(r *request) {
	if r.charged {
		w.ahead--
		r.charged = false
	}
}

// await waits until r is done, handing it out first if nobody has.
func (w *walker) await(r *request) error {
	if !r.submitted {
		w.urgent = r
	}
	for !r.done {
		if err := w.step(); err != nil {
			return err
		}
	}
	return nil
}

// step hands out work and then waits for one result, or for the caller to take the queued items.
func (w *walker) step() error {
	// Before waiting on the file system, hand over what is ready, so that fn is not kept waiting for it.
	if len(w.batch) > 0 {
		return w.flush()
	}
	w.pump()
	if w.inflight == 0 {
		// Nothing can arrive; waiting would hang forever. This is a bug, reported rather than hidden.
		return errors.New("walk: internal error: waiting with no request in flight")
	}
	select {
	case r := <-w.results:
		w.complete(r)
		return nil
	case <-w.ctx.Done():
		return w.ctx.Err()
	}
}

// poll takes in the results that have arrived and hands out more work, without waiting.
func (w *walker) poll() error {
	for {
		select {
		case <-w.ctx.Done():
			return w.ctx.Err()
		case r := <-w.results:
			w.complete(r)
		default:
			w.pump()
			return nil
		}
	}
}

// pump hands out as much work as the limits allow: first what the walker is waiting for, then the lookahead in
// the directory being emitted, then prefetch in key order.
func (w *walker) pump() {
	if w.urgent != nil {
		if w.inflight >= w.maxInflight {
			return
		}
		w.submit(w.urgent)
		w.urgent = nil
	}
	if n := w.cur; n != nil {
		for n.issued < len(n.kids) && n.issued < n.emitIdx+w.lookahead && w.inflight < w.maxInflight {
			w.submit(w.newStat(n, n.issued))
		}
	}
	for w.inflight < w.maxInflight && w.ahead < w.maxAhead && len(w.todo) > 0 {
		t := heap.Pop(&w.todo).(todo)
		n := t.node
		if t.list {
			if n.list == nil {
				n.list = &request{kind: opList, path: n.path, node: n}
				w.submit(n.list)
			}
			continue
		}
		n.inHeap = false
		if n.issued < len(n.kids) {
			w.submit(w.newStat(n, n.issued))
		}
		w.pushCursor(n)
	}
}

// pushCursor puts n's next unrequested child in the todo heap, if there is one and n has no cursor there yet.
func (w *walker) pushCursor(n *dirNode) {
	if n.inHeap || n.issued >= len(n.kids) {
		return
	}
	n.inHeap = true
	heap.Push(&w.todo, todo{key: n.key + n.kids[n.issued].name, node: n})
}

// complete takes in a finished request: a listing makes the directory's children known, and an lstat that
// shows a directory makes its listing known work.
func (w *walker) complete(r *request) {
	w.inflight--
	r.done = true
	n := r.node
	switch r.kind {
	case opList:
		if r.err != nil {
			return
		}
		n.kids = make([]child, len(r.names))
		for i, name := range r.names {
			n.kids[i].name = name
		}
		n.total = r.total
		n.temps = r.temps
		r.names, r.temps = nil, nil
		// The names are held until the walker enters the directory, so they count against the prefetch limit.
		// The listing always arrives before the walker enters the directory; see enter.
		w.ahead += len(n.kids)
		w.pushCursor(n)
	case opStat:
		if r.err != nil || !r.info.IsDir() {
			return
		}
		k := &n.kids[r.idx]
		k.dir = &dirNode{path: r.path, key: n.key + k.name + "/"}
		heap.Push(&w.todo, todo{key: k.dir.key, node: k.dir, list: true})
	}
}

// todo is prefetch work: a directory's listing, or the next unrequested lstat in a directory (a cursor).
type todo struct {
	key  string // where the work falls in key order, which is when the walker will need it
	node *dirNode
	list bool
}

// todoHeap is a min-heap of todo by key, for container/heap.
type todoHeap []todo

// Len is the number of items.
func (h todoHeap) Len() int { return len(h) }

// Less orders items by key.
func (h todoHeap) Less(i, j int) bool { return h[i].key < h[j].key }

// Swap exchanges two items.
func (h todoHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }

// Push appends an item; use heap.Push.
func (h *todoHeap) Push(x any) { *h = append(*h, x.(todo)) }

// Pop removes the last item; use heap.Pop.
func (h *todoHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = todo{}
	*h = old[:len(old)-1]
	return t
}
