package s3store

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/fsxsync/fsxsync/transfer"
)

func page(keys ...string) []transfer.ObjectInfo {
	out := make([]transfer.ObjectInfo, len(keys))
	for i, k := range keys {
		out[i] = transfer.ObjectInfo{Key: k}
	}
	return out
}

// Numbered keys count in base ten and hashes in base sixteen, so that a step measured on the first page lands
// rangeKeys keys further on.
func TestKeySpaceStep(t *testing.T) {
	var numbered, hashes []string
	for i := range 1000 {
		numbered = append(numbered, fmt.Sprintf("p/out-%06d", i))
		hashes = append(hashes, fmt.Sprintf("h/%04x", i*16))
	}
	for _, c := range []struct {
		keys []string
		want string
	}{
		{numbered, fmt.Sprintf("p/out-%06d", 999+rangeKeys)},
		{hashes, fmt.Sprintf("h/%04x", (999+rangeKeys)*16)},
	} {
		ks := newKeySpace(c.keys[0][:2], page(c.keys...))
		var n big.Int
		if got := ks.key(n.Add(ks.value(c.keys[999]), ks.step)); got != c.want {
			t.Errorf("%s + step = %s, want %s", c.keys[999], got, c.want)
		}
	}
	if ks := newKeySpace("p/", page("p/a", "p/a")); ks != nil {
		t.Error("a page whose keys have one number gave a model")
	}
}

// Keys numbered by the model come back as themselves and in order, and any key's number is between the numbers of
// its neighbours, so that boundaries always increase.
func TestKeySpaceOrder(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	chars := []byte("-./09AZaf_gz~\x7f\xc3\xa9")
	for range 200 {
		var keys []string
		for range 2 + rnd.IntN(50) {
			b := []byte("x/")
			for range rnd.IntN(8) {
				b = append(b, chars[rnd.IntN(len(chars))])
			}
			keys = append(keys, string(b))
		}
		slices.Sort(keys)
		keys = slices.Compact(keys)
		ks := newKeySpace("x/", page(keys...))
		if ks == nil {
			continue
		}
		for i := 1; i < len(keys); i++ {
			if ks.value(keys[i-1]).Cmp(ks.value(keys[i])) > 0 {
				t.Fatalf("value(%q) > value(%q)", keys[i-1], keys[i])
			}
		}
		var n big.Int
		prev := ""
		for range 100 {
			n.Add(&n, big.NewInt(rnd.Int64N(1000)+1))
			if !ks.below(&n) {
				break
			}
			k := ks.key(&n)
			if k <= prev || ks.value(k).Cmp(&n) != 0 {
				t.Fatalf("key(%v) = %q after %q, value %v", &n, k, prev, ks.value(k))
			}
			prev = k
		}
	}
}

// The step follows the density the ranges find: shrunk in proportion for a range that held too many keys, doubled
// for one that held few (not for an empty one, a gap), and never past 64 times the first page's step.
func TestKeySpaceAdapt(t *testing.T) {
	var keys []string
	for i := range 1000 {
		keys = append(keys, fmt.Sprintf("p/%06d", i))
	}
	ks := newKeySpace("p/", page(keys...))
	first := ks.step.Int64()
	if ks.adapt(4 * rangeKeys); ks.step.Int64() != first/4 {
		t.Errorf("after a range of 4x the keys: step %v, want %d", ks.step, first/4)
	}
	if ks.adapt(0); ks.step.Int64() != first/4 {
		t.Errorf("an empty range changed the step to %v", ks.step)
	}
	for range 20 {
		ks.adapt(1)
	}
	if got := ks.step.Int64(); got != 64*first {
		t.Errorf("after many sparse ranges: step %d, want %d", got, 64*first)
	}
}
