package transfer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"reflect"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sortInput makes one entry per key; Size is the entry's position in the input, so that a test can tell which of
// several entries with one key was kept.
func sortInput(keys []string) []ObjectInfo {
	objs := make([]ObjectInfo, len(keys))
	for i, k := range keys {
		objs[i] = ObjectInfo{Key: k, Size: int64(i), ETag: "e" + strconv.Itoa(i),
			LastModified: time.Unix(1700000000+int64(i), int64(i)), StorageClass: []string{"", "GLACIER"}[i%2]}
	}
	return objs
}

// newTestSorter returns a sorter whose budget for entries is exactly budget (when positive), without the part
// newListSorter keeps for the merge's buffers, so that a test's budget counts entries as it means to.
func newTestSorter(budget int64, dir string) *listSorter {
	s := newListSorter(budget, dir)
	if budget > 0 {
		s.budget = budget
	}
	return s
}

// sortWant is what sorting objs must yield: sorted by key, each key's first entry, in UTC; and the number dropped.
func sortWant(objs []ObjectInfo) ([]ObjectInfo, int64) {
	seen := map[string]bool{}
	var want []ObjectInfo
	for _, o := range objs {
		if seen[o.Key] {
			continue
		}
		seen[o.Key] = true
		o.LastModified = o.LastModified.UTC()
		want = append(want, o)
	}
	slices.SortFunc(want, func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return want, int64(len(objs) - len(want))
}

// runSort adds objs in pages of pageLen, emits, and returns what was emitted. It checks that every page but the
// last is full, copies the pages (emit reuses them), and leaves close to the caller.
func runSort(t testing.TB, s *listSorter, objs []ObjectInfo, pageLen int) []ObjectInfo {
	t.Helper()
	for start := 0; start < len(objs); start += pageLen {
		page := slices.Clone(objs[start:min(start+pageLen, len(objs))])
		if err := s.add(page); err != nil {
			t.Fatalf("add: %v", err)
		}
		// The sorter must not keep the page slice: the caller may reuse it.
		clear(page)
	}
	var got []ObjectInfo
	short := false
	err := s.emit(context.Background(), func(page []ObjectInfo) error {
		if short {
			t.Errorf("a page of %d entries came after a short one", len(page))
		}
		if len(page) == 0 || len(page) > sortPageLen {
			t.Errorf("page of %d entries", len(page))
		}
		short = len(page) < sortPageLen
		got = append(got, page...)
		return nil
	})
	if err != nil {
		t.Fatalf("emit: %v", err)
	}
	return got
}

// checkSorted compares got with the expected result of sorting objs.
func checkSorted(t testing.TB, s *listSorter, objs, got []ObjectInfo) {
	t.Helper()
	want, dups := sortWant(objs)
	if len(got) != len(want) {
		t.Fatalf("emitted %d entries, want %d", len(got), len(want))
	}
	for i := range got {
		if i > 0 && got[i-1].Key >= got[i].Key {
			t.Fatalf("entry %d: key %q after %q", i, got[i].Key, got[i-1].Key)
		}
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("entry %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	if s.duplicates() != dups {
		t.Errorf("duplicates() = %d, want %d", s.duplicates(), dups)
	}
}

// dirEntries lists dir, failing the test if it cannot.
func dirEntries(t testing.TB, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func TestListSorter(t *testing.T) {
	reverse := func(keys []string) []string { k := slices.Clone(keys); slices.Reverse(k); return k }
	sorted := make([]string, 2500)
	for i := range sorted {
		sorted[i] = fmt.Sprintf("dir/%05d", i)
	}
	// A budget that holds about three entries: every few entries spill, and the final merge needs several passes.
	tiny := 3 * entryCost(&ObjectInfo{Key: "dir/00000", ETag: "e1000"})
	tests := []struct {
		name      string
		keys      []string
		budget    int64
		minSpills int // at least this many runs written to disk
	}{
		{name: "empty"},
		{name: "one entry", keys: []string{"a"}},
		{name: "one empty key", keys: []string{""}},
		{name: "already sorted", keys: sorted},
		{name: "reverse", keys: reverse(sorted)},
		{name: "reverse, spilled", keys: reverse(sorted), budget: 40 * tiny, minSpills: 10},
		{name: "duplicates in memory", keys: []string{"b", "a", "b", "c", "a", "a"}},
		{name: "duplicates across runs", keys: []string{"b", "a", "c", "b", "a", "d", "c", "b", "e", "a"},
			budget: 2 * entryCost(&ObjectInfo{Key: "a", ETag: "e1"}), minSpills: 4},
		{name: "many spills", keys: append(reverse(sorted), sorted[:1000]...), budget: tiny, minSpills: 1000},
		{name: "byte order", keys: []string{"a\n", "a", "a/b", "a\nb", "é", "e", "日本", "z", "\x7f", "a\x01", "A", "",
			"a b", "\xff\xfe", "ä/ö/ü", "a/", "a\nb"}},
		{name: "byte order, spilled", keys: []string{"a\n", "a", "a/b", "a\nb", "é", "e", "日本", "z", "\x7f", "a\x01",
			"A", "", "a b", "\xff\xfe", "ä/ö/ü", "a/", "a\nb"}, budget: 1, minSpills: 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := newTestSorter(tt.budget, dir)
			defer s.close()
			objs := sortInput(tt.keys)
			got := runSort(t, s, objs, 7)
			checkSorted(t, s, objs, got)
			if s.spilled() < tt.minSpills {
				t.Errorf("spilled %d runs, want at least %d", s.spilled(), tt.minSpills)
			}
			if tt.minSpills == 0 && s.spilled() != 0 {
				t.Errorf("spilled %d runs, want none: the input fits in the budget", s.spilled())
			}
			if err := s.close(); err != nil {
				t.Fatal(err)
			}
			if left := dirEntries(t, dir); len(left) != 0 {
				t.Errorf("files left after close: %v", left)
			}
		})
	}
}

// TestListSorterProperty sorts random listings with random budgets, page sizes and merge fan-ins, and compares the
// result with sorting and deduplicating in memory.
func TestListSorterProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(20240611, 7))
	cases := 300
	if testing.Short() {
		cases = 50
	}
	for c := range cases {
		n := rng.IntN(3000)
		if c%10 == 0 {
			n = rng.IntN(5)
		}
		// Budgets from a few entries a run to all of them in one; a small budget makes a file of every few
		// entries, so it gets fewer.
		e := 8 + rng.IntN(13)
		budget := int64(1)<<e + rng.Int64N(int64(1)<<e)
		if e < 12 {
			n = min(n, 100)
		}
		// A small alphabet and short keys make duplicates common; a few long keys cross the buffers' boundaries.
		keys := make([]string, n)
		alphabet := []string{"a", "b", "/", "\n", "é", "z", "0"}
		for i := range keys {
			var b strings.Builder
			for range rng.IntN(6) {
				b.WriteString(alphabet[rng.IntN(len(alphabet))])
			}
			if rng.IntN(500) == 0 {
				b.WriteString(strings.Repeat("x", rng.IntN(20000)))
			}
			keys[i] = b.String()
		}
		dir := t.TempDir()
		s := newTestSorter(budget, dir)
		s.fanIn = 2 + rng.IntN(20)
		objs := sortInput(keys)
		for i := range objs {
			objs[i].Restore = RestoreState(rng.IntN(3))
			if rng.IntN(5) == 0 {
				objs[i].LastModified = time.Time{}
			}
		}
		got := runSort(t, s, objs, 1+rng.IntN(1500))
		checkSorted(t, s, objs, got)
		if err := s.close(); err != nil {
			t.Fatal(err)
		}
		if left := dirEntries(t, dir); len(left) != 0 {
			t.Fatalf("case %d: files left after close: %v", c, left)
		}
		if t.Failed() {
			t.Fatalf("case %d: %d keys, budget %d, fan-in %d", c, n, s.budget, s.fanIn)
		}
	}
}

// FuzzListSorter reads a list of keys from the fuzzer's bytes (each key a length byte and that many bytes, so keys
// hold any byte and short ones repeat) and a budget from the first byte, and checks that the sorter yields the keys
// sorted, each once, the first occurrence of each.
func FuzzListSorter(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 1, 'a'})
	f.Add([]byte{1, 1, 'b', 1, 'a', 1, 'b', 0, 2, 'a', '\n'})
	f.Add([]byte{255, 3, 'x', 'y', 'z', 1, 'x', 3, 'x', 'y', 'z'})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		budget := int64(data[0]) * 64
		var keys []string
		// At most 256 keys: with a budget of one entry and a fan-in of 2, each key is a file in every merge pass,
		// and more keys would slow the fuzzer down without reaching new code.
		for rest := data[1:]; len(rest) > 0 && len(keys) < 256; {
			n := min(int(rest[0])%32, len(rest)-1)
			keys = append(keys, string(rest[1:1+n]))
			rest = rest[1+n:]
		}
		dir := t.TempDir()
		s := newTestSorter(budget+1, dir)
		s.fanIn = 2 + int(data[0])%7
		objs := sortInput(keys)
		got := runSort(t, s, objs, 1+int(data[0])%5)
		checkSorted(t, s, objs, got)
		if err := s.close(); err != nil {
			t.Fatal(err)
		}
		if left := dirEntries(t, dir); len(left) != 0 {
			t.Fatalf("files left after close: %v", left)
		}
	})
}

// TestListSorterCodecEveryField round-trips an ObjectInfo through the run file codec, setting each field in turn to a
// value other than its zero. A field added to ObjectInfo makes it fail until the codec writes the field, or this
// test is taught to fill it: a spilled listing must never drop a field silently.
func TestListSorterCodecEveryField(t *testing.T) {
	typ := reflect.TypeFor[ObjectInfo]()
	var all ObjectInfo
	for i := range typ.NumField() {
		field := typ.Field(i)
		if field.Name == "Metadata" || field.Name == "ArchiveStatus" {
			// Listings carry no user metadata and no archive status (HeadObject's x-amz-archive-status); the codec
			// does not write them.
			continue
		}
		var one ObjectInfo
		for _, o := range []*ObjectInfo{&one, &all} {
			v := reflect.ValueOf(o).Elem().Field(i)
			switch {
			case field.Type == reflect.TypeFor[time.Time]():
				v.Set(reflect.ValueOf(time.Date(2024, 2, 29, 23, 59, 58, 123456789, time.UTC)))
			case v.Kind() == reflect.String:
				v.SetString("v-" + field.Name + "\n\x00é")
			case v.CanInt():
				v.SetInt(-1234567890123)
			case v.CanUint():
				v.SetUint(2)
			default:
				t.Fatalf("ObjectInfo.%s (%s): this test cannot fill it; add it to the run file codec "+
					"(appendRecord, runReader.next) and here", field.Name, field.Type)
			}
			if v.IsZero() {
				t.Fatalf("ObjectInfo.%s is still zero", field.Name)
			}
		}
		if got := sortRoundTrip(t, one); !reflect.DeepEqual(got, one) {
			t.Errorf("ObjectInfo.%s does not survive the run file:\n got %#v\nwant %#v", field.Name, got, one)
		}
	}
	if got := sortRoundTrip(t, all); !reflect.DeepEqual(got, all) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, all)
	}
	all.Metadata = map[string]string{"file-mtime": "1"}
	if got := sortRoundTrip(t, all); got.Metadata != nil {
		t.Errorf("Metadata = %v after the round trip, want nil", got.Metadata)
	}

	// Times at the edges: the zero time stays zero, and times outside UnixNano's range keep their instant.
	for _, tm := range []time.Time{{}, time.Unix(0, 0).UTC(), time.Unix(-1, 999999999).UTC(),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC)} {
		got := sortRoundTrip(t, ObjectInfo{LastModified: tm})
		if !got.LastModified.Equal(tm) || got.LastModified.IsZero() != tm.IsZero() || got.LastModified != tm {
			t.Errorf("LastModified %v came back %v", tm, got.LastModified)
		}
	}
}

// sortRoundTrip encodes o and decodes it again, checking that the record is read to its end.
func sortRoundTrip(t *testing.T, o ObjectInfo) ObjectInfo {
	t.Helper()
	r := &runReader{br: bufio.NewReader(bytes.NewReader(appendRecord(nil, &o)))}
	var got ObjectInfo
	if err := r.next(&got); err != nil {
		t.Fatalf("next: %v", err)
	}
	if err := r.next(&ObjectInfo{}); err != io.EOF {
		t.Fatalf("after the record: %v, want EOF", err)
	}
	return got
}

// TestListSorterDamagedRun checks that a run file cut short is an error, not a shorter listing.
func TestListSorterDamagedRun(t *testing.T) {
	dir := t.TempDir()
	s := newTestSorter(1, dir)
	defer s.close()
	if err := s.add(sortInput([]string{"c", "b", "a"})); err != nil {
		t.Fatal(err)
	}
	if s.spilled() != 2 || len(s.runs) != 2 {
		t.Fatalf("spilled %d runs, want 2", s.spilled())
	}
	fi, err := os.Stat(s.runs[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(s.runs[0], fi.Size()-1); err != nil {
		t.Fatal(err)
	}
	err = s.emit(context.Background(), func([]ObjectInfo) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "sort listing: read") || !errors.Is(err, errRecord) {
		t.Fatalf("emit of a damaged run: %v", err)
	}
}

// spilledSorter returns a sorter in dir holding n reversed keys in many runs.
func spilledSorter(t *testing.T, dir string, n int) *listSorter {
	t.Helper()
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%06d", n-i)
	}
	s := newTestSorter(200*entryCost(&ObjectInfo{Key: keys[0]}), dir)
	s.fanIn = 4
	if err := s.add(sortInput(keys)); err != nil {
		t.Fatal(err)
	}
	if s.spilled() < 10 {
		t.Fatalf("spilled %d runs, want at least 10", s.spilled())
	}
	return s
}

// TestListSorterCleanup checks that the run files are removed by close, after a cancelled emit (cancelled in a
// merge pass, and while pages are emitted) and after emit was never called; and that close may be called twice.
func TestListSorterCleanup(t *testing.T) {
	for _, tt := range []struct {
		name   string
		cancel string // "before" emit, "during" emit, or "" for a complete emit
		emit   bool
	}{
		{name: "complete", emit: true},
		{name: "not emitted"},
		{name: "cancelled before emit", cancel: "before", emit: true},
		{name: "cancelled during emit", cancel: "during", emit: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := spilledSorter(t, dir, 5000)
			if len(dirEntries(t, dir)) == 0 {
				t.Fatal("no run files written")
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel == "before" {
				cancel()
			}
			pages := 0
			if tt.emit {
				err := s.emit(ctx, func([]ObjectInfo) error {
					pages++
					if tt.cancel == "during" {
						cancel()
					}
					return nil
				})
				switch {
				case tt.cancel == "" && err != nil:
					t.Fatalf("emit: %v", err)
				case tt.cancel != "" && !errors.Is(err, context.Canceled):
					t.Fatalf("emit: %v, want context.Canceled", err)
				case tt.cancel == "before" && pages != 0:
					t.Errorf("%d pages emitted after the context was cancelled", pages)
				case tt.cancel == "during" && pages != 1:
					t.Errorf("%d pages emitted, want 1: cancelling must stop emit at the next page", pages)
				}
			}
			if err := s.close(); err != nil {
				t.Fatal(err)
			}
			if err := s.close(); err != nil {
				t.Fatalf("second close: %v", err)
			}
			if left := dirEntries(t, dir); len(left) != 0 {
				t.Errorf("files left after close: %v", left)
			}
			if err := s.add(sortInput([]string{"x"})); err == nil {
				t.Error("add after close succeeded")
			}
			if err := s.emit(context.Background(), func([]ObjectInfo) error { return nil }); err == nil {
				t.Error("emit after close succeeded")
			}
		})
	}
}

// TestListSorterFnError checks that an error from fn stops emit at once and is what emit returns.
func TestListSorterFnError(t *testing.T) {
	for _, spilled := range []bool{true, false} {
		dir := t.TempDir()
		var s *listSorter
		if spilled {
			s = spilledSorter(t, dir, 5000)
		} else {
			s = newListSorter(0, dir)
			if err := s.add(sortInput(strings.Fields(strings.Repeat("b a c ", 1000)))); err != nil {
				t.Fatal(err)
			}
		}
		errStop := errors.New("stop here")
		calls := 0
		err := s.emit(context.Background(), func([]ObjectInfo) error {
			calls++
			if calls == 2 || !spilled {
				return errStop
			}
			return nil
		})
		if err != errStop {
			t.Errorf("emit returned %v, want fn's error as it is", err)
		}
		if want := map[bool]int{true: 2, false: 1}[spilled]; calls != want {
			t.Errorf("fn called %d times, want %d", calls, want)
		}
		if err := s.close(); err != nil {
			t.Fatal(err)
		}
		if left := dirEntries(t, dir); len(left) != 0 {
			t.Errorf("files left after close: %v", left)
		}
	}
}

// procStatusKB returns a field of /proc/self/status in kB, or 0 where there is none (not Linux).
func procStatusKB(field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			v, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return v
		}
	}
	return 0
}

// BenchmarkListSorter1M sorts 1,000,000 keys in random order, added in pages of 1,000 as a listing would be, with
// the default budget (spilling a few runs) and with 8 MiB (spilling many). keys/s counts add and emit, not making
// the keys. peak-RSS-MiB is the process's resident high-water mark during the sort (reset first, where Linux allows),
// base-RSS-MiB its resident memory before: the goal is peak within base + budget.
func BenchmarkListSorter1M(b *testing.B) {
	for _, budget := range []int64{DefaultSortBudget, 8 << 20} {
		b.Run(fmt.Sprintf("budget=%dMiB", budget>>20), func(b *testing.B) { benchSort(b, 1_000_000, budget) })
	}
}

func benchSort(b *testing.B, n int, budget int64) {
	const hex = "0123456789abcdef"
	var sortTime time.Duration
	var spills int
	var base float64
	iters := 0
	for i := 0; b.Loop(); i++ {
		iters++
		// Start each measurement from what the process holds now, not what the last one left in the heap.
		runtime.GC()
		debug.FreeOSMemory()
		_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // resets VmHWM to the current RSS
		base = procStatusKB("VmRSS")

		rng := rand.New(rand.NewPCG(uint64(i), 1))
		dir := b.TempDir()
		s := newListSorter(budget, dir)
		page := make([]ObjectInfo, 0, sortPageLen)
		lm := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
		var buf []byte
		for range n / sortPageLen {
			page = page[:0]
			for range sortPageLen {
				// "data/run-000123/file-4567890.bin" and a 32-hex-digit ETag, in one allocation per entry like a
				// listing's decoder makes.
				buf = append(buf[:0], "data/run-"...)
				buf = appendPadded(buf, rng.IntN(1_000_000), 6)
				buf = append(buf, "/file-"...)
				buf = appendPadded(buf, rng.IntN(10_000_000), 7)
				buf = append(buf, ".bin"...)
				kl := len(buf)
				for range 32 {
					buf = append(buf, hex[rng.IntN(16)])
				}
				ke := string(buf)
				page = append(page, ObjectInfo{Key: ke[:kl], ETag: ke[kl:], Size: rng.Int64N(1 << 30), LastModified: lm})
			}
			start := time.Now()
			if err := s.add(page); err != nil {
				b.Fatal(err)
			}
			sortTime += time.Since(start)
		}
		start := time.Now()
		var last string
		got := 0
		err := s.emit(context.Background(), func(objs []ObjectInfo) error {
			for j := range objs {
				if objs[j].Key <= last && got > 0 {
					return fmt.Errorf("key %q after %q", objs[j].Key, last)
				}
				last = objs[j].Key
				got++
			}
			return nil
		})
		sortTime += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if int64(got)+s.duplicates() != int64(n) {
			b.Fatalf("emitted %d and %d duplicates, want %d", got, s.duplicates(), n)
		}
		spills = s.spilled()
		if err := s.close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(iters*n)/sortTime.Seconds(), "keys/s")
	b.ReportMetric(procStatusKB("VmHWM")/1024, "peak-RSS-MiB")
	b.ReportMetric(base/1024, "base-RSS-MiB")
	b.ReportMetric(float64(spills), "runs")
}

// appendPadded appends v in decimal, zero-padded to width digits.
func appendPadded(buf []byte, v, width int) []byte {
	var d [20]byte
	s := strconv.AppendInt(d[:0], int64(v), 10)
	for range width - len(s) {
		buf = append(buf, '0')
	}
	return append(buf, s...)
}
