package main

import (
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fsxsync/fsxsync/transfer"
)

// exitCodes is the exit-code table that ends every command's description. The help template adds the blank line
// before OPTIONS itself, so the table's own final newline is dropped to avoid a second one.
var exitCodes = strings.TrimSuffix(exitCodeHelp, "\n")

// filterHelp states the --include/--exclude rules in the descriptions of the commands that take them. They are
// aws-cli's, so that a filter written for aws s3 sync picks the same files here.
const filterHelp = `FILTERS (--include, --exclude; aws-cli's rules):
   Each PATTERN is matched against a file's whole path below the source or destination root, as
   aws-cli's fnmatch does: * (and **) matches any characters, '/' included; ? one character; [seq]
   and [!seq] one character in or not in seq. Files are included unless a rule says otherwise; rules
   apply in the order given and the last one that matches wins. The destination is filtered the same
   way, so --delete never deletes an excluded file. '*.tmp' leaves out .tmp files at any depth,
   'logs/*' everything under logs/, 'a.tmp' only the file at the root.
`

// appAction runs when no command was named. With no arguments it prints the help. A word that is not a command is
// bad input: one line naming the closest command and exit code 2, where the cli package would print "No help topic"
// and exit 1.
func appAction(c *cli.Context) error {
	if c.NArg() == 0 {
		return cli.ShowAppHelp(c)
	}
	return unknownCommand(c.App, c.Args().First())
}

// unknownCommand is the usage error for a word that is not a command.
func unknownCommand(app *cli.App, word string) error {
	var names []string
	for _, cmd := range app.VisibleCommands() {
		if cmd.Name != "help" {
			names = append(names, cmd.Name)
		}
	}
	if s := closest(word, names); s != "" {
		return transfer.Usagef("%q is not a command; did you mean %q? (see fsxsync --help)", word, s)
	}
	return transfer.Usagef("%q is not a command: give one of %s (see fsxsync --help)", word, strings.Join(names, ", "))
}

// flagSuggestion returns "; did you mean --NAME?" when err is the flag package's complaint about an undefined flag
// and one of the command's flags is close to the one given, else "". The flag package names the flag with a single
// dash whatever the user typed, so the suggestion is spelled out with the dashes the flag really takes.
func flagSuggestion(c *cli.Context, err error) string {
	const notDefined = "flag provided but not defined: -"
	msg := err.Error()
	if !strings.HasPrefix(msg, notDefined) || c.Command == nil {
		return ""
	}
	given := strings.TrimPrefix(msg, notDefined)
	// The suggestion is a flag's main name even when the word is closer to an alias (--dryrn: --dry-run).
	var names []string
	mainName := map[string]string{}
	for _, f := range c.Command.Flags {
		for _, n := range f.Names() {
			names = append(names, n)
			mainName[n] = f.Names()[0]
		}
	}
	s := closest(given, names)
	if s == "" {
		return ""
	}
	return "; did you mean " + dashed(mainName[s]) + "?"
}

// dashed spells a flag name the way it is typed: -r, --recursive.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// closest returns the name the word is most likely a misspelling or an abbreviation of, or "" when none is close
// enough to be worth suggesting: a wrong suggestion is worse than none. A word is close to a name when it is the
// start of that name alone, or when few enough single-letter edits (counting a swap of two neighbours as one)
// turn it into the name.
func closest(word string, names []string) string {
	if word == "" {
		return ""
	}
	var prefixOf []string
	for _, n := range names {
		if strings.HasPrefix(n, word) && n != word {
			prefixOf = append(prefixOf, n)
		}
	}
	if len(prefixOf) == 1 {
		return prefixOf[0]
	}
	best, bestDist := "", 0
	for _, n := range names {
		d := editDistance(word, n)
		if d <= maxEdits(n) && (best == "" || d < bestDist) {
			best, bestDist = n, d
		}
	}
	return best
}

// maxEdits is how many edits a word may be away from a name and still be suggested: one for short names, where two
// edits reach almost any other short name, and up to a third of the name for longer ones.
func maxEdits(name string) int {
	if len(name) <= 4 {
		return 1
	}
	return max(2, len(name)/3)
}

// editDistance is the optimal string alignment distance between a and b: insertions, deletions, substitutions and
// swaps of two neighbouring letters each count one. Command and flag names are ASCII, so it works on bytes.
func editDistance(a, b string) int {
	// d[i][j] is the distance between a[:i] and b[:j].
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// helpTopicError is the usage error for "fsxsync help WORD" when WORD is not a command. The cli package's help
// command answers that with exit 1 ("No help topic"); a mistyped topic is bad input like a mistyped command (exit 2),
// with the closest command named. It is checked before the app runs, so the cli package's help stays as it is.
func helpTopicError(app *cli.App, args []string) error {
	if len(args) < 3 || (args[1] != "help" && args[1] != "h") {
		return nil
	}
	topic := args[2]
	if topic == "help" || topic == "h" || strings.HasPrefix(topic, "-") || app.Command(topic) != nil {
		return nil
	}
	return unknownCommand(app, topic)
}
