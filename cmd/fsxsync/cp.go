package main

import (
	"github.com/urfave/cli/v2"

	"github.com/fsxsync/fsxsync/transfer"
)

func cpCommand(st *stopper) *cli.Command {
	rules := &ruleList{}
	flags := append([]cli.Flag{
		&cli.BoolFlag{Name: "recursive", Aliases: []string{"r"}, Usage: "copy a whole directory or prefix"},
	}, transferFlags(rules)...)
	return &cli.Command{
		Name:      "cp",
		Usage:     "copy a file or (with -r) a tree between a local path and S3, overwriting what is there",
		ArgsUsage: "SRC DST",
		Description: `One of SRC and DST is local, the other s3://bucket/key; data flows either way. Without -r SRC is one
file or object; a DST ending in '/' (or an existing directory) receives it under its own name. With
-r every file below SRC is copied, whether or not the destination already has it (sync skips
unchanged files).

EXAMPLES:
   # Stage a checkpoint out at the end of an sbatch job; the trailing '/' keeps its name
   fsxsync cp /fsx/$USER/run42/model.ckpt s3://my-bucket/ckpt/

   # Copy a prefix down with four array tasks, each copying its share of the files
   sbatch --array=0-3 --wrap 'fsxsync cp -r s3://my-bucket/inputs/ /fsx/$USER/inputs'

   # List what a tree copy would upload, without uploading
   fsxsync cp -r --dry-run /fsx/$USER/run42 s3://my-bucket/run42

` + filterHelp + `
` + exitCodes,
		Flags:        flags,
		OnUsageError: usageError,
		Action: func(c *cli.Context) error {
			o, err := prepare(c, st, rules)
			if err != nil {
				return err
			}
			o.recursive, o.compare = c.Bool("recursive"), transfer.CompareAlways
			return runTransfer(c.Context, o)
		},
	}
}
