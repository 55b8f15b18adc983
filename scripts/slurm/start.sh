#!/usr/bin/env bash
# Start a throwaway Slurm cluster (munged, slurmctld, one slurmd per node; one
# node unless SLURMTEST_NODES says more) whose configuration, state, sockets,
# logs and pid files all live in DIR:
#
#   eval "$(scripts/slurm/start.sh DIR)"   # exports SLURM_CONF=DIR/slurm.conf
#   sbatch --wrap 'hostname'; squeue; sinfo
#   scripts/slurm/stop.sh DIR
#
# DIR must be empty or not exist yet. Only `export ...` goes to stdout, so the
# output can be eval'ed; progress and errors go to stderr. Runs as root (slurmd
# starts jobs as the submitting user; SlurmUser is root too, so no `slurm`
# account is needed). Needs Debian's slurm-wlm and munge
# (scripts/slurm/install.sh).
#
# Nothing here touches the machine's own Slurm or MUNGE setup (/etc/slurm,
# /etc/munge, /run/munge, /var/spool/slurmd): munged gets its own key and
# socket, the daemons their own ports (free ones, chosen here, so two clusters
# can run side by side) and everything else is under DIR. Every address in
# slurm.conf is on the loopback: 127.0.0.1, and 127.0.0.2 up for the nodes of a
# multi-node cluster.
#
# Environment (all optional):
#   SLURMTEST_CPUS       CPUs each node claims (default: max(nproc, 8); see below)
#   SLURMTEST_NODES      how many nodes (default 1). One node is this host under
#                        its own name on 127.0.0.1. With N > 1 the nodes are
#                        n1..nN on 127.0.0.2.. (all of 127/8 is loopback), each
#                        its own slurmd (slurmd -N nI) with its own port, spool
#                        dir, pid and log file (%n in their paths). That needs a
#                        Slurm built with --enable-multiple-slurmd, which
#                        Debian's is: `scontrol show config` says
#                        MULTIPLE_SLURMD = Yes.
#   SLURMTEST_OWNER_PID  when this process exits, a watchdog runs stop.sh DIR, so
#                        a test binary that dies (go test's -timeout panic skips
#                        t.Cleanup) does not leave daemons and jobs behind
#   SLURMTEST_TIMEOUT    seconds to wait for the nodes to become idle (default 60)
#   SLURMTEST_CRED_EXPIRE  job credential lifetime in seconds (default 10; Slurm's
#                        is 120). A requeued job may start again only after
#                        this plus 1 s, so the default keeps requeue tests short.
#   SLURMTEST_EXTRA_CONF lines appended to slurm.conf (e.g. RequeueExit=75); a
#                        key set above must not be repeated
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() {
	echo "slurm/start.sh: $*" >&2
	exit 1
}
log() {
	echo "slurm/start.sh: $*" >&2
}

(($# == 1)) || die "usage: $0 DIR"
((EUID == 0)) || die "must run as root: slurmd starts jobs as the submitting user"

# The daemons live in /usr/sbin, which a non-login PATH may lack.
PATH=$PATH:/usr/sbin:/sbin
missing=()
for bin in munged mungekey munge slurmctld slurmd sbatch srun squeue sinfo scontrol scancel; do
	command -v "$bin" >/dev/null || missing+=("$bin")
done
((${#missing[@]} == 0)) || die "not installed: ${missing[*]} (install with: sudo $here/install.sh)"

mkdir -p "$1"
dir=$(cd "$1" && pwd)
[[ -z $(ls -A "$dir") ]] || die "$dir is not empty"
# Marks DIR as made by this script, so stop.sh never kills anything else.
touch "$dir/.fsxsync-slurm"
mkdir -p "$dir"/{munge,state,spool,log,run,tmp}
# munged wants the socket's directory searchable by everyone (any user's
# client must reach the socket) and writable by no one but its owner; the key
# itself is 0400 below.
chmod 755 "$dir" "$dir/munge"

timeout=${SLURMTEST_TIMEOUT:-60}
t0=$SECONDS
started=$EPOCHREALTIME

# If anything below fails, take down what was started.
trap 'bash "$here/stop.sh" "$dir" >/dev/null 2>&1 || true' EXIT

# --- Host name --------------------------------------------------------------
# The node is this host under its short name; slurmd matches NodeName against
# it. Both daemons are given 127.0.0.1 explicitly (SlurmctldHost=name(addr),
# NodeAddr), so the name only has to resolve for the daemons' own checks. Add
# it to /etc/hosts only when the resolver does not know it, and only once.
host=$(hostname -s)
[[ -n $host ]] || die "hostname -s is empty"
if ! getent hosts "$host" >/dev/null; then
	if ! grep -qE "^127\.0\.0\.1[[:space:]].*[[:space:]]$host([[:space:]]|\$)" /etc/hosts; then
		log "adding '127.0.0.1 $host' to /etc/hosts (the resolver does not know this host's name)"
		printf '127.0.0.1 %s # scripts/slurm/start.sh\n' "$host" >>/etc/hosts
	fi
fi

# --- MUNGE ------------------------------------------------------------------
# Its own key, socket, pid, seed and log files, so it runs beside the
# system's munged (if any) and other test clusters. No -f (force): the
# permissions above satisfy munged's checks; where they do not (an odd
# TMPDIR), its log below says why.
sock=$dir/munge/munge.socket
mungekey --create --keyfile="$dir/munge/munge.key" --bits=1024
chmod 400 "$dir/munge/munge.key"
munged --socket="$sock" --key-file="$dir/munge/munge.key" \
	--pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" \
	--seed-file="$dir/munge/munged.seed" --num-threads=4 </dev/null >>"$dir/log/munged.out" 2>&1 ||
	{ cat "$dir/log/munged.out" "$dir/log/munged.log" >&2 2>/dev/null; die "munged failed to start (log above)"; }
until munge --socket="$sock" -n </dev/null 2>/dev/null | unmunge --socket="$sock" >/dev/null 2>&1; do
	((SECONDS - t0 < timeout)) || { cat "$dir/log/munged.log" >&2; die "munged does not answer on $sock"; }
	sleep 0.1
done

# --- Ports ------------------------------------------------------------------
# Two free TCP ports below the kernel's ephemeral range (so no outgoing
# connection can be holding them), not listened on by anyone now. Random, so
# two clusters started at the same moment are unlikely to pick the same ones.
listening_ports() {
	local _sl laddr _rem st _rest
	for f in /proc/net/tcp /proc/net/tcp6; do
		[[ -r $f ]] || continue
		while read -r _sl laddr _rem st _rest; do
			[[ $st == 0A ]] && echo $((16#${laddr##*:}))
		done < <(tail -n +2 "$f")
	done
}
read -r eph_lo _ </proc/sys/net/ipv4/ip_local_port_range
((eph_lo > 12000)) || eph_lo=32768
busy=" $(listening_ports | tr '\n' ' ') "
pick_port() {
	local p
	while :; do
		p=$((10000 + (RANDOM * 32768 + RANDOM) % (eph_lo - 10000)))
		[[ $busy != *" $p "* ]] && break
	done
	busy+="$p "
	echo "$p"
}
ctld_port=$(pick_port)
busy+="$ctld_port "
slurmd_port=$(pick_port)

# --- slurm.conf -------------------------------------------------------------
nproc=$(nproc)
# The node claims at least 8 CPUs (SlurmdParameters=config_overrides lets it
# claim more than the hardware has): test jobs mostly sleep and wait for
# signals, and with 2 real cores only 2 of them could run at once.
cpus=${SLURMTEST_CPUS:-$((nproc > 8 ? nproc : 8))}
# RealMemory in MiB, a little under MemTotal (slurmd drains a node that has
# less than it claims; with config_overrides it would not, but keep it true).
mem=$(awk '$1 == "MemTotal:" { print int($2 / 1024 * 0.95) }' /proc/meminfo)

# --- Nodes ------------------------------------------------------------------
nodes=${SLURMTEST_NODES:-1}
# 127.0.0.2 to 127.0.0.201: addresses stay valid and tests stay small.
[[ $nodes =~ ^[1-9][0-9]*$ ]] && ((nodes <= 200)) || die "SLURMTEST_NODES=$nodes: want 1 to 200"
node_names=()
node_lines=
if ((nodes == 1)); then
	node_names=("$host")
	node_lines="NodeName=$host NodeAddr=127.0.0.1 NodeHostname=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN"
	spool_dir=$dir/spool
	slurmd_pid=$dir/run/slurmd.pid
	slurmd_log=$dir/log/slurmd.log
else
	# Several slurmd on one host: each needs its own port (Port= on its node
	# line; SlurmdPort is only the default) and, through %n (the node name),
	# its own spool dir and pid file. A shared pid file makes the second
	# slurmd kill the first ("killing old slurmd").
	busy+="$slurmd_port "
	for ((i = 1; i <= nodes; i++)); do
		node_names+=("n$i")
		port=$slurmd_port
		if ((i > 1)); then
			port=$(pick_port)
			busy+="$port " # pick_port ran in a subshell
		fi
		node_lines+="NodeName=n$i NodeAddr=127.0.0.$((i + 1)) NodeHostname=$host Port=$port CPUs=$cpus RealMemory=$mem State=UNKNOWN"$'\n'
	done
	node_lines=${node_lines%$'\n'}
	spool_dir=$dir/spool/%n
	slurmd_pid=$dir/run/slurmd-%n.pid
	slurmd_log=$dir/log/slurmd-%n.log
fi
node_list=$(IFS=,; echo "${node_names[*]}")

conf=$dir/slurm.conf
: >"$dir/plugstack.conf" # no SPANK plugins (the system's plugstack.conf.d is not ours)
cat >"$dir/cgroup.conf" <<EOF
# Nothing here uses cgroups (proctrack/linuxproc, task/none,
# jobacct_gather/none); this empty file only keeps slurmd from looking for one
# beside the system's slurm.conf.
EOF
cat >"$conf" <<EOF
# Generated by scripts/slurm/start.sh for a throwaway test cluster.
ClusterName=fsxsynctest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
# Root runs the daemons and is the only "Slurm user": no slurm account needed.
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire: see SLURMTEST_CRED_EXPIRE above.
AuthInfo=socket=$sock,cred_expire=${SLURMTEST_CRED_EXPIRE:-10}

StateSaveLocation=$dir/state
SlurmdSpoolDir=$spool_dir
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$slurmd_pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$slurmd_log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$dir/plugstack.conf
TmpFS=$dir/tmp
MailProg=/bin/true

# No cgroups, no accounting daemon, no containers: works in a container or VM
# without a writable cgroup tree and without slurmdbd.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobContainerType=job_container/none
MpiDefault=none
SwitchType=switch/none
SlurmdParameters=config_overrides

SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# Start what is submitted at once: schedule on every submit and completion,
# and let the backfill and main loops run often.
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,sched_interval=2,bf_interval=1,default_queue_depth=1000

# Slurm's defaults, named because tests depend on them: SIGTERM, then SIGKILL
# KillWait seconds later; jobs end at their time limit, without extra minutes.
KillWait=30
OverTimeLimit=0
# Finished jobs stay known to slurmctld (scontrol show job: JobState, ExitCode,
# RestartCnt) this long: with no accounting, that is the only record of them.
MinJobAge=3600
# A node that was DOWN comes back as soon as its slurmd registers.
ReturnToService=2
SlurmdTimeout=300
InactiveLimit=0
Waittime=0

$node_lines
PartitionName=debug Nodes=$node_list Default=YES MaxTime=INFINITE State=UP
EOF
if [[ -n ${SLURMTEST_EXTRA_CONF:-} ]]; then
	printf '\n# SLURMTEST_EXTRA_CONF\n%s\n' "$SLURMTEST_EXTRA_CONF" >>"$conf"
fi
export SLURM_CONF=$conf

# --- Daemons ----------------------------------------------------------------
# Both fork into the background themselves and write their pid files; their
# std streams go to files, so $(start.sh DIR) does not wait for them to exit.
# -i: ignore state left behind (there is none in a fresh DIR anyway).
slurmctld -f "$conf" -i </dev/null >>"$dir/log/slurmctld.out" 2>&1 ||
	{ cat "$dir/log/slurmctld.out" "$dir/log/slurmctld.log" >&2 2>/dev/null; die "slurmctld failed to start (log above)"; }
until scontrol ping 2>/dev/null | grep -q 'is UP'; do
	if ((SECONDS - t0 >= timeout)) || ! pid=$(cat "$dir/run/slurmctld.pid" 2>/dev/null) || ! kill -0 "$pid" 2>/dev/null; then
		if ((SECONDS - t0 < 3)); then sleep 0.2; continue; fi # pid file not written yet
		cat "$dir/log/slurmctld.out" "$dir/log/slurmctld.log" >&2 2>/dev/null
		die "slurmctld is not answering (log above)"
	fi
	sleep 0.1
done
for name in "${node_names[@]}"; do
	slurmd -f "$conf" -N "$name" </dev/null >>"$dir/log/slurmd.out" 2>&1 ||
		{ cat "$dir/log/slurmd.out" "$dir/log"/slurmd*.log >&2 2>/dev/null; die "slurmd for node $name failed to start (log above)"; }
done

# --- Wait until every node is idle ------------------------------------------
states=
idle=0
until ((idle == nodes)); do
	if ((SECONDS - t0 >= timeout)); then
		tail -n 30 "$dir/log/slurmctld.log" "$dir/log"/slurmd*.log >&2 2>/dev/null
		sinfo -N -l >&2 2>&1 || true
		die "nodes $node_list are '${states//$'\n'/ }', not all idle, after $timeout s (logs above)"
	fi
	sleep 0.1
	# One line per node (-N).
	states=$(sinfo -h -N -n "$node_list" -o %T 2>/dev/null || true)
	idle=$(grep -cx idle <<<"$states" || true)
done

# --- Watchdog ---------------------------------------------------------------
# Runs stop.sh when SLURMTEST_OWNER_PID exits; ends by itself when DIR is
# removed. stop.sh kills it. Detached from our std streams like the daemons.
if [[ -n ${SLURMTEST_OWNER_PID:-} ]]; then
	owner=$SLURMTEST_OWNER_PID
	# shellcheck disable=SC2016 # $1.. expand in the watchdog's own shell
	setsid bash -c '
		while kill -0 "$1" 2>/dev/null && [[ -e $2/.fsxsync-slurm ]]; do sleep 1; done
		[[ -e $2/.fsxsync-slurm ]] && exec bash "$3" "$2"
	' slurm-watchdog "$owner" "$dir" "$here/stop.sh" </dev/null >>"$dir/log/watchdog.out" 2>&1 &
	echo $! >"$dir/run/watchdog.pid"
fi

trap - EXIT
elapsed=$(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
log "node(s) $node_list idle after $elapsed s (slurmctld :$ctld_port, slurmd :$slurmd_port, $cpus CPUs each)"
printf 'export SLURM_CONF=%q\n' "$conf"
