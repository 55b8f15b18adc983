#!/usr/bin/env bash
# Install Debian's Slurm (slurm-wlm: slurmctld, slurmd, the client commands)
# and MUNGE at pinned versions, for the tests that run a real cluster on this
# host (internal/slurmtest, scripts/slurm/start.sh). Run as root:
#
#   sudo scripts/slurm/install.sh
#
# Idempotent: when every package is already installed at its pinned version it
# does nothing (no apt-get update either). It never starts a system service:
# Debian's postinst scripts would start munge, slurmctld and slurmd through
# invoke-rc.d, which on a machine without a running init either fails or, with
# a real init, starts daemons on the default ports that would then clash with
# the per-test clusters. A policy-rc.d that answers 101 ("action forbidden")
# is in place for the duration of the install and the previous one (if any) is
# put back afterwards.
#
# The versions are the ones Debian 12 (bookworm, with bookworm-security)
# offers; `apt-cache policy slurm-wlm munge` shows them. When Debian ships a
# security update the old version disappears from the mirror: then this script
# fails naming the candidate version, and the pin below is the one line to
# change (or set SLURM_DEB_VERSION / MUNGE_DEB_VERSION for a one-off run).
set -euo pipefail

# The only place the Slurm and MUNGE package versions are pinned.
SLURM_DEB_VERSION=${SLURM_DEB_VERSION:-22.05.8-4+deb12u3}
MUNGE_DEB_VERSION=${MUNGE_DEB_VERSION:-0.5.15-2+deb12u1}

die() {
	echo "slurm/install.sh: $*" >&2
	exit 1
}

# Every package that carries a binary or plugin the cluster uses. They depend
# on each other with exact versions (slurm-wlm-basic-plugins, libmunge2 follow),
# but naming them all makes apt fail loudly rather than pick another version.
slurm_pkgs=(slurm-wlm slurmctld slurmd slurm-client slurm-wlm-basic-plugins)
munge_pkgs=(munge libmunge2)

installed_version() {
	dpkg-query -W -f='${db:Status-Abbrev} ${Version}\n' "$1" 2>/dev/null | awk '$1 == "ii" { print $2 }'
}

wanted=()
for p in "${slurm_pkgs[@]}"; do
	[[ $(installed_version "$p") == "$SLURM_DEB_VERSION" ]] || wanted+=("$p=$SLURM_DEB_VERSION")
done
for p in "${munge_pkgs[@]}"; do
	[[ $(installed_version "$p") == "$MUNGE_DEB_VERSION" ]] || wanted+=("$p=$MUNGE_DEB_VERSION")
done
if ((${#wanted[@]} == 0)); then
	echo "slurm/install.sh: slurm-wlm $SLURM_DEB_VERSION and munge $MUNGE_DEB_VERSION already installed" >&2
	exit 0
fi

((EUID == 0)) || die "must run as root (sudo $0): it installs ${wanted[*]}"
command -v apt-get >/dev/null || die "apt-get not found: this script installs Debian packages"

export DEBIAN_FRONTEND=noninteractive

# Forbid service starts during the install (see the header). Keep whatever
# policy-rc.d the machine had (Docker-style images ship one) and restore it.
policy=/usr/sbin/policy-rc.d
policy_backup=
if [[ -e $policy ]]; then
	policy_backup=$(mktemp)
	cp -p "$policy" "$policy_backup"
fi
restore_policy() {
	if [[ -n $policy_backup ]]; then
		cp -p "$policy_backup" "$policy"
		rm -f "$policy_backup"
	else
		rm -f "$policy"
	fi
}
trap restore_policy EXIT
printf '#!/bin/sh\n# scripts/slurm/install.sh: no service starts during the install\nexit 101\n' >"$policy"
chmod 755 "$policy"

echo "slurm/install.sh: apt-get install ${wanted[*]}" >&2
apt-get update -q >&2
for p in slurm-wlm munge; do
	want=$SLURM_DEB_VERSION
	[[ $p == munge ]] && want=$MUNGE_DEB_VERSION
	have=$(apt-cache policy "$p" | awk '$1 == "Candidate:" { print $2 }')
	if ! apt-cache madison "$p" | awk -F'|' '{ gsub(/ /, "", $2); print $2 }' | grep -qxF "$want"; then
		die "$p $want is not offered by apt any more (candidate: ${have:-none}); update the pin in $0"
	fi
done
# The doc and the optional plugins (slurm-wlm-plugins pulls in X11, MySQL and
# more) are not needed: --no-install-recommends.
apt-get install -y -q --no-install-recommends "${wanted[@]}" >&2

for p in "${slurm_pkgs[@]}"; do
	[[ $(installed_version "$p") == "$SLURM_DEB_VERSION" ]] || die "$p is not at $SLURM_DEB_VERSION after the install"
done
for p in "${munge_pkgs[@]}"; do
	[[ $(installed_version "$p") == "$MUNGE_DEB_VERSION" ]] || die "$p is not at $MUNGE_DEB_VERSION after the install"
done
for bin in slurmctld slurmd munged sbatch srun squeue sinfo scontrol scancel; do
	command -v "$bin" >/dev/null || die "$bin is missing after the install"
done
echo "slurm/install.sh: installed slurm-wlm $SLURM_DEB_VERSION and munge $MUNGE_DEB_VERSION" >&2
