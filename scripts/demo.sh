#!/usr/bin/env bash
# End-to-end demo of fsxsync against a local S3 server (run it with `make demo`).
#
# Starts a throwaway versitygw with its IAM/STS service on 127.0.0.1
# (internal/iamtest/cmd/localaws), makes a sample tree, runs `fsxsync whoami`
# (who fsxsync runs as) and `fsxsync check`
# (the preflight, with its table), uploads the tree with `fsxsync sync`,
# downloads it into another directory, syncs the upload again (nothing should
# transfer), and checks that the downloaded tree is byte-for-byte the original.
# Everything it starts or creates is removed on exit, whether it succeeds or not.
#
# Needs bin/fsxsync (`make build`, or $FSXSYNC_BIN) and versitygw (`make tools`,
# or $FSXSYNC_VERSITYGW).
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

fsxsync=${FSXSYNC_BIN:-$repo_root/bin/fsxsync}
[[ -x $fsxsync ]] || { echo "demo: $fsxsync not found: run 'make build'" >&2; exit 1; }

# Bound of the wait for the local servers to be ready (seconds).
start_timeout=30

work=$(mktemp -d "${TMPDIR:-/tmp}/fsxsync-demo.XXXXXX")
cleanup() {
	if [[ -n ${localaws_pid:-} ]]; then
		kill "$localaws_pid" 2>/dev/null || true
		wait "$localaws_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

step() {
	printf '\n== %s\n' "$*"
}

step "starting versitygw with its IAM/STS service, creating bucket demo"
go build -o "$work/localaws" ./internal/iamtest/cmd/localaws
# localaws reads its stdin until EOF and then stops the servers. Give it a FIFO
# whose write end only this shell holds (fd 3, closed for localaws itself), so
# the servers also stop if this script is killed before its cleanup runs.
mkfifo "$work/localaws.in"
exec 3<>"$work/localaws.in"
"$work/localaws" demo <"$work/localaws.in" >"$work/localaws.env" 2>"$work/localaws.log" 3>&- &
localaws_pid=$!
deadline=$((SECONDS + start_timeout))
until grep -qsx READY "$work/localaws.env"; do
	if ! kill -0 "$localaws_pid" 2>/dev/null; then
		cat "$work/localaws.log" >&2
		echo "demo: the local servers failed to start (log above)" >&2
		exit 1
	fi
	if ((SECONDS >= deadline)); then
		cat "$work/localaws.log" >&2
		echo "demo: the local servers did not start within $start_timeout s (log above)" >&2
		exit 1
	fi
	sleep 0.1
done
# The export lines: endpoints, root keys, region, and no machine AWS config or instance metadata.
# shellcheck source=/dev/null  # generated at run time
source <(grep '^export ' "$work/localaws.env")
echo "S3 endpoint $AWS_ENDPOINT_URL_S3, STS and IAM endpoint $AWS_ENDPOINT_URL_STS"
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
# Keep the sync state (see docs/design.md, "The state file") inside the demo's own directory.
export FSXSYNC_STATE_DIR=$work/state

step "making a sample tree"
src=$work/src
dst=$work/dst
mkdir -p "$src/notes/deep/nested" "$src/data" "$src/docs" "$src/empty-dir" "$dst"
echo "fsxsync demo" >"$src/README.txt"
printf 'one\ntwo\nthree\n' >"$src/notes/todo.txt"
echo "a leaf three levels down" >"$src/notes/deep/nested/leaf.txt"
echo "spaces and unicode in the name" >"$src/docs/résumé final (v2).txt"
: >"$src/empty-file"
# Large enough to be uploaded in several parts.
head -c $((20 * 1024 * 1024)) /dev/urandom >"$src/data/random-20MiB.bin"
(cd "$src" && find . | sort)

step "identity: fsxsync whoami"
"$fsxsync" whoami

step "preflight: fsxsync check $src s3://demo/sample"
"$fsxsync" check "$src" s3://demo/sample --endpoint-url "$AWS_ENDPOINT_URL_S3"

step "upload: fsxsync sync $src s3://demo/sample"
"$fsxsync" sync "$src" s3://demo/sample --endpoint-url "$AWS_ENDPOINT_URL_S3"

step "download: fsxsync sync s3://demo/sample $dst"
"$fsxsync" sync s3://demo/sample "$dst" --endpoint-url "$AWS_ENDPOINT_URL_S3"

step "upload again: nothing should be transferred"
"$fsxsync" sync "$src" s3://demo/sample --endpoint-url "$AWS_ENDPOINT_URL_S3" | tee "$work/again.txt"
grep -q '^transferred 0 files' "$work/again.txt" || { echo "demo: the second sync transferred files" >&2; exit 1; }

step "verifying"
# diff -r compares names, types (an empty directory too) and contents.
diff -r "$src" "$dst"
# An independent check of the bytes, with a stable file order.
checksums() {
	(cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
}
if ! cmp -s <(checksums "$src") <(checksums "$dst"); then
	diff <(checksums "$src") <(checksums "$dst") >&2 || true
	echo "demo: sha256 sums differ" >&2
	exit 1
fi
checksums "$dst"

echo
echo "demo OK"
