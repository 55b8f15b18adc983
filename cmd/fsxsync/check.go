package main

import (
	"github.com/urfave/cli/v2"

	"github.com/fsxsync/fsxsync/transfer"
)

func checkCommand() *cli.Command {
	rules := &ruleList{}
	flags := append([]cli.Flag{
		&cli.BoolFlag{Name: "recursive", Aliases: []string{"r"}, Usage: "check a tree copy (cp -r); sync always is one"},
		&cli.BoolFlag{Name: "cp", Usage: "check a cp rather than a sync (cp reads no destination metadata)"},
	}, append(append(syncFlags(), arrayFlags()...), transferFlags(rules)...)...)
	return &cli.Command{
		Name:      "check",
		Usage:     "prove, without moving data, that a transfer would be allowed: identity, permissions, bucket, local paths",
		ArgsUsage: "SRC DST",
		Description: `Runs the preflight that cp and sync run before the first byte moves, and prints it as a table: every
S3 permission the transfer needs (derived from the direction and the flags), how it was proven
(simulated with iam:SimulatePrincipalPolicy where the caller may, probed with requests that touch no
user data), and the result. It takes the arguments and flags of sync, or of cp with --cp. Run it
inside a job (srun fsxsync check ...) to test the role the job's node has.

EXAMPLES:
   # May jobs on queue compute write the results?
   srun -p compute fsxsync check /fsx/$USER/out s3://my-bucket/results/

   # May this node mirror the inputs, deletes included?
   fsxsync check --delete s3://my-bucket/inputs /fsx/$USER/inputs

   # May it copy one file up?
   fsxsync check --cp /fsx/$USER/model.ckpt s3://my-bucket/ckpt/

` + exitCodes,
		Flags:        flags,
		OnUsageError: usageError,
		Action: func(c *cli.Context) error {
			o, err := prepare(c, nil, rules)
			if err != nil {
				return err
			}
			o.recursive = !c.Bool("cp") || c.Bool("recursive")
			o.delete = c.Bool("delete")
			if c.Bool("cp") {
				o.compare = transfer.CompareAlways
			}
			return runCheck(c.Context, o)
		},
	}
}
