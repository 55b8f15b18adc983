package slurm

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"testing"
)

// mapEnv returns a Getenv that sees only the given variables, so no test inherits the shard of the job running it.
func mapEnv(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

// slurmArrayEnv is the environment Slurm gives an array task (job_mgr.c sets MIN, MAX, COUNT and STEP; STEP is 1 for an
// array written without ':').
func slurmArrayEnv(id, lo, hi, count, step string) map[string]string {
	m := map[string]string{
		"SLURM_JOB_ID": "4242", "SLURM_ARRAY_JOB_ID": "4240", "SLURM_ARRAY_TASK_ID": id,
		"SLURM_ARRAY_TASK_MIN": lo, "SLURM_ARRAY_TASK_MAX": hi, "SLURM_ARRAY_TASK_COUNT": count,
	}
	if step != "" {
		m["SLURM_ARRAY_TASK_STEP"] = step
	}
	return m
}

// withEnv returns a copy of base with more variables set.
func withEnv(base map[string]string, kv ...string) map[string]string {
	m := make(map[string]string, len(base)+len(kv)/2)
	for k, v := range base {
		m[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func TestResolveShard(t *testing.T) {
	// batch is what a batch script of sbatch -n 8 sees: it is one process, task 0 of the batch step.
	batch := map[string]string{"SLURM_JOB_ID": "4242", "SLURM_NTASKS": "8", "SLURM_NPROCS": "8", "SLURM_PROCID": "0"}
	// step is what task 1 of srun -n 2 sees.
	step := map[string]string{"SLURM_JOB_ID": "4242", "SLURM_NTASKS": "2", "SLURM_STEP_NUM_TASKS": "2", "SLURM_PROCID": "1"}
	tests := []struct {
		name    string
		in      Input
		want    Shard
		wantErr []string // substrings of the UsageError's message
	}{
		{name: "no env", in: Input{},
			want: Shard{0, 1, "no sharding (not in a Slurm array or multi-task step)"}},
		{name: "empty env", in: Input{Getenv: mapEnv(nil)},
			want: Shard{0, 1, "no sharding (not in a Slurm array or multi-task step)"}},
		{name: "flag", in: Input{Flag: "2/8", Getenv: mapEnv(nil)},
			want: Shard{2, 8, "--shard 2/8"}},
		{name: "flag wins over array", in: Input{Flag: "2/8", Getenv: mapEnv(slurmArrayEnv("1", "0", "3", "4", "1"))},
			want: Shard{2, 8, "--shard 2/8"}},
		{name: "flag wins over step", in: Input{Flag: "0/3", Getenv: mapEnv(step)},
			want: Shard{0, 3, "--shard 0/3"}},
		{name: "flag wins over a broken env", in: Input{Flag: "1/2", Getenv: mapEnv(slurmArrayEnv("x", "0", "3", "4", "1"))},
			want: Shard{1, 2, "--shard 1/2"}},
		{name: "no-shard wins over array", in: Input{NoShard: true, Getenv: mapEnv(slurmArrayEnv("1", "0", "3", "4", "1"))},
			want: Shard{0, 1, "no sharding (--no-shard)"}},
		{name: "no-shard wins over step", in: Input{NoShard: true, Getenv: mapEnv(step)},
			want: Shard{0, 1, "no sharding (--no-shard)"}},
		{name: "no-shard with shard", in: Input{NoShard: true, Flag: "2/8", Getenv: mapEnv(nil)},
			wantErr: []string{"--no-shard", "--shard 2/8", "contradict"}},
		{name: "bad flag", in: Input{Flag: "8/8", Getenv: mapEnv(nil)},
			wantErr: []string{`"8/8"`, "want --shard i/8 with i from 0 to 7"}},

		{name: "array 0-3", in: Input{Getenv: mapEnv(slurmArrayEnv("2", "0", "3", "4", "1"))},
			want: Shard{2, 4, "Slurm array task 2 (ids 0-3: shard 2 of 4)"}},
		{name: "array 0-3 first", in: Input{Getenv: mapEnv(slurmArrayEnv("0", "0", "3", "4", "1"))},
			want: Shard{0, 4, "Slurm array task 0 (ids 0-3: shard 0 of 4)"}},
		{name: "array 0-3 last", in: Input{Getenv: mapEnv(slurmArrayEnv("3", "0", "3", "4", "1"))},
			want: Shard{3, 4, "Slurm array task 3 (ids 0-3: shard 3 of 4)"}},
		{name: "array 1-8 from 1", in: Input{Getenv: mapEnv(slurmArrayEnv("8", "1", "8", "8", "1"))},
			want: Shard{7, 8, "Slurm array task 8 (ids 1-8: shard 7 of 8)"}},
		{name: "array 3-9:2 id 3", in: Input{Getenv: mapEnv(slurmArrayEnv("3", "3", "9", "4", "2"))},
			want: Shard{0, 4, "Slurm array task 3 (ids 3-9 step 2: shard 0 of 4)"}},
		{name: "array 3-9:2 id 5", in: Input{Getenv: mapEnv(slurmArrayEnv("5", "3", "9", "4", "2"))},
			want: Shard{1, 4, "Slurm array task 5 (ids 3-9 step 2: shard 1 of 4)"}},
		{name: "array 3-9:2 id 7", in: Input{Getenv: mapEnv(slurmArrayEnv("7", "3", "9", "4", "2"))},
			want: Shard{2, 4, "Slurm array task 7 (ids 3-9 step 2: shard 2 of 4)"}},
		{name: "array 3-9:2 id 9", in: Input{Getenv: mapEnv(slurmArrayEnv("9", "3", "9", "4", "2"))},
			want: Shard{3, 4, "Slurm array task 9 (ids 3-9 step 2: shard 3 of 4)"}},
		// --array=0-10:3 runs 0, 3, 6 and 9: Slurm's MAX is the highest id that runs, not the typed bound.
		{name: "array 0-10:3", in: Input{Getenv: mapEnv(slurmArrayEnv("9", "0", "9", "4", "3"))},
			want: Shard{3, 4, "Slurm array task 9 (ids 0-9 step 3: shard 3 of 4)"}},
		// --array=0-99%10 runs at most 10 at once; the environment carries no trace of the throttle.
		{name: "array 0-99%10", in: Input{Getenv: mapEnv(slurmArrayEnv("42", "0", "99", "100", "1"))},
			want: Shard{42, 100, "Slurm array task 42 (ids 0-99: shard 42 of 100)"}},
		{name: "array 1-1", in: Input{Getenv: mapEnv(slurmArrayEnv("1", "1", "1", "1", "1"))},
			want: Shard{0, 1, "Slurm array task 1 (ids 1-1: shard 0 of 1)"}},
		{name: "array without STEP", in: Input{Getenv: mapEnv(slurmArrayEnv("5", "4", "7", "4", ""))},
			want: Shard{1, 4, "Slurm array task 5 (ids 4-7: shard 1 of 4)"}},
		// --array=2,3,4,5 is a list, but a contiguous one, so step 1 numbers it correctly.
		{name: "contiguous list", in: Input{Getenv: mapEnv(slurmArrayEnv("4", "2", "5", "4", "1"))},
			want: Shard{2, 4, "Slurm array task 4 (ids 2-5: shard 2 of 4)"}},
		{name: "contiguous list without STEP", in: Input{Getenv: mapEnv(slurmArrayEnv("4", "2", "5", "4", ""))},
			want: Shard{2, 4, "Slurm array task 4 (ids 2-5: shard 2 of 4)"}},
		// --array=1,4,10: Slurm sets STEP=1 (there is no ':'), MIN=1, MAX=10, COUNT=3.
		{name: "list", in: Input{Getenv: mapEnv(slurmArrayEnv("4", "1", "10", "3", "1"))},
			wantErr: []string{"Slurm array task 4", "SLURM_ARRAY_TASK_COUNT is 3 but ids 1-10 would be 10 tasks", "--shard i/3 (i from 0 to 2)", "--array=0-2"}},
		{name: "list without STEP", in: Input{Getenv: mapEnv(slurmArrayEnv("4", "1", "10", "3", ""))},
			wantErr: []string{"SLURM_ARRAY_TASK_COUNT is 3", "--shard i/3"}},
		{name: "list with flag", in: Input{Flag: "1/3", Getenv: mapEnv(slurmArrayEnv("4", "1", "10", "3", "1"))},
			want: Shard{1, 3, "--shard 1/3"}},
		// --array=1-5:2,10-20:5: Slurm takes the step after the first ':' (2), MIN=1, MAX=20, COUNT=6.
		{name: "several ranges", in: Input{Getenv: mapEnv(slurmArrayEnv("15", "1", "20", "6", "2"))},
			wantErr: []string{"SLURM_ARRAY_TASK_COUNT is 6 but ids 1-20 are not a whole number of steps of 2", "--shard i/6"}},
		// --array=0,3,9-9:3 runs 0, 3 and 9: a whole number of steps of 3, but one task short of 0-9:3.
		{name: "stepped list", in: Input{Getenv: mapEnv(slurmArrayEnv("3", "0", "9", "3", "3"))},
			wantErr: []string{"SLURM_ARRAY_TASK_COUNT is 3 but ids 0-9 step 3 would be 4 tasks", "--shard i/3"}},
		// --array=0-2,9-9:3: ids 0, 1, 2, 9 happen to match 0-9 step 3 in number; ids 1 and 2 are off its grid.
		{name: "off the grid", in: Input{Getenv: mapEnv(slurmArrayEnv("1", "0", "9", "4", "3"))},
			wantErr: []string{"Slurm array task 1 is not on the array's grid", "--shard i/4"}},
		{name: "array id not a number", in: Input{Getenv: mapEnv(slurmArrayEnv("x", "0", "3", "4", "1"))},
			wantErr: []string{`SLURM_ARRAY_TASK_ID is "x"`, "whole number", "--shard i/N"}},
		{name: "array id negative", in: Input{Getenv: mapEnv(slurmArrayEnv("-1", "0", "3", "4", "1"))},
			wantErr: []string{`SLURM_ARRAY_TASK_ID is "-1"`, "whole number"}},
		{name: "array step zero", in: Input{Getenv: mapEnv(slurmArrayEnv("1", "0", "3", "4", "0"))},
			wantErr: []string{"SLURM_ARRAY_TASK_STEP is 0", "at least 1"}},
		{name: "array count zero", in: Input{Getenv: mapEnv(slurmArrayEnv("1", "0", "3", "0", "1"))},
			wantErr: []string{"SLURM_ARRAY_TASK_COUNT is 0", "at least 1"}},
		{name: "array max below min", in: Input{Getenv: mapEnv(slurmArrayEnv("1", "3", "0", "4", "1"))},
			wantErr: []string{"SLURM_ARRAY_TASK_MAX (0) is below SLURM_ARRAY_TASK_MIN (3)"}},
		{name: "array id outside", in: Input{Getenv: mapEnv(slurmArrayEnv("7", "0", "3", "4", "1"))},
			wantErr: []string{"SLURM_ARRAY_TASK_ID 7 is outside the array's ids 0-3"}},
		{name: "array id alone", in: Input{Getenv: mapEnv(map[string]string{"SLURM_ARRAY_TASK_ID": "3"})},
			wantErr: []string{"SLURM_ARRAY_TASK_MIN, SLURM_ARRAY_TASK_MAX and SLURM_ARRAY_TASK_COUNT are not set", "--shard i/N"}},
		{name: "array without COUNT", in: Input{Getenv: mapEnv(withEnv(slurmArrayEnv("3", "0", "3", "", "1")))},
			wantErr: []string{"SLURM_ARRAY_TASK_COUNT is not set"}},

		{name: "step task 1 of 2", in: Input{Getenv: mapEnv(step)},
			want: Shard{1, 2, "Slurm step task 1 of 2 (SLURM_PROCID/SLURM_STEP_NUM_TASKS)"}},
		{name: "step task 0 of 2", in: Input{Getenv: mapEnv(withEnv(step, "SLURM_PROCID", "0"))},
			want: Shard{0, 2, "Slurm step task 0 of 2 (SLURM_PROCID/SLURM_STEP_NUM_TASKS)"}},
		{name: "step of one task", in: Input{Getenv: mapEnv(withEnv(step, "SLURM_NTASKS", "1", "SLURM_STEP_NUM_TASKS", "1", "SLURM_PROCID", "0"))},
			want: Shard{0, 1, "no sharding (not in a Slurm array or multi-task step)"}},
		// srun -n 1 inside sbatch -n 8 keeps SLURM_NTASKS=8 with --preserve-env (-E); the step still has one task.
		{name: "step of one task, job of eight", in: Input{Getenv: mapEnv(withEnv(batch, "SLURM_STEP_NUM_TASKS", "1"))},
			want: Shard{0, 1, "no sharding (not in a Slurm array or multi-task step)"}},
		// The batch script itself: PROCID 0 and NTASKS 8, but one process. Sharding here would drop 7/8 of the files.
		{name: "batch script of a multi-task job", in: Input{Getenv: mapEnv(batch)},
			want: Shard{0, 1, "no sharding (not in a Slurm array or multi-task step)"}},
		{name: "procid without step size", in: Input{Getenv: mapEnv(map[string]string{"SLURM_PROCID": "1", "SLURM_NTASKS": "2"})},
			wantErr: []string{"SLURM_PROCID is 1 but SLURM_STEP_NUM_TASKS is not set", "srun -n N", "--shard i/N"}},
		{name: "procid too large", in: Input{Getenv: mapEnv(withEnv(step, "SLURM_PROCID", "2"))},
			wantErr: []string{"SLURM_PROCID 2 is not below SLURM_STEP_NUM_TASKS 2", "0 to 1"}},
		{name: "procid missing", in: Input{Getenv: mapEnv(map[string]string{"SLURM_STEP_NUM_TASKS": "4"})},
			wantErr: []string{"SLURM_STEP_NUM_TASKS is 4 but SLURM_PROCID is not set"}},
		{name: "procid not a number", in: Input{Getenv: mapEnv(withEnv(step, "SLURM_PROCID", "one"))},
			wantErr: []string{`SLURM_PROCID is "one"`, "whole number"}},
		{name: "step size zero", in: Input{Getenv: mapEnv(withEnv(step, "SLURM_STEP_NUM_TASKS", "0", "SLURM_PROCID", "0"))},
			wantErr: []string{"SLURM_STEP_NUM_TASKS is 0", "at least 1"}},

		// sbatch --array=3-9:2 running srun -n 2: array shard 2 of 4 times 2 step tasks, plus step task 1.
		{name: "array and step", in: Input{Getenv: mapEnv(withEnv(slurmArrayEnv("7", "3", "9", "4", "2"), "SLURM_STEP_NUM_TASKS", "2", "SLURM_PROCID", "1"))},
			want: Shard{5, 8, "Slurm array task 7 (ids 3-9 step 2: shard 2 of 4) and Slurm step task 1 of 2 (SLURM_PROCID/SLURM_STEP_NUM_TASKS): shard 5 of 8"}},
		{name: "array and batch script", in: Input{Getenv: mapEnv(withEnv(slurmArrayEnv("2", "0", "3", "4", "1"), "SLURM_NTASKS", "8", "SLURM_PROCID", "0"))},
			want: Shard{2, 4, "Slurm array task 2 (ids 0-3: shard 2 of 4)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Resolve(tt.in)
			if tt.wantErr != nil {
				checkUsageError(t, err, tt.wantErr)
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("Resolve = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// checkUsageError fails the test unless err is a one-line error containing every one of want.
func checkUsageError(t *testing.T, err error, want []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("error = nil, want an error")
	}
	msg := err.Error()
	t.Log(msg)
	if strings.Contains(msg, "\n") {
		t.Errorf("message has more than one line: %q", msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("message %q does not mention %q", msg, w)
		}
	}
}

func TestParseShardFlag(t *testing.T) {
	tests := []struct {
		in           string
		index, count int
		wantErr      []string // beyond the quoted value and "want --shard i/", which every message must have
	}{
		{in: "0/1", index: 0, count: 1},
		{in: "2/8", index: 2, count: 8},
		{in: "7/8", index: 7, count: 8},
		{in: "07/08", index: 7, count: 8},
		{in: "x", wantErr: []string{"not of the form i/N"}},
		{in: "", wantErr: []string{"not of the form i/N"}},
		{in: "3/2", wantErr: []string{"below the number of tasks", "counts from 0", "want --shard i/2 with i from 0 to 1"}},
		{in: "8/8", wantErr: []string{"want --shard i/8 with i from 0 to 7"}},
		{in: "-1/4", wantErr: []string{`the index "-1" is not a whole number`}},
		{in: "+1/4", wantErr: []string{`the index "+1" is not a whole number`}},
		{in: "1/-4", wantErr: []string{`the number of tasks "-4" is not a whole number`}},
		{in: "1/0", wantErr: []string{"at least 1"}},
		{in: "0/0", wantErr: []string{"at least 1"}},
		{in: "2/", wantErr: []string{"no number of tasks after the '/'"}},
		{in: "/4", wantErr: []string{"no index before the '/'"}},
		{in: "/", wantErr: []string{"no index before the '/'"}},
		{in: "1/4/5", wantErr: []string{"more than one '/'"}},
		{in: " 1/4", wantErr: []string{"not a whole number"}},
		{in: "1.5/4", wantErr: []string{"not a whole number"}},
		{in: "1/99999999999999999999", wantErr: []string{"too large"}},
	}
	for _, tt := range tests {
		index, count, err := ParseFlag(tt.in)
		if tt.wantErr != nil {
			t.Run(tt.in, func(t *testing.T) {
				checkUsageError(t, err, append([]string{fmt.Sprintf("--shard %q", tt.in), "want --shard i/"}, tt.wantErr...))
			})
			continue
		}
		if err != nil || index != tt.index || count != tt.count {
			t.Errorf("ParseFlag(%q) = %d, %d, %v; want %d, %d", tt.in, index, count, err, tt.index, tt.count)
		}
	}
}

// TestShardHashIsFixed pins the hash: tasks of one job must agree on it, so a change here would make tasks built from
// different versions split the work differently. The values were checked against an independent implementation.
func TestShardHashIsFixed(t *testing.T) {
	tests := []struct {
		key  string
		want uint64
	}{
		{"", 0xefd01f60ba992926},
		{"a", 0x82a2a958a9bece5b},
		{"run42/out/part-00001.parquet", 0xf270760cc6a1d2a6},
		{"dir/", 0x46468cc434fc2907},
		{"ünïcode name.txt", 0x419bfd0c7e4a287d},
	}
	for _, tt := range tests {
		if got := shardHash(tt.key); got != tt.want {
			t.Errorf("shardHash(%q) = %#x, want %#x", tt.key, got, tt.want)
		}
	}
	// The FNV-1a half must be the standard one.
	for _, k := range []string{"", "a", "foobar", "run42/out/part-00001.parquet", "\x00\xff"} {
		h := fnv.New64a()
		h.Write([]byte(k))
		if got, want := fnv1a64(k), h.Sum64(); got != want {
			t.Errorf("fnv1a64(%q) = %#x, hash/fnv says %#x", k, got, want)
		}
	}
}

func TestOwnsWithoutSharding(t *testing.T) {
	for _, s := range []Shard{{}, {Index: 0, Count: 1}} {
		for _, k := range []string{"", "a", "dir/", "x/y/z"} {
			if !s.Owns(k) {
				t.Errorf("%+v does not own %q; a shard of one owns everything", s, k)
			}
		}
	}
}

// TestOwnsPartition is the property that makes sharding safe: whatever the number of tasks, every key is owned by
// exactly one of them, and the shares are close to equal.
func TestOwnsPartition(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]string, 100_000)
	for i := range random {
		b := make([]byte, 1+rng.IntN(80))
		for j := range b {
			b[j] = byte(' ' + rng.IntN(95))
		}
		random[i] = string(b)
	}
	// Names from one job differ in a few digits only, which is where a weak hash would bunch them.
	sequential := make([]string, 100_000)
	for i := range sequential {
		sequential[i] = fmt.Sprintf("run42/out/rank%03d/part-%06d.parquet", i%128, i)
	}
	for _, set := range []struct {
		name string
		keys []string
	}{{"random", random}, {"sequential", sequential}} {
		for count := 1; count <= 17; count++ {
			shares := make([]int, count)
			for _, k := range set.keys {
				owners := 0
				for i := 0; i < count; i++ {
					if (Shard{Index: i, Count: count}).Owns(k) {
						owners++
						shares[i]++
					}
				}
				if owners != 1 {
					t.Fatalf("%s keys, %d shards: %q has %d owners, want exactly 1", set.name, count, k, owners)
				}
			}
			// The expected spread of one share is sqrt(100000/17) ~ 77 keys, 1.3% of a share of 5882; 5% is
			// nearly 4 standard deviations.
			mean := float64(len(set.keys)) / float64(count)
			for i, n := range shares {
				if dev := (float64(n) - mean) / mean; dev > 0.05 || dev < -0.05 {
					t.Errorf("%s keys, %d shards: shard %d has %d keys, %+.1f%% from the mean %.0f", set.name, count, i, n, 100*dev, mean)
				}
			}
		}
	}
}

// TestOwnsSpreadsCaseVariants covers the weakness of plain FNV-1a: modulo a power of two it ignores the high bits of
// every byte, so names differing only in letter case would all land on one task of 2, 4 or 8.
func TestOwnsSpreadsCaseVariants(t *testing.T) {
	const base = "abcdefghij"
	var keys []string
	for mask := 0; mask < 1<<len(base); mask++ {
		b := []byte(base)
		for i := range b {
			if mask&(1<<i) != 0 {
				b[i] -= 'a' - 'A'
			}
		}
		keys = append(keys, string(b))
	}
	for _, count := range []int{2, 4, 8} {
		shares := make([]int, count)
		for _, k := range keys {
			shares[shardHash(k)%uint64(count)]++
		}
		mean := len(keys) / count
		for i, n := range shares {
			if n < mean*3/4 || n > mean*5/4 {
				t.Errorf("%d shards: shard %d has %d of %d case variants of %q, want about %d", count, i, n, len(keys), base, mean)
			}
		}
	}
}

// BenchmarkOwns measures the cost each task pays per listed key, over a million realistic keys (so the strings do not
// all sit in the CPU cache).
func BenchmarkOwns(b *testing.B) {
	keys := make([]string, 1<<20)
	for i := range keys {
		keys[i] = fmt.Sprintf("run%03d/output/rank-%05d/checkpoint_step%07d.parquet", i%97, i%4096, i)
	}
	s := Shard{Index: 3, Count: 8}
	owned, i := 0, 0
	b.ReportAllocs()
	for b.Loop() {
		if s.Owns(keys[i&(len(keys)-1)]) {
			owned++
		}
		i++
	}
	if i > len(keys) && owned == 0 {
		b.Fatal("shard 3 of 8 owned none of the keys")
	}
}

// The tasks of one array, or of one step, name their shared run the same way; a requeue keeps the name.
func TestArrayJobKey(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"SLURM_JOB_ID": "107", "SLURM_ARRAY_JOB_ID": "100", "SLURM_ARRAY_TASK_ID": "7"}, "array-100"},
		{map[string]string{"SLURM_JOB_ID": "42", "SLURM_STEP_ID": "3", "SLURM_PROCID": "1"}, "job-42.3"},
		{map[string]string{"SLURM_JOB_ID": "42"}, "job-42.batch"},
		{map[string]string{}, ""},
	} {
		if got := ArrayJobKey(func(k string) string { return tc.env[k] }); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.env, got, tc.want)
		}
	}
}
