package fsx

import (
	"errors"
	"path"
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

// TestCleanKey pins the mapping of keys to the local paths aws-cli gives them (aws s3 sync and aws s3 cp --recursive,
// observed with aws-cli 2.9.19 against gofakes3): empty and "." segments are dropped, ".." removes the segment
// before it, and keys that would leave the destination or name a directory are refused.
func TestCleanKey(t *testing.T) {
	long := strings.Repeat("x", 300)
	tests := []struct {
		key, want string // want empty: refused
		reason    string // a part of the refusal's reason
	}{
		{"a/b/c.txt", "a/b/c.txt", ""},
		{"dir/", "dir/", ""},
		{`..\x`, `..\x`, ""},
		{"a/..b/c../...", "a/..b/c../...", ""},
		{"x/../ok2", "ok2", ""},
		{"a//b", "a/b", ""},
		{"o///p", "o/p", ""},
		{"./x", "x", ""},
		{"/x", "x", ""},
		{"//x", "x", ""},
		{"e/./f", "e/f", ""},
		{"g/h/../i", "g/i", ""},
		{"a/b/../../c", "c", ""},
		{"q/./", "q/", ""},
		{"r//", "r/", ""},
		{"/dir/", "dir/", ""},
		{"a/../b/", "b/", ""},
		{"../x", "", ReasonEscapes},
		{"a/../../x", "", ReasonEscapes},
		{"m/../../p/n", "", ReasonEscapes},
		{"/../x", "", ReasonEscapes},
		{"../", "", ReasonEscapes},
		{"..", "", "names a directory"},
		{".", "", "names a directory"},
		{"k/..", "", "names a directory"},
		{"l/.", "", "names a directory"},
		{"/", "", "destination itself"},
		{"./", "", "destination itself"},
		{"s/../", "", "destination itself"},
		{"//", "", "destination itself"},
		{"", "", "empty key"},
		{"a\x00b", "", "NUL"},
		{"a/" + long, "", "longer than 255"},
		{"a//" + long, "", "longer than 255"},
	}
	for _, tt := range tests {
		got, err := CleanKey(tt.key)
		if tt.want == "" {
			var uerr *UnsafeKeyError
			if !errors.As(err, &uerr) || uerr.Key != tt.key || !strings.Contains(uerr.Reason, tt.reason) {
				t.Errorf("CleanKey(%q) = %q, %v; want an *UnsafeKeyError saying %q", tt.key, got, err, tt.reason)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("CleanKey(%q) = %q, %v; want %q", tt.key, got, err, tt.want)
		}
		if canon := IsCanonicalKey(tt.key); canon != (got == tt.key) {
			t.Errorf("IsCanonicalKey(%q) = %v, but CleanKey gives %q", tt.key, canon, got)
		}
	}
	if _, err := CleanKey("../x"); err == nil || err.Error() != `unsafe key "../x": escapes the destination` {
		t.Errorf("CleanKey(\"../x\") error = %v", err)
	}
}

// FuzzCleanKey checks CleanKey against the model of what aws-cli does (join the key to the destination and clean
// the path): a key it accepts lands where the model puts it, inside the destination; the clean key is canonical,
// maps to itself, and LocalPath accepts it; a canonical key maps to itself; a key refused as escaping really would
// leave the destination.
func FuzzCleanKey(f *testing.F) {
	for _, key := range []string{"a/b", "dir/", "x/../ok2", "a//b", "./x", "/x", "../x", "a/../../x", "k/..", "l/.",
		"q/./", "s/../", "a\x00b", "日本//x", strings.Repeat("z", 256)} {
		f.Add(key)
	}
	f.Fuzz(func(t *testing.T, key string) {
		clean, err := CleanKey(key)
		const root = "/srv/fsx"
		model := path.Clean(root + "/" + key) // what aws-cli's join and normpath give
		if err != nil {
			var uerr *UnsafeKeyError
			if !errors.As(err, &uerr) {
				t.Fatalf("CleanKey(%q): error %v is not an *UnsafeKeyError", key, err)
			}
			if uerr.Reason == ReasonEscapes && strings.HasPrefix(model, root+"/") {
				t.Fatalf("CleanKey(%q) says it escapes, but it cleans to %q", key, model)
			}
			if IsCanonicalKey(key) {
				t.Fatalf("IsCanonicalKey(%q) but CleanKey refuses it: %v", key, err)
			}
			return
		}
		if want := strings.TrimPrefix(model, root+"/"); strings.TrimSuffix(clean, "/") != want || !strings.HasPrefix(model, root+"/") {
			t.Fatalf("CleanKey(%q) = %q; the cleaned path is %q", key, clean, model)
		}
		if strings.HasSuffix(clean, "/") != strings.HasSuffix(key, "/") {
			t.Fatalf("CleanKey(%q) = %q: a directory marker must stay one, and only it", key, clean)
		}
		if again, err := CleanKey(clean); err != nil || again != clean || !IsCanonicalKey(clean) {
			t.Fatalf("CleanKey(%q) = %q, which is not canonical: %q, %v", key, clean, again, err)
		}
		if IsCanonicalKey(key) != (clean == key) {
			t.Fatalf("IsCanonicalKey(%q) = %v, but CleanKey gives %q", key, IsCanonicalKey(key), clean)
		}
		p, err := LocalPath(root, clean)
		if err != nil || p != root+"/"+strings.TrimSuffix(clean, "/") {
			t.Fatalf("LocalPath(%q) = %q, %v", clean, p, err)
		}
	})
}
