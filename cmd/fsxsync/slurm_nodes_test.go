package main

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fsxsync/fsxsync/internal/iamtest"
	"github.com/fsxsync/fsxsync/internal/slurmtest"
)

// nodeScript runs one task of a plain sync with its state on "its node" only ($WORK/state-NODE): tasks on different
// nodes share nothing but the file system and S3. It records the node it ran on beside its report.
const nodeScript = `export FSXSYNC_STATE_DIR="$WORK/state-$SLURMD_NODENAME"
task=${SLURM_ARRAY_TASK_ID:-$SLURM_PROCID}
echo "$SLURMD_NODENAME" > "$WORK/node-$task"
exec "$FSXSYNC" sync "$WORK/src" "s3://$BUCKET/$PREFIX" --report "$WORK/report-$task.json"
`

// TestOnSlurmTwoNodes runs a plain sync as an array and as an srun step across the two nodes of a cluster (two
// slurmd on this host, see slurmtest.Options.Nodes): every file moves exactly once, whatever node took it.
func TestOnSlurmTwoNodes(t *testing.T) {
	// Two CPUs a node: srun -N2 -n4 fills both nodes, two tasks each.
	cl := slurmtest.StartT(t, slurmtest.Options{Nodes: 2, CPUs: 2})
	env, err := iamtest.Start()
	if err != nil {
		t.Fatalf("the Slurm tests need versitygw: %v", err)
	}
	t.Cleanup(env.Stop)
	f := &slurmFixture{cl: cl, env: env, bin: fsxsyncBinary(t)}

	for _, tc := range []struct {
		name   string
		script string
		args   []string
		says   string // what each task's output says about its shard
	}{
		// --exclusive: one task a node at a time, so tasks 0 and 1 start on different nodes and tasks 2 and 3 start
		// after them, as tasks minutes apart do.
		{"array", "#!/bin/bash\n" + nodeScript, []string{"--array=0-3", "--exclusive"}, "Slurm array task"},
		// srun runs the script in each of its 4 tasks; bash reads it from stdin (the batch script's own).
		{"srun", "#!/bin/bash\nsrun bash -s <<'EOF'\n" + nodeScript + "EOF\n", []string{"-N2", "-n4"}, "Slurm step task"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, bucket := t.TempDir(), env.NewBucket(t)
			const n = 300
			makeFiles(t, filepath.Join(dir, "src"), n)
			// One output file for all tasks, appended to (array tasks and steps alike).
			args := append([]string{"--output=" + dir + "/out.txt", "--open-mode=append"}, tc.args...)
			id, err := cl.Sbatch(dir, tc.script, args, append(f.jobEnv(bucket, env.S3Endpoint, dir), "PREFIX=p"))
			if err != nil {
				t.Fatal(err)
			}
			jobs, err := cl.WaitJobs(id, 2*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := os.ReadFile(filepath.Join(dir, "out.txt"))
			outs := string(out)
			for _, j := range jobs {
				if j.State != "COMPLETED" || j.ExitCode != 0 {
					t.Fatalf("job %s: %s exit %d\n%s", j.ID, j.State, j.ExitCode, outs)
				}
			}
			if got := strings.Count(outs, tc.says); got != 4 {
				t.Errorf("%d tasks said %q, want 4:\n%s", got, tc.says, outs)
			}
			total := int64(0)
			nodes := map[string]int{}
			for task := 0; task < 4; task++ {
				r := readReport(t, filepath.Join(dir, "report-"+strconv.Itoa(task)+".json"))
				total += r.Transferred.Files
				node, err := os.ReadFile(filepath.Join(dir, "node-"+strconv.Itoa(task)))
				if err != nil {
					t.Fatal(err)
				}
				nodes[strings.TrimSpace(string(node))]++
			}
			var names []string
			for name := range nodes {
				names = append(names, name)
			}
			sort.Strings(names)
			if strings.Join(names, ",") != "n1,n2" {
				t.Errorf("tasks ran on nodes %v, want n1 and n2", nodes)
			}
			if total != n {
				t.Errorf("tasks transferred %d files in all, want exactly %d", total, n)
			}
			if got := countKeys(t, env.RootS3(), bucket, "p/"); got != n {
				t.Errorf("bucket holds %d objects, want %d", got, n)
			}
		})
	}
}
