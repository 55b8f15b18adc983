package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
)

// transferCommands is what "transfer" in the commands column of README.md's flag table stands for; the sentence
// above the table says the same.
var transferCommands = []string{"cp", "sync", "check", "plan", "run"}

// readmeFlag is one row of README.md's flag table.
type readmeFlag struct {
	line     int      // in README.md, for messages
	names    []string // as written: --dry-run, --dryrun, -r
	commands []string // with "transfer" expanded
	def      string   // the default column, without backticks
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

var (
	backticked = regexp.MustCompile("`([^`]*)`")
	number     = regexp.MustCompile(`^[0-9]+$`)
)

// readmeFlags parses every table of README.md's "### Flags" section whose header is flag | commands | default |
// meaning.
func readmeFlags(t *testing.T) []readmeFlag {
	t.Helper()
	lines, first := readmeSection(t, "### Flags")
	var flags []readmeFlag
	inTable := false
	for i, l := range lines {
		if !strings.HasPrefix(strings.TrimSpace(l), "|") {
			inTable = false
			continue
		}
		cells := tableCells(l)
		if !inTable {
			inTable = slices.Equal(cells, []string{"flag", "commands", "default", "meaning"})
			if !inTable {
				t.Fatalf("README.md:%d: a table in ### Flags with the header %q; want flag | commands | default | meaning", first+1+i, l)
			}
			continue
		}
		if strings.Trim(strings.Join(cells, ""), "-: ") == "" {
			continue // the |---| line
		}
		f := readmeFlag{line: first + 1 + i, def: strings.Trim(cells[2], "`")}
		// `--exclude PATTERN`: the name is the first word; what follows names the value.
		for _, m := range backticked.FindAllStringSubmatch(cells[0], -1) {
			f.names = append(f.names, strings.Fields(m[1])[0])
		}
		for _, c := range strings.Split(cells[1], ",") {
			c = strings.TrimSpace(c)
			if c == "transfer" {
				f.commands = append(f.commands, transferCommands...)
			} else {
				f.commands = append(f.commands, c)
			}
		}
		if len(f.names) == 0 {
			t.Errorf("README.md:%d: no flag in the first column (write it in backticks): %s", f.line, l)
			continue
		}
		flags = append(flags, f)
	}
	if len(flags) == 0 {
		t.Fatal("README.md's ### Flags section has no flag | commands | default | meaning table")
	}
	return flags
}

// spellings are a flag's names as typed, sorted: --dry-run --dryrun, --recursive -r.
func spellings(f cli.Flag) []string {
	var s []string
	for _, n := range f.Names() {
		s = append(s, dashed(n))
	}
	sort.Strings(s)
	return s
}

// codeDefault is a flag's default as README.md writes it: "off" for a switch, "" when there is none. A required
// flag has none: its zero value is never used.
func codeDefault(f cli.Flag) string {
	if rf, ok := f.(cli.RequiredFlag); ok && rf.IsRequired() {
		return ""
	}
	df, ok := f.(cli.DocGenerationFlag)
	if !ok || !df.TakesValue() {
		return "off"
	}
	return df.GetValue()
}

// sameDefault compares a default from the code with README.md's: durations by value (README.md writes 30m for
// 30m0s); a flag without a default in the code leaves README.md free to say where the value comes from instead
// (from Slurm, user cache dir).
func sameDefault(f cli.Flag, code, readme string) bool {
	if code == "" {
		return true
	}
	if _, ok := f.(*cli.DurationFlag); ok {
		want, err1 := time.ParseDuration(code)
		got, err2 := time.ParseDuration(readme)
		return err1 == nil && err2 == nil && want == got
	}
	return code == readme
}

// TestReadmeFlags fails when README.md's flag table and the commands' flags differ: a flag missing from the table
// or listed for a command that does not have it, a flag in the table that no command has, other spellings, or
// another default.
func TestReadmeFlags(t *testing.T) {
	rows := readmeFlags(t)
	byName := map[string]readmeFlag{}
	for _, r := range rows {
		for _, n := range r.names {
			if prev, dup := byName[n]; dup {
				t.Errorf("README.md:%d: %s has a row already, at line %d", r.line, n, prev.line)
			}
			byName[n] = r
		}
	}
	// Each flag once, with the commands that have it, in the order --help lists them.
	app := newApp(nil)
	type codeFlag struct {
		flag     cli.Flag
		commands []string
	}
	var order []string
	code := map[string]*codeFlag{} // by main name, dashed
	known := map[string]bool{}     // every spelling any command has
	for _, cmd := range app.Commands {
		for _, f := range cmd.Flags {
			main := dashed(f.Names()[0])
			if code[main] == nil {
				code[main] = &codeFlag{flag: f}
				order = append(order, main)
			} else if first, d := codeDefault(code[main].flag), codeDefault(f); d != first {
				t.Errorf("%s defaults to %q in %s but %q in %s; README.md's table has one default per flag",
					main, first, code[main].commands[0], d, cmd.Name)
			}
			code[main].commands = append(code[main].commands, cmd.Name)
			for _, n := range spellings(f) {
				known[n] = true
			}
		}
	}
	for _, main := range order {
		f, commands := code[main].flag, code[main].commands
		names := spellings(f)
		r, ok := byName[main]
		if !ok {
			column := strings.Join(commands, ", ")
			if slices.Equal(commands, transferCommands) {
				column = "transfer"
			}
			t.Errorf("README.md ### Flags: %s (of %s) is missing; add a row: | `%s` | %s | %s | ... |",
				main, strings.Join(commands, ", "), strings.Join(names, "`, `"), column, codeDefault(f))
			continue
		}
		if got := slices.Sorted(slices.Values(r.names)); !slices.Equal(got, names) {
			t.Errorf("README.md:%d: %s is written %v; the code spells it %v", r.line, main, got, names)
		}
		for _, c := range commands {
			if !slices.Contains(r.commands, c) {
				t.Errorf("README.md:%d: %s does not list %s among its commands, but %s has it", r.line, main, c, c)
			}
		}
		if d := codeDefault(f); !sameDefault(f, d, r.def) {
			t.Errorf("README.md:%d: %s defaults to %q in the README, %q in the code", r.line, main, r.def, d)
		}
	}
	for _, r := range rows {
		name := r.names[0]
		for _, n := range r.names {
			if strings.HasPrefix(n, "--") {
				name = n // Messages name a flag by its long name, as the code does.
				break
			}
		}
		if !slices.ContainsFunc(r.names, func(n string) bool { return known[n] }) {
			t.Errorf("README.md:%d: %s is in the README but no command has it", r.line, name)
			continue
		}
		for _, c := range r.commands {
			cmd := app.Command(c)
			if cmd == nil {
				t.Errorf("README.md:%d: %s lists %q, which is not a command", r.line, name, c)
				continue
			}
			if !slices.ContainsFunc(cmd.Flags, func(f cli.Flag) bool { return slices.Contains(spellings(f), name) }) {
				t.Errorf("README.md:%d: %s is listed for %s, but %s has no such flag", r.line, name, c, c)
			}
		}
	}
}

// TestReadmeExitCodes fails when README.md's exit-code table and the one --help prints list different codes.
func TestReadmeExitCodes(t *testing.T) {
	lines, first := readmeSection(t, "### Exit codes")
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
	if !slices.Equal(readme, help) {
		t.Errorf("README.md:%d: the exit codes table lists %v; --help lists %v", first, readme, help)
	}
}
