// Package transfer is fsxsync's engine: one cp, sync or manifest shard as data flowing one way. Both sides are listed
// as sorted streams (listers.go: the local walk, and ObjectStore.List with the state file), merged like a zipper
// (merge.go), decided by a pure function (decide.go), transferred by a bounded pool of workers (engine.go, exec.go)
// and counted into a Report (report.go) and the progress counters (progress.go).
//
// The engine declares what it needs from the outside world and nothing more: an ObjectStore for S3 (implemented by
// transfer/s3store), a Share for a Slurm task's part of the keys (implemented by transfer/slurm), and the error kinds
// it acts on (errors.go), which the adapters attach to what they return. It imports no AWS SDK package, so its tests
// of the merge, the decisions and the filters run without a server.
package transfer
