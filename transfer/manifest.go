package transfer

import (
	"bufio"
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fsxsync/fsxsync/fsx"
)

// A manifest splits one large transfer into shards that Slurm array tasks run independently (fsxsync plan, run,
// status). It is a directory of plain text a person can read with head:
//
//	DIR/manifest.json         the header: source, destination, flags, creation time, per-shard counts
//	DIR/shard-0003.jsonl      the work items of shard 3, one JSON object a line
//	DIR/journal-0003.jsonl    what shard 3 finished, appended by `fsxsync run` (whole lines, fsync'd in batches)
//
// Items are assigned as they are listed to the shard with the fewest bytes so far (ties: fewest items), which
// balances bytes and counts without holding the list in memory; a single huge file ends up alone in its shard's
// byte budget, and its parts still move in parallel.

// ManifestVersion is the format of the files above.
const ManifestVersion = 1

// ManifestHeader is DIR/manifest.json.
type ManifestHeader struct {
	Version     int       `json:"version"`
	Source      string    `json:"source"`
	Destination string    `json:"destination"`
	Created     time.Time `json:"created"`
	Shards      int       `json:"shards"`
	Flags       PlanFlags `json:"flags"`
	ShardItems  []int64   `json:"shard_items"`
	ShardBytes  []int64   `json:"shard_bytes"`
}

// PlanFlags are the options that shaped the plan and that run must apply the same way.
type PlanFlags struct {
	Compare CompareMode `json:"compare"`
	Delete  bool        `json:"delete"`
	Rules   []PlanRule  `json:"rules,omitempty"`
	// Encryption is the server-side encryption the plan was made with (--sse and its companions), which run applies
	// to its uploads when it is given none; nil when the plan was made without --sse (or before it was recorded).
	Encryption *PlanEncryption `json:"encryption,omitempty"`
}

// PlanEncryption is --sse, --sse-kms-key-id and --bucket-key as plan was given them.
type PlanEncryption struct {
	Algorithm string `json:"sse"`
	KMSKeyID  string `json:"sse_kms_key_id,omitempty"`
	BucketKey bool   `json:"bucket_key,omitempty"`
}

// PlanRule is one --include/--exclude as recorded in the header.
type PlanRule struct {
	Include bool   `json:"include"`
	Pattern string `json:"pattern"`
}

// ManifestItem is one line of a shard file.
type ManifestItem struct {
	Action string `json:"action"` // copy or delete
	Key    string `json:"key"`    // relative key
	Size   int64  `json:"size"`
	Mtime  int64  `json:"mtime_ns,omitempty"` // the source's mtime when planned
	ETag   string `json:"etag,omitempty"`
	// Mode is the source's POSIX st_mode (type and permission bits) when planned, for a local source; 0 when not
	// known. A run that trusts its plan (Options.TrustManifest) needs it to tell a regular file from a link.
	Mode uint32 `json:"mode,omitempty"`
}

// JournalEntry is one line of a journal.
type JournalEntry struct {
	Index  int    `json:"i"` // line number of the item in its shard file, from 0
	Key    string `json:"key"`
	Result string `json:"result"` // done, skipped (already identical), failed
	Bytes  int64  `json:"bytes,omitempty"`
	Error  string `json:"error,omitempty"`
}

func shardFile(dir string, i int) string {
	return filepath.Join(dir, fmt.Sprintf("shard-%04d.jsonl", i))
}
func journalFile(dir string, i int) string {
	return filepath.Join(dir, fmt.Sprintf("journal-%04d.jsonl", i))
}
func headerFile(dir string) string { return filepath.Join(dir, "manifest.json") }

// ReadManifestHeader reads and checks DIR/manifest.json: a missing, truncated or foreign file is a UsageError.
func ReadManifestHeader(dir string) (*ManifestHeader, error) {
	b, err := os.ReadFile(headerFile(dir))
	if err != nil {
		return nil, Usagef("%s is not an fsxsync manifest: %v (create one with fsxsync plan)", dir, errors.Unwrap(err))
	}
	return parseManifestHeader(dir, b)
}

// parseManifestHeader checks a manifest.json's contents.
func parseManifestHeader(dir string, b []byte) (*ManifestHeader, error) {
	var h ManifestHeader
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, Usagef("%s: manifest.json is damaged or not fsxsync's: %v", dir, err)
	}
	if h.Version != ManifestVersion || h.Shards < 1 || len(h.ShardItems) != h.Shards || len(h.ShardBytes) != h.Shards {
		return nil, Usagef("%s: manifest.json is version %d with %d shards; this fsxsync reads version %d", dir, h.Version, h.Shards, ManifestVersion)
	}
	if _, err := ParseLocation(h.Source); err != nil {
		return nil, Usagef("%s: manifest.json has a bad source: %v", dir, err)
	}
	if _, err := ParseLocation(h.Destination); err != nil {
		return nil, Usagef("%s: manifest.json has a bad destination: %v", dir, err)
	}
	return &h, nil
}

// shardLoad is one shard's running total while planning.
type shardLoad struct {
	index int
	bytes int64
	items int64
	w     *bufio.Writer
	f     *os.File
}

type loadHeap []*shardLoad

func (h loadHeap) Len() int { return len(h) }
func (h loadHeap) Less(i, j int) bool {
	if h[i].bytes != h[j].bytes {
		return h[i].bytes < h[j].bytes
	}
	if h[i].items != h[j].items {
		return h[i].items < h[j].items
	}
	return h[i].index < h[j].index
}
func (h loadHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *loadHeap) Push(x any)   { *h = append(*h, x.(*shardLoad)) }
func (h *loadHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// Plan lists both sides once, decides like sync, and writes the work into a manifest of shards in dir (which must
// not hold a manifest yet). Nothing is transferred; objects whose mtime the listing cannot tell are inspected with
// HeadObject, as sync would.
func Plan(ctx context.Context, store ObjectStore, o Options, shards int, dir string) (*ManifestHeader, *Report, error) {
	if shards < 1 || shards > 100000 {
		return nil, nil, Usagef("--shards %d: give a number from 1 to 100000", shards)
	}
	if _, err := os.Stat(headerFile(dir)); err == nil {
		return nil, nil, Usagef("%s already holds a manifest; plan into a new directory (or remove it)", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("plan: %w", err)
	}
	h := &ManifestHeader{Version: ManifestVersion, Source: o.Src.String(), Destination: o.Dst.String(),
		Created: time.Now().UTC(), Shards: shards, Flags: PlanFlags{Compare: o.Compare, Delete: o.Delete, Encryption: o.PlanEncryption}}
	if o.Filter != nil {
		for _, r := range o.Filter.rules {
			h.Flags.Rules = append(h.Flags.Rules, PlanRule{Include: r.Include, Pattern: r.Pattern})
		}
	}
	loads := make(loadHeap, shards)
	for i := range loads {
		f, err := os.Create(shardFile(dir, i))
		if err != nil {
			return nil, nil, fmt.Errorf("plan: %w", err)
		}
		defer f.Close()
		loads[i] = &shardLoad{index: i, f: f, w: bufio.NewWriterSize(f, 64<<10)}
	}
	heap.Init(&loads)
	var mu sync.Mutex
	var writeErr error
	var line []byte
	// The plan is a dry run whose planned actions are written down instead of printed.
	o.DryRun = true
	o.Recursive = true
	o.plan = func(it *item, a Action) {
		src := it.src
		mi := ManifestItem{Action: "copy", Key: it.key}
		if a == ActionDelete {
			mi.Action = "delete"
			src = it.dst
		}
		mi.Size, mi.ETag = src.Size, src.ETag
		if src.MtimeKnown {
			mi.Mtime = src.Mtime.UnixNano()
		}
		if a == ActionCopy && !o.Src.IsS3() {
			mi.Mode = fsx.StatMode(src.Mode)
		}
		mu.Lock()
		defer mu.Unlock()
		l := loads[0]
		line, _ = json.Marshal(mi)
		if _, err := l.w.Write(append(line, '\n')); err != nil && writeErr == nil {
			writeErr = err
		}
		l.bytes += max(mi.Size, 1)
		l.items++
		heap.Fix(&loads, 0)
	}
	rep, err := Run(ctx, store, o)
	if err != nil {
		return nil, rep, err
	}
	if writeErr != nil {
		return nil, rep, fmt.Errorf("plan: %w", writeErr)
	}
	h.ShardItems, h.ShardBytes = make([]int64, shards), make([]int64, shards)
	for _, l := range loads {
		if err := l.w.Flush(); err != nil {
			return nil, rep, fmt.Errorf("plan: %w", err)
		}
		if err := l.f.Sync(); err != nil {
			return nil, rep, fmt.Errorf("plan: %w", err)
		}
		h.ShardItems[l.index], h.ShardBytes[l.index] = l.items, l.bytes
	}
	b, _ := json.MarshalIndent(h, "", "  ")
	// The header is written last and atomically: a directory with shard files but no header is an interrupted
	// plan that run refuses.
	tmp := headerFile(dir) + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return nil, rep, fmt.Errorf("plan: %w", err)
	}
	if err := os.Rename(tmp, headerFile(dir)); err != nil {
		return nil, rep, fmt.Errorf("plan: %w", err)
	}
	return h, rep, nil
}

// OptionsFromHeader rebuilds the transfer options a manifest was planned with.
func OptionsFromHeader(h *ManifestHeader) (Options, error) {
	src, err := ParseLocation(h.Source)
	if err != nil {
		return Options{}, err
	}
	dst, err := ParseLocation(h.Destination)
	if err != nil {
		return Options{}, err
	}
	var rules []Rule
	for _, r := range h.Flags.Rules {
		rules = append(rules, Rule{Include: r.Include, Pattern: r.Pattern})
	}
	f, err := NewFilter(rules)
	if err != nil {
		return Options{}, err
	}
	return Options{Src: src, Dst: dst, Recursive: true, Compare: h.Flags.Compare, Delete: h.Flags.Delete, Filter: f}, nil
}

// readJournal returns which item indexes of a shard are finished (done or skipped; a failed item is retried).
func readJournal(path string, n int64) ([]bool, error) {
	finished := make([]bool, n)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return finished, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		je, ok := parseJournalLine(sc.Bytes(), n)
		if !ok {
			// A torn last line (the process was killed mid-append) or garbage: that item simply runs again.
			continue
		}
		finished[je.Index] = je.Result == "done" || je.Result == "skipped"
	}
	return finished, sc.Err()
}

// parseJournalLine reads one journal line of a shard with n items.
func parseJournalLine(b []byte, n int64) (JournalEntry, bool) {
	var je JournalEntry
	// The index must be there: a line without "i" ({}, null, a stray object) would otherwise read as item 0 and, being
	// the last word on it, could hide that item's real result.
	var has struct {
		Index *int `json:"i"`
	}
	if json.Unmarshal(b, &je) != nil || json.Unmarshal(b, &has) != nil || has.Index == nil ||
		je.Index < 0 || int64(je.Index) >= n {
		return JournalEntry{}, false
	}
	switch je.Result {
	case "done", "skipped", "failed":
		return je, true
	}
	return JournalEntry{}, false
}

// journal appends whole lines and syncs them in batches: often enough that a requeued task loses little, rarely
// enough that a shared file system is not asked to sync every file.
type journal struct {
	f       *os.File
	w       *bufio.Writer
	pending int
	last    time.Time
}

const (
	journalSyncLines    = 1000
	journalSyncInterval = 2 * time.Second
)

func openJournal(path string) (*journal, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	return &journal{f: f, w: bufio.NewWriterSize(f, 256<<10), last: time.Now()}, nil
}

func (j *journal) add(je JournalEntry) error {
	b, _ := json.Marshal(je)
	j.w.Write(append(b, '\n'))
	j.pending++
	if j.pending >= journalSyncLines || time.Since(j.last) > journalSyncInterval {
		return j.sync()
	}
	return nil
}

func (j *journal) sync() error {
	if err := j.w.Flush(); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	j.pending, j.last = 0, time.Now()
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

func (j *journal) close() error {
	err := j.sync()
	if cerr := j.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("journal: %w", cerr)
	}
	return err
}

// RunManifestShard runs one shard of a manifest: it skips what the shard's journal records as finished, re-checks
// every other item against both sides (so a stale manifest never overwrites newer data), transfers what still
// differs, and journals each outcome. o carries the run-time settings (concurrency, part size, drain, output); the
// locations and compare flags come from the header.
func RunManifestShard(ctx context.Context, store ObjectStore, dir string, shard int, o Options) (*Report, error) {
	h, err := ReadManifestHeader(dir)
	if err != nil {
		return nil, err
	}
	if shard < 0 || shard >= h.Shards {
		return nil, Usagef("shard %d: the manifest in %s has shards 0 to %d", shard, dir, h.Shards-1)
	}
	ho, err := OptionsFromHeader(h)
	if err != nil {
		return nil, err
	}
	o.Src, o.Dst, o.Recursive, o.Compare, o.Delete, o.Filter = ho.Src, ho.Dst, true, ho.Compare, ho.Delete, ho.Filter
	_, statErr := os.Stat(journalFile(dir, shard))
	// A shard that has a journal already is being resumed, maybe hours after its plan: it checks every item again.
	trust := o.TrustManifest && errors.Is(statErr, fs.ErrNotExist)
	finished, err := readJournal(journalFile(dir, shard), h.ShardItems[shard])
	if err != nil {
		return nil, err
	}
	jr, err := openJournal(journalFile(dir, shard))
	if err != nil {
		return nil, err
	}
	frag, err := openFragment(o.StateFragment)
	if err != nil {
		jr.close()
		return nil, err
	}
	rep, runErr := runWith(ctx, store, o, func(e *engine) error {
		return e.runManifest(ctx, shardFile(dir, shard), finished, jr, trust, frag)
	})
	if err := jr.close(); err != nil && runErr == nil {
		runErr = err
	}
	if err := frag.close(); err != nil && runErr == nil {
		runErr = err
	}
	return rep, runErr
}

// runManifest feeds the shard's unfinished items through the same pipeline as a sync.
// With trust set the planned copies of files are not looked at again (see Options.TrustManifest).
// What was learnt of the objects moved goes to frag, when there is one.
func (e *engine) runManifest(ctx context.Context, path string, finished []bool, jr *journal, trust bool, frag *fragmentWriter) error {
	f, err := os.Open(path)
	if err != nil {
		return Usagef("manifest shard %s: %v", path, errors.Unwrap(err))
	}
	defer f.Close()
	var journalErr error
	collect := func(r result) {
		e.record(r)
		frag.add(r.state)
		je := JournalEntry{Index: r.it.index, Key: r.it.key, Result: "done", Bytes: r.bytes}
		switch {
		case r.err != nil:
			je.Result, je.Error = "failed", r.err.Error()
		case r.action == ActionSkip:
			je.Result = "skipped"
		case r.action == ActionArchived:
			// Not done: a run after the restore downloads it, and status counts it until then.
			je.Result, je.Error = "failed", "archived object ("+archiveClass(r.it.src)+") not downloaded: restore it, then run again"
		}
		if err := jr.add(je); err != nil && journalErr == nil {
			journalErr = err
		}
	}
	produce := func(ctx context.Context, emit func(*item) error) error {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for i := 0; sc.Scan(); i++ {
			if i < len(finished) && finished[i] {
				e.rep.Resumed++
				continue
			}
			var mi ManifestItem
			if err := json.Unmarshal(sc.Bytes(), &mi); err != nil {
				return Usagef("manifest shard %s line %d is damaged: %v", path, i+1, err)
			}
			it, ok := (*item)(nil), false
			if trust {
				it, ok = e.fromPlan(mi)
			}
			if !ok {
				if it, err = e.recheck(ctx, mi); err != nil {
					return err
				}
			}
			it.seq, it.index = i, i
			if err := emit(it); err != nil {
				return err
			}
		}
		return sc.Err()
	}
	workErr, produceErr := e.pipeline(ctx, produce, collect)
	return firstErr(workErr, produceErr, journalErr)
}

// fromPlan makes the item of a planned copy of a file from the manifest alone, without a stat or a HEAD; ok is
// false for what must be looked at again (a delete, a directory, a link). An upload opens and fstats the file
// anyway, and its stable reader fails it if the file changes while it is read; a download writes beside the file
// and renames. So a copy planned moments ago by the same job is safe to make without asking both sides again.
func (e *engine) fromPlan(mi ManifestItem) (*item, bool) {
	if mi.Action != "copy" || strings.HasSuffix(mi.Key, "/") {
		return nil, false
	}
	src := &Entry{Key: mi.Key, Size: mi.Size, ETag: mi.ETag}
	if mi.Mtime != 0 {
		src.Mtime, src.MtimeKnown = time.Unix(0, mi.Mtime), true
	}
	if e.dir == Upload {
		const typeBits, regular = 0o170000, 0o100000
		if mi.Mode&typeBits != regular {
			return nil, false
		}
		src.Mode = fs.FileMode(mi.Mode & 0o777)
	}
	it := &item{key: mi.Key, src: src, action: ActionCopy}
	e.placeItem(it)
	return it, true
}

// recheck looks at both sides of a planned key as they are now and decides again: a manifest can be hours old.
func (e *engine) recheck(ctx context.Context, mi ManifestItem) (*item, error) {
	it := &item{key: mi.Key}
	e.placeItem(it)
	local, err := e.statLocal(it.localPath, mi.Key)
	if err != nil {
		return nil, err
	}
	remote, err := e.headRemote(ctx, it.objectKey, mi.Key)
	if err != nil {
		return nil, err
	}
	if e.dir == Upload {
		it.src, it.dst = local, remote
	} else {
		it.src, it.dst = remote, local
	}
	it.action = Decide(it.src, it.dst, e.o.Compare, e.o.Delete)
	if it.action == ActionCopy && it.src != nil && it.dst != nil && !it.src.IsDir() && it.dst.MtimeKnown &&
		Newer(it.dst.Mtime, it.src.Mtime) {
		// The destination was written after the source's version: the manifest is stale for this key, and a stale
		// manifest must never overwrite newer data.
		it.action = ActionSkip
	}
	if mi.Action == "copy" && it.action == ActionDelete || mi.Action == "delete" && it.action == ActionCopy {
		// The two sides changed so much since the plan that this key's job is no longer what was planned: leave it
		// for a fresh plan rather than guess.
		it.action = ActionSkip
	}
	e.placeItem(it)
	return it, nil
}

func (e *engine) statLocal(path, key string) (*Entry, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("recheck %s: %w", path, err)
	}
	if strings.HasSuffix(key, "/") != fi.IsDir() {
		return nil, nil
	}
	ent := localEntry(key, fi)
	if fi.IsDir() {
		ent.Marker = true
	}
	return &ent, nil
}

func (e *engine) headRemote(ctx context.Context, objectKey, key string) (*Entry, error) {
	info, err := e.store.Head(ctx, objectKey)
	if IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		if IsFatal(err) {
			return nil, err
		}
		return nil, fmt.Errorf("recheck s3://%s/%s: %w", e.store.Bucket(), objectKey, err)
	}
	ent := Entry{Key: key, Marker: strings.HasSuffix(key, "/")}
	applyObjectMeta(&ent, info)
	return &ent, nil
}

// ShardStatus is one shard's progress, from its shard file and journal.
type ShardStatus struct {
	Shard     int    `json:"shard"`
	Items     int64  `json:"items"`
	Bytes     int64  `json:"bytes"`
	Done      int64  `json:"done"`
	DoneBytes int64  `json:"done_bytes"`
	Skipped   int64  `json:"skipped"`
	Failed    int64  `json:"failed"`
	Pending   int64  `json:"pending"`
	LastError string `json:"last_error,omitempty"`
	// Failures are the shard's failed items, by key (at most maxFailures), from the journal's last word on each.
	Failures []Failure `json:"failures"`
}

// ManifestStatus reads a manifest's journals.
func ManifestStatus(dir string) (*ManifestHeader, []ShardStatus, error) {
	h, err := ReadManifestHeader(dir)
	if err != nil {
		return nil, nil, err
	}
	var out []ShardStatus
	for i := 0; i < h.Shards; i++ {
		st := ShardStatus{Shard: i, Items: h.ShardItems[i], Bytes: h.ShardBytes[i]}
		last := make(map[int]JournalEntry)
		if f, err := os.Open(journalFile(dir, i)); err == nil {
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 64<<10), 4<<20)
			for sc.Scan() {
				if je, ok := parseJournalLine(sc.Bytes(), st.Items); ok {
					last[je.Index] = je
				}
			}
			f.Close()
		}
		for _, je := range last {
			switch je.Result {
			case "done":
				st.Done++
				st.DoneBytes += je.Bytes
			case "skipped":
				st.Skipped++
			default:
				st.Failed++
				if len(st.Failures) < maxFailures {
					st.Failures = append(st.Failures, Failure{Key: je.Key, Op: "transfer", Error: je.Error})
				}
			}
		}
		sort.Slice(st.Failures, func(i, j int) bool { return st.Failures[i].Key < st.Failures[j].Key })
		if n := len(st.Failures); n > 0 {
			st.LastError = st.Failures[n-1].Key + ": " + st.Failures[n-1].Error
		} else {
			st.Failures = []Failure{}
		}
		st.Pending = st.Items - st.Done - st.Skipped - st.Failed
		out = append(out, st)
	}
	return h, out, nil
}
