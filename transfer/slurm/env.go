package slurm

import (
	"fmt"
	"strings"
)

// Job is the part of a Slurm job's environment that says where fsxsync runs.
type Job struct {
	JobID       string `json:"job_id"`
	ArrayJobID  string `json:"array_job_id,omitempty"`
	ArrayTaskID string `json:"array_task_id,omitempty"`
	StepID      string `json:"step_id,omitempty"`
	Node        string `json:"node,omitempty"`
	Partition   string `json:"partition,omitempty"`
	Cluster     string `json:"cluster,omitempty"`
}

// JobFromEnv reads the job from the environment (getenv is os.Getenv, or a map lookup in tests); nil outside a job.
func JobFromEnv(getenv func(string) string) *Job {
	id := getenv("SLURM_JOB_ID")
	if id == "" {
		return nil
	}
	return &Job{JobID: id, ArrayJobID: getenv("SLURM_ARRAY_JOB_ID"), ArrayTaskID: getenv("SLURM_ARRAY_TASK_ID"),
		StepID: getenv("SLURM_STEP_ID"), Node: firstNonEmpty(getenv("SLURMD_NODENAME"), getenv("SLURM_NODELIST")),
		Partition: getenv("SLURM_JOB_PARTITION"), Cluster: getenv("SLURM_CLUSTER_NAME")}
}

// Describe renders the job in plain words.
func (s *Job) Describe() string {
	parts := []string{"job " + s.JobID}
	if s.ArrayTaskID != "" {
		parts = append(parts, fmt.Sprintf("array task %s of job %s", s.ArrayTaskID, s.ArrayJobID))
	}
	if s.StepID != "" {
		parts = append(parts, "step "+s.StepID)
	}
	if s.Partition != "" {
		parts = append(parts, "partition "+s.Partition)
	}
	if s.Node != "" {
		parts = append(parts, "node "+s.Node)
	}
	return strings.Join(parts, ", ")
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// ArrayJobKey names the set of processes that share one sharded run, the same in each of them: the array job id
// in an array (every task of an array, and every srun task inside one, share it), else the job and step ids of a
// multi-task step. A requeued task keeps its job id, so it finds what its array planned before. It is "" outside a
// Slurm job.
func ArrayJobKey(getenv func(string) string) string {
	if id := getenv("SLURM_ARRAY_JOB_ID"); id != "" {
		return "array-" + id
	}
	if id := getenv("SLURM_JOB_ID"); id != "" {
		return "job-" + id + "." + firstNonEmpty(getenv("SLURM_STEP_ID"), "batch")
	}
	return ""
}
