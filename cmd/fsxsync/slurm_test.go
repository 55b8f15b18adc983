package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/fsxsync/fsxsync/internal/iamtest"
	"github.com/fsxsync/fsxsync/internal/slurmtest"
	"github.com/fsxsync/fsxsync/transfer"
)

// These tests run fsxsync inside jobs of a real single-node Slurm cluster (slurmctld and slurmd started by the test),
// against versitygw with its IAM service. Outside CI they skip loudly when Slurm is not installed; with CI=true they
// fail instead.

// fsxsyncBinary is the binary jobs run: $FSXSYNC_BIN (make test builds it) or one built here.
func fsxsyncBinary(t *testing.T) string {
	if b := os.Getenv("FSXSYNC_BIN"); b != "" {
		if _, err := os.Stat(b); err == nil {
			return b
		}
	}
	bin := filepath.Join(t.TempDir(), "fsxsync")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// slowProxy forwards to the S3 endpoint, delaying every request, so that a transfer lasts long enough to be
// interrupted by scancel or a time limit.
func slowProxy(t *testing.T, target string, delay time.Duration) string {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

type slurmFixture struct {
	cl  *slurmtest.Cluster
	env *iamtest.Env
	bin string
}

// jobEnv is what a job needs to reach the servers as root, with its sync state in dir.
func (f *slurmFixture) jobEnv(bucket, s3Endpoint, dir string) []string {
	return []string{
		"FSXSYNC=" + f.bin, "BUCKET=" + bucket, "WORK=" + dir,
		"AWS_ENDPOINT_URL_S3=" + s3Endpoint, "AWS_ENDPOINT_URL_STS=" + f.env.IAMEndpoint, "AWS_ENDPOINT_URL_IAM=" + f.env.IAMEndpoint,
		"AWS_ACCESS_KEY_ID=" + f.env.RootAccess, "AWS_SECRET_ACCESS_KEY=" + f.env.RootSecret, "AWS_REGION=" + f.env.Region,
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"FSXSYNC_STATE_DIR=" + filepath.Join(dir, "state"),
	}
}

func makeFiles(t *testing.T, root string, n int) {
	for i := 0; i < n; i++ {
		p := filepath.Join(root, fmt.Sprintf("d%02d", i%17), fmt.Sprintf("f%05d.dat", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.Repeat("x", 100+i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func countKeys(t *testing.T, c *s3.Client, bucket, prefix string) int {
	n := 0
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Contents)
	}
	return n
}

func readReport(t *testing.T, path string) transfer.Report {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	var r transfer.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("report %s: %v", path, err)
	}
	return r
}

const arrayScript = `#!/bin/bash
exec "$FSXSYNC" sync "$WORK/src" "s3://$BUCKET/$PREFIX" --report "$WORK/report-$SLURM_ARRAY_TASK_ID.json"
`

func TestOnSlurm(t *testing.T) {
	cl := slurmtest.StartT(t)
	env, err := iamtest.Start()
	if err != nil {
		t.Fatalf("the Slurm tests need versitygw: %v", err)
	}
	t.Cleanup(env.Stop)
	f := &slurmFixture{cl: cl, env: env, bin: fsxsyncBinary(t)}

	// N array tasks together move every file exactly once: the transferred counts of all tasks add up to the
	// number of files, and the bucket holds each once. Arrays need not start at 0 and may step.
	for _, tc := range []struct{ name, array string }{{"array-0-3", "0-3"}, {"array-3-9-step-2", "3-9:2"}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, bucket := t.TempDir(), env.NewBucket(t)
			const n = 300
			makeFiles(t, filepath.Join(dir, "src"), n)
			id, err := cl.Sbatch(dir, arrayScript, []string{"--array=" + tc.array, "--output=" + dir + "/out-%a.txt"},
				append(f.jobEnv(bucket, env.S3Endpoint, dir), "PREFIX=arr"))
			if err != nil {
				t.Fatal(err)
			}
			jobs, err := cl.WaitJobs(id, 3*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			total, planners := int64(0), 0
			for _, j := range jobs {
				if j.State != "COMPLETED" || j.ExitCode != 0 {
					out, _ := os.ReadFile(filepath.Join(dir, "out-"+j.ArrayTaskID+".txt"))
					t.Fatalf("task %s: %s exit %d\n%s", j.ArrayTaskID, j.State, j.ExitCode, out)
				}
				r := readReport(t, filepath.Join(dir, "report-"+j.ArrayTaskID+".json"))
				if r.Transferred.Files == 0 {
					t.Errorf("task %s transferred nothing: the work was not shared", j.ArrayTaskID)
				}
				total += r.Transferred.Files
				out, _ := os.ReadFile(filepath.Join(dir, "out-"+j.ArrayTaskID+".txt"))
				if !strings.Contains(string(out), "Slurm array task "+j.ArrayTaskID) {
					t.Errorf("task %s did not say how it took its shard:\n%s", j.ArrayTaskID, out)
				}
				if strings.Contains(string(out), "this task lists both sides for the whole array") {
					planners++
				}
			}
			// One task listed for the whole array (see arraysync_test.go for the request counts).
			if planners != 1 {
				t.Errorf("%d tasks listed both sides for the array, want 1", planners)
			}
			if total != n {
				t.Errorf("tasks transferred %d files in all, want exactly %d", total, n)
			}
			if got := countKeys(t, env.RootS3(), bucket, "arr/"); got != n {
				t.Errorf("bucket holds %d objects, want %d", got, n)
			}
		})
	}

	// The templates users copy, run as they are: stage-out then stage-in through sbatch, the two-step large sync,
	// and the offline EC2 script (no Slurm).
	t.Run("templates", func(t *testing.T) {
		t.Parallel()
		dir, bucket := t.TempDir(), env.NewBucket(t)
		root := moduleRoot(t)
		makeFiles(t, filepath.Join(dir, "src"), 40)
		jenv := f.jobEnv(bucket, env.S3Endpoint, dir)
		submit := func(name string, extra ...string) slurmtest.Job {
			script, err := os.ReadFile(filepath.Join(root, "scripts", "sbatch", name))
			if err != nil {
				t.Fatal(err)
			}
			id, err := cl.Sbatch(dir, string(script), []string{"--output=" + dir + "/" + name + ".out"}, append(jenv, extra...))
			if err != nil {
				t.Fatal(err)
			}
			jobs, err := cl.WaitJobs(id, 2*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if jobs[0].State != "COMPLETED" {
				out, _ := os.ReadFile(filepath.Join(dir, name+".out"))
				t.Fatalf("%s: %s exit %d\n%s", name, jobs[0].State, jobs[0].ExitCode, out)
			}
			return jobs[0]
		}
		submit("stage-out.sbatch", "SRC="+filepath.Join(dir, "src"), "DST=s3://"+bucket+"/out")
		submit("stage-in.sbatch", "SRC=s3://"+bucket+"/out", "DST="+filepath.Join(dir, "in"))
		if got := countKeys(t, env.RootS3(), bucket, "out/"); got != 40 {
			t.Errorf("stage-out moved %d files, want 40", got)
		}
		if entries, _ := os.ReadDir(filepath.Join(dir, "in", "d00")); len(entries) == 0 {
			t.Error("stage-in brought nothing back")
		}

		// large-sync.sh submits the plan job and the dependent array itself.
		cmd := exec.Command("bash", filepath.Join(root, "scripts", "sbatch", "large-sync.sh"),
			filepath.Join(dir, "src"), "s3://"+bucket+"/large", filepath.Join(dir, "plan"), "3")
		cmd.Dir = dir
		cmd.Env = append(append(os.Environ(), cl.Env()...), jenv...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("large-sync.sh: %v\n%s", err, out)
		}
		fields := strings.Fields(string(out)) // "plan job N, run array M; ..."
		if len(fields) < 6 {
			t.Fatalf("large-sync.sh printed %q", out)
		}
		runID := strings.TrimSuffix(fields[5], ";")
		if _, err := cl.WaitJobs(runID, 3*time.Minute); err != nil {
			t.Fatal(err)
		}
		if st, err := exec.Command(f.bin, "status", filepath.Join(dir, "plan")).CombinedOutput(); err != nil {
			t.Errorf("after large-sync.sh the manifest is not complete: %v\n%s", err, st)
		}
		if got := countKeys(t, env.RootS3(), bucket, "large/"); got != 40 {
			t.Errorf("large-sync.sh moved %d files, want 40", got)
		}

		// offline-ec2.sh: check in the foreground, then the sync in the background with a log and a report.
		cmd = exec.Command("bash", filepath.Join(root, "scripts", "sbatch", "offline-ec2.sh"),
			filepath.Join(dir, "src"), "s3://"+bucket+"/offline", dir)
		cmd.Env = append(os.Environ(), jenv...)
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "started pid") {
			t.Fatalf("offline-ec2.sh: %v\n%s", err, out)
		}
		for deadline := time.Now().Add(time.Minute); countKeys(t, env.RootS3(), bucket, "offline/") < 40; time.Sleep(200 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the offline transfer did not finish")
			}
		}
	})

	// plan, then a dependent array runs the shards; one task is cancelled mid-way and resubmitted by index. In the
	// end every item is done exactly once and nothing is partial.
	t.Run("plan-run-cancel-resubmit", func(t *testing.T) {
		t.Parallel()
		dir, bucket := t.TempDir(), env.NewBucket(t)
		const n = 450
		makeFiles(t, filepath.Join(dir, "src"), n)
		jenv := f.jobEnv(bucket, slowProxy(t, env.S3Endpoint, 15*time.Millisecond), dir)
		planID, err := cl.Sbatch(dir, "#!/bin/bash\nexec \"$FSXSYNC\" plan --shards 3 --out \"$WORK/plan\" \"$WORK/src\" \"s3://$BUCKET/m\"\n",
			[]string{"--output=" + dir + "/plan.txt"}, jenv)
		if err != nil {
			t.Fatal(err)
		}
		runScript := "#!/bin/bash\nexec \"$FSXSYNC\" run --concurrency 1 --grace-period 2s \"$WORK/plan\"\n"
		runID, err := cl.Sbatch(dir, runScript, []string{"--array=0-2", "--dependency=afterok:" + planID,
			"--output=" + dir + "/run-%a.txt", "--open-mode=append"}, jenv)
		if err != nil {
			t.Fatal(err)
		}
		// Cancel task 1 once it has journalled some work.
		journal := filepath.Join(dir, "plan", "journal-0001.jsonl")
		deadline := time.Now().Add(2 * time.Minute)
		for {
			if b, _ := os.ReadFile(journal); strings.Count(string(b), "\n") >= 5 {
				break
			}
			if time.Now().After(deadline) {
				b, _ := os.ReadFile(filepath.Join(dir, "run-1.txt"))
				t.Fatalf("task 1 journalled nothing in time:\n%s", b)
			}
			time.Sleep(200 * time.Millisecond)
		}
		if err := cl.Scancel(runID + "_1"); err != nil {
			t.Fatal(err)
		}
		jobs, err := cl.WaitJobs(runID, 3*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			if j.ArrayTaskID == "1" && j.State != "CANCELLED" {
				t.Errorf("task 1: %s, want CANCELLED", j.State)
			}
		}
		// Resubmit only the cancelled index.
		again, err := cl.Sbatch(dir, runScript, []string{"--array=1", "--output=" + dir + "/run-%a.txt", "--open-mode=append"}, jenv)
		if err != nil {
			t.Fatal(err)
		}
		jobs, err = cl.WaitJobs(again, 3*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if jobs[0].State != "COMPLETED" {
			b, _ := os.ReadFile(filepath.Join(dir, "run-1.txt"))
			t.Fatalf("resubmitted task: %s exit %d\n%s", jobs[0].State, jobs[0].ExitCode, b)
		}
		b, _ := os.ReadFile(filepath.Join(dir, "run-1.txt"))
		if !strings.Contains(string(b), "already done by an earlier run") {
			t.Errorf("the resubmitted task did not resume from its journal:\n%s", b)
		}
		// Every item done once across all journals: no index of a shard is journalled "done" twice.
		done := 0
		for shard := 0; shard < 3; shard++ {
			seen := map[int]bool{}
			fh, err := os.Open(filepath.Join(dir, "plan", fmt.Sprintf("journal-%04d.jsonl", shard)))
			if err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(fh)
			for sc.Scan() {
				var je transfer.JournalEntry
				if json.Unmarshal(sc.Bytes(), &je) != nil || je.Result != "done" {
					continue
				}
				if seen[je.Index] {
					t.Errorf("shard %d item %d (%s) transferred twice", shard, je.Index, je.Key)
				}
				seen[je.Index] = true
				done++
			}
			fh.Close()
		}
		if done != n {
			t.Errorf("%d items done in all journals, want %d", done, n)
		}
		if got := countKeys(t, env.RootS3(), bucket, "m/"); got != n {
			t.Errorf("bucket holds %d objects, want %d", got, n)
		}
		st, err := exec.Command(f.bin, "status", filepath.Join(dir, "plan")).CombinedOutput()
		if err != nil {
			t.Errorf("status says the manifest is not complete: %v\n%s", err, st)
		}
	})
}

// A job killed by its time limit mid-transfer exits 75 (recorded by Slurm), leaves no partial file and no open
// multipart upload, and a rerun completes. It has a cluster of its own: the test restarts slurmctld so that the
// time-limit check comes 61 s after the start rather than anywhere up to 90 s.
func TestOnSlurmTimeLimit(t *testing.T) {
	cl := slurmtest.StartT(t)
	env, err := iamtest.Start()
	if err != nil {
		t.Fatalf("the Slurm tests need versitygw: %v", err)
	}
	t.Cleanup(env.Stop)
	f := &slurmFixture{cl: cl, env: env, bin: fsxsyncBinary(t)}
	dir, bucket := t.TempDir(), env.NewBucket(t)
	const n = 1200
	makeFiles(t, filepath.Join(dir, "src"), n)
	// One large file too, so a multipart upload is likely in flight when the limit strikes.
	big := make([]byte, 24<<20)
	os.WriteFile(filepath.Join(dir, "src", "big.bin"), big, 0o644)
	jenv := f.jobEnv(bucket, slowProxy(t, env.S3Endpoint, 80*time.Millisecond), dir)
	script := "#!/bin/bash\nexec \"$FSXSYNC\" sync --concurrency 1 --grace-period 5s \"$WORK/src\" \"s3://$BUCKET/tl\" --report \"$WORK/report.json\"\n"
	id, err := cl.Sbatch(dir, script, []string{"--time=1", "--output=" + dir + "/out.txt"}, jenv)
	if err != nil {
		t.Fatal(err)
	}
	// Wait for the start, then restart slurmctld 31 s later so its 30-s limit check lands at 61 s.
	var start time.Time
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		jobs, err := cl.Jobs(id)
		if err == nil && jobs[0].State == "RUNNING" {
			start = time.Now()
			break
		}
	}
	if start.IsZero() {
		t.Fatal("the job did not start")
	}
	time.Sleep(time.Until(start.Add(31 * time.Second)))
	if err := cl.RestartController(); err != nil {
		t.Fatal(err)
	}
	jobs, err := cl.WaitJobs(id, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := os.ReadFile(filepath.Join(dir, "out.txt"))
	if jobs[0].State != "TIMEOUT" || jobs[0].ExitCode != 75 {
		t.Fatalf("job: %s exit %d signal %d, want TIMEOUT with exit 75\n%s", jobs[0].State, jobs[0].ExitCode, jobs[0].Signal, out)
	}
	if !strings.Contains(string(out), "starting no new files") {
		t.Errorf("no clean-stop message in the job's output:\n%s", out)
	}
	r := readReport(t, filepath.Join(dir, "report.json"))
	if !r.Stopped || r.Transferred.Files == 0 || r.Transferred.Files >= n+1 {
		t.Errorf("report: stopped %v, transferred %d of %d", r.Stopped, r.Transferred.Files, n+1)
	}
	mpu, err := env.RootS3().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(mpu.Uploads) != 0 {
		t.Errorf("%d multipart uploads left open", len(mpu.Uploads))
	}
	// A rerun (here directly, at full speed) finishes the rest.
	rerun := exec.Command(f.bin, "sync", filepath.Join(dir, "src"), "s3://"+bucket+"/tl")
	rerun.Env = append(os.Environ(), f.jobEnv(bucket, env.S3Endpoint, dir)...)
	if b, err := rerun.CombinedOutput(); err != nil {
		t.Fatalf("rerun: %v\n%s", err, b)
	}
	if got := countKeys(t, env.RootS3(), bucket, "tl/"); got != n+1 {
		t.Errorf("after the rerun the bucket holds %d objects, want %d", got, n+1)
	}
}

// moduleRoot is the repository root (the scripts are there).
func moduleRoot(t *testing.T) string {
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}
