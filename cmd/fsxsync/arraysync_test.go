package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The tasks of an array running a plain sync list both sides once between them. These tests run the real binary as
// several processes with a Slurm array's environment, each with its own state directory and its own counting proxy
// in front of versitygw (tasks on different nodes share only the file system and S3), some started long after
// the others; no Slurm cluster is needed, since the environment is all fsxsync reads.

// atCounter counts the LIST requests that pass through one task's proxy, and can slow some requests down.
type atCounter struct {
	lists, heads atomic.Int64
	// slowList and slowPut delay every LIST or PUT, to keep a planner or a transfer going long enough to be killed.
	slowList, slowPut time.Duration
}

func atProxy(t *testing.T, target string, c *atCounter) string {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Query().Has("list-type"):
			c.lists.Add(1)
			time.Sleep(c.slowList)
		case r.Method == http.MethodPut:
			time.Sleep(c.slowPut)
		case r.Method == http.MethodHead:
			c.heads.Add(1)
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// atTask is one array task's process.
type atTask struct {
	cmd    *exec.Cmd
	out    strings.Builder
	report string
}

// atStart starts array task i of 4 of job job, syncing src to dst through endpoint, with its own state directory.
func atStart(t *testing.T, f *ktFixture, job string, i int, src, dst, endpoint string, extra ...string) *atTask {
	report := filepath.Join(f.dir, fmt.Sprintf("report-%s-%d.json", job, i))
	os.Remove(report)
	args := append([]string{"sync", src, dst, "--progress", "none", "--report", report}, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	tk := &atTask{report: report}
	tk.cmd = exec.CommandContext(ctx, f.bin, args...)
	tk.cmd.Env = append(os.Environ(), f.job.jobEnv("", endpoint, f.dir)...)
	tk.cmd.Env = append(tk.cmd.Env, "FSXSYNC_STATE_DIR="+filepath.Join(f.dir, fmt.Sprintf("state-%d", i)),
		"SLURM_JOB_ID="+job+fmt.Sprint(i), "SLURM_ARRAY_JOB_ID="+job, "SLURM_ARRAY_TASK_ID="+fmt.Sprint(i),
		"SLURM_ARRAY_TASK_MIN=0", "SLURM_ARRAY_TASK_MAX=3", "SLURM_ARRAY_TASK_COUNT=4", "SLURM_ARRAY_TASK_STEP=1",
		"FSXSYNC_ARRAY_LOCK_STALE=2s")
	tk.cmd.Stdout, tk.cmd.Stderr = &tk.out, &tk.out
	if err := tk.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return tk
}

// wait returns the task's exit code.
func (tk *atTask) wait(t *testing.T) int {
	err := tk.cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

func waitFor(t *testing.T, what string, cond func() bool) {
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestArraySyncListsOnce(t *testing.T) {
	f := newKTFixture(t)
	bucket := f.env.NewBucket(t)
	src := filepath.Join(f.dir, "tree")
	const n, dirs = 2000, 40
	for i := 0; i < n; i++ {
		p := filepath.Join(src, fmt.Sprintf("d%02d", i%dirs), fmt.Sprintf("f%04d", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.Repeat("y", i%97)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dst := "s3://" + bucket + "/arr"

	// run runs the four tasks of one array job: 0 and 1 together, 2 a moment later, 3 only once the others have
	// finished (as a task waiting hours for a node would). It returns the LIST requests and files moved in all.
	run := func(job string) (lists, heads, moved, skipped int64) {
		var tasks []*atTask
		var counters []*atCounter
		for i := 0; i < 4; i++ {
			c := &atCounter{}
			counters = append(counters, c)
			if i == 2 {
				time.Sleep(500 * time.Millisecond)
			}
			if i == 3 {
				for j, tk := range tasks {
					if code := tk.wait(t); code != 0 {
						t.Fatalf("job %s task %d: exit %d\n%s", job, j, code, tk.out.String())
					}
				}
			}
			tasks = append(tasks, atStart(t, f, job, i, src, dst, atProxy(t, f.env.S3Endpoint, c)))
		}
		if code := tasks[3].wait(t); code != 0 {
			t.Fatalf("job %s task 3: exit %d\n%s", job, code, tasks[3].out.String())
		}
		planners := 0
		for i, tk := range tasks {
			r := readReport(t, tk.report)
			moved += r.Transferred.Files
			skipped += r.Skipped.Files
			lists += counters[i].lists.Load()
			heads += counters[i].heads.Load()
			if strings.Contains(tk.out.String(), "this task lists both sides") {
				planners++
			}
			t.Logf("job %s task %d: %d LIST, moved %d", job, i, counters[i].lists.Load(), r.Transferred.Files)
		}
		if planners != 1 {
			t.Errorf("job %s: %d tasks planned, want 1", job, planners)
		}
		return lists, heads, moved, skipped
	}

	lists, _, moved, _ := run("71")
	if moved != n {
		t.Errorf("first run moved %d files in all, want each of %d once", moved, n)
	}
	if got := countKeys(t, f.s3, bucket, "arr/"); got != n {
		t.Errorf("bucket holds %d objects, want %d", got, n)
	}
	firstLists := lists

	// One plain sync of the now complete tree outside any array: what one full listing costs.
	c := &atCounter{}
	one := exec.Command(f.bin, "sync", src, dst, "--progress", "none")
	one.Env = append(os.Environ(), f.job.jobEnv("", atProxy(t, f.env.S3Endpoint, c), f.dir)...)
	if out, err := one.CombinedOutput(); err != nil {
		t.Fatalf("single sync: %v\n%s", err, out)
	}
	full := c.lists.Load()
	limit := full*12/10 + 2*4
	t.Logf("one listing: %d LIST; array first run %d", full, firstLists)
	if firstLists > limit {
		t.Errorf("the first run's tasks sent %d LIST requests in all; one listing is %d, want at most %d", firstLists, full, limit)
	}

	// A no-op rerun is a new job: it plans again (one listing), then finds nothing to do.
	// The tasks have their own state directories, so the new planner (any task) knows the objects only from the
	// state the last array's tasks left beside the plan: without it, it would send a HEAD request for each.
	lists, heads, moved, skipped := run("72")
	t.Logf("array no-op rerun: %d LIST, %d HEAD", lists, heads)
	if heads > 3*4 {
		t.Errorf("the no-op rerun's tasks sent %d HEAD requests; the state the first run left should spare them", heads)
	}
	if moved != 0 || skipped != n {
		t.Errorf("no-op rerun moved %d files and found %d up to date, want 0 and %d", moved, skipped, n)
	}
	if lists > limit {
		t.Errorf("the no-op rerun's tasks sent %d LIST requests in all; one listing is %d, want at most %d", lists, full, limit)
	}
}

// A planner killed mid-plan is replaced once its heartbeat stops; a task stopped by SIGTERM (a requeue, a
// preemption) resumes from its journal when it runs again; every file still moves exactly once.
func TestArraySyncTakeoverAndRequeue(t *testing.T) {
	f := newKTFixture(t)
	bucket := f.env.NewBucket(t)
	src := filepath.Join(f.dir, "tree")
	const n = 800
	makeFiles(t, src, n)
	dst := "s3://" + bucket + "/rq"
	meet := filepath.Join(f.dir, ".fsxsync-arrays")

	// Task 0 plans slowly and is killed once it holds the lock.
	slow := &atCounter{slowList: 500 * time.Millisecond}
	planner := atStart(t, f, "81", 0, src, dst, atProxy(t, f.env.S3Endpoint, slow))
	waitFor(t, "the planner's lock", func() bool {
		m, _ := filepath.Glob(filepath.Join(meet, "array-81-*", "lock-0000"))
		return len(m) == 1
	})
	if err := planner.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	planner.wait(t)
	if m, _ := filepath.Glob(filepath.Join(meet, "array-81-*", "ready")); len(m) != 0 {
		t.Fatalf("the plan was published before the planner was killed; slow its listing down more")
	}

	// Task 1 moves slowly, so that it can be stopped part way; the others run at full speed.
	var tasks []*atTask
	for i := 0; i < 4; i++ {
		c := &atCounter{}
		extra := []string{}
		if i == 1 {
			c.slowPut = 100 * time.Millisecond
			extra = []string{"--concurrency", "2"}
		}
		tasks = append(tasks, atStart(t, f, "81", i, src, dst, atProxy(t, f.env.S3Endpoint, c), extra...))
	}
	waitFor(t, "the new plan", func() bool {
		m, _ := filepath.Glob(filepath.Join(meet, "array-81-*", "gen-0001", "manifest.json"))
		return len(m) == 1
	})
	time.Sleep(time.Second)
	if err := tasks[1].cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := tasks[1].wait(t); code != 75 {
		t.Fatalf("stopped task 1: exit %d, want 75\n%s", code, tasks[1].out.String())
	}
	stopped := readReport(t, tasks[1].report)
	if stopped.Transferred.Files == 0 {
		t.Fatalf("task 1 moved nothing before it was stopped; the test proves nothing\n%s", tasks[1].out.String())
	}
	// The stopped task may be the one that took the plan over.
	planners := strings.Count(tasks[1].out.String(), "this task lists both sides")
	// The requeued task: same job, same task id.
	tasks[1] = atStart(t, f, "81", 1, src, dst, atProxy(t, f.env.S3Endpoint, &atCounter{}))
	moved := stopped.Transferred.Files
	for i, tk := range tasks {
		if code := tk.wait(t); code != 0 {
			t.Fatalf("task %d: exit %d\n%s", i, code, tk.out.String())
		}
		r := readReport(t, tk.report)
		moved += r.Transferred.Files
		if strings.Contains(tk.out.String(), "this task lists both sides") {
			planners++
			if !strings.Contains(tk.out.String(), "has not beaten") {
				t.Errorf("task %d planned without saying it took over a stale lock:\n%s", i, tk.out.String())
			}
		}
		if i == 1 && r.Resumed != stopped.Transferred.Files {
			t.Errorf("requeued task 1 resumed %d items, want the %d it moved before it was stopped\n%s", r.Resumed,
				stopped.Transferred.Files, tk.out.String())
		}
	}
	if planners != 1 {
		t.Errorf("%d tasks took over the plan, want 1", planners)
		for i, tk := range tasks {
			t.Logf("task %d:\n%s", i, tk.out.String())
		}
	}
	if moved != n {
		t.Errorf("moved %d files in all, want each of %d exactly once", moved, n)
	}
	if got := countKeys(t, f.s3, bucket, "rq/"); got != n {
		t.Errorf("bucket holds %d objects, want %d", got, n)
	}
}
