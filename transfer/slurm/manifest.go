package slurm

import (
	"fmt"
	"strconv"
)

// ManifestTask says which shard of an n-shard manifest this task runs. Array task ids are shard numbers (the
// array is submitted as --array=0-N-1, and a resubmission of some shards as --array=3,7), so no arithmetic on the
// array's range is needed; in a multi-task step SLURM_PROCID is the shard. --shard I/N wins over both.
func ManifestTask(flag string, getenv func(string) string, n int) (int, string, error) {
	switch {
	case flag != "":
		i, count, err := ParseFlag(flag)
		if err != nil {
			return 0, "", err
		}
		if count != n {
			return 0, "", fmt.Errorf("--shard %s: the manifest has %d shards; give --shard I/%d", flag, n, n)
		}
		return i, "--shard " + flag, nil
	case getenv("SLURM_ARRAY_TASK_ID") != "":
		v := getenv("SLURM_ARRAY_TASK_ID")
		i, err := strconv.Atoi(v)
		if err != nil || i < 0 || i >= n {
			//lint:ignore ST1005 the message starts with a proper noun, Slurm
			return 0, "", fmt.Errorf("Slurm array task %q is not a shard of this manifest (0 to %d): submit it with --array=0-%d", v, n-1, n-1)
		}
		return i, "Slurm array task " + v, nil
	case getenv("SLURM_STEP_NUM_TASKS") != "" && getenv("SLURM_STEP_NUM_TASKS") != "1":
		// SLURM_STEP_NUM_TASKS, not SLURM_NTASKS: a batch script submitted with -n 8 has SLURM_NTASKS=8 but is one
		// process; only srun's tasks are several.
		nt, err1 := strconv.Atoi(getenv("SLURM_STEP_NUM_TASKS"))
		i, err2 := strconv.Atoi(getenv("SLURM_PROCID"))
		if err1 != nil || err2 != nil || nt != n || i < 0 || i >= n {
			//lint:ignore ST1005 the message starts with a proper noun, Slurm
			return 0, "", fmt.Errorf("Slurm step task %s of %s does not match the manifest's %d shards: run it with srun -n %d",
				getenv("SLURM_PROCID"), getenv("SLURM_STEP_NUM_TASKS"), n, n)
		}
		return i, fmt.Sprintf("Slurm step task %d of %d", i, nt), nil
	case n == 1:
		return 0, "the manifest has one shard", nil
	}
	return 0, "", fmt.Errorf("the manifest has %d shards: run it as an array (--array=0-%d) or give --shard I/%d", n, n-1, n)
}
