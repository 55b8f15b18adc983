// Package slurmtest runs a real Slurm cluster for tests: munged, slurmctld
// and slurmd from Debian's slurm-wlm and munge packages, started by
// scripts/slurm/start.sh in a fresh temp dir with its own slurm.conf, MUNGE
// key and socket, free ports on 127.0.0.1, state, spool, logs and pid files.
// Nothing of the machine's own Slurm or MUNGE setup is used or touched. The
// cluster has one node unless Options.Nodes asks for more: then each node is
// a slurmd of its own on this host (Debian's Slurm is built with
// --enable-multiple-slurmd), so jobs and steps really span nodes.
//
// Start one Cluster per test (or per top-level test with parallel subtests;
// starting takes well under a second) and stop it when done:
//
//	func TestJobs(t *testing.T) {
//		c := slurmtest.StartT(t) // skips outside CI when Slurm is missing; fails in CI
//		id, err := c.Sbatch(t.TempDir(), "#!/bin/sh\nexit 0\n", nil, nil)
//		...
//		jobs, err := c.WaitJobs(id, time.Minute)
//		...
//	}
//
// The cluster needs root (slurmd runs jobs as the submitting user, and
// SlurmUser is root so no slurm account is needed) and the packages that
// `sudo scripts/slurm/install.sh` installs. What the cluster does with
// signals, time limits, arrays and requeues is recorded in the findings table
// in slurmtest_test.go.
package slurmtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fsxsync/fsxsync/internal/testenv"
)

// ErrNotInstalled is wrapped by Start's error when Slurm or MUNGE is not
// installed, or when the test does not run as root, outside CI: callers may
// skip. It is a sentinel for errors.Is and never reassigned.
var ErrNotInstalled = errors.New("slurmtest: Slurm is not available")

const (
	// startScript, stopScript are relative to the module root.
	startScript = "scripts/slurm/start.sh"
	stopScript  = "scripts/slurm/stop.sh"
	installHint = "sudo scripts/slurm/install.sh"
	// startTimeout bounds start.sh; it normally takes well under a second
	// (its own wait for the nodes to be idle is 60 s).
	startTimeout = 90 * time.Second
	// stopTimeout bounds stop.sh, which kills jobs without grace and waits
	// at most about 25 s.
	stopTimeout = 60 * time.Second
	// cmdTimeout bounds one Slurm client command (sbatch, squeue, ...):
	// they answer in milliseconds on this cluster, but a wedged daemon must
	// not hang a test until go test's global -timeout.
	cmdTimeout = 30 * time.Second
	// pollInterval is the step of Wait's squeue polling.
	pollInterval = 200 * time.Millisecond
)

// requiredBinaries are the programs the cluster and its clients need, each
// with the Debian package that brings it. A table that is only read: a
// package-level var because Go has no constant slices.
var requiredBinaries = [][2]string{
	{"munged", "munge"},
	{"slurmctld", "slurmctld"},
	{"slurmd", "slurmd"},
	{"sbatch", "slurm-client"},
	{"srun", "slurm-client"},
	{"squeue", "slurm-client"},
	{"scontrol", "slurm-client"},
	{"scancel", "slurm-client"},
	{"sinfo", "slurm-client"},
}

// Cluster is a running Slurm cluster owned by a test binary.
type Cluster struct {
	// Dir holds the cluster's slurm.conf, state, spool, logs (Dir/log) and
	// MUNGE key and socket. Stop removes it unless Keep is set.
	Dir string
	// Conf is the cluster's slurm.conf, the value of SLURM_CONF for every
	// Slurm command aimed at it.
	Conf string
	// StartupTime is how long start.sh took, until every node was idle.
	StartupTime time.Duration
	// Keep leaves Dir (logs, state) in place after Stop, for debugging.
	Keep bool

	root string // module root, where the scripts are
}

// Options adjusts the cluster StartWith starts.
type Options struct {
	// ExtraConf lines are appended to slurm.conf (for example
	// "RequeueExit=75"). They must not repeat a key start.sh sets.
	ExtraConf []string
	// CredExpire is the job credential lifetime in seconds (AuthInfo
	// cred_expire); 0 means start.sh's default of 10. A requeued job becomes
	// eligible again CredExpire+1 s after it was requeued: Slurm's own
	// default of 120 s would stall requeue tests for two minutes.
	CredExpire int
	// CPUs is how many CPUs each node claims; 0 means start.sh's default of
	// max(nproc, 8), so that several test jobs run at once on a small machine.
	CPUs int
	// Nodes is how many nodes the cluster has; 0 or 1 means one, named after
	// this host. More start one slurmd each (slurmd -N), named n1, n2, ...,
	// on 127.0.0.2, 127.0.0.3, ... with their own ports, spool dirs, pid and
	// log files (Dir/log/slurmd-nI.log). They share this host's file system,
	// like nodes sharing a cluster file system.
	Nodes int
}

// Start runs scripts/slurm/start.sh in a fresh temp dir and returns the
// cluster once its nodes are idle. The module root, where the script is, is the
// nearest directory above the working directory that has a go.mod.
//
// When Slurm is not installed (or the process is not root): with CI=true it
// returns an error, and the test must fail; otherwise it returns an error
// wrapping ErrNotInstalled that names what is missing and how to install it, so
// callers can t.Skip outside CI (StartT does both).
func Start() (*Cluster, error) {
	return StartWith(Options{})
}

// StartWith is Start with options.
func StartWith(opts Options) (*Cluster, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	if err := available(); err != nil {
		if testenv.InCI() {
			return nil, fmt.Errorf("slurmtest: CI=true and %s", strings.TrimPrefix(err.Error(), "slurmtest: "))
		}
		return nil, err
	}
	dir, err := os.MkdirTemp("", "fsxsync-slurm-")
	if err != nil {
		return nil, fmt.Errorf("slurmtest: %w", err)
	}
	c := &Cluster{Dir: dir, Conf: filepath.Join(dir, "slurm.conf"), root: root}

	env := append(cleanEnviron(),
		// The watchdog in start.sh stops the cluster when this process
		// exits, even when t.Cleanup never runs (go test -timeout panics).
		"SLURMTEST_OWNER_PID="+strconv.Itoa(os.Getpid()),
		"SLURMTEST_EXTRA_CONF="+strings.Join(opts.ExtraConf, "\n"),
	)
	if opts.CredExpire > 0 {
		env = append(env, "SLURMTEST_CRED_EXPIRE="+strconv.Itoa(opts.CredExpire))
	}
	if opts.CPUs > 0 {
		env = append(env, "SLURMTEST_CPUS="+strconv.Itoa(opts.CPUs))
	}
	if opts.Nodes > 1 {
		env = append(env, "SLURMTEST_NODES="+strconv.Itoa(opts.Nodes))
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	// bash runs the scripts, so they work without their executable bits
	// (a checkout with core.fileMode=false).
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, startScript), dir)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	begin := time.Now()
	if err := cmd.Run(); err != nil {
		c.Stop()
		return nil, fmt.Errorf("slurmtest: %s %s: %v\n%s", startScript, dir, err, stderr.String())
	}
	c.StartupTime = time.Since(begin)
	if want := "export SLURM_CONF="; !strings.HasPrefix(stdout.String(), want) {
		c.Stop()
		return nil, fmt.Errorf("slurmtest: %s printed %q, want a line starting %q", startScript, stdout.String(), want)
	}
	return c, nil
}

// StartT starts a cluster for t and stops it when t and its subtests are
// done. Where Slurm is not available it skips t, loudly, outside CI and fails
// it with CI=true.
func StartT(t testing.TB, opts ...Options) *Cluster {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	c, err := StartWith(o)
	if errors.Is(err, ErrNotInstalled) {
		t.Skipf("SKIPPING Slurm tests: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			c.Keep = true
			t.Logf("slurmtest: keeping %s (logs in %s/log) after the failure", c.Dir, c.Dir)
		}
		c.Stop()
	})
	return c
}

// available reports, as an error wrapping ErrNotInstalled, what keeps this
// machine from running a cluster.
func available() error {
	var missing []string
	var pkgs []string
	for _, b := range requiredBinaries {
		if _, err := lookPath(b[0]); err != nil {
			missing = append(missing, b[0])
			if !contains(pkgs, b[1]) {
				pkgs = append(pkgs, b[1])
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s not found (Debian packages %s); install them with `%s`",
			ErrNotInstalled, strings.Join(missing, ", "), strings.Join(pkgs, ", "), installHint)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: the test cluster needs root (slurmd starts jobs as the submitting user); run the tests as root", ErrNotInstalled)
	}
	return nil
}

// lookPath is exec.LookPath that also searches /usr/sbin, where the daemons
// are and which a non-login PATH may lack.
func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/sbin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Stop ends every job (SIGKILL, no KillWait grace), then slurmd, slurmctld
// and munged, and removes Dir unless Keep is set. It is safe to call twice.
func (c *Cluster) Stop() {
	if c == nil || c.Dir == "" {
		return
	}
	if _, err := os.Stat(c.Dir); err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(c.root, stopScript), c.Dir)
	cmd.Env = cleanEnviron()
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "slurmtest: %s %s: %v\n%s", stopScript, c.Dir, err, out)
	}
	if !c.Keep {
		os.RemoveAll(c.Dir)
	}
}

// Env returns the environment entries that aim Slurm commands at this
// cluster, to append to os.Environ(): SLURM_CONF, and PATH with /usr/sbin
// (where scontrol's daemons live) added.
func (c *Cluster) Env() []string {
	path := os.Getenv("PATH")
	if !strings.Contains(":"+path+":", ":/usr/sbin:") {
		path += ":/usr/sbin"
	}
	return []string{"SLURM_CONF=" + c.Conf, "PATH=" + path}
}

// command returns a Slurm client command aimed at the cluster, with env added
// to the process's environment (later entries win).
func (c *Cluster) command(ctx context.Context, name string, args []string, env []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(append(cleanEnviron(), c.Env()...), env...)
	return cmd
}

// slurmEnvPrefixes start the variables that Slurm's commands read as options
// (SBATCH_TIMELIMIT, SQUEUE_FORMAT, SLURM_TIME_FORMAT, ...) or that a job
// inherits (SLURM_JOB_ID, ...). Only read.
var slurmEnvPrefixes = []string{"SLURM_", "SBATCH_", "SRUN_", "SALLOC_", "SQUEUE_", "SINFO_", "SCANCEL_", "SCONTROL_"}

// cleanEnviron is os.Environ() without slurmEnvPrefixes variables: tests run
// from inside a real Slurm job (or a shell with SQUEUE_FORMAT set) must not
// carry that job's settings into this cluster or change the output parsed here.
func cleanEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		keep := true
		for _, p := range slurmEnvPrefixes {
			if strings.HasPrefix(kv, p) {
				keep = false
				break
			}
		}
		if keep {
			env = append(env, kv)
		}
	}
	return env
}

// run runs a Slurm client command and returns its stdout; the error carries
// stderr.
func (c *Cluster) run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := c.command(ctx, name, args, nil)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("slurmtest: %s %s: %v: %s", name, strings.Join(args, " "),
			err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// Sbatch submits script (its text; the first line should be a #! line) with
// the extra sbatch args, from workdir (the job's working directory and where
// its default output file goes), with env added to the submitter's
// environment (sbatch's default --export=ALL hands it to the job). It returns
// the job id; for an array job, the array's job id.
func (c *Cluster) Sbatch(workdir, script string, args []string, env []string) (jobID string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := c.command(ctx, "sbatch", append([]string{"--parsable"}, args...), env)
	cmd.Dir = workdir
	cmd.Stdin = strings.NewReader(script)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("slurmtest: sbatch %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	// --parsable prints "jobid" or "jobid;cluster".
	id, _, _ := strings.Cut(strings.TrimSpace(stdout.String()), ";")
	if _, err := strconv.Atoi(id); err != nil {
		return "", fmt.Errorf("slurmtest: sbatch printed %q, not a job id", stdout.String())
	}
	return id, nil
}

// WaitJobs is Wait that then returns the final record of the job, or of each
// array task, from `scontrol show job`. Without accounting that is the only
// record, and slurmctld keeps it for MinJobAge (an hour here) after the end.
func (c *Cluster) WaitJobs(jobID string, timeout time.Duration) ([]Job, error) {
	deadline := time.Now().Add(timeout)
	for {
		out, err := c.run("squeue", "--noheader", "--jobs", jobID, "--format", "%i %T")
		switch {
		case err != nil && strings.Contains(err.Error(), "Invalid job id"):
			// Purged already (MinJobAge): gone, but Jobs will fail.
			return c.Jobs(jobID)
		case err == nil && strings.TrimSpace(out) == "":
			return c.Jobs(jobID)
		}
		// An error here is kept and retried: slurmctld may be restarting
		// (RestartController) or briefly too busy to answer.
		if time.Now().After(deadline) {
			if err != nil {
				return nil, fmt.Errorf("slurmtest: waiting %v for job %s: %w", timeout, jobID, err)
			}
			return nil, fmt.Errorf("slurmtest: job %s still queued after %v:\n%s", jobID, timeout, out)
		}
		time.Sleep(pollInterval)
	}
}

// Job is slurmctld's record of a job or of one array task, as `scontrol show
// job` prints it.
type Job struct {
	ID          string // JobId: this task's own id
	ArrayJobID  string // ArrayJobId, "" for a job that is not an array
	ArrayTaskID string // ArrayTaskId: a number, or a range for pending tasks
	State       string // JobState: PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, ...
	Reason      string
	ExitCode    int // the batch script's exit status (ExitCode=N:S)
	Signal      int // the signal that ended it, 0 if none (ExitCode=N:S)
	Restarts    int // times requeued (the job sees it as SLURM_RESTART_COUNT)
	StartTime   time.Time
	EndTime     time.Time
	// Fields has every field as printed, for the ones not above.
	Fields map[string]string
}

// Jobs returns slurmctld's records of the job, one per array task. It works
// while slurmctld knows the job: until MinJobAge after it ended.
func (c *Cluster) Jobs(jobID string) ([]Job, error) {
	out, err := c.run("scontrol", "--oneliner", "show", "job", jobID)
	if err != nil {
		return nil, err
	}
	var jobs []Job
	for _, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		jobs = append(jobs, parseJob(line))
	}
	if len(jobs) == 0 {
		return nil, fmt.Errorf("slurmtest: scontrol show job %s printed nothing", jobID)
	}
	return jobs, nil
}

// fieldStart finds where each Key= of a --oneliner record begins. Values can
// hold spaces (a WorkDir, a Command with arguments), so splitting on spaces
// alone would be wrong; keys are words like ReqB:S:C:T or Socks/Node. Compiled
// once and only read (a Regexp is safe for concurrent use).
var fieldStart = regexp.MustCompile(`(?:^|\s)([A-Za-z][A-Za-z0-9_:/]*)=`)

func parseJob(line string) Job {
	fields := make(map[string]string)
	idx := fieldStart.FindAllStringSubmatchIndex(line, -1)
	for i, m := range idx {
		key := line[m[2]:m[3]]
		end := len(line)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		fields[key] = strings.TrimSpace(line[m[1]:end])
	}
	j := Job{
		ID:          fields["JobId"],
		ArrayJobID:  fields["ArrayJobId"],
		ArrayTaskID: fields["ArrayTaskId"],
		State:       fields["JobState"],
		Reason:      fields["Reason"],
		Fields:      fields,
	}
	code, sig, _ := strings.Cut(fields["ExitCode"], ":")
	j.ExitCode, _ = strconv.Atoi(code)
	j.Signal, _ = strconv.Atoi(sig)
	j.Restarts, _ = strconv.Atoi(fields["Restarts"])
	// slurmctld prints local time without a zone; it runs on this host.
	j.StartTime, _ = time.ParseInLocation("2006-01-02T15:04:05", fields["StartTime"], time.Local)
	j.EndTime, _ = time.ParseInLocation("2006-01-02T15:04:05", fields["EndTime"], time.Local)
	return j
}

// Scancel runs scancel with args (job ids, --signal=..., --full, ...).
func (c *Cluster) Scancel(args ...string) error {
	_, err := c.run("scancel", args...)
	return err
}

// Scontrol runs scontrol with args and returns its output.
func (c *Cluster) Scontrol(args ...string) (string, error) {
	return c.run("scontrol", args...)
}

// RestartController stops slurmctld and starts it again from its saved state;
// running jobs go on. slurmctld checks time limits every 30 s (a compile-time
// constant), counted from its start, so a test that restarts it 31 s after a
// job with --time=1 started sees that job's SIGTERM about 61 s after its
// start instead of anywhere from 60 to 90 s.
func (c *Cluster) RestartController() error {
	pidFile := filepath.Join(c.Dir, "run", "slurmctld.pid")
	data, err := os.ReadFile(pidFile)
	if err != nil {
		return fmt.Errorf("slurmtest: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return fmt.Errorf("slurmtest: %s: %w", pidFile, err)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("slurmtest: stopping slurmctld: %w", err)
	}
	deadline := time.Now().Add(cmdTimeout)
	for alive(pid) {
		if time.Now().After(deadline) {
			return fmt.Errorf("slurmtest: slurmctld (pid %d) still running %v after SIGTERM", pid, cmdTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	bin, err := lookPath("slurmctld")
	if err != nil {
		return fmt.Errorf("slurmtest: slurmctld: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	// It forks into the background itself; its std streams go to the
	// same file as start.sh's, so Run returns once it has forked.
	logf, err := os.OpenFile(filepath.Join(c.Dir, "log", "slurmctld.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("slurmtest: %w", err)
	}
	defer logf.Close()
	cmd := c.command(ctx, bin, []string{"-f", c.Conf}, nil)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("slurmtest: restarting slurmctld: %w (see %s/log)", err, c.Dir)
	}
	for {
		out, _ := c.run("scontrol", "ping")
		if strings.Contains(out, "is UP") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("slurmtest: restarted slurmctld does not answer (see %s/log)", c.Dir)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// alive reports whether pid runs and is not a zombie.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

// moduleRoot walks up from the working directory (a test's package
// directory) to the nearest directory containing go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("slurmtest: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("slurmtest: no go.mod above the working directory")
		}
		dir = parent
	}
}
