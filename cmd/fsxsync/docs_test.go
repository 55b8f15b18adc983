package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// update rewrites the generated files the tests compare against (docs/ and testdata/help/) instead of comparing:
// `make docs`, or `go test ./cmd/fsxsync -run 'Docs|Help' -update`.
var update = flag.Bool("update", false, "rewrite docs/ and testdata/help/ from the command definitions")

// trailingBlanks are the spaces and tabs at the end of a line.
var trailingBlanks = regexp.MustCompile(`(?m)[ \t]+$`)

// TestDocsUpToDate checks that docs/fsxsync.md and docs/fsxsync.1 are what the command definitions generate, so the
// manual never drifts from --help. `make test` runs it, so CI fails when a flag or a description changed without
// `make docs`.
func TestDocsUpToDate(t *testing.T) {
	app := docsApp()
	md, err := app.ToMarkdown()
	if err != nil {
		t.Fatalf("markdown: %v", err)
	}
	// The cli package indents the blank lines of a code block too; trailing blanks would only show up as whitespace
	// errors in every diff, and a blank line continues an indented code block all the same.
	md = trailingBlanks.ReplaceAllString(md, "")
	// Section 1, user commands, where a command line tool's page belongs; ToMan would say section 8, system
	// administration.
	man, err := app.ToManWithSection(1)
	if err != nil {
		t.Fatalf("man page: %v", err)
	}
	dir := filepath.Join(moduleRoot(t), "docs")
	checkGenerated(t, filepath.Join(dir, "fsxsync.md"), []byte(md), "make docs")
	checkGenerated(t, filepath.Join(dir, "fsxsync.1"), []byte(man), "make docs")
}

// docsApp is the app as the manual shows it. The cli package's markdown leaves out a command's description, where
// fsxsync's examples and exit codes are, and would reflow the hand-wrapped text; so each command's usage line and
// description become its usage text, which the markdown keeps as a preformatted block, as --help prints it. Nothing
// in it depends on the version, the commit, the date or the environment.
func docsApp() *cli.App {
	app := newApp(nil)
	app.Description = preformatted(app.Description)
	for _, cmd := range app.Commands {
		usage := "fsxsync " + cmd.Name + " [command options]"
		if cmd.ArgsUsage != "" {
			usage += " " + cmd.ArgsUsage
		}
		cmd.UsageText = usage + "\n\n" + cmd.Description
	}
	return app
}

// preformatted indents every line by four spaces, which makes it a markdown code block kept as written.
func preformatted(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = "    " + l
		}
	}
	return strings.Join(lines, "\n")
}

// checkGenerated compares a generated file with the checked-in one, or with -update writes it. fix is the command
// that regenerates it, for the failure message.
func checkGenerated(t *testing.T, path string, got []byte, fix string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v: run %s", err, fix)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s is out of date with the command definitions: run %s\n%s", path, fix, firstDifference(want, got))
	}
}

// firstDifference shows the first line where the checked-in text and the generated one differ, with its
// neighbours, which is enough to see what changed without a diff tool.
func firstDifference(want, got []byte) string {
	w := strings.Split(string(want), "\n")
	g := strings.Split(string(got), "\n")
	i := 0
	for i < len(w) && i < len(g) && w[i] == g[i] {
		i++
	}
	var b strings.Builder
	fmt.Fprintf(&b, "first difference at line %d:\n", i+1)
	for _, side := range []struct {
		name  string
		lines []string
	}{{"checked in", w}, {"generated", g}} {
		fmt.Fprintf(&b, "  %s:\n", side.name)
		for j := max(0, i-1); j < min(len(side.lines), i+3); j++ {
			fmt.Fprintf(&b, "    %4d | %s\n", j+1, side.lines[j])
		}
	}
	return b.String()
}
