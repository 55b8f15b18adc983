#!/usr/bin/env bash
# Start or stop a throwaway Versity S3 Gateway (versitygw) on 127.0.0.1 for
# demos and manual testing.
#
#   eval "$(scripts/versitygw.sh start)"   # sets AWS_* plus VGW_PID and VGW_DIR
#   scripts/versitygw.sh stop              # uses VGW_PID and VGW_DIR
#
# start prints only `export ...` lines on stdout (diagnostics go to stderr), so
# its output can be eval'ed. The gateway uses the posix backend in a fresh
# temporary directory and a port chosen by the kernel. Root credentials come
# from ROOT_ACCESS_KEY_ID / ROOT_SECRET_ACCESS_KEY (versitygw's own variable
# names) or are generated.
#
# The binary is $FSXSYNC_VERSITYGW, else .tools/bin/versitygw in the repository
# (build it with `make tools`). Linux only: the port is read from /proc.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Bounds of the startup wait (seconds) and of the shutdown wait (0.1 s steps).
start_timeout=20
stop_timeout_steps=50

# Marks a directory as created by this script, so stop never removes anything else.
marker=.fsxsync-versitygw

die() {
	echo "versitygw.sh: $*" >&2
	exit 1
}

# random_hex N prints 2N random hex digits.
random_hex() {
	od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'
}

# listen_port PID prints the TCP port PID listens on, or nothing yet. Matching
# the process's socket inodes against /proc/net/tcp is how we learn the port
# the kernel chose for 127.0.0.1:0 (versitygw does not print it).
listen_port() {
	local pid=$1 fd link inodes=" "
	for fd in /proc/"$pid"/fd/*; do
		link=$(readlink "$fd" 2>/dev/null) || continue
		case $link in
		socket:\[*\]) link=${link#socket:[}; inodes+="${link%]} " ;;
		esac
	done
	# Fields: sl local_address rem_address st ... inode (10th); st 0A is LISTEN.
	local _sl laddr _rem st _tx _tr _rt _uid _to inode _rest
	while read -r _sl laddr _rem st _tx _tr _rt _uid _to inode _rest; do
		if [[ $st == 0A && $inodes == *" $inode "* ]]; then
			echo $((16#${laddr#*:}))
			return
		fi
	done < <(tail -n +2 /proc/"$pid"/net/tcp 2>/dev/null)
}

# answers PORT succeeds once the gateway's health endpoint replies 200.
# Plain bash /dev/tcp, because curl is not on a fresh machine.
answers() {
	local status
	status=$(
		exec 3<>/dev/tcp/127.0.0.1/"$1" || exit 1
		printf 'GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
		IFS= read -r -t 2 line <&3 || exit 1
		echo "$line"
	) 2>/dev/null || return 1
	[[ $status == "HTTP/1."?" 200"* ]]
}

# alive PID succeeds while PID runs. kill -0 alone would also accept a zombie,
# which is what an exited gateway is until its (new) parent reaps it.
alive() {
	local stat
	stat=$(cat /proc/"$1"/stat 2>/dev/null) || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != Z ]]
}

# launch DIR ACCESS SECRET [posix options...] starts the gateway in the
# background and sets pid. stdin/stdout/stderr are redirected so that
# `$(scripts/versitygw.sh start)` does not wait for the gateway to exit.
launch() {
	local dir=$1 access=$2 secret=$3
	shift 3
	"$bin" --access "$access" --secret "$secret" --region us-east-1 \
		--port 127.0.0.1:0 --health /health --keep-alive --quiet \
		posix "$@" "$dir/root" </dev/null >>"$dir/versitygw.log" 2>&1 &
	pid=$!
}

start() {
	bin=${FSXSYNC_VERSITYGW:-$repo_root/.tools/bin/versitygw}
	[[ -x $bin ]] || die "versitygw binary not found at $bin: run 'make tools'"
	[[ -r /proc/self/net/tcp ]] || die "needs Linux /proc to learn the gateway's port"

	local access=${ROOT_ACCESS_KEY_ID:-AK$(random_hex 9)}
	local secret=${ROOT_SECRET_ACCESS_KEY:-$(random_hex 20)}
	local dir pid="" port="" sidecar=no ready=no deadline
	dir=$(mktemp -d "${TMPDIR:-/tmp}/versitygw.XXXXXX")
	touch "$dir/$marker"
	mkdir "$dir/root"

	# Do not leave a half-started gateway behind if anything below fails.
	trap 'if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; fi; rm -rf "$dir"' EXIT

	launch "$dir" "$access" "$secret"
	deadline=$((SECONDS + start_timeout))
	while ((SECONDS < deadline)); do
		if ! alive "$pid"; then
			# The posix backend keeps object metadata in user xattrs and
			# exits at startup where the file system has none (tmpfs
			# before Linux 6.6, some overlay setups). Keep it in a
			# sidecar directory instead.
			if [[ $sidecar == no ]] && grep -q 'xattrs are not supported' "$dir/versitygw.log"; then
				echo "versitygw.sh: no user xattrs under $dir, using --sidecar" >&2
				sidecar=yes
				mkdir "$dir/sidecar"
				launch "$dir" "$access" "$secret" --sidecar "$dir/sidecar"
				continue
			fi
			cat "$dir/versitygw.log" >&2
			die "versitygw exited during startup (log above)"
		fi
		if [[ -z $port ]]; then
			port=$(listen_port "$pid")
		fi
		if [[ -n $port ]] && answers "$port"; then
			ready=yes
			break
		fi
		sleep 0.1
	done
	if [[ $ready == no ]]; then
		cat "$dir/versitygw.log" >&2
		die "versitygw did not answer within $start_timeout s (log above)"
	fi
	trap - EXIT

	printf 'export AWS_ENDPOINT_URL=%q AWS_ACCESS_KEY_ID=%q AWS_SECRET_ACCESS_KEY=%q AWS_REGION=us-east-1\n' \
		"http://127.0.0.1:$port" "$access" "$secret"
	printf 'export VGW_PID=%q VGW_DIR=%q\n' "$pid" "$dir"
}

stop() {
	local pid=${VGW_PID:-} dir=${VGW_DIR:-} step
	[[ -n $pid || -n $dir ]] || die "stop needs VGW_PID and VGW_DIR (from 'start')"
	# Only signal the pid if it is still a versitygw: pids get reused.
	if [[ -n $pid ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q versitygw; then
		kill "$pid" 2>/dev/null || true
		for ((step = 0; step < stop_timeout_steps; step++)); do
			alive "$pid" || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	if [[ -n $dir && -e $dir ]]; then
		[[ -e $dir/$marker ]] || die "refusing to remove $dir: not made by versitygw.sh"
		rm -rf "$dir"
	fi
}

case ${1:-} in
start) start ;;
stop) stop ;;
*) die "usage: $0 start|stop" ;;
esac
