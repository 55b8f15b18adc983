package main

import (
	"time"

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

// arrayFlags say how the tasks of a Slurm array running sync share one listing; sync and check take them.
func arrayFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "array-dir", Usage: "in a Slurm array or multi-task step, where the tasks meet to list both sides once for all of them: a `DIR` every task sees (default: .fsxsync-arrays beside the local directory)", EnvVars: []string{"FSXSYNC_ARRAY_DIR"}},
		&cli.BoolFlag{Name: "no-array-plan", Usage: "in a Slurm array or multi-task step, let every task list both sides in full and keep its share of the keys, instead of one task listing for all"},
		&cli.DurationFlag{Name: "array-lock-stale", Value: transfer.DefaultArrayLockStale, Usage: "in a Slurm array or multi-task step, how long the planning task's lock may go without a heartbeat (it beats four times in that time) before another task plans instead", EnvVars: []string{"FSXSYNC_ARRAY_LOCK_STALE"}},
	}
}

func syncCommand(st *stopper) *cli.Command {
	rules := &ruleList{}
	flags := append(append(syncFlags(), arrayFlags()...), transferFlags(rules)...)
	return &cli.Command{
		Name:      "sync",
		Usage:     "make DST like SRC: transfer what differs, skip the rest",
		ArgsUsage: "SRC DST",
		Description: `One of SRC and DST is a local directory, the other s3://bucket[/prefix] (the bucket may be an
access point's alias or ARN); data flows either way. A file is transferred when it is missing at the
destination, when its size differs, or when the source is newer (an object's mtime is the POSIX mtime
fsxsync or FSx stored in its metadata, else its LastModified). A destination file of the same size
that is newer than its source is left alone, in either direction. A second sync of an unchanged tree
transfers nothing, in either direction. Inside a Slurm array job (or a multi-task srun step) the first
task to start lists both sides for all of them into a manifest under --array-dir, the others wait for
it, and each task then moves its own shard of the files, journalled so that a requeued task resumes
(--no-array-plan: every task lists everything and keeps its share; see --shard).

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
			o.arrayPlan = !c.Bool("no-array-plan")
			o.arrayDir, o.arrayLockStale = c.String("array-dir"), c.Duration("array-lock-stale")
			if o.arrayLockStale < time.Second {
				return transfer.Usagef("--array-lock-stale %v: give at least 1s (a shared file system may take that long to show a heartbeat)", o.arrayLockStale)
			}
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
