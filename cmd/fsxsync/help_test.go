package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// helpVersion stands in for the version in the help goldens, which must not change with every commit.
const helpVersion = "VERSION (commit COMMIT)"

// renderHelp runs `fsxsync ARGS...` in process, the way realMain does, and returns what it printed on stdout.
func renderHelp(t *testing.T, args ...string) string {
	t.Helper()
	app := newApp(nil)
	app.Version = helpVersion
	var out, errOut bytes.Buffer
	app.Writer, app.ErrWriter = &out, &errOut
	if err := app.RunContext(context.Background(), permuteArgs(app, append([]string{"fsxsync"}, args...))); err != nil {
		t.Fatalf("fsxsync %s: %v", strings.Join(args, " "), err)
	}
	if errOut.Len() > 0 {
		t.Errorf("fsxsync %s wrote to stderr: %s", strings.Join(args, " "), errOut.String())
	}
	return out.String()
}

// commandNames are the commands a user can run, without the cli package's help command.
func commandNames() []string {
	var names []string
	for _, cmd := range newApp(nil).Commands {
		if !cmd.Hidden {
			names = append(names, cmd.Name)
		}
	}
	return names
}

// TestHelpGolden compares `fsxsync --help` and `fsxsync CMD --help` for every command with testdata/help, so that
// every change to what a user reads is seen in review. -update rewrites the files (`make docs` does).
func TestHelpGolden(t *testing.T) {
	dir := filepath.Join("testdata", "help")
	want := map[string]bool{}
	check := func(name string, args ...string) {
		path := filepath.Join(dir, name+".txt")
		want[path] = true
		checkGenerated(t, path, []byte(renderHelp(t, args...)), "make docs")
	}
	check("fsxsync", "--help")
	for _, name := range commandNames() {
		check(name, name, "--help")
	}
	// A golden without a command is left over from a removed or renamed one.
	files, _ := filepath.Glob(filepath.Join(dir, "*.txt"))
	for _, f := range files {
		if want[f] {
			continue
		}
		if *update {
			if err := os.Remove(f); err != nil {
				t.Error(err)
			}
			continue
		}
		t.Errorf("%s belongs to no command: run make docs", f)
	}
}

// TestHelpTeaches checks what every command's help must contain, whatever its wording: a one-line purpose, the
// usage line, every flag with its default, examples, and the exit codes.
func TestHelpTeaches(t *testing.T) {
	app := newApp(nil)
	for _, cmd := range app.Commands {
		t.Run(cmd.Name, func(t *testing.T) {
			help := renderHelp(t, cmd.Name, "--help")
			if cmd.Usage == "" || strings.Contains(cmd.Usage, "\n") {
				t.Errorf("Usage %q: give a one-line purpose", cmd.Usage)
			}
			if !strings.Contains(help, "USAGE:\n   fsxsync "+cmd.Name) {
				t.Errorf("no usage line:\n%s", help)
			}
			if n := len(exampleLines(help)); n < 2 {
				t.Errorf("%d command lines in EXAMPLES; give 2 or 3 real examples:\n%s", n, help)
			}
			for code := range strings.SplitSeq(strings.TrimPrefix(exitCodeHelp, "EXIT CODES:\n"), "\n") {
				if code != "" && !strings.Contains(help, code) {
					t.Errorf("the exit code table lacks %q", code)
				}
			}
			for _, f := range cmd.Flags {
				checkFlagHelp(t, help, f)
			}
		})
	}
	help := renderHelp(t, "--help")
	for _, want := range []string{"EXAMPLES:", "EXIT CODES:", "version", "completion"} {
		if !strings.Contains(help, want) {
			t.Errorf("fsxsync --help lacks %q:\n%s", want, help)
		}
	}
}

// exampleLines are the command lines under EXAMPLES in a help text: the lines up to the exit codes that are neither
// empty nor a comment.
func exampleLines(help string) []string {
	_, after, ok := strings.Cut(help, "EXAMPLES:")
	if !ok {
		return nil
	}
	examples, _, _ := strings.Cut(after, "EXIT CODES:")
	var lines []string
	for l := range strings.SplitSeq(examples, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return lines
}

// checkFlagHelp checks that a flag has a line in the help, naming all its spellings, with its default.
func checkFlagHelp(t *testing.T, help string, f cli.Flag) {
	t.Helper()
	var spellings []string
	for _, n := range f.Names() {
		spellings = append(spellings, dashed(n))
	}
	if vf, ok := f.(cli.VisibleFlag); ok && !vf.IsVisible() {
		// A hidden flag is another tool's name for a listed one (aws-cli's --force-glacier-transfer), kept out of the
		// OPTIONS column, which its length would widen; the listed flag's text must name it.
		if !strings.Contains(help, spellings[0]+" also works") {
			t.Errorf("the hidden flag %s is not named in the help", spellings[0])
		}
		return
	}
	var line string
	for l := range strings.SplitSeq(help, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), strings.Join(spellings, ", ")+" ") {
			line = l
			break
		}
	}
	if line == "" {
		t.Errorf("no line for %s in the help", strings.Join(spellings, ", "))
		return
	}
	df, ok := f.(cli.DocGenerationFlag)
	if !ok || !df.TakesValue() {
		return
	}
	if d := df.GetDefaultText(); d != "" && !strings.Contains(line, "(default: "+d+")") {
		t.Errorf("%s: the help does not show its default %s:\n%s", spellings[0], d, line)
	}
}

// TestHelpDryrunAlias checks that --dryrun, aws-cli's spelling, is the same flag as --dry-run for every command
// that has one.
func TestHelpDryrunAlias(t *testing.T) {
	for _, cmd := range newApp(nil).Commands {
		for _, f := range cmd.Flags {
			names := strings.Join(f.Names(), " ")
			if strings.Contains(names, "dry") && names != "dry-run dryrun" {
				t.Errorf("%s: flag %q; want dry-run with the alias dryrun", cmd.Name, names)
			}
		}
	}
	help := renderHelp(t, "sync", "--help")
	if !strings.Contains(help, "--dry-run, --dryrun") {
		t.Errorf("sync --help does not show --dryrun as an alias of --dry-run")
	}
}

// runFsxsync runs the real main (the test binary, installed as fsxsync on PATH by TestMain) and returns its
// stdout, stderr and exit code.
func runFsxsync(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command("fsxsync", args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("fsxsync %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), code
}

// TestSuggest checks that a misspelled command or flag is bad input like any other: exit code 2 and one line on
// stderr that names what was meant, not the whole help.
func TestSuggest(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // in the one line on stderr
	}{
		{[]string{"snyc"}, `"snyc" is not a command; did you mean "sync"?`},
		{[]string{"wohami"}, `did you mean "whoami"?`},
		{[]string{"stat"}, `did you mean "status"?`},
		{[]string{"frobnicate"}, `"frobnicate" is not a command: give one of cp, sync, check, whoami, plan, run, status, version, completion`},
		{[]string{"sync", "--delte", "src", "s3://bucket/x"}, "flag provided but not defined: -delte; did you mean --delete? (see fsxsync sync --help)"},
		{[]string{"sync", "src", "s3://bucket/x", "--dryrn"}, "did you mean --dry-run?"},
		{[]string{"cp", "--recursiv", "src", "s3://bucket/x"}, "did you mean --recursive?"},
		{[]string{"sync", "--no-such-flag", "src", "s3://bucket/x"}, "flag provided but not defined: -no-such-flag (see fsxsync sync --help)"},
		{[]string{"--verison"}, "did you mean --version? (see fsxsync --help)"},
		{[]string{"completion", "ksh"}, `no script for "ksh": give one of bash, zsh, fish`},
		{[]string{"version", "extra"}, "version takes no arguments"},
	} {
		stdout, stderr, code := runFsxsync(t, tc.args...)
		line := strings.TrimSuffix(stderr, "\n")
		if code != exitUsage || strings.Contains(line, "\n") || !strings.Contains(line, tc.want) || stdout != "" {
			t.Errorf("fsxsync %s: exit %d, stdout %q, stderr %q; want exit 2, nothing on stdout and one line containing %q",
				strings.Join(tc.args, " "), code, stdout, stderr, tc.want)
		}
	}
}

// TestSuggestClosest is the table test of the suggestion itself: close misspellings and unique abbreviations get a
// suggestion, anything else none.
func TestSuggestClosest(t *testing.T) {
	commands := commandNames()
	for _, tc := range []struct {
		word  string
		names []string
		want  string
	}{
		{"snyc", commands, "sync"},
		{"sycn", commands, "sync"},
		{"cpp", commands, "cp"},
		{"chek", commands, "check"},
		{"pln", commands, "plan"},
		{"comp", commands, "completion"},
		{"s", commands, ""},       // the start of sync and status: no guess
		{"xyz", commands, ""},     // nothing like it
		{"runn", commands, "run"}, // one letter too many
		{"ststus", commands, "status"},
		{"delte", []string{"delete", "dry-run", "dryrun"}, "delete"},
		{"dryrn", []string{"delete", "dry-run", "dryrun"}, "dryrun"},
		{"concurency", []string{"concurrency", "part-concurrency"}, "concurrency"},
		{"no-such-flag", []string{"no-shard", "no-preflight"}, ""},
	} {
		if got := closest(tc.word, tc.names); got != tc.want {
			t.Errorf("closest(%q) = %q, want %q", tc.word, got, tc.want)
		}
	}
}

// TestVersion checks `fsxsync version` and that `fsxsync --version` prints the same first line.
func TestVersion(t *testing.T) {
	stdout, stderr, code := runFsxsync(t, "version")
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if code != 0 || stderr != "" || len(lines) != 2 {
		t.Fatalf("fsxsync version: exit %d, stdout %q, stderr %q; want two lines", code, stdout, stderr)
	}
	if !strings.HasPrefix(lines[0], "fsxsync ") || !strings.Contains(lines[0], " (commit ") {
		t.Errorf("first line %q; want fsxsync VERSION (commit COMMIT)", lines[0])
	}
	if want := goLine(); lines[1] != want {
		t.Errorf("second line %q; want %q", lines[1], want)
	}
	short, _, code := runFsxsync(t, "--version")
	if code != 0 || short != lines[0]+"\n" {
		t.Errorf("fsxsync --version: exit %d, %q; want the first line of fsxsync version, %q", code, short, lines[0])
	}
}

// TestResolveVersion is the table test of where the version and commit come from: -ldflags first, else what Go
// recorded in the binary.
func TestResolveVersion(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev},
			{Key: "vcs.time", Value: "2026-11-27T18:07:32Z"}, {Key: "vcs.modified", Value: modified}}
	}
	const rev = "706fd45e4042cad5327f4df1b1d8d23881d72f71"
	for _, tc := range []struct {
		name                string
		ldVersion, ldCommit string
		info                *debug.BuildInfo
		version, commit     string
	}{
		{"make build", "v1.2.0-3-g706fd45", "706fd45", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "false")},
			"v1.2.0-3-g706fd45", "706fd45"},
		{"go install @version", "dev", "unknown", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.0"}},
			"v1.2.0", "unknown"},
		{"go build in a clean checkout", "dev", "unknown", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261127180732-706fd45e4042"}, Settings: vcs(rev, "false")},
			"v0.0.0-20261127180732-706fd45e4042", "706fd45e4042"},
		{"go build with changes", "dev", "unknown", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261127180732-706fd45e4042+dirty"}, Settings: vcs(rev, "true")},
			"v0.0.0-20261127180732-706fd45e4042+dirty", "706fd45e4042-dirty"},
		{"go build -buildvcs=false", "dev", "unknown", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}},
			"dev", "unknown"},
		{"no build information", "dev", "unknown", nil, "dev", "unknown"},
		{"ldflags set only the version", "v1.2.0", "unknown", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "false")},
			"v1.2.0", "706fd45e4042"},
		{"short revision", "dev", "unknown", &debug.BuildInfo{Settings: vcs("abc", "false")}, "dev", "abc"},
	} {
		version, commit := resolveVersion(tc.ldVersion, tc.ldCommit, tc.info)
		if version != tc.version || commit != tc.commit {
			t.Errorf("%s: got %q, %q; want %q, %q", tc.name, version, commit, tc.version, tc.commit)
		}
	}
}

// completions asks fsxsync what completes a command line, as the shell scripts do: the words typed so far, then
// --generate-bash-completion.
func completions(t *testing.T, words ...string) []string {
	t.Helper()
	stdout, stderr, code := runFsxsync(t, append(words, "--generate-bash-completion")...)
	if code != 0 {
		t.Fatalf("fsxsync %s --generate-bash-completion: exit %d, %s", strings.Join(words, " "), code, stderr)
	}
	lines := strings.Fields(stdout)
	sort.Strings(lines)
	return lines
}

// TestCompletionGenerate checks what the shell scripts are given: the commands, and each command's flags when the
// word being completed starts with "-" (the scripts pass a lone "-" then), also after the arguments.
func TestCompletionGenerate(t *testing.T) {
	got := completions(t)
	for _, name := range commandNames() {
		if !slices.Contains(got, name) {
			t.Errorf("fsxsync <TAB> offers %v, without %s", got, name)
		}
	}
	for _, cmd := range newApp(nil).Commands {
		if cmd.Name == "completion" {
			continue // It completes its argument, the shell.
		}
		want := []string{"--help", "-h"}
		for _, f := range cmd.Flags {
			// A hidden flag (aws-cli's --force-glacier-transfer) works but is not offered.
			if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() {
				continue
			}
			for _, n := range f.Names() {
				want = append(want, dashed(n))
			}
		}
		sort.Strings(want)
		if got := completions(t, cmd.Name, "-"); !slices.Equal(got, want) {
			t.Errorf("fsxsync %s -<TAB> offers %v; want %v", cmd.Name, got, want)
		}
		// Not a flag: nothing, so that the shell completes a path.
		if got := completions(t, cmd.Name); len(got) != 0 {
			t.Errorf("fsxsync %s <TAB> offers %v; want nothing (the shell then completes paths)", cmd.Name, got)
		}
	}
	// A flag already given is not offered again; flags after the arguments complete too.
	got = completions(t, "sync", "--delete", "src", "s3://bucket/x", "-")
	if slices.Contains(got, "--delete") || !slices.Contains(got, "--dry-run") {
		t.Errorf("fsxsync sync --delete src s3://bucket/x -<TAB> offers %v; want --dry-run and not --delete", got)
	}
	if got := completions(t, "completion"); !slices.Equal(got, []string{"bash", "fish", "zsh"}) {
		t.Errorf("fsxsync completion <TAB> offers %v; want bash, fish, zsh", got)
	}
}

// TestCompletionBash loads `fsxsync completion bash` into a real bash and completes command lines with it, as bash
// does on TAB: COMP_WORDS holds the words, COMP_CWORD the one being completed.
func TestCompletionBash(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatalf("the completion test needs bash: %v", err)
	}
	script := `source <(fsxsync completion bash) || exit 1
complete -p fsxsync >/dev/null || exit 1
try() {
  COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=()
  _fsxsync_complete
  echo "$*|${COMPREPLY[*]}"
}
try fsxsync sy
try fsxsync sync --del
try fsxsync sync --dr
try fsxsync sync src s3://bucket/x --dr
try fsxsync cp --recur
try fsxsync completion ''
`
	out, err := exec.Command(bash, "--norc", "--noprofile", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	want := `fsxsync sy|sync
fsxsync sync --del|--delete
fsxsync sync --dr|--dry-run --dryrun
fsxsync sync src s3://bucket/x --dr|--dry-run --dryrun
fsxsync cp --recur|--recursive
fsxsync completion |bash zsh fish
`
	if string(out) != want {
		t.Errorf("bash completion (words|completions):\n%s\nwant:\n%s", out, want)
	}
	// A half-typed long flag is a "--" on its own, which turns the cli package's completion off; the script must
	// still offer every flag.
	out, err = exec.Command(bash, "--norc", "--noprofile", "-c",
		`source <(fsxsync completion bash); COMP_WORDS=(fsxsync sync --); COMP_CWORD=2; _fsxsync_complete; echo "${COMPREPLY[*]}"`).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--delete") || !strings.Contains(string(out), "--exact-timestamps") {
		t.Errorf("fsxsync sync --<TAB> completes to %q (%v); want every long flag of sync", out, err)
	}
}

// TestCompletionScripts checks the scripts for the other shells, which CI has no shell to run: they call fsxsync
// back the way the bash script does and register themselves for fsxsync.
func TestCompletionScripts(t *testing.T) {
	for shell, wants := range map[string][]string{
		"zsh":  {"#compdef fsxsync", "compdef _fsxsync fsxsync", "--generate-bash-completion", "_files"},
		"fish": {"complete -c fsxsync", "--generate-bash-completion", "commandline -opc"},
		"bash": {"complete -o bashdefault -o default -F _fsxsync_complete fsxsync", "--generate-bash-completion"},
	} {
		stdout, stderr, code := runFsxsync(t, "completion", shell)
		if code != 0 || stderr != "" {
			t.Errorf("fsxsync completion %s: exit %d, %s", shell, code, stderr)
		}
		for _, want := range wants {
			if !strings.Contains(stdout, want) {
				t.Errorf("fsxsync completion %s lacks %q", shell, want)
			}
		}
	}
}
