package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fsxsync/fsxsync/transfer"
)

// completionShells are the shells `fsxsync completion` writes a script for.
var completionShells = []string{"bash", "zsh", "fish"}

// bashCompletion asks fsxsync itself what can come next: the cli package answers a command line ending in
// --generate-bash-completion with the commands, or with the flags when the word being completed starts with "-".
// It differs from the cli package's bash_autocomplete in three ways. The word being completed is passed as a lone
// "-", because the cli package turns completion off for a line containing "--", which a half-typed long flag is. It
// runs the words as they are instead of through eval, so nothing on the line is executed. And it adds a space after
// a completed word: every command and flag is a whole word, and paths fall back to the shell's own completion.
const bashCompletion = `# bash completion for fsxsync; load it with: source <(fsxsync completion bash)

_fsxsync_complete() {
  local cur words cword
  # bash-completion's helper keeps "s3://bucket" and "--flag=value" whole; without it, split as bash does.
  if declare -F _get_comp_words_by_ref >/dev/null 2>&1; then
    _get_comp_words_by_ref -n =: cur words cword
  else
    cur="${COMP_WORDS[COMP_CWORD]}"
    words=("${COMP_WORDS[@]}")
    cword=$COMP_CWORD
  fi
  local -a line=("${words[@]:0:cword}")
  local opts
  if [[ "$cur" == -* ]]; then
    opts=$("${line[@]}" - --generate-bash-completion 2>/dev/null)
  else
    opts=$("${line[@]}" --generate-bash-completion 2>/dev/null)
  fi
  COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  return 0
}

complete -o bashdefault -o default -F _fsxsync_complete fsxsync
`

// zshCompletion is the zsh counterpart of bashCompletion, after the cli package's zsh_autocomplete. It works both
// sourced and installed as _fsxsync in a directory of $fpath.
const zshCompletion = `#compdef fsxsync
# zsh completion for fsxsync; load it with: source <(fsxsync completion zsh)
# or install it as _fsxsync in a directory of $fpath.

_fsxsync() {
  local -a opts line
  local cur=${words[CURRENT]}
  line=("${(@)words[1,CURRENT-1]}")
  if [[ "$cur" == -* ]]; then
    opts=("${(@f)$("${line[@]}" - --generate-bash-completion 2>/dev/null)}")
  else
    opts=("${(@f)$("${line[@]}" --generate-bash-completion 2>/dev/null)}")
  fi
  if [[ -n "${opts[1]}" ]]; then
    _describe 'values' opts
  else
    _files
  fi
}

if [[ "${funcstack[1]}" == "_fsxsync" ]]; then
  _fsxsync "$@"
else
  compdef _fsxsync fsxsync
fi
`

// fishCompletion asks fsxsync the same way. It is used instead of the cli package's ToFishCompletion, whose static
// list writes a long alias as a short option (-s dryrun), repeats --help and --version, forbids a file after every
// flag that takes a value (--report FILE), and goes stale when fsxsync is upgraded and the script is not.
const fishCompletion = `# fish completion for fsxsync; install it with:
#   fsxsync completion fish > ~/.config/fish/completions/fsxsync.fish

function __fsxsync_complete
    set -l line (commandline -opc)
    if string match -q -- '-*' (commandline -ct)
        command $line - --generate-bash-completion 2>/dev/null
    else
        command $line --generate-bash-completion 2>/dev/null
    end
end

# Before the command only commands and flags; after it, paths too.
complete -c fsxsync -n __fish_use_subcommand -f -a '(__fsxsync_complete)'
complete -c fsxsync -n 'not __fish_use_subcommand' -a '(__fsxsync_complete)'
`

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a script that completes fsxsync's commands and flags in bash, zsh or fish",
		ArgsUsage: strings.Join(completionShells, "|"),
		Description: `Prints a completion script for the shell named. Loaded into the shell, it completes commands and
their flags when you press TAB (fsxsync sy<TAB> gives sync, fsxsync sync --del<TAB> gives --delete),
and paths as the shell always does.

EXAMPLES:
   # bash: this shell, then every new one (the second needs the bash-completion package)
   source <(fsxsync completion bash)
   fsxsync completion bash > ~/.local/share/bash-completion/completions/fsxsync

   # zsh: a directory of $fpath, before compinit runs in ~/.zshrc
   fsxsync completion zsh > ~/.zfunc/_fsxsync

   # fish
   fsxsync completion fish > ~/.config/fish/completions/fsxsync.fish

` + exitCodes,
		OnUsageError: usageError,
		BashComplete: func(c *cli.Context) {
			for _, s := range completionShells {
				fmt.Fprintln(c.App.Writer, s)
			}
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return transfer.Usagef("completion needs one argument, the shell: %s", strings.Join(completionShells, ", "))
			}
			script, err := completionScript(c.Args().First())
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(c.App.Writer, script)
			return err
		},
	}
}

// completionScript returns the completion script for the named shell.
func completionScript(shell string) (string, error) {
	switch shell {
	case "bash":
		return bashCompletion, nil
	case "zsh":
		return zshCompletion, nil
	case "fish":
		return fishCompletion, nil
	}
	return "", transfer.Usagef("completion: no script for %q: give one of %s", shell, strings.Join(completionShells, ", "))
}

// withFlagCompletion makes each command complete its flags when the word being completed starts with "-", and
// nothing otherwise. The cli package would offer the command's "help" subcommand instead of nothing, and nothing is
// better: the shell then completes a path, which is what the arguments of fsxsync's commands are.
func withFlagCompletion(cmds ...*cli.Command) []*cli.Command {
	for _, cmd := range cmds {
		if cmd.BashComplete != nil {
			continue
		}
		complete := cli.DefaultCompleteWithFlags(cmd)
		cmd.BashComplete = func(c *cli.Context) {
			// The cli package reads the word being completed from os.Args as well: it is the one before the
			// --generate-bash-completion at the end.
			if n := len(os.Args); n > 2 && strings.HasPrefix(os.Args[n-2], "-") {
				complete(c)
			}
		}
	}
	return cmds
}
