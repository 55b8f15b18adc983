package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/fsxsync/fsxsync/transfer"
	"github.com/fsxsync/fsxsync/transfer/s3store"
)

func planCommand(st *stopper) *cli.Command {
	rules := &ruleList{}
	flags := append([]cli.Flag{
		&cli.IntFlag{Name: "shards", Required: true, Usage: "split the work into `N` shards (one per array task)"},
		&cli.StringFlag{Name: "out", Required: true, Usage: "write the manifest into `DIR` (new; on the shared file system)"},
	}, append(syncFlags(), transferFlags(rules)...)...)
	return &cli.Command{
		Name:      "plan",
		Usage:     "list both sides once and write the work of a large sync into a manifest of N shards",
		ArgsUsage: "SRC DST",
		Description: `Lists SRC and DST once, decides like sync (same flags), and writes what is to be transferred or
deleted into DIR: manifest.json (source, destination, flags, creation time, per-shard counts) and
shard-NNNN.jsonl (one JSON object a line), balanced by bytes and by count. Then an array job runs
the shards with 'fsxsync run DIR', and 'fsxsync status DIR' follows them.

EXAMPLES:
   # Plan in one job, then run the 16 shards as an array once the plan is written
   jid=$(sbatch --parsable --wrap 'fsxsync plan --shards 16 --out /fsx/$USER/plan /fsx/$USER/out s3://my-bucket/out')
   sbatch --dependency=afterok:$jid --array=0-15 --wrap 'fsxsync run /fsx/$USER/plan'

   # See what a mirror with deletes would have to do, split in 4
   fsxsync plan --delete --shards 4 --out /fsx/$USER/plan s3://my-bucket/inputs /fsx/$USER/inputs

` + exitCodes,
		Flags:        flags,
		OnUsageError: usageError,
		Action: func(c *cli.Context) error {
			o, err := prepare(c, st, rules)
			if err != nil {
				return err
			}
			o.recursive, o.delete = true, c.Bool("delete")
			return runPlan(c, o, c.Int("shards"), c.String("out"))
		},
	}
}

func runPlan(c *cli.Context, o transferOptions, shards int, out string) error {
	ctx := c.Context
	s, err := newSession(ctx, o)
	if err != nil {
		return err
	}
	filter, err := transfer.NewFilter(o.rules)
	if err != nil {
		return err
	}
	if err := s.prepare(ctx, o); err != nil {
		return err
	}
	store := s3store.New(s.s3, s.remote.Bucket, s3store.Options{PartSize: o.partSize, PartConcurrency: o.partConcurrency})
	h, rep, err := transfer.Plan(ctx, store, transfer.Options{Src: s.src, Dst: s.dst, Compare: o.compare, Delete: o.delete,
		Filter: filter, Concurrency: o.concurrency, Out: o.stdout, Log: o.log, Drain: o.drain,
		DirMarkers: o.dirMarkers, FollowSymlinks: o.followSymlinks, PlanEncryption: planEncryption(o.encryption)}, shards, out)
	if err != nil {
		return err
	}
	var items, bytes int64
	for i := range h.ShardItems {
		items += h.ShardItems[i]
		bytes += h.ShardBytes[i]
	}
	fmt.Fprintf(o.stdout, "planned %d items (%s) in %d shards into %s; %d files already up to date; listed in %.1fs\n",
		items, transfer.HumanBytes(bytes), h.Shards, out, rep.Skipped.Files, rep.Seconds)
	fmt.Fprintf(o.stdout, "run them with: sbatch --array=0-%d --wrap 'fsxsync run %s'\n", h.Shards-1, out)
	return nil
}
