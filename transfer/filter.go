package transfer

import (
	"path/filepath"
	"slices"
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
			g = append(g, classToken(chars, i, j))
			i = j + 1
		default:
			g = append(g, globToken{kind: gLiteral, c: c})
		}
	}
	return g
}

// classToken is the token for the set chars[i:j] (what lies between "[" and its "]"), read exactly as Python 3.11
// reads it: fnmatch.translate turns the set into a regular-expression set, and Python's re parses that. Both steps
// have quirks a filter must share with aws-cli's, which no simpler reading reproduces: translate drops a reversed
// range by merging its two neighbours, which can bring a '!' to the front and negate the set ("[b--!x]"), and it
// escapes every '-' that is not between two chunks.
func classToken(chars []rune, i, j int) globToken {
	stuff := translateSet(chars, i, j)
	switch {
	case len(stuff) == 0:
		// translate's "(?!)": never matches.
		return globToken{kind: gClass}
	case len(stuff) == 1 && stuff[0] == '!':
		return globToken{kind: gAny}
	}
	switch stuff[0] {
	case '!':
		stuff = append([]rune{'^'}, stuff[1:]...)
	case '^', '[':
		stuff = append([]rune{'\\'}, stuff...)
	}
	return parseReSet(append(stuff, ']'))
}

// translateSet is the body of the regular-expression set that fnmatch.translate makes of chars[i:j], with its
// backslash escapes.
func translateSet(chars []rune, i, j int) []rune {
	escape := func(rs []rune, also rune) []rune {
		var out []rune
		for _, r := range rs {
			if r == '\\' || r == also {
				out = append(out, '\\')
			}
			out = append(out, r)
		}
		return out
	}
	var stuff []rune
	if !slices.Contains(chars[i:j], '-') {
		stuff = escape(chars[i:j], '\\')
	} else {
		// Chunks are the text between the '-'s that make ranges: a '-' right after the start (or after "!") and
		// the character after a range's '-' cannot start another range.
		var chunks [][]rune
		k := i + 1
		if chars[i] == '!' {
			k = i + 2
		}
		for {
			k = indexFrom(chars, '-', k, j)
			if k < 0 {
				break
			}
			chunks = append(chunks, chars[i:k])
			i = k + 1
			k += 3
		}
		if i < j {
			chunks = append(chunks, chars[i:j])
		} else {
			last := len(chunks) - 1
			chunks[last] = append(slices.Clone(chunks[last]), '-')
		}
		// A reversed range is removed: the chunk before it loses its last character, the one after its first,
		// and the two become one.
		for k := len(chunks) - 1; k > 0; k-- {
			prev := chunks[k-1]
			if prev[len(prev)-1] > chunks[k][0] {
				chunks[k-1] = append(slices.Clone(prev[:len(prev)-1]), chunks[k][1:]...)
				chunks = slices.Delete(chunks, k, k+1)
			}
		}
		for n, c := range chunks {
			if n > 0 {
				stuff = append(stuff, '-')
			}
			stuff = append(stuff, escape(c, '-')...)
		}
	}
	// Set operations (&&, ~~, ||) are escaped.
	var out []rune
	for _, r := range stuff {
		if r == '&' || r == '~' || r == '|' {
			out = append(out, '\\')
		}
		out = append(out, r)
	}
	return out
}

// indexFrom is Python's str.find(c, from, to) on runes: the first index of c in s[from:to], or -1.
func indexFrom(s []rune, c rune, from, to int) int {
	for k := from; k < to && k < len(s); k++ {
		if s[k] == c {
			return k
		}
	}
	return -1
}

// parseReSet reads a regular-expression set after its "[", up to and including its "]", as Python's re does: a
// leading '^' negates; a ']' ends the set unless it is the first member; a backslash makes the next character
// literal (translateSet escapes nothing else); "a-b" is a range, and a '-' before the closing ']' is itself.
func parseReSet(set []rune) globToken {
	t := globToken{kind: gClass}
	pos := 0
	get := func() rune {
		r := set[pos]
		pos++
		if r == '\\' && pos < len(set) {
			r = set[pos]
			pos++
		}
		return r
	}
	if set[0] == '^' {
		t.negated = true
		pos++
	}
	for pos < len(set) {
		closing := set[pos] == ']'
		lo := get()
		if closing && len(t.ranges) > 0 {
			break
		}
		if pos < len(set) && set[pos] == '-' {
			pos++
			if set[pos] == ']' {
				t.ranges = append(t.ranges, lo, lo, '-', '-')
				break
			}
			hi := get()
			t.ranges = append(t.ranges, lo, hi)
			continue
		}
		t.ranges = append(t.ranges, lo, lo)
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
