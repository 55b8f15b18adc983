package transfer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func feed(keys ...string) <-chan []Entry {
	ch := make(chan []Entry, len(keys)+1)
	for _, k := range keys {
		ch <- []Entry{{Key: k, Marker: strings.HasSuffix(k, "/")}}
	}
	close(ch)
	return ch
}

func TestMerge(t *testing.T) {
	var got []string
	err := merge(context.Background(),
		feed("a", "a/", "a/b", "c", "d/", "d/x", "z"),
		feed("a", "b", "d/y", "e/"),
		true,
		func(it *item) error {
			s := it.key + ":"
			if it.src != nil {
				s += "S"
			}
			if it.dst != nil {
				s += "D"
			}
			if it.err != nil {
				s += "!"
			}
			got = append(got, s)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a:SD", "a/:S!", "a/b:S!", "b:D", "c:S", "d/:SD", "d/x:S", "d/y:D", "e/:D", "z:S"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("merge\n got %v\nwant %v", got, want)
	}
}

func TestMergeRejectsUnsortedStream(t *testing.T) {
	err := merge(context.Background(), feed("a", "c", "b"), feed(), false, func(*item) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "out of order") {
		t.Fatalf("err = %v, want out of order", err)
	}
}

func TestStateRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s", "x.state")
	w := newStateWriter(path)
	mt := time.Unix(1595002920, 123456789)
	// Results arrive out of order; the file must come out sorted.
	w.add(2, &stateRecord{Key: "c \"q\"\n", Size: 3, ETag: "e3", Mtime: mt})
	w.add(0, &stateRecord{Key: "a", Size: 1, ETag: "e1", Mtime: mt})
	w.add(1, nil)
	if err := w.commit(true); err != nil {
		t.Fatal(err)
	}
	r, err := openState(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if rec, ok := r.lookup("a"); !ok || rec.ETag != "e1" || !rec.Mtime.Equal(mt) {
		t.Errorf("lookup a = %+v, %v", rec, ok)
	}
	if _, ok := r.lookup("b"); ok {
		t.Error("lookup b found a record")
	}
	if rec, ok := r.lookup("c \"q\"\n"); !ok || rec.Size != 3 {
		t.Errorf("lookup c = %+v, %v", rec, ok)
	}
	// An incomplete run keeps the old file.
	w2 := newStateWriter(path)
	w2.add(0, &stateRecord{Key: "zzz", Size: 1, ETag: "x", Mtime: mt})
	if err := w2.commit(false); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), "zzz") {
		t.Error("incomplete run replaced the state file")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temp files left: %v", entries)
	}
}

func BenchmarkMergeDecide(b *testing.B) {
	const n = 100000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("dir%03d/file%06d.dat", i/1000, i)
	}
	mt := time.Unix(1595002920, 123456789)
	mk := func() <-chan []Entry {
		ch := make(chan []Entry, 8)
		go func() {
			defer close(ch)
			batch := make([]Entry, 0, batchSize)
			for _, k := range keys {
				batch = append(batch, Entry{Key: k, Size: 100, Mtime: mt, MtimeKnown: true})
				if len(batch) == batchSize {
					ch <- batch
					batch = make([]Entry, 0, batchSize)
				}
			}
			ch <- batch
		}()
		return ch
	}
	b.ReportAllocs()
	for b.Loop() {
		skips := 0
		merge(context.Background(), mk(), mk(), true, func(it *item) error {
			if Decide(it.src, it.dst, CompareNewer, true) == ActionSkip {
				skips++
			}
			return nil
		})
		if skips != n {
			b.Fatalf("skips = %d", skips)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "entries/s")
}

// feedLocal is feed for a local side: a key ending in "!" is a directory the walk could not read, one ending in "?"
// such a directory that the filters exclude (no failure).
func feedLocal(keys ...string) <-chan []Entry {
	ch := make(chan []Entry, len(keys)+1)
	for _, k := range keys {
		if dir, ok := strings.CutSuffix(k, "!"); ok {
			ch <- []Entry{{Key: dir, Unknown: true, ReadErr: errors.New("read directory: permission denied")}}
			continue
		}
		if dir, ok := strings.CutSuffix(k, "?"); ok {
			ch <- []Entry{{Key: dir, Unknown: true}}
			continue
		}
		ch <- []Entry{{Key: k, Marker: strings.HasSuffix(k, "/")}}
	}
	close(ch)
	return ch
}

// A local directory that could not be read fails as itself, and every key below it on the other side gets an
// Unknown local entry, so that --delete deletes nothing there, in either direction; keys that only share its name
// ("dir-x", "dir.x", "dir0", sorting before and after "dir/") are compared and deleted as usual.
func TestMergeUnreadableDirectory(t *testing.T) {
	// Each item: key, then S/D for a real entry on that side, s/d for an Unknown one, i for an implied one, "!"
	// for the directory's own failure, and the action Decide gives with --delete (comparing sizes, all 0 here).
	describe := func(it *item) string {
		s := it.key + ":"
		for _, e := range [...]struct {
			e    *Entry
			name string
		}{{it.src, "S"}, {it.dst, "D"}} {
			switch {
			case e.e == nil:
			case e.e.Unknown:
				s += strings.ToLower(e.name)
			case e.e.Implied:
				s += "i"
			default:
				s += e.name
			}
		}
		if it.err != nil {
			s += "!" + it.errOp
		}
		return s + " " + Decide(it.src, it.dst, CompareSize, true).String()
	}
	remote := []string{"dir-x", "dir.x", "dir/", "dir/a", "dir/sub/", "dir/sub/b", "dir0", "dir1/c", "z"}
	tests := []struct {
		name     string
		download bool
		local    []string
		remote   []string
		want     []string
	}{
		{
			name:   "upload",
			local:  []string{"dir-x", "dir/!", "dir0", "z"},
			remote: remote,
			want: []string{"dir-x:SD skip", "dir.x:D delete", "dir/:sD!read directory skip", "dir/a:sD skip",
				"dir/sub/:sD skip", "dir/sub/b:sD skip", "dir0:SD skip", "dir1/c:D delete", "z:SD skip"},
		},
		{
			name:   "upload, no marker object at the directory's key",
			local:  []string{"dir/!", "e"},
			remote: []string{"dir/a", "dir/b/c", "e", "f"},
			want:   []string{"dir/:si!read directory skip", "dir/a:sD skip", "dir/b/c:sD skip", "e:SD skip", "f:D delete"},
		},
		{
			name:     "download",
			download: true,
			local:    []string{"dir-x", "dir/!", "dir0", "dir1/c", "y"},
			remote:   remote,
			want: []string{"dir-x:SD skip", "dir.x:S copy", "dir/:Sd!read directory skip", "dir/a:Sd copy",
				"dir/sub/:Sd copy", "dir/sub/b:Sd copy", "dir0:SD skip", "dir1/c:SD skip", "y:D delete", "z:S copy"},
		},
		{
			name:     "download, nothing at the source below the directory",
			download: true,
			local:    []string{"a", "dir/!", "dir0"},
			remote:   []string{"a"},
			want:     []string{"a:SD skip", "dir/:d!read directory skip", "dir0:D delete"},
		},
		{
			name:   "upload, an unreadable directory the filters exclude: no failure, still nothing deleted",
			local:  []string{"dir/?", "e"},
			remote: []string{"dir/a", "e", "f"},
			want:   []string{"dir/:si skip", "dir/a:sD skip", "e:SD skip", "f:D delete"},
		},
		{
			name:     "download, an unreadable directory the filters exclude",
			download: true,
			local:    []string{"dir/?", "e"},
			remote:   []string{"dir/a"},
			want:     []string{"dir/:id skip", "dir/a:Sd copy", "e:D delete"},
		},
		{
			name:   "two unreadable directories in a row",
			local:  []string{"a/!", "b/!"},
			remote: []string{"a/x", "b/y", "c"},
			want:   []string{"a/:si!read directory skip", "a/x:sD skip", "b/:si!read directory skip", "b/y:sD skip", "c:D delete"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, dst := feedLocal(tt.local...), feed(tt.remote...)
			if tt.download {
				src, dst = feed(tt.remote...), feedLocal(tt.local...)
			}
			var got []string
			err := merge(context.Background(), src, dst, tt.download, func(it *item) error {
				got = append(got, describe(it))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("merge\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}
