package transfer

import (
	"fmt"
	"strings"
)

// SlurmEnv is the part of a Slurm job's environment that says where fsxsync runs.
type SlurmEnv struct {
	JobID       string `json:"job_id"`
	ArrayJobID  string `json:"array_job_id,omitempty"`
	ArrayTaskID string `json:"array_task_id,omitempty"`
	StepID      string `json:"step_id,omitempty"`
	Node        string `json:"node,omitempty"`
	Partition   string `json:"partition,omitempty"`
	Cluster     string `json:"cluster,omitempty"`
}

// SlurmFromEnv reads the job from the environment (getenv is os.Getenv, or a map lookup in tests); nil outside a job.
func SlurmFromEnv(getenv func(string) string) *SlurmEnv {
	id := getenv("SLURM_JOB_ID")
	if id == "" {
		return nil
	}
	return &SlurmEnv{JobID: id, ArrayJobID: getenv("SLURM_ARRAY_JOB_ID"), ArrayTaskID: getenv("SLURM_ARRAY_TASK_ID"),
		StepID: getenv("SLURM_STEP_ID"), Node: firstNonEmpty(getenv("SLURMD_NODENAME"), getenv("SLURM_NODELIST")),
		Partition: getenv("SLURM_JOB_PARTITION"), Cluster: getenv("SLURM_CLUSTER_NAME")}
}

// Describe renders the job in plain words.
func (s *SlurmEnv) Describe() string {
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

// WhereWarnings warns when the identity found is not the one a job will have: outside a job on a ParallelCluster
// head or login node, jobs run on compute nodes with their queue's role.
func WhereWarnings(id Identity, job *SlurmEnv) []string {
	var w []string
	if job == nil && (id.ParallelClusterRole == "head-node" || id.ParallelClusterRole == "login-node") {
		w = append(w, "this is the "+id.ParallelClusterRole+"'s role; jobs on compute nodes run with their queue's role, "+
			"which may be allowed less: test it from inside a job with `srun fsxsync check SRC DST`")
	}
	if job != nil && id.Kind == KindInstanceRole && id.ParallelClusterRole == "head-node" {
		w = append(w, "inside a job but with the head node's role: this step runs on the head node")
	}
	return w
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
