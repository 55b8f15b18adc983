package fsx

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestLocalPath(t *testing.T) {
	const root = "/srv/fsx"
	long := strings.Repeat("x", 300)
	name255 := strings.Repeat("y", 255)
	tests := []struct {
		name string
		key  string
		want string // empty when the key must be refused
	}{
		{"plain", "a/b/c.txt", "/srv/fsx/a/b/c.txt"},
		{"single", "file", "/srv/fsx/file"},
		{"dir marker", "dir/", "/srv/fsx/dir"},
		{"nested dir marker", "a/b/", "/srv/fsx/a/b"},
		{"backslash is a literal", `a\b`, `/srv/fsx/a\b`},
		{"backslash dot dot is a literal", `..\x`, `/srv/fsx/..\x`},
		{"unicode and spaces", "日本/my file é.txt", "/srv/fsx/日本/my file é.txt"},
		{"invalid utf-8", "a/\xff\xfe", "/srv/fsx/a/\xff\xfe"},
		{"dots inside names", "a/..b/c../...", "/srv/fsx/a/..b/c../..."},
		{"255-byte component", "a/" + name255, "/srv/fsx/a/" + name255},
		{"empty", "", ""},
		{"only slash", "/", ""},
		{"dot dot", "..", ""},
		{"dot dot slash", "../x", ""},
		{"dot dot escape in the middle", "a/../../x", ""},
		{"harmless dot dot", "a/../b", ""},
		{"dot dot marker", "a/../", ""},
		{"absolute", "/abs", ""},
		{"empty segment", "a//b", ""},
		{"double trailing slash", "a//", ""},
		{"dot prefix", "./a", ""},
		{"dot suffix", "a/.", ""},
		{"dot", ".", ""},
		{"dot marker", "./", ""},
		{"NUL", "a\x00b", ""},
		{"300-byte component", "a/" + long, ""},
		{"300-byte marker", long + "/", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LocalPath(root, tt.key)
			if tt.want == "" {
				var uerr *UnsafeKeyError
				if !errors.As(err, &uerr) {
					t.Fatalf("LocalPath(%q) = %q, %v; want an *UnsafeKeyError", tt.key, got, err)
				}
				if uerr.Key != tt.key || uerr.Reason == "" {
					t.Errorf("error = %+v; want Key %q and a reason", uerr, tt.key)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("LocalPath(%q) = %q, %v; want %q", tt.key, got, err, tt.want)
			}
		})
	}
}

func TestUnsafeKeyErrorMessage(t *testing.T) {
	_, err := LocalPath("/r", "../x")
	if got, want := err.Error(), `unsafe key "../x": ".." segment`; got != want {
		t.Errorf("Error() = %q; want %q", got, want)
	}
}

func TestLocalPathRoots(t *testing.T) {
	tests := []struct{ root, key, want string }{
		{"/", "a/b", "/a/b"},
		{".", "a", "a"},
		{"", "a", "a"},
		{"rel/root/", "x/", "rel/root/x"},
		{"/srv/../srv/fsx", "x", "/srv/fsx/x"},
	}
	for _, tt := range tests {
		got, err := LocalPath(tt.root, tt.key)
		if err != nil || got != tt.want {
			t.Errorf("LocalPath(%q, %q) = %q, %v; want %q", tt.root, tt.key, got, err, tt.want)
		}
	}
}

func TestKeyOf(t *testing.T) {
	tests := []struct{ rel, want string }{
		{"a", "a"},
		{filepath.Join("a", "b", "c"), "a/b/c"},
		{`a\b`, filepath.ToSlash(`a\b`)},
		{"日本/é f", "日本/é f"},
	}
	for _, tt := range tests {
		if got := KeyOf(tt.rel); got != tt.want {
			t.Errorf("KeyOf(%q) = %q; want %q", tt.rel, got, tt.want)
		}
	}
}

func FuzzLocalPath(f *testing.F) {
	for _, key := range []string{"a/b", "dir/", "../x", "a/../../x", "/abs", "a//b", "./a", "a/.", "a\x00b",
		`a\b`, "日本/my file", "\xff", strings.Repeat("z", 256)} {
		f.Add(key)
	}
	f.Fuzz(func(t *testing.T, key string) {
		for _, root := range []string{"/srv/fsx", "rel/root", "."} {
			p, err := LocalPath(root, key)
			if err != nil {
				var uerr *UnsafeKeyError
				if !errors.As(err, &uerr) {
					t.Fatalf("LocalPath(%q, %q): error %v is not an *UnsafeKeyError", root, key, err)
				}
				continue
			}
			rel, err := filepath.Rel(root, p)
			if err != nil {
				t.Fatalf("Rel(%q, %q): %v", root, p, err)
			}
			if rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
				t.Fatalf("LocalPath(%q, %q) = %q, not inside the root", root, key, p)
			}
			if got, want := KeyOf(rel), strings.TrimSuffix(key, "/"); got != want {
				t.Fatalf("LocalPath(%q, %q) = %q; KeyOf gives %q back, want %q", root, key, p, got, want)
			}
		}
	})
}
