package transfer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/fsxsync/fsxsync/fsx"
)

// The property of merge, for strictly sorted source and destination key lists S and D sent in batches of any sizes
// (empty batches included), and fn returning nil:
//
//  1. fn is called once per key of S ∪ D, in strictly increasing key order, with seq 0, 1, 2, ... and nothing else;
//     merge returns nil.
//  2. it.src is the source entry (not Implied) exactly when the key is in S, and it.dst the destination entry exactly
//     when it is in D.
//  3. A key missing on one side gets an implied entry there ({Key: key, Implied: true}) exactly when it is a directory
//     key (ending in "/") and the other side has a key strictly below it (the key as a string prefix); otherwise
//     that side is nil. A directory that one side holds only through its contents is thus neither created nor deleted.
//  4. With checkConflicts false, it.err is always nil. With it true, it.err is set exactly when it.src is not nil
//     (a real or an implied source entry) and some file key f of S (not ending in "/") has f+"/" as a prefix of
//     the key: one local path cannot be both the file f and a directory holding the key. A key that is not canonical
//     ("a/.", "a//b") is never marked: a download settles such keys at the end of the pass, collisions included
//     (deferred.go).
//
// And when fn returns an error, merge returns that error at once and calls fn no more.
//
// mergeExpect computes 1 to 4 by brute force, without merge's reasoning about what the next key of a stream can be.
func mergeExpect(src, dst []string, checkConflicts bool) []string {
	union := slices.Concat(src, dst)
	slices.Sort(union)
	union = slices.Compact(union)
	var out []string
	for _, k := range union {
		s, d := side(src, dst, k), side(dst, src, k)
		conflict := false
		if checkConflicts && s != "-" && fsx.IsCanonicalKey(k) {
			for _, f := range src {
				if !strings.HasSuffix(f, "/") && strings.HasPrefix(k, f+"/") {
					conflict = true
				}
			}
		}
		out = append(out, mergeLine(k, s, d, conflict))
	}
	return out
}

// side is what merge must give for key k on the side that holds keys: "R" for its real entry, "I" for an implied
// directory, "-" for none.
func side(keys, other []string, k string) string {
	if slices.Contains(keys, k) {
		return "R"
	}
	if !strings.HasSuffix(k, "/") || !slices.Contains(other, k) {
		return "-"
	}
	for _, x := range keys {
		if strings.HasPrefix(x, k) {
			return "I"
		}
	}
	return "-"
}

func mergeLine(key, src, dst string, conflict bool) string {
	return fmt.Sprintf("%q src=%s dst=%s conflict=%v", key, src, dst, conflict)
}

// sendBatches returns a closed channel holding keys as entries, in batches of 0 to maxBatch entries. Each entry's
// Size is tag, so that an entry handed to fn can be traced to its stream.
func sendBatches(rng *rand.Rand, keys []string, maxBatch int, tag int64) <-chan []Entry {
	var batches [][]Entry
	for rest := keys; len(rest) > 0; {
		n := min(rng.IntN(maxBatch+1), len(rest))
		b := make([]Entry, n)
		for i, k := range rest[:n] {
			b[i] = Entry{Key: k, Size: tag, Marker: strings.HasSuffix(k, "/")}
		}
		batches, rest = append(batches, b), rest[n:]
	}
	ch := make(chan []Entry, len(batches))
	for _, b := range batches {
		ch <- b
	}
	close(ch)
	return ch
}

const (
	srcTag = 1
	dstTag = 2
)

// runMerge merges src and dst and describes each item as mergeExpect does; stopAt >= 0 makes fn fail on that item.
func runMerge(rng *rand.Rand, src, dst []string, maxBatch int, checkConflicts bool, stopAt int) ([]string, error) {
	var got []string
	var bad error
	errStop := errors.New("stop")
	err := merge(context.Background(), sendBatches(rng, src, maxBatch, srcTag), sendBatches(rng, dst, maxBatch, dstTag),
		checkConflicts, func(it *item) error {
			if it.seq != len(got) && bad == nil {
				bad = fmt.Errorf("item %q has seq %d, want %d", it.key, it.seq, len(got))
			}
			s, serr := entrySide(it.src, it.key, srcTag)
			d, derr := entrySide(it.dst, it.key, dstTag)
			if e := errors.Join(serr, derr); e != nil && bad == nil {
				bad = e
			}
			if !checkConflicts && it.err != nil && bad == nil {
				bad = fmt.Errorf("item %q has error %v without conflict checks", it.key, it.err)
			}
			got = append(got, mergeLine(it.key, s, d, it.err != nil))
			if len(got) == stopAt+1 {
				return errStop
			}
			return nil
		})
	if bad != nil {
		return got, bad
	}
	if stopAt >= 0 && stopAt < len(got) {
		if !errors.Is(err, errStop) {
			return got, fmt.Errorf("fn failed on item %d, but merge returned %v", stopAt, err)
		}
		return got, nil
	}
	return got, err
}

// entrySide classifies an entry handed to fn for key and checks that it is what it claims to be.
func entrySide(e *Entry, key string, tag int64) (string, error) {
	switch {
	case e == nil:
		return "-", nil
	case e.Key != key:
		return "?", fmt.Errorf("item %q carries an entry for %q", key, e.Key)
	case e.Implied:
		if e.Size != 0 || !e.IsDir() {
			return "?", fmt.Errorf("item %q: implied entry %+v", key, *e)
		}
		return "I", nil
	case e.Size != tag:
		return "?", fmt.Errorf("item %q: entry %+v comes from the other stream", key, *e)
	}
	return "R", nil
}

// randomKeys makes up to n distinct keys of one to three components. The components include '-' and '.', which
// sort just before '/', and '0', just after, so that "a-b", "a.", "a/" and "a0" interleave the way real names do.
func randomKeys(rng *rand.Rand, n int) []string {
	comps := []string{"a", "b", "a-b", "a.", "a0", "ab", "-", "0", "x y", "é"}
	var keys []string
	for range n {
		var parts []string
		for range 1 + rng.IntN(3) {
			parts = append(parts, comps[rng.IntN(len(comps))])
		}
		k := strings.Join(parts, "/")
		if rng.IntN(3) == 0 {
			k += "/"
		}
		keys = append(keys, k)
		if rng.IntN(4) == 0 {
			// The key's parent directory as a key of its own, so that directories appear with their contents.
			if i := strings.LastIndex(strings.TrimSuffix(k, "/"), "/"); i >= 0 {
				keys = append(keys, k[:i+1])
			}
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// splitKeys deals the keys out to the source, the destination or both, with weights that vary from trial to trial
// so that some trials have disjoint sides, some identical ones, and most a mix.
func splitKeys(rng *rand.Rand, keys []string) (src, dst []string) {
	wSrc, wDst, wBoth := rng.IntN(4), rng.IntN(4), rng.IntN(4)
	if wSrc+wDst+wBoth == 0 {
		wBoth = 1
	}
	for _, k := range keys {
		switch r := rng.IntN(wSrc + wDst + wBoth); {
		case r < wSrc:
			src = append(src, k)
		case r < wSrc+wDst:
			dst = append(dst, k)
		default:
			src, dst = append(src, k), append(dst, k)
		}
	}
	return src, dst
}

func TestMergeProperty(t *testing.T) {
	for seed := range uint64(3000) {
		rng := rand.New(rand.NewPCG(seed, 13))
		src, dst := splitKeys(rng, randomKeys(rng, rng.IntN(60)))
		maxBatch := 1 + rng.IntN(8)
		for _, checkConflicts := range []bool{false, true} {
			want := mergeExpect(src, dst, checkConflicts)
			got, err := runMerge(rng, src, dst, maxBatch, checkConflicts, -1)
			if err != nil {
				t.Fatalf("seed %d, conflicts %v: %v\nsrc %q\ndst %q", seed, checkConflicts, err, src, dst)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("seed %d, conflicts %v: src %q\ndst %q\n%s", seed, checkConflicts, src, dst, mergeDiff(got, want))
			}
			if len(want) > 0 {
				stopAt := rng.IntN(len(want))
				got, err := runMerge(rng, src, dst, maxBatch, checkConflicts, stopAt)
				if err != nil || !slices.Equal(got, want[:stopAt+1]) {
					t.Fatalf("seed %d: fn failing on item %d: %v, items %q", seed, stopAt, err, got)
				}
			}
		}
	}
}

// FuzzMerge checks the same property for key lists made of fuzz input: each string is split at newlines, and the
// keys sorted and deduplicated, since merge requires strictly sorted streams (and stops on others).
func FuzzMerge(f *testing.F) {
	f.Add("a\na/\na/b\nc\nd/\nd/x\nz", "a\nb\nd/y\ne/", uint8(0), true)
	f.Add("a-b\na/\na/b/\na0", "a/b/c\na/c", uint8(3), true)
	f.Add("x/", "x/y/z", uint8(1), false)
	f.Add("a\na/b\nb\nb/c", "a/\nb/", uint8(7), true)
	f.Add("\n/x", "", uint8(2), true)
	f.Fuzz(func(t *testing.T, srcSpec, dstSpec string, batch uint8, checkConflicts bool) {
		keys := func(spec string) []string {
			// Empty keys are dropped: the listers never send one (it is the prefix itself), and stream.next takes
			// "" to mean that no key has been read yet.
			k := slices.DeleteFunc(strings.Split(spec, "\n"), func(k string) bool { return k == "" })
			slices.Sort(k)
			return slices.Compact(k)
		}
		src, dst := keys(srcSpec), keys(dstSpec)
		rng := rand.New(rand.NewPCG(uint64(batch), 13))
		want := mergeExpect(src, dst, checkConflicts)
		got, err := runMerge(rng, src, dst, 1+int(batch%8), checkConflicts, -1)
		if err != nil {
			t.Fatalf("src %q dst %q: %v", src, dst, err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("src %q\ndst %q\n%s", src, dst, mergeDiff(got, want))
		}
	})
}

// mergeDiff shows the first item where got and want part.
func mergeDiff(got, want []string) string {
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			return fmt.Sprintf("item %d:\n got %s\nwant %s", i, g, w)
		}
	}
	return "no difference"
}
