package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/fsxsync/fsxsync/transfer"
	"github.com/fsxsync/fsxsync/transfer/s3store"
	"github.com/fsxsync/fsxsync/transfer/slurm"
)

// useArrayPlan says whether this sync is one task of a Slurm array or multi-task step that should list both sides
// once for all the tasks. --shard is left to hash sharding: its tasks need not be one job, and have no job id to
// meet under. A dry run writes nothing, so it cannot leave a manifest behind either.
func useArrayPlan(o transferOptions, shard slurm.Shard, jobKey string) bool {
	return o.arrayPlan && shard.Count > 1 && o.shardFlag == "" && !o.dryRun && jobKey != ""
}

// arrayDirFor is where this sync's tasks meet: one directory per job and per set of arguments, so that another
// sync (other sides, other filters, another number of tasks) never runs this one's manifest, and a rerun in a new
// job plans afresh. The endpoint is left out: tasks of one job may reach the same S3 through different ones. By
// default it is beside the local directory, since the local tree is the one place every task is known to share;
// the state directory may be per node.
func arrayDirFor(o transferOptions, s *session, shardCount int, jobKey string) (string, error) {
	base, local, err := arrayBase(o, s)
	if err != nil {
		return "", err
	}
	id, _ := json.Marshal(struct {
		Src, Dst, Local    string
		Compare            transfer.CompareMode
		Delete, DirMarkers bool
		FollowSymlinks     bool
		Rules              []transfer.Rule
		Shards             int
	}{s.src.String(), s.dst.String(), local, o.compare, o.delete, o.dirMarkers, o.followSymlinks, o.rules, shardCount})
	sum := sha256.Sum256(id)
	return filepath.Join(base, jobKey+"-"+hex.EncodeToString(sum[:6])), nil
}

// arrayBase returns --array-dir, or its default beside the local directory, and the local directory made absolute.
func arrayBase(o transferOptions, s *session) (base, local string, err error) {
	local, err = filepath.Abs(s.local)
	if err != nil {
		return "", "", fmt.Errorf("array plan: %w", err)
	}
	local = filepath.Clean(local)
	base = o.arrayDir
	if base == "" {
		base = filepath.Join(filepath.Dir(local), ".fsxsync-arrays")
	}
	return base, local, nil
}

// runArraySync is a sync run as one task of an array: the first task to arrive plans the whole sync into a manifest
// (one listing, one walk), the others wait for it, and each runs its own shard of it, with a journal so that a
// requeued task resumes where it stopped.
func runArraySync(ctx context.Context, o transferOptions, s *session, store *s3store.Store, filter *transfer.Filter,
	shard slurm.Shard, jobKey, statePath string) error {
	dir, err := arrayDirFor(o, s, shard.Count, jobKey)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return transfer.WithKind(transfer.KindUsage, fmt.Errorf("the tasks of this array cannot meet in %s to list both sides once: %w; "+
			"give --array-dir a directory on a file system every task sees, or --no-array-plan to let each task list everything", filepath.Dir(dir), err))
	}
	if statePath != "" {
		// The planner keeps its sync state where every task finds it, whichever task plans next time: a state
		// directory of its own (per node) would make the next job's planner, another task, start without one and
		// send a HEAD request for every object. The tasks leave beside it what they learn of the objects they move
		// (state fragments), which the next planner merges in.
		// Its name leaves the endpoint out, as the meeting directory's does.
		base, _, _ := arrayBase(o, s)
		statePath = transfer.StatePath(filepath.Join(base, "state"), "", s.remote.Bucket, s.remote.DirPrefix(), s.local)
		if err := os.MkdirAll(filepath.Dir(statePath), 0o755); err != nil {
			return fmt.Errorf("array plan: %w", err)
		}
	}
	host, _ := os.Hostname()
	who := fmt.Sprintf("host %s pid %d", host, os.Getpid())
	if job := slurm.JobFromEnv(os.Getenv); job != nil {
		who += ", " + job.Describe()
	}
	var planRep *transfer.Report
	manifest, planned, err := transfer.AwaitArrayPlan(ctx, transfer.ArrayPlanOptions{Dir: dir, Who: who,
		Stale: o.arrayLockStale, Log: o.log, Drain: o.drain},
		func(ctx context.Context, out string) error {
			if n, err := transfer.MergeStateFragments(statePath, transfer.StateFragments(statePath)); err != nil {
				o.log.Warn(fmt.Sprintf("array plan: the state the last array's tasks left could not be merged (the plan sends HEAD requests instead): %v", err))
			} else if n > 0 {
				o.log.Info(fmt.Sprintf("array plan: merged what the last array's tasks moved (%d objects) into the sync state", n))
			}
			h, rep, err := transfer.Plan(ctx, store, transfer.Options{Src: s.src, Dst: s.dst, Compare: o.compare,
				Delete: o.delete, Filter: filter, Concurrency: o.concurrency, Out: o.stdout, Log: o.log, Drain: o.drain,
				DirMarkers: o.dirMarkers, FollowSymlinks: o.followSymlinks, StatePath: statePath, Stats: s.clientOpts.Stats,
				SortListing: s3store.IsDirectoryBucket(s.remote.Bucket)}, shard.Count, out)
			if err != nil {
				return err
			}
			planRep = rep
			var items int64
			for _, n := range h.ShardItems {
				items += n
			}
			o.log.Info(fmt.Sprintf("array plan: %d items to move in %d shards, %d files already up to date; listed in %.1fs",
				items, h.Shards, rep.Skipped.Files, rep.Seconds))
			return nil
		})
	if err != nil {
		return err
	}
	if !planned {
		o.log.Info(fmt.Sprintf("array plan: running shard %d of %s", shard.Index, manifest))
	}
	fragment := ""
	if statePath != "" {
		fragment = fmt.Sprintf("%s.frag-%s-%d", statePath, jobKey, shard.Index)
	}
	progress := &transfer.Progress{}
	display := startDisplay(o, progress)
	rep, runErr := transfer.RunManifestShard(ctx, store, manifest, shard.Index, transfer.Options{Concurrency: o.concurrency,
		PartSize: o.partSize, PartConcurrency: o.partConcurrency, Out: o.stdout, Log: o.log, Progress: progress, Drain: o.drain,
		FollowSymlinks: o.followSymlinks, PreserveOwner: o.preserveOwner, PreserveSetid: o.preserveSetid,
		LFS: lustreFor(s), Released: o.released, RestoreTimeout: o.restoreTimeout, Stats: s.clientOpts.Stats,
		ForceArchived: o.forceArchived, RestoreArchived: o.restoreArchived, TrustManifest: true, StateFragment: fragment})
	display.Stop()
	if planned && rep != nil && planRep != nil {
		// What the plan found is told once, by the task that planned: the files already up to date, and what could
		// not be planned at all (an unreadable directory, a special file), which must still fail the array.
		rep.Skipped.Files += planRep.Skipped.Files
		rep.Skipped.Bytes += planRep.Skipped.Bytes
		rep.Failed.Files += planRep.Failed.Files
		rep.Failed.Bytes += planRep.Failed.Bytes
		rep.Failures = append(planRep.Failures, rep.Failures...)
		rep.SpecialFiles += planRep.SpecialFiles
	}
	return finishRun(o, rep, runErr)
}
