package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fsxsync/fsxsync/transfer"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "summarise a manifest's progress across its shards, from their journals",
		ArgsUsage: "DIR",
		Description: `Adds up the journals that 'fsxsync run' writes next to the manifest in DIR: per shard, the items and
bytes planned, how many are done, skipped, failed and still pending, and the last error; --json
prints the same merged, with every failed item. It exits 0 when every item is done or skipped and 1
otherwise, so a script or a dependent job can tell.

EXAMPLES:
   # Follow a running array job
   watch -n 60 fsxsync status /fsx/$USER/plan

   # The keys that failed, and why
   fsxsync status --json /fsx/$USER/plan | jq -r '.total.failures[] | "\(.key): \(.error)"'

   # A job that runs when the array has ended and fails unless every shard finished
   sbatch --dependency=afterany:$jid --wrap 'fsxsync status /fsx/$USER/plan'

` + exitCodes,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print the merged status of all shards (counts and failed items) as JSON"},
		},
		OnUsageError: usageError,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return transfer.Usagef("status needs exactly one argument, the manifest directory (got %d)", c.NArg())
			}
			return runStatus(statusOptions{dir: c.Args().First(), json: c.Bool("json"), stdout: c.App.Writer})
		},
	}
}

// statusOptions are status's flags, parsed.
type statusOptions struct {
	dir    string
	json   bool
	stdout io.Writer
}

// manifestStatus is what status --json prints: the shards' journals merged into one report.
type manifestStatus struct {
	Source      string                 `json:"source"`
	Destination string                 `json:"destination"`
	Created     time.Time              `json:"created"`
	Total       transfer.ShardStatus   `json:"total"`
	Shards      []transfer.ShardStatus `json:"shards"`
}

func runStatus(o statusOptions) error {
	h, shards, err := transfer.ManifestStatus(o.dir)
	if err != nil {
		return err
	}
	tot := transfer.ShardStatus{Shard: -1, Failures: []transfer.Failure{}}
	for _, s := range shards {
		tot.Items += s.Items
		tot.Bytes += s.Bytes
		tot.Done += s.Done
		tot.DoneBytes += s.DoneBytes
		tot.Skipped += s.Skipped
		tot.Failed += s.Failed
		tot.Pending += s.Pending
		tot.Failures = append(tot.Failures, s.Failures...)
	}
	if o.json {
		enc := json.NewEncoder(o.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(manifestStatus{Source: h.Source, Destination: h.Destination, Created: h.Created,
			Total: tot, Shards: shards}); err != nil {
			return err
		}
	} else {
		w := o.stdout
		fmt.Fprintf(w, "%s -> %s, planned %s, %d shards\n", h.Source, h.Destination, h.Created.Format("2006-01-02 15:04:05 MST"), h.Shards)
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SHARD\tITEMS\tBYTES\tDONE\tSKIPPED\tFAILED\tPENDING\tLAST ERROR")
		for _, s := range shards {
			fmt.Fprintf(tw, "%d\t%d\t%s\t%d\t%d\t%d\t%d\t%s\n", s.Shard, s.Items, transfer.HumanBytes(s.Bytes), s.Done, s.Skipped, s.Failed, s.Pending, s.LastError)
		}
		fmt.Fprintf(tw, "all\t%d\t%s\t%d\t%d\t%d\t%d\t\n", tot.Items, transfer.HumanBytes(tot.Bytes), tot.Done, tot.Skipped, tot.Failed, tot.Pending)
		tw.Flush()
	}
	if tot.Failed > 0 || tot.Pending > 0 {
		// Exit 1, so a script can wait for a manifest to be complete.
		return errSomeFailed
	}
	return nil
}
