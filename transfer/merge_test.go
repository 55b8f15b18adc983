package transfer

import (
	"context"
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
