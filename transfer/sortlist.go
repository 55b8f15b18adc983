package transfer

import (
	"bufio"
	"cmp"
	"container/heap"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"time"
	"unsafe"
)

// DefaultSortBudget is the memory, in bytes, that sorting an unordered listing (S3 directory buckets list keys in no
// particular order) may hold before it spills sorted runs to temporary files. It bounds the process's resident
// memory, not only the live entries: see sortGCFactor and sortReserve for how entries are counted against it.
const DefaultSortBudget = 64 << 20

const (
	// sortChunkLen is the number of entries in one block of the in-memory run. Fixed blocks, rather than one slice
	// grown by append, keep the run's memory proportional to its entries: a doubling slice can hold twice the slots
	// it uses, and three times while it copies, which the budget would have to allow for.
	sortChunkLen = 1024

	// sortPageLen is the number of entries emit hands to fn at a time, the size of an S3 listing page.
	sortPageLen = 1000

	// sortFanIn is the most runs one merge reads at once. Each open run holds a file descriptor and a read buffer,
	// so a tiny budget over a large listing (thousands of runs) is merged in passes of this many rather than
	// exhausting the descriptors.
	sortFanIn = 64

	// sortReadBuf and sortWriteBuf are the buffers of one run file. The read buffers of a full merge add up to
	// sortFanIn*sortReadBuf = 512 KiB; runs are read sequentially from a local disk, so larger ones gain little.
	sortReadBuf  = 8 << 10
	sortWriteBuf = 64 << 10

	// sortMaxField bounds a length read back from a run file. Keys are at most 1,024 bytes in S3; a larger length
	// means the file was damaged, and must be an error rather than an allocation of whatever the bytes say.
	sortMaxField = 1 << 20
)

// sortEntryOverhead is what one entry costs in memory beside the bytes of its strings: its ObjectInfo in a block,
// its sortKey while the run is sorted, and the allocator's rounding of its key and ETag up to a size class (about 8
// bytes each on average).
const sortEntryOverhead = int64(unsafe.Sizeof(ObjectInfo{})) + int64(unsafe.Sizeof(sortKey{})) + 16

// sortGCFactor multiplies each entry's estimated size when it is counted against the budget. With Go's default
// GOGC=100 the heap grows to twice the live data before a collection frees anything, so entries whose live size is
// half the budget already make the process's resident memory reach the whole budget. Counting each entry twice
// keeps the budget a bound on what the process holds, which is what whoever sets it means, at the cost of twice as
// many runs, which the merge reads at little cost (BenchmarkListSorter1M measures both).
const sortGCFactor = 2

// sortReserve is the part of the budget kept for the merge rather than for entries: the read buffers of a full
// merge, a run's write buffer and emit's page, counted like entries. Without it a small budget is overrun by these
// fixed costs; a budget below twice the reserve keeps half of itself for entries.
const sortReserve = sortGCFactor * (sortFanIn*sortReadBuf + sortWriteBuf + sortPageLen*int64(unsafe.Sizeof(ObjectInfo{})))

// listSorter sorts listing entries that arrive in any order, in bounded memory. Entries are kept in memory until
// their estimated size reaches the budget; that run is then sorted and written to a temporary file, and emit merges
// the files and the last, in-memory run into one stream in strictly increasing key order (byte order, as Go
// compares strings), each key once. A listing that repeats a key yields its first occurrence; the others are
// counted (duplicates) so that the caller can log them.
//
// Use: add every page, emit once, close always (a deferred close removes the temporary files also when add or emit
// failed or was cancelled). A listSorter is not safe for concurrent use.
type listSorter struct {
	budget int64 // for entries: the caller's budget less sortReserve
	dir    string
	fanIn  int // sortFanIn; tests lower it to exercise merges in several passes

	// The in-memory run: entries in the order added, in blocks of sortChunkLen. n counts them; used is their
	// estimated size as counted against the budget.
	chunks [][]ObjectInfo
	n      int
	used   int64
	keys   []sortKey // reused by every sort, cleared after each

	runs    []string // run files not yet merged away, in the order their entries were added
	nSpill  int      // runs written by add
	dups    int64
	emitted bool
	closed  bool
	scratch []byte // record encoding buffer
}

// sortKey is one entry of the in-memory run while it is sorted: a copy of its key, so that comparisons touch only
// this slice, and its position in the run, which orders equal keys by arrival so the first occurrence wins.
type sortKey struct {
	key string
	i   int32
}

// newListSorter returns a sorter that keeps what it holds in memory within budget bytes (DefaultSortBudget when
// budget is not positive) and writes its runs to temporary files in dir (os.TempDir() when dir is empty).
func newListSorter(budget int64, dir string) *listSorter {
	if budget <= 0 {
		budget = DefaultSortBudget
	}
	return &listSorter{budget: max(budget-sortReserve, budget/2), dir: dir, fanIn: sortFanIn}
}

// entryCost is what one entry is counted as against the budget.
func entryCost(o *ObjectInfo) int64 {
	return sortGCFactor * (int64(len(o.Key)+len(o.ETag)+len(o.StorageClass)) + sortEntryOverhead)
}

// add takes a page of entries in any order. It keeps the strings of objs but not the slice, which the caller may
// reuse. When the entries in memory reach the budget, they are sorted and spilled to a run file first; an entry
// larger than the whole budget still makes a run of its own.
func (s *listSorter) add(objs []ObjectInfo) error {
	if s.closed || s.emitted {
		return errors.New("sort listing: add after emit or close")
	}
	for i := range objs {
		cost := entryCost(&objs[i])
		// The positions in a run are int32s (see sortKey); a budget that large is far-fetched, but it must
		// not wrap.
		if s.n > 0 && (s.used+cost > s.budget || s.n == math.MaxInt32) {
			if err := s.spill(); err != nil {
				return err
			}
		}
		if s.n == len(s.chunks)*sortChunkLen {
			s.chunks = append(s.chunks, make([]ObjectInfo, sortChunkLen))
		}
		o := &s.chunks[s.n/sortChunkLen][s.n%sortChunkLen]
		*o = objs[i]
		// Times read back from a run file are in UTC (the codec keeps the instant, not the zone); every entry is
		// put in UTC here so that what emit yields does not depend on whether its run was spilled.
		o.LastModified = o.LastModified.UTC()
		s.n++
		s.used += cost
	}
	return nil
}

// at returns the i-th entry of the in-memory run.
func (s *listSorter) at(i int) *ObjectInfo { return &s.chunks[i/sortChunkLen][i%sortChunkLen] }

// sortMem sorts the in-memory run into s.keys: by key, equal keys in the order they were added.
func (s *listSorter) sortMem() {
	s.keys = slices.Grow(s.keys[:0], s.n)[:s.n]
	for i := range s.n {
		s.keys[i] = sortKey{key: s.at(i).Key, i: int32(i)}
	}
	slices.SortFunc(s.keys, func(a, b sortKey) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return int(a.i - b.i)
	})
}

// resetMem empties the in-memory run. The blocks are kept for the next run, but cleared: their stale entries would
// otherwise keep every string of the spilled run alive until overwritten, doubling what the run costs.
func (s *listSorter) resetMem() {
	for _, c := range s.chunks {
		clear(c)
	}
	clear(s.keys)
	s.keys = s.keys[:0]
	s.n, s.used = 0, 0
}

// spill sorts the in-memory run and writes it to a new run file, each key once.
func (s *listSorter) spill() error {
	s.sortMem()
	w, err := s.createRun()
	if err != nil {
		return err
	}
	// Registered at once, so that close removes the file even if writing it fails.
	s.runs = append(s.runs, w.path)
	var last string
	for j, k := range s.keys {
		if j > 0 && k.key == last {
			s.dups++
			continue
		}
		last = k.key
		if err := w.write(s.at(int(k.i))); err != nil {
			w.abandon()
			return err
		}
	}
	if err := w.finish(); err != nil {
		return err
	}
	s.nSpill++
	s.resetMem()
	return nil
}

// runWriter writes one run file.
type runWriter struct {
	s    *listSorter
	f    *os.File
	bw   *bufio.Writer
	path string
}

// createRun creates a run file. The caller registers its path in s.runs.
func (s *listSorter) createRun() (*runWriter, error) {
	f, err := os.CreateTemp(s.dir, "fsxsync-sort-*.run")
	if err != nil {
		return nil, fmt.Errorf("sort listing: %w", err)
	}
	return &runWriter{s: s, f: f, bw: bufio.NewWriterSize(f, sortWriteBuf), path: f.Name()}, nil
}

func (w *runWriter) write(o *ObjectInfo) error {
	w.s.scratch = appendRecord(w.s.scratch[:0], o)
	if _, err := w.bw.Write(w.s.scratch); err != nil {
		return fmt.Errorf("sort listing: write %s: %w", w.path, err)
	}
	return nil
}

// finish flushes and closes the file; the run stays registered for reading.
func (w *runWriter) finish() error {
	err := w.bw.Flush()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sort listing: write %s: %w", w.path, err)
	}
	return nil
}

// abandon closes a run that failed half-written; close removes the file.
func (w *runWriter) abandon() { _ = w.f.Close() }

// The run file codec. A record is, in order: the lengths of Key, ETag and StorageClass (uvarints), Size (varint),
// LastModified as Unix seconds (varint) and nanoseconds (uvarint), Restore (one byte), then the bytes of Key, ETag
// and StorageClass. Lengths rather than separators let keys hold any byte. Seconds and nanoseconds, rather than
// UnixNano, hold every time.Time, including the zero time (year 1, outside UnixNano's range), which comes back
// zero; the zone is not kept, times come back in UTC. Metadata is not written: listings carry none, and it is nil
// when read back. TestListSorterCodecEveryField fails when a field is added to ObjectInfo and not to this codec.

// appendRecord appends o's record to buf.
func appendRecord(buf []byte, o *ObjectInfo) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(o.Key)))
	buf = binary.AppendUvarint(buf, uint64(len(o.ETag)))
	buf = binary.AppendUvarint(buf, uint64(len(o.StorageClass)))
	buf = binary.AppendVarint(buf, o.Size)
	buf = binary.AppendVarint(buf, o.LastModified.Unix())
	buf = binary.AppendUvarint(buf, uint64(o.LastModified.Nanosecond()))
	buf = append(buf, byte(o.Restore))
	buf = append(buf, o.Key...)
	buf = append(buf, o.ETag...)
	buf = append(buf, o.StorageClass...)
	return buf
}

// runReader reads records from a run.
type runReader struct {
	br    *bufio.Reader
	buf   []byte
	class string // the last storage class read, shared by the records that repeat it
}

// errRecord says a run file ended inside a record or holds an impossible value.
var errRecord = errors.New("damaged run file")

// readErr is the error of a read inside a record: the end of the file there means a damaged run; any other error
// (of the disk) is returned as it is.
func readErr(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errRecord
	}
	return err
}

// next reads the next record into o. It returns io.EOF at the end of the run.
func (r *runReader) next(o *ObjectInfo) error {
	kl, err := binary.ReadUvarint(r.br)
	if err == io.EOF {
		// The end of the file between records is the end of the run.
		return io.EOF
	}
	el, err1 := binary.ReadUvarint(r.br)
	cl, err2 := binary.ReadUvarint(r.br)
	size, err3 := binary.ReadVarint(r.br)
	sec, err4 := binary.ReadVarint(r.br)
	nsec, err5 := binary.ReadUvarint(r.br)
	restore, err6 := r.br.ReadByte()
	if err := cmp.Or(err, err1, err2, err3, err4, err5, err6); err != nil {
		return readErr(err)
	}
	if kl > sortMaxField || el > sortMaxField || cl > sortMaxField || nsec >= 1e9 {
		return errRecord
	}
	n := int(kl + el + cl)
	if cap(r.buf) < n {
		r.buf = make([]byte, n)
	}
	b := r.buf[:n]
	if _, err := io.ReadFull(r.br, b); err != nil {
		return readErr(err)
	}
	// The key and the ETag share one allocation: they live and die together in the entry.
	ke := string(b[:kl+el])
	class := b[kl+el:]
	if string(class) != r.class {
		r.class = string(class)
	}
	*o = ObjectInfo{
		Key:          ke[:kl],
		Size:         size,
		ETag:         ke[kl:],
		LastModified: time.Unix(sec, int64(nsec)).UTC(),
		StorageClass: r.class,
		Restore:      RestoreState(restore),
	}
	return nil
}

// A cursor is one sorted input of a merge: a run file or the in-memory run. cur is its current entry.
type cursor struct {
	cur   ObjectInfo
	order int // the input's place in arrival order; of equal keys, the lowest order's is the first occurrence

	// A run file.
	f *os.File
	r *runReader

	// The in-memory run: the next position in s.keys.
	s   *listSorter
	pos int
}

// advance moves c to its next entry; it returns io.EOF when c has none.
func (c *cursor) advance() error {
	if c.s != nil {
		if c.pos == len(c.s.keys) {
			return io.EOF
		}
		c.cur = *c.s.at(int(c.s.keys[c.pos].i))
		c.pos++
		return nil
	}
	if err := c.r.next(&c.cur); err != nil {
		if err == io.EOF {
			return io.EOF
		}
		return fmt.Errorf("sort listing: read %s: %w", c.f.Name(), err)
	}
	return nil
}

// cursorHeap orders cursors by current key, then by arrival.
type cursorHeap []*cursor

func (h cursorHeap) Len() int { return len(h) }
func (h cursorHeap) Less(i, j int) bool {
	if c := strings.Compare(h[i].cur.Key, h[j].cur.Key); c != 0 {
		return c < 0
	}
	return h[i].order < h[j].order
}
func (h cursorHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *cursorHeap) Push(x any)   { *h = append(*h, x.(*cursor)) }
func (h *cursorHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return c
}

// openRuns opens run files for a merge, as cursors ordered from first to last. On error, the ones opened are closed.
func openRuns(paths []string) ([]*cursor, error) {
	cs := make([]*cursor, 0, len(paths))
	for i, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			closeCursors(cs)
			return nil, fmt.Errorf("sort listing: %w", err)
		}
		cs = append(cs, &cursor{order: i, f: f, r: &runReader{br: bufio.NewReaderSize(f, sortReadBuf)}})
	}
	return cs, nil
}

func closeCursors(cs []*cursor) {
	for _, c := range cs {
		if c.f != nil {
			_ = c.f.Close()
		}
	}
}

// merge calls out with the entries of the cursors in key order, each key once: the first occurrence, counting the
// others as duplicates. out must not keep the pointer it is given. It checks ctx every sortPageLen entries.
func (s *listSorter) merge(ctx context.Context, cs []*cursor, out func(*ObjectInfo) error) error {
	h := make(cursorHeap, 0, len(cs))
	for _, c := range cs {
		switch err := c.advance(); {
		case err == nil:
			h = append(h, c)
		case err != io.EOF:
			return err
		}
	}
	heap.Init(&h)
	var last string
	emitted := false
	for count := 0; len(h) > 0; count++ {
		if count%sortPageLen == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("sort listing: %w", err)
			}
		}
		c := h[0]
		if emitted && c.cur.Key == last {
			s.dups++
		} else {
			if err := out(&c.cur); err != nil {
				return err
			}
			last, emitted = c.cur.Key, true
		}
		switch err := c.advance(); {
		case err == nil:
			heap.Fix(&h, 0)
		case err == io.EOF:
			heap.Pop(&h)
		default:
			return err
		}
	}
	return nil
}

// mergePass merges run files until the final merge has at most fanIn inputs, counting the in-memory run as one. A
// long listing is merged in passes of groups of fanIn runs, each entry written once per pass; the last step merges
// only as many runs as it must. Groups are consecutive runs and take their place, so the runs stay in arrival order
// and the first occurrence of a key still wins. Each run merged away is removed at once.
func (s *listSorter) mergePass(ctx context.Context) error {
	limit := s.fanIn
	if s.n > 0 {
		limit--
	}
	for len(s.runs) > limit {
		if g := len(s.runs) - limit + 1; g <= s.fanIn {
			return s.mergeGroups(ctx, g)
		}
		if err := s.mergeGroups(ctx, s.fanIn); err != nil {
			return err
		}
	}
	return nil
}

// mergeGroups merges the runs, from the first, in consecutive groups of size runs (the last may be shorter), each
// into one new run; a last group of one run is kept as it is. With size less than fanIn it merges only the first
// group.
func (s *listSorter) mergeGroups(ctx context.Context, size int) error {
	var next []string
	start := 0
	for start < len(s.runs) {
		group := s.runs[start:min(start+size, len(s.runs))]
		if len(group) == 1 {
			break
		}
		p, err := s.mergeGroup(ctx, group)
		if p != "" {
			next = append(next, p)
		}
		if err != nil {
			// Every file not yet removed stays registered, so that close removes it.
			s.runs = append(next, s.runs[start:]...)
			return err
		}
		for _, g := range group {
			_ = os.Remove(g)
		}
		start += len(group)
		if size < s.fanIn {
			break
		}
	}
	s.runs = append(next, s.runs[start:]...)
	return nil
}

// mergeGroup merges the runs of group into a new run file and returns its path, also when the merge fails (the
// caller registers it, so that close removes it).
func (s *listSorter) mergeGroup(ctx context.Context, group []string) (string, error) {
	cs, err := openRuns(group)
	if err != nil {
		return "", err
	}
	defer closeCursors(cs)
	w, err := s.createRun()
	if err != nil {
		return "", err
	}
	if err := s.merge(ctx, cs, w.write); err != nil {
		w.abandon()
		return w.path, err
	}
	return w.path, w.finish()
}

// emit calls fn with every entry added, in pages of up to 1,000 in strictly increasing key order, each key once. fn
// must not keep the page after it returns: the sorter reuses it. An error from fn stops emit and is returned as is;
// a cancelled ctx stops it within a page. emit can be called once.
func (s *listSorter) emit(ctx context.Context, fn func([]ObjectInfo) error) error {
	if s.closed || s.emitted {
		return errors.New("sort listing: emit after emit or close")
	}
	s.emitted = true
	if err := s.mergePass(ctx); err != nil {
		return err
	}
	cs, err := openRuns(s.runs)
	if err != nil {
		return err
	}
	defer closeCursors(cs)
	if s.n > 0 {
		s.sortMem()
		cs = append(cs, &cursor{order: len(cs), s: s})
	}
	page := make([]ObjectInfo, 0, sortPageLen)
	err = s.merge(ctx, cs, func(o *ObjectInfo) error {
		page = append(page, *o)
		if len(page) < sortPageLen {
			return nil
		}
		err := fn(page)
		page = page[:0]
		return err
	})
	if err == nil && len(page) > 0 {
		err = fn(page)
	}
	return err
}

// close removes the run files and lets go of the entries in memory. It may be called more than once, and after a
// failed or cancelled add or emit; it returns the first error removing a file.
func (s *listSorter) close() error {
	s.closed = true
	s.chunks, s.keys, s.n, s.used = nil, nil, 0, 0
	var first error
	for _, p := range s.runs {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) && first == nil {
			first = fmt.Errorf("sort listing: %w", err)
		}
	}
	s.runs = nil
	return first
}

// duplicates returns how many entries repeated a key already seen, and were dropped. It is complete once emit has
// returned.
func (s *listSorter) duplicates() int64 { return s.dups }

// spilled returns how many runs add wrote to disk (the merge passes of a very long listing write more).
func (s *listSorter) spilled() int { return s.nSpill }
