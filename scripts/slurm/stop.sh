#!/usr/bin/env bash
# Stop the cluster that scripts/slurm/start.sh DIR started: kill its jobs, then
# slurmd, slurmctld and munged. Leaves DIR (logs) in place; the caller removes
# it. Safe to run twice and on a half-started DIR. Only processes named in
# DIR's pid files (and the job processes slurmd lists) are signalled, and a pid
# file is trusted only while its process still runs the program that wrote it
# (pids get reused).
#
# Order matters: `scontrol shutdown` leaves running jobs' slurmstepd and
# processes alive, and a slurmd that shuts down while a job is still ending
# retries sending "epilog complete" to a slurmctld that is gone, for tens of
# seconds. So: jobs first, then slurmd, then slurmctld, each by SIGTERM.
set -uo pipefail

die() {
	echo "slurm/stop.sh: $*" >&2
	exit 1
}

(($# == 1)) || die "usage: $0 DIR"
[[ -d $1 ]] || exit 0
dir=$(cd "$1" && pwd)
[[ -e $dir/.fsxsync-slurm ]] || die "$dir was not made by scripts/slurm/start.sh"
PATH=$PATH:/usr/sbin:/sbin
export SLURM_CONF=$dir/slurm.conf

# alive PID succeeds while PID runs. kill -0 alone would also accept a zombie,
# which is what an exited daemon stays until its (new) parent reaps it.
alive() {
	local stat
	stat=$(cat /proc/"$1"/stat 2>/dev/null) || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != Z ]]
}

# pid_of FILE NAME prints the pid in FILE if that process still runs NAME
# (Debian's binaries are slurmctld-wlm, slurmd-wlm behind alternatives).
pid_of() {
	local pid exe
	pid=$(cat "$1" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	alive "$pid" || return 1
	exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
	exe=${exe##*/}
	[[ $exe == "$2" || $exe == "$2-wlm" ]] || return 1
	echo "$pid"
}

# terminate PID: SIGTERM, up to 5 s to exit, then SIGKILL.
terminate() {
	local i
	kill -TERM "$1" 2>/dev/null || return 0
	for ((i = 0; i < 50; i++)); do
		alive "$1" || return 0
		sleep 0.1
	done
	echo "slurm/stop.sh: pid $1 ignored SIGTERM for 5 s, killing it" >&2
	kill -KILL "$1" 2>/dev/null
}

# The watchdog first, unless it is what runs us (it execs this script).
if pid=$(cat "$dir/run/watchdog.pid" 2>/dev/null) && [[ $pid != "$$" ]]; then
	kill "$pid" 2>/dev/null
fi

# Read every pid file now: slurmctld and slurmd remove theirs when they start
# shutting down, which is not when they have exited.
ctld=$(pid_of "$dir/run/slurmctld.pid" slurmctld)
munged=$(pid_of "$dir/munge/munged.pid" munged)
# One slurmd (run/slurmd.pid, node named after the host) or one per node
# (run/slurmd-NAME.pid, SLURMTEST_NODES > 1). slurmd_nodes holds the node name
# to give `scontrol listpids`, "" for the single node (which it finds itself).
slurmds=()
slurmd_nodes=()
for f in "$dir/run/slurmd.pid" "$dir/run"/slurmd-*.pid; do
	pid=$(pid_of "$f" slurmd) || continue
	slurmds+=("$pid")
	name=${f##*/slurmd}
	name=${name#-}
	slurmd_nodes+=("${name%.pid}")
done

# Jobs: cancel them all (so none is requeued or started), then SIGKILL every
# process slurmd tracks for them, at once: the cluster is going away, so no
# KillWait grace. Bounded: at most about 10 s.
if [[ -n $ctld ]]; then
	mapfile -t jobs < <(timeout 5 squeue -h -o %A 2>/dev/null)
	((${#jobs[@]} == 0)) || timeout 5 scancel --quiet "${jobs[@]}" 2>/dev/null
fi
# listpids reads one node's spool dir: the host's own, or the named node's
# with several slurmd on this host ("*" is every job).
list_job_pids() {
	local node
	for node in "${slurmd_nodes[@]}"; do
		if [[ -z $node ]]; then
			timeout 5 scontrol listpids 2>/dev/null
		else
			timeout 5 scontrol listpids '*' "$node" 2>/dev/null
		fi
	done | awk '$1 ~ /^[0-9]+$/ { print $1 }'
}
if ((${#slurmds[@]})); then
	for ((i = 0; i < 20; i++)); do
		mapfile -t pids < <(list_job_pids)
		if ((${#pids[@]})); then
			kill -KILL "${pids[@]}" 2>/dev/null
		elif [[ -z $ctld || -z $(timeout 5 squeue -h -o %A 2>/dev/null) ]]; then
			break
		fi
		sleep 0.2
	done
fi

for pid in "${slurmds[@]}"; do
	terminate "$pid"
done
[[ -z $ctld ]] || terminate "$ctld"
[[ -z $munged ]] || terminate "$munged"
exit 0
