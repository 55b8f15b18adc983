package slurmtest_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsxsync/fsxsync/internal/slurmtest"
)

// What a real Slurm does, as these tests show it. Debian 12's slurm-wlm
// 22.05.8-4+deb12u3 and munge 0.5.15-2+deb12u1, the slurm.conf that
// scripts/slurm/start.sh writes (KillWait=30, OverTimeLimit=0, MinJobAge=3600,
// no accounting, cred_expire=10), on a 2-core VM; times from several runs.
//
//	behaviour                        observed                                           test
//	-------------------------------  -------------------------------------------------  ---------------------------
//	cluster startup                  0.26-0.33 s until sinfo shows the node idle        TestSlurm (StartupTime)
//	simple job                       runs within ~1 s of sbatch; output file appears    SimpleJob
//	--array=3-9:2                    tasks 3,5,7,9; every task sees                     ArrayJob
//	                                 SLURM_ARRAY_TASK_COUNT=4 MIN=3 MAX=9 STEP=2 and
//	                                 SLURM_ARRAY_JOB_ID = the id sbatch printed; tasks
//	                                 3,5,7 get new SLURM_JOB_IDs (the next free ids,
//	                                 in order), the last task (9) keeps the array's id
//	sbatch -n2; srun -n2             batch shell: SLURM_NTASKS=2 SLURM_PROCID=0; tasks:  SrunTwoTasks
//	                                 SLURM_PROCID 0,1, SLURM_NTASKS=2, SLURM_STEP_ID=0,
//	                                 SLURM_LOCALID 0,1
//	scancel JOB                      SIGCONT then SIGTERM to the batch shell (and every  ScancelTermThenKill
//	                                 process of the job) within 0.02 s; SIGKILL 29.6-
//	                                 29.7 s later (KillWait=30); JobState=CANCELLED
//	                                 ExitCode=0:9
//	node while a job is COMPLETING   slurmctld starts NO job on a node that has a         ScancelTermThenKill
//	                                 completing job: a job submitted 1 s after the
//	                                 scancel started 0.1 s after the SIGKILL, ~30 s
//	                                 later. On one node, a job slow to die stalls all
//	scancel --signal=USR1 JOB        the job's steps (srun) only, not the batch shell    ScancelSignalTargets
//	scancel --batch --signal=USR1    the batch shell only, not its children or steps     ScancelSignalTargets
//	scancel --full --signal=USR1     batch shell, its children and the steps             ScancelSignalTargets
//	--time=0:10, 0:59 / 0:61 / 0     TimeLimit 1 min / 2 min / UNLIMITED: whole           TimeLimitMinutes
//	                                 minutes, seconds round up; 1 min is the minimum
//	--time=1 (1 minute)              SIGTERM (to all processes, batch shell included)    TimeLimit
//	                                 at the first time-limit check after start+60 s.
//	                                 slurmctld checks every 30 s (PERIODIC_TIMEOUT, a
//	                                 compile-time constant) counted from its own start,
//	                                 so 60-90 s after the job's start (83.2 and 88.2 s
//	                                 measured by hand); then KillWait to SIGKILL.
//	                                 JobState=TIMEOUT Reason=TimeLimit; ExitCode is the
//	                                 script's own (143:0 when it exits on the TERM)
//	  ... in under 90 s              restart slurmctld 31 s after the job's StartTime   TimeLimit
//	                                 (Cluster.RestartController): the checks then fall
//	                                 at StartTime+61 s; SIGTERM 60.5-61.0 s after start,
//	                                 the test takes ~62 s
//	--signal=B:USR1@50 --time=1      USR1 to the batch shell (only) 28.7-29.1 s after   SignalBatchBeforeTimeLimit
//	                                 the start. Sent by the same 30-s check, at the
//	                                 first one where time left <= N+30 s: so between
//	                                 N+30 and N s before the limit, or at the first
//	                                 check if that is already later
//	--signal=USR1@50 (no B:)         USR1 to the steps only; the batch shell gets none   SignalStepsOnlyWithoutB
//	--requeue + scontrol requeue     SIGTERM to the running job within 0.01 s (it is     RequeueRestartCount
//	                                 killed like scancel), job PENDING (BeginTime) and
//	                                 started again 10.9-11.0 s later = cred_expire+1
//	                                 (Slurm's default cred_expire=120: 121 s in
//	                                 production); SLURM_RESTART_COUNT is unset on the
//	                                 first run and 1 on the second; Restarts=1 in
//	                                 scontrol show job; the -o file is truncated: only
//	                                 the last run's output is left (use
//	                                 --open-mode=append to keep both)
//	exit 75                          JobState=FAILED Reason=NonZeroExitCode ExitCode=75:0 ExitCode75
//	                                 in `scontrol show job` until MinJobAge (no sacct)
//	RequeueExit=75 in slurm.conf     a script exiting 75 is requeued by Slurm itself:    RequeueExit
//	                                 second run 11 s later with SLURM_RESTART_COUNT=1,
//	                                 then COMPLETED, Restarts=1
//	two clusters side by side        fine: own ports, MUNGE socket and dirs each         TimeLimit, RequeueExit,
//	                                                                                    ScancelTermThenKill
//	several slurmd on one host       works: Debian builds Slurm with                     TwoNodes
//	(Options.Nodes)                  --enable-multiple-slurmd (`scontrol show config`:
//	                                 MULTIPLE_SLURMD = Yes). Each node needs its own
//	                                 Port= and, through %n, its own SlurmdSpoolDir and
//	                                 SlurmdPidFile: with a shared pid file the second
//	                                 slurmd logs "killing old slurmd" and the first
//	                                 exits. Nodes on 127.0.0.2.. all answer (127/8 is
//	                                 loopback). `scontrol listpids` sees one node's
//	                                 spool only; `listpids '*' nI` names the node
//	sbatch -N2 -n4; srun             tasks on both nodes, SLURMD_NODENAME n1 / n2,        TwoNodes
//	                                 SLURM_NODEID 0 / 1
//	--array=0-1 --exclusive          one task per node, both at once                     TwoNodes

// bash is the start of every job script here.
const bash = "#!/bin/bash\nset -u\ncd \"$SLURM_SUBMIT_DIR\"\n"

// TestSlurm starts one cluster and runs, all at once, the job behaviours that
// do not disturb each other on it; the ones that need a slurm.conf or a
// slurmctld of their own start another cluster beside it. The subtests mostly
// wait for Slurm (KillWait, time limits), so they run in goroutines rather
// than with t.Parallel, which -parallel (GOMAXPROCS, 2 on CI) would limit to
// two at a time: the whole test takes about as long as its longest subtest.
func TestSlurm(t *testing.T) {
	c := slurmtest.StartT(t)
	t.Logf("cluster up in %v (Dir %s)", c.StartupTime.Round(time.Millisecond), c.Dir)
	if c.StartupTime > 15*time.Second {
		t.Errorf("startup took %v, want < 15 s", c.StartupTime)
	}
	var wg sync.WaitGroup
	run := func(name string, f func(t *testing.T)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run(name, f)
		}()
	}
	defer wg.Wait() // t.Run calls must return before TestSlurm does

	run("SimpleJob", func(t *testing.T) {
		dir := t.TempDir()
		begin := time.Now()
		id := sbatch(t, c, dir, bash+`
echo "hello from $SLURM_JOB_ID" > result.txt
echo "on stdout"
`, "-o", "job-%j.out", "-J", "simple")
		jobs := waitJobs(t, c, id, 30*time.Second)
		t.Logf("submit to gone from squeue: %v", time.Since(begin).Round(time.Millisecond))
		if got, want := readFile(t, filepath.Join(dir, "result.txt")), "hello from "+id+"\n"; got != want {
			t.Errorf("result.txt = %q, want %q", got, want)
		}
		if got := readFile(t, filepath.Join(dir, "job-"+id+".out")); got != "on stdout\n" {
			t.Errorf("output file = %q, want %q", got, "on stdout\n")
		}
		wantState(t, jobs, "COMPLETED", 0, 0)
	})

	run("ArrayJob", func(t *testing.T) {
		dir := t.TempDir()
		id := sbatch(t, c, dir, bash+`
env | grep -E '^SLURM_(ARRAY_|JOB_ID=)' | sort > "task-$SLURM_ARRAY_TASK_ID.env"
`, "--array=3-9:2", "-o", "arr-%A_%a.out")
		jobs := waitJobs(t, c, id, 60*time.Second)
		var tasks []string
		for _, j := range jobs {
			tasks = append(tasks, j.ArrayTaskID)
			if j.State != "COMPLETED" || j.ArrayJobID != id {
				t.Errorf("task %s: JobId=%s ArrayJobId=%s JobState=%s, want ArrayJobId=%s COMPLETED",
					j.ArrayTaskID, j.ID, j.ArrayJobID, j.State, id)
			}
		}
		slices.Sort(tasks)
		if want := []string{"3", "5", "7", "9"}; !slices.Equal(tasks, want) {
			t.Errorf("array tasks %v, want %v", tasks, want)
		}
		for _, task := range []string{"3", "5", "7", "9"} {
			env := parseEnv(readFile(t, filepath.Join(dir, "task-"+task+".env")))
			t.Logf("task %s: %v", task, env)
			want := map[string]string{
				"SLURM_ARRAY_TASK_ID": task, "SLURM_ARRAY_TASK_COUNT": "4",
				"SLURM_ARRAY_TASK_MIN": "3", "SLURM_ARRAY_TASK_MAX": "9", "SLURM_ARRAY_TASK_STEP": "2",
				"SLURM_ARRAY_JOB_ID": id,
			}
			for k, v := range want {
				if env[k] != v {
					t.Errorf("task %s: %s=%q, want %q", task, k, env[k], v)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "arr-"+id+"_"+task+".out")); err != nil {
				t.Errorf("output file of task %s: %v", task, err)
			}
		}
		if m, _ := filepath.Glob(filepath.Join(dir, "task-*.env")); len(m) != 4 {
			t.Errorf("%d tasks ran, want 4: %v", len(m), m)
		}
	})

	run("SrunTwoTasks", func(t *testing.T) {
		dir := t.TempDir()
		id := sbatch(t, c, dir, bash+`
echo "batch $SLURM_NTASKS ${SLURM_PROCID:-unset}" > batch.txt
srun -n2 bash -c 'echo "$SLURM_PROCID $SLURM_NTASKS $SLURM_STEP_ID $SLURM_LOCALID"' | sort > tasks.txt
`, "-n2", "-o", "srun.out")
		jobs := waitJobs(t, c, id, 30*time.Second)
		wantState(t, jobs, "COMPLETED", 0, 0)
		t.Logf("batch shell: %q; srun tasks (PROCID NTASKS STEP_ID LOCALID): %q",
			readFile(t, filepath.Join(dir, "batch.txt")), readFile(t, filepath.Join(dir, "tasks.txt")))
		if got, want := readFile(t, filepath.Join(dir, "tasks.txt")), "0 2 0 0\n1 2 0 1\n"; got != want {
			t.Errorf("srun tasks printed %q, want %q (srun.out: %q)", got, want, readFile(t, filepath.Join(dir, "srun.out")))
		}
	})

	run("ScancelTermThenKill", func(t *testing.T) {
		// A cluster of its own: for the KillWait this job spends
		// COMPLETING, slurmctld starts no job on its node, which would
		// stall the other subtests.
		c := slurmtest.StartT(t)
		dir := t.TempDir()
		// The shell logs SIGTERM and ignores it; a child that ignores
		// SIGTERM writes the time every 0.1 s, so its last tick is when
		// SIGKILL came. SIGCONT, which scancel sends just before SIGTERM,
		// is not trapped: with both trapped, bash was seen (once in six
		// runs) to run the CONT trap and never the TERM one when the two
		// arrived together.
		id := sbatch(t, c, dir, bash+`
trap 'echo "TERM $(date +%s.%N)" >> signals' TERM
( trap '' TERM; while :; do date +%s.%N > tick.tmp; mv tick.tmp tick; sleep 0.1; done ) &
touch started
while :; do sleep 0.5 & wait $!; done
`, "-o", "cancel.out")
		waitFile(t, filepath.Join(dir, "started"), 30*time.Second)
		time.Sleep(500 * time.Millisecond)
		cancelled := time.Now()
		if err := c.Scancel(id); err != nil {
			t.Fatal(err)
		}
		// A job submitted while the cancelled one is COMPLETING.
		time.Sleep(time.Second)
		next := sbatch(t, c, dir, bash+"date +%s.%N > next-started\n", "-o", "next.out")
		jobs := waitJobs(t, c, id, 90*time.Second)
		sigs := readFile(t, filepath.Join(dir, "signals"))
		term := signalTime(t, sigs, "TERM")
		kill := unixTime(t, readFile(t, filepath.Join(dir, "tick")))
		t.Logf("signals to the batch shell: %q", sigs)
		t.Logf("scancel -> SIGTERM %.2f s; SIGTERM -> SIGKILL %.2f s (KillWait=30); state %s ExitCode=%d:%d",
			term.Sub(cancelled).Seconds(), kill.Sub(term).Seconds(), jobs[0].State, jobs[0].ExitCode, jobs[0].Signal)
		waitJobs(t, c, next, 30*time.Second)
		nextStart := unixTime(t, readFile(t, filepath.Join(dir, "next-started")))
		t.Logf("a job submitted 1 s after the scancel started %.1f s after it, %.1f s after the SIGKILL",
			nextStart.Sub(cancelled).Seconds(), nextStart.Sub(kill).Seconds())
		if nextStart.Before(kill) {
			t.Errorf("the next job started %v before the SIGKILL, want only once the node's COMPLETING job is gone", kill.Sub(nextStart))
		}
		if d := term.Sub(cancelled); d > 3*time.Second {
			t.Errorf("SIGTERM %v after scancel", d)
		}
		if d := kill.Sub(term); d < 28*time.Second || d > 33*time.Second {
			t.Errorf("SIGKILL %v after SIGTERM, want KillWait=30 s", d)
		}
		if jobs[0].State != "CANCELLED" {
			t.Errorf("JobState=%s, want CANCELLED", jobs[0].State)
		}
	})

	run("ScancelSignalTargets", func(t *testing.T) {
		dir := t.TempDir()
		// Who gets `scancel --signal=USR1` with and without --batch and
		// --full: the batch shell, a plain child of it, an srun step.
		id := sbatch(t, c, dir, bash+`
trap 'echo "batch USR1" >> signals' USR1
( trap 'echo "child USR1" >> signals' USR1; while :; do sleep 0.1 & wait $!; done ) &
srun -n1 bash -c 'trap "echo step USR1 >> signals" USR1; touch step-started; while :; do sleep 0.1 & wait $!; done' &
touch started
while :; do sleep 0.1 & wait $!; done
`, "-o", "targets.out")
		waitFile(t, filepath.Join(dir, "started"), 30*time.Second)
		waitFile(t, filepath.Join(dir, "step-started"), 30*time.Second)
		results := map[string]string{}
		for _, variant := range [][]string{{"--signal=USR1"}, {"--batch", "--signal=USR1"}, {"--full", "--signal=USR1"}} {
			os.Remove(filepath.Join(dir, "signals"))
			if err := c.Scancel(append(variant, id)...); err != nil {
				t.Fatal(err)
			}
			time.Sleep(1500 * time.Millisecond)
			got, _ := os.ReadFile(filepath.Join(dir, "signals"))
			lines := strings.Fields(strings.ReplaceAll(string(got), " USR1", ""))
			slices.Sort(lines)
			results[strings.Join(variant, " ")] = strings.Join(lines, ",")
		}
		if err := c.Scancel(id); err != nil {
			t.Fatal(err)
		}
		waitJobs(t, c, id, 60*time.Second)
		t.Logf("who gets USR1: %v", results)
		want := map[string]string{
			"--signal=USR1":         "step",
			"--batch --signal=USR1": "batch",
			"--full --signal=USR1":  "batch,child,step",
		}
		for k, v := range want {
			if results[k] != v {
				t.Errorf("scancel %s reached %q, want %q", k, results[k], v)
			}
		}
	})

	run("SignalBatchBeforeTimeLimit", func(t *testing.T) {
		dir := t.TempDir()
		// --signal=B:USR1@50 with --time=1: due 10 s after the start, sent
		// by the first 30-s time-limit check that finds fewer than 50+30 s
		// left, so anywhere from 0 to 30 s after the start.
		id := sbatch(t, c, dir, bash+`
date +%s.%N > started
trap 'echo "USR1 $(date +%s.%N)" >> signals; exit 0' USR1
while :; do sleep 0.2 & wait $!; done
`, "--time=1", "--signal=B:USR1@50", "-o", "usr1.out")
		jobs := waitJobs(t, c, id, 80*time.Second)
		start := unixTime(t, readFile(t, filepath.Join(dir, "started")))
		usr1 := signalTime(t, readFile(t, filepath.Join(dir, "signals")), "USR1")
		t.Logf("--time=1 --signal=B:USR1@50: USR1 to the batch shell %.1f s after its start; %s ExitCode=%d:%d",
			usr1.Sub(start).Seconds(), jobs[0].State, jobs[0].ExitCode, jobs[0].Signal)
		if d := usr1.Sub(start); d > 32*time.Second {
			t.Errorf("USR1 %v after the start, want at most 30 s (+ slack)", d)
		}
		wantState(t, jobs, "COMPLETED", 0, 0)
	})

	run("SignalStepsOnlyWithoutB", func(t *testing.T) {
		dir := t.TempDir()
		// Without B: the warning signal goes to the job's steps, not to
		// the batch shell.
		id := sbatch(t, c, dir, bash+`
trap 'echo "batch USR1" >> signals' USR1
srun -n1 bash -c 'trap "echo step USR1 >> signals; exit 0" USR1; while :; do sleep 0.2 & wait $!; done'
echo "batch done" >> signals
`, "--time=1", "--signal=USR1@50", "-o", "usr1-steps.out")
		jobs := waitJobs(t, c, id, 80*time.Second)
		got := readFile(t, filepath.Join(dir, "signals"))
		t.Logf("--signal=USR1@50 (no B:): %q", got)
		if got != "step USR1\nbatch done\n" {
			t.Errorf("signals %q, want the step's USR1 only", got)
		}
		wantState(t, jobs, "COMPLETED", 0, 0)
	})

	run("RequeueRestartCount", func(t *testing.T) {
		dir := t.TempDir()
		id := sbatch(t, c, dir, bash+`
echo "run restart=${SLURM_RESTART_COUNT:-unset} $(date +%s.%N)" >> runs
echo "stdout of run ${SLURM_RESTART_COUNT:-unset}"
if [ "${SLURM_RESTART_COUNT:-0}" = 0 ]; then
	trap 'echo "TERM $(date +%s.%N)" >> runs; exit 143' TERM
	touch started
	while :; do sleep 0.2 & wait $!; done
fi
exit 0
`, "--requeue", "-o", "requeue-%j.out")
		waitFile(t, filepath.Join(dir, "started"), 30*time.Second)
		requeued := time.Now()
		if _, err := c.Scontrol("requeue", id); err != nil {
			t.Fatal(err)
		}
		jobs := waitJobs(t, c, id, 60*time.Second)
		runs := readFile(t, filepath.Join(dir, "runs"))
		out := readFile(t, filepath.Join(dir, "requeue-"+id+".out"))
		lines := strings.Split(strings.TrimSpace(runs), "\n")
		t.Logf("runs: %q; output file after both runs: %q; Restarts=%d %s", runs, out, jobs[0].Restarts, jobs[0].State)
		if len(lines) != 3 || !strings.HasPrefix(lines[0], "run restart=unset ") ||
			!strings.HasPrefix(lines[1], "TERM ") || !strings.HasPrefix(lines[2], "run restart=1 ") {
			t.Fatalf("runs = %q, want a first run (no SLURM_RESTART_COUNT), its SIGTERM, a run with SLURM_RESTART_COUNT=1", runs)
		}
		term := unixTime(t, strings.Fields(lines[1])[1])
		again := unixTime(t, strings.Fields(lines[2])[2])
		t.Logf("scontrol requeue -> SIGTERM %.2f s; -> second run %.1f s (cred_expire=10 + 1)",
			term.Sub(requeued).Seconds(), again.Sub(requeued).Seconds())
		if d := again.Sub(requeued); d < 10*time.Second || d > 20*time.Second {
			t.Errorf("second run %v after the requeue, want cred_expire+1 = 11 s (+ scheduling)", d)
		}
		if jobs[0].Restarts != 1 {
			t.Errorf("Restarts=%d, want 1", jobs[0].Restarts)
		}
		wantState(t, jobs, "COMPLETED", 0, 0)
	})

	run("ExitCode75", func(t *testing.T) {
		dir := t.TempDir()
		id := sbatch(t, c, dir, bash+"exit 75\n", "-o", "exit75.out")
		jobs := waitJobs(t, c, id, 30*time.Second)
		t.Logf("exit 75: JobState=%s Reason=%s ExitCode=%s", jobs[0].State, jobs[0].Reason, jobs[0].Fields["ExitCode"])
		wantState(t, jobs, "FAILED", 75, 0)
	})

	run("TimeLimitMinutes", func(t *testing.T) {
		// Time limits are whole minutes: seconds round up, 0 is none.
		dir := t.TempDir()
		for _, tc := range []struct{ arg, want string }{
			{"0:10", "00:01:00"}, {"0:59", "00:01:00"}, {"0:61", "00:02:00"}, {"1", "00:01:00"}, {"0", "UNLIMITED"},
		} {
			id := sbatch(t, c, dir, bash+"exit 0\n", "--hold", "--time="+tc.arg, "-o", "/dev/null")
			jobs, err := c.Jobs(id)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Scancel(id); err != nil {
				t.Fatal(err)
			}
			if got := jobs[0].Fields["TimeLimit"]; got != tc.want {
				t.Errorf("--time=%s: TimeLimit=%s, want %s", tc.arg, got, tc.want)
			}
		}
	})

	// A cluster of its own, because it restarts slurmctld (see
	// RestartController); it also shows two clusters running side by side.
	run("TimeLimit", testTimeLimit)
	// A cluster of its own, with RequeueExit=75 in its slurm.conf.
	run("RequeueExit", testRequeueExit)
	// A cluster of its own, with two nodes.
	run("TwoNodes", testTwoNodes)
}

// testTwoNodes: with Options.Nodes, steps and array tasks run on several
// nodes, each a slurmd of its own, and Stop kills the jobs on every node.
func testTwoNodes(t *testing.T) {
	c := slurmtest.StartT(t, slurmtest.Options{Nodes: 2, CPUs: 2})
	t.Logf("two-node cluster up in %v", c.StartupTime.Round(time.Millisecond))
	dir := t.TempDir()
	id := sbatch(t, c, dir, bash+`
srun bash -c 'echo "$SLURM_PROCID $SLURMD_NODENAME $SLURM_NODEID"' | sort > tasks.txt
`, "-N2", "-n4", "-o", "two-nodes.out")
	wantState(t, waitJobs(t, c, id, 30*time.Second), "COMPLETED", 0, 0)
	tasks := readFile(t, filepath.Join(dir, "tasks.txt"))
	nodes := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(tasks), "\n") {
		if f := strings.Fields(line); len(f) == 3 {
			nodes[f[1]+" "+f[2]] = true
		}
	}
	if !nodes["n1 0"] || !nodes["n2 1"] || len(nodes) != 2 {
		t.Errorf("srun -N2 -n4 tasks (procid node nodeid):\n%swant tasks on n1 (node 0) and n2 (node 1)", tasks)
	}

	// Two exclusive array tasks run at once, one per node; Stop then kills
	// both, on either node.
	sbatch(t, c, dir, bash+`
echo "$SLURMD_NODENAME $$" > "task-$SLURM_ARRAY_TASK_ID"
exec sleep 300
`, "--array=0-1", "--exclusive", "-o", "/dev/null")
	var pids []int
	seen := map[string]bool{}
	for _, task := range []string{"task-0", "task-1"} {
		waitFile(t, filepath.Join(dir, task), 30*time.Second)
		f := strings.Fields(readFile(t, filepath.Join(dir, task)))
		if len(f) != 2 {
			t.Fatalf("%s: %q", task, f)
		}
		seen[f[0]] = true
		pid, err := strconv.Atoi(f[1])
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	if !seen["n1"] || !seen["n2"] {
		t.Errorf("exclusive array tasks ran on %v, want n1 and n2", seen)
	}
	c.Keep = true // Dir (logs) stays until the test's cleanup, which stops again and removes it
	c.Stop()
	c.Keep = false
	for _, pid := range pids {
		if stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil && !strings.Contains(string(stat), ") Z ") {
			t.Errorf("job process %d still runs after Stop: %s", pid, stat)
		}
	}
}

// testTimeLimit: a job with --time=1 gets SIGTERM at its limit.
func testTimeLimit(t *testing.T) {
	c := slurmtest.StartT(t)
	dir := t.TempDir()
	id := sbatch(t, c, dir, bash+`
date +%s.%N > started
trap 'echo "TERM $(date +%s.%N)" >> signals; exit 143' TERM
while :; do sleep 0.2 & wait $!; done
`, "--time=1", "-o", "timelimit.out")
	waitFile(t, filepath.Join(dir, "started"), 30*time.Second)
	jobs, err := c.Jobs(id)
	if err != nil {
		t.Fatal(err)
	}
	if jobs[0].StartTime.IsZero() {
		t.Fatalf("no StartTime for running job %s: %v", id, jobs[0].Fields)
	}
	// The job's end_time is StartTime (whole seconds) + 60 s; restarting
	// slurmctld 31 s after StartTime puts its 30-s checks at StartTime+61+.
	time.Sleep(time.Until(jobs[0].StartTime.Add(31 * time.Second)))
	if err := c.RestartController(); err != nil {
		t.Fatal(err)
	}
	jobs = waitJobs(t, c, id, 90*time.Second)
	start := unixTime(t, readFile(t, filepath.Join(dir, "started")))
	term := signalTime(t, readFile(t, filepath.Join(dir, "signals")), "TERM")
	t.Logf("--time=1: SIGTERM %.1f s after the start; JobState=%s Reason=%s ExitCode=%s",
		term.Sub(start).Seconds(), jobs[0].State, jobs[0].Reason, jobs[0].Fields["ExitCode"])
	if d := term.Sub(start); d < 59*time.Second || d > 70*time.Second {
		t.Errorf("SIGTERM %v after the start, want about 61 s", d)
	}
	if jobs[0].State != "TIMEOUT" {
		t.Errorf("JobState=%s, want TIMEOUT", jobs[0].State)
	}
}

// testRequeueExit: with RequeueExit=75 in slurm.conf, a batch script that
// exits 75 is requeued by Slurm itself.
func testRequeueExit(t *testing.T) {
	c := slurmtest.StartT(t, slurmtest.Options{ExtraConf: []string{"RequeueExit=75"}})
	dir := t.TempDir()
	begin := time.Now()
	id := sbatch(t, c, dir, bash+`
echo "run ${SLURM_RESTART_COUNT:-unset} $(date +%s.%N)" >> runs
[ "${SLURM_RESTART_COUNT:-0}" = 0 ] && exit 75
exit 0
`, "-o", "requeue-exit.out")
	jobs := waitJobs(t, c, id, 60*time.Second)
	runs := readFile(t, filepath.Join(dir, "runs"))
	t.Logf("RequeueExit=75: runs %q in %v; JobState=%s Restarts=%d ExitCode=%s",
		runs, time.Since(begin).Round(time.Second), jobs[0].State, jobs[0].Restarts, jobs[0].Fields["ExitCode"])
	if !strings.HasPrefix(runs, "run unset ") || !strings.Contains(runs, "\nrun 1 ") {
		t.Errorf("runs = %q, want a first run and a second with SLURM_RESTART_COUNT=1", runs)
	}
	if jobs[0].Restarts != 1 {
		t.Errorf("Restarts=%d, want 1", jobs[0].Restarts)
	}
	wantState(t, jobs, "COMPLETED", 0, 0)
}

// TestNotInstalled: the error a machine without Slurm gets names what is
// missing and how to install it, and lets callers skip only outside CI.
func TestNotInstalled(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("CI", "")
	_, err := slurmtest.Start()
	if !errors.Is(err, slurmtest.ErrNotInstalled) {
		// Running the daemons from /usr/sbin still works without PATH,
		// but the clients in /usr/bin are missing.
		t.Fatalf("Start with an empty PATH: %v, want ErrNotInstalled", err)
	}
	for _, want := range []string{"sbatch", "scripts/slurm/install.sh"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	t.Setenv("CI", "true")
	if _, err := slurmtest.Start(); err == nil || errors.Is(err, slurmtest.ErrNotInstalled) {
		t.Errorf("with CI=true: %v, want an error that is not ErrNotInstalled", err)
	}
}

func sbatch(t *testing.T, c *slurmtest.Cluster, dir, script string, args ...string) string {
	t.Helper()
	id, err := c.Sbatch(dir, script, args, nil)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func waitJobs(t *testing.T, c *slurmtest.Cluster, id string, timeout time.Duration) []slurmtest.Job {
	t.Helper()
	jobs, err := c.WaitJobs(id, timeout)
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

func wantState(t *testing.T, jobs []slurmtest.Job, state string, code, sig int) {
	t.Helper()
	for _, j := range jobs {
		if j.State != state || j.ExitCode != code || j.Signal != sig {
			t.Errorf("job %s: JobState=%s ExitCode=%d:%d, want %s %d:%d", j.ID, j.State, j.ExitCode, j.Signal, state, code, sig)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func waitFile(t *testing.T, path string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within %v", path, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// signalTime returns the time of the first "NAME seconds.nanos" line.
func signalTime(t *testing.T, log, name string) time.Time {
	t.Helper()
	for _, line := range strings.Split(log, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == name {
			return unixTime(t, f[1])
		}
	}
	t.Fatalf("no %s in %q", name, log)
	return time.Time{}
}

// unixTime parses `date +%s.%N` output.
func unixTime(t *testing.T, s string) time.Time {
	t.Helper()
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		t.Fatalf("not a time: %q", s)
	}
	return time.Unix(0, int64(f*1e9))
}

func parseEnv(s string) map[string]string {
	env := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	return env
}
