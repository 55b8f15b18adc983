package transfer

import (
	"strings"
	"testing"
)

func TestFilter(t *testing.T) {
	type rule = Rule
	ex := func(p string) rule { return rule{Pattern: p} }
	in := func(p string) rule { return rule{Include: true, Pattern: p} }
	tests := []struct {
		name  string
		rules []rule
		key   string
		want  bool
	}{
		{"no rules", nil, "a/b.txt", true},
		{"star crosses slashes", []rule{ex("*.tmp")}, "a/b/c.tmp", false},
		{"star, no match", []rule{ex("*.tmp")}, "a/b/c.txt", true},
		{"no slash is not a base name", []rule{ex("c.tmp")}, "a/c.tmp", true},
		{"whole path", []rule{ex("a/c.tmp")}, "a/c.tmp", false},
		{"star after a directory crosses slashes", []rule{ex("a/*")}, "a/b/c", false},
		{"star must match the start", []rule{ex("a/*")}, "xa/b", true},
		{"double star is star", []rule{ex("**.tmp")}, "a/b.tmp", false},
		{"double star slash needs a slash", []rule{ex("**/c")}, "c", true},
		{"double star slash matches dirs", []rule{ex("**/c")}, "x/y/c", false},
		{"question mark", []rule{ex("run-?/out")}, "run-7/out", false},
		{"question mark is one char", []rule{ex("run-?/out")}, "run-17/out", true},
		{"question mark matches a slash", []rule{ex("a?b")}, "a/b", false},
		{"question mark is one rune", []rule{ex("?.txt")}, "é.txt", false},
		{"bad UTF-8 byte is one char", []rule{ex("?.txt")}, "\xff.txt", false},
		{"set", []rule{ex("[ab].txt")}, "b.txt", false},
		{"set, no match", []rule{ex("[ab].txt")}, "c.txt", true},
		{"negated set", []rule{ex("[!ab].txt")}, "c.txt", false},
		{"negated set, no match", []rule{ex("[!ab].txt")}, "a.txt", true},
		{"negated set matches a slash", []rule{ex("a[!b]c")}, "a/c", false},
		{"range", []rule{ex("run[0-9]")}, "run5", false},
		{"reversed range matches nothing", []rule{ex("x[z-a]")}, "xz", true},
		{"negated reversed range matches anything", []rule{ex("x[!z-a]")}, "xz", false},
		{"bracket first in a set is literal", []rule{ex("[]a]")}, "]", false},
		{"dash last in a set is literal", []rule{ex("[a-]")}, "-", false},
		{"caret is not negation", []rule{ex("[^a]")}, "^", false},
		{"unclosed bracket is literal", []rule{ex("a[b")}, "a[b", false},
		{"backslash is literal", []rule{ex(`a\*`)}, `a\b`, false},
		{"last match wins: include after exclude", []rule{ex("*"), in("*.dat")}, "a/x.dat", true},
		{"last match wins: exclude after include", []rule{in("*.dat"), ex("*")}, "a/x.dat", false},
		{"exclude all but a subtree", []rule{ex("*"), in("ckpt/*")}, "ckpt/1/model", true},
		{"exclude all but a subtree, other", []rule{ex("*"), in("ckpt/*")}, "logs/1", false},
		{"directory marker keeps its slash", []rule{ex("logs")}, "logs/", true},
		{"directory marker under a star", []rule{ex("logs/*")}, "logs/", false},
		{"regexp characters are literal", []rule{ex("a+b(1).txt")}, "a+b(1).txt", false},
		{"leading slash never matches a relative key", []rule{ex("/top.txt")}, "top.txt", true},
		{"leading slash star never matches a relative key", []rule{ex("/*")}, "top.txt", true},
		{"dot slash is literal", []rule{ex("./a")}, "a", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := NewFilter(tt.rules)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Match(tt.key); got != tt.want {
				t.Errorf("Match(%q) = %v, want %v", tt.key, got, tt.want)
			}
		})
	}
	if _, err := NewFilter([]Rule{{Pattern: ""}}); err == nil {
		t.Error("empty pattern accepted")
	}
}

func TestFilterMatchLocal(t *testing.T) {
	f, err := NewFilter([]Rule{{Pattern: "/data/run/*.tmp"}, {Pattern: "b"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		root, key string
		want      bool
	}{
		{"/data/run", "x/y.tmp", false},
		{"/data/run/", "y.tmp", false},
		{"/data/other", "y.tmp", true},
		{"/data/run", "b", false},
		{"/data/run/../run", "y.tmp", false}, // made absolute and cleaned, as os.path.abspath does
	} {
		if got := f.MatchLocal(tc.root, tc.key); got != tc.want {
			t.Errorf("MatchLocal(%q, %q) = %v, want %v", tc.root, tc.key, got, tc.want)
		}
	}
	if !f.Match("y.tmp") {
		t.Error("an absolute pattern matched a relative key")
	}
}

func FuzzFilter(f *testing.F) {
	f.Add("a/**/b*.tmp", "a/x/y/bz.tmp")
	f.Add("[", "[")
	f.Add("**", "")
	f.Add("[!z-a]x", "/x")
	f.Fuzz(func(t *testing.T, pattern, key string) {
		flt, err := NewFilter([]Rule{{Pattern: pattern}})
		if err != nil {
			return
		}
		got := flt.Match(key)
		// A pattern with no special character matches exactly itself, unless it is absolute.
		if !strings.ContainsAny(pattern, "*?[") && pattern[0] != '/' && got != (pattern != key) {
			t.Errorf("literal pattern %q, key %q: Match = %v", pattern, key, got)
		}
		// '*' matches everything, and doubling a star changes nothing.
		if star, _ := NewFilter([]Rule{{Pattern: "*"}}); star.Match(key) {
			t.Errorf("'*' does not exclude %q", key)
		}
		doubled, _ := NewFilter([]Rule{{Pattern: strings.ReplaceAll(pattern, "*", "**")}})
		if doubled.Match(key) != got {
			t.Errorf("pattern %q and its '**' form disagree on %q", pattern, key)
		}
	})
}
