package transfer

import (
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Rule is one --include or --exclude pattern.
type Rule struct {
	Include bool
	Pattern string
	glob    glob
	abs     bool // the pattern starts with '/': it names absolute local paths, never a relative key
}

// Filter decides which keys take part in a transfer, the way aws-cli's --include and --exclude do. Rules are
// evaluated in order and the last one that matches wins; a key no rule matches is included. The same filter applies
// to both sides, so an excluded destination file is never deleted by --delete.
type Filter struct {
	rules  []Rule
	hasAbs bool // some rule starts with '/'
}

// NewFilter compiles rules. The syntax and the matching are those of Python's fnmatch, which aws-cli uses: a pattern
// is matched against the whole key relative to the root of the side being listed; '*' matches any run of characters,
// '/' included, so "*.tmp" matches "a/b/c.tmp"; '?' matches one character, '/' included; "[seq]" one character in
// seq and "[!seq]" one not in it, with "a-z" ranges; a '[' without a closing ']' is literal; every other character,
// '\' included, matches itself. '**' is the same as '*'. aws-cli joins a pattern with the root, which makes one that
// starts with '/' an absolute path: it never matches an S3 key, and matches a local file by its absolute path (see
// MatchLocal).
func NewFilter(rules []Rule) (*Filter, error) {
	f := &Filter{rules: make([]Rule, len(rules))}
	for i, r := range rules {
		if r.Pattern == "" {
			return nil, Usagef("empty --include/--exclude pattern")
		}
		abs := strings.HasPrefix(r.Pattern, "/")
		f.rules[i] = Rule{Include: r.Include, Pattern: r.Pattern, glob: compileGlob(r.Pattern), abs: abs}
		f.hasAbs = f.hasAbs || abs
	}
	return f, nil
}

// Match reports whether a key relative to the root of its side (an S3 key without the prefix, or a local path
// with '/' separators) takes part in the transfer. A directory key keeps its trailing '/': aws-cli never lists
// directories, and matching the key as stored means "logs/*" leaves out the logs/ marker with the files under it.
// Patterns that start with '/' are skipped: they match absolute local paths only (MatchLocal).
func (f *Filter) Match(key string) bool {
	return f.match(key, "")
}

// MatchLocal is Match for a local entry under root. It differs only for patterns that start with '/', which aws-cli
// matches against the file's absolute path (the absolute root, a '/', the key).
func (f *Filter) MatchLocal(root, key string) bool {
	if f == nil || !f.hasAbs {
		return f.Match(key)
	}
	// aws-cli makes the root absolute with os.path.abspath, which cleans it but does not resolve links; so does
	// filepath.Abs.
	abs, err := filepath.Abs(root)
	if err != nil {
		// Without a working directory a relative root has no absolute form, and no absolute pattern can match.
		return f.Match(key)
	}
	return f.match(key, strings.TrimSuffix(abs, "/")+"/"+key)
}

// match applies the rules to key, and the absolute patterns to absPath unless it is empty.
func (f *Filter) match(key, absPath string) bool {
	if f == nil || len(f.rules) == 0 {
		return true
	}
	included := true
	for i := range f.rules {
		r := &f.rules[i]
		s := key
		if r.abs {
			if absPath == "" {
				continue
			}
			s = absPath
		}
		if r.glob.match(s) {
			included = r.Include
		}
	}
	return included
}

// glob is a compiled fnmatch pattern: a sequence of tokens, each matching one character except gStar.
type glob []globToken

type globKind uint8

const (
	gLiteral globKind = iota // the character c
	gAny                     // '?': any one character
	gStar                    // '*': any run of characters
	gClass                   // "[...]": one character in (or, negated, not in) ranges
)

type globToken struct {
	kind    globKind
	c       rune
	negated bool
	ranges  []rune // pairs lo, hi; a pair with lo > hi matches nothing, as in Python
}

// decodeChar returns the character at s[i] and its width. A byte that is not valid UTF-8 becomes U+DC80-U+DCFF,
// the surrogate Python's surrogateescape gives it, so that a non-UTF-8 name counts one character per bad byte on
// both sides, as in aws-cli.
func decodeChar(s string, i int) (rune, int) {
	r, n := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && n <= 1 {
		return 0xDC00 | rune(s[i]), 1
	}
	return r, n
}

// compileGlob translates a pattern the way Python 3.11's fnmatch.translate does, token for token.
func compileGlob(p string) glob {
	var chars []rune
	for i := 0; i < len(p); {
		c, n := decodeChar(p, i)
		chars = append(chars, c)
		i += n
	}
	var g glob
	n := len(chars)
	for i := 0; i < n; {
		c := chars[i]
		i++
		switch c {
		case '*':
			// Consecutive stars are one star, which also makes '**' a synonym of '*'.
			if len(g) == 0 || g[len(g)-1].kind != gStar {
				g = append(g, globToken{kind: gStar})
			}
		case '?':
			g = append(g, globToken{kind: gAny})
		case '[':
			// The set runs to the next ']', except that a ']' right after "[" or "[!" belongs to the set.
			j := i
			if j < n && chars[j] == '!' {
				j++
			}
			if j < n && chars[j] == ']' {
				j++
			}
			for j < n && chars[j] != ']' {
				j++
			}
			if j >= n {
				g = append(g, globToken{kind: gLiteral, c: '['})
				continue
			}
			g = append(g, classToken(chars[i:j]))
			i = j + 1
		default:
			g = append(g, globToken{kind: gLiteral, c: c})
		}
	}
	return g
}

// classToken parses the inside of "[...]": an optional leading '!' negates; "x-y" is a range; a '-' first or last
// is itself, and so is one right after a range. A range whose ends are reversed matches nothing; Python drops such
// ranges, and a set left empty matches nothing, or, negated, any character.
func classToken(set []rune) globToken {
	t := globToken{kind: gClass}
	if len(set) > 0 && set[0] == '!' {
		t.negated = true
		set = set[1:]
	}
	for k := 0; k < len(set); {
		if k+2 < len(set) && set[k+1] == '-' {
			t.ranges = append(t.ranges, set[k], set[k+2])
			k += 3
			continue
		}
		t.ranges = append(t.ranges, set[k], set[k])
		k++
	}
	return t
}

// matches reports whether the one-character token t matches c.
func (t *globToken) matches(c rune) bool {
	switch t.kind {
	case gLiteral:
		return c == t.c
	case gAny:
		return true
	case gClass:
		in := false
		for k := 0; k+1 < len(t.ranges); k += 2 {
			if t.ranges[k] <= c && c <= t.ranges[k+1] {
				in = true
				break
			}
		}
		return in != t.negated
	}
	return false
}

// match reports whether g matches all of s. Every token but a star matches exactly one character, so on a mismatch
// it is enough to let the last star seen swallow one more character and retry from there: time O(len(g)*len(s)).
func (g glob) match(s string) bool {
	pi, si := 0, 0
	star, starSi := -1, 0
	for si < len(s) {
		c, n := decodeChar(s, si)
		if pi < len(g) {
			if g[pi].kind == gStar {
				star, starSi = pi, si
				pi++
				continue
			}
			if g[pi].matches(c) {
				pi++
				si += n
				continue
			}
		}
		if star < 0 {
			return false
		}
		_, w := decodeChar(s, starSi)
		starSi += w
		pi, si = star+1, starSi
	}
	for pi < len(g) && g[pi].kind == gStar {
		pi++
	}
	return pi == len(g)
}
