package main

import (
	"github.com/urfave/cli/v2"

	"github.com/fsxsync/fsxsync/transfer"
)

// syncFlags are sync's own flags; check takes them too, so that any sync command line can be checked as it is.
func syncFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "delete", Usage: "delete files at the destination that the source does not have (never outside the destination prefix or directory)"},
		&cli.BoolFlag{Name: "size-only", Usage: "compare sizes only, not modification times"},
		&cli.BoolFlag{Name: "exact-timestamps", Usage: "transfer when modification times differ at all, not only when the source is newer"},
	}
}

func syncCommand(st *stopper) *cli.Command {
	rules := &ruleList{}
	flags := append(syncFlags(), transferFlags(rules)...)
	return &cli.Command{
		Name:      "sync",
		Usage:     "make DST like SRC: transfer what differs, skip the rest",
		ArgsUsage: "SRC DST",
		Description: `One of SRC and DST is a local directory, the other s3://bucket[/prefix] (the bucket may be an
access point's alias or ARN); data flows either way. A file is transferred when it is missing at the
destination, when its size differs, or when the source is newer (an object's mtime is the POSIX mtime
fsxsync or FSx stored in its metadata, else its LastModified). A destination file of the same size
that is newer than its source is left alone, in either direction. A second sync of an unchanged tree
transfers nothing, in either direction. Inside a Slurm array job each task takes its own share of the
files (see --shard).

EXAMPLES:
   # Stage results out at the end of an sbatch job
   fsxsync sync /fsx/$USER/run42/out s3://my-bucket/results/run42

   # Eight array tasks, each moving its share of the files: together they move every file once
   sbatch --array=0-7 --wrap 'fsxsync sync /fsx/$USER/out s3://my-bucket/out'

   # See what a mirror with deletes would do, without changing anything
   fsxsync sync --delete --dry-run s3://my-bucket/inputs /fsx/$USER/inputs

   # Only the checkpoints, not the logs
   fsxsync sync --exclude '*' --include 'ckpt/*' /fsx/$USER/run42 s3://my-bucket/run42

` + filterHelp + `
` + exitCodes,
		Flags:        flags,
		OnUsageError: usageError,
		Action: func(c *cli.Context) error {
			o, err := prepare(c, st, rules)
			if err != nil {
				return err
			}
			o.recursive, o.delete = true, c.Bool("delete")
			return runTransfer(c.Context, o)
		},
	}
}

// compareMode reads sync's compare flags (sync, plan and check take them).
func compareMode(c *cli.Context) (transfer.CompareMode, error) {
	switch {
	case c.Bool("size-only") && c.Bool("exact-timestamps"):
		return 0, transfer.Usagef("--size-only and --exact-timestamps contradict each other; give one")
	case c.Bool("size-only"):
		return transfer.CompareSize, nil
	case c.Bool("exact-timestamps"):
		return transfer.CompareExact, nil
	}
	return transfer.CompareNewer, nil
}
