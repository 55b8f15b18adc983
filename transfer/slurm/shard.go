// Package slurm reads where fsxsync runs under Slurm: which share of the keys this task owns in an array job or a
// multi-task step (Resolve, Shard), which shard of a manifest it runs (ManifestTask), the job it is in (Job), and EC2
// Spot interruption notices (WatchSpot). It is a leaf: it imports nothing of fsxsync's, and every error it returns is
// the user's bad input (a flag or an environment variable), which the caller marks as such.
package slurm

import (
	"fmt"
	"strconv"
	"strings"
)

// Sharding lets N tasks of one Slurm job split a transfer among themselves with no coordinator: every task lists
// both sides in full, works out the same shard numbering from its own flags and environment, and acts only on the
// keys its shard owns. The numbering (Resolve) and the ownership rule (Shard.Owns) are therefore a contract
// between processes that never talk to each other: both must come out the same in every task of a job.

// Shard is this task's share of the work: Index in [0, Count). Count 1 means everything; so does the zero Shard, so
// that code which never heard of sharding moves everything.
type Shard struct {
	Index, Count int
	// Source says how the shard was derived, in plain words for the log, e.g. "--shard 2/8" or
	// "Slurm array task 7 (ids 3-9 step 2: shard 2 of 4)".
	Source string
}

// Input is what the shard is derived from.
type Input struct {
	// Flag is the --shard value "i/N" (i counted from 0), or "" if --shard was not given.
	Flag string
	// NoShard is --no-shard: move everything whatever the environment says.
	NoShard bool
	// Getenv is os.Getenv, or a map lookup in tests; nil is an empty environment.
	Getenv func(string) string
}

// shardForm is the right form of --shard, appended to every complaint about it so the message alone is enough to fix
// the command line.
const shardForm = "want --shard i/N, with N the number of tasks and i this task's index counted from 0 " +
	"(four tasks are --shard 0/4 to --shard 3/4)"

// envOverride ends every complaint about the Slurm environment: the flags are the way out when the environment
// cannot be fixed, or when it describes something other than what the user meant.
const envOverride = "give each task --shard i/N to say its share, or --no-shard to move everything"

// Resolve derives this task's shard. The first of these that applies wins:
//
//  1. --no-shard: everything. Combined with --shard it is an error, since the two contradict each other.
//  2. --shard i/N, whatever the environment says; it is also the way to rerun a single shard, since a resubmitted
//     array task sees a new array of its own.
//  3. A Slurm job array (SLURM_ARRAY_TASK_ID with SLURM_ARRAY_TASK_MIN, _MAX, _COUNT and _STEP). Ids need not start
//     at 0 and may have a step: --array=3-9:2 runs ids 3, 5, 7 and 9, which are shards 0 to 3 of 4. A '%' throttle
//     changes nothing. The environment describes the array only by its lowest and highest id, its step and its
//     number of tasks, so an array given as a list (--array=1,4,10) cannot be mapped to shards; it is detected
//     because its number of tasks does not match the range, and is an error asking for --shard.
//  4. A task of a multi-task srun step (SLURM_PROCID of SLURM_STEP_NUM_TASKS, more than one task).
//  5. Otherwise everything.
//
// When an array task runs a multi-task step (sbatch --array=0-3 with srun -n 2 fsxsync ... inside), each of the
// 2 x 4 processes takes its own shard of 8: the array alone would give both step tasks of an array task the same
// shard, and they would move the same files twice, racing each other. This assumes every array task runs a step of
// the same size, as one batch script does.
//
// The step size is SLURM_STEP_NUM_TASKS rather than SLURM_NTASKS because a batch script itself also has SLURM_PROCID=0
// and, under sbatch -n N, SLURM_NTASKS=N while being a single process: reading those would make a plain fsxsync call in
// a batch script move a 1/N share and silently leave out the rest. srun sets SLURM_STEP_NUM_TASKS for every task it
// starts; a batch script does not get it.
//
// Bad values give an error (every error here is bad input) naming the variable or flag, the value, and the right form.
func Resolve(in Input) (Shard, error) {
	if in.NoShard {
		if in.Flag != "" {
			return Shard{}, fmt.Errorf("--no-shard and --shard %s contradict each other: give --shard i/N to move one share, or --no-shard to move everything", in.Flag)
		}
		return Shard{Index: 0, Count: 1, Source: "no sharding (--no-shard)"}, nil
	}
	if in.Flag != "" {
		i, n, err := ParseFlag(in.Flag)
		if err != nil {
			return Shard{}, err
		}
		return Shard{Index: i, Count: n, Source: "--shard " + in.Flag}, nil
	}
	getenv := in.Getenv
	if getenv == nil {
		// A caller that passes no environment means there is none; this keeps tests and library users from
		// inheriting the shard of whatever job happens to run them.
		getenv = func(string) string { return "" }
	}
	array, inArray, err := arrayShard(getenv)
	if err != nil {
		return Shard{}, err
	}
	step, inStep, err := stepShard(getenv)
	if err != nil {
		return Shard{}, err
	}
	switch {
	case inArray && inStep:
		s := Shard{Index: array.Index*step.Count + step.Index, Count: array.Count * step.Count}
		s.Source = fmt.Sprintf("%s and %s: shard %d of %d", array.Source, step.Source, s.Index, s.Count)
		return s, nil
	case inArray:
		return array, nil
	case inStep:
		return step, nil
	}
	return Shard{Index: 0, Count: 1, Source: "no sharding (not in a Slurm array or multi-task step)"}, nil
}

// arrayShard derives the shard from a Slurm job array; ok is false outside one.
func arrayShard(getenv func(string) string) (s Shard, ok bool, err error) {
	id, inArray, err := envNatural(getenv, "SLURM_ARRAY_TASK_ID")
	if err != nil || !inArray {
		return Shard{}, false, err
	}
	lo, haveLo, err := envNatural(getenv, "SLURM_ARRAY_TASK_MIN")
	if err != nil {
		return Shard{}, false, err
	}
	hi, haveHi, err := envNatural(getenv, "SLURM_ARRAY_TASK_MAX")
	if err != nil {
		return Shard{}, false, err
	}
	count, haveCount, err := envNatural(getenv, "SLURM_ARRAY_TASK_COUNT")
	if err != nil {
		return Shard{}, false, err
	}
	step, haveStep, err := envNatural(getenv, "SLURM_ARRAY_TASK_STEP")
	if err != nil {
		return Shard{}, false, err
	}
	// Slurm has set MIN, MAX, STEP and COUNT with the task id since 17.02 (slurmctld's job_mgr.c). COUNT is required
	// although MIN and MAX are enough for the arithmetic, because it is the only way to tell a list from a range:
	// without it a list would be taken for a range, and the shards of the ids it lacks would silently never run.
	var missing []string
	for _, v := range []struct {
		name string
		set  bool
	}{{"SLURM_ARRAY_TASK_MIN", haveLo}, {"SLURM_ARRAY_TASK_MAX", haveHi}, {"SLURM_ARRAY_TASK_COUNT", haveCount}} {
		if !v.set {
			missing = append(missing, v.name)
		}
	}
	if len(missing) > 0 {
		return Shard{}, false, fmt.Errorf("SLURM_ARRAY_TASK_ID is %d but %s not set, so this array task cannot tell its share: %s",
			id, listOf(missing), envOverride)
	}
	// Slurm sets STEP to 1 for an array without a ':' step, lists included; an environment without it is treated the
	// same way, and the COUNT check below still catches a list.
	if !haveStep {
		step = 1
	}
	switch {
	case step < 1:
		return Shard{}, false, fmt.Errorf("SLURM_ARRAY_TASK_STEP is %d; want a step of at least 1, as in --array=3-9:2; or %s", step, envOverride)
	case count < 1:
		return Shard{}, false, fmt.Errorf("SLURM_ARRAY_TASK_COUNT is %d; want the number of array tasks, at least 1; or %s", count, envOverride)
	case hi < lo:
		return Shard{}, false, fmt.Errorf("SLURM_ARRAY_TASK_MAX (%d) is below SLURM_ARRAY_TASK_MIN (%d); want the highest and lowest array ids; or %s", hi, lo, envOverride)
	case id < lo || id > hi:
		return Shard{}, false, fmt.Errorf("SLURM_ARRAY_TASK_ID %d is outside the array's ids %d-%d (SLURM_ARRAY_TASK_MIN/MAX); %s", id, lo, hi, envOverride)
	}
	span := hi - lo
	if span%step != 0 || span/step+1 != count {
		// The ids are not lo, lo+step, ..., hi: the array was given as a list, or as several ranges. Only the
		// user knows which shard each id should be.
		var mismatch string
		switch {
		case span%step != 0:
			mismatch = fmt.Sprintf("ids %d-%d are not a whole number of steps of %d", lo, hi, step)
		case step > 1:
			mismatch = fmt.Sprintf("ids %d-%d step %d would be %d tasks", lo, hi, step, span/step+1)
		default:
			mismatch = fmt.Sprintf("ids %d-%d would be %d tasks", lo, hi, span+1)
		}
		//lint:ignore ST1005 the message starts with a proper noun, Slurm
		return Shard{}, false, fmt.Errorf("Slurm array task %d: SLURM_ARRAY_TASK_COUNT is %d but %s, so the array is a list "+
			"such as --array=1,4,10, whose ids the environment does not give, and this task cannot tell its share; "+
			"give each task --shard i/%d (i from 0 to %d), or submit a range such as --array=0-%d",
			id, count, mismatch, count, count-1, count-1)
	}
	if (id-lo)%step != 0 {
		//lint:ignore ST1005 the message starts with a proper noun, Slurm
		return Shard{}, false, fmt.Errorf("Slurm array task %d is not on the array's grid (ids %d-%d step %d), so the array is a "+
			"list and this task cannot tell its share; give each task --shard i/%d (i from 0 to %d), or submit a range such as --array=0-%d",
			id, lo, hi, step, count, count-1, count-1)
	}
	s = Shard{Index: (id - lo) / step, Count: count}
	if step > 1 {
		s.Source = fmt.Sprintf("Slurm array task %d (ids %d-%d step %d: shard %d of %d)", id, lo, hi, step, s.Index, s.Count)
	} else {
		s.Source = fmt.Sprintf("Slurm array task %d (ids %d-%d: shard %d of %d)", id, lo, hi, s.Index, s.Count)
	}
	return s, true, nil
}

// stepShard derives the shard from the task's place in a multi-task srun step; ok is false outside one, and for a
// step of a single task.
func stepShard(getenv func(string) string) (s Shard, ok bool, err error) {
	procID, haveProcID, err := envNatural(getenv, "SLURM_PROCID")
	if err != nil {
		return Shard{}, false, err
	}
	n, haveN, err := envNatural(getenv, "SLURM_STEP_NUM_TASKS")
	if err != nil {
		return Shard{}, false, err
	}
	switch {
	case !haveN && haveProcID && procID > 0:
		// Only the first task may run without knowing the step's size: it cannot be the batch script, which is
		// always task 0, and guessing from SLURM_NTASKS could give the wrong share.
		return Shard{}, false, fmt.Errorf("SLURM_PROCID is %d but SLURM_STEP_NUM_TASKS is not set, so this does not look like a task "+
			"started by srun and cannot tell its share; run it with srun -n N, or %s", procID, envOverride)
	case !haveN:
		return Shard{}, false, nil
	case n < 1:
		return Shard{}, false, fmt.Errorf("SLURM_STEP_NUM_TASKS is %d; want the number of tasks in the step, at least 1; or %s", n, envOverride)
	case !haveProcID:
		if n == 1 {
			return Shard{}, false, nil
		}
		return Shard{}, false, fmt.Errorf("SLURM_STEP_NUM_TASKS is %d but SLURM_PROCID is not set, so this task cannot tell its share; %s", n, envOverride)
	case procID >= n:
		return Shard{}, false, fmt.Errorf("SLURM_PROCID %d is not below SLURM_STEP_NUM_TASKS %d; want a task rank from 0 to %d; or %s", procID, n, n-1, envOverride)
	case n == 1:
		return Shard{}, false, nil
	}
	return Shard{Index: procID, Count: n,
		Source: fmt.Sprintf("Slurm step task %d of %d (SLURM_PROCID/SLURM_STEP_NUM_TASKS)", procID, n)}, true, nil
}

// listOf joins variable names as a sentence does, with the verb that follows them: "A is", "A and B are",
// "A, B and C are".
func listOf(names []string) string {
	if len(names) == 1 {
		return names[0] + " is"
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1] + " are"
}

// envNatural reads a whole number of 0 or more from the environment; set is false when the variable is unset or empty.
func envNatural(getenv func(string) string, name string) (v int, set bool, err error) {
	s := getenv(name)
	if s == "" {
		return 0, false, nil
	}
	v, why := parseNatural(s)
	if why != "" {
		return 0, true, fmt.Errorf("%s is %q, %s; want a whole number of 0 or more; fix the job's environment, or %s", name, s, why, envOverride)
	}
	return v, true, nil
}

// parseNatural parses a whole number of 0 or more written in decimal digits only. strconv.Atoi alone would accept
// "+3", which is not what anyone means by a shard number. why is empty on success, else what is wrong with s.
func parseNatural(s string) (v int, why string) {
	if s == "" {
		return 0, "empty"
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, "not a whole number"
		}
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, "too large"
	}
	return v, ""
}

// ParseFlag parses a --shard value "i/N": N tasks, of which this is task i, counted from 0. Any other form is a
// *UsageError that quotes the value and shows the right form.
func ParseFlag(v string) (index, count int, err error) {
	is, ns, ok := strings.Cut(v, "/")
	switch {
	case !ok:
		return 0, 0, fmt.Errorf("--shard %q is not of the form i/N; %s", v, shardForm)
	case strings.Contains(ns, "/"):
		return 0, 0, fmt.Errorf("--shard %q has more than one '/'; %s", v, shardForm)
	case is == "":
		return 0, 0, fmt.Errorf("--shard %q has no index before the '/'; %s", v, shardForm)
	case ns == "":
		return 0, 0, fmt.Errorf("--shard %q has no number of tasks after the '/'; %s", v, shardForm)
	}
	index, why := parseNatural(is)
	if why != "" {
		return 0, 0, fmt.Errorf("--shard %q: the index %q is %s; %s", v, is, why, shardForm)
	}
	count, why = parseNatural(ns)
	if why != "" {
		return 0, 0, fmt.Errorf("--shard %q: the number of tasks %q is %s; %s", v, ns, why, shardForm)
	}
	if count < 1 {
		return 0, 0, fmt.Errorf("--shard %q: the number of tasks must be at least 1; %s", v, shardForm)
	}
	if index >= count {
		// The likeliest cause is counting from 1, so say what the last task's flag is.
		return 0, 0, fmt.Errorf("--shard %q: the index must be below the number of tasks, since it counts from 0; "+
			"want --shard i/%d with i from 0 to %d", v, count, count-1)
	}
	return index, count, nil
}

// Partial reports whether other tasks own some keys: the shard is one of several.
func (s Shard) Partial() bool { return s.Count > 1 }

// Owns reports whether this shard owns a key: the key's hash modulo Count is Index. Every task must pass the same
// string for the same file, so the key is the one relative to the transfer's root (Entry.Key), the same on both sides
// and in every task whatever order the listings come in. A directory key ("a/b/") is hashed as given, so it may
// belong to another shard than the files below it; that is harmless because a download creates the parent
// directories of each file it writes, and tolerates another task creating them at the same moment.
func (s Shard) Owns(key string) bool {
	if s.Count <= 1 {
		return true
	}
	return shardHash(key)%uint64(s.Count) == uint64(s.Index)
}

// shardHash is FNV-1a 64 of the key followed by the MurmurHash3 64-bit finalizer. Both are fixed published
// algorithms, so every process and every build computes the same value (hash/maphash is seeded per process, and its
// seed's encoding is not meant to be shared); changing this function changes which task moves which file, so all
// tasks of one job must run the same fsxsync. FNV-1a alone mixes its low bits poorly: the hash modulo 2^k depends only
// on the low k bits of each byte, so with 2, 4 or 8 tasks, names differing only in letter case ('a' is 'A' plus 32)
// would all go to one task. The finalizer spreads every input bit over every output bit. It is written out rather
// than taken from hash/fnv so that it allocates nothing: the []byte(key) conversion that hash.Hash needs escapes
// through the interface, and this runs once per listed key in every task. See BenchmarkOwns.
func shardHash(key string) uint64 { return mix64(fnv1a64(key)) }

// fnv1a64 is the 64-bit FNV-1a hash of s, as hash/fnv's New64a computes it.
func fnv1a64(s string) uint64 {
	const (
		offset64 = 14695981039346656037
		prime64  = 1099511628211
	)
	h := uint64(offset64)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= prime64
	}
	return h
}

// mix64 is the MurmurHash3 64-bit finalizer (fmix64): a bijection in which every input bit affects every output bit.
func mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
