package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fsxsync/fsxsync/internal/ui"
	"github.com/fsxsync/fsxsync/transfer"
	"github.com/fsxsync/fsxsync/transfer/s3store"
)

// transferOptions are the flags shared by cp and sync, parsed.
type transferOptions struct {
	src, dst        string
	recursive       bool
	compare         transfer.CompareMode
	delete          bool
	dryRun          bool
	rules           []transfer.Rule
	concurrency     int
	partSize        int64
	partConcurrency int
	endpoint        string
	addressingStyle string
	region          string
	profile         string
	stateDir        string
	reportPath      string
	noPreflight     bool
	requireIdentity bool
	strict          bool
	// requestPayer is --request-payer requester: every request says the caller pays for it.
	requestPayer bool
	// encryption is --sse, --sse-kms-key-id and --bucket-key: how uploads ask S3 to encrypt what they store.
	encryption s3store.Encryption
	grace      time.Duration
	shardFlag  string
	noShard    bool
	// arrayPlan (sync without --no-array-plan) makes the tasks of a Slurm array or step list both sides once, in
	// arrayDir (--array-dir; "" is beside the local directory); arrayLockStale is how long a planner's lock may go
	// without a heartbeat.
	arrayPlan      bool
	arrayDir       string
	arrayLockStale time.Duration
	drain          <-chan struct{}
	watchSpot      bool
	dirMarkers     bool
	followSymlinks bool
	preserveOwner  bool
	preserveSetid  bool
	released       transfer.ReleasedPolicy
	restoreTimeout time.Duration
	// forceArchived is --force-archived-transfer (or aws-cli's --force-glacier-transfer), restoreArchived
	// --restore-archived DAYS[:TIER]: what a download does with archived objects.
	forceArchived   bool
	restoreArchived transfer.ArchiveRestore
	// progress is the resolved display mode (bar, lines or none) and progressInterval the lines' period.
	progress         ui.Mode
	progressInterval time.Duration
	// status delivers SIGUSR2: print a status line now.
	status <-chan os.Signal
	// quiet drops everything but errors: no progress, no summary.
	quiet bool
	// log is where warnings and per-file failures go (and, with -v, every file); jsonLog is set for --log-format json.
	log     *slog.Logger
	jsonLog bool
	// stdout gets the summary and dry-run lines; stderr (a ui.Console) gets logs, the bar and status lines.
	stdout  io.Writer
	stderr  io.Writer
	console *ui.Console
}

// networkFlags are the aws-cli-compatible connection flags.
func networkFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "endpoint-url", Usage: "S3 endpoint URL (a gateway or a local server)", EnvVars: []string{"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"}},
		&cli.StringFlag{Name: "addressing-style", Value: s3store.AddressingAuto, Usage: "auto, path or virtual: where requests name the bucket; auto puts it in the host name for AWS endpoints, directory buckets and access points, in the path for other --endpoint-url servers"},
		&cli.StringFlag{Name: "region", Usage: "AWS region of the bucket", EnvVars: []string{"AWS_REGION", "AWS_DEFAULT_REGION"}},
		&cli.StringFlag{Name: "profile", Usage: "shared config profile", EnvVars: []string{"AWS_PROFILE"}},
	}
}

// requireIdentityFlag makes STS mandatory. Without it a node that cannot reach STS (a subnet with no STS endpoint)
// goes on with the identity its credentials' source names, and the S3 probes prove the permissions.
func requireIdentityFlag() cli.Flag {
	return &cli.BoolFlag{Name: "require-identity", Usage: "fail (exit 4) when STS cannot confirm who the credentials belong to, instead of going on with what the instance metadata says"}
}

// outputFlags say how a run talks: progress display and logs.
func outputFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "progress", Value: "auto", Usage: "progress display: auto (a bar on a terminal, status lines otherwise), bar, lines or none"},
		&cli.DurationFlag{Name: "progress-interval", Value: time.Minute, Usage: "how often a status line is printed when the display is lines (batch jobs, pipes); SIGUSR2 prints one at any time"},
		&cli.StringFlag{Name: "log-format", Value: "text", Usage: "text or json"},
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "log every file transferred and debug detail; never credentials"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only errors: no progress, no summary"},
	}
}

// transferFlags are the flags of every transfer command.
func transferFlags(rules *ruleList) []cli.Flag {
	flags := []cli.Flag{
		&cli.BoolFlag{Name: "dry-run", Aliases: []string{"dryrun"}, Usage: "print what would be transferred or deleted, change nothing"},
		&cli.GenericFlag{Name: "exclude", Value: ruleFlag{list: rules}, Usage: "leave out paths matching `PATTERN`, as aws-cli: the whole path under the root (* and ** match anything, / included; ?, [seq], [!seq]); rules apply in order, the last match wins; repeatable"},
		&cli.GenericFlag{Name: "include", Value: ruleFlag{list: rules, include: true}, Usage: "take paths matching `PATTERN` back in (the syntax of --exclude; the last match wins; repeatable)"},
		&cli.IntFlag{Name: "concurrency", Value: transfer.DefaultConcurrency, Usage: "files in flight at once"},
		&cli.StringFlag{Name: "part-size", Value: "16MiB", Usage: "multipart part size (grows automatically so no object needs over 10,000 parts)"},
		&cli.IntFlag{Name: "part-concurrency", Value: transfer.DefaultPartConcurrency, Usage: "parts in flight per large file"},
		&cli.BoolFlag{Name: "no-preflight", Usage: "skip the identity and permission preflight (see fsxsync check)"},
		&cli.StringFlag{Name: "request-payer", Usage: "requester: confirm that you pay for the requests and transfer, as a Requester Pays bucket of another account requires"},
		&cli.StringFlag{Name: "sse", Usage: "uploads: server-side encryption `ALG`: AES256, aws:kms or aws:kms:dsse (aws-cli's names; its bare --sse is written --sse AES256 here)"},
		&cli.StringFlag{Name: "sse-kms-key-id", Usage: "uploads with --sse aws:kms or aws:kms:dsse: the KMS `KEY` (ARN, key id or alias/NAME); without it S3 uses the AWS managed key aws/s3"},
		&cli.BoolFlag{Name: "bucket-key", Usage: "uploads with --sse aws:kms: use an S3 Bucket Key, which cuts S3's requests to KMS (fsxsync's own flag; aws-cli s3 has none)"},
		requireIdentityFlag(),
		&cli.BoolFlag{Name: "strict", Usage: "stop before the first byte (exit 5) when the preflight could not prove every permission, instead of going on with a warning"},
		&cli.StringFlag{Name: "shard", Usage: "do shard `I/N` of the keys (0-based; default: from the Slurm array or step)"},
		&cli.BoolFlag{Name: "no-shard", Usage: "do every key, even inside a Slurm array or multi-task step"},
		&cli.BoolFlag{Name: "dir-markers", Usage: "upload a directory marker object for every directory, as FSx export does (default: for empty directories only)"},
		&cli.BoolFlag{Name: "follow-symlinks", Usage: "upload the file a symlink points to instead of the link (links to directories are left out)"},
		&cli.BoolFlag{Name: "preserve-owner", Usage: "on download as root, give files the owner and group their metadata records"},
		&cli.BoolFlag{Name: "preserve-setid", Usage: "on download, keep setuid/setgid/sticky bits from the metadata (dropped by default)"},
		&cli.StringFlag{Name: "released", Value: "restore", Usage: "uploads from Lustre: what to do with HSM-released files: restore (in bulk, before reading), skip, or read"},
		&cli.DurationFlag{Name: "restore-timeout", Value: 30 * time.Minute, Usage: "how long --released=restore waits for a bulk restore"},
		&cli.BoolFlag{Name: "force-archived-transfer", Usage: "downloads: try to read archived objects (S3 Glacier Flexible Retrieval, Deep Archive, Intelligent-Tiering archive tiers) anyway; each not restored fails (exit 1) instead of being skipped (exit 6); aws-cli's --force-glacier-transfer also works"},
		// aws-cli's name for the same flag, taken as it is but not listed: an alias would widen every command's
		// OPTIONS column by its length.
		&cli.BoolFlag{Name: "force-glacier-transfer", Hidden: true},
		&cli.StringFlag{Name: "restore-archived", Usage: "downloads: with `DAYS[:TIER]`, ask S3 to restore each archived object met, readable for DAYS days (1 to 36500), retrieved at TIER: Standard (the default), Bulk or Expedited; they are still not downloaded this run (exit 6): run again once they are restored"},
		&cli.BoolFlag{Name: "watch-spot", Usage: "on an EC2 Spot instance, stop cleanly when IMDS announces an interruption (about two minutes ahead)"},
		&cli.DurationFlag{Name: "grace-period", Value: 20 * time.Second, Usage: "after SIGTERM/SIGUSR1, let files in flight finish this long before cancelling them"},
		&cli.StringFlag{Name: "report", Usage: "write a JSON report (counts, failed files and reasons) to `FILE`"},
		&cli.StringFlag{Name: "state-dir", Usage: "where to keep the sync state that spares a no-op sync one HEAD request per object; \"none\" disables it (default: the user cache directory)", EnvVars: []string{"FSXSYNC_STATE_DIR"}},
	}
	flags = append(flags, outputFlags()...)
	return append(flags, networkFlags()...)
}

// parseTransferOptions reads the shared flags; args must be SRC DST.
func parseTransferOptions(c *cli.Context, rules *ruleList) (transferOptions, error) {
	// Before the arguments are counted: aws-cli's bare --sse takes SRC as its value here, and the error should say
	// that rather than that an argument is missing.
	encryption, err := parseEncryption(c)
	if err != nil {
		return transferOptions{}, err
	}
	if c.Command.Name != "run" && c.NArg() != 2 {
		return transferOptions{}, transfer.Usagef("%s needs exactly two arguments, SRC and DST (got %d); see fsxsync %s --help", c.Command.Name, c.NArg(), c.Command.Name)
	}
	o := transferOptions{
		src: c.Args().Get(0), dst: c.Args().Get(1),
		dryRun: c.Bool("dry-run"), concurrency: c.Int("concurrency"), partConcurrency: c.Int("part-concurrency"),
		endpoint: c.String("endpoint-url"), region: c.String("region"), profile: c.String("profile"),
		reportPath: c.String("report"), stateDir: c.String("state-dir"), noPreflight: c.Bool("no-preflight"), requireIdentity: c.Bool("require-identity"), strict: c.Bool("strict"),
		grace: c.Duration("grace-period"), shardFlag: c.String("shard"), noShard: c.Bool("no-shard"),
		watchSpot: c.Bool("watch-spot"), dirMarkers: c.Bool("dir-markers"), followSymlinks: c.Bool("follow-symlinks"),
		preserveOwner: c.Bool("preserve-owner"), preserveSetid: c.Bool("preserve-setid"),
		stdout: c.App.Writer, stderr: c.App.ErrWriter, encryption: encryption,
	}
	style, err := s3store.ParseAddressingStyle(c.String("addressing-style"))
	if err != nil {
		return o, err
	}
	o.addressingStyle = style
	released, err := transfer.ParseReleasedPolicy(c.String("released"))
	if err != nil {
		return o, err
	}
	o.released = released
	switch rp := c.String("request-payer"); rp {
	case "":
	case "requester":
		o.requestPayer = true
	default:
		return o, transfer.Usagef("--request-payer %q: the only value is requester (you pay for the requests and the transfer)", rp)
	}
	o.restoreTimeout = c.Duration("restore-timeout")
	o.forceArchived = c.Bool("force-archived-transfer") || c.Bool("force-glacier-transfer")
	if v := c.String("restore-archived"); v != "" {
		if o.restoreArchived, err = transfer.ParseArchiveRestore(v); err != nil {
			return o, err
		}
		if o.forceArchived {
			return o, transfer.Usagef("--restore-archived and --force-archived-transfer contradict each other: one skips archived objects and asks for their restore, the other reads them now; give one")
		}
	}
	if o.grace < 0 {
		return o, transfer.Usagef("--grace-period %v: give a duration of 0 or more, e.g. 20s", o.grace)
	}
	if o.concurrency < 1 || o.concurrency > 4096 {
		return o, transfer.Usagef("--concurrency %d: give a number from 1 to 4096", o.concurrency)
	}
	if o.partConcurrency < 1 || o.partConcurrency > 256 {
		return o, transfer.Usagef("--part-concurrency %d: give a number from 1 to 256", o.partConcurrency)
	}
	ps, err := parseSize(c.String("part-size"))
	if err != nil {
		return o, transfer.Usagef("--part-size: %v", err)
	}
	if ps < 5<<20 || ps > 5<<30 {
		return o, transfer.Usagef("--part-size %s: S3 parts are 5 MiB to 5 GiB", c.String("part-size"))
	}
	o.partSize = ps
	o.rules = rules.rules
	if o.stateDir == "" {
		if d, err := os.UserCacheDir(); err == nil {
			o.stateDir = filepath.Join(d, "fsxsync", "state")
		}
	}
	if o.stateDir == "none" {
		o.stateDir = ""
	}
	if o.stdout == nil {
		o.stdout = os.Stdout
	}
	if o.stderr == nil {
		o.stderr = os.Stderr
	}
	if err := parseOutputOptions(c, &o); err != nil {
		return o, err
	}
	return o, nil
}

// parseEncryption reads --sse, --sse-kms-key-id and --bucket-key.
func parseEncryption(c *cli.Context) (s3store.Encryption, error) {
	if c.IsSet("sse-kms-key-id") && c.String("sse-kms-key-id") == "" {
		return s3store.Encryption{}, transfer.Usagef("--sse-kms-key-id is empty: give the key's ARN, id or alias/NAME, or leave the flag out for the AWS managed key aws/s3")
	}
	return s3store.ParseEncryption(c.String("sse"), c.String("sse-kms-key-id"), c.Bool("bucket-key"))
}

// parseOutputOptions reads the progress and log flags. Everything written to stderr from here on goes through one
// ui.Console, so that a log line never lands in the middle of the progress bar.
func parseOutputOptions(c *cli.Context, o *transferOptions) error {
	mode, err := ui.ParseMode(c.String("progress"))
	if err != nil {
		return transfer.Usagef("%v", err)
	}
	format, err := ui.ParseLogFormat(c.String("log-format"))
	if err != nil {
		return transfer.Usagef("%v", err)
	}
	o.progressInterval = c.Duration("progress-interval")
	if o.progressInterval <= 0 {
		return transfer.Usagef("--progress-interval %v: give a positive duration, e.g. 60s", o.progressInterval)
	}
	o.quiet = c.Bool("quiet")
	if o.quiet && c.Bool("verbose") {
		return transfer.Usagef("--quiet and --verbose contradict each other; give one")
	}
	level := slog.LevelInfo
	switch {
	case o.quiet:
		level, mode = slog.LevelError, ui.ModeNone
	case c.Bool("verbose"):
		level = slog.LevelDebug
	}
	o.progress = mode.Resolve(ui.IsTerminal(o.stderr))
	o.console = ui.NewConsole(o.stderr)
	o.stderr = o.console
	o.log = ui.NewLogger(o.console, format, level)
	o.jsonLog = format == ui.LogJSON
	return nil
}

// startDisplay starts the progress display for a run (none in a dry run, which only prints its plan); stop it before
// the summary.
func startDisplay(o transferOptions, p *transfer.Progress) *ui.Display {
	mode := o.progress
	if o.dryRun {
		mode = ui.ModeNone
	}
	opts := ui.DisplayOptions{Mode: mode, Interval: o.progressInterval, Status: o.status, Console: o.console}
	if o.jsonLog {
		opts.JSON = o.log
	}
	return ui.StartDisplay(p, opts)
}

// ruleList collects --include and --exclude in the order they were given: both flags append to the same list,
// because the order decides (the last matching rule wins).
type ruleList struct{ rules []transfer.Rule }

// ruleFlag is one of the two flags writing into a ruleList.
type ruleFlag struct {
	list    *ruleList
	include bool
}

func (f ruleFlag) Set(v string) error {
	f.list.rules = append(f.list.rules, transfer.Rule{Include: f.include, Pattern: v})
	return nil
}

func (f ruleFlag) String() string { return "" }

// parseSize reads "16MiB", "8MB", "5242880".
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a size (write e.g. 16MiB)", s)
	}
	return n * mult, nil
}

// prepare is the prologue of every transfer command: it parses the shared flags and the compare mode (sync's
// --size-only and --exact-timestamps; cp then sets CompareAlways), and, when st is given, attaches the clean stop
// and starts the Spot watcher (--watch-spot). check passes no stopper: it stops at once on a signal.
func prepare(c *cli.Context, st *stopper, rules *ruleList) (transferOptions, error) {
	o, err := parseTransferOptions(c, rules)
	if err != nil {
		return o, err
	}
	if o.compare, err = compareMode(c); err != nil {
		return o, err
	}
	if st != nil {
		st.attach(&o)
		st.watchSpot(c.Context, o.watchSpot)
	}
	return o, nil
}
