package fsx

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The stand-in lfs in testdata/lfs answers from the recordings beside it; see its header and files.tsv for which
// path gets which recording.

const (
	mib = int64(1) << 20
	gib = int64(1) << 30
)

// standIn puts the stand-in lfs first on PATH with a private copy of its fixtures (it writes its restore state
// and invocation log there), emulating lfs of the given version ("2.15" or "2.16"). It returns the fixtures
// directory.
func standIn(t *testing.T, compat string) string {
	t.Helper()
	src, err := filepath.Abs(filepath.Join("testdata", "lfs"))
	if err != nil {
		t.Fatal(err)
	}
	fix := t.TempDir()
	if err := os.CopyFS(fix, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", src+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("FSXSYNC_LFS_FIXTURES", fix)
	t.Setenv("FSXSYNC_LFS_COMPAT", compat)
	return fix
}

// invocations returns the argument counts of the stand-in's runs of subcommand, in order.
func invocations(t *testing.T, fix, subcommand string) []int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fix, "invocations"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var counts []int
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var name string
		var n int
		if _, err := fmt.Sscanf(line, "%s %d", &name, &n); err != nil {
			t.Fatalf("invocation log line %q: %v", line, err)
		}
		if name == subcommand {
			counts = append(counts, n)
		}
	}
	return counts
}

// manyPaths returns n paths under dir, which files.tsv covers with one glob.
func manyPaths(dir string, n int) []string {
	paths := make([]string, n)
	for i := range paths {
		paths[i] = fmt.Sprintf("%s/f%05d", dir, i)
	}
	return paths
}

func TestGetStripe(t *testing.T) {
	tests := []struct {
		path string
		want Stripe
		ok   bool // whether the path is in the result
	}{
		{"/fsx/proj/small.dat", Stripe{Count: 1, Size: mib}, true},
		{"/fsx/proj/wide.dat", Stripe{Count: 4, Size: 4 * mib}, true},
		// PFL: lfs prints the last instantiated component.
		{"/fsx/proj/ckpt/model-00001-of-00004.safetensors", Stripe{Count: 8, Size: mib}, true},
		{"/fsx/proj/big.tar", Stripe{Count: 16, Size: 16 * mib}, true},
		{"/fsx/proj/odd/ünïcødé and  spaces.bin", Stripe{Count: 16, Size: 16 * mib}, true},
		{"/fsx/proj/nolayout.dat", Stripe{}, true},
		{"/fsx/proj/odd/key: value.txt", Stripe{Count: 1, Size: mib}, true},
		{"/fsx/proj/odd/line\nbreak.txt", Stripe{Count: 1, Size: mib}, true},
		{"-dash.dat", Stripe{Count: 1, Size: mib}, true},
		{"/fsx/proj/gone.dat", Stripe{}, false},
		{"/fsx/proj/new.dat", Stripe{Count: 1, Size: mib}, true},
		{"/fsx/proj/also-gone.dat", Stripe{}, false},
	}
	for _, compat := range []string{"2.15", "2.16"} {
		t.Run(compat, func(t *testing.T) {
			standIn(t, compat)
			var paths []string
			for _, tt := range tests {
				paths = append(paths, tt.path)
			}
			got, err := LFS{}.GetStripe(context.Background(), paths)
			if err != nil {
				t.Fatal(err)
			}
			for _, tt := range tests {
				s, ok := got[tt.path]
				if ok != tt.ok || s != tt.want {
					t.Errorf("%q: got %+v (present %v), want %+v (present %v)", tt.path, s, ok, tt.want, tt.ok)
				}
			}
			if len(got) != 10 {
				t.Errorf("got %d stripes, want 10: %v", len(got), got)
			}
		})
	}
}

func TestGetStripeBatches(t *testing.T) {
	fix := standIn(t, "2.15")
	paths := manyPaths("/fsx/many", 1100)
	got, err := LFS{}.GetStripe(context.Background(), paths)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(paths) {
		t.Fatalf("got %d stripes for %d paths", len(got), len(paths))
	}
	for _, p := range paths {
		if got[p] != (Stripe{Count: 1, Size: mib}) {
			t.Fatalf("%s: got %+v", p, got[p])
		}
	}
	// Each run has the options -c -S and at most 512 paths.
	runs := invocations(t, fix, "getstripe")
	if !slices.Equal(runs, []int{2 + 512, 2 + 512, 2 + 76}) {
		t.Errorf("getstripe runs (argument counts) = %v, want 3 runs of 512, 512 and 76 paths", runs)
	}
}

func TestHSMStates(t *testing.T) {
	archived := HSMState{Exists: true, Archived: true, ArchiveID: 1}
	released := HSMState{Exists: true, Archived: true, Released: true, ArchiveID: 1}
	tests := []struct {
		path string
		want HSMState
		ok   bool
	}{
		{"/fsx/proj/small.dat", archived, true},
		{"/fsx/proj/gone.dat", HSMState{}, false},
		{"/fsx/proj/odd/key: value.txt", released, true},
		// A name that looks like the start of another file's line.
		{"/fsx/proj/odd/x: (0x0000000d) released", archived, true},
		{"/fsx/proj/odd/line\nbreak.txt", HSMState{}, true},
		{"-dash.dat", archived, true},
		{"/fsx/proj/big.tar", HSMState{Exists: true, Dirty: true, Archived: true, ArchiveID: 1}, true},
		{"/fsx/proj/lost.dat", HSMState{Exists: true, Archived: true, Released: true, Lost: true, ArchiveID: 1}, true},
		{"/fsx/proj/pinned.dat", HSMState{Exists: true, Archived: true, NoRelease: true, ArchiveID: 2}, true},
		{"/fsx/proj/also-gone.dat", HSMState{}, false},
		{"/fsx/proj/new.dat", HSMState{}, true},
	}
	for _, compat := range []string{"2.15", "2.16"} {
		t.Run(compat, func(t *testing.T) {
			fix := standIn(t, compat)
			var paths []string
			for _, tt := range tests {
				paths = append(paths, tt.path, tt.path) // repeats are asked about once
			}
			got, err := LFS{}.HSMStates(context.Background(), paths)
			if err != nil {
				t.Fatal(err)
			}
			for _, tt := range tests {
				st, ok := got[tt.path]
				if ok != tt.ok || st != tt.want {
					t.Errorf("%q: got %+v (present %v), want %+v (present %v)", tt.path, st, ok, tt.want, tt.ok)
				}
			}
			// 2.15 stops at each missing file, so the rest is asked again after each of the two; 2.16 goes on.
			runs := invocations(t, fix, "hsm_state")
			want := map[string][]int{"2.15": {11, 9, 1}, "2.16": {11}}[compat]
			if !slices.Equal(runs, want) {
				t.Errorf("hsm_state runs (argument counts) = %v, want %v", runs, want)
			}
		})
	}
}

func TestHSMStatesBatches(t *testing.T) {
	fix := standIn(t, "2.15")
	paths := manyPaths("/fsx/many", 1100)
	got, err := LFS{}.HSMStates(context.Background(), paths)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(paths) {
		t.Fatalf("got %d states for %d paths", len(got), len(paths))
	}
	if runs := invocations(t, fix, "hsm_state"); !slices.Equal(runs, []int{512, 512, 76}) {
		t.Errorf("hsm_state runs (argument counts) = %v, want 512, 512, 76", runs)
	}
}

func TestNotLustre(t *testing.T) {
	for _, compat := range []string{"2.15", "2.16"} {
		t.Run(compat, func(t *testing.T) {
			standIn(t, compat)
			paths := []string{"/fsx/proj/small.dat", "/home/user/notes.txt"}
			if _, err := (LFS{}).GetStripe(context.Background(), paths); !errors.Is(err, ErrNotLustre) {
				t.Errorf("GetStripe: got %v, want ErrNotLustre", err)
			}
			if _, err := (LFS{}).HSMStates(context.Background(), paths); !errors.Is(err, ErrNotLustre) {
				t.Errorf("HSMStates: got %v, want ErrNotLustre", err)
			}
		})
	}
}

func TestNoLFS(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	ctx := context.Background()
	for _, l := range []LFS{{}, {Path: filepath.Join(t.TempDir(), "lfs")}} {
		if _, err := l.GetStripe(ctx, []string{"/fsx/a"}); !errors.Is(err, ErrNoLFS) {
			t.Errorf("%+v GetStripe: got %v, want ErrNoLFS", l, err)
		}
		if _, err := l.HSMStates(ctx, []string{"/fsx/a"}); !errors.Is(err, ErrNoLFS) {
			t.Errorf("%+v HSMStates: got %v, want ErrNoLFS", l, err)
		}
		if _, err := l.Restore(ctx, []string{"/fsx/a"}, time.Millisecond, time.Millisecond); !errors.Is(err, ErrNoLFS) {
			t.Errorf("%+v Restore: got %v, want ErrNoLFS", l, err)
		}
	}
}

// readRestored returns the paths the stand-in accepted restore requests for.
func readRestored(t *testing.T, fix string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fix, "restored"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func TestRestore(t *testing.T) {
	fix := standIn(t, "2.15")
	released := append([]string{
		"/fsx/proj/ckpt/model-00001-of-00004.safetensors",
		"/fsx/proj/odd/key: value.txt",
	}, manyPaths("/fsx/restore", 120)...)
	// Files that are not released, and one that does not exist, are not asked for.
	paths := append([]string{"/fsx/proj/small.dat", "/fsx/proj/gone.dat", "/fsx/proj/new.dat"}, released...)

	still, err := LFS{}.Restore(context.Background(), paths, 10*time.Millisecond, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(still) != 0 {
		t.Errorf("still released: %q", still)
	}
	requested := readRestored(t, fix)
	if !slices.Equal(requested, released) {
		t.Errorf("restore requested for %q, want %q", requested, released)
	}
	// hsm_restore takes at most 50 files a run, as larger requests do not fit the client's limit.
	if runs := invocations(t, fix, "hsm_restore"); !slices.Equal(runs, []int{50, 50, 22}) {
		t.Errorf("hsm_restore runs (argument counts) = %v, want 50, 50, 22", runs)
	}
	states, err := LFS{}.HSMStates(context.Background(), released)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range released {
		if st := states[p]; st.Released || !st.Archived {
			t.Errorf("%q after Restore: %+v", p, st)
		}
	}
}

func TestRestoreTimeout(t *testing.T) {
	fix := standIn(t, "2.15")
	const timeout = 300 * time.Millisecond
	paths := []string{"/fsx/proj/stuck.dat", "/fsx/restore/a", "/fsx/proj/small.dat"}
	start := time.Now()
	still, err := LFS{}.Restore(context.Background(), paths, 20*time.Millisecond, timeout)
	if err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed < timeout {
		t.Errorf("Restore returned after %v, before the %v timeout", elapsed, timeout)
	}
	if !slices.Equal(still, []string{"/fsx/proj/stuck.dat"}) {
		t.Errorf("still released: %q, want only /fsx/proj/stuck.dat", still)
	}
	if got := readRestored(t, fix); !slices.Equal(got, []string{"/fsx/proj/stuck.dat", "/fsx/restore/a"}) {
		t.Errorf("restore requested for %q", got)
	}
}

func TestRestoreUnrestorable(t *testing.T) {
	fix := standIn(t, "2.15")
	// A released file lost from the archive cannot come back: it is neither asked for (the coordinator would
	// refuse the whole request) nor waited for.
	paths := []string{"/fsx/proj/lost.dat", "/fsx/restore/a"}
	start := time.Now()
	still, err := LFS{}.Restore(context.Background(), paths, 10*time.Millisecond, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("Restore waited %v for a file that cannot be restored", elapsed)
	}
	if !slices.Equal(still, []string{"/fsx/proj/lost.dat"}) {
		t.Errorf("still released: %q, want only /fsx/proj/lost.dat", still)
	}
	if got := readRestored(t, fix); !slices.Equal(got, []string{"/fsx/restore/a"}) {
		t.Errorf("restore requested for %q", got)
	}
}

func TestRestoreCancel(t *testing.T) {
	fix := standIn(t, "2.15")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Cancel once the request is in, while Restore waits for a file that never comes back.
	go func() {
		for {
			if _, err := os.Stat(filepath.Join(fix, "restored")); err == nil {
				cancel()
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	still, err := LFS{}.Restore(ctx, []string{"/fsx/proj/stuck.dat"}, 20*time.Millisecond, time.Minute)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got error %v, want context.Canceled", err)
	}
	if !slices.Equal(still, []string{"/fsx/proj/stuck.dat"}) {
		t.Errorf("still released: %q", still)
	}
}

func TestParseHSMLine(t *testing.T) {
	tests := []struct {
		name string
		line string
		want HSMState
		ok   bool
	}{
		{"none", "/f: (0x00000000)\n", HSMState{}, true},
		{"released", "/f: (0x0000000d) released exists archived, archive_id:1\n",
			HSMState{Released: true, Exists: true, Archived: true, ArchiveID: 1}, true},
		{"all flags", "/f: (0x0000007f) released exists dirty archived never_release never_archive lost_from_hsm, archive_id:3\n",
			HSMState{Released: true, Exists: true, Dirty: true, Archived: true, NoRelease: true, NoArchive: true, Lost: true, ArchiveID: 3}, true},
		{"man page spacing", "/f: (0x0000000b) exists dirty archived, archive_id: 1\n",
			HSMState{Exists: true, Dirty: true, Archived: true, ArchiveID: 1}, true},
		{"future flag", "/f: (0x00000109) exists archived compressed, archive_id:1\n",
			HSMState{Exists: true, Archived: true, ArchiveID: 1}, true},
		{"last line without newline", "/f: (0x00000001) exists", HSMState{Exists: true}, true},
		{"words disagree with mask", "/f: (0x00000009) released exists archived\n", HSMState{}, false},
		{"another path", "/f2: (0x00000000)\n", HSMState{}, false},
		{"longer name", "/f: (0x00000000): (0x00000009) exists archived\n", HSMState{}, false},
		{"bad mask", "/f: (0xzz)\n", HSMState{}, false},
		{"bad archive id", "/f: (0x00000009) exists archived, archive_id:x\n", HSMState{}, false},
	}
	for _, tt := range tests {
		got, _, ok := parseHSMLine(tt.line, "/f")
		if ok != tt.ok || got != tt.want {
			t.Errorf("%s: got %+v, %v; want %+v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseStripes(t *testing.T) {
	tests := []struct {
		name string
		out  string
		args []string
		want []Stripe
	}{
		{"plain", "lmm_stripe_count:  1\nlmm_stripe_size:   1048576\n\n", []string{"/a"},
			[]Stripe{{1, mib}}},
		{"composite", "      lmm_stripe_count:  32\n      lmm_stripe_size:   1048576\n\n", []string{"/a"},
			[]Stripe{{32, mib}}},
		{"no layout then plain",
			"/a has no stripe info\nlmm_stripe_count:  2\nlmm_stripe_size:   4194304\n\n", []string{"/a", "/b"},
			[]Stripe{{}, {2, 4 * mib}}},
		{"directory default", "stripe_count:  1 stripe_size:   1048576\n\n", []string{"/d"},
			[]Stripe{{1, mib}}},
		{"count only", "lmm_stripe_count:  4\n\n", []string{"/a"}, []Stripe{{4, 0}}},
		{"nothing", "", []string{"/a"}, nil},
	}
	for _, tt := range tests {
		got, err := parseStripes([]byte(tt.out), tt.args)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
	if _, err := parseStripes([]byte("lmm_stripe_count:  many\n\n"), []string{"/a"}); err == nil {
		t.Error("a stripe count that is not a number: no error")
	}
}

func TestPartSizeFor(t *testing.T) {
	tests := []struct {
		stripe Stripe
		min    int64
		want   int64
	}{
		{Stripe{Count: 1, Size: mib}, 5 * mib, 5 * mib},
		{Stripe{Count: 1, Size: mib}, 16 * mib, 16 * mib},
		{Stripe{Count: 4, Size: 4 * mib}, 5 * mib, 8 * mib},
		{Stripe{Count: 4, Size: 4 * mib}, 16 * mib, 16 * mib},
		{Stripe{Count: 16, Size: 16 * mib}, 5 * mib, 16 * mib},
		{Stripe{Count: 16, Size: 16 * mib}, 16 * mib, 16 * mib},
		{Stripe{Count: 8, Size: 3 * mib}, 16 * mib, 18 * mib},
		{Stripe{}, 5 * mib, 5 * mib},
		{Stripe{}, 16 * mib, 16 * mib},
		// Two 4 GiB stripes would pass S3's 5 GiB part limit.
		{Stripe{Count: 2, Size: 4 * gib}, 4*gib + mib, 4*gib + mib},
	}
	for _, tt := range tests {
		if got := PartSizeFor(tt.stripe, tt.min); got != tt.want {
			t.Errorf("PartSizeFor(%+v, %d MiB) = %d MiB, want %d MiB", tt.stripe, tt.min/mib, got/mib, tt.want/mib)
		}
	}
}

func TestLFSBatches(t *testing.T) {
	long := strings.Repeat("x", 100<<10) // 100 KiB a path: five fit under the argument byte limit
	tests := []struct {
		name  string
		paths []string
		max   int
		want  []int
	}{
		{"empty", nil, 512, nil},
		{"counts", manyPaths("/fsx", 1100), 512, []int{512, 512, 76}},
		{"restore", manyPaths("/fsx", 101), 50, []int{50, 50, 1}},
		{"bytes", slices.Repeat([]string{long}, 12), 512, []int{5, 5, 2}},
	}
	for _, tt := range tests {
		var got []int
		for _, b := range lfsBatches(tt.paths, tt.max) {
			got = append(got, len(b))
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: batch sizes %v, want %v", tt.name, got, tt.want)
		}
	}
}
