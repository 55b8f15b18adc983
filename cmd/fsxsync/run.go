package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/fsxsync/fsxsync/transfer"
	"github.com/fsxsync/fsxsync/transfer/s3store"
	"github.com/fsxsync/fsxsync/transfer/slurm"
)

func runCommand(st *stopper) *cli.Command {
	rules := &ruleList{}
	return &cli.Command{
		Name:      "run",
		Usage:     "run this task's shard of a manifest written by fsxsync plan",
		ArgsUsage: "DIR",
		Description: `Runs one shard of the manifest in DIR: the shard comes from --shard, or from the Slurm array task
(or step task) this runs in. Items its journal records as finished are skipped, so a requeued or
resubmitted task resumes; every other item is checked again against both sides before it moves, so a
stale manifest never overwrites newer data. On SIGTERM or SIGUSR1 it stops starting new files, lets
those in flight finish within --grace-period, flushes the journal and exits 75.

EXAMPLES:
   # All 16 shards; a task preempted or stopped at its time limit resumes when requeued
   sbatch --array=0-15 --requeue --signal=B:USR1@120 --wrap 'fsxsync run /fsx/$USER/plan'

   # Resubmit two shards: array task ids are shard numbers
   sbatch --array=3,7 --wrap 'fsxsync run /fsx/$USER/plan'

   # One shard by hand, outside Slurm
   fsxsync run --shard 3/16 /fsx/$USER/plan

` + exitCodes,
		Flags:        transferFlags(rules),
		OnUsageError: usageError,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return transfer.Usagef("run needs exactly one argument, the manifest directory (got %d)", c.NArg())
			}
			o, err := prepare(c, st, rules)
			if err != nil {
				return err
			}
			return runShard(c, o, c.Args().First())
		},
	}
}

func runShard(c *cli.Context, o transferOptions, dir string) error {
	ctx := c.Context
	h, err := transfer.ReadManifestHeader(dir)
	if err != nil {
		return err
	}
	shard, how, err := slurm.ManifestTask(o.shardFlag, os.Getenv, h.Shards)
	if err != nil {
		return transfer.WithKind(transfer.KindUsage, err)
	}
	o.log.Info(fmt.Sprintf("shard %d of %d: %s", shard, h.Shards, how))
	o.src, o.dst, o.recursive, o.compare = h.Source, h.Destination, true, h.Flags.Compare
	if o.encryption, err = encryptionForRun(o.encryption, h.Flags.Encryption, dir); err != nil {
		return err
	}
	s, err := newSession(ctx, o)
	if err != nil {
		return err
	}
	if err := s.prepare(ctx, o); err != nil {
		return err
	}
	store := s3store.New(s.s3, s.remote.Bucket, s3store.Options{PartSize: o.partSize, PartConcurrency: o.partConcurrency,
		Encryption: o.encryption})
	progress := &transfer.Progress{}
	display := startDisplay(o, progress)
	rep, runErr := transfer.RunManifestShard(ctx, store, dir, shard, transfer.Options{Concurrency: o.concurrency,
		PartSize: o.partSize, PartConcurrency: o.partConcurrency, Out: o.stdout, Log: o.log, Progress: progress, Drain: o.drain,
		FollowSymlinks: o.followSymlinks, PreserveOwner: o.preserveOwner, PreserveSetid: o.preserveSetid,
		LFS: lustreFor(s), Released: o.released, RestoreTimeout: o.restoreTimeout, Stats: s.clientOpts.Stats,
		ForceArchived: o.forceArchived, RestoreArchived: o.restoreArchived})
	display.Stop()
	return finishRun(o, rep, runErr)
}

// planEncryption is the --sse flags plan records in its manifest, nil without --sse.
func planEncryption(e s3store.Encryption) *transfer.PlanEncryption {
	if e == (s3store.Encryption{}) {
		return nil
	}
	return &transfer.PlanEncryption{Algorithm: e.Algorithm, KMSKeyID: e.KMSKeyID, BucketKey: e.BucketKey}
}

// encryptionForRun is the encryption run's uploads ask for: the plan's, unless run was given --sse flags of its own.
// Flags that differ from the plan's are refused: a plan made for SSE-KMS under one key must not upload under another
// by a slip of the sbatch line. A plan without --sse (or made before plans recorded it) takes run's flags, as before.
func encryptionForRun(given s3store.Encryption, planned *transfer.PlanEncryption, dir string) (s3store.Encryption, error) {
	if planned == nil {
		return given, nil
	}
	want := s3store.Encryption{Algorithm: planned.Algorithm, KMSKeyID: planned.KMSKeyID, BucketKey: planned.BucketKey}
	if given == (s3store.Encryption{}) || given == want {
		return want, nil
	}
	return s3store.Encryption{}, transfer.Usagef("the plan in %s was made with %s; run was given %s: give run the same flags, or none to use the plan's",
		dir, describeEncryption(want), describeEncryption(given))
}

// describeEncryption writes encryption settings as the flags that give them.
func describeEncryption(e s3store.Encryption) string {
	if e.Algorithm == "" {
		return "no --sse"
	}
	s := "--sse " + e.Algorithm
	if e.KMSKeyID != "" {
		s += " --sse-kms-key-id " + e.KMSKeyID
	}
	if e.BucketKey {
		s += " --bucket-key"
	}
	return s
}
