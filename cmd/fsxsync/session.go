package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/fsxsync/fsxsync/fsx"
	"github.com/fsxsync/fsxsync/transfer"
	"github.com/fsxsync/fsxsync/transfer/preflight"
	"github.com/fsxsync/fsxsync/transfer/s3store"
	"github.com/fsxsync/fsxsync/transfer/slurm"
)

// session is what every transfer command resolves before it runs: both locations, the direction, the SDK config
// and the one S3 client.
type session struct {
	src, dst   transfer.Location
	dir        transfer.Direction
	remote     transfer.Location
	local      string
	cfg        aws.Config
	clientOpts s3store.ClientOptions
	s3         *s3.Client
}

func newSession(ctx context.Context, o transferOptions) (*session, error) {
	src, err := transfer.ParseLocation(o.src)
	if err != nil {
		return nil, err
	}
	dst, err := transfer.ParseLocation(o.dst)
	if err != nil {
		return nil, err
	}
	dir, err := transfer.DirectionOf(src, dst)
	if err != nil {
		return nil, err
	}
	s := &session{src: src, dst: dst, dir: dir, remote: dst, local: src.Local}
	if dir == transfer.Download {
		s.remote, s.local = src, dst.Local
	}
	s.clientOpts = s3store.ClientOptions{Endpoint: o.endpoint, AddressingStyle: o.addressingStyle, Bucket: s.remote.Bucket,
		Region: o.region, Profile: o.profile, RequestPayer: o.requestPayer,
		MaxConns: o.concurrency * o.partConcurrency, Stats: &s3store.RequestStats{}}
	if s.cfg, err = s3store.LoadConfig(ctx, s.clientOpts); err != nil {
		return nil, err
	}
	if err := s.useAccessPoint(o); err != nil {
		return nil, err
	}
	s.s3 = s3store.NewClient(s.cfg, s.clientOpts)
	return s, nil
}

// preflight runs the permission preflight and moves the S3 client to the bucket's region when the server named
// another one.
func (s *session) preflight(ctx context.Context, o transferOptions, verbose bool) (*preflight.Report, error) {
	req := preflightRequest{src: s.src, dst: s.dst, recursive: o.recursive, compare: o.compare != transfer.CompareAlways, delete: o.delete,
		// check (verbose) proves every requirement or says that it could not, whatever --strict says.
		requireIdentity: o.requireIdentity, strict: o.strict || verbose, requestPayer: o.requestPayer, encryption: o.encryption}
	// A dry run asks for no restore, so it needs no permission to.
	req.restoreArchived = o.restoreArchived.Days > 0 && !o.dryRun
	po := preflightOutput{out: o.stderr, log: o.log, json: o.jsonLog, verbose: verbose}
	rep, err := runPreflight(ctx, s.cfg, s.s3, req, po)
	var moved *preflight.RegionError
	if errors.As(err, &moved) {
		s.moveTo(moved.Region, o.log)
		rep, err = runPreflight(ctx, s.cfg, s.s3, req, po)
	}
	return rep, err
}

// prepare is what a transfer does before its first byte: the preflight, or with --no-preflight only the question
// of the bucket's region, so that a bucket in another region works either way.
func (s *session) prepare(ctx context.Context, o transferOptions) error {
	if !o.noPreflight {
		_, err := s.preflight(ctx, o, false)
		return err
	}
	if _, ok := transfer.AccessPointOf(s.remote.Bucket); ok {
		// An access point ARN names its region, which the client already signs for (useAccessPoint).
		return nil
	}
	if region := s3store.BucketRegion(ctx, s.s3, s.remote.Bucket); region != "" && region != s.cfg.Region {
		s.moveTo(region, o.log)
	}
	return nil
}

// moveTo moves the S3 client to the bucket's region, once, saying so in one line.
func (s *session) moveTo(region string, log *slog.Logger) {
	log.Warn(fmt.Sprintf("bucket %s is in %s, not %s: using %s", s.remote.Bucket, region, s.cfg.Region, region))
	s.cfg.Region = region
	s.s3 = s3store.NewClient(s.cfg, s.clientOpts)
}

// runCheck runs the preflight alone and prints its whole table.
func runCheck(ctx context.Context, o transferOptions) error {
	s, err := newSession(ctx, o)
	if err != nil {
		return err
	}
	rep, err := s.preflight(ctx, o, true)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.stdout, "check passed: all %d requirements proven; the transfer is allowed\n", rep.Proven())
	return nil
}

// runTransfer prepares the run (the preflight, or with --no-preflight the bucket's region), then runs the engine; it
// prints the summary and writes the report.
func runTransfer(ctx context.Context, o transferOptions) error {
	s, err := newSession(ctx, o)
	if err != nil {
		return err
	}
	filter, err := transfer.NewFilter(o.rules)
	if err != nil {
		return err
	}
	shard, err := slurm.Resolve(slurm.Input{Flag: o.shardFlag, NoShard: o.noShard, Getenv: os.Getenv})
	if err != nil {
		return transfer.WithKind(transfer.KindUsage, err)
	}
	if shard.Count > 1 {
		o.log.Info(fmt.Sprintf("shard %d of %d: %s", shard.Index, shard.Count, shard.Source))
	}
	if err := s.prepare(ctx, o); err != nil {
		return err
	}
	store := s3store.New(s.s3, s.remote.Bucket,
		s3store.Options{PartSize: o.partSize, PartConcurrency: o.partConcurrency, Encryption: o.encryption})
	statePath := ""
	if o.stateDir != "" && o.recursive {
		statePath = transfer.StatePath(o.stateDir, o.endpoint, s.remote.Bucket, s.remote.DirPrefix(), s.local)
	}
	if jobKey := slurm.ArrayJobKey(os.Getenv); useArrayPlan(o, shard, jobKey) {
		// The planner's state is the one a single sync of the same tree keeps: it spares a no-op rerun's plan
		// the HEAD requests, whichever task of which job planned last.
		return runArraySync(ctx, o, s, store, filter, shard, jobKey, statePath)
	}
	if statePath != "" {
		if shard.Count > 1 {
			// Each shard keeps its own state: tasks of one array job run at once and would overwrite each other's.
			statePath += fmt.Sprintf(".shard-%d-of-%d", shard.Index, shard.Count)
		}
	}
	progress := &transfer.Progress{}
	display := startDisplay(o, progress)
	rep, runErr := transfer.Run(ctx, store, transfer.Options{
		Src: s.src, Dst: s.dst, Recursive: o.recursive, Compare: o.compare, Delete: o.delete, DryRun: o.dryRun,
		Filter: filter, Concurrency: o.concurrency, PartSize: o.partSize, PartConcurrency: o.partConcurrency,
		StatePath: statePath, Out: o.stdout, Log: o.log, Progress: progress, Drain: o.drain, Shard: shard,
		DirMarkers: o.dirMarkers, FollowSymlinks: o.followSymlinks, PreserveOwner: o.preserveOwner, PreserveSetid: o.preserveSetid,
		LFS: lustreFor(s), Released: o.released, RestoreTimeout: o.restoreTimeout, Stats: s.clientOpts.Stats,
		SortListing:   s3store.IsDirectoryBucket(s.remote.Bucket),
		ForceArchived: o.forceArchived, RestoreArchived: o.restoreArchived,
	})
	display.Stop()
	return finishRun(o, rep, runErr)
}

// lustreFor returns the lfs tool when an upload reads from Lustre and lfs is installed, else nil: striping and HSM
// handling then simply do not apply.
func lustreFor(s *session) *fsx.LFS {
	if s.dir != transfer.Upload {
		return nil
	}
	m, err := fsx.FindMount(s.local)
	if err != nil || m.Kind != fsx.MountLustre {
		return nil
	}
	if _, err := exec.LookPath("lfs"); err != nil {
		return nil
	}
	return &fsx.LFS{}
}

// finishRun prints the summary (the last thing a run prints), writes the report and turns per-file failures into
// errSomeFailed, archived objects left undownloaded (when nothing failed) into errArchived, and special files
// skipped (when nothing failed and nothing was archived) into errSpecialSkipped.
func finishRun(o transferOptions, rep *transfer.Report, runErr error) error {
	var usage *transfer.UsageError
	// A run that failed before any file (no endpoint, no bucket) has nothing to sum up: "failed 0" would only
	// contradict the error that follows. A clean stop still says what it did.
	nothing := rep != nil && runErr != nil && transfer.KindOf(runErr) != transfer.KindStopped &&
		rep.Transferred.Files+rep.Skipped.Files+rep.Deleted.Files+rep.Failed.Files+rep.Archived.Files == 0
	if rep != nil && !errors.As(runErr, &usage) {
		if !o.quiet && !nothing {
			fmt.Fprintln(o.stdout, rep.Summary())
		}
		if o.reportPath != "" {
			if err := rep.WriteJSON(o.reportPath); err != nil && runErr == nil {
				runErr = err
			}
		}
	}
	if runErr != nil {
		return runErr
	}
	if rep.Failed.Files > 0 {
		return errSomeFailed
	}
	if rep.Archived.Files > 0 {
		return errArchived
	}
	if rep.SpecialFiles > 0 {
		return errSpecialSkipped
	}
	return nil
}
