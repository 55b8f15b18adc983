package transfer

import (
	"regexp"
	"strings"
)

// Rule is one --include or --exclude pattern.
type Rule struct {
	Include bool
	Pattern string
	re      *regexp.Regexp
	base    bool // the pattern has no '/': it matches the base name at any depth
}

// Filter decides which keys take part in a transfer. Rules are evaluated in order and the last one that matches
// wins; a key no rule matches is included. The same filter applies to both sides, so an excluded destination file
// is never deleted by --delete.
type Filter struct{ rules []Rule }

// NewFilter compiles rules. Pattern syntax: '*' matches any run of characters within one path segment, '?' one
// character within a segment, '**' any run including '/', so "**/" matches zero or more directories. A pattern with
// no '/' matches the base name at any depth ("*.tmp"); one with a '/' matches the whole path relative to the root
// ("logs/**", "run-?/out.dat"). Every other character matches itself.
func NewFilter(rules []Rule) (*Filter, error) {
	f := &Filter{rules: make([]Rule, len(rules))}
	for i, r := range rules {
		if r.Pattern == "" {
			return nil, Usagef("empty --include/--exclude pattern")
		}
		p := strings.TrimPrefix(r.Pattern, "/")
		re, err := regexp.Compile("^" + globToRegexp(p) + "$")
		if err != nil {
			return nil, Usagef("bad pattern %q: %v", r.Pattern, err)
		}
		f.rules[i] = Rule{Include: r.Include, Pattern: r.Pattern, re: re, base: !strings.Contains(p, "/")}
	}
	return f, nil
}

// globToRegexp translates the glob syntax described at NewFilter.
func globToRegexp(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '*' && i+1 < len(p) && p[i+1] == '*':
			i++
			if i+1 < len(p) && p[i+1] == '/' {
				i++
				b.WriteString("(?:.*/)?")
			} else {
				b.WriteString(".*")
			}
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			// One byte, not string(c): that would turn a byte of a non-UTF-8 name into a different character.
			b.WriteString(regexp.QuoteMeta(p[i : i+1]))
		}
	}
	return b.String()
}

// Match reports whether a relative key takes part in the transfer. Directory keys are matched without their
// trailing '/'.
func (f *Filter) Match(key string) bool {
	if f == nil || len(f.rules) == 0 {
		return true
	}
	key = strings.TrimSuffix(key, "/")
	base := key
	if i := strings.LastIndexByte(key, '/'); i >= 0 {
		base = key[i+1:]
	}
	included := true
	for i := range f.rules {
		r := &f.rules[i]
		s := key
		if r.base {
			s = base
		}
		if r.re.MatchString(s) {
			included = r.Include
		}
	}
	return included
}
