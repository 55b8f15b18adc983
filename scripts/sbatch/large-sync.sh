#!/bin/bash
# A large sync in two steps: one job lists both sides once and writes a manifest of SHARDS shards; an array job
# that starts when it succeeds runs one shard per task. Resubmit failed shards by index: sbatch --array=3,7 ...
#
# usage: large-sync.sh SRC DST MANIFEST_DIR [SHARDS]      (MANIFEST_DIR on the shared file system, new)
set -euo pipefail
SRC=$1
DST=$2
PLAN=$3
SHARDS=${4:-16}
FSXSYNC=${FSXSYNC:-fsxsync}

plan_job=$(sbatch --parsable --job-name=fsxsync-plan --output="$PLAN.plan-%j.out" --ntasks=1 \
	--wrap "exec $FSXSYNC plan --shards $SHARDS --out $PLAN $SRC $DST")
run_job=$(sbatch --parsable --job-name=fsxsync-run --dependency="afterok:$plan_job" \
	--array="0-$((SHARDS - 1))" --output="$PLAN.run-%A_%a.out" --ntasks=1 --requeue --signal=B:USR1@120 \
	--wrap "exec $FSXSYNC run $PLAN")
echo "plan job $plan_job, run array $run_job; progress: $FSXSYNC status $PLAN"
