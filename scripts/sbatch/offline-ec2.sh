#!/bin/bash
# An offline transfer on a standalone EC2 instance (no Slurm): runs in the background, survives logout, writes a
# log and a JSON report. Credentials come from the instance role (IMDSv2).
#
# usage: offline-ec2.sh SRC DST [LOGDIR]
# With systemd, prefer: systemd-run --unit=fsxsync-offline --property=KillSignal=SIGTERM fsxsync sync SRC DST
# (systemctl stop sends SIGTERM: fsxsync finishes files in flight and exits 75; rerun to finish).
set -euo pipefail
SRC=$1
DST=$2
LOGDIR=${3:-.}
FSXSYNC=${FSXSYNC:-fsxsync}
stamp=$(date +%Y%m%dT%H%M%S)

# Fail now, in the foreground, if the role may not do it.
"$FSXSYNC" check "$SRC" "$DST"
nohup "$FSXSYNC" sync "$SRC" "$DST" --report "$LOGDIR/fsxsync-$stamp.json" >"$LOGDIR/fsxsync-$stamp.log" 2>&1 &
echo "started pid $! — log $LOGDIR/fsxsync-$stamp.log, report $LOGDIR/fsxsync-$stamp.json"
