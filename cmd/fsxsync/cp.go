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
		Description: `One of SRC and DST is local, the other s3://bucket/key. Without -r SRC is one file or object; a DST
ending in '/' (or an existing directory) receives it under its own name. With -r every file below SRC is copied,
whether or not the destination already has it (use sync to skip unchanged files).

EXAMPLES:
   fsxsync cp /fsx/$USER/model.ckpt s3://my-bucket/ckpt/
   fsxsync cp -r s3://my-bucket/inputs/ /fsx/$USER/inputs

` + exitCodeHelp,
		Flags:        flags,
		OnUsageError: usageError,
		Action: func(c *cli.Context) error {
			o, err := parseTransferOptions(c, rules)
			if err != nil {
				return err
			}
			st.attach(&o)
			st.watchSpot(c.Context, o.watchSpot)
			o.recursive = c.Bool("recursive")
			return runTransfer(c.Context, o, transfer.CompareAlways)
		},
	}
}
