package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/fsxsync/fsxsync/transfer"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:         "status",
		Usage:        "summarise a manifest's progress across its shards, from their journals",
		ArgsUsage:    "DIR",
		OnUsageError: usageError,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return transfer.Usagef("status needs exactly one argument, the manifest directory (got %d)", c.NArg())
			}
			h, shards, err := transfer.ManifestStatus(c.Args().First())
			if err != nil {
				return err
			}
			w := c.App.Writer
			fmt.Fprintf(w, "%s -> %s, planned %s, %d shards\n", h.Source, h.Destination, h.Created.Format("2006-01-02 15:04:05 MST"), h.Shards)
			tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SHARD\tITEMS\tBYTES\tDONE\tSKIPPED\tFAILED\tPENDING\tLAST ERROR")
			var tot transfer.ShardStatus
			for _, s := range shards {
				fmt.Fprintf(tw, "%d\t%d\t%s\t%d\t%d\t%d\t%d\t%s\n", s.Shard, s.Items, transfer.HumanBytes(s.Bytes), s.Done, s.Skipped, s.Failed, s.Pending, s.LastError)
				tot.Items += s.Items
				tot.Bytes += s.Bytes
				tot.Done += s.Done
				tot.Skipped += s.Skipped
				tot.Failed += s.Failed
				tot.Pending += s.Pending
			}
			fmt.Fprintf(tw, "all\t%d\t%s\t%d\t%d\t%d\t%d\t\n", tot.Items, transfer.HumanBytes(tot.Bytes), tot.Done, tot.Skipped, tot.Failed, tot.Pending)
			tw.Flush()
			if tot.Failed > 0 || tot.Pending > 0 {
				// Exit 1, so a script can wait for a manifest to be complete.
				return errSomeFailed
			}
			return nil
		},
	}
}
