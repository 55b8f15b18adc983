#!/usr/bin/env bash
# Install the peers that scripts/bench/compare measures fsxsync against, at the versions issue 8's table used:
#
#   s5cmd  v2.3.0            built from the Go module cache into .tools/bin/s5cmd (git-ignored)
#   rclone 1.60.1+dfsg-2+b5  Debian bookworm (apt)
#   awscli 2.9.19-1          Debian bookworm (apt), installed as /usr/bin/aws
#
# s5cmd is built inside the directory `go mod download` extracts rather than with `go install ...@v2.3.0`, which the
# module proxy may refuse; the build uses s5cmd's own go.mod and go.sum as they are. apt runs only when a package is missing or at another version, and
# only as root; otherwise the script says what it could not install and goes on, since the orchestrator reports a
# missing peer as "not installed" instead of failing.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tools_bin=$repo_root/.tools/bin

# The only places the peer versions are pinned.
s5cmd_module=github.com/peak/s5cmd/v2
s5cmd_version=v2.3.0
rclone_version=1.60.1+dfsg-2+b5
awscli_version=2.9.19-1

say() { echo "install-peers: $*" >&2; }

# s5cmd: rebuild only when the binary is missing or reports another version. Its version string is stamped with
# -ldflags as s5cmd's own Makefile does (a build from the module directory is "(devel)" to `go version -m`).
if [[ $("$tools_bin/s5cmd" version 2>/dev/null) != "$s5cmd_version"-* ]]; then
	say "building s5cmd $s5cmd_version into $tools_bin"
	moddir=$(go mod download -json "$s5cmd_module@$s5cmd_version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[[ -d $moddir ]] || { say "go mod download of $s5cmd_module@$s5cmd_version gave no directory"; exit 1; }
	mkdir -p "$tools_bin"
	# The module zip keeps vendor/modules.txt but not the vendored code, so build with -mod=mod (dependencies come
	# from the module proxy, checked against s5cmd's own go.sum). Replace the caller's GOFLAGS so nothing else leaks in.
	(cd "$moddir" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath \
		-ldflags "-X=$s5cmd_module/version.Version=$s5cmd_version -X=$s5cmd_module/version.GitCommit=modcache" \
		-o "$tools_bin/s5cmd" .)
fi
say "s5cmd: $("$tools_bin/s5cmd" version 2>&1 | head -1)"

# installed_version PKG prints the installed Debian version of PKG, or nothing.
installed_version() {
	dpkg-query -W -f='${Status} ${Version}\n' "$1" 2>/dev/null | awk '$3 == "installed" { print $4 }'
}

want=()
[[ $(installed_version rclone) == "$rclone_version" ]] || want+=("rclone=$rclone_version")
[[ $(installed_version awscli) == "$awscli_version" ]] || want+=("awscli=$awscli_version")
if ((${#want[@]})); then
	if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
		say "not root or no apt-get: cannot install ${want[*]}; those peers will be reported as not installed"
	else
		say "apt-get install ${want[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
	fi
fi
say "rclone: $(installed_version rclone || true)"
say "awscli: $(installed_version awscli || true) ($(/usr/bin/aws --version 2>&1 || echo 'not installed'))"
