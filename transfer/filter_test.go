package transfer

import "testing"

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
		{"base name at any depth", []rule{ex("*.tmp")}, "a/b/c.tmp", false},
		{"base name, no match", []rule{ex("*.tmp")}, "a/b/c.txt", true},
		{"star stays in a segment", []rule{ex("a/*")}, "a/b/c", true},
		{"star in a segment", []rule{ex("a/*")}, "a/b", false},
		{"double star crosses segments", []rule{ex("a/**")}, "a/b/c", false},
		{"double star slash matches zero dirs", []rule{ex("**/c")}, "c", false},
		{"double star slash matches dirs", []rule{ex("**/c")}, "x/y/c", false},
		{"question mark", []rule{ex("run-?/out")}, "run-7/out", false},
		{"question mark is one char", []rule{ex("run-?/out")}, "run-17/out", true},
		{"last match wins: include after exclude", []rule{ex("*"), in("*.dat")}, "a/x.dat", true},
		{"last match wins: exclude after include", []rule{in("*.dat"), ex("*")}, "a/x.dat", false},
		{"exclude all but a subtree", []rule{ex("*"), in("ckpt/**")}, "ckpt/1/model", true},
		{"exclude all but a subtree, other", []rule{ex("*"), in("ckpt/**")}, "logs/1", false},
		{"directory keys match without slash", []rule{ex("logs")}, "logs/", false},
		{"regexp characters are literal", []rule{ex("a+b(1).txt")}, "a+b(1).txt", false},
		{"leading slash anchors at the root", []rule{ex("/top.txt")}, "top.txt", false},
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

func FuzzFilter(f *testing.F) {
	f.Add("a/**/b*.tmp", "a/x/y/bz.tmp")
	f.Add("[", "[")
	f.Add("**", "")
	f.Fuzz(func(t *testing.T, pattern, key string) {
		flt, err := NewFilter([]Rule{{Pattern: pattern}})
		if err != nil {
			return
		}
		flt.Match(key) // must not panic
		if pattern == key && pattern != "" && !containsAny(pattern, "*?") && pattern[0] != '/' && pattern[len(pattern)-1] != '/' {
			if flt.Match(key) {
				t.Errorf("literal pattern %q does not exclude itself", pattern)
			}
		}
	})
}

func containsAny(s, chars string) bool {
	for i := 0; i < len(s); i++ {
		for j := 0; j < len(chars); j++ {
			if s[i] == chars[j] {
				return true
			}
		}
	}
	return false
}
