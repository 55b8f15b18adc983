package main

import (
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// The hand-written documentation is README.md, a newcomer's page, and the pages under docs/ it links to. The flags
// are not in any of them: they live in the generated manual, docs/fsxsync.md, which TestDocsUpToDate checks. These
// tests keep the rest honest and need no server: go test -run Readme ./cmd/fsxsync/

// readmeMaxBytes is how large README.md may grow: what a newcomer reads before anything else. Reference material
// belongs in docs/.
const readmeMaxBytes = 16384

// TestReadmeSize fails when README.md outgrows a newcomer's page.
func TestReadmeSize(t *testing.T) {
	fi, err := os.Stat(filepath.Join(moduleRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > readmeMaxBytes {
		t.Errorf("README.md is %d bytes, more than %d: move reference material into a page under docs/ and link to it",
			fi.Size(), readmeMaxBytes)
	}
}

// TestReadmeLinks fails when a relative link in README.md or docs/*.md points to a file that does not exist, or
// its #anchor to a heading the target page does not have.
func TestReadmeLinks(t *testing.T) {
	root := moduleRoot(t)
	pages, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	pages = append([]string{filepath.Join(root, "README.md")}, pages...)
	anchors := map[string]map[string]bool{} // by absolute path of a markdown file
	anchorsOf := func(path string) (map[string]bool, error) {
		if a, ok := anchors[path]; ok {
			return a, nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		a := headingAnchors(string(b))
		anchors[path] = a
		return a, nil
	}
	checked := 0
	for _, page := range pages {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		name, _ := filepath.Rel(root, page)
		for _, l := range markdownLinks(string(b)) {
			if isExternal(l.target) {
				continue
			}
			checked++
			where := fmt.Sprintf("%s:%d: link %q", name, l.line, l.target)
			file, anchor, _ := strings.Cut(l.target, "#")
			if p, err := url.PathUnescape(file); err == nil {
				file = p
			}
			target := page
			if file != "" {
				target = filepath.Join(filepath.Dir(page), filepath.FromSlash(file))
			}
			if _, err := os.Stat(target); err != nil {
				t.Errorf("%s: %s does not exist", where, file)
				continue
			}
			if anchor == "" {
				continue
			}
			if !strings.HasSuffix(target, ".md") {
				t.Errorf("%s: an anchor into a file that is not markdown", where)
				continue
			}
			a, err := anchorsOf(target)
			if err != nil {
				t.Errorf("%s: %v", where, err)
				continue
			}
			if !a[strings.ToLower(anchor)] {
				t.Errorf("%s: %s has no heading #%s (it has: %s)", where, filepath.Base(target), anchor,
					strings.Join(slices.Sorted(maps.Keys(a)), ", "))
			}
		}
	}
	if checked == 0 {
		t.Fatal("found no relative links in README.md and docs/*.md; the link parser is broken")
	}
}

// TestReadmeExitCodes fails when README.md's exit-code table and the one --help prints list different codes.
func TestReadmeExitCodes(t *testing.T) {
	lines, first := readmeSection(t, "## Exit codes")
	var readme []string
	for _, l := range lines {
		if c := tableCells(l); strings.HasPrefix(l, "|") && len(c) > 1 && number.MatchString(c[0]) {
			readme = append(readme, c[0])
		}
	}
	var help []string
	for l := range strings.SplitSeq(strings.TrimPrefix(exitCodeHelp, "EXIT CODES:\n"), "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			help = append(help, f[0])
		}
	}
	if len(help) == 0 {
		t.Fatal("found no exit codes in exitCodeHelp")
	}
	if !slices.Equal(readme, help) {
		t.Errorf("README.md:%d: the exit codes table lists %v; --help lists %v", first, readme, help)
	}
}

// mdLink is one inline link of a markdown page.
type mdLink struct {
	target string
	line   int
}

var (
	number = regexp.MustCompile(`^[0-9]+$`)
	// inlineLink is [text](target) or ![alt](target), with an optional "title"; the text may span lines.
	inlineLink = regexp.MustCompile(`!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	// codeSpan is `code` (or ``code``) on one line; links inside are text, not links.
	codeSpan = regexp.MustCompile("(`+)[^`\n]+?(`+)")
	// scheme starts an absolute URL: https:, mailto:, ...
	scheme = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
)

// isExternal reports whether a link target leaves the repository.
func isExternal(target string) bool {
	return scheme.MatchString(target) || strings.HasPrefix(target, "//")
}

// proseLines returns a markdown page's lines with fenced code blocks blanked out (so line numbers stay) and the
// brackets and parentheses taken out of code spans, so that neither is read as a link or a heading.
func proseLines(md string) []string {
	lines := strings.Split(md, "\n")
	fence := ""
	for i, l := range lines {
		trimmed := strings.TrimLeft(l, " ")
		if fence == "" && (strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~")) {
			fence = trimmed[:3]
			lines[i] = ""
			continue
		}
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			lines[i] = ""
			continue
		}
		lines[i] = codeSpan.ReplaceAllStringFunc(l, func(s string) string {
			// Keep the code as text for anchors, but without anything a link could be made of.
			return strings.Map(func(r rune) rune {
				if strings.ContainsRune("[]()", r) {
					return -1
				}
				return r
			}, s)
		})
	}
	return lines
}

// markdownLinks returns the inline links of a markdown page, outside code.
func markdownLinks(md string) []mdLink {
	text := strings.Join(proseLines(md), "\n")
	var links []mdLink
	for _, m := range inlineLink.FindAllStringSubmatchIndex(text, -1) {
		// The line is where the target is, which is where a reader would look for it.
		links = append(links, mdLink{target: text[m[2]:m[3]], line: 1 + strings.Count(text[:m[2]], "\n")})
	}
	return links
}

// headingAnchors returns the anchors GitHub makes for a page's headings: the text lowercased, punctuation dropped,
// spaces turned into hyphens, a repeated anchor numbered (-1, -2, ...).
func headingAnchors(md string) map[string]bool {
	anchors := map[string]bool{}
	seen := map[string]int{}
	for _, l := range proseLines(md) {
		n := headingLevel(l)
		if n == 0 || n > 6 {
			continue
		}
		text := strings.TrimSpace(l[n:])
		text = strings.TrimSpace(strings.TrimRight(text, "#")) // a closing sequence: ## Title ##
		// A link in a heading keeps its text.
		text = inlineLink.ReplaceAllStringFunc(text, func(s string) string {
			return s[strings.Index(s, "[")+1 : strings.Index(s, "]")]
		})
		slug := slugify(text)
		if k := seen[slug]; k > 0 {
			seen[slug]++
			slug = fmt.Sprintf("%s-%d", slug, k)
		} else {
			seen[slug] = 1
		}
		anchors[slug] = true
	}
	return anchors
}

// slugify is GitHub's anchor for a heading's text.
func slugify(text string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-', r == '_', unicode.IsLetter(r), unicode.IsDigit(r), unicode.IsMark(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// readmeSection returns the lines of README.md's section with the given heading, up to the next heading of the
// same or a higher level (outside code blocks, where "# ..." is a comment), and the line number of the heading.
func readmeSection(t *testing.T, heading string) ([]string, int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(moduleRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	level := headingLevel(heading)
	start := slices.Index(lines, heading)
	if start < 0 {
		t.Fatalf("README.md has no %q section", heading)
	}
	inCode := false
	end := start + 1
	for ; end < len(lines); end++ {
		if strings.HasPrefix(lines[end], "```") {
			inCode = !inCode
		}
		if n := headingLevel(lines[end]); !inCode && n > 0 && n <= level {
			break
		}
	}
	return lines[start+1 : end], start + 1
}

// headingLevel is the number of #s a markdown heading starts with, or 0 for a line that is not a heading.
func headingLevel(line string) int {
	n := len(line) - len(strings.TrimLeft(line, "#"))
	if n == 0 || !strings.HasPrefix(line[n:], " ") {
		return 0
	}
	return n
}

// tableCells splits a markdown table row into its trimmed cells.
func tableCells(row string) []string {
	row = strings.TrimSpace(row)
	row = strings.TrimSuffix(strings.TrimPrefix(row, "|"), "|")
	cells := strings.Split(row, "|")
	for i := range cells {
		cells[i] = strings.TrimSpace(cells[i])
	}
	return cells
}
