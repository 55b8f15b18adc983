// Command fsxsync moves data between a POSIX tree (an FSx for Lustre mount, or any directory) and Amazon S3.
//
// The command layer only parses flags into options structs and calls the engine in package transfer; main maps the
// outcome to the documented exit codes in one place (exitCode).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/urfave/cli/v2"

	"github.com/fsxsync/fsxsync/transfer"
	"github.com/fsxsync/fsxsync/transfer/slurm"
)

// version and commit are set by the Makefile with -ldflags.
var (
	version = "dev"
	commit  = "unknown"
)

// Exit codes. Scripts and Slurm job steps depend on these; they are documented in --help and README.md.
const (
	exitOK          = 0   // everything transferred (or was already up to date)
	exitSomeFailed  = 1   // some files failed; the others were transferred; the report lists the failures
	exitUsage       = 2   // usage or bad input: unknown flag, malformed URL, missing source, no such bucket
	exitDenied      = 3   // S3 denied a permission the transfer needs
	exitNoCreds     = 4   // no usable credentials or identity
	exitUnproven    = 5   // the preflight could not prove every permission (fsxsync check, or --strict)
	exitArchived    = 6   // archived objects were not downloaded (skipped, or their restore asked for); nothing failed
	exitSpecial     = 7   // special files (FIFOs, sockets, devices) were skipped; nothing failed, nothing archived
	exitIncomplete  = 75  // stopped early by a signal; nothing partial was left; safe to rerun
	exitInterrupted = 130 // interrupted from the terminal (SIGINT)
)

const exitCodeHelp = `EXIT CODES:
   0    all done: everything transferred or already up to date
   1    some files failed (the others were transferred; --report lists the failures)
   2    usage or bad input: unknown flag, malformed URL, missing source, no such bucket
   3    access denied: S3 refused a permission the transfer needs
   4    no usable credentials (none found, expired, or invalid)
   5    not proven: check (or --strict) could not prove every permission; nothing was refused
   6    archived objects (S3 Glacier, Deep Archive) were not downloaded, nothing failed: restore them, run again
   7    special files (FIFOs, sockets, devices) in the source were skipped, nothing failed; the rest was transferred
   75   stopped early by SIGTERM or SIGUSR1 (time limit, scancel, preemption); nothing partial was left; safe to rerun
   130  interrupted (SIGINT)
`

// errSomeFailed is returned by a command whose run finished with per-file failures.
var errSomeFailed = errors.New("some files failed")

// errArchived is returned by a command whose run left archived objects undownloaded and had no failures: a stage-in
// job must notice that its inputs are not all there.
var errArchived = errors.New("archived objects were not downloaded")

// errSpecialSkipped is returned by a command whose upload skipped special files (FIFOs, sockets, devices) and had no
// failures and no archived objects: the destination is not a full copy of the source, and a script must be able to
// tell, as aws-cli's exit 2 for skipped files tells it.
var errSpecialSkipped = errors.New("special files were skipped")

func main() {
	os.Exit(realMain(os.Args))
}

// realMain runs the CLI and returns its exit code; main is the only caller of os.Exit.
func realMain(args []string) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// signal.Notify rather than NotifyContext: a clean stop has two steps (the first signal drains, a second or
	// the end of the grace period cancels), and the exit code depends on which signal came first.
	sigs := make(chan os.Signal, 2)
	st := newStopper(cancel, sigs)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGUSR1, os.Interrupt)
	defer signal.Stop(sigs)
	// SIGUSR2 asks a running transfer for a status line. Catching it always also keeps it from killing a command that
	// has no display (its default action is to terminate the process).
	status := make(chan os.Signal, 1)
	signal.Notify(status, syscall.SIGUSR2)
	defer signal.Stop(status)
	st.status = status
	done := make(chan struct{})
	defer close(done)
	go st.watch(sigs, done)

	// FSXSYNC_CPUPROFILE=PATH writes a CPU profile of this run to PATH.PID: a developer's tool for profiling the real
	// binary under the bench harness, which starts it many times (docs/performance.md, "Client CPU over HTTPS").
	if path := os.Getenv("FSXSYNC_CPUPROFILE"); path != "" {
		stop, err := startCPUProfile(fmt.Sprintf("%s.%d", path, os.Getpid()))
		if err != nil {
			fmt.Fprintln(os.Stderr, "fsxsync: FSXSYNC_CPUPROFILE:", err)
			return exitUsage
		}
		defer stop()
	}
	app := newApp(st)
	// The command runs on its own goroutine so that a stop always ends the process: a run blocked in a system call
	// that no cancellation reaches (an open of a FIFO, a read from a hung NFS or Lustre server) must not outlive the
	// grace period, or Slurm's SIGKILL comes instead of exit 75.
	finished := make(chan error, 1)
	go func() {
		if err := helpTopicError(app, args); err != nil {
			finished <- err
			return
		}
		finished <- app.RunContext(ctx, permuteArgs(app, args))
	}()
	var err error
	select {
	case err = <-finished:
	case <-st.abandon:
		return st.abandoned()
	}
	code := exitCode(st.signal(), err)
	if sig := st.signal(); sig != nil && transfer.KindOf(err) == transfer.KindCancelled {
		// A signal cancelled the command where it could not stop cleanly (in the preflight, say): say that it was the
		// signal, rather than only "context canceled".
		err = fmt.Errorf("stopped (%v); safe to rerun: %w", sig, err)
	}
	// The summary already said it for per-file failures and a clean stop; it stays the last line printed.
	if err != nil && !errors.Is(err, errSomeFailed) && !errors.Is(err, errArchived) && !errors.Is(err, errSpecialSkipped) &&
		!errors.Is(err, transfer.ErrStopped) {
		if log := st.errLog.Load(); log != nil {
			log.Error("fatal", "error", err.Error(), "exit_code", code)
		} else {
			fmt.Fprintf(os.Stderr, "fsxsync: %v\n", err)
		}
	}
	return code
}

// stopper turns signals into a clean stop. For a transfer the first SIGTERM, SIGUSR1 (sent early by
// `#SBATCH --signal=B:USR1@120`) or SIGINT closes drain: no new file starts, files in flight may finish for the
// grace period; then, or at a second signal, the context is cancelled: downloads in flight delete their temp files
// and multipart uploads are aborted. Nothing partial is ever left under a final name. Other commands stop at once.
// A run still going abandonAfter after its cancel is blocked where no cancellation reaches: main exits without it.
type stopper struct {
	drain    chan struct{}
	abandon  chan struct{} // closed when a cancelled run has not returned within abandonAfter
	cancel   context.CancelFunc
	sigs     chan<- os.Signal            // where the Spot watcher posts its notice, like a signal
	status   <-chan os.Signal            // SIGUSR2: a request for a status line, for the progress display
	errLog   atomic.Pointer[slog.Logger] // set with --log-format json: the final error is a JSON record too
	draining atomic.Bool                 // set by transfer commands
	grace    atomic.Int64                // nanoseconds
	first    atomic.Value                // os.Signal
}

// spotPollInterval is how often --watch-spot looks for an interruption notice; the notice comes two minutes ahead.
const spotPollInterval = 5 * time.Second

// defaultGrace stays below Slurm's default KillWait (30 s) between SIGTERM and SIGKILL.
const defaultGrace = 20 * time.Second

// abandonAfter is how long main waits for a cancelled run to return before it exits without it. A run normally
// returns within moments of the cancel, having deleted its temp files and aborted its multipart uploads; one that
// does not is blocked where no cancellation reaches. With the default grace period the process still ends 25 s
// after SIGTERM, before Slurm's default KillWait of 30 s sends SIGKILL.
const abandonAfter = 5 * time.Second

func newStopper(cancel context.CancelFunc, sigs chan<- os.Signal) *stopper {
	st := &stopper{drain: make(chan struct{}), abandon: make(chan struct{}), cancel: cancel, sigs: sigs}
	st.grace.Store(int64(defaultGrace))
	return st
}

// attach wires a transfer command's options to the stopper: the first signal drains the run (with its grace period),
// SIGUSR2 asks its display for a status line, and with --log-format json the final error is logged as JSON.
func (st *stopper) attach(o *transferOptions) {
	o.drain, o.status = st.drainOn(o.grace), st.status
	if o.jsonLog {
		st.errLog.Store(o.log)
	}
}

// drainOn makes the first signal a clean stop with the given grace period; transfer commands call it.
func (st *stopper) drainOn(grace time.Duration) <-chan struct{} {
	st.grace.Store(int64(grace))
	st.draining.Store(true)
	return st.drain
}

func (st *stopper) watch(sigs <-chan os.Signal, done <-chan struct{}) {
	var s os.Signal
	select {
	case s = <-sigs:
	case <-done:
		return
	}
	st.first.Store(s)
	if st.draining.Load() && !st.drainFor(s, sigs, done) {
		return
	}
	st.cancel()
	// The run has been cancelled; if it is still running after abandonAfter, main exits without it.
	timer := time.NewTimer(abandonAfter)
	defer timer.Stop()
	select {
	case <-timer.C:
		close(st.abandon)
	case <-done:
	}
}

// drainFor is the first step of a clean stop after signal s: no new file starts, and files in flight may finish for
// the grace period, or until a second signal. It returns false when the run ended first (done).
func (st *stopper) drainFor(s os.Signal, sigs <-chan os.Signal, done <-chan struct{}) bool {
	if log := st.errLog.Load(); log != nil {
		log.Warn("stopping: starting no new files; finishing those in flight (signal again to stop at once)",
			"signal", s.String(), "grace", time.Duration(st.grace.Load()))
	} else {
		fmt.Fprintf(os.Stderr, "fsxsync: %v: starting no new files; finishing those in flight for up to %v (signal again to stop at once)\n",
			s, time.Duration(st.grace.Load()))
	}
	close(st.drain)
	timer := time.NewTimer(time.Duration(st.grace.Load()))
	defer timer.Stop()
	select {
	case <-sigs:
	case <-timer.C:
	case <-done:
		return false
	}
	return true
}

// abandoned says that the stopped run could not be waited for, and returns the exit code of the stop (75, or 130
// for SIGINT). Nothing it had under a final name is partial: downloads are renamed into place only when complete.
// What was blocked may leave a temp file or an open multipart upload, which the next run cleans up; the summary
// and the --report file may be missing.
func (st *stopper) abandoned() int {
	const msg = "the run did not end within %v of being cancelled (what it waits on does not answer: a hung file system or server); exiting without waiting for it; the summary and --report may be missing; safe to rerun"
	if log := st.errLog.Load(); log != nil {
		log.Error(fmt.Sprintf(msg, abandonAfter))
	} else {
		fmt.Fprintf(os.Stderr, "fsxsync: "+msg+"\n", abandonAfter)
	}
	return exitCode(st.signal(), transfer.ErrStopped)
}

// spotNotice is the Spot interruption notice, delivered to the stopper as if it were a signal: it starts the same
// clean stop as SIGTERM, and the same exit code.
type spotNotice string

func (n spotNotice) String() string { return "EC2 Spot interruption notice " + string(n) }
func (spotNotice) Signal()          {}

// notice posts a Spot interruption notice; it never blocks (a signal may already fill the channel).
func (st *stopper) notice(text string) {
	select {
	case st.sigs <- spotNotice(text):
	default:
	}
}

// watchSpot starts the Spot interruption watcher when asked (--watch-spot); it ends with ctx.
func (st *stopper) watchSpot(ctx context.Context, on bool) {
	if on {
		c := imds.New(imds.Options{Endpoint: os.Getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT")})
		go slurm.WatchSpot(ctx, c, spotPollInterval, st.notice)
	}
}

// signal returns the first signal received, or nil.
func (st *stopper) signal() os.Signal {
	s, _ := st.first.Load().(os.Signal)
	return s
}

// exitCode is the one place errors become exit codes: the signal that stopped the run, else the kind the one
// classifier (transfer.KindOf) gives the error.
func exitCode(sig os.Signal, err error) int {
	switch {
	case err == nil:
		return exitOK
	case sig == os.Interrupt:
		return exitInterrupted
	case sig != nil:
		return exitIncomplete
	case errors.Is(err, errSomeFailed):
		return exitSomeFailed
	case errors.Is(err, errArchived):
		return exitArchived
	case errors.Is(err, errSpecialSkipped):
		return exitSpecial
	}
	switch transfer.KindOf(err) {
	case transfer.KindStopped:
		return exitIncomplete
	case transfer.KindUsage:
		return exitUsage
	case transfer.KindDenied:
		return exitDenied
	case transfer.KindCredentials:
		return exitNoCreds
	case transfer.KindUnproven:
		return exitUnproven
	case transfer.KindArchived:
		return exitArchived
	}
	return exitSomeFailed
}

func newApp(st *stopper) *cli.App {
	// `fsxsync --version` prints the same first line as `fsxsync version`, instead of the cli package's
	// "fsxsync version ..." line, so that there is one way to read a version out of fsxsync. The cli package has
	// only this package-level hook for it.
	cli.VersionPrinter = func(c *cli.Context) {
		fmt.Fprintln(c.App.Writer, versionLine())
	}
	return &cli.App{
		Name:    "fsxsync",
		Usage:   "move data between an FSx for Lustre (or any POSIX) tree and Amazon S3, fast and safely",
		Version: appVersion(),
		Description: `fsxsync copies and syncs a local tree and an S3 prefix in either direction, in parallel and in
multipart, keeping POSIX metadata in the format FSx for Lustre data repositories use. One side is a
local path, the other s3://bucket[/prefix]; flags may come before or after the two arguments. The
bucket may be an access point's alias or its ARN: s3://arn:aws:s3:REGION:ACCOUNT:accesspoint/NAME/prefix.
'fsxsync COMMAND --help' explains a command and shows examples.

EXAMPLES:
   # Is this node's role allowed to write there? (Run it with srun to test a job's role.)
   fsxsync check /fsx/$USER/run42/out s3://my-bucket/results/run42

   # Stage results out at the end of an sbatch job
   fsxsync sync /fsx/$USER/run42/out s3://my-bucket/results/run42

   # Stage inputs in from a bucket, and first see what would happen
   fsxsync sync --dry-run s3://my-bucket/inputs /fsx/$USER/inputs

` + exitCodes,
		Commands: withFlagCompletion(cpCommand(st), syncCommand(st), checkCommand(), whoamiCommand(),
			planCommand(st), runCommand(st), statusCommand(), versionCommand(), completionCommand()),
		EnableBashCompletion: true,
		Suggest:              true,
		// Errors are printed and mapped to exit codes by main, never by the cli package (which would os.Exit).
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError:   usageError,
		// A word that is not a command is a usage error naming the closest one.
		Action: appAction,
	}
}

// usageError turns a flag-parsing failure into one line and exit code 2, instead of the cli package's full help.
// A misspelled flag gets the closest real one suggested.
func usageError(c *cli.Context, err error, _ bool) error {
	return transfer.Usagef("%v%s (see %s --help)", err, flagSuggestion(c, err), c.Command.HelpName)
}

// permuteArgs moves a command's flags in front of its positional arguments, so that "sync SRC DST --delete" works as
// it does with aws-cli: the cli package stops parsing flags at the first positional argument. A "--" ends the flags.
func permuteArgs(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	// Shell completion asks with --generate-bash-completion as the very last argument, where the cli package looks
	// for it; it must stay there, and must not be taken for the value of the flag before it.
	if last := len(args) - 1; args[last] == "--generate-bash-completion" {
		return append(permuteArgs(app, args[:last]), args[last])
	}
	var cmd *cli.Command
	i := 1
	for ; i < len(args); i++ {
		if !strings.HasPrefix(args[i], "-") {
			cmd = app.Command(args[i])
			break
		}
	}
	if cmd == nil {
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	out := append([]string{}, args[:i+1]...)
	var positional []string
	rest := args[i+1:]
	for j := 0; j < len(rest); j++ {
		a := rest[j]
		switch {
		case a == "--":
			positional = append(positional, rest[j:]...)
			j = len(rest)
		case strings.HasPrefix(a, "-") && a != "-":
			out = append(out, a)
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && takesValue[name] && j+1 < len(rest) {
				j++
				out = append(out, rest[j])
			}
		default:
			positional = append(positional, a)
		}
	}
	return append(out, positional...)
}

// startCPUProfile starts writing a CPU profile to path; the function it returns stops it and closes the file.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
