package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fsxsync/fsxsync/transfer"
)

// The values version and commit keep when no -ldflags set them.
const (
	unsetVersion = "dev"
	unsetCommit  = "unknown"
)

// resolveVersion returns the version and commit to print. The Makefile sets them with -ldflags; a binary built with
// `go install github.com/fsxsync/fsxsync/cmd/fsxsync@VERSION` or a plain `go build` has only what Go recorded in
// it: the module version, and in a git checkout the revision and whether the tree had uncommitted changes. info is
// nil when the binary carries no build information.
func resolveVersion(ldVersion, ldCommit string, info *debug.BuildInfo) (version, commit string) {
	version, commit = ldVersion, ldCommit
	if info == nil {
		return version, commit
	}
	// "(devel)" is what Go records for a build of the main module that knows no version; it says no more than "dev".
	if version == unsetVersion && info.Main.Version != "" && info.Main.Version != "(devel)" {
		version = info.Main.Version
	}
	if commit == unsetCommit {
		var revision string
		var modified bool
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if revision != "" {
			// Twelve hex digits, like Go's pseudo-versions: short to read, still unique in any real repository.
			commit = revision[:min(12, len(revision))]
			if modified {
				commit += "-dirty"
			}
		}
	}
	return version, commit
}

// buildVersion resolves this binary's version and commit.
func buildVersion() (string, string) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		info = nil
	}
	return resolveVersion(version, commit, info)
}

// appVersion is the version shown in `fsxsync --help`.
func appVersion() string {
	v, c := buildVersion()
	return v + " (commit " + c + ")"
}

// versionLine is the first line of `fsxsync version` and all of `fsxsync --version`.
func versionLine() string {
	return "fsxsync " + appVersion()
}

// goLine is the second line of `fsxsync version`: the Go release and the platform the binary was built for, which
// a bug report needs as much as the version.
func goLine() string {
	return "go " + strings.TrimPrefix(runtime.Version(), "go") + " " + runtime.GOOS + "/" + runtime.GOARCH
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print fsxsync's version and commit, and the Go release and platform it was built for",
		Description: `Prints two lines: the version and commit fsxsync was built from, then the Go release and the
operating system and architecture it was built for. A binary built with make has them from git; one
built with 'go install github.com/fsxsync/fsxsync/cmd/fsxsync@latest' has the module version, and
the commit when Go recorded one. Give both lines when reporting a problem.

EXAMPLES:
   fsxsync version
   fsxsync --version                     # the first line only
   srun -p compute fsxsync version       # the binary a job on queue compute really runs

` + exitCodes,
		OnUsageError: usageError,
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return transfer.Usagef("version takes no arguments (got %q)", c.Args().First())
			}
			fmt.Fprintln(c.App.Writer, versionLine())
			fmt.Fprintln(c.App.Writer, goLine())
			return nil
		},
	}
}
